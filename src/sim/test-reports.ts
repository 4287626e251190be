/**
 * Helpers for the tests that compare whole reports (snapshots, slicing, restoring in place): the
 * presets as the tests run them, a report as text, and a failure that shows where two reports part.
 * Not shipped.
 */
import { expect } from 'vitest';
import { HEAVY_PRESETS, PRESETS, withInstructionCap } from '../scenarios';
import { ScenarioRun } from './scenario/runner';

/** The preset as the tests run it: heavy ones with a capped instruction budget (as presets.test.ts does). */
export const scenarioOf = (id: string): unknown => (HEAVY_PRESETS.has(id) ? withInstructionCap(PRESETS[id], 20_000) : PRESETS[id]);

/** A report (or any value with bigints) as comparable text. */
export const text = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));

const wholeCache = new Map<string, string>();
/** The report of the preset run whole, without slices or snapshots (computed once per test file). */
export function whole(id: string): string {
  let w = wholeCache.get(id);
  if (w === undefined) wholeCache.set(id, (w = text(ScenarioRun.fromJson(scenarioOf(id)).runAll())));
  return w;
}

/** Equal reports, or a failure that shows where they part (a whole report is too long to read). */
export function same(got: string, want: string, what: string): void {
  if (got === want) return;
  let i = 0;
  while (i < got.length && got[i] === want[i]) i++;
  expect.fail(`${what}: the reports differ at character ${i}:\n  got  …${got.slice(Math.max(0, i - 300), i + 200)}\n  want …${want.slice(Math.max(0, i - 300), i + 200)}`);
}
