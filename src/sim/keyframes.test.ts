import { describe, expect, it } from 'vitest';
import { Keyframes, measure, measureBytes, type Keyframe } from './keyframes';
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
    // A keyframe behind the newest goes in its place (a seek back took it); one where a keyframe is, or at the start, is refused.
    k.add(kf(1, 15, 1));
    expect(k.entries().map((e) => e.at.step)).toEqual([0, 1, 2]);
    expect(() => k.add(kf(2, 40, 1))).toThrow(/after the start, at a point that has none/);
    expect(() => k.add(kf(0, 0, 1))).toThrow(/after the start, at a point that has none/);
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

describe('keyframes that share buffers', () => {
  const shared = (step: number, work: number, buffers: ArrayBuffer[]): Keyframe<string> => ({ at: { step, instr: 0, cmds: 0 }, work, bytes: 10, buffers, restore: () => `at ${step}` });

  it('count a buffer once however many keyframes hold it, and free it with the last', () => {
    const a = new ArrayBuffer(1000);
    const b = new ArrayBuffer(500);
    const c = new ArrayBuffer(200);
    const k = new Keyframes(shared(0, 0, [a]), 1_000_000);
    k.add(shared(1, 100, [a, b]));
    k.add(shared(2, 200, [b, c]));
    expect(k.bytes).toBe(30 + 1000 + 500 + 200);
    k.dropAfter({ step: 1, instr: 0, cmds: 0 });
    expect(k.bytes).toBe(20 + 1000 + 500);
    k.dropAfter({ step: 0, instr: 0, cmds: 0 });
    expect(k.bytes).toBe(10 + 1000);
  });

  it('evict by what a keyframe alone holds: dropping one whose buffers its neighbours share frees only its own', () => {
    const big = new ArrayBuffer(10_000);
    const k = new Keyframes(shared(0, 0, [big]), 10_000 + 3 * 10 + 150);
    k.add(shared(1, 100, [big, new ArrayBuffer(100)]));
    k.add(shared(2, 200, [big, new ArrayBuffer(100)]));
    // 10,000 + 200 + 30 > budget: the middle one goes (the smallest gap), freeing its 100 and 10.
    expect(k.size).toBe(2);
    expect(k.bytes).toBe(10_000 + 100 + 20);
  });
});

describe('measure with a cache', () => {
  it('walks a large array once, and counts it as shared, once across keyframes', () => {
    const events = Array.from({ length: 2000 }, (_, i) => (i % 3 ? null : { name: `e${i}`, args: { n: i } }));
    const cache = new WeakMap();
    const a = measure({ events, own: 'x' }, cache);
    const b = measure({ events, own: 'y' }, cache);
    expect(a.shared).toHaveLength(1);
    expect(b.shared[0][0]).toBe(events);
    expect(b.shared[0][1]).toBe(a.shared[0][1]);
    expect(a.shared[0][1]).toBe(measureBytes(events));
    const k = new Keyframes({ at: { step: 0, instr: 0, cmds: 0 }, work: 0, bytes: a.bytes, shared: a.shared, restore: () => 'a' }, 1e9);
    k.add({ at: { step: 1, instr: 0, cmds: 0 }, work: 1, bytes: b.bytes, shared: b.shared, restore: () => 'b' });
    expect(k.bytes).toBe(a.bytes + b.bytes + a.shared[0][1]);
  });
});
