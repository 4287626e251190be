/**
 * The simulator as a Node library (`import { runScenario } from 'guest-memory-lab'`): the same
 * machine the lab and the CLI run, deterministic, with no browser. This module only gathers what
 * src/sim already has and adds the few Node conveniences a script wants (a preset by name, a file
 * by path); examples/sweep-bandwidth.mjs shows it at work.
 *
 * - load:   `loadScenario(source)` → a ScenarioRun (the machine built, no step run yet)
 * - run:    `runScenario(source)` → the Report (`run.runAll()`), as `guest-memory-lab run` prints it
 * - step:   `run.step()` (one step whole → StepResult), `run.advance(n)` (n guest instructions at most)
 * - query:  `openLab(source)` → a Lab: `walk(ref, gpa)`, `events(from, to)`, `frame()`,
 *           `hostFrameOwners(host)`, `attackSurface(ref)`, `seek(event)`, `stepBack(kind)` ...
 * - report: `run.report()` at any point; `validateReport(report)` and `reportJsonSchema()` check it
 *
 * A `source` is a preset id (`'precopy-converges'`), a path to a scenario file (ending in .json),
 * or a scenario object (as parsed JSON: `{ version: 2, vms: [...], steps: [...] }`). Invalid input
 * throws a ScenarioError whose `issues` name each problem by JSON path.
 */
import { readBounded } from '../cli/read-bounded';
import { Lab, type LabOptions } from '../sim/lab';
import { ScenarioRun, type Report } from '../sim/scenario/runner';
import { LIMITS, ScenarioError } from '../sim/scenario/schema';
import { PRESETS, isPresetId } from '../scenarios';

export { Lab, snapshotKeyframes } from '../sim/lab';
export type { BackKind, HostView, LabFrame, LabOptions, LinkView, MigrationView, StepProgress, VmRef, VmView, VmmMapping } from '../sim/lab';
export { ScenarioRun } from '../sim/scenario/runner';
export type { HostSummary, LinkSummary, MigrationSummary, Report, StepResult, StepValue, VmSummary } from '../sim/scenario/runner';
export { LIMITS, SCENARIO_VERSION, STEP_KINDS, ScenarioError, parseScenario, scenarioJsonSchema } from '../sim/scenario/schema';
export type { ScenarioInput, ScenarioIssue, ScenarioT, StepT } from '../sim/scenario/schema';
export { REPORT_FORMAT, REPORT_VERSION, reportJson } from '../sim/scenario/report-json';
export type { SimEvent } from '../sim/core/trace';
export type { WalkHop } from '../sim/inspect';
export { PageState, PAGE_STATE_INFO } from '../sim/inspect';
export { PRESETS, isPresetId } from '../scenarios';
export { ReportSchema, reportJsonSchema, validateReport, type ReportIssue } from './report-schema';

/** What loadScenario and runScenario take: a preset id, a path to a .json file, or a scenario object. */
export type ScenarioSource = string | object;

/** The preset ids, in the lab's order. */
export function presetIds(): string[] {
  return Object.keys(PRESETS);
}

/** A copy of preset `id`'s scenario (as JSON data, to change and run); throws naming the presets when there is none. */
export function preset(id: string): Record<string, unknown> {
  if (!isPresetId(id)) throw new ScenarioError([{ path: '$', message: `no preset named ${JSON.stringify(id)} (presets: ${presetIds().join(', ')})` }]);
  return structuredClone(PRESETS[id]) as Record<string, unknown>;
}

/** A scenario file's JSON, read at most LIMITS.scenarioBytes; throws a ScenarioError naming the file. */
export function readScenarioFile(path: string): unknown {
  const r = readBounded(path, LIMITS.scenarioBytes);
  if ('error' in r) {
    const why = r.error === 'ENOENT' ? 'no such file' : r.error.startsWith('too big') ? `${r.error}; a scenario is at most ${LIMITS.scenarioBytes.toLocaleString('en')} bytes` : `cannot read it (${r.error})`;
    throw new ScenarioError([{ path: '$', message: `${path}: ${why}` }]);
  }
  try {
    return JSON.parse(r.text);
  } catch (e) {
    throw new ScenarioError([{ path: '$', message: `${path}: not valid JSON: ${(e as Error).message}` }]);
  }
}

/** The scenario data a source names (a preset's copy, a file's JSON, or the object itself). */
export function scenarioInput(source: ScenarioSource): unknown {
  if (typeof source !== 'string') return source;
  if (isPresetId(source)) return preset(source);
  if (source.endsWith('.json') || source.includes('/')) return readScenarioFile(source);
  throw new ScenarioError([{ path: '$', message: `${JSON.stringify(source)} is neither a preset (presets: ${presetIds().join(', ')}) nor a path to a .json file` }]);
}

/** The machine a scenario builds, before its first step: step it with `step()` / `advance()`, read `report()`. */
export function loadScenario(source: ScenarioSource): ScenarioRun {
  return ScenarioRun.fromJson(scenarioInput(source));
}

/** Run a scenario to its end: its report (what `guest-memory-lab run` prints, as an object). */
export function runScenario(source: ScenarioSource): Report {
  return loadScenario(source).runAll();
}

/** The lab's facade on a scenario: stepping (by step, instruction, exit or event, and back) and the panels' queries. */
export function openLab(source: ScenarioSource, options?: LabOptions): Lab {
  return new Lab(scenarioInput(source), options);
}
