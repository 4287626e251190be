/**
 * Slicing must not change time: a scenario advanced in slices of any sizes (ScenarioRun.advance,
 * what the UI's play loop and time travel's replay do) gives the same trace, byte for byte (the
 * report's kept events), and the same report as the scenario run whole. A run step's slice may cut a
 * vCPU's KVM_RUN short (virtual time inside a KVM_RUN is exact, so no event moves); a run_until's
 * pauses between two of the scheduler's actors. run_until steps are sliced too.
 * FUZZ_RUNS=n runs the property n times (default 100).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../scenarios';
import { ScenarioRun } from './scenario/runner';
import { same, scenarioOf, text, whole } from './test-reports';

const RUNS = Number(process.env.FUZZ_RUNS) || 100;
const IDS = Object.keys(PRESETS);

/** Run `id` to its end by slices (the sizes used in turn); how many advance() calls paused inside a step. */
function sliced(id: string, sizes: readonly number[]): { report: string; paused: Map<string, number> } {
  const run = ScenarioRun.fromJson(scenarioOf(id));
  const paused = new Map<string, number>();
  for (let k = 0; !run.done; k++) {
    const kind = run.scenario.steps[run.next].do;
    if (run.advance(sizes[k % sizes.length]) === null && !run.done) paused.set(kind, (paused.get(kind) ?? 0) + 1);
  }
  return { report: text(run.report()), paused };
}

describe('slicing', () => {
  it('every preset run in slices of random sizes gives the trace and report of the run whole', () => {
    fc.assert(
      fc.property(fc.constantFrom(...IDS), fc.array(fc.integer({ min: 1, max: 50_000 }), { minLength: 1, maxLength: 20 }), (id, sizes) => {
        same(sliced(id, sizes).report, whole(id), `${id} in slices [${sizes.join(', ')}]`);
      }),
      { numRuns: RUNS, seed: RUNS === 100 ? 0x511ce : undefined },
    );
  }, 1_800_000);

  it('run_until advances in slices: two-hosts pauses inside its run_until steps and inside its run-to-halt guests', () => {
    const { report, paused } = sliced('two-hosts', [20]);
    same(report, whole('two-hosts'), 'two-hosts in slices of 20');
    // Stopped inside run_until many times (the guests run thousands of writes meanwhile).
    expect(paused.get('run_until') ?? 0).toBeGreaterThan(10);
  });

  it('a slice of one instruction pauses a run step at every instruction and still gives the whole trace', () => {
    for (const id of ['msr-filter', 'shared-buffer', 'host-reads-secret']) {
      const { report, paused } = sliced(id, [1]);
      same(report, whole(id), `${id} in slices of 1`);
      // Every instruction of a run step but its last is a pause (inside KVM_RUNs too).
      const runs = (JSON.parse(whole(id)) as { results: { do: string; value?: { instructions?: number } }[] }).results.filter((r) => r.do === 'run');
      const instructions = runs.reduce((a, r) => a + (r.value?.instructions ?? 0), 0);
      expect(instructions).toBeGreaterThan(runs.length);
      expect(paused.get('run') ?? 0).toBeGreaterThanOrEqual(instructions - runs.length);
    }
  });
});
