/**
 * Secure-EPT leaf entry states (Intel TDX module base architecture spec, "Secure EPT entry states").
 * The simulator packs an entry into 32 bits: the state in bits 31..29 and host frame + 1 below.
 */
export const Sept = {
  /** FREE: no page (not present). */
  FREE: 0,
  /** BLOCKED: TDH.MEM.RANGE.BLOCK'ed, on its way out. */
  BLOCKED: 1,
  /** PENDING: added by TDH.MEM.PAGE.AUG, not yet accepted by the guest. */
  PENDING: 2,
  /** PENDING_BLOCKED: a pending page that was blocked. */
  PENDING_BLOCKED: 3,
  /** MAPPED (the kernel's TDX_SEPT_PRESENT): usable by the guest. */
  MAPPED: 4,
} as const;
export type SeptState = (typeof Sept)[keyof typeof Sept];
/** Codes as in enum tdx_sept_entry_state (arch/x86/kvm/vmx/tdx_arch.h). */
export const SEPT_STATE_NAMES = ['FREE', 'BLOCKED', 'PENDING', 'PENDING_BLOCKED', 'MAPPED'] as const;

const STATE_SHIFT = 29;
const FRAME_MASK = (1 << STATE_SHIFT) - 1;

export const septEntry = (state: SeptState, frame: number): number => ((state << STATE_SHIFT) | (frame + 1)) >>> 0;
export const septState = (e: number): SeptState => (e >>> STATE_SHIFT) as SeptState;
export const septFrame = (e: number): number => (e & FRAME_MASK) - 1;
