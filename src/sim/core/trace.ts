/**
 * The event trace. Every state change in the machine emits one event; the trace panel, the narration
 * line, the CLI report and the tests all read these. `name` is the real identifier (an ioctl, an exit
 * reason, a SEAMCALL or TDCALL leaf, an exception), `text` one plain sentence a student can read aloud.
 *
 * A 4 GiB guest faults a million pages, three events each, and a fast run records hundreds of
 * thousands of events a second. Kept as objects (an event, its args, a dozen strings), they are
 * garbage the collector copies while the trace holds them, and its helper threads took more CPU than
 * the simulation itself. So the trace keeps its events in columns of typed arrays, 4,096 events a
 * chunk: time, VM, vCPU, pages, and for the hot events (declared with `eventKind`) up to three
 * numbers from which their args and sentence are made when somebody reads them. Other events keep
 * their object in the chunk. Reading gives plain SimEvent objects, made on demand.
 */
import type { Layer } from './trace-layers';
export { LAYERS, type Layer } from './trace-layers';

export type ArgValue = string | number | boolean | null | readonly (string | number)[];

export interface SimEvent {
  seq: number;
  /** Virtual time in ns. */
  t: number;
  /** The host's name (events of the machine), or null for world-wide events (a scenario step's error, a link). */
  host: string | null;
  /** The VM's name, or null for host-wide events. */
  vm: string | null;
  vcpu: number | null;
  layer: Layer;
  name: string;
  args: Record<string, ArgValue>;
  text: string;
  /** Guest frame numbers this event touched (first and count), for highlighting in page maps. */
  gfns?: readonly [number, number];
}

export interface EventContext {
  vm?: string | null;
  vcpu?: number | null;
  gfns?: readonly [number, number];
}

export type EventListener = (e: SimEvent) => void;

/**
 * An event's arguments or sentence, or a function that makes them: made only when the event is read.
 */
export type Lazy<T> = T | (() => T);

/**
 * A hot event: its layer and name, and how its args and sentence are made from the (up to three)
 * numbers recorded with it. Declared once at module level; `Trace.record()` then stores an event as
 * numbers only. `make` must depend on nothing but its arguments (the event is read later).
 */
export interface EventKind {
  readonly id: number;
  readonly layer: Layer;
  readonly name: string;
  readonly make: (a: number, b: number, c: number) => { args: Record<string, ArgValue>; text: string };
}

const KINDS: EventKind[] = [];

export function eventKind(layer: Layer, name: string, make: EventKind['make']): EventKind {
  const k: EventKind = { id: KINDS.length, layer, name, make };
  KINDS.push(k);
  return k;
}

/** An object event whose args and sentence may still be functions (see Lazy). */
interface StoredEvent {
  args: Lazy<Record<string, ArgValue>>;
  text: Lazy<string>;
  layer: Layer;
  name: string;
}

const CHUNK_BITS = 12;
const CHUNK = 1 << CHUNK_BITS;
/** `kind` of an event kept as an object (in `objs`). */
const OBJECT = -1;

class Chunk {
  readonly t: Float64Array;
  /** EventKind id, or OBJECT. */
  readonly kind: Int16Array;
  /** Index into Trace.hostNames (0: world-wide). */
  readonly host: Int16Array;
  /** Index into Trace.names (0: host-wide). */
  readonly vm: Int16Array;
  /** -1: none. */
  readonly vcpu: Int16Array;
  /** First GFN touched and the count (count 0: none). GFNs of a TD's shared alias pass 2^32. */
  readonly g0: Float64Array;
  readonly gn: Float64Array;
  readonly a: Float64Array;
  readonly b: Float64Array;
  readonly c: Float64Array;
  readonly objs: (StoredEvent | null | undefined)[];
  /**
   * A full chunk whose columns a saved state shares (saveState hands them out without copying, and
   * loadState adopts a saved full chunk as it is): never written again, so never recycled by addChunk.
   */
  frozen = false;
  /** The object events as saved (made once, when the chunk is first saved full). */
  savedObjs: (StoredEvent | null)[] | null = null;

  /** The buffer the columns live in. */
  get buffer(): ArrayBufferLike {
    return this.t.buffer;
  }

  /** Whether every column lives in `buffer` (so that whoever holds that buffer holds the whole chunk). */
  get single(): boolean {
    const b = this.t.buffer;
    return [this.kind, this.host, this.vm, this.vcpu, this.g0, this.gn, this.a, this.b, this.c].every((x) => x.buffer === b);
  }

  /** Make a dropped chunk the newest again: written on, no longer shared. */
  reset(): void {
    this.frozen = false;
    this.savedObjs = null;
    // A new array: the old one may be a saved state's (an adopted chunk's objs are the state's).
    (this as { objs: (StoredEvent | null | undefined)[] }).objs = new Array<StoredEvent | undefined>(CHUNK).fill(undefined);
  }

  constructor(from?: ChunkState) {
    if (from) {
      // A saved full chunk, shared as it is (it is never written: see `frozen`).
      this.t = from.t; this.kind = from.kind; this.host = from.host; this.vm = from.vm; this.vcpu = from.vcpu;
      this.g0 = from.g0; this.gn = from.gn; this.a = from.a; this.b = from.b; this.c = from.c;
      this.objs = from.objs;
      this.savedObjs = from.objs;
      this.frozen = true;
      return;
    }
    // One buffer for all the columns: a run that takes keyframes drops its full chunks (they are
    // shared, frozen) and makes new ones often, and one allocation costs a tenth of ten.
    const buf = new ArrayBuffer(CHUNK * (6 * 8 + 4 * 2));
    const f64 = (i: number) => new Float64Array(buf, i * CHUNK * 8, CHUNK);
    const i16 = (i: number) => new Int16Array(buf, 6 * CHUNK * 8 + i * CHUNK * 2, CHUNK);
    this.t = f64(0);
    this.g0 = f64(1);
    this.gn = f64(2);
    this.a = f64(3);
    this.b = f64(4);
    this.c = f64(5);
    this.kind = i16(0);
    this.host = i16(1);
    this.vm = i16(2);
    this.vcpu = i16(3);
    this.objs = new Array<StoredEvent | undefined>(CHUNK).fill(undefined);
  }
}

/**
 * Where the machine's parts emit: a Trace, or one host's port of it (Trace.port), which stamps the
 * host's name on every event. Everything below the scenario emits through its host's sink, so that no
 * part of the machine needs to know how many hosts there are.
 */
export interface TraceSink {
  emit(layer: Layer, name: string, args: Lazy<Record<string, ArgValue>>, text: Lazy<string>, ctx?: EventContext): void;
  emitFor(vm: string | null, layer: Layer, name: string, args: Lazy<Record<string, ArgValue>>, text: Lazy<string>, ctx?: EventContext): void;
  record(kind: EventKind, vm: string | null, vcpu: number, gfn: number, gfnCount: number, a: number, b?: number, c?: number): void;
  setMuted(on: boolean): void;
  quietly<T>(fn: () => T): T;
  /** Events recorded so far in the whole trace (the next event's seq). */
  readonly count: number;
}

/** One host's sink into the world's trace: the same API, every event stamped with the host (an index into the trace's host names). */
export class TracePort implements TraceSink {
  constructor(private readonly trace: Trace, readonly hostName: string, private readonly hostIndex: number) {}

  emit(layer: Layer, name: string, args: Lazy<Record<string, ArgValue>>, text: Lazy<string>, ctx: EventContext = {}): void {
    this.trace.emitAt(this.hostIndex, ctx.vm ?? null, layer, name, args, text, ctx);
  }

  emitFor(vm: string | null, layer: Layer, name: string, args: Lazy<Record<string, ArgValue>>, text: Lazy<string>, ctx: EventContext = {}): void {
    this.trace.emitAt(this.hostIndex, vm, layer, name, args, text, ctx);
  }

  record(kind: EventKind, vm: string | null, vcpu: number, gfn: number, gfnCount: number, a: number, b = 0, c = 0): void {
    this.trace.recordAt(this.hostIndex, kind, vm, vcpu, gfn, gfnCount, a, b, c);
  }

  setMuted(on: boolean): void {
    this.trace.setMuted(on);
  }

  quietly<T>(fn: () => T): T {
    return this.trace.quietly(fn);
  }

  get count(): number {
    return this.trace.count;
  }
}

export class Trace implements TraceSink {
  private seq = 0;
  /** The kept events, oldest chunk first; chunks[0] starts at seq firstChunk · CHUNK. */
  private chunks: Chunk[] = [];
  /** The newest chunk (where events are being added). */
  private cur: Chunk | null = null;
  private firstChunk = 0;
  private readonly maxChunks: number;
  private listeners: EventListener[] = [];
  /** While > 0, emit() records nothing (an instruction being replayed after an exit). */
  private muted = 0;
  private replayMuted = false;
  /** VM names by index (0: host-wide, null). */
  private readonly names: (string | null)[] = [null];
  private readonly nameIndex = new Map<string | null, number>([[null, 0]]);
  private lastName: string | null = null;
  private lastIndex = 0;
  /** Host names by index (0: world-wide, null); one port per host. */
  private readonly hostNames: (string | null)[] = [null];
  private readonly ports = new Map<string, TracePort>();
  /**
   * Set by whoever keeps saved states of this trace (the lab's keyframes): whether no saved state
   * holds a buffer. A full chunk dropped from the ring while a saved state shares it is kept aside
   * (`retired`) instead of being written again, until `release` says the last state holding it went
   * (or this says none holds it); then it is reused, which spares a run that takes keyframes the
   * cost of fresh memory for every chunk. Null: frozen chunks are never reused.
   */
  reusable: ((b: ArrayBufferLike) => boolean) | null = null;
  private readonly retired = new Map<ArrayBufferLike, Chunk>();
  private readonly spare: Chunk[] = [];

  /** At least the newest `limit` events are kept, and fewer than 8,192 more (whole chunks of 4,096 are dropped). */
  constructor(private readonly now: () => number, limit = 1_000_000) {
    this.maxChunks = Math.max(2, Math.ceil(limit / CHUNK) + 1);
  }

  /**
   * The sink a host's parts emit through: every event it takes names the host. One port per host
   * name (asking again gives the same port).
   */
  port(hostName: string): TracePort {
    let p = this.ports.get(hostName);
    if (!p) {
      if (this.hostNames.length > 0x7fff) throw new RangeError('too many hosts in one trace');
      p = new TracePort(this, hostName, this.hostNames.length);
      this.hostNames.push(hostName);
      this.ports.set(hostName, p);
    }
    return p;
  }

  /** A world-wide event (no host). */
  emit(layer: Layer, name: string, args: Lazy<Record<string, ArgValue>>, text: Lazy<string>, ctx: EventContext = {}): void {
    this.emitAt(0, ctx.vm ?? null, layer, name, args, text, ctx);
  }

  /** emit() for one VM's event (its name apart from the context, which then needs no copy). */
  emitFor(vm: string | null, layer: Layer, name: string, args: Lazy<Record<string, ArgValue>>, text: Lazy<string>, ctx: EventContext = {}): void {
    this.emitAt(0, vm, layer, name, args, text, ctx);
  }

  /** emitFor() on host `host` (an index from port(); 0: world-wide). */
  emitAt(host: number, vm: string | null, layer: Layer, name: string, args: Lazy<Record<string, ArgValue>>, text: Lazy<string>, ctx: EventContext = {}): void {
    if (this.muted > 0 || this.replayMuted) return;
    const g = ctx.gfns;
    let g0 = g ? g[0] : 0;
    let gn = g ? g[1] : 0;
    // A range given in bytes / 4 KiB (a table not page-aligned): the whole pages it touches.
    if (!Number.isInteger(g0) || !Number.isInteger(gn)) {
      const first = Math.floor(g0);
      gn = gn > 0 ? Math.max(1, Math.ceil(g0 + gn) - first) : 0;
      g0 = first;
    }
    const i = this.slot(host, vm, ctx.vcpu ?? -1, g0, gn);
    const chunk = this.cur!;
    chunk.kind[i] = OBJECT;
    chunk.objs[i] = { args, text, layer, name };
    this.notify();
  }

  /** A hot event: its kind and numbers only (see EventKind). World-wide; a host records through its port. */
  record(kind: EventKind, vm: string | null, vcpu: number, gfn: number, gfnCount: number, a: number, b = 0, c = 0): void {
    this.recordAt(0, kind, vm, vcpu, gfn, gfnCount, a, b, c);
  }

  /** record() on host `host` (an index from port()). */
  recordAt(host: number, kind: EventKind, vm: string | null, vcpu: number, gfn: number, gfnCount: number, a: number, b = 0, c = 0): void {
    if (this.muted > 0 || this.replayMuted) return;
    const i = this.slot(host, vm, vcpu, gfn, gfnCount);
    const chunk = this.cur!;
    chunk.kind[i] = kind.id;
    chunk.a[i] = a;
    chunk.b[i] = b;
    chunk.c[i] = c;
    this.notify();
  }

  /** The next event's index in the current chunk (`cur`), with its common columns filled. */
  private slot(host: number, vm: string | null, vcpu: number, g0: number, gn: number): number {
    const seq = this.seq++;
    const i = seq & (CHUNK - 1);
    if (i === 0) this.addChunk();
    const chunk = this.cur!;
    let v = this.lastIndex;
    if (vm !== this.lastName) {
      v = this.nameIndex.get(vm) ?? this.addName(vm!);
      this.lastName = vm;
      this.lastIndex = v;
    }
    chunk.t[i] = this.now();
    chunk.host[i] = host;
    chunk.vm[i] = v;
    chunk.vcpu[i] = vcpu;
    chunk.g0[i] = g0;
    chunk.gn[i] = gn;
    return i;
  }

  private addName(vm: string): number {
    const v = this.names.length;
    this.names.push(vm);
    this.nameIndex.set(vm, v);
    return v;
  }

  /** A new chunk at the end; past the limit, the oldest is dropped and reused. */
  private addChunk(): void {
    let c: Chunk;
    if (this.chunks.length < this.maxChunks) c = this.freshChunk();
    else {
      const old = this.chunks.shift()!;
      this.firstChunk++;
      if (!old.frozen) {
        c = old;
        c.objs.fill(undefined);
      } else {
        // Shared with saved states: written again only once none holds it.
        this.drop(old);
        c = this.freshChunk();
      }
    }
    this.chunks.push(c);
    this.cur = c;
  }

  /** Frozen chunks written again after no saved state held them any more (for tests and the bench). */
  reusedChunks = 0;

  /** A chunk to write on: a spare one, or a new one. */
  private freshChunk(): Chunk {
    const c = this.spare.pop();
    if (!c) return new Chunk();
    if (c.frozen) this.reusedChunks++;
    c.reset();
    return c;
  }

  /** A chunk leaves the ring: spare if no saved state holds it, else retired until one is released. */
  private drop(c: Chunk): void {
    if (!c.frozen) this.spare.push(c);
    else if (c.single && this.reusable?.(c.buffer)) this.spare.push(c);
    else if (c.single && this.reusable) this.retired.set(c.buffer, c);
  }

  /** The saved states' owner says no state holds `b` any more: a retired chunk on it may be reused. */
  release(b: ArrayBufferLike): void {
    const c = this.retired.get(b);
    if (!c || this.chunks.some((x) => x.buffer === b)) return;
    this.retired.delete(b);
    this.spare.push(c);
  }

  private notify(): void {
    if (this.listeners.length === 0) return;
    const e = this.at(this.seq - 1)!;
    for (const l of this.listeners) l(e);
  }

  subscribe(l: EventListener): () => void {
    this.listeners.push(l);
    return () => {
      this.listeners = this.listeners.filter((x) => x !== l);
    };
  }

  /**
   * Mute or unmute recording: while an instruction that exited to user space runs again to take
   * user space's answer, what it already traced is not traced twice.
   */
  setMuted(on: boolean): void {
    this.replayMuted = on;
  }

  /** Run fn without recording events. */
  quietly<T>(fn: () => T): T {
    this.muted++;
    try {
      return fn();
    } finally {
      this.muted--;
    }
  }

  /** Events recorded so far (the next event's seq). */
  get count(): number {
    return this.seq;
  }

  /** The oldest kept event's seq (= count when none is kept). */
  get first(): number {
    return this.chunks.length ? this.firstChunk * CHUNK : this.seq;
  }

  /** How many events are kept. */
  get size(): number {
    return this.seq - this.first;
  }

  /** Event `seq` as a plain object, or undefined when it is not kept. */
  at(seq: number): SimEvent | undefined {
    if (seq < this.first || seq >= this.seq) return undefined;
    const chunk = this.chunks[(seq >>> CHUNK_BITS) - this.firstChunk];
    const i = seq & (CHUNK - 1);
    const v = chunk.vcpu[i];
    const e: SimEvent = { seq, t: chunk.t[i], host: this.hostNames[chunk.host[i]], vm: this.names[chunk.vm[i]], vcpu: v < 0 ? null : v, layer: 'host', name: '', args: {}, text: '' };
    const k = chunk.kind[i];
    if (k === OBJECT) {
      const o = chunk.objs[i]!;
      if (typeof o.args === 'function') o.args = o.args();
      if (typeof o.text === 'function') o.text = o.text();
      e.layer = o.layer;
      e.name = o.name;
      e.args = o.args;
      e.text = o.text;
    } else {
      const kind = KINDS[k];
      const m = kind.make(chunk.a[i], chunk.b[i], chunk.c[i]);
      e.layer = kind.layer;
      e.name = kind.name;
      e.args = m.args;
      e.text = m.text;
    }
    if (chunk.gn[i] > 0) e.gfns = [chunk.g0[i], chunk.gn[i]];
    return e;
  }

  /** Event `seq`'s name, without making its arguments or sentence (undefined when not kept). */
  nameAt(seq: number): string | undefined {
    if (seq < this.first || seq >= this.seq) return undefined;
    const chunk = this.chunks[(seq >>> CHUNK_BITS) - this.firstChunk];
    const i = seq & (CHUNK - 1);
    const k = chunk.kind[i];
    return k === OBJECT ? chunk.objs[i]!.name : KINDS[k].name;
  }

  /** The kept events with from <= seq < to, oldest first, as plain objects. */
  range(from: number, to: number): SimEvent[] {
    const out: SimEvent[] = [];
    for (let s = Math.max(from, this.first), end = Math.min(to, this.seq); s < end; s++) out.push(this.at(s)!);
    return out;
  }

  /** The newest event, if one is kept. */
  last(): SimEvent | undefined {
    return this.at(this.seq - 1);
  }

  /** The newest event that touched guest pages, among the newest `within` events (read from the columns). */
  lastTouching(within = 4096): SimEvent | undefined {
    for (let seq = this.seq - 1; seq >= Math.max(this.first, this.seq - within); seq--) {
      const chunk = this.chunks[(seq >>> CHUNK_BITS) - this.firstChunk];
      if (chunk.gn[seq & (CHUNK - 1)] > 0) return this.at(seq);
    }
    return undefined;
  }

  /** Every kept event, oldest first: made anew at each call (for tests and reports, not hot paths). */
  get events(): SimEvent[] {
    return this.range(this.first, this.seq);
  }

  /**
   * Saved state: the kept events (their columns as copies; object events with their args and
   * sentence made, since a closure is not data), the counters and the VM name table. Listeners are
   * the reader's, not the trace's: they stay as they are.
   */
  saveState(): TraceState {
    const chunks = this.chunks.map((c): ChunkState => {
      const n = c === this.cur ? ((this.seq - 1) & (CHUNK - 1)) + 1 : CHUNK;
      const full = n === CHUNK && c !== this.cur;
      if (full && c.savedObjs) return { t: c.t, kind: c.kind, host: c.host, vm: c.vm, vcpu: c.vcpu, g0: c.g0, gn: c.gn, a: c.a, b: c.b, c: c.c, objs: c.savedObjs };
      const objs: (StoredEvent | null)[] = [];
      for (let i = 0; i < n; i++) {
        const o = c.objs[i];
        if (o && typeof o.args === 'function') o.args = o.args();
        if (o && typeof o.text === 'function') o.text = o.text();
        objs.push(o ? { layer: o.layer, name: o.name, args: o.args, text: o.text } : null);
      }
      if (full) {
        // A full chunk is never written again: the state shares its columns (see Chunk.frozen).
        c.frozen = true;
        c.savedObjs = objs;
        return { t: c.t, kind: c.kind, host: c.host, vm: c.vm, vcpu: c.vcpu, g0: c.g0, gn: c.gn, a: c.a, b: c.b, c: c.c, objs };
      }
      return {
        t: c.t.slice(0, n), kind: c.kind.slice(0, n), host: c.host.slice(0, n), vm: c.vm.slice(0, n), vcpu: c.vcpu.slice(0, n), g0: c.g0.slice(0, n),
        gn: c.gn.slice(0, n), a: c.a.slice(0, n), b: c.b.slice(0, n), c: c.c.slice(0, n), objs,
      };
    });
    return {
      seq: this.seq, firstChunk: this.firstChunk, maxChunks: this.maxChunks, muted: this.muted, replayMuted: this.replayMuted,
      names: [...this.names], hostNames: [...this.hostNames], chunks,
    };
  }

  loadState(s: TraceState): void {
    if (s.maxChunks !== this.maxChunks) throw new Error(`state: a trace keeping ${s.maxChunks} chunks cannot load into one keeping ${this.maxChunks}`);
    // The ports belong to the hosts' parts, which keep their host's index: the hosts must be the same.
    if (s.hostNames.join('\n') !== this.hostNames.join('\n'))
      throw new Error(`state: a trace of hosts ${s.hostNames.slice(1).join(', ')} cannot load into one of hosts ${this.hostNames.slice(1).join(', ')}`);
    this.seq = s.seq;
    this.firstChunk = s.firstChunk;
    this.muted = s.muted;
    this.replayMuted = s.replayMuted;
    this.names.length = 0;
    this.nameIndex.clear();
    s.names.forEach((n, i) => {
      this.names.push(n);
      this.nameIndex.set(n, i);
    });
    this.lastName = null;
    this.lastIndex = 0;
    // The saved full chunks come back into the ring (no longer retired or spare); the ring's chunks
    // that do not leave it (see drop).
    const adopted = new Set(s.chunks.map((sc) => sc.t.buffer));
    for (const b of adopted) this.retired.delete(b);
    for (let i = this.spare.length - 1; i >= 0; i--) if (adopted.has(this.spare[i].buffer)) this.spare.splice(i, 1);
    for (const c of this.chunks) if (!adopted.has(c.buffer)) this.drop(c);
    this.chunks = s.chunks.map((sc, k) => {
      // A saved full chunk (not the last, which is written on) is adopted as it is: never written again.
      if (sc.t.length === CHUNK && k < s.chunks.length - 1) return new Chunk(sc);
      const c = this.freshChunk();
      c.t.set(sc.t);
      c.kind.set(sc.kind);
      c.host.set(sc.host);
      c.vm.set(sc.vm);
      c.vcpu.set(sc.vcpu);
      c.g0.set(sc.g0);
      c.gn.set(sc.gn);
      c.a.set(sc.a);
      c.b.set(sc.b);
      c.c.set(sc.c);
      sc.objs.forEach((o, i) => {
        c.objs[i] = o ? { ...o } : undefined;
      });
      return c;
    });
    this.cur = this.chunks.length ? this.chunks[this.chunks.length - 1] : null;
  }
}

/** A trace's saved state (Trace.saveState). */
export interface TraceState {
  seq: number;
  firstChunk: number;
  maxChunks: number;
  muted: number;
  replayMuted: boolean;
  names: (string | null)[];
  hostNames: (string | null)[];
  chunks: ChunkState[];
}

/** One chunk of a saved trace: a full one (but the last) shares the trace's columns, which are never written again. */
interface ChunkState {
  t: Float64Array; kind: Int16Array; host: Int16Array; vm: Int16Array; vcpu: Int16Array; g0: Float64Array; gn: Float64Array;
  a: Float64Array; b: Float64Array; c: Float64Array; objs: (StoredEvent | null)[];
}
