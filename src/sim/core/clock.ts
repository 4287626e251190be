/**
 * The virtual clock, in nanoseconds. Time advances only by the documented costs below, so a
 * scenario's timeline is reproducible and independent of the machine running it. The figures are
 * orders of magnitude from public measurements (a VM exit round trip is ~1 µs on modern Intel parts,
 * a TD exit through the TDX module several times that); they are for teaching, not for prediction.
 */
export const Cost = {
  /** One guest instruction. */
  instruction: 1,
  /** A VM exit handled in KVM and re-entered (VMX round trip). */
  vmExit: 1_000,
  /** A TD exit: TDX module save/restore on both sides of the SEAMCALL. */
  tdExit: 4_000,
  /** A round trip to the VMM in user space (KVM_RUN returning and re-entered). */
  userspaceExit: 5_000,
  /** A two-dimensional page walk that ends in an EPT violation, before the fix-up. */
  eptViolation: 1_500,
  /** Clearing one 4 KiB page. */
  zeroPage: 300,
  /** A SEAMCALL into the TDX module (entry and exit). */
  seamcall: 2_000,
  /** A system call or ioctl from the VMM, not counting what it does. */
  syscall: 200,
  /** A host page fault that allocates a page (get_user_pages or a first touch). */
  hostFault: 1_000,
  /**
   * Guest instructions a vCPU thread runs before it yields to the scheduler (its quantum). Short
   * enough that several vCPUs and hosts interleave finely (10 µs at one instruction a nanosecond),
   * long enough that the scheduler's own work is small beside the interpreter's.
   */
  vcpuQuantum: 10_000,
  /** A timer interrupt delivered to a halted vCPU and the return from HLT (kvm_vcpu_block() woken). */
  timerWakeup: 2_000,
} as const;

/**
 * The guest's TSC frequency: 1 GHz, so one TSC tick is one virtual nanosecond (a round figure for
 * teaching; a real TD's TSC runs at the frequency TDH.MNG.INIT fixed, KVM_SET_TSC_KHZ for a VM).
 */
export const TSC_HZ = 1_000_000_000;

/** The TSC a guest reads at virtual time `ns` (the TSC starts at 0 when the world does). */
export function tscAt(ns: number): bigint {
  return BigInt(Math.floor((ns * TSC_HZ) / 1e9));
}

/** The first virtual nanosecond at which the TSC has reached `tsc`. */
export function nsAtTsc(tsc: bigint): number {
  return Math.ceil((Number(tsc) * 1e9) / TSC_HZ);
}

/**
 * How long `bytes` take on a link: the time to put them on the wire at `bandwidth` bytes per
 * virtual second, plus the link's one-way `latency` in ns. A transfer that must wait for the
 * transfers ahead of it on the link starts when the link is free (see world/link.ts).
 */
export function wireTimeNs(bytes: number, bandwidth: number): number {
  return Math.ceil((bytes * 1e9) / bandwidth);
}

/**
 * QEMU's auto-converge throttle (system/cpu-throttle.c): every CPU_THROTTLE_TIMESLICE_NS / (1 - pct)
 * of virtual time a throttle tick makes each vCPU sleep for pct / (1 - pct) of the timeslice (plus
 * the 1 ns QEMU adds against rounding), so it runs (1 - pct) of the time. pct is clamped to 1..99.
 */
export const CPU_THROTTLE_TIMESLICE_NS = 10_000_000;
export const CPU_THROTTLE_PCT_MIN = 1;
export const CPU_THROTTLE_PCT_MAX = 99;

export function throttleClamp(pct: number): number {
  return Math.min(CPU_THROTTLE_PCT_MAX, Math.max(CPU_THROTTLE_PCT_MIN, Math.trunc(pct)));
}

/** cpu_throttle_thread(): how long one throttled vCPU sleeps per tick. */
export function throttleSleepNs(pct: number): number {
  const p = throttleClamp(pct) / 100;
  return Math.trunc((p / (1 - p)) * CPU_THROTTLE_TIMESLICE_NS + 1);
}

/** cpu_throttle_timer_tick(): the virtual time between two throttle ticks. */
export function throttleTickNs(pct: number): number {
  const p = throttleClamp(pct) / 100;
  return Math.trunc(CPU_THROTTLE_TIMESLICE_NS / (1 - p));
}

/** What the clock asks, during a KVM_RUN, for how many instructions the guest CPU has retired so far. */
export interface RetiredCounter {
  retiredNow(): number;
}

export class Clock {
  /** The counter of the KVM_RUN in progress: wiring, not state (nothing is saved mid-call). */
  static readonly stateSkip: readonly string[] = ['live'];
  /** Virtual nanoseconds charged so far (the instructions of a KVM_RUN in progress are not yet in it). */
  private t = 0;
  private live: RetiredCounter | null = null;
  private liveStart = 0;

  /**
   * Virtual nanoseconds since the machine was created. Inside a KVM_RUN it is exact: the time charged
   * so far plus the call's instructions retired so far × Cost.instruction (Vcpu.run charges those at
   * its return), so an event inside the call is stamped the same whether the call runs whole or is
   * cut into pieces at instruction boundaries.
   */
  get now(): number {
    const l = this.live;
    return l === null ? this.t : this.t + (l.retiredNow() - this.liveStart) * Cost.instruction;
  }

  advance(ns: number): void {
    this.t += ns;
  }

  /** Move to virtual time `t` (the scheduler, when everything waits until then); never backwards. */
  advanceTo(t: number): void {
    const now = this.now;
    if (t > now) this.t += t - now;
  }

  /** KVM_RUN enters the guest: until `endRun`, `now` counts the instructions `c` retires from here. */
  beginRun(c: RetiredCounter): void {
    this.live = c;
    this.liveStart = c.retiredNow();
  }

  /** KVM_RUN returns: its instructions are charged by the caller (Clock.advance). */
  endRun(): void {
    this.live = null;
  }
}
