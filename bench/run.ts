/**
 * npm run bench [-- options]
 *
 * The performance budgets of DESIGN.md ("Budgets"), measured as ratios against baselines taken in
 * the same run (the machine is noisy; there is no absolute pass/fail). Prints a plain-text table on
 * stdout and writes bench/results.json.
 *
 *   1. guest qword stores/s through the interpreter (ordinary VM, VM with dirty logging, TD) vs a
 *      plain JavaScript typed-array store loop (budget: within 10x);
 *   2. private faults/s on a TD (EPT violation + TDH.MEM.PAGE.AUG + TDG.MEM.PAGE.ACCEPT), traced and
 *      muted, vs allocating a zero-filled 4 KiB page;
 *   3. heap bytes per guest page for 4 GiB and 64 GiB TDs (budget: at most 8 bytes per page for a
 *      4 GiB guest with no page contents stored), each in a child process;
 *   4. snapshots of a booted 4 GiB TD and of two 4 GiB guests: size (structured clone bytes), save
 *      and restore time, against copying that many bytes;
 *   5. seeks to random events of platform-upstream and four-gigabytes after running each to its end
 *      (the browser half holds the budget: median at most 250 ms, keyframes at most 256 MiB);
 *   6. a pre-copy migration of a 16 GiB guest in use with a hot-set workload: simulated seconds per
 *      wall second (budget: at least 100) and the migration's per-page state (within 8 B/page).
 *   7. post-copy: a 16 GiB guest switched to post-copy, simulated seconds per wall second (budget: at
 *      least 100), and post-copy faults served per wall second (bench/postcopy.ts).
 *
 * Options:
 *   --quick            fewer repetitions and smaller samples (a smoke run, ~30 s)
 *   --only=LIST        run only some sections: stores, faults, heap, snapshot, seek, migration, postcopy (comma separated)
 *   --reps=N           repetitions for sections 1 and 2 (default 11; section 2 takes as many as fit)
 *   --strict           exit with status 3 when a budget is exceeded (default: report only)
 *   --out=FILE         where to write the JSON results (default bench/results.json)
 *
 * The heap section needs global.gc(): when it is missing this script runs itself again with
 * --expose-gc (the same node, the same tsx loader).
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(import.meta.url);
const argv = process.argv.slice(2).filter((a) => a !== '--');

function hasGc(): boolean {
  return typeof (globalThis as { gc?: unknown }).gc === 'function';
}

// ---- re-spawn with --expose-gc before loading the simulator ------------------------------------
if (!hasGc()) {
  if (process.env.GML_BENCH_RESPAWNED) {
    process.stderr.write('bench: global.gc() is still missing after re-running with --expose-gc.\n' +
      '       Run it by hand: node --expose-gc --import tsx bench/run.ts\n');
    process.exit(2);
  }
  const r = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', SCRIPT, ...argv], {
    stdio: 'inherit',
    env: { ...process.env, GML_BENCH_RESPAWNED: '1' },
  });
  if (r.error) {
    process.stderr.write(`bench: could not re-run node with --expose-gc: ${r.error.message}\n`);
    process.exit(2);
  }
  process.exit(r.status ?? (r.signal ? 128 : 1));
}

const { HEAP_CASES, CHILD_MARK, heapChild, runHeap } = await import('./heap');
const { runStores } = await import('./stores');
const { runFaults } = await import('./faults');
const { runSeek } = await import('./seek');
const { runSnapshot } = await import('./snapshot');
const { runMigrationBenches } = await import('./migration');
const { runPostcopyBench } = await import('./postcopy');
const { errorMessage } = await import('./util');

// ---- a heap child: measure one case, print one JSON line --------------------------------------
const childIdx = argv.indexOf('--heap-child');
if (childIdx >= 0) {
  const id = argv[childIdx + 1];
  const c = HEAP_CASES.find((x) => x.id === id);
  if (!c) {
    process.stderr.write(`bench: unknown heap case "${id}" (known: ${HEAP_CASES.map((x) => x.id).join(', ')})\n`);
    process.exit(2);
  }
  try {
    process.stdout.write(CHILD_MARK + JSON.stringify(heapChild(c)) + '\n');
    process.exit(0);
  } catch (e) {
    process.stderr.write(`bench: heap case ${id} failed: ${errorMessage(e)}\n`);
    process.exit(1);
  }
}

// ---- options ------------------------------------------------------------------------------------
const USAGE = 'usage: npm run bench [-- --quick] [--only=stores,faults,heap,snapshot,seek,migration,postcopy] [--reps=N] [--strict] [--out=FILE]';
const SECTIONS = ['stores', 'faults', 'heap', 'snapshot', 'seek', 'migration', 'postcopy'] as const;
type Section = (typeof SECTIONS)[number];
let quick = false;
let strict = false;
let reps: number | undefined;
let only: Section[] = [...SECTIONS];
let out = fileURLToPath(new URL('./results.json', import.meta.url));
for (const a of argv) {
  if (a === '--quick') quick = true;
  else if (a === '--strict') strict = true;
  else if (a === '--help' || a === '-h') {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  } else if (a.startsWith('--reps=')) {
    reps = Number(a.slice(7));
    if (!Number.isInteger(reps) || reps < 1 || reps > 100) {
      process.stderr.write(`bench: --reps must be an integer from 1 to 100 (got "${a.slice(7)}")\n${USAGE}\n`);
      process.exit(2);
    }
  } else if (a.startsWith('--only=')) {
    const want = a.slice(7).split(',').filter(Boolean);
    const bad = want.filter((w) => !(SECTIONS as readonly string[]).includes(w));
    if (bad.length || want.length === 0) {
      process.stderr.write(`bench: unknown section(s) ${bad.join(', ') || '(none given)'}; sections are ${SECTIONS.join(', ')}\n${USAGE}\n`);
      process.exit(2);
    }
    only = want as Section[];
  } else if (a.startsWith('--out=')) out = a.slice(6);
  else {
    process.stderr.write(`bench: unknown option ${a}\n${USAGE}\n`);
    process.exit(2);
  }
}
const R = reps ?? (quick ? 3 : 11);

// ---- run -------------------------------------------------------------------------------------------
const t0 = Date.now();
const progress = (s: string): void => {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${s}\n`);
};

const env = {
  date: new Date().toISOString(),
  node: process.version,
  v8: process.versions.v8,
  platform: `${process.platform} ${process.arch}`,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  totalMemoryBytes: totalmem(),
  options: { quick, reps: R, only, strict },
};

interface Budget {
  name: string;
  budget: string;
  measured: string;
  within: boolean;
}
const results: Record<string, unknown> = {};
const errors: { section: Section; message: string }[] = [];
const budgets: Budget[] = [];
const texts: string[] = [];

process.stdout.write(`Guest Memory Lab benchmark: ${env.date}, node ${env.node}, ${env.cpus} x ${env.cpuModel}, ${(env.totalMemoryBytes / 2 ** 30).toFixed(0)} GiB\n` +
  'Every rate is compared with a baseline measured in this same run; figures are medians of several repetitions.\n\n');

function section(name: Section, fn: () => { result: unknown; text: string }): void {
  if (!only.includes(name)) return;
  const s0 = Date.now();
  try {
    const { result, text } = fn();
    results[name] = { ...(result as object), seconds: (Date.now() - s0) / 1000 };
    texts.push(text);
    process.stdout.write(text + '\n\n');
  } catch (e) {
    const message = errorMessage(e);
    errors.push({ section: name, message });
    results[name] = { error: message };
    process.stdout.write(`${name}: FAILED: ${message}\n\n`);
  }
}

section('stores', () => {
  const r = runStores({ reps: R, coldReps: quick ? 2 : 5, bufferBytes: (quick ? 4 : 8) * 2 ** 20 }, progress);
  for (const k of ['vm', 'vm-dirty-log', 'td'] as const) {
    const w = r.result.warm[k];
    budgets.push({ name: `guest stores, ${k}, warm`, budget: 'slowdown <= 10x vs JS typed-array loop', measured: `${w.slowdownMedian.toFixed(1)}x`, within: w.slowdownMedian <= 10 });
  }
  return r;
});

section('faults', () => runFaults({ reps: R, pagesPerSample: quick ? 4096 : 16384 }, progress));

section('heap', () => {
  const r = runHeap(SCRIPT, quick ? 1 : 3, progress);
  for (const c of r.result.cases) {
    if (c.budgetBytesPerPage !== undefined)
      budgets.push({ name: `heap per guest page, ${c.label}`, budget: `<= ${c.budgetBytesPerPage} B/page`, measured: `${c.bytesPerGuestPage.toFixed(3)} B/page`, within: !!c.withinBudget });
  }
  return r;
});

section('snapshot', () => runSnapshot({ reps: quick ? 1 : Math.min(R, 5) }, progress));

section('seek', () => {
  const r = runSeek({ seeks: quick ? 11 : 31, heavySeeks: quick ? 11 : 31 }, progress);
  // The budget is the worker's: it keeps snapshot keyframes (the start only is reported as the baseline).
  for (const c of r.result.cases.filter((x) => x.keyframeMode === 'snapshots')) {
    budgets.push({ name: `seek, ${c.preset}, median (headless)`, budget: '<= 250 ms', measured: `${c.medianMs.toFixed(1)} ms`, within: c.medianMs <= 250 });
    budgets.push({ name: `keyframes, ${c.preset}`, budget: '<= 256 MiB', measured: `${(c.keyframeBytes / 2 ** 20).toFixed(1)} MiB`, within: c.keyframeBytes <= 256 * 2 ** 20 });
  }
  return r;
});

section('migration', () => {
  const r = runMigrationBenches((quick ? 4 : 16) * 2 ** 30, progress);
  const w = r.result.workload;
  budgets.push({ name: `migration of a ${quick ? 4 : 16} GiB guest, hot set, simulated s per wall s`, budget: '>= 100', measured: w.simSecondsPerWallSecond.toFixed(1), within: w.simSecondsPerWallSecond >= 100 });
  budgets.push({ name: "migration's per-page state", budget: '<= 8 B/page (with the rest of the heap)', measured: `${w.perPageStateBytesPerPage.toFixed(3)} B/page`, within: w.perPageStateBytesPerPage <= 8 });
  return r;
});

section('postcopy', () => {
  const r = runPostcopyBench((quick ? 4 : 16) * 2 ** 30, progress);
  budgets.push({ name: `post-copy of a ${quick ? 4 : 16} GiB guest, hot set, simulated s per wall s`, budget: '>= 100', measured: r.result.simSecondsPerWallSecond.toFixed(1), within: r.result.simSecondsPerWallSecond >= 100 });
  return r;
});

const seconds = (Date.now() - t0) / 1000;
if (budgets.length) {
  const w = Math.max(...budgets.map((b) => b.name.length));
  process.stdout.write('Budgets (DESIGN.md)\n' + budgets.map((b) => `  ${b.name.padEnd(w)}  ${b.measured.padStart(14)}  ${b.within ? 'within' : 'OVER  '}  (${b.budget})`).join('\n') + '\n');
}
process.stdout.write(`\n${errors.length ? `${errors.length} section(s) failed. ` : ''}Total ${seconds.toFixed(1)} s.\n`);

try {
  writeFileSync(out, JSON.stringify({ format: 'guest-memory-lab/bench', version: 1, env, seconds, budgets, errors, sections: results }, null, 2) + '\n');
  process.stdout.write(`Results written to ${out}\n`);
} catch (e) {
  process.stderr.write(`bench: could not write ${out}: ${errorMessage(e)}\n`);
  process.exitCode = 1;
}
if (errors.length) process.exitCode = 1;
else if (strict && budgets.some((b) => !b.within)) process.exitCode = 3;
