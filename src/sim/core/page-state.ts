/**
 * The page states the page map shows, one code per GFN, and their labels. A leaf module (imports
 * nothing): inspect.ts computes the codes from the machine, and the app reads the labels through
 * src/sim/view-model.ts without pulling the MMU or the TDX module into the page's main chunk.
 */

/** Page states shown in the page map, one code per GFN. */
export const PageState = {
  /** No memslot: an MMIO hole or beyond the end of RAM. */
  NO_MEMSLOT: 0,
  /** In a memslot, shared, never faulted in (or zapped). */
  SHARED_UNMAPPED: 1,
  /** Private by attribute, no private page mapped (a TD: not yet AUGed). */
  PRIVATE_UNMAPPED: 2,
  /** Shared and mapped in the (shared) EPT. */
  SHARED_MAPPED: 3,
  /** Shared, mapped read-only because dirty logging write-protects it. */
  SHARED_WRITE_PROTECTED: 4,
  /** Private and mapped (TD: Secure-EPT MAPPED, i.e. accepted). */
  PRIVATE_MAPPED: 5,
  /** TD: AUGed, PENDING until the guest accepts it. */
  PRIVATE_PENDING: 6,
  /** TD: blocked on its way out. */
  PRIVATE_BLOCKED: 7,
} as const;
export type PageStateCode = (typeof PageState)[keyof typeof PageState];

export const PAGE_STATE_INFO: readonly { code: number; label: string; description: string }[] = [
  { code: 0, label: 'no memslot', description: 'No memslot covers this GPA: an MMIO hole or beyond RAM.' },
  { code: 1, label: 'shared, not mapped', description: 'Shared by attribute; KVM has not mapped it (never touched, or zapped).' },
  { code: 2, label: 'private, not mapped', description: 'Private by attribute; no private page is mapped (for a TD: not yet added).' },
  { code: 3, label: 'shared, mapped', description: "Mapped in the EPT to a page of the VMM's memory; the host can read it." },
  { code: 4, label: 'shared, write-protected', description: 'Mapped read-only: dirty logging catches the next write.' },
  { code: 5, label: 'private, mapped', description: 'A guest_memfd page is mapped (TD: accepted, Secure-EPT MAPPED).' },
  { code: 6, label: 'private, pending', description: 'TD: added by TDH.MEM.PAGE.AUG, waiting for TDG.MEM.PAGE.ACCEPT.' },
  { code: 7, label: 'private, blocked', description: 'TD: blocked by TDH.MEM.RANGE.BLOCK, being removed.' },
];

