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
  /** Bytes this entry keeps alive (measured with measureBytes). */
  bytes: number;
  /** A machine at `at`, fresh each call (the caller may run it on). */
  restore(): R;
}

export class Keyframes<R> {
  private readonly list: Keyframe<R>[];
  private total: number;

  constructor(start: Keyframe<R>, readonly budget = KEYFRAME_BUDGET) {
    this.list = [start];
    this.total = start.bytes;
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

  /** Add a keyframe after the newest; evicts (perhaps this one) to stay within the budget. */
  add(k: Keyframe<R>): void {
    if (comparePositions(k.at, this.newest.at) <= 0) throw new Error('keyframes are added in timeline order');
    this.list.push(k);
    this.total += k.bytes;
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
      this.total -= this.list[victim].bytes;
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
    while (this.list.length > 1 && comparePositions(this.newest.at, p) > 0) this.total -= this.list.pop()!.bytes;
  }
}

/**
 * The memory a structured-clonable value holds: typed arrays and ArrayBuffers by their byte length
 * (each buffer counted once, however many views share it), strings at two bytes a character, and
 * a small fixed cost per number, object, array entry and key (V8's sizes, rounded).
 */
export function measureBytes(value: unknown): number {
  const seen = new Set<object>();
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
      total += v.byteLength;
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
  return total;
}
