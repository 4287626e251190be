import { describe, expect, it } from 'vitest';
import { FAILURES, TARGETS, fuzz, row, HEADER } from './targets';

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
