/**
 * npm run sim -- <scenario.json | preset>
 * npm run sim -- --schema
 * npm run sim -- --steps
 * npm run sim -- --list
 *
 * Prints the JSON report on stdout. Exit status: 0 when the scenario ran (whatever the guest did; a
 * run step that reached its instruction budget stopped there, `"stop": "budget"` in its result),
 * 1 for an invalid scenario (the message names the JSON path), 2 for bad usage, 130 when
 * interrupted (Ctrl-C: the report of the steps that ran is printed). A closed stdout (`| head`) ends
 * it quietly with status 0. Names and messages are printed with control characters escaped.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { PRESETS, isPresetId } from '../scenarios';
import { ScenarioRun } from '../sim/scenario/runner';
import { reportJson } from '../sim/scenario/report-json';
import { LIMITS, ScenarioError, scenarioJsonSchema } from '../sim/scenario/schema';
import { stepTablesMarkdown } from '../sim/scenario/steps';

const USAGE = `usage: npm run sim -- <scenario.json | preset>   run a scenario, print the JSON report
       npm run sim -- --schema                       print the scenario JSON Schema (version 2)
       npm run sim -- --steps                        print the step tables (markdown, from the step registry)
       npm run sim -- --list                         list the presets
presets: ${Object.keys(PRESETS).join(', ')}`;

/** Guest instructions run between two looks at Ctrl-C (a few tens of milliseconds). */
const SLICE = 500_000;

/**
 * Text from a user (a file name, a preset name, a message quoting a scenario) made safe to print on
 * a terminal: C0 and C1 control characters, DEL and the bidirectional overrides become escapes, so
 * no name can move the cursor, recolour the terminal or reorder what is shown.
 */
export function escapeControl(s: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };
    if (Object.hasOwn(named, c)) return named[c];
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

/** A file's text, refused when it is longer than `limit` bytes before any of it is parsed (a FIFO or /dev/zero included). */
function readBounded(path: string, limit: number): { text: string } | { error: string } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return { error: (e as NodeJS.ErrnoException).code ?? 'open failed' };
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return { error: 'EISDIR' };
    if (st.isFile() && st.size > limit) return { error: `too big: ${st.size.toLocaleString('en')} bytes` };
    const buf = Buffer.alloc(limit + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > limit) return { error: `too big: more than ${limit.toLocaleString('en')} bytes` };
    }
    return { text: buf.toString('utf8', 0, n) };
  } catch (e) {
    return { error: (e as NodeJS.ErrnoException).code ?? 'read failed' };
  } finally {
    closeSync(fd);
  }
}

/**
 * The CLI as steps: it yields between slices of a long run so its driver can look at Ctrl-C (and
 * stops, printing what ran, when `interrupted()` says so). `main` drives it to the end at once.
 */
function* session(argv: string[], out: (s: string) => void, err: (s: string) => void, interrupted: () => boolean): Generator<void, number> {
  const say = (line: string) => err(escapeControl(line));
  const args = argv.filter((a) => a !== '--');
  if (args.length !== 1) {
    err(USAGE);
    return 2;
  }
  const a = args[0];
  if (a === '--help' || a === '-h') {
    out(USAGE);
    return 0;
  }
  if (a === '--schema') {
    out(JSON.stringify(scenarioJsonSchema(), null, 2));
    return 0;
  }
  if (a === '--steps') {
    out(stepTablesMarkdown());
    return 0;
  }
  if (a === '--list') {
    for (const [id, p] of Object.entries(PRESETS)) out(`${id}\t${(p as { title: string }).title}`);
    return 0;
  }
  if (a.startsWith('-')) {
    say(`unknown option ${a}`);
    err(USAGE);
    return 2;
  }
  let input: unknown;
  if (isPresetId(a)) input = PRESETS[a];
  else {
    const r = readBounded(a, LIMITS.scenarioBytes);
    if ('error' in r) {
      if (r.error === 'ENOENT') say(`${a}: no such file and no such preset (presets: ${Object.keys(PRESETS).join(', ')})`);
      else if (r.error.startsWith('too big')) say(`${a}: ${r.error}; a scenario is at most ${LIMITS.scenarioBytes.toLocaleString('en')} bytes (docs/scenario-format.md, "Limits")`);
      else say(`${a}: cannot read it (${r.error})`);
      return r.error.startsWith('too big') ? 1 : 2;
    }
    try {
      input = JSON.parse(r.text);
    } catch (e) {
      say(`${a}: not valid JSON: ${(e as Error).message}`);
      return 1;
    }
  }
  let run: ScenarioRun;
  try {
    run = ScenarioRun.fromJson(input);
  } catch (e) {
    if (e instanceof ScenarioError) {
      for (const i of e.issues) say(`${a}: ${i.path}: ${i.message}`);
      return 1;
    }
    throw e;
  }
  while (!run.done) {
    if (interrupted()) {
      const total = run.scenario.steps.length;
      const step = run.scenario.steps[run.next];
      run.notes.push(`interrupted (SIGINT) during step ${run.next} ("${step.do}"): ${run.next} of ${total} steps ran; their results are below`);
      out(reportJson(run.report()));
      say(`${a}: interrupted during step ${run.next} ("${step.do}"): ${run.next} of ${total} steps ran (the report of those is on stdout)`);
      return 130;
    }
    try {
      run.advance(SLICE);
    } catch (e) {
      // A step that names what the scenario itself made, wrongly: found only when it runs.
      if (!(e instanceof ScenarioError)) throw e;
      for (const i of e.issues) say(`${a}: ${i.path}: ${i.message}`);
      return 1;
    }
    yield;
  }
  out(reportJson(run.report()));
  return 0;
}

/** Run the CLI to the end, looking at `interrupted` between slices of a run (what tests call). */
export function main(argv: string[], out: (s: string) => void, err: (s: string) => void, interrupted: () => boolean = () => false): number {
  const s = session(argv, out, err, interrupted);
  for (;;) {
    const r = s.next();
    if (r.done) return r.value;
  }
}

/** Run the CLI on the process: Ctrl-C stops it between two slices and prints what ran; a closed stdout ends it quietly. */
export async function processMain(argv: string[]): Promise<number> {
  const closed = (e: NodeJS.ErrnoException) => {
    // `| head` closed the pipe: nobody reads what is left, so stop, quietly.
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  };
  process.stdout.on('error', closed);
  process.stderr.on('error', closed);
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  try {
    const s = session(argv, (t) => process.stdout.write(t + '\n'), (t) => process.stderr.write(t + '\n'), () => interrupted);
    let last = Date.now();
    for (;;) {
      const r = s.next();
      if (r.done) return r.value;
      // Let the signal handler run now and then (a slice is a few milliseconds of work).
      if (Date.now() - last > 50) {
        await new Promise((resolve) => setImmediate(resolve));
        last = Date.now();
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}

const isMain = process.argv[1] && /sim\.(ts|js)$/.test(process.argv[1]);
if (isMain) {
  void processMain(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
