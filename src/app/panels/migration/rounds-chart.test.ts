import { describe, expect, it } from 'vitest';
import { layoutDowntime, layoutRates, layoutRounds, roundExpectedDowntime, roundRates, type RoundView } from './rounds-chart';

const MiB = 1024 * 1024;
const round = (i: number, bytes: number, remaining: number, final = false): RoundView =>
  ({ round: i, bytes, pages: bytes / 4096, dirty_pages: remaining / 4096, remaining, threshold: 38.4 * MiB, throttle_pct: 0, final, duration_ns: 1e8 });

describe('the chart of rounds', () => {
  // Rounds that shrink by λ = 1/4 (the geometric model of MIGRATION.md), the last below the threshold.
  const rounds = [round(0, 1024 * MiB, 256 * MiB), round(1, 256 * MiB, 64 * MiB), round(2, 64 * MiB, 16 * MiB), round(3, 16 * MiB, 0, true)];
  const l = layoutRounds(rounds, 400, 200);

  it('draws a bar per round, left to right, as tall as the bytes it sent', () => {
    expect(l.bars.map((b) => b.round)).toEqual([0, 1, 2, 3]);
    for (let i = 1; i < l.bars.length; i++) expect(l.bars[i].x).toBeGreaterThan(l.bars[i - 1].x);
    // Heights are proportional to bytes (a linear scale from 0).
    expect(l.bars[0].height / l.bars[1].height).toBeCloseTo(4, 5);
    expect(l.bars[1].height / l.bars[2].height).toBeCloseTo(4, 5);
    // Inside the box, with the axis margin on the left.
    for (const b of l.bars) {
      expect(b.x).toBeGreaterThanOrEqual(64);
      expect(b.x + b.width).toBeLessThanOrEqual(400 - 8);
      expect(b.y).toBeGreaterThanOrEqual(8);
      expect(b.y + b.height).toBeCloseTo(200 - 24, 5);
    }
    expect(l.bars[3].final).toBe(true);
    expect(l.bars[3].label).toMatch(/Round 3 \(stop-and-copy\): 16\.0 MiB sent/);
  });

  it('puts the threshold where a round of that many bytes would reach', () => {
    const y38 = l.threshold[0][1];
    const barTopFor = (bytes: number) => 200 - 24 - (bytes / l.max) * (200 - 24 - 8);
    expect(y38).toBeCloseTo(barTopFor(38.4 * MiB), 5);
    // The last round's bar is below the threshold line (taller y), the first far above it.
    expect(l.bars[3].y).toBeGreaterThan(y38);
    expect(l.bars[0].y).toBeLessThan(y38);
  });

  it('labels the bytes axis in MiB, and lays out nothing but the axis with no rounds', () => {
    expect(l.yTicks[0].label).toBe('0');
    expect(l.yTicks.at(-1)!.label).toMatch(/MiB$/);
    const empty = layoutRounds([], 400, 200);
    expect(empty.bars).toEqual([]);
    expect(empty.yTicks.length).toBeGreaterThan(1);
  });

  it('puts its ticks on round, distinct amounts (KiB for a tiny migration)', () => {
    const big = layoutRounds([round(0, 29 * MiB, 3 * MiB)], 400, 200).yTicks.map((t) => t.label);
    expect(big).toEqual(['0', '10 MiB', '20 MiB', '30 MiB', '40 MiB']);
    const tiny = layoutRounds([{ ...round(0, 40 * 1024, 0), threshold: 20 * 1024 }], 400, 200).yTicks.map((t) => t.label);
    expect(new Set(tiny).size).toBe(tiny.length);
    expect(tiny.at(-1)).toMatch(/KiB$/);
  });
});

describe('the rate and downtime panels', () => {
  // 0.1 s rounds: 1.6 MiB sent and 100 pages dirtied each.
  const r = (i: number, remaining: number, final = false): RoundView => ({ round: i, bytes: 1.6 * MiB, pages: 400, dirty_pages: 100, remaining, threshold: 1.6 * MiB, throttle_pct: 0, final, duration_ns: 1e8 });

  it('gives each round its send rate and dirty rate, bytes per second', () => {
    expect(roundRates(r(0, 0))).toEqual({ send: 16 * MiB, dirty: 100 * 4096 * 10 });
    expect(roundRates({ ...r(0, 0), duration_ns: 0 })).toBeNull();
  });

  it('expects the downtime the bytes left dirty take at the round\'s rate, none for the stop-and-copy', () => {
    expect(roundExpectedDowntime(r(0, 3.2 * MiB))).toBeCloseTo(200, 6);
    expect(roundExpectedDowntime(r(1, MiB, true))).toBeNull();
  });

  it('draws the lines over the rounds and the downtime-limit rule where its value is', () => {
    const rounds = [r(0, 3.2 * MiB), r(1, 0.8 * MiB), r(2, 0, true)];
    const rates = layoutRates(rounds, 400, 120);
    // The stop-and-copy is not rate limited: left out of the rates.
    expect(rates.series.send.points).toHaveLength(2);
    expect(rates.series.send.values[2]).toBeNull();
    expect(rates.series.dirty.values[0]).toBeCloseTo((100 * 4096 * 10) / MiB, 6);
    // The send line is above the dirty line (smaller y) where the bandwidth is higher.
    expect(rates.series.send.points[0][1]).toBeLessThan(rates.series.dirty.points[0][1]);
    const down = layoutDowntime(rounds, 100, 400, 120);
    expect(down.series.expected.points).toHaveLength(2);
    // 200 ms after round 0 is above the 100 ms rule, 50 ms after round 1 below it.
    expect(down.series.expected.points[0][1]).toBeLessThan(down.rule!);
    expect(down.series.expected.points[1][1]).toBeGreaterThan(down.rule!);
  });
});
