import { describe, expect, test } from 'vitest';
import { ScenarioError, Step } from '../schema';
import { ScenarioRun } from '../runner';
import { PRESETS } from '../../../scenarios';
import { STEP_LEVELS } from './define';
import { STEPS, STEP_BY_KIND, STEP_KINDS, stepTable } from './index';

describe('the step registry', () => {
  test('the scenario schema accepts exactly the registered kinds, one entry each', () => {
    const unionKinds = Step.options.map((o) => o.shape.do.value);
    expect(unionKinds).toEqual(STEP_KINDS);
    expect(new Set(STEP_KINDS).size).toBe(STEP_KINDS.length);
    for (const d of STEPS) expect(STEP_BY_KIND.get(d.kind)?.exec).toBe(d.exec);
  });

  test('every kind has a level, a one-line summary, and no field called "do" or "note" of its own', () => {
    for (const d of STEPS) {
      expect(STEP_LEVELS).toContain(d.level);
      expect(d.doc.summary.length, d.kind).toBeGreaterThan(10);
      expect(d.doc.summary).not.toContain('\n');
    }
  });

  test('a table row shows how each field is given', () => {
    const row = stepTable('vmm').split('\n').find((l) => l.startsWith('| `run` |'))!;
    expect(row).toBe('| `run` | `vm`, `vcpu` (default `0`), `until` (default `"halt"`), `max_instructions` (default `1000000`) | run the vCPU loop, answering exits, until the guest halts (or one exit with until "exit") |');
    expect(stepTable('world').split('\n').find((l) => l.startsWith('| `link_send` |'))).toBe(
      '| `link_send` | `link`, `bytes`, `label` (default `"data"`), `wait` (default `false`) | send bytes over a link (arrives after bytes / bandwidth + latency); with wait, run until it arrives or fails |');
  });

  test('a step naming a vCPU the VM does not have is refused at its field, for run and interrupt alike: at load, and as a command', () => {
    const base = structuredClone(PRESETS['host-reads-secret']) as { steps: unknown[] };
    for (const kind of ['run', 'interrupt']) {
      expect(() => ScenarioRun.fromJson({ ...(base as object), steps: [{ do: 'run', vm: 'ordinary' }, { do: kind, vm: 'ordinary', vcpu: 5 }] }), kind)
        .toThrow(/^\$\.steps\[1\]\.vcpu: VM "ordinary" has 1 vCPU\(s\): there is no vCPU 5$/);
      const run = ScenarioRun.fromJson({ ...(base as object), steps: [] });
      let err: unknown;
      try { run.runOne(Step.parse({ do: kind, vm: 'ordinary', vcpu: 5 })); } catch (e) { err = e; }
      expect(err, kind).toBeInstanceOf(ScenarioError);
      expect((err as ScenarioError).message, kind).toContain('there is no vCPU 5');
    }
  });
});
