import { PAGE_SIZE, hex } from '../core/units';

/** Who owns a host physical frame. */
export const FrameOwner = {
  Free: 0,
  /** The host kernel's own memory (its text, slab, page tables). */
  HostKernel: 1,
  /** Anonymous memory of a user-space process (the VMM's guest RAM lives here). */
  ProcessAnon: 2,
  /** The page cache of a guest_memfd file: private guest memory. */
  GuestMemfd: 3,
  /** TDX module metadata: TDR/TDCS/TDVPS pages and Secure-EPT pages (PAMT-tracked). */
  TdxMetadata: 4,
} as const;
export type FrameOwnerCode = (typeof FrameOwner)[keyof typeof FrameOwner];
export const FRAME_OWNER_NAMES = ['free', 'host kernel', 'process memory', 'guest_memfd', 'TDX metadata'] as const;

/** Owner changes remembered between two takeOwnerChanges() calls before a full rebuild is asked for. */
const OWNER_LOG = 1 << 16;

/** A cache line is 64 bytes; TDX tracks integrity and the TD-owner bit per line. */
export const CACHE_LINE = 64;

/** What a never-written frame reads as. Shared; nothing may write to it. */
export const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/**
 * Host physical memory: one entry per 4 KiB frame in typed arrays (struct of arrays). Contents are
 * stored only for frames whose bytes were written; every other frame reads as zeros.
 *
 * `hkid` models TDX memory encryption: a frame holding TD-private data was written with the TD's
 * private HKID and its cache lines carry the TD-owner bit. A host access (with the host's key) to
 * such a line reads zeros; a host write clears the TD-owner bit and poisons the line, so the TD's
 * next read of it takes a machine check (Intel TDX module base spec, "Memory integrity";
 * Documentation/arch/x86/tdx.rst).
 */
/** Pages of storage allocated at once (see HostMemory.newPage()). */
const SLAB_PAGES = 64;

export class HostMemory {
  readonly nframes: number;
  readonly owner: Uint8Array;
  /** The owning object's id: process pid, guest_memfd inode, VM id for TDX metadata. */
  readonly ownerId: Uint32Array;
  /** 0 = host key (shared); otherwise the HKID of the TD whose private data the frame holds. */
  readonly hkid: Uint16Array;
  /**
   * Content tokens (DESIGN.md principle 4): per frame, a number that changes with every write to it,
   * taken from one counter (`tokenSeq`), so it is deterministic and two frames with the same token
   * had the same history. 0 = all zeros (never written, or cleared). Every store path sets it: the
   * CPU's stores (per store, through CpuBus.contentTokens), bytes() for every other writer (host
   * writes, the VMM's and DMA's copies, TDX page add), zero() and free() set 0, copyPage() carries it.
   * Wraps after 2^32 writes (then a token may repeat; samePage() also compares the bytes stored).
   */
  readonly token: Uint32Array;
  /** The token counter: [0] is the last token handed out. A typed array so the CPU's store path can share it. */
  readonly tokenSeq = new Uint32Array(1);
  private readonly data = new Map<number, Uint8Array>();
  /**
   * One bit per frame: the frame has an entry in `data`. Most frames have none, and testing a bit is
   * several times cheaper than a Map lookup that misses (a migration asks for every page of a guest).
   */
  private readonly stored: Uint32Array;
  /** Cleared page storage, for reuse (see newPage()). */
  private readonly spare: Uint8Array[] = [];
  /** Poisoned cache lines, keyed frame * 64 + line index. */
  private readonly poisoned = new Set<number>();
  private nextFresh: number;
  private readonly freed: number[] = [];
  private used = 0;
  /** The state the last saveState() made or loadState() loaded: its frame chunks are shared by the next save where unchanged. */
  private lastSaved: HostMemoryState | null = null;
  /**
   * Frames whose owner changed since the last takeOwnerChanges(), for a viewer that keeps a copy of
   * the owner map (the worker's host frame map). Bounded: past OWNER_LOG frames it only remembers
   * that it overflowed, and the viewer rebuilds its copy in full.
   */
  private readonly ownerLog = new Int32Array(OWNER_LOG);
  private ownerLogLength = 0;
  private ownerLogOverflow = true;

  constructor(bytes: number, reservedForKernel: number) {
    this.nframes = Math.floor(bytes / PAGE_SIZE);
    this.owner = new Uint8Array(this.nframes);
    this.ownerId = new Uint32Array(this.nframes);
    this.stored = new Uint32Array(Math.ceil(this.nframes / 32));
    this.hkid = new Uint16Array(this.nframes);
    this.token = new Uint32Array(this.nframes);
    const k = Math.min(this.nframes, Math.ceil(reservedForKernel / PAGE_SIZE));
    this.owner.fill(FrameOwner.HostKernel, 0, k);
    this.nextFresh = k;
    this.used = k;
  }

  private logOwnerChange(f: number): void {
    if (this.ownerLogLength < OWNER_LOG) this.ownerLog[this.ownerLogLength++] = f;
    else this.ownerLogOverflow = true;
  }

  /**
   * The frames whose owner changed since the previous call (possibly repeated), or null when too
   * many changed (or on the first call): then every frame must be looked at again. One consumer only.
   */
  takeOwnerChanges(): Int32Array | null {
    const out = this.ownerLogOverflow ? null : this.ownerLog.slice(0, this.ownerLogLength);
    this.ownerLogLength = 0;
    this.ownerLogOverflow = false;
    return out;
  }

  get framesUsed(): number {
    return this.used;
  }

  get framesFree(): number {
    return this.nframes - this.used;
  }

  /** Allocate a zeroed frame. Returns -1 when host memory is exhausted. */
  alloc(owner: FrameOwnerCode, ownerId: number): number {
    let f: number;
    if (this.freed.length > 0) f = this.freed.pop()!;
    else if (this.nextFresh < this.nframes) f = this.nextFresh++;
    else return -1;
    this.owner[f] = owner;
    this.ownerId[f] = ownerId;
    this.hkid[f] = 0;
    this.used++;
    this.logOwnerChange(f);
    return f;
  }

  /** Return a frame to the allocator. Its contents are cleared (the kernel zeroes before reuse). */
  free(f: number): void {
    if (this.owner[f] === FrameOwner.Free) throw new Error(`double free of host frame ${hex(f)}`);
    this.owner[f] = FrameOwner.Free;
    this.ownerId[f] = 0;
    this.hkid[f] = 0;
    this.token[f] = 0;
    if (this.deleteData(f)) this.contentsGeneration++;
    this.clearPoison(f);
    this.freed.push(f);
    this.used--;
    this.logOwnerChange(f);
  }

  /** The frames that have stored contents, in no particular order (every other frame reads as zeros): what a scan of all memory must look at. */
  storedFrames(): IterableIterator<number> {
    return this.data.keys();
  }

  private dataOf(f: number): Uint8Array | undefined {
    return (this.stored[f >>> 5] >>> (f & 31)) & 1 ? this.data.get(f) : undefined;
  }

  /**
   * A zeroed page of storage. Pages come from 256 KiB slabs, and a frame's storage goes back to
   * `spare` when it is cleared: allocating each 4 KiB page as its own ArrayBuffer costs several
   * microseconds (a migration's destination stores every page it receives). A view handed out by
   * bytes() or peek() is not kept by anyone past the next change of `contentsGeneration` (the CPU's
   * TLB is flushed by it), so reusing cleared storage is safe.
   */
  private newPage(): Uint8Array {
    const v = this.spare.pop();
    if (v !== undefined) return v.fill(0);
    const slab = new ArrayBuffer(SLAB_PAGES * PAGE_SIZE);
    for (let i = SLAB_PAGES - 1; i > 0; i--) this.spare.push(new Uint8Array(slab, i * PAGE_SIZE, PAGE_SIZE));
    return new Uint8Array(slab, 0, PAGE_SIZE);
  }

  private setData(f: number, d: Uint8Array): void {
    this.data.set(f, d);
    this.stored[f >>> 5] |= 1 << (f & 31);
  }

  /** Drop frame f's stored bytes; whether it had any. */
  private deleteData(f: number): boolean {
    if (!((this.stored[f >>> 5] >>> (f & 31)) & 1)) return false;
    this.stored[f >>> 5] &= ~(1 << (f & 31));
    const d = this.data.get(f);
    if (d === undefined) return false;
    this.data.delete(f);
    this.spare.push(d);
    return true;
  }

  /** Whether the frame has stored contents (was ever written with non-zero intent). */
  hasData(f: number): boolean {
    return ((this.stored[f >>> 5] >>> (f & 31)) & 1) === 1;
  }

  /**
   * Bumped whenever a frame's contents start to be stored (or stop being stored). A reader that
   * was handed ZERO_PAGE for a frame must look again after this changes.
   */
  contentsGeneration = 0;

  /**
   * The frame's bytes for writing, created (zeroed) on first use; the frame gets a new content token.
   * Used by accesses with the right key. A writer that keeps the array and writes again later (the
   * CPU's TLB) must take a new token per write (writeToken()).
   */
  bytes(f: number): Uint8Array {
    this.token[f] = ++this.tokenSeq[0];
    let d = this.dataOf(f);
    if (d === undefined) {
      d = this.newPage();
      this.setData(f, d);
      this.contentsGeneration++;
    }
    return d;
  }

  /**
   * The frame's bytes for reading: a frame never written reads as the shared ZERO_PAGE, so touching
   * a 4 GiB guest by reading does not store 4 GiB of zeros. Never write to the result.
   */
  bytesForRead(f: number): Uint8Array {
    return this.dataOf(f) ?? ZERO_PAGE;
  }

  /** The frame's bytes without creating them (undefined = all zeros). */
  peek(f: number): Uint8Array | undefined {
    return this.dataOf(f);
  }

  /**
   * Whether frame f's stored bytes are all zeros (true when none are stored): QEMU's
   * buffer_is_zero() on the page. Its content token is the caller's to weigh: a page in use whose
   * bytes the lab does not keep has no stored bytes and a non-zero token.
   */
  storedBytesZero(f: number): boolean {
    const data = this.dataOf(f);
    if (data === undefined) return true;
    // Four bytes at a time (page storage is 4-byte aligned).
    if (data.byteOffset % 4 === 0) {
      const words = new Int32Array(data.buffer, data.byteOffset, data.length >>> 2);
      for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
      return true;
    }
    for (let i = 0; i < data.length; i++) if (data[i] !== 0) return false;
    return true;
  }

  /** Clear a frame's contents (TDH.MEM.PAGE.REMOVE's clearing, TDG.MEM.PAGE.ACCEPT's zeroing). */
  zero(f: number): void {
    this.token[f] = 0;
    if (this.deleteData(f)) this.contentsGeneration++;
    this.clearPoison(f);
  }

  copyInto(f: number, src: Uint8Array): void {
    this.bytes(f).set(src.subarray(0, PAGE_SIZE));
  }

  /** A new content token for frame f, for a writer that already holds its bytes (see bytes()). */
  writeToken(f: number): void {
    this.token[f] = ++this.tokenSeq[0];
  }

  /** Frame f's content token (0: all zeros). */
  pageToken(f: number): number {
    return this.token[f];
  }

  /**
   * Whether frames a and b hold the same page: the same content token (the same write history) and
   * the same stored bytes (a frame without stored bytes reads as zeros). Poisoned lines differ.
   */
  samePage(a: number, b: number): boolean {
    if (this.token[a] !== this.token[b]) return false;
    if (this.poisonedLines(a) !== 0 || this.poisonedLines(b) !== 0) return false;
    const x = this.dataOf(a) ?? ZERO_PAGE;
    const y = this.dataOf(b) ?? ZERO_PAGE;
    if (x === y) return true;
    for (let i = 0; i < PAGE_SIZE; i++) if (x[i] !== y[i]) return false;
    return true;
  }

  /**
   * Copy frame `from`'s page to frame `to`, carrying its content token (a copy is the same content;
   * the migration code proves with it that every page arrived intact). The HKID is not copied: the
   * destination frame keeps its own key.
   */
  copyPage(from: number, to: number): void {
    if (from === to) return;
    const src = this.dataOf(from);
    if (src) this.bytes(to).set(src);
    else this.zero(to);
    this.token[to] = this.token[from];
  }

  /**
   * Copy frame `from` of another host's memory (`src`) to this host's frame `to`, as a migration
   * stream carries a page: the stored bytes (none for a page that reads as zeros) and the content
   * token with them, so that samePageAcross() can prove the copy is the same page.
   */
  copyPageFrom(src: HostMemory, from: number, to: number): void {
    const d = src.dataOf(from);
    if (d) this.bytes(to).set(d);
    else this.zero(to);
    this.token[to] = src.token[from];
  }

  /** Whether this host's frame `a` holds the same page as frame `b` of `other` (token and stored bytes). */
  samePageAcross(a: number, other: HostMemory, b: number): boolean {
    if (this.token[a] !== other.token[b]) return false;
    if (this.poisonedLines(a) !== 0 || other.poisonedLines(b) !== 0) return false;
    const x = this.dataOf(a) ?? ZERO_PAGE;
    const y = other.dataOf(b) ?? ZERO_PAGE;
    if (x === y) return true;
    for (let i = 0; i < PAGE_SIZE; i++) if (x[i] !== y[i]) return false;
    return true;
  }

  isPoisoned(f: number, offset: number, len: number): boolean {
    if (this.poisoned.size === 0) return false;
    const first = Math.floor(offset / CACHE_LINE);
    const last = Math.floor((offset + len - 1) / CACHE_LINE);
    for (let l = first; l <= last; l++) if (this.poisoned.has(f * 64 + l)) return true;
    return false;
  }

  poison(f: number, offset: number, len: number): number {
    const first = Math.floor(offset / CACHE_LINE);
    const last = Math.floor((offset + len - 1) / CACHE_LINE);
    for (let l = first; l <= last; l++) this.poisoned.add(f * 64 + l);
    return last - first + 1;
  }

  private clearPoison(f: number): void {
    if (this.poisoned.size === 0) return;
    for (let l = 0; l < PAGE_SIZE / CACHE_LINE; l++) this.poisoned.delete(f * 64 + l);
  }

  /** Number of poisoned lines in the frame. */
  poisonedLines(f: number): number {
    let n = 0;
    if (this.poisoned.size === 0) return 0;
    for (let l = 0; l < PAGE_SIZE / CACHE_LINE; l++) if (this.poisoned.has(f * 64 + l)) n++;
    return n;
  }

  /**
   * Saved state: the per-frame arrays up to the highest frame ever handed out (the frames above it
   * have never been used: all zero, or the host kernel's), the stored page contents, poisoned lines,
   * the allocator and the token counter. The owner-change log is a viewer's: after a load it says
   * "look at everything again".
   */
  saveState(): HostMemoryState {
    const n = this.nextFresh;
    const prev = this.lastSaved;
    // A page whose content token is the one the previous save recorded has not been written since
    // (every writer takes a new token: bytes(), the CPU's stores, copies carry the token of the
    // bytes they copy), so that save's copy of it is shared, not copied again: a guest with a
    // gigabyte of written pages makes a keyframe in the time its newly written pages take.
    const data = new Map<number, Uint8Array>();
    for (const [f, d] of this.data) {
      const old = prev?.data.get(f);
      const c = prev && f < prev.used ? prev.token[(f / STATE_CHUNK) | 0] : undefined;
      data.set(f, old !== undefined && c !== undefined && c[f % STATE_CHUNK] === this.token[f] && this.token[f] !== 0 ? old : d.slice());
    }
    const state: HostMemoryState = {
      nframes: this.nframes, used: n, chunk: STATE_CHUNK,
      owner: saveChunks(this.owner, n, prev?.owner), ownerId: saveChunks(this.ownerId, n, prev?.ownerId),
      hkid: saveChunks(this.hkid, n, prev?.hkid), token: saveChunks(this.token, n, prev?.token),
      tokenSeq: this.tokenSeq[0], data, poisoned: [...this.poisoned], freed: [...this.freed],
      framesUsed: this.used, contentsGeneration: this.contentsGeneration,
    };
    this.lastSaved = state;
    return state;
  }

  loadState(s: HostMemoryState): void {
    if (s.nframes !== this.nframes) throw new Error(`state: host memory of ${s.nframes} frames cannot load into one of ${this.nframes}`);
    // Frames the fresh host handed out beyond the saved high-water mark go back to never used.
    const k = Math.min(this.nframes, Math.max(this.nextFresh, s.used));
    if (s.chunk !== STATE_CHUNK) throw new Error(`state: host memory saved in chunks of ${s.chunk} frames cannot load into this build (chunks of ${STATE_CHUNK})`);
    // The frames whose owner the load changes go to the owner log, as live changes do (a viewer's
    // copy of the owner map is then patched, not rebuilt, after a seek between nearby moments).
    for (let f = s.used; f < k; f++) if (this.owner[f] !== FrameOwner.Free || this.ownerId[f] !== 0) this.logOwnerChange(f);
    s.owner.forEach((c, i) => {
      const from = i * STATE_CHUNK;
      if (sameChunk(this.owner, from, c) && sameChunk(this.ownerId, from, s.ownerId[i])) return;
      const ids = s.ownerId[i];
      for (let j = 0; j < c.length; j++) if (this.owner[from + j] !== c[j] || this.ownerId[from + j] !== ids[j]) this.logOwnerChange(from + j);
    });
    this.owner.fill(FrameOwner.Free, s.used, k);
    this.ownerId.fill(0, s.used, k);
    this.hkid.fill(0, s.used, k);
    this.token.fill(0, s.used, k);
    loadChunks(this.owner, s.owner);
    loadChunks(this.ownerId, s.ownerId);
    loadChunks(this.hkid, s.hkid);
    loadChunks(this.token, s.token);
    // The live arrays now equal that state: the next save shares its chunks wherever they stay so.
    this.lastSaved = s;
    this.tokenSeq[0] = s.tokenSeq;
    for (const d of this.data.values()) this.spare.push(d);
    this.data.clear();
    this.stored.fill(0);
    for (const [f, d] of s.data) {
      const page = this.newPage();
      page.set(d);
      this.setData(f, page);
    }
    this.poisoned.clear();
    for (const l of s.poisoned) this.poisoned.add(l);
    this.freed.length = 0;
    this.freed.push(...s.freed);
    this.nextFresh = s.used;
    this.used = s.framesUsed;
    this.contentsGeneration = s.contentsGeneration + 1;
  }

  /** Bytes of page contents stored (pages ever written with bytes kept; the rest read as zeros or are tokens only). */
  get storedBytes(): number {
    return this.data.size * PAGE_SIZE;
  }

  /** Typed-array bytes held by this object (for the heap budget). */
  get metadataBytes(): number {
    return this.owner.byteLength + this.ownerId.byteLength + this.hkid.byteLength + this.token.byteLength;
  }
}

/**
 * Frames per chunk of a saved state's frame arrays. A chunk equal to the one the previous save (or
 * load) of the same memory made is that chunk, shared, not a copy: keyframes taken one after the
 * other hold one copy of the frames that did not change between them. Saved chunks are never written.
 */
const STATE_CHUNK = 1 << 16;

type FrameArray = Uint8Array | Uint16Array | Uint32Array;

/** Whether live[from, from + saved.length) equals `saved`, compared a 32-bit word at a time where aligned. */
function sameChunk(live: FrameArray, from: number, saved: FrameArray): boolean {
  const bytes = saved.byteLength;
  const a = live.byteOffset + from * live.BYTES_PER_ELEMENT;
  const b = saved.byteOffset;
  const words = (a & 3) === 0 && (b & 3) === 0 ? bytes >>> 2 : 0;
  if (words > 0) {
    const x = new Int32Array(live.buffer, a, words);
    const y = new Int32Array(saved.buffer, b, words);
    for (let i = 0; i < words; i++) if (x[i] !== y[i]) return false;
  }
  const per = 4 / saved.BYTES_PER_ELEMENT;
  for (let i = Math.floor(words * per); i < saved.length; i++) if (live[from + i] !== saved[i]) return false;
  return true;
}

/** Entries [0, n) of `live` in chunks of STATE_CHUNK, sharing each chunk of `prev` that is unchanged. */
function saveChunks<T extends FrameArray>(live: T, n: number, prev: readonly T[] | undefined): T[] {
  const out: T[] = [];
  for (let i = 0, c = 0; i < n; i += STATE_CHUNK, c++) {
    const end = Math.min(n, i + STATE_CHUNK);
    const p = prev?.[c];
    out.push(p && p.length === end - i && sameChunk(live, i, p) ? p : (live.slice(i, end) as T));
  }
  return out;
}

function loadChunks(live: FrameArray, chunks: readonly FrameArray[]): void {
  chunks.forEach((c, i) => live.set(c, i * STATE_CHUNK));
}

/** HostMemory's saved state. */
export interface HostMemoryState {
  nframes: number;
  /** Frames [0, used) were ever handed out (or are the host kernel's); the arrays cover them. */
  used: number;
  /** Frames per chunk of the arrays below. */
  chunk: number;
  owner: Uint8Array[];
  ownerId: Uint32Array[];
  hkid: Uint16Array[];
  token: Uint32Array[];
  tokenSeq: number;
  data: Map<number, Uint8Array>;
  poisoned: number[];
  freed: number[];
  framesUsed: number;
  contentsGeneration: number;
}
