/**
 * The page states the migration panel's two page maps show, one code per page of the migrated RAM
 * block (page p is at offset p × 4 KiB, the migration's own numbering), and their labels. A leaf
 * module (imports nothing), like page-state.ts: vmm/migration/page-states.ts computes the codes
 * from the migration's bitmap, KVM's dirty log and both hosts' memory, and the app reads the labels
 * through src/sim/view-model.ts. Source and destination codes share one numbering so that one
 * palette colours both maps.
 */
export const MigrationPageState = {
  /** Not part of the RAM block (never shown: the maps cover the block only). */
  NONE: 0,
  /** Source: never sent yet (the first pass has not reached it, or the migration has not started); in post-copy, only on the source. */
  SRC_UNSENT: 1,
  /** Source: its bit is set in the migration's bitmap (bmap) after a sync: written since it was sent, to send again. */
  SRC_DIRTY: 2,
  /** Source: sent in the batch on the link now (just behind the scan position). */
  SRC_SENDING: 3,
  /** Source: sent, and not written since. */
  SRC_CLEAN: 4,
  /** Source: sent in this pass and written again since: KVM's dirty log has it, the next sync puts it back in bmap. */
  SRC_REDIRTIED: 5,
  /** Source: sent as a zero page (RAM_SAVE_FLAG_ZERO: a header and one byte, counted `duplicate`). */
  SRC_ZERO: 6,
  /** Destination: nothing has arrived for this page yet. */
  DST_AWAITING: 7,
  /** Destination: the page's bytes arrived and match the source's. */
  DST_ARRIVED: 8,
  /** Destination: arrived as a zero page (no memory is allocated for it). */
  DST_ZERO: 9,
  /** Destination: an older copy arrived; the source has written the page since, so it will come again. */
  DST_STALE: 10,
  /** Destination, post-copy: still on the source (never sent, or dropped by the discard bitmap); a touch faults. */
  DST_PC_MISSING: 11,
  /** Destination, post-copy: a vCPU faulted on it and the destination asked for it (in flight). */
  DST_PC_REQUESTED: 12,
  /** Destination, post-copy: placed from the background stream. */
  DST_PC_BACKGROUND: 13,
  /** Destination, post-copy: placed because a vCPU waited for it. */
  DST_PC_FAULT: 14,
  /** Destination, post-copy: placed as a zero page (UFFDIO_ZEROPAGE). */
  DST_PC_ZERO: 15,
} as const;
export type MigrationPageStateCode = (typeof MigrationPageState)[keyof typeof MigrationPageState];

export interface MigrationPageStateInfo {
  code: number;
  side: 'src' | 'dst';
  label: string;
  description: string;
}

export const MIGRATION_PAGE_STATE_INFO: readonly MigrationPageStateInfo[] = [
  { code: 1, side: 'src', label: 'not sent yet', description: 'Still in the first pass: the migration has not sent this page once. After the switch to post-copy: the page is only here (never sent, or its copy on the destination was discarded) and goes on request or in the background.' },
  { code: 2, side: 'src', label: 'dirty since the last sync', description: "Set in the migration's bitmap by the last bitmap sync: written after it was sent, so it goes out again." },
  { code: 3, side: 'src', label: 'being sent', description: 'In the batch on the link now (ram_save_iterate sends dirty pages in scan order).' },
  { code: 4, side: 'src', label: 'sent, clean', description: 'Sent, and not written since: the destination has its current bytes.' },
  { code: 5, side: 'src', label: 'sent, dirtied again', description: "Sent in this pass, then written: KVM's dirty log has it, the next sync puts it back in the bitmap." },
  { code: 6, side: 'src', label: 'sent as zero page', description: 'A page of zeros: sent as RAM_SAVE_FLAG_ZERO, a header and one byte (counted in ram.duplicate).' },
  { code: 7, side: 'dst', label: 'awaiting', description: 'Nothing has arrived for this page yet.' },
  { code: 8, side: 'dst', label: 'arrived', description: "The page's bytes arrived and match the source's." },
  { code: 9, side: 'dst', label: 'arrived as zero', description: 'Arrived as a zero page: the destination allocates no memory for it.' },
  { code: 10, side: 'dst', label: 'stale: will come again', description: 'An older copy arrived; the source wrote the page since, so it is sent again.' },
  { code: 11, side: 'dst', label: 'post-copy: missing', description: 'Still on the source (never sent, or dropped by the discard bitmap): a vCPU that touches it blocks until it is fetched.' },
  { code: 12, side: 'dst', label: 'post-copy: requested', description: 'A vCPU faulted on it; the destination asked the source for it (MIG_RP_MSG_REQ_PAGES) and it is on its way.' },
  { code: 13, side: 'dst', label: 'post-copy: in the background', description: 'Arrived from the background stream before anything touched it (UFFDIO_COPY).' },
  { code: 14, side: 'dst', label: 'post-copy: by a fault', description: 'Arrived because a vCPU was waiting for it: placed with UFFDIO_COPY, which woke the vCPU.' },
  { code: 15, side: 'dst', label: 'post-copy: zero page', description: 'Arrived as a page of zeros: placed with UFFDIO_ZEROPAGE.' },
];

/** How a post-copy fault was served (the fault timeline's colours; vmm/migration/postcopy.ts records them). */
export const PostcopyFault = {
  /** The destination asked the source for the page (MIG_RP_MSG_REQ_PAGES) and waited for it. */
  REQUESTED: 0,
  /** The page was already on the link in the background when the vCPU touched it: the request found nothing to send. */
  IN_FLIGHT: 1,
  /** The page arrived between the touch and the fault thread's read: woken without a request. */
  ARRIVED: 2,
} as const;

export const POSTCOPY_FAULT_INFO: readonly { code: number; label: string; description: string }[] = [
  { code: 0, label: 'requested', description: 'The fault thread asked the source for the page (MIG_RP_MSG_REQ_PAGES); the vCPU waited a round trip, the page\'s time on the wire and any queue ahead of it.' },
  { code: 1, label: 'already on its way', description: 'The page was already on the link in the background: the source skipped the request, and the vCPU waited for the background copy.' },
  { code: 2, label: 'arrived meanwhile', description: 'The page arrived before the fault thread read the message: the vCPU woke without a request.' },
];
