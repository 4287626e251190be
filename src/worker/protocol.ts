/**
 * The contract between the UI and the lab worker. The UI controls the Lab only through this API
 * (Comlink RPC) and never mutates machine state itself. Types only: no code runs from here.
 */
import type { SimEvent } from '../sim/core/trace';
import type { LabFrame, VmRef, VmmMapping } from '../sim/lab';

export type { HostView, LinkView, LabFrame, VmRef, VmView, VmmMapping } from '../sim/lab';
import type { FrameInfo, WalkHop } from '../sim/inspect';
import type { StepResult } from '../sim/scenario/runner';
import type { ScenarioIssue } from '../sim/scenario/schema';
import type { AttackSurfaceView } from '../sim/vmm/surface-view';

export type StepKind = 'instruction' | 'exit' | 'event' | 'step';
export type { StepProgress } from '../sim/lab';

/**
 * How play runs: 'step' (the lesson's pace) runs the scenario step in progress, or the next one, as
 * fast as the worker can and stops at its end; 'free' runs on at `speed` instructions per display
 * frame until paused or the scenario ends.
 */
export type Pace = 'step' | 'free';

/** A moment a link names: the user's commands (with where each applied) and an event number. */
export interface MomentInput {
  commands: unknown;
  event: number | null;
}

/** One published frame: the JSON summary plus the page-state arrays. */
export interface FramePacket {
  /** Monotonic frame number. */
  n: number;
  /** Which machine the frame shows: a new number at every load and restart (its events start again at 0). */
  run: number;
  frame: LabFrame;
  playing: boolean;
  /** While playing, how (see Pace); the last play's when stopped. */
  pace: Pace;
  /**
   * Per VM (its host and name: names may repeat across hosts): page-state codes by GFN (see
   * src/sim/inspect.ts PageState), what they were computed from (equal version: unchanged), and the
   * GFNs [from, to) that may have changed since the previous packet (absent: any of them).
   */
  pages: (VmRef & { states: Uint8Array; version: string; dirty?: readonly [number, number] })[];
  /**
   * Per host, in the frame's host order: frame owner codes (0 free, 1 host kernel, 2 process,
   * 3+2i guest_memfd of the host's VM i, 4+2i TDX metadata of the host's VM i) and what they were
   * computed from (equal to the previous packet's: unchanged).
   */
  hosts: { host: string; owners: Uint8Array; version: string }[];
  /**
   * Per migration (`id`: its index in frame.migrations), the migration panel's two page maps: one
   * code per page of the RAM block (src/sim/core/migration-page-state.ts) on the source and the
   * destination, the pages per state code (`counts`, both sides), what they were computed from, and
   * the pages [from, to) that may have changed since the previous packet (absent: any of them).
   */
  migrationPages: { id: number; src: Uint8Array; dst: Uint8Array; counts: number[]; version: string; dirty?: readonly [number, number] }[];
  /** True when the arrays live in SharedArrayBuffers (cross-origin isolated page): they are updated in place. */
  shared: boolean;
  /** Worker-side cost of building this frame, in ms. */
  buildMs: number;
}

/**
 * A FramePacket as it crosses from the worker without shared arrays: an array whose version is the
 * one the worker sent last is left out (copying and transferring an unchanged 1M-page map at every
 * frame cost both threads), and lab-client puts back the array it kept.
 */
export type WirePacket = Omit<FramePacket, 'pages' | 'hosts' | 'migrationPages'> & {
  pages: (Omit<FramePacket['pages'][number], 'states'> & { states?: Uint8Array })[];
  hosts: (Omit<FramePacket['hosts'][number], 'owners'> & { owners?: Uint8Array })[];
  migrationPages: (Omit<FramePacket['migrationPages'][number], 'src' | 'dst'> & { src?: Uint8Array; dst?: Uint8Array })[];
};

/**
 * A load's answer. With a moment that could not be reached (a malformed command log, an event the
 * run never records), the scenario still loads, at its start, and `momentIssues` says why.
 */
export type LoadResult = { ok: true; momentIssues?: ScenarioIssue[]; event?: number } | { ok: false; issues: ScenarioIssue[] };
/** A seek's answer: the newest event at the moment reached (the one asked for, or the run's last). */
export type SeekResult = { ok: true; event: number } | { ok: false; issues: ScenarioIssue[] };
export type CommandResult = { ok: true; result: StepResult } | { ok: false; issues: ScenarioIssue[] };

export interface LabApi {
  /** Load (or reload) a scenario, at a moment if given; an invalid scenario changes nothing and returns the problems. */
  load(scenario: unknown, moment?: MomentInput): Promise<LoadResult>;
  /** Go to the first point where event `event` has been recorded (time travel; see Lab.seek). */
  seek(event: number): Promise<SeekResult>;
  /** Step back one instruction, to the previous event, exit or scenario step (moved: false at the start); the events recorded there. */
  stepBack(kind: StepKind): Promise<{ moved: boolean; events: number }>;
  /**
   * Play: with pace 'free' (the default) continuously, `speed` guest instructions per display frame;
   * with 'step', flat out to the end of the scenario step in progress (or of the next one), then stop.
   */
  play(speed: number, pace?: Pace): Promise<void>;
  pause(): Promise<void>;
  setSpeed(speed: number): Promise<void>;
  /**
   * One instruction, event or exit forward; or with 'step', the scenario step in progress (or the
   * next) run as play with pace 'step' does, in slices, answering once that play stopped.
   */
  step(kind: StepKind): Promise<void>;
  /** Reload the current scenario from the start. */
  restart(): Promise<void>;
  /** Run a command given as a scenario step (host_read, convert, KVM_... ioctls). */
  command(step: unknown): Promise<CommandResult>;
  walk(vm: VmRef, gpa: number): Promise<WalkHop[]>;
  /** The VMM process's mappings, with the resident guest pages each maps (as GPA runs). */
  vmmMappings(vm: VmRef): Promise<VmmMapping[]>;
  /** What frame `frame` of `host` is (owner, VM, where it appears); null for an unknown host or frame. */
  frameInfo(host: string, frame: number): Promise<FrameInfo | null>;
  /** Recorded events numbered [from, to), oldest first (at most 5,000; those the trace dropped are absent). */
  events(from: number, to: number): Promise<SimEvent[]>;
  /**
   * The report of the run so far, as `npm run sim` prints it (results of the steps done, every event
   * the trace keeps, the summary now); null before a scenario loads.
   */
  report(): Promise<string | null>;
  /** The attack-surface view of one VM (devices, port and MMIO maps, ACPI, reset state, MSRs, CPUID, capabilities, boot log); null for an unknown VM. */
  attackSurface(vm: VmRef): Promise<AttackSurfaceView | null>;
  /** Assemble a program without running it; the errors with line and column (for the editor). */
  diagnose(source: string, origin: number): Promise<{ line: number; column: number; message: string }[]>;
  /** The page applied frame `n` (flow control: while playing, the next frame waits for this). */
  applied(n: number): Promise<void>;
  /** Register the frame callback (a Comlink proxy). */
  subscribe(cb: (p: WirePacket) => void): Promise<void>;
  /** Make the worker throw from its event loop, as a bug would (only used by the crash-recovery test). */
  crashForTest(): Promise<void>;
  /** Test hook (?debug=1): the worker closes itself (self.close()), as a worker that goes away without an error would. */
  closeForTest(): Promise<void>;
  /** The watchdog's question: answered at once between two slices of the play loop. */
  ping(): Promise<number>;
  /** Whether the worker can share arrays (crossOriginIsolated). */
  info(): Promise<{ crossOriginIsolated: boolean; inWorker: boolean }>;
}
