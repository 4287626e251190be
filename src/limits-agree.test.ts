import { describe, expect, it } from 'vitest';
import { MAX_SCENARIO_BYTES } from './app/url';
import { LIMITS } from './sim/scenario/schema';

// The page takes no values from the simulator but view-model.ts, so it keeps its own copy of the
// scenario size limit: this holds the two together.
describe('limits', () => {
  it("the page's scenario size limit (links, imports) is the simulator's", () => {
    expect(MAX_SCENARIO_BYTES).toBe(LIMITS.scenarioBytes);
  });
});
