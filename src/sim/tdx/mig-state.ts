/**
 * A TD's migration state as the TDX module keeps it (tdx/export.ts drives it): plain data on the Td,
 * in a leaf module so that module.ts can hold it without importing the export's SEAMCALLs.
 * The TDX module's TD migration: Intel's trees, not upstream.
 */

/** Per-page export states (the spec's Secure-EPT migration states; PENDING_* when the page is not yet accepted). */
export const Mig = {
  NONE: 0,
  BLOCKEDW: 1,
  EXPORTED_BLOCKEDW: 2,
  EXPORTED_DIRTY: 3,
  EXPORTED_DIRTY_BLOCKEDW: 4,
} as const;
export const MIG_STATE_NAMES = ['MAPPED', 'BLOCKEDW', 'EXPORTED_BLOCKEDW', 'EXPORTED_DIRTY', 'EXPORTED_DIRTY_BLOCKEDW'] as const;

/**
 * A TD's migration phase. The source: in order (epochs), paused (the blackout), out of order (after
 * the start token: pages not yet exported may go in any order). The destination: in order, then
 * out of order once TDH.IMPORT.COMMIT let the TD run while pages still arrive (post-copy), then
 * imported (TDH.IMPORT.END, or a commit with nothing left to import).
 */
export type TdMigPhase = 'none' | 'export-in-order' | 'export-paused' | 'export-out-of-order' | 'import-in-order' | 'import-out-of-order' | 'imported';

/** A TD's migration state in the module (plain data: it saves with the TD). */
export interface TdMigState {
  phase: TdMigPhase;
  /** The current epoch (1 when the session starts; each TDH.EXPORT.TRACK / TDH.IMPORT.TRACK opens the next). */
  epoch: number;
  /** DIRTY_COUNT: exported pages written since their export and not exported again. */
  dirtyCount: number;
  /** BLOCKW since the last TDH.MEM.TRACK: an export must wait for the TLB track. */
  needTrack: boolean;
  /** The migration key both Migration TDs agreed (a stand-in number). */
  key: number;
  /** Pages exported or imported in this session. */
  pages: number;
  /** Out-of-order imports dropped because the page was already there (the module keeps the first). */
  duplicates?: number;
}

export const noMigration = (): TdMigState => ({ phase: 'none', epoch: 0, dirtyCount: 0, needTrack: false, key: 0, pages: 0 });

/** The page is write-blocked for export (a guest write exits to KVM for TDH.EXPORT.UNBLOCKW). */
export function isWriteBlocked(td: { readonly migPages: { get(i: number): number } }, gfn: number): boolean {
  const s = td.migPages.get(gfn);
  return s === Mig.BLOCKEDW || s === Mig.EXPORTED_BLOCKEDW || s === Mig.EXPORTED_DIRTY_BLOCKEDW;
}
