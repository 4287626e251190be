/**
 * A set of page numbers kept as sorted, disjoint half-open ranges — how KVM's memory attributes
 * xarray behaves for the large uniform ranges VMMs set (QEMU marks all of a TD's RAM private in one
 * call). Costs a few numbers per range, not a byte per page.
 */
export class RangeSet {
  private starts: number[] = [];
  private ends: number[] = [];

  /** Index of the first range whose end is > x. */
  private lowerBound(x: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  has(x: number): boolean {
    const i = this.lowerBound(x);
    return i < this.starts.length && this.starts[i] <= x;
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    let i = this.lowerBound(start - 1);
    // Merge with every range that touches or overlaps [start, end).
    let s = start;
    let e = end;
    let j = i;
    while (j < this.starts.length && this.starts[j] <= end) {
      s = Math.min(s, this.starts[j]);
      e = Math.max(e, this.ends[j]);
      j++;
    }
    if (i > 0 && this.ends[i - 1] === start) {
      i--;
      s = this.starts[i];
    }
    this.starts.splice(i, j - i, s);
    this.ends.splice(i, j - i, e);
  }

  remove(start: number, end: number): void {
    if (end <= start) return;
    const outS: number[] = [];
    const outE: number[] = [];
    for (let k = 0; k < this.starts.length; k++) {
      const a = this.starts[k];
      const b = this.ends[k];
      if (b <= start || a >= end) {
        outS.push(a);
        outE.push(b);
        continue;
      }
      if (a < start) {
        outS.push(a);
        outE.push(start);
      }
      if (b > end) {
        outS.push(end);
        outE.push(b);
      }
    }
    this.starts = outS;
    this.ends = outE;
  }

  /** The ranges intersecting [start, end), clipped to it. */
  intersect(start: number, end: number): [number, number][] {
    const out: [number, number][] = [];
    for (let k = this.lowerBound(start); k < this.starts.length && this.starts[k] < end; k++) {
      out.push([Math.max(start, this.starts[k]), Math.min(end, this.ends[k])]);
    }
    return out;
  }

  /** Whether every page of [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    const i = this.lowerBound(start);
    return i < this.starts.length && this.starts[i] <= start && this.ends[i] >= end;
  }

  get ranges(): [number, number][] {
    return this.starts.map((s, k) => [s, this.ends[k]]);
  }

  get size(): number {
    let n = 0;
    for (let k = 0; k < this.starts.length; k++) n += this.ends[k] - this.starts[k];
    return n;
  }
}
