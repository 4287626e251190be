import { describe, expect, it } from 'vitest';
import { Keyframes, measureBytes, type Keyframe } from './keyframes';
import { Marks } from './timeline';

const kf = (step: number, work: number, bytes: number): Keyframe<string> => ({ at: { step, instr: 0, cmds: 0 }, work, bytes, restore: () => `at ${step}` });

describe('Keyframes', () => {
  it('stay within the budget by dropping the one whose neighbours are closest, keeping the start and the newest', () => {
    const k = new Keyframes<string>(kf(0, 0, 0), 300);
    for (const [step, work] of [[1, 100], [2, 150], [3, 400], [4, 500]]) k.add(kf(step, work, 100));
    // 400 bytes > 300: removing the one at work 100 leaves a gap of 150 (0..150), the smallest.
    expect(k.bytes).toBe(300);
    expect(k.entries().map((e) => e.work)).toEqual([0, 150, 400, 500]);
    expect(k.atOrBefore({ step: 3, instr: 7, cmds: 0 }).restore()).toBe('at 3');
    expect(k.atOrBefore({ step: 1, instr: 0, cmds: 0 }).restore()).toBe('at 0');
  });

  it('keeps no keyframe bigger than the whole budget, and forgets those after a point', () => {
    const k = new Keyframes<string>(kf(0, 0, 0), 50);
    k.add(kf(1, 10, 80));
    expect(k.size).toBe(1);
    k.add(kf(2, 20, 10));
    k.add(kf(3, 30, 10));
    k.dropAfter({ step: 2, instr: 5, cmds: 0 });
    expect(k.entries().map((e) => e.at.step)).toEqual([0, 2]);
    expect(k.bytes).toBe(10);
    expect(() => k.add(kf(1, 40, 1))).toThrow(/timeline order/);
  });

  it('measures typed arrays by their buffers, each buffer once', () => {
    const buf = new ArrayBuffer(4096);
    const bytes = measureBytes({ a: new Uint8Array(buf), b: new Uint32Array(buf), c: new Float64Array(1000) });
    expect(bytes).toBeGreaterThanOrEqual(4096 + 8000);
    expect(bytes).toBeLessThan(4096 + 8000 + 1000);
  });
});

describe('Marks', () => {
  it('find the last point before an event, keep the newest of equal counts, and thin past their cap', () => {
    const m = new Marks(8);
    for (let i = 0; i < 20; i++) m.push({ step: 0, instr: i, cmds: 0 }, Math.floor(i / 2));
    expect(m.length).toBeLessThanOrEqual(8);
    const i = m.lastAtMost(5);
    expect(m.count(i)).toBeLessThanOrEqual(5);
    expect(m.count(i + 1)).toBeGreaterThan(5);
    expect(m.last()).toEqual({ step: 0, instr: 19, cmds: 0 });
    m.dropAfter({ step: 0, instr: 10, cmds: 0 });
    expect(m.last()!.instr).toBeLessThanOrEqual(10);
  });
});
