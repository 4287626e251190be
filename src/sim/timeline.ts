/**
 * Where a run is, for time travel: the scenario step, the guest instructions that step has run so
 * far, and the user commands applied. Along one timeline all three only grow, so positions compare
 * lexicographically. Marks remember, for positions already reached, how many events had been
 * recorded there: a seek to event N starts from the last mark that had not yet recorded it.
 */

/** A point of the timeline: `instr` instructions into scenario step `step`, after `cmds` user commands. */
export interface Position {
  step: number;
  instr: number;
  cmds: number;
}

/** A user command (a scenario step given by the UI) and the cursor (step, instr) where it applied. */
export interface LoggedCommand {
  step: number;
  instr: number;
  command: unknown;
}

export const START: Position = { step: 0, instr: 0, cmds: 0 };

/** Compare cursors (step, then instructions). */
export function compareCursors(a: { step: number; instr: number }, b: { step: number; instr: number }): number {
  return a.step - b.step || a.instr - b.instr;
}

/** Compare positions of one timeline: negative when `a` comes first. */
export function comparePositions(a: Position, b: Position): number {
  return compareCursors(a, b) || a.cmds - b.cmds;
}

export function samePosition(a: Position, b: Position): boolean {
  return comparePositions(a, b) === 0;
}

export function formatPosition(p: Position): string {
  return `step ${p.step}, instruction ${p.instr}, after ${p.cmds} command${p.cmds === 1 ? '' : 's'}`;
}

/** Fields per mark: step, instr, cmds, events recorded. */
const F = 4;

/**
 * Positions reached, with the events recorded there, in timeline order (a typed array, so a long
 * run's marks cost 32 bytes each). Consecutive positions with the same event count keep only the
 * newest, which is the closest start for a seek to the next event. Past `cap` marks, every other one
 * is dropped (the newest kept): seeks then single-step a little further.
 */
export class Marks {
  private data = new Float64Array(F * 1024);
  private n = 0;

  constructor(readonly cap = 1 << 18) {}

  get length(): number {
    return this.n;
  }

  get bytes(): number {
    return this.data.byteLength;
  }

  position(i: number): Position {
    const d = this.data;
    return { step: d[i * F], instr: d[i * F + 1], cmds: d[i * F + 2] };
  }

  count(i: number): number {
    return this.data[i * F + 3];
  }

  /** The newest position marked, or null. */
  last(): Position | null {
    return this.n ? this.position(this.n - 1) : null;
  }

  /** Mark a position after the newest (callers check that it is); `count` events recorded there. */
  push(p: Position, count: number): void {
    if (this.n > 1 && this.count(this.n - 1) === count) this.n--;
    if (this.n >= this.cap) this.thin();
    if ((this.n + 1) * F > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    const o = this.n * F;
    this.data[o] = p.step;
    this.data[o + 1] = p.instr;
    this.data[o + 2] = p.cmds;
    this.data[o + 3] = count;
    this.n++;
  }

  /** The index of the last mark with at most `count` events recorded, or -1. */
  lastAtMost(count: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.count(mid) <= count) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** The index of the last mark at or before `p`, or -1. */
  lastAtOrBefore(p: Position): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (comparePositions(this.position(mid), p) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /**
   * Mark a position behind the newest (one a seek passed): inserted in order, unless marked already.
   * Returns whether it was inserted.
   */
  insert(p: Position, count: number): boolean {
    const i = this.lastAtOrBefore(p);
    if (i >= 0 && comparePositions(this.position(i), p) === 0) return false;
    if (i === this.n - 1) {
      this.push(p, count);
      return true;
    }
    if (this.n >= this.cap) return false;
    if ((this.n + 1) * F > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    const o = (i + 1) * F;
    this.data.copyWithin(o + F, o, this.n * F);
    this.data[o] = p.step;
    this.data[o + 1] = p.instr;
    this.data[o + 2] = p.cmds;
    this.data[o + 3] = count;
    this.n++;
    return true;
  }

  /** Forget the marks after `p` (the timeline changes there). */
  dropAfter(p: Position): void {
    this.n = this.lastAtOrBefore(p) + 1;
  }

  private thin(): void {
    const d = this.data;
    let w = 0;
    for (let r = 0; r < this.n; r++) {
      if (r % 2 === 1 && r !== this.n - 1) continue;
      d.copyWithin(w * F, r * F, r * F + F);
      w++;
    }
    this.n = w;
  }
}
