/**
 * A sparse array of unsigned 32-bit values indexed by page number, allocated in chunks on first
 * write, the way real page tables are: a 64 GiB guest that touched 100 pages costs a few chunks,
 * not 16 M entries. Unwritten entries read as 0.
 */
const CHUNK_SHIFT = 12;
const CHUNK = 1 << CHUNK_SHIFT;
/** Entries per chunk: the unit in which changedChunksSince() reports writes. */
export const PAGED_CHUNK = CHUNK;
const CHUNK_MASK = CHUNK - 1;

export interface PagedU32State {
  length: number;
  version: number;
  /** [chunk index, its entries, its stamp]. */
  chunks: [number, Uint32Array, number][];
}

export class PagedU32 {
  // Grows on demand, so an index space as large as a 52-bit guest-physical space costs nothing
  // until high pages are touched.
  private chunks: (Uint32Array | undefined)[] = [];
  /** Per chunk, the `version` of its last write: a viewer that copied the array redoes only newer chunks. */
  private stamps: number[] = [];
  /** Bumped by every write. */
  version = 0;
  /**
   * Per chunk, true while a saved state shares it (saveState and loadState hand chunks over without
   * copying): the first write copies it (copy on write), so a state stays as it was saved.
   */
  private shared: boolean[] = [];

  constructor(readonly length: number) {}

  private newChunk(ci: number): Uint32Array {
    while (this.chunks.length < ci) this.chunks.push(undefined);
    const c = new Uint32Array(CHUNK);
    this.chunks[ci] = c;
    return c;
  }

  /** A chunk a saved state shares, copied to be written. */
  private own(ci: number): Uint32Array {
    const c = this.chunks[ci]!.slice();
    this.chunks[ci] = c;
    this.shared[ci] = false;
    return c;
  }

  get(i: number): number {
    const c = this.chunks[Math.floor(i / CHUNK)];
    return c === undefined ? 0 : c[i & CHUNK_MASK];
  }

  set(i: number, v: number): void {
    const ci = Math.floor(i / CHUNK);
    let c = this.chunks[ci];
    if (c === undefined) {
      if (v === 0) return;
      c = this.newChunk(ci);
    } else if (this.shared[ci]) c = this.own(ci);
    c[i & CHUNK_MASK] = v;
    this.stamps[ci] = ++this.version;
  }

  /** Set [from, from+count) to v. */
  fill(v: number, from: number, count: number): void {
    for (let i = from; i < from + count; ) {
      const ci = Math.floor(i / CHUNK);
      const start = i & CHUNK_MASK;
      const n = Math.min(CHUNK - start, from + count - i);
      let c = this.chunks[ci];
      if (c === undefined && v !== 0) c = this.newChunk(ci);
      else if (c !== undefined && this.shared[ci]) c = this.own(ci);
      if (c !== undefined) {
        c.fill(v, start, start + n);
        this.stamps[ci] = ++this.version;
      }
      i += n;
    }
  }

  /** Calls fn(index, value) for every non-zero entry in [from, from+count), in order. */
  forEachSet(from: number, count: number, fn: (i: number, v: number) => void): void {
    const end = Math.min(from + count, this.length, this.chunks.length * CHUNK);
    for (let i = from; i < end; ) {
      const ci = Math.floor(i / CHUNK);
      const c = this.chunks[ci];
      const chunkEnd = Math.min((ci + 1) * CHUNK, end);
      if (c === undefined) {
        i = chunkEnd;
        continue;
      }
      for (; i < chunkEnd; i++) {
        const v = c[i & CHUNK_MASK];
        if (v !== 0) fn(i, v);
      }
    }
  }

  /**
   * The runs of consecutive non-zero entries within [from, from+count), as [start, length] pairs in
   * order, without a call per entry (a 4 GiB guest's RAM is a million entries, usually a few runs).
   */
  runsOfSet(from: number, count: number): [number, number][] {
    const runs: [number, number][] = [];
    const end = Math.min(from + count, this.length, this.chunks.length * CHUNK);
    let open = -1;
    for (let i = from; i < end; ) {
      const ci = Math.floor(i / CHUNK);
      const c = this.chunks[ci];
      const chunkEnd = Math.min((ci + 1) * CHUNK, end);
      if (c === undefined) {
        if (open >= 0) runs.push([open, i - open]);
        open = -1;
        i = chunkEnd;
        continue;
      }
      for (; i < chunkEnd; i++) {
        if (c[i & CHUNK_MASK] !== 0) {
          if (open < 0) open = i;
        } else if (open >= 0) {
          runs.push([open, i - open]);
          open = -1;
        }
      }
    }
    if (open >= 0) runs.push([open, end - open]);
    return runs;
  }

  /**
   * Chunk `ci`'s storage (or undefined) and its stamp: together they name its contents. A chunk a
   * saved state shares is never written again (a write copies it first), and a chunk written in
   * place gets a newer stamp each time, so a viewer that saw the same storage with the same stamp
   * (before a state was loaded, say) saw the same entries.
   */
  chunkIdentity(ci: number): [Uint32Array | undefined, number] {
    return [this.chunks[ci], this.stamps[ci] ?? 0];
  }

  /** Chunks (indices into the array divided by PAGED_CHUNK) written after `version`, within [from, from+count). */
  changedChunksSince(version: number, from: number, count: number): number[] {
    const out: number[] = [];
    const last = Math.min(this.stamps.length, Math.ceil((from + count) / CHUNK));
    for (let ci = Math.floor(from / CHUNK); ci < last; ci++) if ((this.stamps[ci] ?? 0) > version) out.push(ci);
    return out;
  }

  /** Saved state: the allocated chunks only (a 52-bit index space has millions of empty chunk slots). */
  saveState(): PagedU32State {
    const chunks: [number, Uint32Array, number][] = [];
    this.chunks.forEach((c, ci) => {
      if (c) {
        // Shared, not copied: the next write to it here copies it first.
        chunks.push([ci, c, this.stamps[ci] ?? 0]);
        this.shared[ci] = true;
      }
    });
    return { length: this.length, version: this.version, chunks };
  }

  loadState(s: PagedU32State): void {
    if (s.length !== this.length) throw new Error(`state: a paged array of ${s.length} entries cannot load into one of ${this.length}`);
    this.chunks = [];
    this.stamps = [];
    this.shared = [];
    for (const [ci, c, stamp] of s.chunks) {
      while (this.chunks.length < ci) this.chunks.push(undefined);
      if (c.length === CHUNK) {
        // Shared with the state, not copied: the first write copies it (see `shared`).
        this.chunks[ci] = c;
        this.shared[ci] = true;
      } else this.newChunk(ci).set(c);
      this.stamps[ci] = stamp;
    }
    this.version = s.version;
  }

  /** Bytes of typed-array storage allocated so far. */
  get allocatedBytes(): number {
    let n = 0;
    for (const c of this.chunks) if (c) n += c.byteLength;
    return n + this.chunks.length * 8;
  }
}
