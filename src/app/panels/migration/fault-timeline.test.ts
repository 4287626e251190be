import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockedIntervals, formatLatencyNs, formatOffset, intersectAll, layoutFaultTimeline, mergeIntervals, recentFaultPages, type FaultTimelineInput } from './fault-timeline';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const ms = 1e6;

/** Two vCPUs after a switch at 1 s, the guest running on the destination at 1.002 s. */
function input(over: Partial<FaultTimelineInput> = {}): FaultTimelineInput {
  return {
    startNs: 1000 * ms, runNs: 1002 * ms, nvcpus: 2, faultsFrom: 0, faultCount: 3,
    faults: {
      vcpu: [0, 1, 0],
      page: [10, 20, 30],
      start: [1003 * ms, 1004 * ms, 1010 * ms],
      end: [1005 * ms, 1008 * ms, -1],
      how: [0, 1, 0],
    },
    blockedSince: [1010 * ms, -1],
    blockedPage: [30, -1],
    ...over,
  };
}

describe('the fault timeline', () => {
  it('a bar per fault from touch to wake, in its vCPU row; a waiting fault grows to now', () => {
    const l = layoutFaultTimeline(input(), 1012 * ms, { width: 600 });
    expect(l.rows.map((r) => r.label)).toEqual(['vCPU 0', 'vCPU 1']);
    expect(l.bars).toHaveLength(3);
    const [a, b, c] = l.bars;
    // The axis runs from the guest's start on the destination to now: 10 ms over 524 px.
    expect(l.from).toBe(1002 * ms);
    expect(l.to).toBe(1012 * ms);
    const pxPerMs = (600 - 64 - 12) / 10;
    expect(a.x).toBeCloseTo(64 + pxPerMs, 5);
    expect(a.width).toBeCloseTo(2 * pxPerMs, 5);
    expect(b.width).toBeCloseTo(4 * pxPerMs, 5);
    expect(c.waiting).toBe(true);
    expect(c.end).toBe(1012 * ms);
    expect(c.x + c.width).toBeCloseTo(600 - 12, 5);
    expect(a.y).toBeLessThan(b.y);
    expect(c.y).toBe(a.y);
    expect(b.how).toBe(1);
    // Ticks are offsets from the switch (1 s): +4 ms .. +12 ms.
    expect(l.ticks.map((t) => t.label)).toContain('+10 ms');
  });

  it('blocked intervals per vCPU, and every vCPU blocked only where both were', () => {
    const l = layoutFaultTimeline(input(), 1012 * ms, { width: 600 });
    expect(l.rows[0].blocked).toHaveLength(2);
    expect(l.rows[1].blocked).toHaveLength(1);
    // vCPU 0 [3,5] and vCPU 1 [4,8] overlap over [4,5] ms after the run.
    expect(l.allBlocked).toHaveLength(1);
    expect(l.allBlocked[0].width).toBeCloseTo((600 - 76) / 10, 5);
  });

  it('a fault served in microseconds is still a visible bar', () => {
    const l = layoutFaultTimeline(input({ faults: { vcpu: [0], page: [1], start: [1003 * ms], end: [1003 * ms + 500], how: [2] } }), 2000 * ms, { width: 400 });
    expect(l.bars[0].width).toBe(2);
  });

  it('older faults left out of the frame: the axis starts at the oldest carried, and says how many are left out', () => {
    const l = layoutFaultTimeline(input({ faultsFrom: 500, faultCount: 503 }), 1012 * ms, { width: 600 });
    expect(l.from).toBe(1003 * ms);
    expect(l.omitted).toBe(500);
    expect(l.bars[0].n).toBe(500);
  });

  it('a vCPU blocked on a fault the frame left out is still shown blocked up to now', () => {
    const pc = input({ faults: { vcpu: [], page: [], start: [], end: [], how: [] }, blockedSince: [-1, 1005 * ms] });
    expect(blockedIntervals(pc, 1009 * ms)).toEqual([[], [[1005 * ms, 1009 * ms]]]);
  });

  it('intervals: merged where they touch, intersected across lists (property)', () => {
    const iv = fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 30 })).map(([a, d]) => [a, a + d] as [number, number]), { maxLength: 12 });
    fc.assert(fc.property(fc.array(iv, { minLength: 1, maxLength: 4 }), (lists) => {
      const merged = lists.map((l) => mergeIntervals(l));
      const inAny = (l: readonly (readonly [number, number])[], t: number) => l.some(([a, b]) => t >= a && t < b);
      for (const m of merged) for (let i = 1; i < m.length; i++) expect(m[i][0]).toBeGreaterThan(m[i - 1][1]);
      const all = intersectAll(merged);
      for (let t = 0; t < 240; t++) expect(inAny(all, t), `t=${t}`).toBe(lists.every((l) => inAny(l, t)));
    }), { numRuns: RUNS });
  });

  it('units: offsets and latencies read as a person says them', () => {
    expect(formatOffset(0)).toBe('+0');
    expect(formatOffset(250 * ms)).toBe('+250 ms');
    expect(formatOffset(1500 * ms)).toBe('+1.5 s');
    expect(formatOffset(800e3)).toBe('+800 µs');
    expect(formatLatencyNs(850)).toBe('850 ns');
    expect(formatLatencyNs(412_345)).toBe('412 µs');
    expect(formatLatencyNs(3_210_000)).toBe('3.21 ms');
    expect(formatLatencyNs(undefined)).toBe('—');
  });

  it('the pages that flash: faults still waiting and those woken within the window, newest first, each once', () => {
    const pc = input();
    expect(recentFaultPages(pc, 1012 * ms, 5 * ms)).toEqual([30, 20]);
    expect(recentFaultPages(pc, 1012 * ms, 2 * ms)).toEqual([30]);
    expect(recentFaultPages(pc, 1012 * ms, 10 * ms)).toEqual([30, 20, 10]);
  });
});
