/**
 * The first-load budget (DESIGN.md, Budgets): the JavaScript the page needs before the first lesson is
 * interactive — the entry chunk and every chunk it imports statically, the simulator's worker
 * excluded — is at most 250 kB gzipped. Lazily loaded chunks (the guest panel and its CodeMirror
 * editor, the migration panel, the attack-surface view) do not count; the program editor must not
 * be reachable from the entry by static imports at all.
 *
 *   npx tsx scripts/bundle-check.ts           builds (production, into a temporary folder) and checks
 *
 * It prints the figures and exits 1 when the budget is exceeded. A size check, not a timing.
 * Sizes are gzip at zlib's default level, in kB of 1000 bytes, as Vite's build report prints them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build, type Plugin } from 'vite';

export const BUDGET_BYTES = 250_000;

/** What the check needs of a chunk of the build (Rollup's OutputChunk has these). */
export interface ChunkInfo {
  fileName: string;
  isEntry: boolean;
  imports: readonly string[];
  dynamicImports: readonly string[];
  moduleIds: readonly string[];
}

/** The chunks loaded before the page runs: each entry and, transitively, what it imports statically. */
export function staticClosure(chunks: readonly ChunkInfo[]): ChunkInfo[] {
  const byFile = new Map(chunks.map((c) => [c.fileName, c]));
  const seen = new Set<string>();
  const todo = chunks.filter((c) => c.isEntry).map((c) => c.fileName);
  if (todo.length === 0) throw new Error('bundle-check: the build has no entry chunk');
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    const c = byFile.get(f);
    if (!c) throw new Error(`bundle-check: chunk ${f} is imported but not in the build`);
    seen.add(f);
    todo.push(...c.imports);
  }
  return chunks.filter((c) => seen.has(c.fileName));
}

/** Modules of the program editor that must stay out of the first load. */
export const EDITOR_MODULE = /[\\/]node_modules[\\/](@codemirror|codemirror|@lezer)[\\/]|[\\/]panels[\\/]guest[\\/]asm-editor\.ts$/;

export const kB = (bytes: number) => `${(bytes / 1000).toFixed(2)} kB`;

async function main(): Promise<number> {
  const outDir = mkdtempSync(join(tmpdir(), 'gml-bundle-check-'));
  let chunks: ChunkInfo[] = [];
  const collect: Plugin = {
    name: 'bundle-check-collect',
    apply: 'build',
    writeBundle(_options, bundle) {
      chunks = Object.values(bundle).flatMap((c) => c.type === 'chunk'
        ? [{ fileName: c.fileName, isEntry: c.isEntry, imports: c.imports, dynamicImports: c.dynamicImports, moduleIds: c.moduleIds }]
        : []);
    },
  };
  try {
    await build({ logLevel: 'warn', plugins: [collect], build: { outDir, emptyOutDir: true } });
    const gz = (file: string) => gzipSync(readFileSync(join(outDir, file))).length;
    const first = staticClosure(chunks);
    const firstFiles = new Set(first.map((c) => c.fileName));
    let total = 0;
    console.log('First load (entry and its static imports; the worker excluded):');
    for (const c of first) {
      const n = gz(c.fileName);
      total += n;
      console.log(`  ${c.fileName.padEnd(44)} ${kB(n).padStart(10)} gzip`);
    }
    console.log('Loaded when first shown (not counted):');
    for (const c of chunks.filter((c) => !firstFiles.has(c.fileName))) console.log(`  ${c.fileName.padEnd(44)} ${kB(gz(c.fileName)).padStart(10)} gzip`);

    const editorInFirst = first.flatMap((c) => c.moduleIds.filter((m) => EDITOR_MODULE.test(m)).map((m) => `${c.fileName}: ${m}`));
    console.log(`First-load JavaScript: ${kB(total)} gzipped; budget ${kB(BUDGET_BYTES)}.`);
    let ok = true;
    if (total > BUDGET_BYTES) {
      console.error(`bundle-check: the first load is ${kB(total)} gzipped, over the ${kB(BUDGET_BYTES)} budget of DESIGN.md: load the panel that grew lazily (src/app/lazy-panels.tsx).`);
      ok = false;
    }
    if (editorInFirst.length > 0) {
      console.error(`bundle-check: the program editor is in the first load (it must be imported dynamically):\n  ${editorInFirst.slice(0, 10).join('\n  ')}`);
      ok = false;
    }
    return ok ? 0 : 1;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then((code) => process.exit(code), (e: unknown) => {
    console.error(`bundle-check: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
