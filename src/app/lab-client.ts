/**
 * The main thread's handle on the lab worker: starts it, forwards frames to the store (at most one
 * per display frame), and restarts it with the same scenario if it dies.
 */
import * as Comlink from 'comlink';
import type { CommandResult, FramePacket, LabApi, LoadResult, MomentInput, SeekResult, StepKind, VmRef, WirePacket } from '../worker/protocol';
import type { LabState, LabStore } from './store';
import { findVm, refOf, sameVm, vmKey } from './vm-ref';

/** While the guest runs, the text panels (trace, registers, console, lesson bar) refresh this often. */
const PANEL_MS = 250;
/** How often the watchdog asks the worker whether it is there. */
const PING_MS = 1000;
/**
 * A worker that has not answered for this long is taken for gone (it closed itself, ran out of
 * memory, or is stuck): the page says so and offers the restart. The play loop answers within a
 * display frame; only a long single operation (a seek far back, a whole step of millions of
 * instructions) takes seconds, and then the message goes away when the answer comes.
 */
export const STALL_MS = 5000;

export class LabClient {
  private worker: Worker | null = null;
  private api: Comlink.Remote<LabApi> | null = null;
  private latest: FramePacket | null = null;
  private raf = 0;
  private lastPanels = 0;
  private trailing = 0;
  /** The arrays last received, by VM (host and name) and by host: a packet that leaves one out still has it. */
  private readonly arrays = new Map<string, Uint8Array>();
  /** Workers started: a new worker numbers its runs from 0 again, so runs are told apart by this too. */
  private workers = 0;
  private watchdog = 0;
  /** When the unanswered ping was sent (0: none out). */
  private pingSent = 0;
  /** The page says the worker stopped answering (cleared if it answers after all). */
  private stalled = false;

  constructor(private readonly store: LabStore) {}

  start(): void {
    this.stop();
    this.arrays.clear();
    const worker = ++this.workers;
    const w = new Worker(new URL('../worker/lab.worker.ts', import.meta.url), { type: 'module', name: 'lab' });
    w.addEventListener('error', (e) => this.crashed(e.message || 'the lab worker stopped'));
    w.addEventListener('messageerror', () => this.crashed('a message from the lab worker could not be read'));
    this.worker = w;
    this.api = Comlink.wrap<LabApi>(w);
    void this.api.subscribe(Comlink.proxy((p: WirePacket) => this.onFrame(completePacket(p, this.arrays, worker * 2 ** 32 + p.run))));
    this.store.setState({ status: 'ready', crashMessage: null });
    this.pingSent = 0;
    this.stalled = false;
    this.watchdog = window.setInterval(() => this.watch(), PING_MS);
  }

  /**
   * The watchdog: a worker that closed itself fires no error event and answers nothing, so every
   * button would do nothing, silently. One ping at a time; one unanswered for STALL_MS says so.
   */
  private watch(): void {
    const api = this.api;
    if (!api) return;
    const now = performance.now();
    if (this.pingSent) {
      if (!this.stalled && now - this.pingSent > STALL_MS && this.store.getState().status !== 'crashed') {
        this.stalled = true;
        this.crashed(`the lab worker has not answered for ${Math.round((now - this.pingSent) / 1000)} seconds (it closed, ran out of memory or is stuck)`);
      }
      return;
    }
    this.pingSent = now;
    api.ping().then(() => {
      if (this.api !== api) return;
      this.pingSent = 0;
      if (this.stalled) {
        // It was only busy: the message goes, the lab goes on.
        this.stalled = false;
        this.store.setState({ status: 'ready', crashMessage: null });
      }
    }, () => undefined);
  }

  stop(): void {
    clearInterval(this.watchdog);
    this.watchdog = 0;
    cancelAnimationFrame(this.raf);
    clearTimeout(this.trailing);
    this.raf = 0;
    this.trailing = 0;
    this.api?.[Comlink.releaseProxy]();
    this.worker?.terminate();
    this.worker = null;
    this.api = null;
  }

  private crashed(message: string): void {
    this.store.setState({ status: 'crashed', crashMessage: message, packet: this.store.getState().packet });
  }

  private onFrame(p: FramePacket): void {
    // A frame not yet applied is replaced by this one: what it said had changed, this one says too.
    if (this.raf && this.latest) mergeDirty(this.latest, p);
    this.latest = p;
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      const next = this.latest;
      if (!next) return;
      const now = performance.now();
      // The text panels follow at PANEL_MS while the guest runs, at once when it stops.
      if (!next.playing || now - this.lastPanels >= PANEL_MS) {
        this.lastPanels = now;
        // This is the panels' update: a trailing one still pending would follow it within a frame or two.
        clearTimeout(this.trailing);
        this.trailing = 0;
        this.store.setState((s) => ({ packet: next, live: next, ...focusFor(s, next) }));
      } else {
        this.store.setState({ live: next });
        if (!this.trailing) this.trailing = window.setTimeout(() => this.flushPanels(), PANEL_MS);
      }
      // Flow control: the worker sends the next frame of a running guest only after this answer.
      this.api?.applied(next.n).catch(() => undefined);
    });
  }

  /** The last frame reaches the panels even when no newer one comes. */
  private flushPanels(): void {
    this.trailing = 0;
    const live = this.store.getState().live;
    if (live && live !== this.store.getState().packet) {
      this.lastPanels = performance.now();
      this.store.setState({ packet: live });
    }
  }

  private call<T>(f: (api: Comlink.Remote<LabApi>) => Promise<T>): Promise<T | undefined> {
    if (!this.api) return Promise.resolve(undefined);
    return f(this.api).catch((e: unknown) => {
      this.crashed(e instanceof Error ? e.message : String(e));
      return undefined;
    });
  }

  /**
   * Load a scenario, at a moment if given (a link's commands and event); on success it becomes the
   * store's scenario, on failure nothing changes. A moment that cannot be reached leaves the lesson
   * at its start, with the reason in the store's loadIssues (as a link's problem).
   */
  async load(scenario: unknown, source: string, moment?: MomentInput): Promise<boolean> {
    const r = await this.call<LoadResult>((a) => a.load(scenario, moment));
    if (!r) return false;
    if (!r.ok) {
      this.store.setState({ loadIssues: r.issues });
      return false;
    }
    // The focus follows the first frame of the new scenario (focusFor).
    this.store.setState({
      loadIssues: r.momentIssues ? r.momentIssues.map((i) => ({ path: 'URL', message: `the moment could not be reached (${i.path}: ${i.message}); showing the lesson's start instead` })) : null,
      scenario, source, selection: null, hover: null, selectedEvent: null, selectedFrame: null, focusVm: null, focusHost: null, compareHost: null,
    });
    if (r.event !== undefined) await this.select(r.event);
    return true;
  }

  /**
   * Restart the worker (after a crash) and reload the current scenario, at its start: replaying to
   * the moment shown could meet whatever stopped the worker again.
   */
  async restart(): Promise<void> {
    this.start();
    const s = this.store.getState().scenario;
    if (s) await this.load(s, this.store.getState().source);
  }

  /** Go to the moment right after event `event` (time travel), and select that event. */
  async seek(event: number): Promise<void> {
    const r = await this.call<SeekResult>((a) => a.seek(event));
    if (!r) return;
    if (!r.ok) {
      this.store.setState({ loadIssues: r.issues });
      return;
    }
    await this.select(r.event);
  }

  /** Step back one instruction, or to the previous event, exit or scenario step. */
  async stepBack(kind: StepKind): Promise<void> {
    const r = await this.call((a) => a.stepBack(kind));
    // A selected event the machine has not reached any more is no longer selected.
    const sel = this.store.getState().selectedEvent;
    if (r && sel && sel.seq >= r.events) this.store.setState({ selectedEvent: null });
  }

  /** Select event `seq` in the trace (and its pages in the maps). */
  private async select(seq: number): Promise<void> {
    const [e] = (await this.events(seq, seq + 1)) ?? [];
    if (e && e.seq === seq) this.store.setState({ selectedEvent: { seq, host: e.host, vm: e.vm, gfns: e.gfns ?? null } });
  }

  /** Run freely: on at the store's speed until paused or the scenario ends. */
  play(): Promise<void | undefined> {
    return this.call((a) => a.play(this.store.getState().speed, 'free'));
  }
  /** The lesson's pace: run the step in progress (or the next one) as fast as the worker can, and stop at its end. */
  playStep(): Promise<void | undefined> {
    return this.call((a) => a.play(this.store.getState().speed, 'step'));
  }
  pause(): Promise<void | undefined> {
    return this.call((a) => a.pause());
  }
  setSpeed(speed: number): Promise<void | undefined> {
    this.store.setState({ speed });
    return this.call((a) => a.setSpeed(speed));
  }
  step(kind: StepKind): Promise<void | undefined> {
    return this.call((a) => a.step(kind));
  }
  reset(): Promise<void | undefined> {
    return this.call((a) => a.restart());
  }
  command(step: unknown) {
    return this.call<CommandResult>((a) => a.command(step));
  }
  walk(vm: VmRef, gpa: number) {
    return this.call((a) => a.walk(vm, gpa));
  }
  vmmMappings(vm: VmRef) {
    return this.call((a) => a.vmmMappings(vm));
  }
  /** Recorded events numbered [from, to) (the trace panel fills what frames did not carry). */
  events(from: number, to: number) {
    return this.call((a) => a.events(from, to));
  }
  /** The report of the run so far as the CLI prints it (undefined without a worker, null before a load). */
  report() {
    return this.call((a) => a.report());
  }
  /** The attack-surface view of one VM (null for an unknown VM). */
  attackSurface(vm: VmRef) {
    return this.call((a) => a.attackSurface(vm));
  }
  frameInfo(host: string, frame: number) {
    return this.call((a) => a.frameInfo(host, frame));
  }
  diagnose(source: string, origin: number) {
    return this.call((a) => a.diagnose(source, origin));
  }
  crashForTest() {
    return this.call((a) => a.crashForTest());
  }
  closeForTest() {
    return this.call((a) => a.closeForTest());
  }
  info() {
    return this.call((a) => a.info());
  }
}

/**
 * The focused VM once a frame arrives: kept while the frame still has it, else the frame's first VM
 * (a new scenario starts with none). Returns only what changes.
 */
export function focusFor(s: Pick<LabState, 'focusVm'>, p: FramePacket): Partial<LabState> {
  if (s.focusVm && findVm(p.frame, s.focusVm)) return {};
  const first = p.frame.vms[0];
  return first ? { focusVm: refOf(first) } : s.focusVm ? { focusVm: null } : {};
}

/**
 * The packet with every array: one the worker left out (unchanged since it sent it) is the one
 * received last, kept in `arrays` (by VM, its host and name, and by host), so unchanged arrays stay
 * the same objects. `run` is the run told apart from other workers' (FramePacket.run).
 */
export function completePacket(w: WirePacket, arrays: Map<string, Uint8Array>, run = w.run): FramePacket {
  const keep = (key: string, a: Uint8Array | undefined): Uint8Array => {
    if (a) arrays.set(key, a);
    return a ?? arrays.get(key) ?? new Uint8Array(0);
  };
  return {
    ...w,
    run,
    pages: w.pages.map((p) => ({ ...p, states: keep(`vm:${vmKey(p)}`, p.states) })),
    hosts: w.hosts.map((h) => ({ ...h, owners: keep(`host:${h.host}`, h.owners) })),
    migrationPages: (w.migrationPages ?? []).map((m) => ({ ...m, src: keep(`mig:${m.id}:src`, m.src), dst: keep(`mig:${m.id}:dst`, m.dst) })),
  };
}

/** Widen `newer`'s changed-GFN ranges to cover `older`'s (which will not be applied). */
export function mergeDirty(older: FramePacket, newer: FramePacket): void {
  for (const page of newer.pages) {
    const o = older.pages.find((x) => sameVm(x, page));
    if (!o || !o.dirty || !page.dirty) {
      page.dirty = undefined;
      continue;
    }
    const [a, b] = o.dirty;
    const [c, d] = page.dirty;
    page.dirty = a === b ? [c, d] : c === d ? [a, b] : [Math.min(a, c), Math.max(b, d)];
  }
  for (const m of newer.migrationPages ?? []) {
    const o = older.migrationPages?.find((x) => x.id === m.id);
    if (!o || !o.dirty || !m.dirty) {
      m.dirty = undefined;
      continue;
    }
    const [a, b] = o.dirty;
    const [c, d] = m.dirty;
    m.dirty = a === b ? [c, d] : c === d ? [a, b] : [Math.min(a, c), Math.max(b, d)];
  }
}
