/**
 * The geometry of the migration panel's chart of rounds (drawn with d3 scales): one bar per round,
 * the bytes it sent; the threshold (bandwidth × downtime-limit) a round must fall below for QEMU to
 * stop the guest and switch over; and the bytes left dirty after each round's sync, as a line. A
 * student counts the rounds and sees them shrink (or not) against the threshold.
 */
import { scaleBand, scaleLinear } from 'd3-scale';
import type { MigrationRound } from '../../../sim/vmm/migration/migration';

/** One round as the simulator reports it (what the chart reads of MigrationRound). */
export type RoundView = Pick<MigrationRound, 'round' | 'bytes' | 'pages' | 'dirty_pages' | 'remaining' | 'threshold' | 'throttle_pct' | 'final' | 'duration_ns'>;

export interface ChartLayout {
  bars: { round: number; x: number; y: number; width: number; height: number; final: boolean; label: string }[];
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
      round: r.round, x: x(r.round) ?? margin.left, y: y(r.bytes), width: bw, height: y(0) - y(r.bytes), final: r.final,
      label: `Round ${r.round}${r.final ? ' (stop-and-copy)' : ''}: ${(r.bytes / MiB).toFixed(1)} MiB sent, ${r.dirty_pages.toLocaleString('en')} pages dirtied, ${(r.remaining / MiB).toFixed(1)} MiB left dirty`,
    })),
    remaining: rounds.map((r) => [centre(r), y(r.remaining)]),
    threshold: rounds.flatMap((r) => {
      const left = x(r.round) ?? margin.left;
      return [[left, y(r.threshold)], [left + bw, y(r.threshold)]] as [number, number][];
    }),
    yTicks: yMiB.ticks(4).map((t) => ({ y: yMiB(t), label: t === 0 ? '0' : t >= 1 ? `${t} MiB` : `${Math.round(t * 1024)} KiB` })),
    max: yMiB.domain()[1] * MiB,
  };
}
