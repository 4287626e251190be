/// <reference lib="webworker" />
/**
 * The lab worker: owns the Lab (the simulated machine) and publishes frames, at most one per display
 * frame. The main thread never runs the simulation.
 */
import * as Comlink from 'comlink';
import { Lab, snapshotKeyframes } from '../sim/lab';
import { reportJson } from '../sim/scenario/report-json';
import { ScenarioError, type ScenarioIssue } from '../sim/scenario/schema';
import type { CommandResult, FramePacket, LabApi, LoadResult, MomentInput, Pace, SeekResult, StepKind, VmRef, WirePacket } from './protocol';

const FRAME_MS = 16;
/** Time the play loop spends simulating per tick, leaving the worker responsive to RPCs. */
const SLICE_MS = 8;
/**
 * The share of one core the play loop may take. With two cores or fewer, the simulation running
 * flat out (with the garbage collector's helper threads that its allocations wake) leaves the page
 * too little for its own work: the main thread, the compositor and the raster threads then miss
 * display frames. There, the loop rests as long as it ran after each slice.
 */
const DUTY = (typeof navigator !== 'undefined' && navigator.hardwareConcurrency > 2) ? 1 : 0.5;
/** Instructions per Lab.advance() call inside a tick. */
const CHUNK = 2000;
/**
 * Events a frame carries while the guest plays (the newest; a stopped guest's frame carries up to
 * Lab's MAX_NEW_EVENTS). The trace panel redraws a few times a second and shows a screenful, and a
 * fast guest records a million events a second: receiving 250 of them at every display frame cost
 * the page about as much as drawing it. The trace panel fetches the rest when the guest pauses.
 */
const PLAYING_EVENTS = 48;

let lab: Lab | null = null;
let scenario: unknown = null;
let listener: ((p: WirePacket) => void) | null = null;
let playing = false;
let speed = 5000;
let pace: Pace = 'free';
/** With pace 'step': the scenario step play runs; it stops when the lab has gone past it. */
let paceStep = 0;
let frameNo = 0;
/** FramePacket.run: bumped with every new Lab. */
let run = 0;
/** The newest event seq already published (frames carry what came after). */
let lastSeq = -1;
let lastPublish = 0;
let pending = false;
/**
 * Flow control: the newest frame number the page has applied. While the guest plays, a frame is
 * published only when the page took the previous one, so no frame is built, cloned and received
 * only to be dropped unseen (a page that cannot keep up gets fewer frames, not a backlog).
 */
let applied = -1;
/** A frame was due while the page still had the previous one: publish when it answers. */
let owed = false;
const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;

/** step('step') calls waiting for the play they started to stop: at the step's end, a pause, a load, a seek, an error. */
const playWaiters: (() => void)[] = [];

/** Stop playing, and answer the step('step') calls that wait for it. */
function stop(): void {
  playing = false;
  for (const w of playWaiters.splice(0)) w();
}

/** Reused arrays (SharedArrayBuffer-backed when isolated), keyed by vmKey() and hostKey(). */
const arrays = new Map<string, Uint8Array>();
/** What each array was last computed from: recomputing a 1M-page map is skipped when nothing changed. */
const versions = new Map<string, string>();
/** Without shared arrays: the version of each array last transferred (the page keeps that copy). */
const sent = new Map<string, string>();

/**
 * A new Lab (a load, a restart) or a seek: a new run as the page sees it, whose versions and events
 * start again. After a seek every array is recomputed and sent whole: version strings count writes,
 * and an earlier machine can show the same counts as a later one with other pages.
 */
function startRun(): void {
  run++;
  versions.clear();
  sent.clear();
  lastSeq = -1;
}

/** An array's key: a VM by its host and name (names may repeat across hosts), a host by its name. */
const vmKey = (r: VmRef) => `vm:${JSON.stringify([r.host, r.vm])}`;
const hostKey = (host: string) => `host:${host}`;
/** A migration's page map (its index in the world's migrations, and the side). */
const migKey = (id: number, side: 'src' | 'dst') => `mig:${id}:${side}`;
/** Per migration (by its source map's key), the page counts last computed. */
const migrationCounts = new Map<string, number[]>();

function arrayFor(key: string, n: number): Uint8Array {
  let a = arrays.get(key);
  if (!a || a.length !== n) {
    a = new Uint8Array(isolated ? new SharedArrayBuffer(n) : new ArrayBuffer(n));
    arrays.set(key, a);
  }
  return a;
}

function publish(): void {
  if (!lab || !listener) return;
  const t0 = performance.now();
  // A running guest's frame has no focus: the page maps outline it only while paused.
  const frame = playing ? lab.frame(lastSeq, PLAYING_EVENTS, false) : lab.frame(lastSeq);
  const evs = frame.events;
  if (evs.length) lastSeq = evs[evs.length - 1].seq;
  const pages = frame.vms.map((v) => {
    const ref = { host: v.host, vm: v.name };
    const key = vmKey(ref);
    const a = arrayFor(key, v.gfnCount);
    const version = `${lab!.stateVersion(ref)}:${a.length}`;
    let dirty: [number, number] = [0, 0];
    if (versions.get(key) !== version) {
      const r = lab!.updatePageStates(ref, a);
      dirty = [r.from, r.to];
      versions.set(key, version);
    }
    return { ...ref, states: a, version, dirty };
  });
  const hosts = frame.hosts.map((h) => {
    const key = hostKey(h.name);
    const owners = arrayFor(key, h.frames);
    const version = lab!.hostVersion(h.name);
    if (versions.get(key) !== version) {
      lab!.hostFrameOwners(h.name, owners);
      versions.set(key, version);
    }
    return { host: h.name, owners, version };
  });
  const migrationPages = frame.migrations.map((m) => {
    const keys = [migKey(m.id, 'src'), migKey(m.id, 'dst')] as const;
    const src = arrayFor(keys[0], m.npages);
    const dst = arrayFor(keys[1], m.npages);
    const version = lab!.migrationVersion(m.id);
    let dirty: [number, number] = [0, 0];
    let counts = migrationCounts.get(keys[0]) ?? [];
    if (versions.get(keys[0]) !== version) {
      const r = lab!.migrationPageStates(m.id);
      // After a new run every array is sent whole (the page may hold another machine's).
      const whole = !versions.has(keys[0]);
      const [from, to] = whole ? [0, m.npages] : [r.from, r.to];
      src.set(r.src.subarray(from, to), from);
      dst.set(r.dst.subarray(from, to), from);
      dirty = [from, to];
      counts = Array.from(r.counts);
      migrationCounts.set(keys[0], counts);
      versions.set(keys[0], version);
    }
    return { id: m.id, src, dst, counts, version, dirty };
  });
  const packet: FramePacket = { n: frameNo++, run, frame, playing, pace, pages, hosts, migrationPages, shared: isolated, buildMs: 0 };
  packet.buildMs = performance.now() - t0;
  lastPublish = performance.now();
  if (isolated) listener(packet);
  else {
    // Transfer copies so the worker keeps its own arrays for the next frame; an array the page
    // already has (same version as last sent) is left out.
    const transfer: ArrayBuffer[] = [];
    const copy = (key: string, a: Uint8Array, version: string): Uint8Array | undefined => {
      if (sent.get(key) === version) return undefined;
      sent.set(key, version);
      const c = a.slice();
      transfer.push(c.buffer);
      return c;
    };
    const wirePages = pages.map((p) => ({ host: p.host, vm: p.vm, states: copy(vmKey(p), p.states, p.version), version: p.version, dirty: p.dirty }));
    const wireHosts = hosts.map((h) => ({ host: h.host, owners: copy(hostKey(h.host), h.owners, h.version), version: h.version }));
    const wireMigrations = migrationPages.map((m) => {
      const version = m.version;
      return { ...m, src: copy(migKey(m.id, 'src'), m.src, version), dst: copy(migKey(m.id, 'dst'), m.dst, version) };
    });
    listener(Comlink.transfer({ ...packet, pages: wirePages, hosts: wireHosts, migrationPages: wireMigrations }, transfer));
  }
}

/** Publish now if a display frame has passed, else once at the next one; never ahead of the page. */
function schedulePublish(): void {
  if (applied < frameNo - 1) {
    owed = true;
    return;
  }
  const wait = FRAME_MS - (performance.now() - lastPublish);
  if (wait <= 0) return publish();
  if (pending) return;
  pending = true;
  setTimeout(() => {
    pending = false;
    publish();
  }, wait);
}

/**
 * One play tick: up to `speed` guest instructions (with pace 'step', as many as the slice's time
 * allows), in chunks small enough (a fault-heavy guest runs a few thousand instructions per
 * millisecond) that the tick stops on time and a frame goes out at display rate, however high the
 * speed is set. With pace 'step' it stops at the end of the step it runs.
 */
function tick(): void {
  if (!playing || !lab) return;
  const t0 = performance.now();
  const stepping = pace === 'step';
  let left = stepping ? Infinity : Math.max(1, Math.round(speed));
  const stepEnded = () => stepping && lab!.position.step !== paceStep;
  try {
    while (left > 0 && !lab.done && !stepEnded() && performance.now() - t0 < SLICE_MS) {
      const n = Math.min(left, CHUNK);
      lab.advance(n);
      left -= n;
    }
  } catch (e) {
    stop();
    throw e;
  }
  if (lab.done || stepEnded()) stop();
  if (playing) schedulePublish();
  else publish();
  if (!playing) return;
  const spent = performance.now() - t0;
  const dutyRest = DUTY >= 1 ? 0 : spent * (1 / DUTY - 1);
  // The speed is instructions per display frame: a quota done before the frame is over waits for
  // the next one (at 1 instr/frame a lesson plays at 60 instructions a second, slow enough to pause).
  setTimeout(tick, left > 0 ? dutyRest : Math.max(dutyRest, FRAME_MS - spent));
}

function query<T>(f: () => T, empty: T): T {
  if (!lab) return empty;
  try {
    return f();
  } catch (e) {
    if (e instanceof ScenarioError) return empty;
    throw e;
  }
}

/**
 * A Lab that keeps snapshot keyframes (a seek restores the nearest one in place and replays at most
 * about a keyframe's spacing of work; keyframes.ts bounds their memory at 256 MiB).
 */
function newLab(s: unknown): Lab {
  return new Lab(s, { snapshot: snapshotKeyframes(s) });
}

function issuesOf(e: unknown): { path: string; message: string }[] {
  if (e instanceof ScenarioError) return e.issues;
  throw e;
}

const api: LabApi = {
  async load(s: unknown, moment?: MomentInput): Promise<LoadResult> {
    let next: Lab;
    try {
      next = newLab(s);
    } catch (e) {
      return { ok: false, issues: issuesOf(e) };
    }
    let momentIssues: ScenarioIssue[] | undefined;
    let event: number | undefined;
    if (moment) {
      try {
        next.setCommands(moment.commands);
        if (moment.event !== null) event = next.seek(moment.event);
      } catch (e) {
        // The moment cannot be reached: the lesson's start instead, and the reason.
        momentIssues = e instanceof ScenarioError ? e.issues : [{ path: 'link', message: e instanceof Error ? e.message : String(e) }];
        next = newLab(s);
        event = undefined;
      }
    }
    stop();
    lab = next;
    scenario = s;
    startRun();
    publish();
    return { ok: true, momentIssues, event };
  },
  async seek(event: number): Promise<SeekResult> {
    if (!lab) return { ok: false, issues: [{ path: '$', message: 'no scenario is loaded' }] };
    stop();
    try {
      const at = lab.seek(event);
      startRun();
      publish();
      return { ok: true, event: at };
    } catch (e) {
      startRun();
      publish();
      return { ok: false, issues: issuesOf(e) };
    }
  },
  async stepBack(kind: StepKind) {
    if (!lab) return { moved: false, events: 0 };
    stop();
    const moved = lab.stepBack(kind);
    startRun();
    publish();
    return { moved, events: lab.run.trace.count };
  },
  async play(sp: number, how: Pace = 'free') {
    speed = sp;
    if (!lab) return;
    // A play while playing changes only how it goes on (the lesson's pace, or freely).
    pace = how;
    paceStep = lab.position.step;
    if (playing || lab.done) return;
    playing = true;
    tick();
  },
  async pause() {
    stop();
    publish();
  },
  async setSpeed(sp: number) {
    speed = sp;
  },
  async step(kind: StepKind) {
    if (!lab) return;
    stop();
    if (kind === 'step' && !lab.done) {
      // The scenario step runs as the lesson's pace plays it, in ticks with frames and answers
      // between them (a guest looping in a long run or KVM_RUN does not hold the worker), and this
      // call answers when it stopped: at the step's end, or when a pause, a load or a seek stopped it.
      const stopped = new Promise<void>((resolve) => playWaiters.push(resolve));
      pace = 'step';
      paceStep = lab.position.step;
      playing = true;
      tick();
      return stopped;
    }
    if (kind === 'instruction') lab.stepInstruction();
    else if (kind === 'event') lab.stepEvent();
    else if (kind === 'exit') lab.stepExit();
    publish();
  },
  async restart() {
    if (scenario === null) return;
    stop();
    lab = newLab(scenario);
    startRun();
    publish();
  },
  async command(step: unknown): Promise<CommandResult> {
    if (!lab) return { ok: false, issues: [{ path: '$', message: 'no scenario is loaded' }] };
    try {
      const result = lab.command(step);
      publish();
      return { ok: true, result };
    } catch (e) {
      return { ok: false, issues: issuesOf(e) };
    }
  },
  // Queries can race a scenario switch (a panel asks about a VM of the previous lesson): an unknown
  // VM or frame answers empty instead of failing.
  async walk(vm: VmRef, gpa: number) {
    return query(() => lab!.walk(vm, gpa), []);
  },
  async vmmMappings(vm: VmRef) {
    return query(() => lab!.vmmMappings(vm), []);
  },
  async events(from: number, to: number) {
    return query(() => lab!.events(from, to), []);
  },
  async report() {
    return query(() => reportJson(lab!.run.report()), null);
  },
  async attackSurface(vm: VmRef) {
    return query(() => lab!.attackSurface(vm), null);
  },
  async frameInfo(host: string, frame: number) {
    return query(() => lab!.frameInfo(host, frame), null);
  },
  async diagnose(source: string, origin: number) {
    return Lab.diagnose(source, origin);
  },
  async subscribe(cb) {
    listener = cb;
    publish();
  },
  async applied(n: number) {
    applied = Math.max(applied, n);
    if (owed && playing) {
      owed = false;
      schedulePublish();
    }
  },
  async crashForTest() {
    setTimeout(() => {
      throw new Error('the worker was asked to crash (crash-recovery test)');
    }, 0);
  },
  async closeForTest() {
    setTimeout(() => self.close(), 0);
  },
  async ping() {
    return frameNo;
  },
  async info() {
    return { crossOriginIsolated: isolated, inWorker: typeof (self as { document?: unknown }).document === 'undefined' };
  },
};

Comlink.expose(api);
