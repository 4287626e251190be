/**
 * Restoring in place (snapshot.ts restoreRunInto): a snapshot loaded into a run of the same scenario
 * that has gone on elsewhere — further ahead, not as far, or restored itself before — continues
 * exactly as the saved run, byte for byte, as a fresh restore does (snapshot.test.ts). This is how
 * the lab's time travel restores a keyframe, so a stale cache, listener or part left behind by the
 * later run would show here as a different report. FUZZ_RUNS=n runs it n times (default 100).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../test-properties';
import { PRESETS } from '../scenarios';
import { ScenarioRun } from './scenario/runner';
import { restoreRunInto, snapshotRun } from './snapshot';
import { same, scenarioOf, text, whole } from './test-reports';

const IDS = Object.keys(PRESETS);

const advance = (run: ScenarioRun, slices: number[]): void => {
  for (const n of slices) {
    if (run.done) break;
    run.advance(n);
  }
};

describe('restoring a snapshot in place', () => {
  it('into a run of the same scenario that went on further, or not as far, continues exactly as the original', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...IDS),
        fc.array(fc.integer({ min: 1, max: 40_000 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 40_000 }), { maxLength: 20 }),
        fc.boolean(),
        (id, before, after, toEnd) => {
          const saved = ScenarioRun.fromJson(scenarioOf(id));
          advance(saved, before);
          const snap = structuredClone(snapshotRun(saved));
          // Another run of the scenario: past the snapshot (on to the end, or some slices further),
          // or short of it (restoring jumps it forward).
          const other = ScenarioRun.fromJson(scenarioOf(id));
          if (toEnd) other.runAll();
          else advance(other, after);
          restoreRunInto(other, snap);
          expect(other.next).toBe(saved.next);
          expect(other.trace.count).toBe(saved.trace.count);
          expect(other.clock.now).toBe(saved.clock.now);
          same(text(other.runAll()), whole(id), `${id}: saved after [${before.join(', ')}], loaded into a run ${toEnd ? 'at its end' : `after [${after.join(', ')}]`}`);
        },
      ),
      propertyRuns(0x1a7e),
    );
  }, 1_800_000);

  it('a run restored in place again and again, to points back and forth, ends as the run whole', () => {
    for (const id of ['platform-talk', 'selftest-by-hand', 'two-hosts', 'lazy-accept']) {
      const snaps = [];
      const run = ScenarioRun.fromJson(scenarioOf(id));
      snaps.push(snapshotRun(run));
      while (!run.done) {
        run.advance(3_000);
        snaps.push(snapshotRun(run));
      }
      const order = snaps.map((_, i) => (i * 7) % snaps.length);
      for (const i of order) restoreRunInto(run, snaps[i]);
      restoreRunInto(run, snaps[1] ?? snaps[0]);
      same(text(run.runAll()), whole(id), `${id}: after ${order.length} restores in place`);
    }
  }, 600_000);
});
