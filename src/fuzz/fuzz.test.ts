import { describe, expect, it } from 'vitest';
import { FAILURES, Rand, TARGETS, fuzz, genMigrationScenario, row, HEADER } from './targets';
import { ScenarioRun } from '../sim/scenario/runner';
import { ScenarioError } from '../sim/scenario/schema';

/**
 * The structure-aware fuzzers in CI: a seeded 2,000 inputs per target (FUZZ_INPUTS for more; npm
 * run fuzz runs 100,000 per target). Zero crashes, hangs and blow-ups; a failure prints its
 * smallest reproducer, which then becomes a unit test (src/sim/scenario/limits.test.ts).
 */
const INPUTS = Number(process.env.FUZZ_INPUTS ?? 2000);
const SEED = 20261206;

describe('structure-aware fuzzers, seeded', () => {
  it.each(TARGETS.map((t) => [t.name, t] as const))('%s: nothing crashes, hangs or blows up', (_, t) => {
    const f = fuzz(t, INPUTS, SEED, { hangMs: 10_000, heapBytes: 1 << 30 });
    console.log(`${HEADER}\n${row(f)}`);
    expect(f.failures.map((x) => `${x.outcome}: ${x.detail}\n${x.input}`)).toEqual([]);
    for (const o of FAILURES) expect(f.counts[o], o).toBe(0);
    // The fuzzer reaches both ends: some inputs run to the end, some are refused.
    expect(f.counts.ran).toBeGreaterThan(0);
    expect(f.counts.refused).toBeGreaterThan(0);
    expect(f.tried).toBe(INPUTS);
  }, 600_000);
});

describe('a run finished in a second process (--from)', () => {
  it('runs exactly the inputs from N of the same seed, and counts only those', () => {
    const ran: number[] = [];
    const t = { name: 'n', gen: (r: Rand) => r.int(1e9), run: (x: number) => (ran.push(x), { outcome: 'ran' as const }), smaller: () => [], show: String };
    fuzz(t, 20, SEED, { hangMs: 10_000, heapBytes: 1 << 30 });
    const whole = ran.splice(0);
    const f = fuzz(t, 20, SEED, { hangMs: 10_000, heapBytes: 1 << 30 }, undefined, 15);
    expect(ran).toEqual(whole.slice(15));
    expect(f.tried).toBe(5);
    expect(f.counts.ran).toBe(5);
  });
});

describe('the scenario fuzzer reaches post-copy', () => {
  it("its migration scenarios run every post-copy step kind to success: the switch, faults served on the destination, a paused link recovered and resumed, the destination's query-migrate, KVM Userfault", () => {
    const r = new Rand(SEED);
    const seen = new Set<string>();
    for (let k = 0; k < 200; k++) {
      const doc = genMigrationScenario(r);
      const steps = doc.steps as { do: string; resume?: boolean; vm?: string; parameters?: Record<string, unknown> }[];
      let run: ScenarioRun;
      try {
        run = ScenarioRun.fromJson(doc);
      } catch (e) {
        if (e instanceof ScenarioError) continue;
        throw e;
      }
      try {
        while (!run.done) run.advance(100_000);
      } catch (e) {
        if (!(e instanceof ScenarioError)) throw e;
      }
      for (const res of run.results) {
        if (res.ret === -1) continue;
        const st = steps[res.step];
        seen.add(st.do === 'migrate' && st.resume ? 'migrate resume' : st.do === 'query_migrate' && st.vm?.endsWith('@dst') ? 'query_migrate on the destination' : st.do);
        if (st.do === 'migrate' && st.parameters?.['max-postcopy-bandwidth'] !== undefined) seen.add('max-postcopy-bandwidth');
      }
      for (const m of run.world.migrations) {
        if (m.incoming.log.vcpu.length > 0) seen.add('post-copy faults');
        if (m.priv?.design === 'kvm-userfault') seen.add('kvm-userfault');
        if (m.capabilities['postcopy-preempt']) seen.add('postcopy-preempt');
        if (m.capabilities['postcopy-blocktime']) seen.add('postcopy-blocktime');
      }
    }
    for (const want of ['migrate_start_postcopy', 'migrate_recover', 'migrate resume', 'query_migrate on the destination', 'post-copy faults',
      'kvm-userfault', 'postcopy-preempt', 'postcopy-blocktime', 'max-postcopy-bandwidth', 'migrate_set_capabilities', 'link_down'])
      expect([...seen], want).toContain(want);
  }, 600_000);
});
