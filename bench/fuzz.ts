/**
 * npm run fuzz [-- RUNS]
 *
 * The property tests at volume: every test file under src/ that reads FUZZ_RUNS (fast-check's
 * numRuns; at least 100 in CI) runs with FUZZ_RUNS=RUNS (default 1000), then a short report: each
 * property, pass or fail, its time. A failure prints fast-check's counterexample and seed, which
 * replays it (FUZZ_RUNS and the seed in the message).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const arg = process.argv.slice(2).filter((a) => a !== '--')[0];
const runs = arg === undefined ? 1000 : Number(arg);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write(`fuzz: RUNS must be a positive integer (got "${arg}")\nusage: npm run fuzz [-- RUNS]\n`);
  process.exit(2);
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
process.exit(r.status ?? 1);
