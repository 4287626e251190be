/**
 * The geometry and the figures of the post-copy fault timeline (drawn with d3 scales): one row per
 * destination vCPU, each fault a bar from the vCPU's touch of a missing page to its wake (a fault
 * still waiting grows to "now"), coloured by how it was served (POSTCOPY_FAULT_INFO); behind the
 * bars, the intervals each vCPU was blocked, and on a strip of its own the intervals every vCPU was
 * blocked at once — what QEMU's postcopy-blocktime adds up. Pure: the component draws what this
 * returns, and the tests check it without a DOM.
 */
import { scaleLinear } from 'd3-scale';
import type { PostcopyView } from '../../../sim/lab';

/** What the timeline reads of a frame's post-copy view. */
export type FaultTimelineInput = Pick<PostcopyView, 'faults' | 'faultsFrom' | 'faultCount' | 'nvcpus' | 'blockedSince' | 'blockedPage' | 'startNs' | 'runNs'>;

export interface FaultBar {
  /** The fault's number among all the migration's faults (faultsFrom + its index in the frame). */
  n: number;
  vcpu: number;
  page: number;
  /** Virtual ns of the touch and of the wake (the wake is "now" while it waits). */
  start: number;
  end: number;
  waiting: boolean;
  how: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Span { x: number; width: number }

export interface FaultTimelineLayout {
  /** One row per vCPU, top to bottom: its label's baseline and its band. */
  rows: { vcpu: number; y: number; height: number; label: string; blocked: Span[] }[];
  bars: FaultBar[];
  /** The strip over the rows: the intervals in which every vCPU was blocked. */
  allBlocked: Span[];
  allBlockedY: number;
  ticks: { x: number; label: string }[];
  /** The time shown, virtual ns. */
  from: number;
  to: number;
  /** Faults the frame left out (older than its newest MAX_FRAME_FAULTS). */
  omitted: number;
  height: number;
}

export interface TimelineBox {
  width: number;
  rowHeight?: number;
  margin?: { left: number; right: number; top: number; bottom: number };
}

/** The narrowest bar drawn, px: a fault served in microseconds still shows. */
export const MIN_BAR_PX = 2;
const STRIP = 14;

/** [start, end) intervals merged where they overlap or touch; input in any order. */
export function mergeIntervals(iv: readonly (readonly [number, number])[]): [number, number][] {
  const s = iv.filter(([a, b]) => b > a).map(([a, b]) => [a, b] as [number, number]).sort((p, q) => p[0] - q[0]);
  const out: [number, number][] = [];
  for (const [a, b] of s) {
    const last = out.at(-1);
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The parts of the time axis covered by every list at once (each list merged and sorted). */
export function intersectAll(lists: readonly (readonly (readonly [number, number])[])[]): [number, number][] {
  if (lists.length === 0) return [];
  let acc: [number, number][] = lists[0].map(([a, b]) => [a, b]);
  for (const l of lists.slice(1)) {
    const next: [number, number][] = [];
    let i = 0, j = 0;
    while (i < acc.length && j < l.length) {
      const a = Math.max(acc[i][0], l[j][0]), b = Math.min(acc[i][1], l[j][1]);
      if (b > a) next.push([a, b]);
      if (acc[i][1] < l[j][1]) i++;
      else j++;
    }
    acc = next;
  }
  return acc;
}

/** Each vCPU's blocked intervals (its faults from touch to wake, merged), up to `now`. */
export function blockedIntervals(pc: FaultTimelineInput, now: number): [number, number][][] {
  const per: [number, number][][] = Array.from({ length: pc.nvcpus }, () => []);
  const f = pc.faults;
  for (let i = 0; i < f.vcpu.length; i++) {
    const v = f.vcpu[i];
    if (v < 0 || v >= pc.nvcpus) continue;
    per[v].push([f.start[i], f.end[i] < 0 ? now : f.end[i]]);
  }
  // A vCPU waiting now whose fault the frame left out (older than the newest faults) is still blocked.
  pc.blockedSince.forEach((since, v) => { if (since >= 0 && v < per.length) per[v].push([since, now]); });
  return per.map((l) => mergeIntervals(l));
}

/** Time relative to the switch, as a tick reads: "+0", "+250 ms", "+1.5 s", "+800 µs". */
export function formatOffset(ns: number): string {
  const a = Math.abs(ns);
  const sign = ns < 0 ? '−' : '+';
  if (a === 0) return '+0';
  if (a < 1e6) return `${sign}${trim(a / 1e3)} µs`;
  if (a < 1e9) return `${sign}${trim(a / 1e6)} ms`;
  return `${sign}${trim(a / 1e9)} s`;
}

const trim = (x: number) => (Math.abs(x) >= 100 ? Math.round(x).toString() : Number(x.toPrecision(3)).toString());

/**
 * Lay out the faults of `pc` up to virtual time `now` in a box `width` px wide. The time axis runs
 * from the guest's start on the destination (or the oldest fault the frame carries, when older ones
 * were left out) to `now`; ticks are offsets from the switch.
 */
export function layoutFaultTimeline(pc: FaultTimelineInput, now: number, box: TimelineBox): FaultTimelineLayout {
  const m = box.margin ?? { left: 64, right: 12, top: 6, bottom: 26 };
  const rowH = box.rowHeight ?? 26;
  const origin = pc.startNs;
  const f = pc.faults;
  const omitted = pc.faultsFrom;
  const base = pc.runNs > 0 ? pc.runNs : origin;
  const from = omitted > 0 && f.start.length > 0 ? Math.min(...f.start) : Math.min(base, ...f.start);
  const to = Math.max(now, from + 1);
  const x = scaleLinear().domain([from - origin, to - origin]).range([m.left, Math.max(m.left + 1, box.width - m.right)]);
  const X = (ns: number) => x(ns - origin);
  const top = m.top + STRIP + 4;
  const rows = [];
  const blocked = blockedIntervals(pc, to);
  const span = ([a, b]: [number, number]): Span => {
    const x0 = X(Math.max(a, from)), x1 = X(Math.min(b, to));
    return { x: x0, width: Math.max(MIN_BAR_PX, x1 - x0) };
  };
  for (let v = 0; v < pc.nvcpus; v++) {
    rows.push({ vcpu: v, y: top + v * rowH, height: rowH, label: `vCPU ${v}`, blocked: blocked[v].filter(([, b]) => b > from).map(span) });
  }
  const bars: FaultBar[] = [];
  const inset = Math.max(2, Math.round(rowH * 0.18));
  for (let i = 0; i < f.vcpu.length; i++) {
    const v = f.vcpu[i];
    if (v < 0 || v >= pc.nvcpus) continue;
    const waiting = f.end[i] < 0;
    const end = waiting ? to : f.end[i];
    const s = span([f.start[i], end]);
    bars.push({ n: omitted + i, vcpu: v, page: f.page[i], start: f.start[i], end, waiting, how: f.how[i], x: s.x, y: top + v * rowH + inset, width: s.width, height: rowH - 2 * inset });
  }
  const allBlocked = pc.nvcpus > 0 ? intersectAll(blocked).filter(([, b]) => b > from).map(span) : [];
  const ticks = x.ticks(Math.max(2, Math.floor((box.width - m.left - m.right) / 110))).map((t) => ({ x: x(t), label: formatOffset(t) }));
  return { rows, bars, allBlocked, allBlockedY: m.top, ticks, from, to, omitted, height: top + pc.nvcpus * rowH + m.bottom };
}

/** A latency QEMU reports in ns, in the unit a person reads it in: "850 ns", "412 µs", "3.2 ms". */
export function formatLatencyNs(ns: number | undefined): string {
  if (ns === undefined) return '—';
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${trim(ns / 1e3)} µs`;
  return `${trim(ns / 1e6)} ms`;
}

/** A blocktime QEMU reports in ms. */
export function formatBlocktimeMs(ms: number | undefined): string {
  if (ms === undefined) return '—';
  return `${Math.round(ms).toLocaleString('en')} ms`;
}

/** The pages whose faults ended within `windowNs` before `now`, or still wait: where a fault "flashes" on the map. */
export function recentFaultPages(pc: Pick<PostcopyView, 'faults'>, now: number, windowNs: number, max = 64): number[] {
  const f = pc.faults;
  const out: number[] = [];
  for (let i = f.vcpu.length - 1; i >= 0 && out.length < max; i--) {
    const end = f.end[i];
    if ((end < 0 || (end <= now && now - end <= windowNs)) && !out.includes(f.page[i])) out.push(f.page[i]);
  }
  return out;
}

/** How long a fault lights up on the map after its wake, in virtual ns. */
export const FAULT_FLASH_NS = 50e6;
