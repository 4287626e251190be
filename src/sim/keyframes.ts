/**
 * Keyframes for time travel: points of the timeline the lab can get back to without replaying from
 * the start. An entry is "how to get back here" — a function that returns a machine at that point —
 * with the bytes it holds. The start is always there (rebuilding the run from its scenario costs no
 * memory); snapshots taken while running are added and, past the memory budget, evicted.
 *
 * Eviction policy ("even thinning"): while the total is over budget, drop the keyframe whose removal
 * leaves the smallest gap of work (instructions + events) between its neighbours, the older on a tie;
 * the start and the newest are kept. What stays is spread evenly over the run, so the longest replay
 * a seek may need grows slowly as the run gets longer, instead of the old part of the run losing all
 * its keyframes (as "drop the oldest" would do).
 */
import { comparePositions, type Position } from './timeline';

/** At most this many bytes of keyframes (DESIGN.md budget: 256 MiB). */
export const KEYFRAME_BUDGET = 256 * 1024 * 1024;

export interface Keyframe<R> {
  at: Position;
  /** Instructions retired plus events recorded from the start to here: the distance measure. */
  work: number;
  /** Bytes this entry keeps alive besides `buffers` (measure()'s `bytes`). */
  bytes: number;
  /**
   * The buffers (typed arrays' memory) it keeps alive. Snapshots share what did not change between
   * them (the trace's full chunks, copy-on-write page tables, host frame chunks), so a buffer is
   * counted once however many keyframes hold it.
   */
  buffers?: readonly ArrayBufferLike[];
  /**
   * A machine at `at`: `into` (a machine of the same scenario, anywhere, which the keyframe may
   * load itself into in place) or a new one; the caller may run it on.
   */
  restore(into?: R): R;
}

export class Keyframes<R> {
  private readonly list: Keyframe<R>[] = [];
  private total = 0;
  /** How many keyframes hold each buffer. */
  private readonly holders = new Map<ArrayBufferLike, number>();

  constructor(start: Keyframe<R>, readonly budget = KEYFRAME_BUDGET) {
    this.list.push(start);
    this.hold(start);
  }

  private hold(k: Keyframe<R>): void {
    this.total += k.bytes;
    for (const b of k.buffers ?? []) {
      const n = this.holders.get(b) ?? 0;
      if (n === 0) this.total += b.byteLength;
      this.holders.set(b, n + 1);
    }
  }

  private release(k: Keyframe<R>): void {
    this.total -= k.bytes;
    for (const b of k.buffers ?? []) {
      const n = this.holders.get(b)!;
      if (n === 1) {
        this.holders.delete(b);
        this.total -= b.byteLength;
      } else this.holders.set(b, n - 1);
    }
  }

  get size(): number {
    return this.list.length;
  }

  /** Bytes held by all keyframes. */
  get bytes(): number {
    return this.total;
  }

  get newest(): Keyframe<R> {
    return this.list[this.list.length - 1];
  }

  /** The entries, oldest first (for tests and the bench). */
  entries(): readonly Keyframe<R>[] {
    return this.list;
  }

  /**
   * Add a keyframe at its place in the timeline (after the start; a seek back adds some behind the
   * newest); evicts (perhaps this one) to stay within the budget.
   */
  add(k: Keyframe<R>): void {
    let i = this.list.length;
    while (i > 0 && comparePositions(this.list[i - 1].at, k.at) > 0) i--;
    if (i === 0 || comparePositions(this.list[i - 1].at, k.at) === 0) throw new Error('a keyframe is added after the start, at a point that has none');
    this.list.splice(i, 0, k);
    this.hold(k);
    while (this.total > this.budget && this.list.length > 1) {
      // With only the start and the newest left, the newest goes: alone it is over the budget.
      let victim = this.list.length - 1;
      if (this.list.length > 2) {
        let best = Infinity;
        for (let i = 1; i < this.list.length - 1; i++) {
          const gap = this.list[i + 1].work - this.list[i - 1].work;
          if (gap < best) {
            best = gap;
            victim = i;
          }
        }
      }
      this.release(this.list[victim]);
      this.list.splice(victim, 1);
    }
  }

  /** The newest keyframe at or before `p` (the start at least). */
  atOrBefore(p: Position): Keyframe<R> {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (comparePositions(this.list[mid].at, p) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return this.list[Math.max(0, lo - 1)];
  }

  /** Forget the keyframes after `p` (the timeline changes there). */
  dropAfter(p: Position): void {
    while (this.list.length > 1 && comparePositions(this.newest.at, p) > 0) this.release(this.list.pop()!);
  }
}

/**
 * The memory a structured-clonable value holds: typed arrays and ArrayBuffers by their byte length
 * (each buffer counted once, however many views share it), strings at two bytes a character, and
 * a small fixed cost per number, object, array entry and key (V8's sizes, rounded).
 */
export function measureBytes(value: unknown): number {
  const m = measure(value);
  let total = m.bytes;
  for (const b of m.buffers) total += b.byteLength;
  return total;
}

/**
 * measureBytes in two parts: `bytes`, what the value holds besides buffers, and the `buffers` it
 * reaches (each once), whose memory other values may share.
 */
export function measure(value: unknown): { bytes: number; buffers: ArrayBufferLike[] } {
  const seen = new Set<object>();
  const buffers: ArrayBufferLike[] = [];
  let total = 0;
  const walk = (v: unknown): void => {
    switch (typeof v) {
      case 'string': total += 16 + 2 * v.length; return;
      case 'number': case 'bigint': total += 8; return;
      case 'boolean': case 'undefined': total += 4; return;
      case 'object': break;
      default: return;
    }
    if (v === null || seen.has(v)) return;
    seen.add(v);
    if (v instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer)) {
      buffers.push(v);
      return;
    }
    if (ArrayBuffer.isView(v)) {
      total += 64;
      walk(v.buffer);
      return;
    }
    if (v instanceof Map) {
      total += 32;
      for (const [k, x] of v) {
        total += 16;
        walk(k);
        walk(x);
      }
      return;
    }
    if (v instanceof Set) {
      total += 32;
      for (const x of v) {
        total += 8;
        walk(x);
      }
      return;
    }
    if (Array.isArray(v)) {
      total += 16 + 8 * v.length;
      for (const x of v) if (typeof x === 'object' || typeof x === 'string') walk(x);
      return;
    }
    total += 24;
    for (const k of Object.keys(v)) {
      total += 8;
      walk((v as Record<string, unknown>)[k]);
    }
  };
  walk(value);
  return { bytes: total, buffers };
}
