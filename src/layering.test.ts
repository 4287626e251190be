import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { ESLint } from 'eslint';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { VIEW_MODEL_MODULES, checkEdge, findCycles, placeOf, type ImportEdge } from './layering';

const ROOT = resolve(__dirname, '..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** The file a relative specifier names, as Vite and tsc (moduleResolution Bundler) resolve it. */
function resolveSpecifier(fromFile: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(fromFile), spec.replace(/\?.*$/, ''));
  const stem = base.replace(/\.(js|ts|tsx)$/, '');
  for (const c of [base, `${stem}.ts`, `${stem}.tsx`, join(base, 'index.ts'), join(base, 'index.tsx')]) {
    if (existsSync(c) && statSync(c).isFile()) return c;
  }
  throw new Error(`${relative(ROOT, fromFile)}: cannot resolve import '${spec}'`);
}

/** Every import of one file: import/export … from, side-effect imports, dynamic import(). */
function importsOf(file: string): ImportEdge[] {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const edges: ImportEdge[] = [];
  const add = (spec: ts.Expression | undefined, typeOnly: boolean) => {
    if (!spec || !ts.isStringLiteral(spec)) return;
    const to = resolveSpecifier(file, spec.text);
    if (to) edges.push({ from: relative(ROOT, file).replace(/\\/g, '/'), to: relative(ROOT, to).replace(/\\/g, '/'), typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      const allTypeSpecifiers = !!c && !c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings)
        && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, !!c && (c.isTypeOnly || allTypeSpecifiers));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      const clause = node.exportClause;
      const allTypeSpecifiers = !!clause && ts.isNamedExports(clause) && clause.elements.length > 0
        && clause.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, node.isTypeOnly || allTypeSpecifiers);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal as ts.Expression, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return edges;
}

/**
 * Type-only circles accepted: a part of a KVM VM (its MMU, vCPUs, guest_memfd, MSR filter) names the
 * Vm class; a process's userfaultfd names the Process class.
 */
const KNOWN_TYPE_ONLY_CIRCLES: string[] = [
  'src/sim/host/process.ts ↔ src/sim/host/userfaultfd.ts',
  'src/sim/kvm/guest-memfd.ts ↔ src/sim/kvm/kvm.ts ↔ src/sim/kvm/memslot.ts ↔ src/sim/kvm/mmu.ts ↔ src/sim/kvm/msr-cpuid.ts ↔ src/sim/kvm/msr-filter.ts ↔ src/sim/kvm/vcpu.ts ↔ src/sim/kvm/vm.ts',
];

const edges = sourceFiles(join(ROOT, 'src')).flatMap(importsOf);

describe('layering', () => {
  it('finds the imports it checks', () => {
    // A scanner that found nothing would pass everything.
    expect(edges.length).toBeGreaterThan(500);
    expect(edges).toContainEqual({ from: 'src/sim/kvm/vm.ts', to: 'src/sim/core/errno.ts', typeOnly: false });
    expect(edges).toContainEqual({ from: 'src/sim/kvm/vm.ts', to: 'src/sim/core/trace.ts', typeOnly: true });
  });

  it('has no wrong-way import', () => {
    const wrong = edges.map(checkEdge).filter((m): m is string => m !== null);
    expect(wrong, wrong.join('\n')).toEqual([]);
  });

  // Circles among value imports make module start-up order matter and tie files that should be
  // layered: none at all. Type-only imports vanish at build; a circle that needs them is allowed only
  // inside one folder (a part naming its owner's class, as kvm/mmu.ts names kvm/vm.ts's Vm), never
  // across folders, and each is listed here so a new one is a decision.
  it('has no import circle among value imports', () => {
    const cycles = findCycles(edges.filter((e) => !e.typeOnly));
    expect(cycles, cycles.map((c) => c.join(' ↔ ')).join('\n')).toEqual([]);
  });

  it('has type-only circles only inside one folder, and only the known ones', () => {
    const cycles = findCycles(edges);
    const crossing = cycles.filter((c) => new Set(c.map((f) => dirname(f))).size > 1);
    expect(crossing, crossing.map((c) => c.join(' ↔ ')).join('\n')).toEqual([]);
    expect(cycles.map((c) => c.join(' ↔ '))).toEqual(KNOWN_TYPE_ONLY_CIRCLES);
  });

  it('keeps the view-model leaf modules leaves', () => {
    for (const m of VIEW_MODEL_MODULES) expect(existsSync(join(ROOT, m)), m).toBe(true);
    const out = edges.filter((e) => VIEW_MODEL_MODULES.includes(e.from) && !VIEW_MODEL_MODULES.includes(e.to));
    expect(out).toEqual([]);
  });
});

describe('the layer checker', () => {
  const edge = (from: string, to: string, typeOnly = false): ImportEdge => ({ from, to, typeOnly });

  it('allows downward and same-layer imports', () => {
    expect(checkEdge(edge('src/sim/kvm/vm.ts', 'src/sim/tdx/module.ts'))).toBeNull();
    expect(checkEdge(edge('src/sim/kvm/vm.ts', 'src/sim/kvm/mmu.ts'))).toBeNull();
    expect(checkEdge(edge('src/sim/lab.ts', 'src/sim/scenario/runner.ts'))).toBeNull();
    expect(checkEdge(edge('src/sim/core/trace.ts', 'src/sim/abi/tdx.ts'))).toBeNull();
    expect(checkEdge(edge('src/sim/guest/kernel/boot.ts', 'src/sim/cpu/bus.ts'))).toBeNull();
    expect(checkEdge(edge('src/sim/vmm/vmm.ts', 'src/sim/guest/asm/index.ts'))).toBeNull();
  });

  it('rejects upward imports, even type-only', () => {
    expect(checkEdge(edge('src/sim/kvm/vm.ts', 'src/sim/vmm/surface-view.ts', true))).toMatch(/upward import: kvm\/ may not import vmm\//);
    expect(checkEdge(edge('src/sim/core/trace.ts', 'src/sim/host/host.ts'))).toMatch(/upward/);
    expect(checkEdge(edge('src/sim/vmm/vmm.ts', 'src/sim/lab.ts'))).toMatch(/upward/);
    expect(checkEdge(edge('src/sim/abi/tdx.ts', 'src/sim/core/units.ts'))).toMatch(/abi\//);
  });

  it('keeps the guest on its bus', () => {
    expect(checkEdge(edge('src/sim/guest/kernel/kernel.ts', 'src/sim/kvm/vcpu.ts'))).toMatch(/only through cpu\/bus\.ts/);
    expect(checkEdge(edge('src/sim/guest/kernel/kernel.ts', 'src/sim/cpu/cpu.ts'))).toMatch(/only through cpu\/bus\.ts/);
    expect(checkEdge(edge('src/sim/kvm/vcpu.ts', 'src/sim/guest/kernel/kernel.ts'))).toMatch(/below the guest/);
  });

  it('keeps the app on the view-model and the worker protocol', () => {
    expect(checkEdge(edge('src/app/x.tsx', 'src/sim/view-model.ts'))).toBeNull();
    expect(checkEdge(edge('src/app/x.tsx', 'src/sim/inspect.ts', true))).toBeNull();
    expect(checkEdge(edge('src/app/x.tsx', 'src/sim/inspect.ts'))).toMatch(/only through src\/sim\/view-model\.ts/);
    expect(checkEdge(edge('src/app/x.tsx', 'src/worker/protocol.ts', true))).toBeNull();
    expect(checkEdge(edge('src/app/x.tsx', 'src/worker/protocol.ts'))).toMatch(/type-only/);
    expect(checkEdge(edge('src/sim/lab.ts', 'src/app/store.ts', true))).toMatch(/nothing from src\/app/);
    expect(checkEdge(edge('src/sim/view-model.ts', 'src/sim/inspect.ts'))).toMatch(/VIEW_MODEL_MODULES/);
    expect(checkEdge(edge('src/sim/core/trace.ts', 'src/sim/view-model.ts'))).toMatch(/for the app only/);
  });

  it('lets tests cross layers but not areas', () => {
    expect(checkEdge(edge('src/sim/core/trace.test.ts', 'src/sim/lab.ts'))).toBeNull();
    expect(checkEdge(edge('src/sim/core/trace.test.ts', 'src/app/store.ts'))).toMatch(/src\/app/);
  });

  it('names a src/sim folder that is in no layer', () => {
    expect(() => placeOf('src/sim/misc/x.ts')).toThrow(/src\/sim\/misc\/ is in no layer/);
  });

  // eslint.config.js mirrors the rule so the editor flags a wrong-way import; both must agree.
  it('agrees with the ESLint rule on a sample of each kind of import', async () => {
    const cases: [file: string, line: string, wrong: boolean][] = [
      ['src/sim/kvm/probe.ts', "import { x } from '../vmm/vmm';", true],
      ['src/sim/kvm/probe.ts', "import type { x } from '../scenario/runner';", true],
      ['src/sim/kvm/probe.ts', "import { x } from '../tdx/module';", false],
      ['src/sim/kvm/probe.ts', "import { x } from '../guest/kernel/kernel';", true],
      ['src/sim/vmm/devices/probe.ts', "import { x } from '../../lab';", true],
      ['src/sim/vmm/devices/probe.ts', "import { x } from '../../guest/kernel/kernel';", false],
      ['src/sim/core/probe.ts', "import { x } from '../host/host';", true],
      ['src/sim/guest/kernel/probe.ts', "import { x } from '../../cpu/cpu';", true],
      ['src/sim/guest/kernel/probe.ts', "import { x } from '../../kvm/vcpu';", true],
      ['src/sim/guest/kernel/probe.ts', "import { x } from '../../cpu/bus';", false],
      ['src/sim/guest/kernel/probe.ts', "import { x } from '../../abi/tdx';", false],
      ['src/sim/abi/probe.ts', "import { x } from '../core/units';", true],
      ['src/sim/abi/probe.ts', "import { x } from './tdx';", false],
      ['src/sim/lab-probe.ts', "import { x } from './view-model';", true],
      ['src/sim/view-model.ts', "import { x } from './inspect';", true],
      ['src/sim/view-model.ts', "import { x } from './kvm/mmu';", true],
      ['src/sim/view-model.ts', "import { x } from './core/units';", false],
      ['src/app/probe.ts', "import { x } from '../sim/inspect';", true],
      ['src/app/probe.ts', "import type { x } from '../sim/inspect';", false],
      ['src/app/probe.ts', "import { x } from '../sim/view-model';", false],
      ['src/app/probe.ts', "import { x } from '../worker/protocol';", true],
      ['src/app/probe.ts', "import type { x } from '../worker/protocol';", false],
    ];
    const eslint = new ESLint({ cwd: ROOT });
    for (const [file, line, wrong] of cases) {
      const spec = /'([^']+)'/.exec(line)![1];
      const to = posix.join(posix.dirname(file), spec) + '.ts';
      expect(checkEdge(edge(file, to, line.startsWith('import type'))) !== null, `layering.ts: ${file}: ${line}`).toBe(wrong);
      const [result] = await eslint.lintText(`${line}\nexport const y = x;\n`, { filePath: join(ROOT, file) });
      const flagged = result.messages.some((m) => /no-restricted-imports$/.test(m.ruleId ?? ''));
      expect(flagged, `eslint.config.js: ${file}: ${line}`).toBe(wrong);
    }
  });

  it('finds circles and only circles', () => {
    expect(findCycles([edge('a', 'b'), edge('b', 'c'), edge('c', 'd')])).toEqual([]);
    expect(findCycles([edge('a', 'b'), edge('b', 'c'), edge('c', 'a'), edge('c', 'd'), edge('d', 'd'), edge('e', 'a')]))
      .toEqual([['d'], ['a', 'b', 'c']]);
    expect(findCycles([edge('x', 'y'), edge('y', 'x'), edge('p', 'q'), edge('q', 'p')])).toHaveLength(2);
  });
});
