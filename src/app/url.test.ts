import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../test-properties';
import { PRESETS } from '../scenarios';
import { DEFAULT_PRESET, MAX_SCENARIO_BYTES, printUrl, readUrl, type LinkState } from './url';


const linkArb: fc.Arbitrary<LinkState> = fc.record({
  preset: fc.option(fc.constantFrom(...Object.keys(PRESETS)), { nil: null }),
  scenario: fc.jsonValue(),
  commands: fc.array(fc.record({ step: fc.nat(), instr: fc.nat(), command: fc.jsonValue() }), { maxLength: 4 }),
  event: fc.option(fc.nat({ max: 1e12 }), { nil: null }),
}).map((s) => ({ ...s, scenario: s.preset === null ? s.scenario : null }));

describe('lab URL', () => {
  it('reads back every link it prints (preset or scenario, commands, event)', () => {
    fc.assert(fc.property(linkArb, (s) => {
      // JSON is what travels: -0 comes back as 0.
      const expected = JSON.parse(JSON.stringify(s)) as LinkState;
      expect(readUrl(printUrl(s))).toEqual({ ...expected, problem: null });
    }), propertyRuns(0x0a11));
  });

  it('prints a lesson at its start as the lesson alone', () => {
    expect(printUrl({ preset: 'lazy-accept', scenario: null, commands: [], event: null })).toBe('?v=2&preset=lazy-accept');
    expect(printUrl({ preset: 'lazy-accept', scenario: null, commands: [], event: 57 })).toBe('?v=2&preset=lazy-accept&e=57');
  });

  it('opens a version 1 lesson link at its start, as before', () => {
    expect(readUrl('?v=1&preset=lazy-accept')).toEqual({ preset: 'lazy-accept', scenario: null, commands: [], event: null, problem: null });
    expect(readUrl('')).toMatchObject({ preset: DEFAULT_PRESET, problem: null });
    expect(readUrl('?debug=1')).toMatchObject({ preset: DEFAULT_PRESET, problem: null });
  });

  it('takes present=1 (presenter mode) as a flag beside the moment, as debug=1', () => {
    expect(readUrl('?present=1')).toMatchObject({ preset: DEFAULT_PRESET, problem: null });
    expect(readUrl('?v=1&preset=lazy-accept&present=1')).toMatchObject({ preset: 'lazy-accept', problem: null });
    expect(readUrl('?v=2&preset=lazy-accept&present=1')).toMatchObject({ preset: 'lazy-accept', problem: null });
  });

  it.each([
    ['?v=9&preset=lazy-accept', /URL version 9; this lab reads version 2/],
    ['?preset=lazy-accept&e=3', /URL version \(none\)/],
    ['?v=2&preset=no-such', /There is no lesson "no-such"/],
    ['?v=1&preset=no-such', /There is no lesson "no-such"/],
    ['?v=2', /either a lesson \(preset=\) or a scenario/],
    ['?v=2&preset=lazy-accept&scenario=e30', /either a lesson/],
    ['?v=2&scenario=%%%', /scenario is not base64url/],
    ['?v=2&scenario=bm90IGpzb24', /scenario is not JSON/],
    ['?v=2&preset=lazy-accept&c=e30', /command list is not a list/],
    ['?v=2&preset=lazy-accept&e=-4', /event number "-4" is not a whole number/],
    ['?v=2&preset=lazy-accept&e=12x', /event number "12x"/],
    // Names Object.prototype answers to are not lessons (the worker died on "could not be cloned").
    ['?v=2&preset=toString', /There is no lesson "toString"/],
    ['?v=2&preset=constructor', /There is no lesson "constructor"/],
    ['?v=2&preset=__proto__', /There is no lesson "__proto__"/],
    ['?v=1&preset=hasOwnProperty', /There is no lesson "hasOwnProperty"/],
    // Too long to be a scenario: refused before it is decoded or parsed.
    [`?v=2&scenario=${'A'.repeat(1_398_108)}`, /The link's scenario is 1,398,108 characters long, more than a 1 MiB scenario can be/],
    [`?v=2&preset=lazy-accept&c=${'A'.repeat(2_000_000)}`, /The link's command list is 2,000,000 characters long/],
  ])('%s gets a message and the first lesson\'s start', (search, message) => {
    const r = readUrl(search);
    expect(r.problem).toMatch(message);
    expect(r.problem).toMatch(/Showing the start of the first lesson instead\.$/);
    expect(r).toMatchObject({ preset: DEFAULT_PRESET, scenario: null, commands: [], event: null });
  });
});

describe('the size of a scenario from a link or a file', () => {
  it('a scenario of exactly 1 MiB still reads', () => {
    const big = { title: 'x'.repeat(MAX_SCENARIO_BYTES - 20) };
    const r = readUrl(printUrl({ preset: null, scenario: big, commands: [], event: null }));
    expect(r.problem).toBeNull();
    expect(r.scenario).toEqual(big);
  });
});
