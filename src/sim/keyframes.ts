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
  /** Large arrays it keeps alive with their bytes (measure()'s `shared`), counted once like buffers. */
  shared?: readonly (readonly [object, number])[];
  /**
   * A machine at `at`: `into` (a machine of the same scenario, anywhere, which the keyframe may
   * load itself into in place) or a new one; the caller may run it on.
   */
  restore(into?: R): R;
}

export class Keyframes<R> {
  private readonly list: Keyframe<R>[] = [];
  private total = 0;
  /** How many keyframes hold each buffer or shared array. */
  private readonly holders = new Map<object, number>();

  /** Told each buffer no keyframe holds any more (its memory may be reused: Trace.release). */
  onFree: ((b: ArrayBufferLike) => void) | null = null;

  constructor(start: Keyframe<R>, readonly budget = KEYFRAME_BUDGET) {
    this.list.push(start);
    this.hold(start);
  }

  /** Whether a keyframe holds buffer `b`. */
  holds(b: ArrayBufferLike): boolean {
    return this.holders.has(b);
  }

  private hold(k: Keyframe<R>): void {
    this.total += k.bytes;
    for (const b of k.buffers ?? []) this.holdOne(b, b.byteLength);
    for (const [a, bytes] of k.shared ?? []) this.holdOne(a, bytes);
  }

  private holdOne(o: object, bytes: number): void {
    const n = this.holders.get(o) ?? 0;
    if (n === 0) this.total += bytes;
    this.holders.set(o, n + 1);
  }

  private release(k: Keyframe<R>): void {
    this.total -= k.bytes;
    for (const b of k.buffers ?? []) if (this.releaseOne(b, b.byteLength)) this.onFree?.(b);
    for (const [a, bytes] of k.shared ?? []) this.releaseOne(a, bytes);
  }

  /** Returns whether that was the last keyframe holding `o`. */
  private releaseOne(o: object, bytes: number): boolean {
    const n = this.holders.get(o)!;
    if (n > 1) {
      this.holders.set(o, n - 1);
      return false;
    }
    this.holders.delete(o);
    this.total -= bytes;
    return true;
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
  for (const [, n] of m.shared) total += n;
  return total;
}

/**
 * measureBytes in two parts: `bytes`, what the value holds besides buffers, and the `buffers` it
 * reaches (each once), whose memory other values may share.
 */
export function measure(value: unknown, cache?: MeasureCache): Measured {
  const seen = new Set<object>();
  const buffers: ArrayBufferLike[] = [];
  const shared: [object, number][] = [];
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
      if (cache && v.length >= SHARED_ARRAY) {
        let m = cache.get(v);
        // Measured without the cache: walked entry by entry, once.
        if (!m) cache.set(v, (m = measure(v)));
        shared.push([v, m.bytes]);
        buffers.push(...m.buffers);
        return;
      }
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
  return { bytes: total, buffers, shared };
}

/** What measure() found: bytes of its own, the buffers it reaches, and the large arrays it may share with other values. */
export interface Measured {
  bytes: number;
  buffers: ArrayBufferLike[];
  /** Large arrays, each with the bytes it holds (its entries and what they reach, minus buffers). */
  shared: [object, number][];
}

/**
 * Sizes of large arrays measure() already walked. Only for values never written after they are
 * measured (snapshots): consecutive snapshots share arrays such as a trace chunk's saved events, and
 * walking them again for every keyframe cost more than the rest of the measuring.
 */
export type MeasureCache = WeakMap<object, Measured>;
/** Arrays at least this long are measured once, cached and counted as shared. */
const SHARED_ARRAY = 1024;
