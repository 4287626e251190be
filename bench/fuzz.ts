/**
 * npm run fuzz [-- [--targets=NAME,...] RUNS [INPUTS [SEED [INVARIANT_RUNS]]]]   (--help says what each is)
 *
 * 1. The property tests at volume: every test file under src/ whose properties take their runs from
 *    FUZZ_RUNS (propertyRuns() in src/test-properties.ts; at least 100 in CI, seeded) runs with
 *    FUZZ_RUNS=RUNS (default 1000; 0 skips this part) and a seed of fast-check's choosing, then a short report: each
 *    property, pass or fail, its time. A failure prints fast-check's counterexample and seed, which
 *    replays it (FUZZ_RUNS=RUNS FUZZ_SEED=seed npx vitest run <file>).
 * 2. The isolation invariants (src/sim/test-invariants.ts), in this process, INVARIANT_RUNS runs each
 *    (default 10,000) from SEED: per invariant the runs, passed and failed, what the runs covered, and
 *    a failure's counterexample written to fuzz-out/invariant-<name>.txt.
 * 3. The structure-aware fuzzers (src/fuzz/targets.ts: scenarios from the zod schema, guest
 *    programs from the assembler's grammar, lab URLs, imported files; all mutated), in this
 *    process, INPUTS inputs each (default 100,000) from SEED (default: the time): per target the
 *    inputs tried, refused cleanly, ran, crashed, hung and blew up, and the smallest reproducer of
 *    each failure written to fuzz-out/<target>-<n>.txt. CI runs a seeded 2,000 each
 *    (src/fuzz/fuzz.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, mkdtempSync, writeFileSync } from 'node:fs';
import { FAILURES, HEADER, TARGETS, fuzz, row } from '../src/fuzz/targets';
import { INVARIANTS, checkInvariant } from '../src/sim/test-invariants';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const USAGE = `usage: npm run fuzz [-- [--targets=NAME,...] RUNS [INPUTS [SEED [INVARIANT_RUNS]]]]
  RUNS            property-test runs per property (default 1000; 0 skips the property tests)
  INPUTS          inputs per fuzz target (default 100,000)
  SEED            the fuzzers' and invariants' seed (default: from the clock; printed, to replay)
  INVARIANT_RUNS  runs per isolation invariant (default 10,000; 0 skips them)
  --targets=      only these fuzz targets (${TARGETS.map((t) => t.name).join(', ')}; default all)
  --from=N        only inputs N to INPUTS - 1 of the seed (the earlier ones are made, not run): finishes a long run in a new process
`;
const argv = process.argv.slice(2).filter((a) => a !== '--');
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const only = argv.find((a) => a.startsWith('--targets='))?.slice('--targets='.length).split(',').filter(Boolean);
const unknown = only?.filter((n) => !TARGETS.some((t) => t.name === n)) ?? [];
const fromArg = argv.find((a) => a.startsWith('--from='))?.slice('--from='.length);
const from = fromArg === undefined ? 0 : Number(fromArg);
if (!Number.isInteger(from) || from < 0) {
  process.stderr.write(`fuzz: --from must be a non-negative integer (got "${fromArg}")\n${USAGE}`);
  process.exit(2);
}
if (unknown.length || argv.some((a) => a.startsWith('-') && !a.startsWith('--targets=') && !a.startsWith('--from=') && !/^-?\d/.test(a))) {
  process.stderr.write(`fuzz: ${unknown.length ? `no fuzz target named ${unknown.map((n) => JSON.stringify(n)).join(', ')}` : `unknown option in ${JSON.stringify(argv.join(' '))}`}\n${USAGE}`);
  process.exit(2);
}
const [arg, inputsArg, seedArg, invArg] = argv.filter((a) => !a.startsWith('--targets=') && !a.startsWith('--from='));
const runs = arg === undefined ? 1000 : Number(arg);
const inputs = inputsArg === undefined ? 100_000 : Number(inputsArg);
const invariantRuns = invArg === undefined ? 10_000 : Number(invArg);
 
const seed = seedArg === undefined ? Date.now() % 2 ** 31 : Number(seedArg);
for (const [name, v, a] of [['RUNS', runs, arg], ['INPUTS', inputs, inputsArg], ['SEED', seed, seedArg], ['INVARIANT_RUNS', invariantRuns, invArg]] as const) {
  // RUNS 0 skips the property tests, INVARIANT_RUNS 0 the invariants (to run only the fuzzers again).
  const min = name === 'INPUTS' ? 1 : 0;
  if (!Number.isInteger(v) || v < min) {
    process.stderr.write(`fuzz: ${name} must be a ${min === 0 ? 'non-negative' : 'positive'} integer (got "${a}")\n${USAGE}`);
    process.exit(2);
  }
}

/** The invariants' own test file: they run below, in this process, at INVARIANT_RUNS. */
const INVARIANT_TESTS = /scenario[\\/]properties\.test\.ts$/;

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (/\.test\.tsx?$/.test(e) && !INVARIANT_TESTS.test(p) && /FUZZ_RUNS|propertyRuns\(/.test(readFileSync(p, 'utf8'))) out.push(relative(ROOT, p));
  }
  return out;
}

const files = testFiles(join(ROOT, 'src'));
if (files.length === 0) {
  process.stderr.write('fuzz: no test file reads FUZZ_RUNS\n');
  process.exit(2);
}
let status = 0;
if (runs > 0) {
  const report = join(mkdtempSync(join(tmpdir(), 'gml-fuzz-')), 'report.json');
  process.stdout.write(`fuzz: ${runs} runs per property, ${files.join(', ')}\n`);
  const t0 = performance.now();
  const r = spawnSync('npx', ['vitest', 'run', ...files, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, '--testTimeout=0'], {
    cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, FUZZ_RUNS: String(runs) },
  });
  status = r.status ?? 1;
  const seconds = (performance.now() - t0) / 1000;
  let rows: string[] = [];
  try {
    const j = JSON.parse(readFileSync(report, 'utf8')) as JsonReport;
    rows = j.testResults.flatMap((f) => f.assertionResults.map((x) =>
      `  ${x.status === 'passed' ? 'ok  ' : x.status.padEnd(4)}  ${((x.duration ?? 0) / 1000).toFixed(1).padStart(7)} s  ${relative(ROOT, f.name)}: ${x.fullName}`));
  } catch {
    rows = ['  (vitest wrote no report)'];
  }
  process.stdout.write(`\nfuzz report: FUZZ_RUNS=${runs}, ${seconds.toFixed(0)} s in all\n${rows.join('\n')}\n`);
}

interface JsonReport {
  testResults: { name: string; assertionResults: { fullName: string; status: string; duration?: number }[] }[];
}

// The isolation invariants, in this process.
const out = join(ROOT, 'fuzz-out');
let invariantsFailed = 0;
if (invariantRuns > 0) {
  process.stdout.write(`\nisolation invariants: ${invariantRuns} runs each, seed ${seed}\n${'invariant'.padEnd(24)} ${'runs'.padStart(7)} ${'passed'.padStart(7)} ${'failed'.padStart(7)} ${'time'.padStart(9)}\n`);
  for (const inv of INVARIANTS) {
    const t1 = performance.now();
    const r = checkInvariant(inv, { numRuns: invariantRuns, seed });
    const s = ((performance.now() - t1) / 1000).toFixed(1);
    process.stdout.write(`${inv.name.padEnd(24)} ${String(r.runs).padStart(7)} ${String(r.runs - (r.failed ? 1 : 0)).padStart(7)} ${String(r.failed ? 1 : 0).padStart(7)} ${s.padStart(7)} s\n`);
    for (const [what, n] of [...r.tally].sort()) process.stdout.write(`    ${String(n).padStart(7)}  ${what}\n`);
    if (r.failure) {
      invariantsFailed++;
      mkdirSync(out, { recursive: true });
      const file = join(out, `invariant-${inv.name}.txt`);
      writeFileSync(file, `${inv.claim}\n\n${r.failure}\n`);
      process.stdout.write(`  failed: ${r.failure.split('\n')[0]}\n    counterexample and seed: ${relative(ROOT, file)}\n`);
    }
  }
}

// The structure-aware fuzzers, in this process.
const targets = only ? TARGETS.filter((t) => only.includes(t.name)) : TARGETS;
const replay = `npm run fuzz -- ${only ? `--targets=${only.join(',')} ` : ''}${from ? `--from=${from} ` : ''}${runs} ${inputs} ${seed} ${invariantRuns}`;
process.stdout.write(`\nstructure-aware fuzzers: ${from ? `inputs ${from} to ${inputs - 1}` : `${inputs} inputs`} per target, seed ${seed} (${replay} replays it)\n${HEADER}\n`);
let failed = 0;
for (const t of targets) {
  const f = fuzz(t, inputs, seed, { hangMs: 10_000, heapBytes: 1 << 30 }, (p) => process.stderr.write(`  so far: ${row(p)}\n`), from);
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
if (invariantsFailed) process.stdout.write(`${invariantsFailed} invariant(s) failed: see fuzz-out/invariant-*.txt\n`);
process.exit(status || (failed || invariantsFailed ? 1 : 0));
