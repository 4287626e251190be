import { describe, expect, test } from 'vitest';
import { PRESETS } from '../../scenarios';
import { ScenarioError, parseScenario, STEP_KINDS } from './schema';

/** The problems parseScenario reports for the first lesson with one change made. */
function issuesAfter(change: (s: { vms: Record<string, unknown>[]; steps: Record<string, unknown>[] }) => void) {
  const s = structuredClone(PRESETS['host-reads-secret']) as unknown as { vms: Record<string, unknown>[]; steps: Record<string, unknown>[] };
  change(s);
  try {
    parseScenario(s);
  } catch (e) {
    if (e instanceof ScenarioError) return e.issues;
    throw e;
  }
  throw new Error('the scenario was accepted');
}

describe('parseScenario messages', () => {
  test('a value of the wrong type names what was expected and what was there', () => {
    expect(issuesAfter((s) => { s.vms[0].program = 5; })).toEqual([{ path: '$.vms[0].program', message: 'expected a string or an array, not a number (5)' }]);
    expect(issuesAfter((s) => { s.vms[0].memory = true; })).toEqual([{ path: '$.vms[0].memory', message: 'expected a number or a string, not a boolean (true)' }]);
  });

  test('an unknown step kind lists the kinds and suggests the nearest', () => {
    const [i] = issuesAfter((s) => { s.steps[0].do = 'host_raed'; });
    expect(i.path).toBe('$.steps[0].do');
    expect(i.message).toMatch(/^unknown step "host_raed" \(did you mean "host_read"\?\): "do" must be one of VMM level: run, convert, .*; Host level: host_read, /);
    expect(i.message).toContain(STEP_KINDS.at(-1));
    const [far] = issuesAfter((s) => { s.steps[0].do = 'teleport'; });
    expect(far.message).toMatch(/^unknown step "teleport": "do" must be one of/);
  });

  test('a bad field of a known step is not called an unknown step', () => {
    const [i] = issuesAfter((s) => { s.steps.push({ do: 'fallocate', fd: 3, mode: true, offset: 0, len: 4096 }); });
    expect(i.path).toMatch(/^\$\.steps\[\d+\]\.mode$/);
    expect(i.message).toMatch(/^expected a number or a string or an array, not a boolean/);
  });
});
