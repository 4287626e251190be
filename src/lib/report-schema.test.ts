import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { HEAVY_PRESETS, PRESETS, withInstructionCap } from '../scenarios';
import { main } from '../cli/sim';
import { ReportSchema, reportJsonSchema, validateReport } from './report-schema';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gml-report-schema-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The CLI's report of a preset (a heavy one with its instructions capped, as presets.test.ts runs it), parsed. */
function cliReport(id: string): unknown {
  let arg = id;
  if (HEAVY_PRESETS.has(id)) {
    arg = join(dir, `${id}.json`);
    writeFileSync(arg, JSON.stringify(withInstructionCap(PRESETS[id], 20_000)));
  }
  const out: string[] = [];
  const err: string[] = [];
  expect(main([arg], (s) => out.push(s), (s) => err.push(s))).toBe(0);
  expect(err).toEqual([]);
  return JSON.parse(out.join('\n'));
}

const reports = new Map<string, unknown>();
const reportOf = (id: string) => {
  if (!reports.has(id)) reports.set(id, cliReport(id));
  return reports.get(id);
};

describe('the report schema', () => {
  test.each(Object.keys(PRESETS))('the CLI\'s report of %s is valid', (id) => {
    expect(validateReport(reportOf(id))).toEqual([]);
  });

  test('the published JSON Schema is generated from the zod schema that validates', () => {
    const schema = reportJsonSchema();
    const { title, ...generated } = schema;
    expect(title).toBe('Guest Memory Lab report');
    expect(generated).toEqual(z.toJSONSchema(ReportSchema, { io: 'output', unrepresentable: 'any' }));
    expect(generated.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const props = generated.properties as Record<string, { type?: string; const?: unknown }>;
    expect(Object.keys(props)).toEqual(['format', 'version', 'title', 'seed', 'notes', 'results', 'events', 'summary']);
    expect(props.format.const).toBe('guest-memory-lab/report');
    expect(generated.additionalProperties).toBe(false);
  });

  test('a report that drifts from the schema is refused with the JSON path of the drift', () => {
    const good = structuredClone(reportOf('host-reads-secret')) as {
      results: Record<string, unknown>[]; events: Record<string, unknown>[]; summary: { vms: Record<string, unknown>[] }; version: number;
    };
    const cases: [string, (r: typeof good) => void][] = [
      ['$.version', (r) => { r.version = 3; }],
      ['$.results[0]', (r) => { r.results[0].extra = 1; }],
      ['$.results[1].errno', (r) => { r.results[1].errno = 'ENOTANERRNO'; }],
      ['$.events[2].layer', (r) => { r.events[2].layer = 'firmware'; }],
      ['$.summary.vms[0].memslots', (r) => { delete r.summary.vms[0].memslots; }],
    ];
    for (const [path, spoil] of cases) {
      const bad = structuredClone(good);
      spoil(bad);
      expect(validateReport(bad).map((i) => i.path), path).toContain(path);
    }
  });

  test('every exit reason and migration summary the presets produce is described (not just accepted as anything)', () => {
    const all = Object.keys(PRESETS).map(reportOf) as { results: { exit?: { reason: string } }[]; summary: { migrations?: unknown[] } }[];
    const reasons = new Set(all.flatMap((r) => r.results.flatMap((x) => (x.exit ? [x.exit.reason] : []))));
    expect(reasons.size).toBeGreaterThan(2);
    expect(all.some((r) => (r.summary.migrations ?? []).length > 0)).toBe(true);
  });
});
