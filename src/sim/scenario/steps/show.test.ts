import { describe, expect, test } from 'vitest';
import { PRESETS } from '../../../scenarios';
import { ScenarioError, parseScenario } from '../schema';

type Editable = { steps: Record<string, unknown>[] };

/** The first lesson with `show` set on its first step: the parsed step, or the problems reported. */
function withShow(show: unknown) {
  const s = structuredClone(PRESETS['host-reads-secret']) as unknown as Editable;
  s.steps[0].show = show;
  try {
    return { step: parseScenario(s).steps[0] as { show?: unknown }, issues: null };
  } catch (e) {
    if (e instanceof ScenarioError) return { step: null, issues: e.issues };
    throw e;
  }
}

describe('a step\'s show field', () => {
  test('pages are parsed into the first page and a count; one address is one page', () => {
    expect(withShow({ panel: 'translation', vm: 'td', pages: '0x1000-0x3fff' }).step?.show).toEqual({ panel: 'translation', vm: 'td', pages: { first: 1, count: 3 } });
    expect(withShow({ pages: '0x2000' }).step?.show).toEqual({ pages: { first: 2, count: 1 } });
    expect(withShow({ pages: '8192 - 12287', row: 12 }).step?.show).toEqual({ pages: { first: 2, count: 1 }, row: 12 });
  });

  test('bad input is refused with where and what', () => {
    const bad = withShow({ pages: '0x4000-0x1000' }).issues;
    expect(bad?.[0].path).toBe('$.steps[0].show.pages');
    expect(bad?.[0].message).toContain('start <= end');
    expect(withShow({ panel: 'memory' }).issues?.[0].path).toBe('$.steps[0].show.panel');
    expect(withShow({ vm: 'nobody' }).issues).toEqual([{ path: '$.steps[0].show.vm', message: expect.stringContaining('no VM named "nobody"') }]);
    expect(withShow({ host: 'elsewhere' }).issues?.[0]).toEqual({ path: '$.steps[0].show.host', message: expect.stringContaining('no host named "elsewhere"') });
    expect(withShow({ zoom: 2 }).issues?.[0].path).toMatch(/^\$\.steps\[0\]\.show/);
  });
});
