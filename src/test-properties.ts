/**
 * How every fast-check property test of the repository is run (tests only, never shipped).
 *
 * In CI (FUZZ_RUNS unset) a property runs `min` times (100 unless said) from a fixed seed: a test
 * that also asserts coverage over its runs ("some run filled the ring") then sees the same runs every
 * time and cannot flake. `npm run fuzz` sets FUZZ_RUNS (more runs, never fewer than `min`) and leaves
 * the seed to fast-check, which prints it with any counterexample; FUZZ_SEED=n replays that run.
 */
export interface PropertyRuns {
  numRuns: number;
  seed?: number;
}

export function propertyRuns(seed: number, min = 100): PropertyRuns {
  const env = typeof process === 'undefined' ? {} : process.env;
  const asked = Number(env.FUZZ_RUNS);
  const numRuns = Math.max(min, Number.isInteger(asked) && asked > 0 ? asked : 0);
  const replay = Number(env.FUZZ_SEED);
  if (env.FUZZ_SEED !== undefined && env.FUZZ_SEED !== '' && Number.isInteger(replay)) return { numRuns, seed: replay };
  return env.FUZZ_RUNS === undefined || env.FUZZ_RUNS === '' ? { numRuns, seed } : { numRuns };
}
