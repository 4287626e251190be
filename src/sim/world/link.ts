import type { Actor } from '../core/actor';
import { type Clock, wireTimeNs } from '../core/clock';
import type { ArgValue } from '../core/trace';
import { formatSize } from '../core/units';

export interface LinkSpec {
  name: string;
  /** Host names at both ends. */
  from: string;
  to: string;
  /** Bytes per virtual second. */
  bandwidth: number;
  /** One-way latency in virtual ns. */
  latency: number;
}

export type TransferState = 'in-flight' | 'delivered' | 'failed';

/**
 * Which connection over the link a transfer uses. `main` is the migration stream (one TCP
 * connection: its transfers go on the wire one after another). `preempt` is a second connection in
 * the same direction (QEMU's postcopy-preempt channel): its transfers do not wait behind queued
 * `main` data; they share the wire with it, so the `main` bytes not yet on the wire are pushed back
 * by as long as the urgent bytes take. `return` goes the other way (the return path, destination to
 * source): a full-duplex link carries it without touching the forward queue.
 */
export type Lane = 'main' | 'preempt' | 'return';

/** One message on a link: what the sender holds to learn how it went. */
export interface Transfer {
  readonly id: number;
  readonly label: string;
  readonly bytes: number;
  readonly sentAt: number;
  /** When the last byte arrives (if the link stays up). */
  /** When the last byte arrives (if the link stays up); an urgent transfer on the preempt lane can push it back. */
  deliverAt: number;
  state: TransferState;
  /** When it was delivered or failed. */
  endedAt: number | null;
  /** Why it failed: the link was down when it was sent, or was cut while it was in flight. */
  failure?: 'link-down' | 'cut';
  /** The connection it went on (absent: main). */
  lane?: Lane;
}

/**
 * Who learns how a transfer went, as data (a snapshot keeps a transfer in flight with it): a kind
 * from the link's `handlers` table, which the sender's owner fills, and its arguments (an id the
 * owner resolves: a migration's page batch, a step's request).
 */
export interface TransferDone {
  kind: string;
  args: Record<string, string | number | boolean>;
}

export type TransferHandler = (t: Transfer, args: TransferDone['args']) => void;

/** How a link reports its events (the trace's `link` layer). */
export type LinkEmit = (name: string, args: Record<string, ArgValue>, text: string) => void;

/**
 * A network link between two hosts (the migration channel). Transfers are asynchronous: `send`
 * starts one, it is in flight, and the link's actor delivers it at
 *
 *     deliverAt = start + ceil(bytes × 10⁹ / bandwidth) + latency        (core/clock.ts wireTimeNs)
 *
 * where `start` is when the link is free: transfers go on the wire one after another, as on one TCP
 * connection, so a second message waits for the first one's bytes. Cutting the link fails every
 * transfer in flight at once (the sender learns it through the transfer's state and its callback);
 * a send on a cut link fails at once. Every change emits one event in the `link` layer.
 */
export class Link implements Actor {
  /** Wiring the world makes again: how it emits, and what each TransferDone kind means. */
  static readonly stateSkip: readonly string[] = ['emit', 'handlers'];
  readonly kind = 'link';
  state: 'up' | 'down' = 'up';
  /** What a transfer's `done` kinds mean (the owners of senders register theirs). */
  readonly handlers = new Map<string, TransferHandler>();
  /** Transfers in flight, in delivery order. */
  private readonly flight: { t: Transfer; done?: TransferDone }[] = [];
  /** When the wire is free for the next transfer's first byte (main lane; preempt and return have their own). */
  private busyUntil = 0;
  private busyPreempt = 0;
  private busyReturn = 0;
  private nextId = 1;
  readonly stats = { bytesDelivered: 0, delivered: 0, failed: 0, cuts: 0 };

  constructor(
    readonly spec: LinkSpec,
    private readonly clock: Clock,
    private readonly emit: LinkEmit,
    readonly order: readonly number[] = [],
  ) {
    if (!(spec.bandwidth > 0) || !Number.isFinite(spec.bandwidth)) throw new RangeError(`link "${spec.name}": bandwidth must be a positive number of bytes per second, not ${spec.bandwidth}`);
    if (!(spec.latency >= 0) || !Number.isFinite(spec.latency)) throw new RangeError(`link "${spec.name}": latency must be ≥ 0 ns, not ${spec.latency}`);
  }

  get name(): string {
    return this.spec.name;
  }

  get from(): string {
    return this.spec.from;
  }

  get to(): string {
    return this.spec.to;
  }

  get bandwidth(): number {
    return this.spec.bandwidth;
  }

  get latency(): number {
    return this.spec.latency;
  }

  get inFlight(): readonly Transfer[] {
    return this.flight.map((f) => f.t);
  }

  /**
   * Start sending `bytes` on `lane` (default main); the handler `done` names is called when it is
   * delivered or fails.
   */
  send(bytes: number, label = 'data', done?: TransferDone, lane: Lane = 'main'): Transfer {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`link "${this.name}": cannot send ${bytes} bytes`);
    if (done && !this.handlers.has(done.kind))
      throw new Error(`link "${this.name}": no handler "${done.kind}" for a transfer's end (handlers: ${[...this.handlers.keys()].join(', ') || 'none'})`);
    const now = this.clock.now;
    const s = this.spec;
    const busy = lane === 'main' ? this.busyUntil : lane === 'preempt' ? this.busyPreempt : this.busyReturn;
    const start = Math.max(now, busy);
    const wire = wireTimeNs(bytes, s.bandwidth);
    const t: Transfer = { id: this.nextId++, label, bytes, sentAt: now, deliverAt: start + wire + s.latency, state: 'in-flight', endedAt: null, ...(lane !== 'main' ? { lane } : {}) };
    if (this.state === 'down') {
      t.state = 'failed';
      t.failure = 'link-down';
      t.endedAt = now;
      this.stats.failed++;
      this.emit('link_send', { link: s.name, id: t.id, label, bytes, result: 'failed' },
        `${s.from} cannot send ${formatSize(bytes)} (${label}) to ${s.to}: link ${s.name} is down, so the send fails at once.`);
      this.notify(t, done);
      return t;
    }
    if (lane === 'main') this.busyUntil = start + wire;
    else if (lane === 'return') this.busyReturn = start + wire;
    else {
      this.busyPreempt = start + wire;
      // The urgent bytes share the wire: main-lane bytes not yet sent at `start` go out `wire` ns later.
      let pushed = 0;
      for (const f of this.flight)
        if ((f.t.lane ?? 'main') === 'main' && f.t.deliverAt - s.latency > start) {
          f.t.deliverAt += wire;
          pushed++;
        }
      if (this.busyUntil > start) this.busyUntil += wire;
      if (pushed) this.flight.sort((a, b) => a.t.deliverAt - b.t.deliverAt || a.t.id - b.t.id);
    }
    this.insert({ t, done });
    const [a, b] = lane === 'return' ? [s.to, s.from] : [s.from, s.to];
    const via = lane === 'main' ? '' : lane === 'preempt' ? ' on its preempt channel' : ' on the return path';
    this.emit('link_send', { link: s.name, id: t.id, label, bytes, deliver_at: t.deliverAt, ...(lane !== 'main' ? { lane } : {}) },
      `${a} sends ${formatSize(bytes)} (${label}) to ${b} over link ${s.name}${via}: ${wire} ns on the wire${start > now ? ` after ${start - now} ns queued behind earlier data` : ''} plus ${s.latency} ns latency, so it arrives at ${t.deliverAt} ns.`);
    return t;
  }

  /** Keep the transfers in flight in delivery order (ties: sent first, delivered first). */
  private insert(f: { t: Transfer; done?: TransferDone }): void {
    const q = this.flight;
    let i = q.length;
    while (i > 0 && q[i - 1].t.deliverAt > f.t.deliverAt) i--;
    q.splice(i, 0, f);
  }

  /** The link goes down: every transfer in flight fails now. */
  cut(why = 'cut'): void {
    if (this.state === 'down') return;
    const now = this.clock.now;
    this.state = 'down';
    this.stats.cuts++;
    const lost = this.flight.splice(0);
    this.busyUntil = now;
    this.busyPreempt = now;
    this.busyReturn = now;
    this.emit('link_down', { link: this.name, why, failed: lost.length },
      `Link ${this.name} between ${this.spec.from} and ${this.spec.to} goes down (${why})${lost.length ? `: ${lost.length} transfer(s) in flight fail and their senders learn it` : ''}.`);
    for (const f of lost) {
      f.t.state = 'failed';
      f.t.failure = 'cut';
      f.t.endedAt = now;
      this.stats.failed++;
      this.emit('link_transfer_failed', { link: this.name, id: f.t.id, label: f.t.label, bytes: f.t.bytes },
        `Transfer ${f.t.id} (${f.t.label}, ${formatSize(f.t.bytes)}) on link ${this.name} fails: the link went down before it arrived.`);
      this.notify(f.t, f.done);
    }
  }

  private notify(t: Transfer, done: TransferDone | undefined): void {
    if (done) this.handlers.get(done.kind)!(t, done.args);
  }

  /** The link comes back up; new sends go through (nothing lost is resent by the link). */
  restore(): void {
    if (this.state === 'up') return;
    this.state = 'up';
    this.busyUntil = Math.max(this.busyUntil, this.clock.now);
    this.busyPreempt = Math.max(this.busyPreempt, this.clock.now);
    this.busyReturn = Math.max(this.busyReturn, this.clock.now);
    this.emit('link_up', { link: this.name }, `Link ${this.name} between ${this.spec.from} and ${this.spec.to} is up again.`);
  }

  readyAt(): number | null {
    return this.flight.length ? this.flight[0].t.deliverAt : null;
  }

  /** Deliver every transfer due by `now`. */
  act(now: number): void {
    while (this.flight.length && this.flight[0].t.deliverAt <= now) {
      const f = this.flight.shift()!;
      f.t.state = 'delivered';
      f.t.endedAt = now;
      this.stats.delivered++;
      this.stats.bytesDelivered += f.t.bytes;
      this.emit('link_delivered', { link: this.name, id: f.t.id, label: f.t.label, bytes: f.t.bytes },
        `${f.t.lane === 'return' ? this.spec.from : this.spec.to} receives transfer ${f.t.id} (${f.t.label}, ${formatSize(f.t.bytes)}) over link ${this.name}, ${now - f.t.sentAt} ns after it was sent.`);
      this.notify(f.t, f.done);
    }
  }
}
