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
} as const;

export class Clock {
  /** Virtual nanoseconds since the machine was created. */
  now = 0;

  advance(ns: number): void {
    this.now += ns;
  }
}
