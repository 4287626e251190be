/**
 * npm run sim -- [run] <scenario.json | preset>     (installed: guest-memory-lab [run] <file | preset>)
 * npm run sim -- --schema | --report-schema | --steps | --list
 * Add --json-errors to get refusals as JSON on stderr instead of sentences.
 *
 * Prints the JSON report on stdout. Exit status: 0 when the scenario ran (whatever the guest did; a
 * run step that reached its instruction budget stopped there, `"stop": "budget"` in its result),
 * 1 for an invalid scenario (the message names the JSON path), 2 for bad usage, 130 when
 * interrupted (Ctrl-C: the report of the steps that ran is printed). A closed stdout (`| head`) ends
 * it quietly with status 0. Names and messages are printed with control characters escaped.
 *
 * With --json-errors, whatever would be said on stderr is said instead as one line of JSON there, a
 * list of `{"path", "message"}`: `path` is the JSON path in the scenario (`$.steps[2].gpa`), `$` for
 * the file as a whole (unreadable, too big, not JSON), and `""` for a problem with the command line
 * (usage, no such file). The exit status is the same either way; stdout still carries only the report.
 */
import { PRESETS, isPresetId } from '../scenarios';
import { readBounded } from './read-bounded';
import { ScenarioRun } from '../sim/scenario/runner';
import { reportJson } from '../sim/scenario/report-json';
import { LIMITS, ScenarioError, scenarioJsonSchema, type ScenarioIssue } from '../sim/scenario/schema';
import { stepTablesMarkdown } from '../sim/scenario/steps';
import { reportJsonSchema } from '../lib/report-schema';

/** How the CLI is called where it runs: `npm run sim --` in the repository, `guest-memory-lab` once installed. */
export const REPO_PROGRAM = 'npm run sim --';

function usage(prog: string): string {
  const pad = (s: string) => s.padEnd(prog.length + 36);
  return [
    `usage: ${pad(`${prog} [run] <scenario.json | preset>`)}run a scenario, print the JSON report`,
    `       ${pad(`${prog} --schema`)}print the scenario JSON Schema (version 2)`,
    `       ${pad(`${prog} --report-schema`)}print the report's JSON Schema`,
    `       ${pad(`${prog} --steps`)}print the step tables (markdown, from the step registry)`,
    `       ${pad(`${prog} --list`)}list the presets`,
    `       add --json-errors to print refusals on stderr as JSON: [{"path": ..., "message": ...}]`,
    `presets: ${Object.keys(PRESETS).join(', ')}`,
  ].join('\n');
}

/** Options of the CLI's entry points. */
export interface CliOptions {
  /** The program's name in the usage text (default: `npm run sim --`). */
  prog?: string;
}

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

/**
 * The CLI as steps: it yields between slices of a long run so its driver can look at Ctrl-C (and
 * stops, printing what ran, when `interrupted()` says so). `main` drives it to the end at once.
 */
function* session(argv: string[], out: (s: string) => void, err: (s: string) => void, interrupted: () => boolean, prog: string): Generator<void, number> {
  let args = argv.filter((a) => a !== '--');
  const jsonErrors = args.includes('--json-errors');
  args = args.filter((a) => a !== '--json-errors');
  // What goes to stderr: sentences, or (--json-errors) the same problems as {path, message} once at the end.
  const problems: ScenarioIssue[] = [];
  const say = (line: string) => err(escapeControl(line));
  /** A problem with the command line (path ""), the file as a whole ("$") or a place in the scenario. */
  const problem = (path: string, message: string, human: string) => {
    if (jsonErrors) problems.push({ path, message });
    else say(human);
  };
  const finish = (code: number): number => {
    // JSON escapes C0 itself; DEL, C1 and the bidirectional overrides are escaped the same way (\uXXXX), still valid JSON.
    if (jsonErrors && problems.length > 0) err(JSON.stringify(problems).replace(/[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
    return code;
  };
  const badUsage = (message: string | null): number => {
    if (jsonErrors) problems.push({ path: '', message: message ?? `expected one scenario file or preset (${prog} --help)` });
    else {
      if (message !== null) say(message);
      err(usage(prog));
    }
    return finish(2);
  };
  if (args[0] === 'run') {
    args = args.slice(1);
    if (args.length !== 1 || args[0].startsWith('-')) return badUsage(args.length === 1 ? `run takes a scenario file or a preset, not ${args[0]}` : null);
  }
  if (args.length !== 1) return badUsage(args.length === 0 ? null : `expected one scenario file or preset, got ${args.length} arguments`);
  const a = args[0];
  if (a === '--help' || a === '-h') {
    out(usage(prog));
    return 0;
  }
  if (a === '--schema') {
    out(JSON.stringify(scenarioJsonSchema(), null, 2));
    return 0;
  }
  if (a === '--report-schema') {
    out(JSON.stringify(reportJsonSchema(), null, 2));
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
  if (a.startsWith('-')) return badUsage(`unknown option ${escapeControl(a)}`);
  let input: unknown;
  if (isPresetId(a)) input = PRESETS[a];
  else {
    const r = readBounded(a, LIMITS.scenarioBytes);
    if ('error' in r) {
      const presets = `presets: ${Object.keys(PRESETS).join(', ')}`;
      if (r.error === 'ENOENT') problem('', `${a}: no such file and no such preset (${presets})`, `${a}: no such file and no such preset (${presets})`);
      else if (r.error.startsWith('too big')) {
        const m = `${r.error}; a scenario is at most ${LIMITS.scenarioBytes.toLocaleString('en')} bytes (docs/scenario-format.md, "Limits")`;
        problem('$', m, `${a}: ${m}`);
      } else problem('', `${a}: cannot read it (${r.error})`, `${a}: cannot read it (${r.error})`);
      return finish(r.error.startsWith('too big') ? 1 : 2);
    }
    try {
      input = JSON.parse(r.text);
    } catch (e) {
      problem('$', `not valid JSON: ${(e as Error).message}`, `${a}: not valid JSON: ${(e as Error).message}`);
      return finish(1);
    }
  }
  let run: ScenarioRun;
  try {
    run = ScenarioRun.fromJson(input);
  } catch (e) {
    if (e instanceof ScenarioError) {
      for (const i of e.issues) problem(i.path, i.message, `${a}: ${i.path}: ${i.message}`);
      return finish(1);
    }
    throw e;
  }
  while (!run.done) {
    if (interrupted()) {
      const total = run.scenario.steps.length;
      const step = run.scenario.steps[run.next];
      run.notes.push(`interrupted (SIGINT) during step ${run.next} ("${step.do}"): ${run.next} of ${total} steps ran; their results are below`);
      out(reportJson(run.report()));
      const m = `interrupted during step ${run.next} ("${step.do}"): ${run.next} of ${total} steps ran (the report of those is on stdout)`;
      problem(`$.steps[${run.next}]`, m, `${a}: ${m}`);
      return finish(130);
    }
    try {
      run.advance(SLICE);
    } catch (e) {
      // A step that names what the scenario itself made, wrongly: found only when it runs.
      if (!(e instanceof ScenarioError)) throw e;
      for (const i of e.issues) problem(i.path, i.message, `${a}: ${i.path}: ${i.message}`);
      return finish(1);
    }
    yield;
  }
  out(reportJson(run.report()));
  return 0;
}

/** Run the CLI to the end, looking at `interrupted` between slices of a run (what tests call). */
export function main(argv: string[], out: (s: string) => void, err: (s: string) => void, interrupted: () => boolean = () => false, options: CliOptions = {}): number {
  const s = session(argv, out, err, interrupted, options.prog ?? REPO_PROGRAM);
  for (;;) {
    const r = s.next();
    if (r.done) return r.value;
  }
}

/** Run the CLI on the process: Ctrl-C stops it between two slices and prints what ran; a closed stdout ends it quietly. */
export async function processMain(argv: string[], options: CliOptions = {}): Promise<number> {
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
    const s = session(argv, (t) => process.stdout.write(t + '\n'), (t) => process.stderr.write(t + '\n'), () => interrupted, options.prog ?? REPO_PROGRAM);
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
