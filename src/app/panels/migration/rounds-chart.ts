/**
 * The geometry of the migration panel's chart of rounds (drawn with d3 scales): one bar per round,
 * the bytes it sent; the threshold (bandwidth × downtime-limit) a round must fall below for QEMU to
 * stop the guest and switch over; and the bytes left dirty after each round's sync, as a line. A
 * student counts the rounds and sees them shrink (or not) against the threshold.
 */
import { scaleBand, scaleLinear } from 'd3-scale';
import type { MigrationRound } from '../../../sim/vmm/migration/migration';

/** One round as the simulator reports it (what the chart reads of MigrationRound). */
export type RoundView = Pick<MigrationRound, 'round' | 'bytes' | 'pages' | 'dirty_pages' | 'remaining' | 'threshold' | 'throttle_pct' | 'final' | 'duration_ns'> & {
  /** The round in progress: its bytes so far; no sync has ended it, so it has no dirty count or rates yet. */
  current?: boolean;
};

export interface ChartLayout {
  bars: { round: number; x: number; y: number; width: number; height: number; final: boolean; current: boolean; label: string }[];
  /** The remaining-dirty line's points, one per round (at the bar's centre). */
  remaining: [number, number][];
  /** The threshold as steps (it changes when the bandwidth measured or the limit changes). */
  threshold: [number, number][];
  yTicks: { y: number; label: string }[];
  /** The top of the scale, in bytes. */
  max: number;
}

const MiB = 1024 * 1024;

/** Lay out `rounds` in a box of `width` × `height` px (margins included: `left` for the axis labels). */
export function layoutRounds(rounds: readonly RoundView[], width: number, height: number, margin = { left: 64, right: 8, top: 8, bottom: 24 }): ChartLayout {
  const inner = { w: Math.max(1, width - margin.left - margin.right), h: Math.max(1, height - margin.top - margin.bottom) };
  // The scale is in MiB, so that its ticks fall on round numbers of MiB (1, 2, 5, 10, ...).
  const maxMiB = Math.max(1 / 1024, ...rounds.map((r) => Math.max(r.bytes, r.remaining, r.threshold) / MiB));
  const x = scaleBand<number>().domain(rounds.map((r) => r.round)).range([margin.left, margin.left + inner.w]).paddingInner(0.2).paddingOuter(0.1);
  const yMiB = scaleLinear().domain([0, maxMiB]).nice(4).range([margin.top + inner.h, margin.top]);
  const y = (bytes: number) => yMiB(bytes / MiB);
  const bw = x.bandwidth();
  const centre = (r: RoundView) => (x(r.round) ?? margin.left) + bw / 2;
  return {
    bars: rounds.map((r) => ({
      round: r.round, x: x(r.round) ?? margin.left, y: y(r.bytes), width: bw, height: y(0) - y(r.bytes), final: r.final, current: r.current === true,
      label: r.current
        ? `Round ${r.round} (in progress): ${(r.bytes / MiB).toFixed(1)} MiB sent so far, ${(r.remaining / MiB).toFixed(1)} MiB still dirty`
        : `Round ${r.round}${r.final ? ' (stop-and-copy)' : ''}: ${(r.bytes / MiB).toFixed(1)} MiB sent, ${r.dirty_pages.toLocaleString('en')} pages dirtied, ${(r.remaining / MiB).toFixed(1)} MiB left dirty`,
    })),
    remaining: rounds.filter((r) => !r.current).map((r) => [centre(r), y(r.remaining)]),
    threshold: rounds.flatMap((r) => {
      const left = x(r.round) ?? margin.left;
      return [[left, y(r.threshold)], [left + bw, y(r.threshold)]] as [number, number][];
    }),
    yTicks: yMiB.ticks(4).map((t) => ({ y: yMiB(t), label: t === 0 ? '0' : t >= 1 ? `${t} MiB` : `${Math.round(t * 1024)} KiB` })),
    max: yMiB.domain()[1] * MiB,
  };
}

/** A line of the rate and downtime panels: one point per round (at the bar's centre). */
export interface SeriesLayout {
  points: [number, number][];
  /** Values, in the panel's unit, one per round (null where a round has none). */
  values: (number | null)[];
}

export interface PanelLayout {
  series: Record<string, SeriesLayout>;
  /** A horizontal reference line (downtime-limit), or null. */
  rule: number | null;
  yTicks: { y: number; label: string }[];
  /** Centres of the rounds (for their numbers). */
  centres: { round: number; x: number }[];
}

/** The round's send rate and dirty rate, bytes per second (null for a round of no duration). */
export function roundRates(r: RoundView): { send: number; dirty: number } | null {
  const s = r.duration_ns / 1e9;
  if (!(s > 0) || r.current) return null;
  return { send: r.bytes / s, dirty: (r.dirty_pages * 4096) / s };
}

/**
 * The expected downtime after a round's sync, ms: the bytes left dirty over the rate the round sent
 * at (QEMU's expected-downtime is dirty_bytes_last_sync over the bandwidth of its last 100 ms window;
 * a round's average rate is that window's under a steady rate limiter). Null for the stop-and-copy.
 */
export function roundExpectedDowntime(r: RoundView): number | null {
  const rates = roundRates(r);
  if (r.final || !rates || rates.send <= 0) return null;
  return (r.remaining / rates.send) * 1000;
}

function bandScale(rounds: readonly RoundView[], width: number, margin: { left: number; right: number }) {
  return scaleBand<number>().domain(rounds.map((r) => r.round)).range([margin.left, Math.max(margin.left + 1, width - margin.right)]).paddingInner(0.2).paddingOuter(0.1);
}

function panel(rounds: readonly RoundView[], width: number, height: number, series: Record<string, (r: RoundView) => number | null>, rule: number | null, unit: (v: number) => string, margin = { left: 64, right: 8, top: 8, bottom: 22 }): PanelLayout {
  const x = bandScale(rounds, width, margin);
  const centre = (r: RoundView) => (x(r.round) ?? margin.left) + x.bandwidth() / 2;
  const all: number[] = [rule ?? 0];
  const values: Record<string, (number | null)[]> = {};
  for (const [k, f] of Object.entries(series)) {
    values[k] = rounds.map(f);
    for (const v of values[k]) if (v !== null && Number.isFinite(v)) all.push(v);
  }
  const top = Math.max(...all);
  const y = scaleLinear().domain([0, top > 0 ? top : 1]).nice(3).range([height - margin.bottom, margin.top]);
  const out: Record<string, SeriesLayout> = {};
  for (const k of Object.keys(series)) {
    out[k] = { values: values[k], points: rounds.flatMap((r, i) => (values[k][i] === null || !Number.isFinite(values[k][i]!) ? [] : [[centre(r), y(values[k][i]!)] as [number, number]])) };
  }
  return { series: out, rule: rule === null ? null : y(rule), yTicks: y.ticks(3).map((t) => ({ y: y(t), label: t === 0 ? '0' : unit(t) })), centres: rounds.map((r) => ({ round: r.round, x: centre(r) })) };
}

/**
 * The dirty rate against the rate pages went out at, MiB/s per pre-copy round (the stop-and-copy is
 * left out: it is not rate limited and the guest is stopped, so neither line means the same there).
 */
export function layoutRates(rounds: readonly RoundView[], width: number, height: number): PanelLayout {
  const mib = (f: (x: { send: number; dirty: number }) => number) => (r: RoundView) => {
    const x = r.final ? null : roundRates(r);
    return x ? f(x) / MiB : null;
  };
  return panel(rounds, width, height, { dirty: mib((x) => x.dirty), send: mib((x) => x.send) }, null, (v) => `${+v.toPrecision(3)}`);
}

/** Expected downtime after each round against downtime-limit, ms. */
export function layoutDowntime(rounds: readonly RoundView[], limitMs: number, width: number, height: number): PanelLayout {
  return panel(rounds, width, height, { expected: roundExpectedDowntime }, limitMs, (v) => `${+v.toPrecision(3)}`);
}
