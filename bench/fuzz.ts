/**
 * npm run fuzz [-- RUNS [INPUTS [SEED]]]
 *
 * 1. The property tests at volume: every test file under src/ that reads FUZZ_RUNS (fast-check's
 *    numRuns; at least 100 in CI) runs with FUZZ_RUNS=RUNS (default 1000), then a short report: each
 *    property, pass or fail, its time. A failure prints fast-check's counterexample and seed, which
 *    replays it (FUZZ_RUNS and the seed in the message).
 * 2. The structure-aware fuzzers (src/fuzz/targets.ts: scenarios from the zod schema, guest
 *    programs from the assembler's grammar, lab URLs, imported files; all mutated), in this
 *    process, INPUTS inputs each (default 100,000) from SEED (default: the time): per target the
 *    inputs tried, refused cleanly, ran, crashed, hung and blew up, and the smallest reproducer of
 *    each failure written to fuzz-out/<target>-<n>.txt. CI runs a seeded 2,000 each
 *    (src/fuzz/fuzz.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, mkdtempSync, writeFileSync } from 'node:fs';
import { FAILURES, HEADER, TARGETS, fuzz, row } from '../src/fuzz/targets';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const [arg, inputsArg, seedArg] = process.argv.slice(2).filter((a) => a !== '--');
const runs = arg === undefined ? 1000 : Number(arg);
const inputs = inputsArg === undefined ? 100_000 : Number(inputsArg);
 
const seed = seedArg === undefined ? Date.now() % 2 ** 31 : Number(seedArg);
for (const [name, v, a] of [['RUNS', runs, arg], ['INPUTS', inputs, inputsArg], ['SEED', seed, seedArg]] as const) {
  if (!Number.isInteger(v) || v < (name === 'SEED' ? 0 : 1)) {
    process.stderr.write(`fuzz: ${name} must be a ${name === 'SEED' ? 'non-negative' : 'positive'} integer (got "${a}")\nusage: npm run fuzz [-- RUNS [INPUTS [SEED]]]\n`);
    process.exit(2);
  }
}

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (/\.test\.tsx?$/.test(e) && readFileSync(p, 'utf8').includes('FUZZ_RUNS')) out.push(relative(ROOT, p));
  }
  return out;
}

const files = testFiles(join(ROOT, 'src'));
if (files.length === 0) {
  process.stderr.write('fuzz: no test file reads FUZZ_RUNS\n');
  process.exit(2);
}
const report = join(mkdtempSync(join(tmpdir(), 'gml-fuzz-')), 'report.json');
process.stdout.write(`fuzz: ${runs} runs per property, ${files.join(', ')}\n`);
const t0 = performance.now();
const r = spawnSync('npx', ['vitest', 'run', ...files, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, '--testTimeout=0'], {
  cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, FUZZ_RUNS: String(runs) },
});
const seconds = (performance.now() - t0) / 1000;

interface JsonReport {
  testResults: { name: string; assertionResults: { fullName: string; status: string; duration?: number }[] }[];
}
let rows: string[] = [];
try {
  const j = JSON.parse(readFileSync(report, 'utf8')) as JsonReport;
  rows = j.testResults.flatMap((f) => f.assertionResults.map((a) =>
    `  ${a.status === 'passed' ? 'ok  ' : a.status.padEnd(4)}  ${((a.duration ?? 0) / 1000).toFixed(1).padStart(7)} s  ${relative(ROOT, f.name)}: ${a.fullName}`));
} catch {
  rows = ['  (vitest wrote no report)'];
}
process.stdout.write(`\nfuzz report: FUZZ_RUNS=${runs}, ${seconds.toFixed(0)} s in all\n${rows.join('\n')}\n`);

// The structure-aware fuzzers, in this process.
process.stdout.write(`\nstructure-aware fuzzers: ${inputs} inputs per target, seed ${seed} (npm run fuzz -- ${runs} ${inputs} ${seed} replays it)\n${HEADER}\n`);
const out = join(ROOT, 'fuzz-out');
let failed = 0;
for (const t of TARGETS) {
  const f = fuzz(t, inputs, seed, { hangMs: 10_000, heapBytes: 1 << 30 });
  process.stdout.write(`${row(f)}\n`);
  f.failures.forEach((x, k) => {
    mkdirSync(out, { recursive: true });
    const file = join(out, `${t.name}-${k}.txt`);
    writeFileSync(file, x.input);
    process.stdout.write(`  ${x.outcome}: ${x.detail}\n    smallest reproducer: ${relative(ROOT, file)}\n`);
  });
  failed += FAILURES.reduce((n, o) => n + f.counts[o], 0);
}
process.stdout.write(failed ? `\n${failed} input(s) crashed, hung or blew up: each reproducer above becomes a unit test\n` : '\nno crash, hang or blow-up\n');
process.exit(r.status || (failed ? 1 : 0));
