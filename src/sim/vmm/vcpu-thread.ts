import type { Actor } from '../core/actor';
import { Cost, throttleSleepNs } from '../core/clock';
import type { Vcpu } from '../kvm/vcpu';
import type { RunExit, RunResult } from '../kvm/run';

/** What one call of the vCPU loop (VmmVm.run, kvm_cpu_exec()) did, and why it stopped. */
export interface RunOutcome {
  /** Why the loop stopped. */
  stop: 'halted' | 'panicked' | 'userfault' | 'shutdown' | 'internal-error' | 'vm-dead' | 'budget' | 'exit' | 'system-event' | 'error';
  instructions: number;
  exits: number;
  message: string;
  lastExit?: RunExit;
  kvmRun?: RunResult;
  /** The thread must sleep this long before it runs the vCPU again (dirtylimit_vcpu_execute() on a full dirty ring). */
  sleepNs?: number;
}

/**
 * What a vCPU thread is doing:
 * - `running`  — runnable: in KVM_RUN or about to enter it;
 * - `halted`   — HLT: blocked in KVM (or the VMM after KVM_EXIT_HLT) until an interrupt or its
 *                TSC-deadline timer; ready again at the timer's deadline, if one is armed;
 * - `blocked`  — waiting for a page (a post-copy fault the page-fault thread resolves); ready again
 *                when `unblock()` is called;
 * - `sleeping` — throttled: QEMU's cpu_throttle_thread() (auto-converge) or dirtylimit_vcpu_execute()
 *                (dirty limit, on a full dirty ring) keeps it off the CPU until a virtual time;
 * - `paused`   — stopped by its VMM (`stop`), until `cont`;
 * - `panicked` — the guest kernel panicked and spins in panic(); never runs again;
 * - `stopped`  — the guest shut down, KVM_RUN failed or the VM died; never runs again.
 */
export type VcpuRunState = 'running' | 'halted' | 'blocked' | 'sleeping' | 'paused' | 'panicked' | 'stopped';
export const VCPU_RUN_STATES: readonly VcpuRunState[] = ['running', 'halted', 'blocked', 'sleeping', 'paused', 'panicked', 'stopped'];

/** Per-vCPU counts: instructions and exits, and virtual ns spent in each state. */
export interface VcpuCounts {
  instructions: number;
  exits: number;
  time: Record<VcpuRunState, number>;
}

/** A run step's request on one vCPU: stop after one exit or at a halt, within a budget. */
export interface RunRequest {
  until: 'halt' | 'exit';
  left: number;
  instructions: number;
  exits: number;
  last: RunOutcome | null;
}

/** What the thread needs from its VMM (vmm.ts implements it). */
export interface VcpuHost {
  readonly vmName: string;
  readonly vcpus: readonly Vcpu[];
  /** kvm_cpu_exec(): KVM_RUN and answer exits until a halt, an exit (until = 'exit') or the budget. */
  run(vcpuId: number, until: 'halt' | 'exit', budget: number, total?: number): RunOutcome;
  now(): number;
  trace(name: string, args: Record<string, string | number | boolean>, text: string, vcpu: number): void;
}

/**
 * One vCPU thread of the VMM (QEMU's kvm_vcpu_thread_fn), as an actor of the world's scheduler.
 * A running thread runs its guest to the next `Cost.vcpuQuantum` boundary of its own instruction
 * count (or its next exit), then yields; a halted one wakes at its timer's deadline; a sleeping one when its
 * throttle sleep ends; blocked and paused ones when somebody wakes them.
 */
export class VcpuThread implements Actor {
  /** Wiring: the VMM's callbacks, and the scheduler's horizon (World.addVmm sets it again on a fresh world). */
  static readonly stateSkip: readonly string[] = ['host', 'horizon', 'cap'];
  readonly kind = 'vcpu';
  readonly name: string;
  state: VcpuRunState;
  /** Why it stopped or panicked, or what it waits for when blocked. */
  why = '';
  readonly counts: VcpuCounts = { instructions: 0, exits: 0, time: { running: 0, halted: 0, blocked: 0, sleeping: 0, paused: 0, panicked: 0, stopped: 0 } };
  /** The order keys (host, VM, vCPU index) for ties; the world sets host and VM. */
  order: readonly number[];
  /**
   * When the next other actor is due and where the current run ends (the world's scheduler sets it,
   * Scheduler.horizon): a running vCPU runs until the first, never past the second.
   */
  horizon: () => { next: number | null; limit: number } = () => ({ next: null, limit: Infinity });
  /** The current run step's request, if any. */
  request: RunRequest | null = null;
  /** The outcome of the last slice of KVM_RUN. */
  last: RunOutcome | null = null;
  private since: number;
  /** When a running thread last yielded (it is ready again from then). */
  private readyTime: number;
  private sleepUntil = 0;
  /** The state a sleep or a pause returns to. */
  private resumeTo: VcpuRunState = 'running';
  /** A throttle tick asked this vCPU to sleep (cpu->throttle_thread_scheduled). */
  throttlePending = 0;
  /**
   * A run of the vCPU loop that yielded after an exit to user space and goes on in the next act, as
   * the same run: the instructions left of its budget, and that budget (for the messages). The
   * thread yields after every exit so a slice (a UI frame, a time-travel stop) can end there; the
   * scheduler runs a continuing actor next, before anything else (Actor.continuing), so the world
   * goes on exactly as if the loop had not yielded.
   */
  chunk: { left: number; total: number } | null = null;
  /**
   * At most this many instructions in the next act (a run step's slice, runVcpu sets it around each
   * scheduler step): a KVM_RUN cut short by it returns early and the rest of the run goes on in the
   * next act, before any other actor, as after an exit. Virtual time inside a KVM_RUN is exact
   * (Clock.now), so the cut moves no event.
   */
  cap = Infinity;

  constructor(private readonly host: VcpuHost, readonly index: number, initial: VcpuRunState = 'running') {
    this.name = `${host.vmName}/vcpu${index}`;
    this.order = [0, 0, index];
    this.state = initial;
    this.since = host.now();
    this.readyTime = this.since;
  }

  private get vcpu(): Vcpu {
    return this.host.vcpus[this.index];
  }

  /**
   * Held between a prelaunch VM's run steps (VmmVm.step): it keeps its state (halted, running) for
   * the reader but does not run, and the time counts as paused.
   */
  private held = false;

  private flushTime(): void {
    const now = this.host.now();
    this.counts.time[this.held ? 'paused' : this.state] += now - this.since;
    this.since = now;
  }

  hold(on: boolean): void {
    if (on === this.held) return;
    this.flushTime();
    this.held = on;
    if (!on && this.state === 'running') this.readyTime = Math.max(this.readyTime, this.host.now());
  }

  private set(state: VcpuRunState, why = ''): void {
    const now = this.host.now();
    this.flushTime();
    this.state = state;
    this.why = why;
    if (state === 'running') this.readyTime = now;
  }

  /** Counts with the time in the current state up to now. */
  snapshotCounts(): VcpuCounts {
    const time = { ...this.counts.time };
    time[this.held ? 'paused' : this.state] += this.host.now() - this.since;
    return { instructions: this.counts.instructions, exits: this.counts.exits, time };
  }

  readyAt(): number | null {
    if (this.held) return null;
    switch (this.state) {
      case 'running':
        return this.readyTime;
      case 'halted':
        return this.vcpu.interruptPending ? this.since : this.vcpu.timerDeadlineNs();
      case 'sleeping':
        return this.sleepUntil;
      default:
        return null;
    }
  }

  /** Panicked or stopped: it runs again only after a reboot (so the scheduler keeps the actor). */
  get finished(): boolean {
    return this.state === 'panicked' || this.state === 'stopped';
  }

  /** Mid-run: it yielded after an exit and must run again at once (the scheduler runs it next). */
  continuing(): boolean {
    return this.chunk !== null && !this.held;
  }

  act(now: number): void {
    if (this.chunk) {
      const c = this.chunk;
      this.chunk = null;
      this.runChunk(c.left, c.total);
      return;
    }
    if (this.state === 'sleeping') {
      this.set(this.resumeTo);
      if ((this.state as VcpuRunState) !== 'running') return;
    }
    if (this.throttlePending > 0) {
      this.sleep(now);
      return;
    }
    if (this.state === 'halted') {
      const t = this.vcpu.timerDeadlineNs();
      if (t !== null && t <= now) this.vcpu.fireTimer();
      else this.vcpu.interruptPending = false;
      this.set('running');
    }
    if (this.state !== 'running') return;
    // To the next quantum boundary below (whatever other actor is due sooner); never past the time asked for.
    const h = this.horizon();
    let budget = h.next === null ? Number.MAX_SAFE_INTEGER : Math.max(Cost.vcpuQuantum, Math.ceil((h.next - now) / Cost.instruction));
    if (h.limit !== Infinity) budget = Math.min(budget, Math.max(1, Math.ceil((h.limit - now) / Cost.instruction)));
    if (this.request) budget = Math.min(budget, this.request.left);
    // The host's scheduler tick: KVM_RUN returns at every Cost.vcpuQuantum-th instruction of the
    // thread at the latest. Fixed boundaries of the thread's own count, so where they fall does not
    // depend on how a run is driven, and a UI slice or a time-travel stop has an actor boundary at
    // least that often.
    budget = Math.min(budget, Cost.vcpuQuantum - (this.counts.instructions % Cost.vcpuQuantum));
    if (budget <= 0) return;
    this.runChunk(budget, budget);
  }

  /**
   * The vCPU loop for `budget` instructions (of a run of `total`): it yields after each exit it
   * handled, and after `cap` instructions (the rest goes on in the next act).
   */
  private runChunk(budget: number, total: number): void {
    const until = this.request?.until ?? 'halt';
    const n = Math.min(budget, Math.max(1, this.cap));
    let o = this.host.run(this.index, 'exit', n, total);
    if (o.stop === 'budget' && n < budget) {
      // Cut by the cap: KVM_RUN returned early; the run goes on from here in the next act.
      this.chunk = { left: budget - o.instructions, total };
    } else if (o.stop === 'exit' && until !== 'exit') {
      const left = budget - o.instructions;
      // The loop would go on (KVM_RUN again) — or stop at its budget, with nothing more to report.
      if (left > 0) this.chunk = { left, total };
      else o = { ...o, stop: 'budget', message: `the guest ran ${total} instructions without halting; the run stopped at the step budget`, lastExit: undefined, kvmRun: undefined };
    }
    this.last = o;
    this.counts.instructions += o.instructions;
    this.counts.exits += o.exits;
    const r = this.request;
    if (r) {
      r.left -= o.instructions;
      r.instructions += o.instructions;
      r.exits += o.exits;
      r.last = o;
    }
    switch (o.stop) {
      case 'budget':
      case 'exit':
        this.readyTime = this.host.now();
        break;
      case 'halted':
        this.set('halted', o.message);
        break;
      case 'panicked':
        this.set('panicked', o.message);
        break;
      case 'userfault':
        // Asleep in handle_userfault(): whoever installs the page wakes it (unblock()), and KVM_RUN retries the access.
        this.set('blocked', o.message);
        break;
      default:
        this.set('stopped', o.message);
    }
    // dirtylimit_vcpu_execute(): g_usleep() in the thread, so the rest of the run waits for the sleep.
    if (o.sleepNs && this.state === 'running') {
      this.chunk = null;
      this.resumeTo = 'running';
      this.sleepUntil = this.host.now() + o.sleepNs;
      this.set('sleeping', 'dirty limit: sleeping on a full dirty ring');
    }
  }

  /** cpu_throttle_thread(): sleep pct / (1 - pct) of the 10 ms timeslice. */
  private sleep(now: number): void {
    const pct = this.throttlePending;
    this.throttlePending = 0;
    const ns = throttleSleepNs(pct);
    this.resumeTo = this.state;
    this.sleepUntil = now + ns;
    this.set('sleeping');
    this.host.trace('cpu_throttle_thread', { pct, sleep_ns: ns }, `vCPU ${this.index} is throttled: it sleeps ${(ns / 1e6).toFixed(2)} ms (${pct}% throttle) before it may run again.`, this.index);
  }

  /** A throttle tick: a running or halted vCPU sleeps at its next chance (a halted one is kicked). */
  throttle(pct: number): void {
    if (this.state !== 'running' && this.state !== 'halted') return;
    this.throttlePending = pct;
    if (this.state === 'halted') this.sleep(this.host.now());
  }

  /**
   * Wake a halted vCPU as an interrupt would (a scenario's `run` step resumes a guest that halted,
   * as the lab always has); returns whether it was halted.
   */
  kick(): boolean {
    if (this.state !== 'halted') return false;
    this.set('running');
    return true;
  }

  /** The VMM stops the vCPU (vm_stop → pause_all_vcpus). */
  pause(): void {
    if (this.state === 'paused' || this.finished) return;
    this.resumeTo = this.state === 'sleeping' ? this.resumeTo : this.state;
    this.set('paused');
  }

  /** The VMM lets the vCPU run again (cont → resume_all_vcpus): it goes back to what it was doing. */
  resume(): void {
    if (this.state !== 'paused') return;
    this.set(this.resumeTo);
  }

  /**
   * Incoming migration: this (paused) thread takes over what a paused source thread was doing before
   * vm_stop, so that `resume` goes back to it (running, halted until its timer, ...).
   */
  adopt(from: VcpuThread): void {
    this.flushTime();
    this.why = from.why;
    if (from.finished) {
      this.state = from.state;
      return;
    }
    const was = from.state === 'paused' ? from.resumeTo : from.state;
    this.state = 'paused';
    // A throttle sleep is the source's own (the destination starts unthrottled).
    this.resumeTo = was === 'sleeping' ? 'running' : was;
    this.throttlePending = 0;
    this.chunk = null;
  }

  /** A reboot: the vCPU starts its program again (a stopped or panicked thread runs again). */
  restart(): void {
    this.throttlePending = 0;
    this.request = null;
    if (this.state !== 'paused') this.set('running');
    else this.resumeTo = 'running';
  }

  /** The vCPU waits for a page (a post-copy fault): it runs again when unblock() is called. */
  block(on: string): void {
    if (this.state !== 'running') throw new Error(`vCPU ${this.index} is ${this.state}: only a running vCPU can block on a page`);
    this.set('blocked', on);
  }

  unblock(): void {
    if (this.state !== 'blocked') return;
    this.set('running');
  }
}
