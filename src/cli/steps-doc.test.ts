import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { STEP_LEVELS } from '../sim/scenario/steps/define';
import { STEP_KINDS, stepTable, stepTablesMarkdown } from '../sim/scenario/steps';

/** docs/scenario-format.md and the step registry (src/sim/scenario/steps) say the same thing. */
const doc = readFileSync(new URL('../../docs/scenario-format.md', import.meta.url), 'utf8');

describe('docs/scenario-format.md and the step registry', () => {
  test('docs/scenario-format.md carries exactly the generated step tables, one per level', () => {
    const markers = [...doc.matchAll(/<!-- steps:(\w+) -->\n([\s\S]*?)\n<!-- \/steps:\1 -->/g)];
    expect(markers.map((m) => m[1])).toEqual([...STEP_LEVELS]);
    for (const m of markers) expect(m[2], `the ${m[1]} table (npm run sim -- --steps prints it)`).toBe(stepTable(m[1] as (typeof STEP_LEVELS)[number]));
    expect(doc).toContain(stepTablesMarkdown());
  });

  test('the document describes every kind in detail under its heading', () => {
    for (const k of STEP_KINDS) expect(doc).toContain('#### `' + k + '`');
  });

});
