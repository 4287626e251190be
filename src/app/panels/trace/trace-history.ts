/**
 * The trace panel's memory of events. A frame carries only the newest events (a few dozen while the
 * guest plays, up to 250 when it stops), so its cost does not grow with the trace; the panel appends them here by sequence number, fills the holes from the
 * worker when the guest pauses, and keeps a bounded history so the user can scroll back. No DOM, no
 * React: unit-tested on its own.
 */
import type { Layer, SimEvent } from '../../../sim/core/trace';

export const HISTORY_CAP = 20_000;

export class TraceHistory {
  /** Events in sequence order, oldest first. */
  readonly events: SimEvent[] = [];
  /** Bumped when the history starts again (a new scenario, a restart). */
  epoch = 0;
  /** Old events dropped to stay within the cap. */
  trimmed = 0;
  private lastCount = 0;
  /** The run (FramePacket.run) the events belong to. */
  private run: number | null = null;
  /** Ranges the worker could not supply (its own trace had dropped them). */
  private lost: [number, number][] = [];

  constructor(readonly cap = HISTORY_CAP) {}

  /** Events the machine has recorded so far, as the newest frame taken said. */
  get total(): number {
    return this.lastCount;
  }

  get lastSeq(): number {
    return this.events.length ? this.events[this.events.length - 1].seq : -1;
  }

  reset(): void {
    this.events.length = 0;
    this.lost = [];
    this.epoch++;
    this.trimmed = 0;
    this.lastCount = 0;
  }

  /**
   * Take a frame's newest events (`eventCount` is the total so far) of machine `run` (FramePacket.run).
   * Returns true when the history changed. Another run, a smaller total, or an event that differs
   * from the one we hold under its number, means the machine started again.
   */
  ingest(frameEvents: readonly SimEvent[], eventCount: number, run: number | null = this.run): boolean {
    let changed = false;
    const first = frameEvents[0];
    const known = first ? this.find(first.seq) : undefined;
    if ((this.run !== null && run !== this.run) || eventCount < this.lastCount || (known && (known.t !== first.t || known.name !== first.name))) {
      this.reset();
      changed = true;
    }
    this.run = run;
    this.lastCount = eventCount;
    const last = this.lastSeq;
    let i = frameEvents.length;
    while (i > 0 && frameEvents[i - 1].seq > last) i--;
    if (i === frameEvents.length) return changed;
    for (; i < frameEvents.length; i++) this.events.push(frameEvents[i]);
    if (this.events.length > this.cap) {
      // Drop a tenth at once so trimming (an O(n) splice) happens rarely.
      const n = this.events.length - this.cap + Math.floor(this.cap / 10);
      this.events.splice(0, n);
      this.trimmed += n;
    }
    return true;
  }

  /**
   * The ranges [from, to) of event numbers missing between the events held (frames carry only the
   * newest events of a fast guest) and not marked lost, newest first, at most `limit` of them.
   */
  gaps(limit = 8): [number, number][] {
    const out: [number, number][] = [];
    const ev = this.events;
    const add = (a: number, b: number) => {
      if (!this.lost.some(([la, lb]) => a >= la && b <= lb)) out.push([a, b]);
    };
    for (let i = ev.length - 1; i > 0 && out.length < limit; i--) {
      if (ev[i].seq - ev[i - 1].seq > 1) add(ev[i - 1].seq + 1, ev[i].seq);
    }
    // Before the first event held: the machine's first events, unless the cap dropped them on purpose.
    if (ev.length && ev[0].seq > 0 && this.trimmed === 0 && out.length < limit) add(0, ev[0].seq);
    return out;
  }

  /**
   * How many events are missing between the first event held (or 0, if nothing was capped yet) and
   * the last, not counting those the worker no longer has either (markLost).
   */
  holes(): number {
    const ev = this.events;
    if (ev.length === 0) return 0;
    const from = this.trimmed > 0 ? ev[0].seq : 0;
    let lost = 0;
    for (const [a, b] of this.lost) lost += Math.max(0, b - Math.max(a, from));
    return Math.max(0, ev[ev.length - 1].seq - from + 1 - ev.length - lost);
  }

  /** The worker's trace no longer has [from, to) either: it stops counting as a hole. */
  markLost(from: number, to: number): void {
    this.lost.push([from, to]);
  }

  /**
   * Add events fetched from the worker (those already held are ignored), keeping sequence order and
   * the cap. Returns true when the history changed.
   */
  fill(fetched: readonly SimEvent[]): boolean {
    const ev = this.events;
    if (fetched.length === 0 || ev.length === 0) return false;
    // Events older than what the cap already dropped stay dropped.
    const lo = this.trimmed > 0 ? ev[0].seq : -1;
    const add = fetched.filter((e) => e.seq > lo && this.indexOf(e.seq) < 0);
    if (add.length === 0) return false;
    const merged: SimEvent[] = [];
    let i = 0;
    let j = 0;
    while (i < ev.length || j < add.length) {
      if (j >= add.length || (i < ev.length && ev[i].seq < add[j].seq)) merged.push(ev[i++]);
      else merged.push(add[j++]);
    }
    ev.length = 0;
    for (const e of merged) ev.push(e);
    if (ev.length > this.cap) {
      const n = ev.length - this.cap;
      ev.splice(0, n);
      this.trimmed += n;
    }
    this.epoch++;
    return true;
  }

  /** The index of the event numbered `seq`, or -1. */
  indexOf(seq: number): number {
    return indexBySeq(this.events, seq);
  }

  find(seq: number): SimEvent | undefined {
    const i = this.indexOf(seq);
    return i < 0 ? undefined : this.events[i];
  }
}

/** Binary search in a list sorted by seq. */
export function indexBySeq(list: readonly SimEvent[], seq: number): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = list[mid].seq;
    if (s === seq) return mid;
    if (s < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

export interface TraceFilter {
  layers: ReadonlySet<Layer>;
  /** Case-insensitive text the name (or, with `inText`, the sentence) must contain. */
  query: string;
  inText: boolean;
}

export function matcher(f: TraceFilter): (e: SimEvent) => boolean {
  const q = f.query.trim().toLowerCase();
  return (e) => f.layers.has(e.layer) && (!q || e.name.toLowerCase().includes(q) || (f.inText && e.text.toLowerCase().includes(q)));
}

/**
 * The filtered list, extended incrementally while the filter stays the same and events are only
 * appended (the common case while the guest runs), recomputed otherwise.
 */
export class FilteredView {
  private key = '';
  private epoch = -1;
  private firstSeq = -1;
  private seen = 0;
  private result: SimEvent[] = [];

  get(h: TraceHistory, f: TraceFilter): readonly SimEvent[] {
    const key = `${[...f.layers].sort().join(',')}|${f.inText}|${f.query.trim().toLowerCase()}`;
    const firstSeq = h.events.length ? h.events[0].seq : -1;
    const match = matcher(f);
    if (key !== this.key || h.epoch !== this.epoch || firstSeq !== this.firstSeq || h.events.length < this.seen) {
      this.key = key;
      this.epoch = h.epoch;
      this.firstSeq = firstSeq;
      this.result = h.events.filter(match);
      this.seen = h.events.length;
      return this.result;
    }
    if (h.events.length === this.seen) return this.result;
    // A new array, so React sees a change; the old one is left as it was.
    const added = h.events.slice(this.seen).filter(match);
    this.seen = h.events.length;
    if (added.length) this.result = this.result.concat(added);
    return this.result;
  }
}
