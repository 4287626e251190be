import type { SimEvent } from './core/trace';
import { PAGED_CHUNK } from './core/paged-array';
import { PAGE_SIZE, hex } from './core/units';
import { describeInsn } from './cpu';
import { PageState, frameInfo, frameOwners, gfnSpan, pageStates, translationWalk, type FrameInfo, type WalkHop } from './inspect';
import { AsmError, assembleWithDiagnostics } from './guest/asm';
import { VM_TYPE_NAMES, capRows } from './kvm/kvm';
import { cpuidRows } from './kvm/msr-cpuid';
import { resetState } from './vmm/reset-state';
import type { AttackSurfaceView } from './vmm/surface-view';
import type { Vm } from './kvm/vm';
import type { Memslot } from './kvm/memslot';
import type { MigrationThread } from './vmm/migration/migration';
import type { MigrationParameters } from './vmm/migration/params';
import { CAPABILITY_NAMES } from './vmm/migration/params';
import { newMigrationPageView, updateMigrationPageView, type MigrationPageView } from './vmm/migration/page-states';
import type { PostcopySummary } from './vmm/migration/postcopy';
import { KERNEL_SERVICES } from './guest/kernel/kernel';
import { ScenarioRun, type MigrationSummary, type StepResult } from './scenario/runner';
import type { AskT } from './scenario/ask';
import type { HostNode } from './world/world';
import { ScenarioError, Step, jsonPath, parseScenario, type ScenarioT, type StepT } from './scenario/schema';
import { KEYFRAME_BUDGET, Keyframes, measure, type Keyframe, type MeasureCache } from './keyframes';
import { restoreRun, restoreRunInto, snapshotRun } from './snapshot';
import { Marks, START, compareCursors, comparePositions, formatPosition, samePosition, type LoggedCommand, type Position } from './timeline';
import type { StepShowT } from './scenario/steps/show';

/** Steps that pause at any instruction of their vCPU (ScenarioRun.advance slices them exactly): a unit of work is one instruction. */
const BY_INSTRUCTION: ReadonlySet<string | undefined> = new Set(['run', 'reboot']);

/**
 * Which VM: its host and its name on that host. VM names need not be unique across the world (a
 * selftest-like scenario can KVM_CREATE_VM "guest" on two hosts), so every per-VM query, frame key
 * and selection names both.
 */
export interface VmRef {
  host: string;
  vm: string;
}

/** What the UI shows of one host in a frame. */
export interface HostView {
  name: string;
  /** Physical memory in bytes. */
  memory: number;
  /** Host frames (4 KiB pages of physical memory). */
  frames: number;
  framesUsed: number;
}

/** A link between two hosts, as the UI shows it. */
export interface LinkView {
  name: string;
  from: string;
  to: string;
  /** Bytes per virtual second. */
  bandwidth: number;
  /** Virtual nanoseconds. */
  latency: number;
  state: 'up' | 'down';
}

/** One VMA of the VMM process, with the guest pages it maps that are resident (as GPA runs). */
export interface VmmMapping {
  start: string;
  end: string;
  prot: string;
  name: string;
  /** Resident pages in the VMA. */
  resident: number;
  /** The resident pages that back guest RAM, as runs of guest-physical addresses [gpa, end). */
  guest: { gpa: string; end: string; pages: number }[];
  /** Runs left out (more than MAX_GUEST_RUNS). */
  guestMore: number;
}

/** What the UI shows of one VM in a frame. */
export interface VmView {
  name: string;
  /** The host the VM runs on. */
  host: string;
  type: string;
  isTd: boolean;
  /** GFNs the page map covers (up to the end of the highest memslot). */
  gfnCount: number;
  console: string;
  /** Registers, or null when the host cannot read them (a TD without DEBUG). */
  regs: Record<string, string> | null;
  regsNote: string;
  rip: string | null;
  /** 1-based source line of the next instruction, when the vCPU runs a program. */
  line: number | null;
  instruction: string | null;
  instructions: number;
  dead: string | null;
  memslots: { slot: number; guest_phys_addr: string; memory_size: string; flags: number; userspace_addr: string; guest_memfd: number; guest_memfd_offset: string }[];
  program: string | null;
  /** Where the program is assembled and loaded. */
  origin: string | null;
  td: { hkid: number; attributes: string; gpaw: number; sharedBit: number; mrtd: string; pending: number; mapped: number; lifecycle: string } | null;
  /**
   * Each vCPU's run state (vmm/vcpu-thread.ts: running, halted, blocked, sleeping, paused, panicked,
   * stopped), instructions and virtual ns per state; a VM made by hand with KVM_CREATE_VCPU has no
   * VMM threads, so its vCPUs show as `idle`.
   */
  vcpus: VcpuView[];
}

export interface VcpuView {
  index: number;
  state: string;
  instructions: number;
  exits: number;
  time: Record<string, number>;
}

/** A frame: the small JSON summary the worker publishes (page arrays travel separately). */
export interface LabFrame {
  title: string;
  explanation: string;
  timeNs: number;
  stepIndex: number;
  stepCount: number;
  /** Each step's kind, its note, what it is about (`show`, for the lab to bring forward) and the question asked before it runs (predict-then-see). */
  steps: { do: string; note: string | null; show: StepShowT | null; ask: AskT | null }[];
  done: boolean;
  results: StepResult[];
  /** The newest events only, so a frame's cost does not grow with the trace. */
  events: SimEvent[];
  eventCount: number;
  narration: string;
  /** The newest event that touched guest pages (the lesson's latest page, outlined while paused), or null. */
  focus: { seq: number; host: string; vm: string; name: string; gfns: readonly [number, number] } | null;
  /** Every VM of the world, host by host. */
  vms: VmView[];
  /** Every host of the world, in the scenario's order. */
  hosts: HostView[];
  /** The links between hosts (none in a one-host scenario). */
  links: LinkView[];
  /** Where the machine is in its timeline, and the user's commands (what a link to this moment carries). */
  timeline: TimelineView;
  /** Every migration the scenario started, oldest first: query-migrate now and its newest rounds. */
  migrations: MigrationView[];
  /** How far the step in progress is (paused between two slices), or null between steps. */
  stepProgress: StepProgress | null;
  /**
   * The migrations the scenario's `migrate` steps name (source VM, destination host, link), with the
   * source VMM's parameters and capabilities now: what the panel's controls start and change.
   */
  migrationRoutes: MigrationRoute[];
}

/**
 * A migration as the migration panel shows it, with its index in the world. A frame carries at most
 * MAX_FRAME_ROUNDS of its rounds, the newest (`roundsFrom` is the first one's number, `roundCount`
 * how many there are): a migration that never converges keeps adding rounds, and a frame's cost must
 * not grow with them.
 */
export interface MigrationView extends MigrationSummary {
  id: number;
  /** The source's host. */
  host: string;
  roundsFrom: number;
  roundCount: number;
  /**
   * The round in progress (bytes sent since the last sync, and since when), while the migration
   * runs; null once it has ended. Every byte put on the link counts in exactly one round.
   */
  current: { round: number; bytes: number; start_ns: number } | null;
  /** Pages of the migrated RAM block (the length of its page maps). */
  npages: number;
  /** How dirty pages are tracked: "bitmap" (KVM_GET_DIRTY_LOG) or "ring" (KVM_CAP_DIRTY_LOG_RING). */
  dirtyLog: string;
  /** Once the destination heard CMD_POSTCOPY_ADVISE (postcopy-ram): its side of post-copy; else absent. */
  postcopy?: PostcopyView;
}

/**
 * The destination's side of a post-copy as the panel shows it: the report's summary, when the
 * switch happened and the guest started there, and the newest faults (at most MAX_FRAME_FAULTS) for
 * the fault timeline — each from the vCPU's touch to its wake (end -1: still waiting), with how it
 * was served (postcopy.ts FAULT_*: 0 requested, 1 requested while already in flight, 2 arrived before the read).
 */
export interface PostcopyView extends PostcopySummary {
  /** Virtual ns of the switch (postcopy_start) and of CMD_POSTCOPY_RUN at the destination (0: not yet). */
  startNs: number;
  runNs: number;
  /** postcopy-preempt and postcopy-blocktime are on. */
  preempt: boolean;
  blocktime: boolean;
  /** vCPUs of the destination VM. */
  nvcpus: number;
  /**
   * What catches the destination's faults on private memory: 'userfaultfd' (an ordinary VM: every
   * page is mapped), 'talk' (the talk's userfault fd on guest_memfd, a proposal), 'kvm-userfault'
   * (KVM Userfault, a posted series, not merged), 'tdx-module' (a TD: KVM Userfault stops the vCPU,
   * the TDX module imports the page out of order; not upstream); shared pages always go through userfaultfd.
   */
  mechanism: 'userfaultfd' | 'talk' | 'kvm-userfault' | 'tdx-module';
  /** The faults carried (parallel arrays), and the number of the first (older ones are left out). */
  faults: { vcpu: number[]; page: number[]; start: number[]; end: number[]; how: number[] };
  faultsFrom: number;
  faultCount: number;
  /** Per vCPU: since when it waits for a page now (-1: not waiting), and which page. */
  blockedSince: number[];
  blockedPage: number[];
}

/** The most faults a frame carries per migration (the newest). */
export const MAX_FRAME_FAULTS = 400;

/** A migration a lesson can start: its `migrate` step's source, destination and link, and the source VMM's settings now. */
export interface MigrationRoute {
  vm: string;
  host: string;
  to: string;
  link: string;
  /** The source VMM's run state (QEMU's: prelaunch, running, paused, postmigrate, inmigrate). */
  runState: string;
  parameters: MigrationParameters;
  capabilities: Record<string, boolean>;
  /** The source VM has a dirty ring (-accel kvm,dirty-ring-size=N): dirty-limit needs one. */
  dirtyRing: boolean;
}

/**
 * How far a step advanced in slices has come, in what the step itself counts toward its end: a run's
 * (or a reboot's) guest instructions toward its max_instructions, a run_until's virtual time toward
 * its time, a waiting link_send's virtual time toward its transfer's delivery.
 */
export interface StepProgress {
  /** The step's index in the scenario. */
  step: number;
  unit: 'instructions' | 'ns';
  done: number;
  total: number;
  /**
   * 'target': the step ends when done reaches total (unless its guests' instruction budget ends it
   * first); 'limit': total is the most it runs, it may end sooner (a guest that halts, a migration
   * that reaches the status waited for).
   */
  bound: 'target' | 'limit';
  /** What is counted, for a person: "instructions of ordinary", "virtual time". */
  what: string;
}

/** The most rounds a frame carries per migration (the newest). */
export const MAX_FRAME_ROUNDS = 40;

/** The lab's timeline as a frame shows it. */
export interface TimelineView {
  at: Position;
  /** At the start of the run: nothing to step back to. */
  atStart: boolean;
  /**
   * When the machine is at an event's moment (right after the unit of work that recorded events
   * firstEvent..eventCount-1), the first of them: a seek to any of these events comes here. Else null.
   */
  firstEvent: number | null;
  /** Every user command of the timeline, with where it applied (some may lie ahead after a seek back). */
  commands: LoggedCommand[];
  keyframes: number;
  keyframeBytes: number;
}

/** What Lab.updatePageStates last filled a viewer's array from. */
interface StatesCacheEntry {
  out: Uint8Array;
  vm: Vm;
  n: number;
  layout: number;
  /** The memslots and memory attributes, as text (layoutKey): versions go back with a restore, this does not lie. */
  layoutKey: string;
  ept: number;
  sept: number;
  /** A keyframe was restored since: the versions above say nothing about the machine now. */
  restored: boolean;
  /** Per chunk of GFNs, the EPT's and Secure EPT's storage and stamps (PagedU32.chunkIdentity). */
  eptChunks: (Uint32Array | undefined)[];
  eptStamps: Float64Array;
  septChunks: (Uint32Array | undefined)[];
  septStamps: Float64Array;
}

/** What every page's state is computed against besides the EPT and Secure EPT: the memslots and the attributes. */
function layoutKey(vm: Vm): string {
  const slots = [...vm.slots.values()].map((s) => `${s.id}:${s.baseGfn}:${s.npages}:${s.flags}:${s.userspaceAddr}:${s.gmem?.fd ?? -1}:${s.gmemPgoff}`);
  return `${slots.join(',')}|${vm.attributes.ranges.map(([a, b]) => `${a}-${b}`).join(',')}`;
}

/** How the Lab keeps keyframes. Without `snapshot`, the start is the only one (rebuilt from the scenario). */
export interface LabOptions {
  /**
   * Save the run where it is; `restore` puts a run at that point each call: `into` (the lab's run,
   * loaded in place) or a new one (snapshotKeyframes makes one from snapshot.ts). `bytes` and
   * `buffers` are what it holds (keyframes.ts measure()). Absent or null: the start is the only
   * keyframe.
   */
  snapshot?: ((run: ScenarioRun) => KeyframeSave) | null;
  /** Work (instructions retired + events recorded) between keyframes taken while running. */
  keyframeEvery?: number;
  /** Bytes the keyframes may hold (default 256 MiB). */
  keyframeBudget?: number;
}

/** A keyframe's save: what it holds (keyframes.ts measure()) and how to get back to it. */
export interface KeyframeSave {
  bytes: number;
  buffers: readonly ArrayBufferLike[];
  shared?: readonly (readonly [object, number])[];
  restore(into?: ScenarioRun): ScenarioRun;
}

/**
 * Keyframes from snapshots of the whole run (snapshot.ts) of scenario `input` (as given, before
 * parsing): restoring loads the snapshot into the lab's run in place (restoreRunInto: the hosts'
 * frame arrays and the VMs the scenario declares are not built again), or into a fresh run.
 * Consecutive snapshots share what did not change between them, which Keyframes counts once.
 */
export function snapshotKeyframes(input: unknown): (run: ScenarioRun) => KeyframeSave {
  const cache: MeasureCache = new WeakMap();
  return (run) => {
    const snap = snapshotRun(run);
    const m = measure(snap, cache);
    return { bytes: m.bytes, buffers: m.buffers, shared: m.shared, restore: (into) => (into ? restoreRunInto(into, snap) : restoreRun(input, snap)) };
  };
}

export type BackKind = 'instruction' | 'exit' | 'event' | 'step';

/**
 * At most this many events since the previous frame are carried, the newest (so a frame's cost stays
 * bounded however fast the guest runs); the trace panel fetches the rest with events() when it wants them.
 */
const MAX_NEW_EVENTS = 250;
/** At most this many events per events() call. */
const MAX_EVENTS_QUERY = 5000;
/** At most this many runs of guest pages per VMA in vmmMappings(). */
const MAX_GUEST_RUNS = 64;
/** Instructions per slice when a seek runs ahead into a part of the timeline not reached yet. */
const EXPLORE_SLICE = 2000;
/**
 * Default work (instructions + events + RUN_WORK per KVM_RUN) between keyframes. Measured in the
 * browser on the two-4-GiB-guests lesson (npm run bench): every 1 M held the keyframe budget full
 * (17 keyframes, 251 MiB, evicting as it ran) and halved the guests' speed while playing (0.95 M
 * instructions/s, 56 fps); every 2 M keeps 11 (172 MiB), plays at the speed of no keyframes at all
 * (1.9 M/s, 59.7 fps) and seeks in 141 ms at the median.
 */
const KEYFRAME_EVERY = 2_000_000;
/**
 * A KVM_RUN's round trip (the exit, the VMM's handling, the entry) costs the simulator about as much
 * wall time as this many guest instructions (measured: a boot instruction that exits thousands of
 * times to probe the platform replays as slowly as about that many instructions per exit). Counting
 * it makes keyframes follow what a replay costs, not only what the guest executes.
 */
const RUN_WORK = 500;

/**
 * The facade the worker and the CLI use: a scenario loaded into a fresh machine, advanced a step or a
 * slice of instructions at a time, plus the queries the panels need. Everything a user does goes
 * through here, so the same scenario and the same commands give the same trace.
 */
export class Lab {
  private current: ScenarioRun;
  private readonly parsed: ScenarioT;
  /**
   * The timeline's user commands (steps given by the UI), each with the cursor where it applied. A
   * seek back keeps them: stepping forward again applies them at the same points. A new command
   * given anywhere but at the end ends the timeline there (the commands after it are dropped).
   */
  private readonly log: LoggedCommand[] = [];
  /** How many of `log` the machine has applied. */
  private applied = 0;
  private readonly marks = new Marks();
  private readonly keyframes: Keyframes<ScenarioRun>;
  private readonly snapshot: ((run: ScenarioRun) => KeyframeSave) | null;
  private readonly keyframeEvery: number;
  /** The work at the last keyframe taken running forward, and how many keyframeEvery to wait after it (see record()). */
  private lastKeyframe = { work: -Infinity, backoff: 1 };
  /**
   * Events recorded before the last step of work that brought the machine here, when that step
   * recorded events (the machine is then at the first point where its newest event exists); else null.
   */
  private unitStart: number | null = null;
  /** Per VM (keyed by host and name), the array pageStates() last filled and the versions it was filled at. */
  private readonly statesCache = new Map<string, StatesCacheEntry>();
  /** Per host, the array hostFrameOwners() last filled, and the VM list it was filled for. */
  private readonly ownersCache = new Map<string, { out: Uint8Array; sig: string }>();
  /** Per migration (its index in the world), the page view migrationPageStates() last filled. */
  private readonly migrationViews = new Map<number, MigrationPageView>();

  constructor(input: unknown, options: LabOptions = {}) {
    const parsed = parseScenario(input);
    this.parsed = parsed;
    this.current = new ScenarioRun(parsed);
    this.snapshot = options.snapshot ?? null;
    this.keyframeEvery = options.keyframeEvery ?? KEYFRAME_EVERY;
    // The start: a snapshot of it (restored in place, which is faster than building the run again),
    // or without snapshots a run rebuilt from the scenario, the same machine (the run is deterministic).
    const start = this.snapshot?.(this.current) ?? { bytes: 0, buffers: [], restore: () => new ScenarioRun(parsed) };
    this.keyframes = new Keyframes<ScenarioRun>({ at: START, work: this.work(), ...start }, options.keyframeBudget ?? KEYFRAME_BUDGET);
    if (this.snapshot) {
      // The trace's full chunks that keyframes share are reused once no keyframe holds them.
      this.keyframes.onFree = (b) => this.current.trace.release(b);
      this.wireTrace();
    }
    this.marks.push(START, this.current.trace.count);
  }

  /** The machine as it is now (a seek may replace it with another). */
  get run(): ScenarioRun {
    return this.current;
  }

  get scenario(): ScenarioT {
    return this.current.scenario;
  }

  get done(): boolean {
    return this.current.done;
  }

  /** The timeline's user commands, with where each applied. */
  get commands(): readonly LoggedCommand[] {
    return this.log;
  }

  /** Where the machine is: the scenario step, instructions into it, and user commands applied. */
  get position(): Position {
    return { step: this.current.next, instr: this.current.instructionsIntoStep, cmds: this.applied };
  }

  /** The keyframes (for tests and the bench). */
  get keyframeStore(): Keyframes<ScenarioRun> {
    return this.keyframes;
  }

  /** Run the next step whole (stopping at user commands logged inside it, which apply there). */
  step(): StepResult | null {
    this.unitStart = null;
    this.applyDue();
    if (this.current.done) return this.record(null);
    const s = this.current.next;
    while (this.current.next === s) {
      this.applyDue();
      this.advanceRaw(1_000_000_000);
    }
    return this.record(this.current.results.find((r) => r.step === s) ?? null);
  }

  /** Advance by at most `instructions` guest instructions (a whole step if it is not a run). */
  advance(instructions: number): StepResult | null {
    this.unitStart = null;
    this.applyDue();
    if (this.current.done) return this.record(null);
    return this.record(this.advanceRaw(instructions));
  }

  /** The last unit forward (stepInstruction): where it started and ended, for a step back. */
  private lastUnit: { from: Position; to: Position } | null = null;

  /**
   * One unit of work forward: a user command logged here, else one guest instruction (or a whole
   * step that runs none). Returns false at the end of the timeline.
   */
  stepInstruction(): boolean {
    const before = this.current.trace.count;
    const from = this.position;
    const moved = this.unit();
    this.lastUnit = moved ? { from, to: this.position } : null;
    this.unitStart = moved && this.current.trace.count > before ? before : null;
    this.record(null);
    return moved;
  }

  /** Advance until at least one new event is recorded (or the scenario ends). */
  stepEvent(): void {
    const n = this.current.trace.count;
    let guard = 0;
    while (this.current.trace.count === n && guard++ < 100_000 && this.unit());
    this.unitStart = this.current.trace.count > n ? n : null;
    this.record(null);
  }

  /**
   * Advance, a unit at a time, until KVM exits to user space (a new KVM_EXIT_* event), the
   * current step ends, or the scenario does. A guest that runs long without exiting stops after
   * `limit` instructions. Returns whether an exit was seen.
   */
  stepExit(limit = 200_000): boolean {
    const trace = this.current.trace;
    let seen = trace.count;
    this.unitStart = null;
    for (let n = 0; n < limit; n++) {
      const before = this.current.trace.count;
      const step = this.current.next;
      if (!this.unit()) break;
      const ended = this.current.next !== step;
      for (; seen < this.current.trace.count; seen++) {
        if (this.current.trace.nameAt(seen)?.startsWith('KVM_EXIT_')) {
          this.unitStart = before;
          this.record(null);
          return true;
        }
      }
      if (ended) {
        this.unitStart = this.current.trace.count > before ? before : null;
        break;
      }
    }
    this.record(null);
    return false;
  }

  /**
   * Execute a command given as a scenario step (a host read, a conversion, a KVM ioctl ...) right now,
   * outside the scenario's list, and log it where it applied. Given after a seek back, it ends the
   * timeline here: the commands that came later are dropped. Throws ScenarioError for a malformed command.
   */
  command(input: unknown): StepResult {
    const parsed = Step.safeParse(input);
    if (!parsed.success) throw new ScenarioError(parsed.error.issues.map((i) => ({ path: jsonPath(['command', ...i.path]), message: i.message })));
    const at = this.position;
    this.log.length = this.applied;
    this.marks.dropAfter(at);
    this.keyframes.dropAfter(at);
    this.log.push({ step: at.step, instr: at.instr, command: structuredClone(input) });
    this.unitStart = null;
    let r: StepResult;
    try {
      r = this.applyOne(parsed.data);
    } catch (e) {
      // Refused before it changed anything (an unknown VM, say): it is not part of the timeline.
      if (e instanceof ScenarioError) {
        this.log.pop();
        this.applied--;
      }
      throw e;
    }
    return this.record(r);
  }

  /**
   * Check and adopt the command log of a link: every entry `{step, instr, command}` with a valid
   * command, in timeline order. Only at the start of a fresh Lab. Throws ScenarioError naming the entry.
   */
  setCommands(input: unknown): void {
    if (this.applied > 0 || this.log.length > 0 || !samePosition(this.position, START)) throw new Error('setCommands: only on a fresh Lab');
    this.log.push(...Lab.parseCommands(input));
  }

  static parseCommands(input: unknown): LoggedCommand[] {
    if (!Array.isArray(input)) throw new ScenarioError([{ path: '$.commands', message: `expected a list of commands, got ${input === null ? 'null' : typeof input}` }]);
    const out: LoggedCommand[] = [];
    input.forEach((c: unknown, i) => {
      const path = `$.commands[${i}]`;
      const o = c as { step?: unknown; instr?: unknown; command?: unknown } | null;
      if (typeof o !== 'object' || o === null) throw new ScenarioError([{ path, message: 'expected {step, instr, command}' }]);
      for (const k of ['step', 'instr'] as const) {
        const v = o[k];
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ScenarioError([{ path: `${path}.${k}`, message: `expected a whole number ≥ 0, got ${JSON.stringify(v)}` }]);
      }
      const parsed = Step.safeParse(o.command);
      if (!parsed.success) throw new ScenarioError(parsed.error.issues.map((x) => ({ path: jsonPath(['commands', i, 'command', ...x.path]), message: x.message })));
      const entry = { step: o.step as number, instr: o.instr as number, command: o.command };
      const prev = out[out.length - 1];
      if (prev && compareCursors(entry, prev) < 0) throw new ScenarioError([{ path, message: `comes before the command above it (step ${entry.step}, instruction ${entry.instr} < step ${prev.step}, instruction ${prev.instr})` }]);
      out.push(entry);
    });
    return out;
  }

  /**
   * Seek: put the machine at the first point where event `event` has been recorded — right after the
   * unit of work that recorded it (one guest instruction, one whole step that runs none, or one user
   * command; events that unit recorded after `event` are there too). Restores the nearest keyframe
   * before it and replays; runs ahead if the timeline has not got there yet. An event past the end
   * of the run lands at the end. Returns the newest event there (`event`, or the last one).
   */
  seek(event: number): number {
    const target = Math.max(0, Math.floor(event));
    const frontier = this.marks.length - 1;
    if (this.marks.count(frontier) <= target) {
      this.goTo(this.marks.position(frontier));
      while (this.current.trace.count <= target) {
        this.applyDue();
        if (this.current.done) {
          this.checkLogEnd();
          break;
        }
        this.advanceRaw(EXPLORE_SLICE);
        this.record(null);
      }
      if (this.current.trace.count <= target) {
        this.unitStart = null;
        return this.current.trace.count - 1;
      }
    }
    const m = this.marks.lastAtMost(target);
    if (m >= 0 && m + 1 < this.marks.length && this.marks.count(m + 1) > target && this.oneUnitApart(this.marks.position(m), this.marks.position(m + 1))) {
      // The unit that recorded the event is known: the one from mark m to the next. Go straight
      // to its end (a keyframe may be there), without replaying the unit from its start.
      this.goTo(this.marks.position(m + 1));
      this.unitStart = this.marks.count(m);
      return target;
    }
    this.goTo(m < 0 ? START : this.marks.position(m));
    let before = this.current.trace.count;
    let workBefore = 0;
    while (this.current.trace.count <= target) {
      before = this.current.trace.count;
      workBefore = this.work();
      if (!this.unit()) break;
      // Each point passed is marked, so that the next seek here knows which unit recorded its event
      // (and goes straight to that unit's end: a keyframe is taken there, below, when one is due).
      if (this.current.trace.count <= target) this.mark();
    }
    this.unitStart = this.current.trace.count > before ? before : null;
    this.record(null, this.work() - workBefore);
    return target;
  }

  /**
   * Whether `b` is one unit of work after `a` (what unit() does from `a`): the command logged at
   * `a`'s cursor, or, with none there, one instruction of a run step.
   */
  private oneUnitApart(a: Position, b: Position): boolean {
    if (a.step !== b.step) return false;
    if (a.instr === b.instr) return b.cmds === a.cmds + 1;
    const due = this.log[a.cmds];
    const commandDue = due !== undefined && compareCursors(due, a) === 0;
    return !commandDue && b.instr === a.instr + 1 && b.cmds === a.cmds && BY_INSTRUCTION.has(this.current.scenario.steps[a.step]?.do);
  }

  /**
   * Step back: to the point one unit of work earlier (instruction), the moment of the previous event,
   * the previous exit to user space (or the start), or the start of the scenario step (of the one
   * before, when already at a step's start). Each is where the same step forward from there comes
   * back to. Returns false when there is nothing before (the start).
   */
  stepBack(kind: BackKind): boolean {
    const p = this.position;
    if (samePosition(p, START)) return false;
    if (kind === 'instruction') {
      this.goTo(this.prevUnit(p));
      this.unitStart = null;
    } else if (kind === 'event') {
      const c = this.current.trace.count;
      if (this.unitStart === null) {
        // Not at an event's moment (after a step back by instruction, or a pause): the newest event's is before.
        this.seek(c - 1);
        if (comparePositions(this.position, p) < 0) return true;
      }
      const e = this.unitStart;
      if (e === null || e === 0) this.goTo(START);
      else this.seek(e - 1);
    } else if (kind === 'exit') {
      // The later of the previous exit and the start of the step (a step to the next exit stops at both).
      const limit = (this.unitStart ?? this.current.trace.count) - 1;
      this.goTo(this.stepStartBefore(p));
      const trace = this.current.trace;
      const from = trace.count;
      this.goTo(p);
      let x = limit;
      while (x >= from && !trace.nameAt(x)?.startsWith('KVM_EXIT_')) x--;
      if (x >= from) this.seek(x);
      else this.goTo(this.stepStartBefore(p));
    } else {
      this.goTo(this.stepStartBefore(p));
    }
    return true;
  }

  /** Go to a point of this timeline (one the machine has reached before, or that its log says it will). */
  goTo(p: Position): void {
    const kf = this.keyframes.atOrBefore(p);
    const cur = this.position;
    if (comparePositions(cur, p) > 0 || comparePositions(kf.at, cur) > 0) this.restore(kf);
    this.replayTo(p);
    this.unitStart = null;
  }

  /**
   * Where a step back by scenario step goes from `p`: the start of the step `p` is in, or of the one
   * before when `p` is that start (before the commands logged there, which a step forward applies first).
   */
  private stepStartBefore(p: Position): Position {
    const before = (s: number) => {
      let n = 0;
      while (n < this.log.length && compareCursors(this.log[n], { step: s, instr: 0 }) < 0) n++;
      return n;
    };
    const s = p.instr === 0 && p.cmds === before(p.step) ? p.step - 1 : p.step;
    return { step: s, instr: 0, cmds: before(s) };
  }

  /** The point one unit of work before `p` (the machine's position, p > START). */
  private prevUnit(p: Position): Position {
    const last = this.log[p.cmds - 1];
    if (last && compareCursors(last, p) === 0) return { ...p, cmds: p.cmds - 1 };
    // A run step (or a reboot) pauses at any instruction (its slice caps a KVM_RUN, ScenarioRun.advance):
    // one unit earlier is one instruction earlier, with the commands logged up to there applied.
    const instructionBefore = (step: number, instr: number): Position => {
      let n = 0;
      while (n < this.log.length && compareCursors(this.log[n], { step, instr }) <= 0) n++;
      return { step, instr, cmds: Math.min(n, p.cmds) };
    };
    if (p.instr > 0 && BY_INSTRUCTION.has(this.current.scenario.steps[p.step]?.do)) return instructionBefore(p.step, p.instr - 1);
    // A run_until pauses only between the scheduler's actors: the point one unit earlier is where the
    // last unit forward started, or else the last point the lab stopped at before this one.
    const f = this.lastUnit;
    if (f && samePosition(f.to, p) && comparePositions(f.from, p) < 0) return f.from;
    // At the start of a step after a run (or a reboot) that ran instructions, one unit earlier is in
    // that run, not the last point the lab stopped at (anywhere in it: stepping forward from there
    // did not come back). Either its last instruction ended it, or (a guest that panics there) one
    // more unit that runs none did: go just before the last instruction and look.
    if (p.instr === 0 && p.step > 0) {
      const r = this.current.results.find((x) => x.step === p.step - 1);
      const ran = r && BY_INSTRUCTION.has(r.do) ? (r.value as { instructions: number }).instructions : 0;
      if (ran > 0) {
        const q = instructionBefore(p.step - 1, ran - 1);
        this.goTo(q);
        this.unit();
        const at = this.position;
        return samePosition(at, p) ? q : at;
      }
    }
    let m = this.marks.lastAtOrBefore(p);
    while (m >= 0 && comparePositions(this.marks.position(m), p) >= 0) m--;
    if (m >= 0) {
      const q = this.marks.position(m);
      if (q.step === p.step || p.instr === 0) return { ...q, cmds: Math.min(q.cmds, p.cmds) };
    }
    if (p.instr > 0) return { ...p, instr: 0 };
    const s = p.step - 1;
    const r = this.current.results.find((x) => x.step === s);
    const ran = r && BY_INSTRUCTION.has(r.do) ? (r.value as { instructions: number }).instructions : 0;
    return { step: s, instr: Math.max(0, ran - 1), cmds: p.cmds };
  }

  /** The run's trace asks the keyframes before it writes a shared chunk again (Trace.reusable). */
  private wireTrace(): void {
    this.current.trace.reusable = (b) => !this.keyframes.holds(b);
  }

  private restore(kf: Keyframe<ScenarioRun>): void {
    this.current = kf.restore(this.current);
    if (this.snapshot) this.wireTrace();
    this.applied = kf.at.cmds;
    // Versions went back with the machine: what each array was filled from is compared chunk by
    // chunk instead (updatePageStates).
    for (const c of this.statesCache.values()) c.restored = true;
    this.ownersCache.clear();
    // The migration's bitmap went back with the machine: every chunk is computed again.
    for (const v of this.migrationViews.values()) v.sigs.fill(NaN);
  }

  /** Run forward to `p`, stopping at the points where logged commands apply. */
  private replayTo(p: Position): void {
    for (;;) {
      const cur = this.position;
      const c = comparePositions(cur, p);
      if (c === 0) return;
      if (c > 0) throw new Error(`time travel: replay passed ${formatPosition(p)} (now at ${formatPosition(cur)}); the run is not deterministic`);
      if (this.dueCommand()) {
        this.applyOne();
        continue;
      }
      if (this.current.done || (cur.step === p.step && cur.instr >= p.instr)) throw new Error(`time travel: ${formatPosition(p)} is not on this timeline (stopped at ${formatPosition(cur)})`);
      this.advanceRaw(cur.step < p.step ? 1_000_000_000 : p.instr - cur.instr);
    }
  }

  /** The logged command due at the machine's cursor, or null. Throws when the run went past one. */
  private dueCommand(): LoggedCommand | null {
    const c = this.log[this.applied];
    if (!c) return null;
    const cmp = compareCursors(c, { step: this.current.next, instr: this.current.instructionsIntoStep });
    if (cmp < 0) {
      throw new ScenarioError([{ path: `$.commands[${this.applied}]`, message: `the command was logged at step ${c.step}, instruction ${c.instr}, but the run never stops there (it went on to step ${this.current.next}, instruction ${this.current.instructionsIntoStep})` }]);
    }
    return cmp === 0 ? c : null;
  }

  /** At the end of the run, a command still ahead in the log can never apply. */
  private checkLogEnd(): void {
    const c = this.log[this.applied];
    if (c) throw new ScenarioError([{ path: `$.commands[${this.applied}]`, message: `the command was logged at step ${c.step}, instruction ${c.instr}, after the end of the run (${this.current.scenario.steps.length} steps)` }]);
  }

  private applyOne(parsed?: StepT): StepResult {
    const c = this.log[this.applied];
    const st = parsed ?? Step.parse(c.command);
    this.applied++;
    return this.current.runOne(st);
  }

  private applyDue(): void {
    while (this.dueCommand()) this.applyOne();
  }

  /** One unit of work: the command due here, else one instruction (or a whole step). False at the end. */
  private unit(): boolean {
    if (this.dueCommand()) {
      this.applyOne();
      return true;
    }
    if (this.current.done) {
      this.checkLogEnd();
      return false;
    }
    this.advanceRaw(1);
    return true;
  }

  /** ScenarioRun.advance, stopping at the cursor of the next logged command in this step. */
  private advanceRaw(n: number): StepResult | null {
    const c = this.log[this.applied];
    if (c && c.step === this.current.next) n = Math.min(n, c.instr - this.current.instructionsIntoStep);
    return this.current.advance(Math.max(1, n));
  }

  /** Instructions retired, events recorded and KVM_RUNs so far (see RUN_WORK): how far keyframes are apart. */
  private work(): number {
    let n = this.current.trace.count;
    for (const h of this.current.world.hosts) for (const vm of h.kvm.vms) for (const v of vm.vcpus) n += (v.cpu?.instructionsRetired ?? 0) + RUN_WORK * v.runs;
    return n;
  }

  /** Mark the machine's point (at the frontier, or behind it where a seek passed), returning it. */
  private mark(): Position {
    const p = this.position;
    const last = this.marks.last();
    if (!last || comparePositions(p, last) > 0) this.marks.push(p, this.current.trace.count);
    else this.marks.insert(p, this.current.trace.count);
    return p;
  }

  /**
   * Mark the machine's point, and take a keyframe there when one is due: at the frontier, at the end
   * of each scenario step and wherever `keyframeEvery` of work (replay cost, see work()) lies since
   * the keyframe before, so a seek replays at most about that much; behind the frontier (where a
   * seek landed), when the unit that brought the machine here cost a quarter of that or more (a boot
   * instruction exiting thousands of times): the next seek to its events goes straight to its end.
   * Consecutive snapshots share what did not change, so one costs about what changed.
   */
  private record<T>(r: T, lastUnitWork = 0): T {
    const last = this.marks.last();
    const frontier = !last || comparePositions(this.position, last) > 0;
    const p = this.mark();
    if (this.snapshot) {
      const before = this.keyframes.atOrBefore(p);
      if (!samePosition(before.at, p)) {
        const work = this.work();
        const stepEnd = p.instr === 0 && p.step > before.at.step;
        // Counted from the newest keyframe before here, or from the last one taken running forward
        // if the budget evicted it: a machine whose keyframe alone is over the budget (a guest with
        // a gigabyte of written pages) would otherwise take one at every advance, each thrown away.
        const from = this.lastKeyframe.work <= work ? Math.max(before.work, this.lastKeyframe.work) : before.work;
        const every = this.keyframeEvery * this.lastKeyframe.backoff;
        const due = frontier ? stepEnd || work - from >= every : lastUnitWork >= this.keyframeEvery / 4;
        if (due) {
          // The hosts' stored page contents alone over the budget: a keyframe would hold them all and
          // be evicted at once, after copying a gigabyte. It is not taken.
          const stored = this.current.world.hosts.reduce((a, h) => a + h.host.memory.storedBytes, 0);
          let kept = false;
          if (stored <= this.keyframes.budget) {
            const k = { at: p, work, ...this.snapshot(this.current) };
            this.keyframes.add(k);
            kept = this.keyframes.entries().includes(k);
          }
          // Kept: the next comes after keyframeEvery. Not taken, or evicted at once (alone over the
          // budget): the next try waits twice as long, up to 64 times.
          if (frontier) this.lastKeyframe = { work, backoff: kept ? 1 : Math.min(64, this.lastKeyframe.backoff * 2) };
        }
      }
    }
    return r;
  }

  /** What a frame says of the timeline. */
  timeline(): TimelineView {
    const at = this.position;
    return { at, atStart: samePosition(at, START), firstEvent: this.unitStart, commands: this.log.slice(), keyframes: this.keyframes.size, keyframeBytes: this.keyframes.bytes };
  }

  private node(host: string): HostNode {
    const h = this.run.world.hosts.find((x) => x.name === host);
    if (!h) throw new ScenarioError([{ path: '$.host', message: `no host named "${host}" (hosts: ${this.run.world.hosts.map((x) => x.name).join(', ')})` }]);
    return h;
  }

  /** The VM `ref` names; the newest of that name on its host (a reused "as" name names the newest, as the steps do). */
  private vm(ref: VmRef): Vm {
    const node = this.node(ref.host);
    const v = node.kvm.vms.findLast((x) => x.name === ref.vm);
    if (!v) throw new ScenarioError([{ path: '$.vm', message: `no VM named "${ref.vm}" on host "${ref.host}"` }]);
    return v;
  }

  /**
   * The VmRef of the VM named `name`, for callers that know a name only (tests, the CLI); throws
   * when no host or several hosts run a VM of that name.
   */
  refOf(name: string): VmRef {
    const hosts = this.run.world.hosts.filter((h) => h.kvm.vms.some((v) => v.name === name)).map((h) => h.name);
    if (hosts.length === 0) throw new ScenarioError([{ path: '$.vm', message: `no VM named "${name}"` }]);
    if (hosts.length > 1) throw new ScenarioError([{ path: '$.vm', message: `VM name "${name}" is used on several hosts (${hosts.join(', ')}): name the host too` }]);
    return { host: hosts[0], vm: name };
  }

  walk(ref: VmRef, gpa: number): WalkHop[] {
    const vm = this.vm(ref);
    return translationWalk(vm, vm.kvm.host, gpa);
  }

  /**
   * Changes whenever the VM's page states may have changed: what pageStates() reads is the memslots
   * and attributes (layoutVersion), the EPT entries and the Secure-EPT entries, and each write to
   * an entry bumps its array's version. The VM's fd tells a VM apart from a new one of the same name.
   */
  stateVersion(ref: VmRef): string {
    const vm = this.vm(ref);
    return `${vm.fd}:${vm.layoutVersion}:${vm.mmu.ept.version}:${vm.td?.sept.version ?? 0}`;
  }

  /** Changes whenever the host's frame ownership may have changed. */
  hostVersion(host: string): string {
    return `${this.run.trace.count}:${this.node(host).host.memory.framesUsed}`;
  }

  /**
   * Page-state codes of a VM's GFNs (see inspect.ts PageState). With `out` a viewer's copy filled by
   * an earlier call, only the chunks of GFNs whose EPT or Secure-EPT entries were written since are
   * recomputed (all of them after a memslot or attribute change). Also returns the GFNs [from, to)
   * this call may have changed in `out` (all of them after a rebuild; from = to when nothing
   * changed): a viewer repaints only those.
   */
  updatePageStates(ref: VmRef, out?: Uint8Array): { states: Uint8Array; from: number; to: number } {
    const vm = this.vm(ref);
    const key = `${ref.host}\0${ref.vm}`;
    const n = gfnSpan(vm);
    const target = out && out.length >= n ? out : new Uint8Array(n);
    const ept = vm.mmu.ept;
    const sept = vm.td?.sept ?? null;
    const c = this.statesCache.get(key);
    let from = 0;
    let to = target.length;
    const same = c && c.out === target && c.vm === vm && c.n === n;
    const chunks = Math.ceil(n / PAGED_CHUNK);
    let redo: Iterable<number> | null = null;
    // The layout as text only when the versions cannot vouch for it (after a restore, or a change).
    const layout = same && !c.restored && c.layout === vm.layoutVersion ? c.layoutKey : layoutKey(vm);
    if (same && !c.restored && c.layout === vm.layoutVersion) {
      redo = new Set([...ept.changedChunksSince(c.ept, 0, n), ...(sept ? sept.changedChunksSince(c.sept, 0, n) : [])]);
    } else if (same && c.layoutKey === layout) {
      // After a restore (versions went back): the chunks whose storage or stamp differ from what
      // the array was filled from (PagedU32.chunkIdentity), usually few between nearby moments.
      const changed: number[] = [];
      for (let ci = 0; ci < chunks; ci++) {
        const [e, es] = ept.chunkIdentity(ci);
        const [p, ps] = sept ? sept.chunkIdentity(ci) : [undefined, 0];
        if (e !== c.eptChunks[ci] || es !== c.eptStamps[ci] || p !== c.septChunks[ci] || ps !== c.septStamps[ci]) changed.push(ci);
      }
      redo = changed;
    }
    if (redo) {
      from = n;
      to = 0;
      for (const ci of redo) {
        const a = ci * PAGED_CHUNK;
        const b = Math.min(n, a + PAGED_CHUNK);
        pageStates(vm, target.subarray(a, b), a, b - a);
        from = Math.min(from, a);
        to = Math.max(to, b);
      }
      if (to <= from) from = to = 0;
    } else {
      pageStates(vm, target, 0, n);
      // A longer array than the VM's span now (a memslot went away): nothing is there any more.
      target.fill(PageState.NO_MEMSLOT, n);
    }
    // What each chunk was filled from: only the recomputed chunks' change when the array was patched.
    const entry: StatesCacheEntry = redo && c
      ? { ...c, layout: vm.layoutVersion, layoutKey: layout, ept: ept.version, sept: sept?.version ?? 0, restored: false }
      : {
        out: target, vm, n, layout: vm.layoutVersion, layoutKey: layout, ept: ept.version, sept: sept?.version ?? 0, restored: false,
        eptChunks: new Array<Uint32Array | undefined>(chunks), eptStamps: new Float64Array(chunks), septChunks: new Array<Uint32Array | undefined>(chunks), septStamps: new Float64Array(chunks),
      };
    for (const ci of redo ?? Array.from({ length: chunks }, (_, i) => i)) {
      [entry.eptChunks[ci], entry.eptStamps[ci]] = ept.chunkIdentity(ci);
      [entry.septChunks[ci], entry.septStamps[ci]] = sept ? sept.chunkIdentity(ci) : [undefined, 0];
    }
    this.statesCache.set(key, entry);
    return { states: target, from, to };
  }

  /**
   * A host's frame owner codes (VM i is the host's own i-th VM, FrameView's order). With `out` a
   * viewer's copy filled by an earlier call, only the frames whose owner changed since are
   * recomputed (all of them after a bulk change or a new VM).
   */
  hostFrameOwners(host: string, out?: Uint8Array): Uint8Array {
    const node = this.node(host);
    const m = node.host.memory;
    const vms = node.kvm.vms;
    const n = m.nframes;
    const changed = m.takeOwnerChanges();
    const sig = vms.map((v) => `${v.name}:${[...v.gmems.values()].map((g) => g.ino).join(',')}:${v.td?.hkid ?? ''}`).join(';');
    const c = this.ownersCache.get(host);
    const reuse = out !== undefined && out === c?.out && out.length >= n && changed !== null && sig === c.sig;
    const target = out && out.length >= n ? out : new Uint8Array(n);
    frameOwners(node.host, vms, target, reuse ? changed : undefined);
    this.ownersCache.set(host, { out: target, sig });
    return target;
  }

  /** What frame `frame` of `host` is; throws for a frame past the host's memory. */
  frameInfo(host: string, frame: number): FrameInfo {
    const node = this.node(host);
    if (!Number.isInteger(frame) || frame < 0 || frame >= node.host.memory.nframes)
      throw new ScenarioError([{ path: '$.frame', message: `frame ${frame} is not in host "${host}"'s memory (${node.host.memory.nframes} frames)` }]);
    return frameInfo(node.host, node.kvm.vms, frame);
  }

  /**
   * What the attack-surface panel shows of a VM the VMM built (null for a VM made by KVM-level
   * steps, which has no VMM and no devices): devices, port and MMIO maps, ACPI tables, reset state,
   * MSRs, CPUID, capabilities, the boot log and the single figure.
   */
  attackSurface(ref: VmRef): AttackSurfaceView | null {
    const vmm = this.node(ref.host).vmms.get(ref.vm);
    if (!vmm) {
      this.vm(ref);
      return null;
    }
    const vm = vmm.vm;
    const p = vmm.platform;
    const maps = p.maps();
    const msrs = vmm.msrRows();
    const pendingDevices = vmm.devicesOf(vmm.pending);
    return {
      vm: ref.vm,
      host: ref.host,
      type: VM_TYPE_NAMES[vm.type] ?? String(vm.type),
      isTd: vmm.isTd,
      mode: vmm.running.mode,
      nextMode: vmm.pending.mode,
      needsReboot: vmm.pendingChanges(),
      allowList: vmm.running.mode === 'talk',
      frozen: p.frozen,
      // The switches show the next boot's setting; the maps show the running machine.
      devices: p.devicesView().map((d) => ({ ...d, enabled: pendingDevices[d.id] })),
      ports: maps.ports,
      mmio: maps.mmio,
      acpi: vmm.acpiTables().tables,
      reset: resetState(vmm.isTd ? 'tdx' : 'default', vmm.running.mode, { gpaw: vm.td?.gpaw ?? 48, vcpuIndex: 0 }),
      msrs,
      msrFilter: vm.msrPolicy.filterView(vm.userSpaceMsr),
      cpuid: cpuidRows(vm),
      caps: capRows(vm),
      bootLog: p.console,
      surface: vmm.surface(msrs),
      boots: vmm.boots,
    };
  }

  /**
   * The recorded events numbered [from, to), oldest first, at most MAX_EVENTS_QUERY (the newest of
   * the range when it is longer); events the trace no longer keeps are simply absent.
   */
  events(from: number, to: number): SimEvent[] {
    const tr = this.run.trace;
    const b = Math.min(to, tr.count);
    return tr.range(Math.max(from, b - MAX_EVENTS_QUERY), b);
  }

  /** Assemble a program without running it: the errors an editor marks, with line and column. */
  static diagnose(source: string, origin: number): { line: number; column: number; message: string }[] {
    const { errors } = assembleWithDiagnostics(source, { origin, services: KERNEL_SERVICES });
    return errors.map((e: AsmError) => ({ line: e.line, column: e.column, message: e.message }));
  }

  /** The VMM process's mappings and how many guest pages each maps now. */
  vmmMappings(ref: VmRef): VmmMapping[] {
    const vm = this.vm(ref);
    // Which slot backs each host address: the first slot (in the VM's order) whose userspace range
    // holds it, as disjoint segments [from, to) in address order.
    const segments: { from: number; to: number; slot: Memslot }[] = [];
    for (const slot of vm.slots.values()) {
      let pieces = [[slot.userspaceAddr, slot.userspaceAddr + slot.npages * PAGE_SIZE]];
      for (const g of segments) pieces = pieces.flatMap(([a, b]) => (g.to <= a || g.from >= b ? [[a, b]] : [[a, g.from], [g.to, b]].filter(([x, y]) => x < y)));
      for (const [from, to] of pieces) segments.push({ from, to, slot });
    }
    segments.sort((x, y) => x.from - y.from);
    return vm.vmm.vmas.map((v) => {
      let resident = 0;
      const runs: [number, number][] = [];
      // Runs of present pages, each cut where slots begin and end: the guest pages they back.
      for (const [hva, n] of vm.vmm.presentRuns(v.start, v.end - v.start)) {
        resident += n;
        const end = hva + n * PAGE_SIZE;
        for (const { from: a, to: b, slot } of segments) {
          const from = Math.max(hva, a);
          const to = Math.min(end, b);
          if (from >= to) continue;
          const gfn = slot.baseGfn + (from - slot.userspaceAddr) / PAGE_SIZE;
          const pages = (to - from) / PAGE_SIZE;
          const last = runs[runs.length - 1];
          if (last && last[0] + last[1] === gfn) last[1] += pages;
          else runs.push([gfn, pages]);
        }
      }
      const shown = runs.length > MAX_GUEST_RUNS ? runs.slice(0, MAX_GUEST_RUNS) : runs;
      return {
        start: hex(v.start), end: hex(v.end), prot: v.prot, name: v.name, resident,
        guest: shown.map(([g, n]) => ({ gpa: hex(g * PAGE_SIZE), end: hex((g + n) * PAGE_SIZE), pages: n })),
        guestMore: runs.length - shown.length,
      };
    });
  }

  /**
   * The frame summary. `sinceSeq` is the newest event the receiver already has: the frame carries the
   * events after it, at most the newest `maxEvents`.
   */
  frame(sinceSeq = -1, maxEvents = MAX_NEW_EVENTS, withFocus = true): LabFrame {
    const r = this.run;
    const events = r.trace.range(Math.max(sinceSeq + 1, r.trace.count - maxEvents), r.trace.count);
    // The newest event, made once: it is usually the last one carried, and often the focus too.
    const last = events.at(-1) ?? r.trace.last();
    return {
      title: r.scenario.title,
      explanation: r.scenario.explanation,
      timeNs: r.clock.now,
      stepIndex: r.next,
      stepCount: r.scenario.steps.length,
      steps: r.scenario.steps.map((s) => ({ do: s.do, note: s.note ?? null, show: s.show ?? null, ask: s.ask ?? null })),
      done: r.done,
      results: r.results,
      events,
      eventCount: r.trace.count,
      narration: last ? last.text : r.scenario.explanation,
      focus: withFocus ? this.focus(last) : null,
      vms: r.world.hosts.flatMap((h) => h.kvm.vms.map((vm) => this.vmView(h, vm))),
      hosts: r.world.hosts.map((h) => ({ name: h.name, memory: h.host.memory.nframes * PAGE_SIZE, frames: h.host.memory.nframes, framesUsed: h.host.memory.framesUsed })),
      links: r.world.links.map(({ name, from, to, bandwidth, latency, state }) => ({ name, from, to, bandwidth, latency, state })),
      timeline: this.timeline(),
      migrations: r.world.migrations.map((m, id) => this.migrationView(m, id)),
      migrationRoutes: this.migrationRoutes(),
      stepProgress: this.stepProgress(),
    };
  }

  /** How far the step in progress is (see StepProgress), or null between steps. */
  stepProgress(): StepProgress | null {
    const r = this.current;
    const p = r.partialStep;
    if (!p) return null;
    const st = r.scenario.steps[p.step];
    const now = r.clock.now;
    switch (st.do) {
      case 'run':
        return { step: p.step, unit: 'instructions', done: r.instructionsIntoStep, total: st.max_instructions, bound: 'limit', what: `instructions of ${st.vm}${st.vcpu ? ` vCPU ${st.vcpu}` : ''}` };
      case 'reboot':
        return { step: p.step, unit: 'instructions', done: r.instructionsIntoStep, total: st.max_instructions, bound: 'limit', what: `instructions of ${st.vm}'s boot` };
      case 'KVM_RUN':
        return { step: p.step, unit: 'instructions', done: r.instructionsIntoStep, total: st.max_instructions, bound: 'limit', what: `instructions of ${st.vm} vCPU ${st.vcpu} in one KVM_RUN` };
      case 'run_until':
        if (p.until === undefined || p.startNs === undefined) return null;
        return { step: p.step, unit: 'ns', done: now - p.startNs, total: p.until - p.startNs, bound: st.status === undefined ? 'target' : 'limit', what: 'virtual time' };
      case 'link_send': {
        const t = r.world.links.find((l) => l.name === st.link)?.inFlight.find((x) => x.id === p.transfer);
        if (!t) return null;
        return { step: p.step, unit: 'ns', done: now - t.sentAt, total: t.deliverAt - t.sentAt, bound: 'target', what: `virtual time until ${st.link} delivers` };
      }
      default:
        return null;
    }
  }

  private migrationView(m: MigrationThread, id: number): MigrationView {
    const from = Math.max(0, m.rounds.length - MAX_FRAME_ROUNDS);
    const host = this.run.world.hosts.find((h) => h.vmms.get(m.src) === m.vmms.src)?.name ?? '';
    return {
      id, vm: m.src, host, to: m.dst, link: m.link, parameters: { ...m.parameters },
      capabilities: CAPABILITY_NAMES.filter((c) => m.capabilities[c]), info: m.info(this.run.clock.now),
      rounds: m.rounds.slice(from).map((x) => ({ ...x })), roundsFrom: from, roundCount: m.rounds.length,
      current: m.finished || m.status === 'setup' ? null : {
        round: m.rounds.length,
        bytes: m.stats.transferred - m.rounds.reduce((n, x) => n + x.bytes, 0),
        start_ns: m.rounds.length ? m.rounds[m.rounds.length - 1].start_ns + m.rounds[m.rounds.length - 1].duration_ns : m.startNs,
      },
      npages: m.npages, dirtyLog: m.dirty.kind,
      ...(m.incoming.page.length ? { postcopy: this.postcopyView(m) } : {}),
    };
  }

  private postcopyView(m: MigrationThread): PostcopyView {
    const inc = m.incoming;
    const l = inc.log;
    const k = Math.max(0, l.vcpu.length - MAX_FRAME_FAULTS);
    return {
      ...m.postcopySummary(this.run.clock.now), startNs: m.pc.startNs, runNs: inc.runNs,
      preempt: m.capabilities['postcopy-preempt'], blocktime: m.capabilities['postcopy-blocktime'], nvcpus: m.vmms.dst.nvcpus,
      mechanism: m.priv?.viaTdxModule ? 'tdx-module' : m.priv && m.priv.design !== 'upstream' ? m.priv.design : 'userfaultfd',
      faults: { vcpu: l.vcpu.slice(k), page: l.page.slice(k), start: l.start.slice(k), end: l.end.slice(k), how: l.how.slice(k) },
      faultsFrom: l.dropped + k, faultCount: l.dropped + l.vcpu.length,
      blockedSince: [...inc.blockedSince], blockedPage: [...inc.blockedPage],
    };
  }

  /** The scenario's migrate steps, once each (source VM, destination, link), with the source VMM's settings now. */
  private migrationRoutes(): MigrationRoute[] {
    const out: MigrationRoute[] = [];
    for (const st of this.run.scenario.steps) {
      if (st.do !== 'migrate' || out.some((r) => r.vm === st.vm && r.to === st.to && r.link === st.link)) continue;
      const node = this.run.world.hosts.find((h) => h.vmms.has(st.vm));
      const vmm = node?.vmms.get(st.vm);
      if (!node || !vmm) continue;
      out.push({
        vm: st.vm, host: node.name, to: st.to, link: st.link, runState: vmm.runState,
        parameters: { ...vmm.migrationParameters }, capabilities: { ...vmm.migrationCapabilities }, dirtyRing: vmm.dirtyRing.enabled,
      });
    }
    return out;
  }

  /** Pages of migration `id`'s RAM batches on its link now (the batch being sent). */
  private inFlightPages(m: MigrationThread): number {
    const link = this.run.world.links.find((l) => l.name === m.link);
    let n = 0;
    for (const t of link?.inFlight ?? []) {
      if (!t.label.startsWith('RAM')) continue;
      const pages = /(\d+) page/.exec(t.label);
      n += pages ? Number(pages[1]) : Math.ceil(t.bytes / (PAGE_SIZE + 8));
    }
    return n;
  }

  /**
   * What migration `id` (its index in the world's migrations) changes changed since the last call:
   * whether its page states may differ. The worker recomputes the maps only when it changes.
   */
  migrationVersion(id: number): string {
    const m = this.run.world.migrations[id];
    if (!m) throw new ScenarioError([{ path: '$.migration', message: `no migration ${id} (there are ${this.run.world.migrations.length})` }]);
    const st = m.stats;
    // While it runs, guest writes change the dirty log between the migration's own steps (the trace
    // counts them); once it has ended, nothing the maps show changes any more.
    return `${m.status}:${st.transferred}:${st.dirtySyncCount}:${m.scan}${m.finished ? '' : `:${this.run.trace.count}`}`;
  }

  /**
   * The page states of migration `id`'s source and destination maps (core/migration-page-state.ts),
   * one code per page of its RAM block, and the count of pages per state. The arrays are the Lab's
   * own, patched where the migration's bitmap or the dirty log changed (vmm/migration/page-states.ts);
   * `from`/`to` are the pages that may have changed since the previous call.
   */
  migrationPageStates(id: number): { src: Uint8Array; dst: Uint8Array; counts: Uint32Array; from: number; to: number } {
    const m = this.run.world.migrations[id];
    if (!m) throw new ScenarioError([{ path: '$.migration', message: `no migration ${id} (there are ${this.run.world.migrations.length})` }]);
    let v = this.migrationViews.get(id);
    if (!v || v.src.length !== m.npages) {
      v = newMigrationPageView(m.npages);
      this.migrationViews.set(id, v);
    }
    const r = updateMigrationPageView(m, v, this.inFlightPages(m));
    return { src: v.src, dst: v.dst, counts: v.counts, from: r.from, to: r.to };
  }

  /** The newest event on pages (`last`, when it is one, else found in the trace's columns). */
  private focus(last: SimEvent | undefined): LabFrame['focus'] {
    const e = last?.gfns ? last : this.run.trace.lastTouching();
    return e && e.host && e.vm && e.gfns ? { seq: e.seq, host: e.host, vm: e.vm, name: e.name, gfns: e.gfns } : null;
  }

  private vmView(node: HostNode, vm: Vm): VmView {
    const vmm = node.vmms.get(vm.name);
    const vcpu = vm.vcpus[0];
    const cpu = vcpu?.cpu ?? null;
    const td = vm.td;
    let regs: Record<string, string> | null = null;
    let regsNote = '';
    if (cpu) {
      if (td && !td.debug) regsNote = 'The host cannot read a TD\'s registers (KVM_GET_REGS fails with EINVAL without the DEBUG attribute).';
      else regs = vcpu.getRegs();
    }
    const prog = cpu?.program ?? null;
    return {
      name: vm.name,
      host: node.name,
      type: VM_TYPE_NAMES[vm.type],
      isTd: vm.isTd,
      gfnCount: gfnSpan(vm),
      console: vmm?.console ?? '',
      regs,
      regsNote,
      rip: cpu ? hex(cpu.rip) : null,
      line: prog && cpu ? prog.lineOf(cpu.rip) ?? null : null,
      instruction: prog && cpu ? describeInsn(prog, cpu.rip) : null,
      instructions: cpu?.instructionsRetired ?? 0,
      dead: vm.dead,
      memslots: [...vm.slots.values()].map((s) => ({
        slot: s.id, guest_phys_addr: hex(s.baseGfn * PAGE_SIZE), memory_size: hex(s.npages * PAGE_SIZE), flags: s.flags,
        userspace_addr: hex(s.userspaceAddr), guest_memfd: s.gmem ? s.gmem.fd : -1, guest_memfd_offset: hex(s.gmemPgoff * PAGE_SIZE),
      })),
      program: prog ? prog.sourceLines.join('\n') : null,
      origin: prog ? hex(prog.origin) : null,
      td: td ? { hkid: td.hkid, attributes: hex(td.attributes), gpaw: td.gpaw, sharedBit: td.gpaw - 1, mrtd: td.mrtd.value, pending: td.pendingPages, mapped: td.mappedPages, lifecycle: td.lifecycle } : null,
      vcpus: vmm ? vmm.threads.map((t) => ({ index: t.index, state: t.state, ...t.snapshotCounts() }))
        : vm.vcpus.map((v) => ({ index: v.id, state: 'idle', instructions: v.cpu?.instructionsRetired ?? 0, exits: 0, time: {} })),
    };
  }
}

