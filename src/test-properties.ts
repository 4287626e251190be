/**
 * How every fast-check property test of the repository is run (tests only, never shipped).
 *
 * In CI (FUZZ_RUNS unset) a property runs 100 times (unless said) from a fixed seed: a test that
 * also asserts coverage over its runs ("some run filled the ring") then sees the same runs every
 * time and cannot flake. `npm run fuzz` sets FUZZ_RUNS (more runs, never fewer than in CI) and leaves
 * the seed to fast-check, which prints it with any counterexample; FUZZ_SEED=n replays that run.
 */
export interface PropertyRuns {
  numRuns: number;
  seed?: number;
}

/**
 * fast-check's parameters for a property with CI seed `seed`: `runs` runs in CI (default 100); under
 * FUZZ_RUNS, `share` of FUZZ_RUNS (default all: a costly property takes a third, say), never fewer.
 */
export function propertyRuns(seed: number, { runs = 100, share = 1 }: { runs?: number; share?: number } = {}): PropertyRuns {
  const env = typeof process === 'undefined' ? {} : process.env;
  const asked = Number(env.FUZZ_RUNS);
  const numRuns = Math.max(runs, Number.isInteger(asked) && asked > 0 ? Math.ceil(asked * share) : 0);
  const replay = Number(env.FUZZ_SEED);
  if (env.FUZZ_SEED !== undefined && env.FUZZ_SEED !== '' && Number.isInteger(replay)) return { numRuns, seed: replay };
  return env.FUZZ_RUNS === undefined || env.FUZZ_RUNS === '' ? { numRuns, seed } : { numRuns };
}
