/**
 * The layer rule of the source tree: which file may import which. Used by src/layering.test.ts
 * (every import of every file, and import circles) and by the main-chunk check in vite.config.ts.
 *
 * Inside src/sim the layers call downward only:
 *   core → host → cpu → tdx → kvm → vmm → world → scenario → lab
 * (a file may import its own layer or a lower one). `abi/` (constants both sides of an interface
 * share, as Linux's asm/shared/tdx.h) is below everything and imports only itself. `guest/` is the
 * guest's software: it reaches the machine only through `cpu/bus.ts` and may import only `core/`,
 * `abi/`, `cpu/bus.ts` and itself; the VMM and above load it. Top-level files of src/sim (lab.ts,
 * inspect.ts, snapshot.ts, test-helpers.ts) are at the `lab` level, except `view-model.ts`, the one
 * module the app takes values from, which imports only the leaf modules in VIEW_MODEL_MODULES.
 *
 * Outside: src/sim imports nothing from app/, worker/ or cli/; src/app takes values from src/sim only
 * through view-model.ts (type-only imports of any simulator type are free: they vanish at build) and
 * from src/worker only type-only; src/worker and src/cli may import src/sim.
 *
 * Test files (*.test.ts and test-*.ts helpers) are not shipped and may build a whole machine to test a low layer, so the
 * layer order does not bind them; the boundaries between sim, app, worker and cli still do.
 */

export const SIM_LAYERS = ['core', 'host', 'cpu', 'tdx', 'kvm', 'vmm', 'world', 'scenario', 'lab'] as const;
export type SimLayer = (typeof SIM_LAYERS)[number];

/** Where a file sits. `rank` orders the src/sim layers (abi 0, core 1 … lab 9). */
export type Place =
  | { area: 'sim'; layer: SimLayer | 'abi' | 'guest' | 'view-model'; rank: number }
  | { area: 'app' | 'worker' | 'cli' | 'other' };

/**
 * The modules src/sim/view-model.ts may import, and so the only simulator modules the page's main
 * chunk may contain (vite.config.ts checks the bundle). Leaf modules: they import only each other.
 */
export const VIEW_MODEL_MODULES: readonly string[] = [
  'src/sim/view-model.ts',
  'src/sim/core/trace-layers.ts',
  'src/sim/core/units.ts',
  'src/sim/core/page-state.ts',
  'src/sim/core/migration-page-state.ts',
  'src/sim/scenario/report-json.ts',
];

/** One import of one file: `from` and `to` are repository-relative paths with forward slashes. */
export interface ImportEdge {
  from: string;
  to: string;
  /** `import type`, `export type`, or every specifier marked `type`: gone at runtime. */
  typeOnly: boolean;
}

function rankOf(layer: SimLayer | 'abi'): number {
  return layer === 'abi' ? 0 : SIM_LAYERS.indexOf(layer) + 1;
}

/** Tests and their helpers (test-bus.ts, test-helpers.ts, test-support.ts, *.test-data.ts): never shipped. */
export function isTestFile(path: string): boolean {
  return /\.test(-data)?\.tsx?$/.test(path) || /(^|\/)test-[\w-]+\.tsx?$/.test(path);
}

/** The place of a repository-relative path; throws for a src/sim folder no layer names. */
export function placeOf(path: string): Place {
  const p = path.replace(/\\/g, '/');
  if (p.startsWith('src/app/')) return { area: 'app' };
  if (p.startsWith('src/worker/')) return { area: 'worker' };
  if (p.startsWith('src/cli/')) return { area: 'cli' };
  if (!p.startsWith('src/sim/')) return { area: 'other' };
  const rest = p.slice('src/sim/'.length);
  const slash = rest.indexOf('/');
  if (slash < 0) {
    if (rest === 'view-model.ts') return { area: 'sim', layer: 'view-model', rank: rankOf('lab') };
    return { area: 'sim', layer: 'lab', rank: rankOf('lab') };
  }
  const dir = rest.slice(0, slash);
  if (dir === 'abi') return { area: 'sim', layer: 'abi', rank: 0 };
  // The guest's software runs above the machine but sees only its bus; the VMM loads it.
  if (dir === 'guest') return { area: 'sim', layer: 'guest', rank: rankOf('vmm') };
  if ((SIM_LAYERS as readonly string[]).includes(dir)) {
    const layer = dir as SimLayer;
    return { area: 'sim', layer, rank: rankOf(layer) };
  }
  throw new Error(`${p}: src/sim/${dir}/ is in no layer; add it to SIM_LAYERS in src/layering.ts`);
}

/** Why the import edge is forbidden, or null when it is allowed. */
export function checkEdge(edge: ImportEdge): string | null {
  const from = placeOf(edge.from);
  const to = placeOf(edge.to);
  const test = isTestFile(edge.from);
  const bad = (why: string) => `${edge.from} → ${edge.to}${edge.typeOnly ? ' (type-only)' : ''}: ${why}`;

  if (from.area === 'sim') {
    if (to.area !== 'sim') {
      return to.area === 'other' ? null : bad(`src/sim imports nothing from src/${to.area}`);
    }
    if (test) return null;
    if (from.layer === 'view-model' || VIEW_MODEL_MODULES.includes(edge.from)) {
      return VIEW_MODEL_MODULES.includes(edge.to)
        ? null
        : bad('view-model.ts and its leaf modules import only the modules in VIEW_MODEL_MODULES');
    }
    if (from.layer === 'abi') {
      return to.layer === 'abi' ? null : bad('abi/ is below everything and imports only abi/');
    }
    if (from.layer === 'guest') {
      if (to.layer === 'guest' || to.layer === 'core' || to.layer === 'abi') return null;
      if (edge.to === 'src/sim/cpu/bus.ts') return null;
      return bad('the guest reaches the machine only through cpu/bus.ts (it may import core/, abi/, cpu/bus.ts, guest/)');
    }
    if (to.layer === 'view-model') return bad('view-model.ts is for the app only');
    if (to.layer === 'guest') {
      return from.rank >= rankOf('vmm') ? null : bad(`${from.layer}/ is below the guest's software (vmm/ and above load it)`);
    }
    if (to.rank > from.rank) return bad(`upward import: ${from.layer}/ may not import ${to.layer}/ (${SIM_LAYERS.join(' → ')})`);
    return null;
  }

  if (from.area === 'app') {
    if (to.area === 'sim') {
      if (edge.typeOnly || to.layer === 'view-model') return null;
      return bad('the app takes values from src/sim only through src/sim/view-model.ts (use `import type` for types)');
    }
    if (to.area === 'worker') return edge.typeOnly ? null : bad('the app imports the worker protocol type-only');
    if (to.area === 'cli') return bad('the app does not import the CLI');
    return null;
  }

  if (from.area === 'worker' && (to.area === 'app' || to.area === 'cli')) return bad(`src/worker does not import src/${to.area}`);
  if (from.area === 'cli' && (to.area === 'app' || to.area === 'worker')) return bad(`src/cli does not import src/${to.area}`);
  return null;
}

/**
 * The import circles among `edges`: each strongly connected component of more than one file (or a
 * file importing itself), its files sorted. Tarjan's algorithm, iterative.
 */
export function findCycles(edges: readonly Pick<ImportEdge, 'from' | 'to'>[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, []);
    if (!next.has(e.to)) next.set(e.to, []);
    next.get(e.from)!.push(e.to);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let counter = 0;
  for (const root of [...next.keys()].sort()) {
    if (index.has(root)) continue;
    const work: { node: string; i: number }[] = [{ node: root, i: 0 }];
    index.set(root, counter); low.set(root, counter); counter++;
    stack.push(root); onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const succ = next.get(top.node)!;
      if (top.i < succ.length) {
        const w = succ[top.i++];
        if (!index.has(w)) {
          index.set(w, counter); low.set(w, counter); counter++;
          stack.push(w); onStack.add(w);
          work.push({ node: w, i: 0 });
        } else if (onStack.has(w)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const scc: string[] = [];
        let w: string;
        do { w = stack.pop()!; onStack.delete(w); scc.push(w); } while (w !== top.node);
        if (scc.length > 1 || succ.includes(top.node)) out.push(scc.sort());
      }
    }
  }
  return out;
}

/**
 * The simulator modules among a page chunk's modules that may not be there: any file under src/sim
 * other than VIEW_MODEL_MODULES (the machine runs in the worker, never in the page). `moduleIds` are
 * the bundler's ids (absolute paths, maybe with a query); `root` is the repository root.
 */
export function forbiddenSimModules(moduleIds: Iterable<string>, root: string): string[] {
  const base = root.replace(/\\/g, '/').replace(/\/$/, '') + '/';
  const out: string[] = [];
  for (const id of moduleIds) {
    const path = id.replace(/\\/g, '/').replace(/^\0/, '').replace(/\?.*$/, '');
    if (!path.startsWith(base)) continue;
    const rel = path.slice(base.length);
    if (rel.startsWith('src/sim/') && !VIEW_MODEL_MODULES.includes(rel)) out.push(rel);
  }
  return out.sort();
}
