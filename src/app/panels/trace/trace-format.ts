/**
 * The trace's numbers for a reader: virtual time with its unit (the exact nanoseconds in a tooltip)
 * and the rows' heights when their sentences wrap.
 */

/**
 * Virtual time since the scenario started, in the unit that suits it, exact to the ns below a
 * millisecond: "0 ns", "950 ns", "12.345 µs", "4.567 ms", "16.004 s".
 */
export function formatTime(ns: number): string {
  const f = (v: number, unit: string) => `${v.toLocaleString('en', { minimumFractionDigits: 3, maximumFractionDigits: 3 })} ${unit}`;
  if (ns < 1e3) return `${ns.toLocaleString('en')} ns`;
  if (ns < 1e6) return f(ns / 1e3, 'µs');
  if (ns < 1e9) return f(ns / 1e6, 'ms');
  return f(ns / 1e9, 's');
}

/** The tooltip of a time: the exact virtual nanoseconds. */
export const exactTime = (ns: number) => `${ns.toLocaleString('en')} ns of virtual time after the scenario started`;

/** Row geometry (px; the CSS matches): a one-line row, and each further line of a wrapped sentence. */
export const ROW = 30;
export const LINE = 21;

/** A row's height with a sentence of `lines` lines. */
export const rowHeight = (lines: number) => ROW + Math.max(0, lines - 1) * LINE;

/**
 * The lines a sentence takes in a column `width` px wide, breaking between words as the browser
 * does (greedily; a word wider than the column breaks anywhere: `overflow-wrap: anywhere`), with
 * `measure` giving a string's width in the column's font. Errs towards one line more (a blank line
 * at the bottom is harmless, a clipped one is not), so the column is taken 2 px narrower.
 */
export function wrapLines(text: string, width: number, measure: (s: string) => number): number {
  const w = Math.max(1, width - 2);
  const space = measure(' ');
  let lines = 1, used = 0;
  for (const word of text.split(/ +/)) {
    if (!word) continue;
    const ww = measure(word);
    if (used > 0 && used + space + ww <= w) {
      used += space + ww;
      continue;
    }
    if (used > 0) lines++;
    if (ww <= w) used = ww;
    else {
      // A word wider than the column fills lines of its own; what is left starts the next.
      const full = Math.ceil(ww / w);
      lines += full - 1;
      used = ww - (full - 1) * w;
    }
  }
  return lines;
}

/**
 * Where rows are: `tops[i]` is row i's top, `tops[n]` the height of them all. Rows are positioned by
 * arithmetic (never measured in the DOM), so a list of twenty thousand rows lays out only the ones
 * on screen.
 */
export class RowLayout {
  readonly tops: Float64Array;
  constructor(readonly count: number, height: (i: number) => number) {
    this.tops = new Float64Array(count + 1);
    for (let i = 0; i < count; i++) this.tops[i + 1] = this.tops[i] + height(i);
  }
  get total(): number {
    return this.tops[this.count];
  }
  top(i: number): number {
    return this.tops[i];
  }
  bottom(i: number): number {
    return this.tops[i + 1];
  }
  /** The row at `y` px from the top (clamped to the rows there are; 0 for none). */
  indexAt(y: number): number {
    if (this.count === 0) return 0;
    let lo = 0, hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.tops[mid] <= y) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
