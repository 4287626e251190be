import { PagedU32 } from '../core/paged-array';
import { fail } from '../core/errno';
import { Cost } from '../core/clock';
import { eventKind, type TraceSink } from '../core/trace';
import { PAGE_SIZE, hex } from '../core/units';
import type { Host } from '../host/host';
import { FrameOwner } from '../host/physmem';
import * as abi from '../abi/tdx';
import { Measurement } from './measure';
import { Sept, septEntry, septFrame, septState } from './sept';
import { isWriteBlocked, noMigration, type TdMigState } from './mig-state';

/** The TDX module status codes this module returns in RAX (values in abi.ts, with sources). */
export const TdxStatus = {
  TDX_SUCCESS: abi.TDX_SUCCESS,
  TDX_OPERAND_INVALID: abi.TDX_OPERAND_INVALID,
  TDX_OPERAND_BUSY: abi.TDX_OPERAND_BUSY,
  TDX_EPT_ENTRY_STATE_INCORRECT: abi.TDX_EPT_ENTRY_STATE_INCORRECT,
  TDX_PAGE_ALREADY_ACCEPTED: abi.TDX_PAGE_ALREADY_ACCEPTED,
  TDX_EPT_ENTRY_NOT_FREE: abi.TDX_EPT_ENTRY_NOT_FREE,
  /** A SEAMCALL made in the wrong phase of the TD's life (PAGE.ADD after finalize, AUG before). */
  TDX_OP_STATE_INCORRECT: abi.TDX_OP_STATE_INCORRECT,
} as const;

export const { TDX_TD_ATTR_DEBUG, TDX_TD_ATTR_SEPT_VE_DISABLE } = abi;

export type TdLifecycle = 'created' | 'initialized' | 'runnable';

/** GFNs a level-1 Secure-EPT page covers (512 entries of 4 KiB = 2 MiB). */
const SEPT_L1_SPAN = 512;
const SEPT_L2_SPAN = 512 * 512;

// The hot events of a TD's page-by-page growth: recorded as numbers, made into args and a sentence
// only when read (see EventKind in core/trace.ts).
const EV_PAGE_AUG = eventKind('tdx-module', 'TDH.MEM.PAGE.AUG', (gfn, frame) => ({
  args: { gpa: hex(gfn * PAGE_SIZE), hpa: hex(frame * PAGE_SIZE) },
  text: `KVM adds host page ${hex(frame * PAGE_SIZE)} at private GPA ${hex(gfn * PAGE_SIZE)}; it is PENDING until the guest accepts it.`,
}));
const EV_ACCEPT = eventKind('tdx-module', 'TDG.MEM.PAGE.ACCEPT', (gfn) => ({
  args: { gpa: hex(gfn * PAGE_SIZE), status: 'TDX_SUCCESS' },
  text: `The guest accepts ${hex(gfn * PAGE_SIZE)}: the TDX module zeroes it with the TD's key and maps it (PENDING → MAPPED).`,
}));
const EV_ACCEPT_AGAIN = eventKind('tdx-module', 'TDG.MEM.PAGE.ACCEPT', (gfn) => ({
  args: { gpa: hex(gfn * PAGE_SIZE), status: 'TDX_PAGE_ALREADY_ACCEPTED' },
  text: `The guest asks to accept ${hex(gfn * PAGE_SIZE)}, which is already accepted: the TDX module answers TDX_PAGE_ALREADY_ACCEPTED.`,
}));

/** One trust domain as the TDX module sees it. */
export class Td {
  lifecycle: TdLifecycle = 'created';
  attributes = 0n;
  gpaw: 48 | 52 = 48;
  readonly sept: PagedU32;
  /** Secure-EPT pages (TDX metadata frames) of level 1 and level 2, keyed by index at that level. */
  readonly septPages: readonly [Map<number, number>, Map<number, number>] = [new Map(), new Map()];
  /** TDR, TDCS and per-vCPU TDVPS pages. */
  readonly controlPages: number[] = [];
  readonly mrtd = new Measurement();
  tlbEpoch = 0;
  nrVcpus = 0;
  pendingPages = 0;
  mappedPages = 0;
  /** TD migration (tdx/export.ts; Intel's trees, not upstream): the session's phase, epoch, DIRTY_COUNT. */
  mig: TdMigState = noMigration();
  /** Per GFN, the page's export state (tdx/export.ts `Mig`); 0 when not migrating. */
  readonly migPages: PagedU32;

  constructor(readonly hkid: number, readonly vmName: string, readonly maxGfn: number) {
    this.sept = new PagedU32(maxGfn);
    this.migPages = new PagedU32(maxGfn);
  }

  /** The GPA bit that marks a shared access: bit 47 with GPAW 48, bit 51 with GPAW 52. */
  get sharedBit(): number {
    return 2 ** (this.gpaw - 1);
  }

  get debug(): boolean {
    return (this.attributes & TDX_TD_ATTR_DEBUG) !== 0n;
  }

  get septVeDisable(): boolean {
    return (this.attributes & TDX_TD_ATTR_SEPT_VE_DISABLE) !== 0n;
  }

  stateOf(gfn: number): number {
    return septState(this.sept.get(gfn));
  }

  frameOf(gfn: number): number {
    return septFrame(this.sept.get(gfn));
  }
}

export interface AcceptResult {
  /** The status the guest sees in RAX, or 'ept-violation' when the GPA has no Secure-EPT page yet. */
  status: bigint | 'ept-violation';
}

/**
 * The TDX module of one host: the SEAMCALLs KVM makes (TDH.*) and the TDCALLs a TD makes (TDG.*).
 * It owns the Secure EPT; KVM only keeps a mirror and changes the real one through these calls.
 */
export class TdxModule {
  private nextHkid = 1;
  readonly tds = new Map<number, Td>();

  constructor(readonly host: Host) {}

  private get trace(): TraceSink {
    return this.host.trace;
  }

  private seam(name: string, td: Td, args: Record<string, string | number>, text: string, gfn?: number): void {
    this.host.clock.advance(Cost.seamcall);
    this.trace.emitFor(td.vmName, 'tdx-module', name, args, text, gfn === undefined ? undefined : { gfns: [gfn, 1] });
  }

  private metadataFrame(td: Td): number {
    const f = this.host.memory.alloc(FrameOwner.TdxMetadata, td.hkid);
    if (f < 0) fail('ENOMEM', 'host memory is exhausted: no frame for the TD\'s metadata (TDR, TDCS, TDVPS)');
    // Metadata pages are encrypted with the TD's key too: the host reads zeros from them.
    this.host.memory.hkid[f] = td.hkid;
    return f;
  }

  /** TDH.MNG.CREATE + TDH.MNG.KEY.CONFIG + TDH.MNG.ADDCX: a TDR page, a private HKID, TDCS pages. */
  mngCreate(vmName: string, maxGfn: number): Td {
    const td = new Td(this.nextHkid++, vmName, maxGfn);
    this.tds.set(td.hkid, td);
    td.controlPages.push(this.metadataFrame(td));
    this.seam('TDH.MNG.CREATE', td, { hkid: td.hkid },
      `The TDX module creates the TD's root page (TDR) and assigns it private key ID ${td.hkid}.`);
    this.seam('TDH.MNG.KEY.CONFIG', td, { hkid: td.hkid },
      `The memory controller is programmed with a fresh key for HKID ${td.hkid}; only the TDX module can use it.`);
    for (let i = 0; i < 4; i++) td.controlPages.push(this.metadataFrame(td));
    this.seam('TDH.MNG.ADDCX', td, { pages: 4 }, 'Four TD control structure (TDCS) pages are added; the host can no longer read them.');
    return td;
  }

  /** TDH.MNG.INIT: attributes, XFAM and the CPUID configuration become fixed. */
  mngInit(td: Td, attributes: bigint, gpaw: 48 | 52): void {
    td.attributes = attributes;
    td.gpaw = gpaw;
    td.lifecycle = 'initialized';
    this.seam('TDH.MNG.INIT', td, { attributes: hex(attributes), gpaw },
      `The TD is initialised with attributes ${hex(attributes)}${td.septVeDisable ? ' (SEPT_VE_DISABLE)' : ''}${td.debug ? ' (DEBUG)' : ''} and a ${gpaw}-bit guest physical address width; its shared bit is bit ${gpaw - 1}.`);
  }

  /** TDH.VP.CREATE + TDH.VP.ADDCX + TDH.VP.INIT for one vCPU. */
  vpCreate(td: Td, vcpu: number): void {
    td.controlPages.push(this.metadataFrame(td));
    td.nrVcpus++;
    this.seam('TDH.VP.CREATE', td, { vcpu }, `vCPU ${vcpu} gets its TDVPR page; its register state will live in TD-private memory.`);
    td.controlPages.push(this.metadataFrame(td));
    this.seam('TDH.VP.INIT', td, { vcpu }, `vCPU ${vcpu} is initialised: the TDX module, not the VMM, sets its reset state (x2APIC on, 32-bit protected mode entry to the firmware).`);
  }

  /** KVM adds missing Secure-EPT pages above a leaf before mapping it (TDH.MEM.SEPT.ADD). */
  ensureSeptPages(td: Td, gfn: number): void {
    this.ensureSeptPage(td, 2, Math.floor(gfn / SEPT_L2_SPAN), SEPT_L2_SPAN);
    this.ensureSeptPage(td, 1, Math.floor(gfn / SEPT_L1_SPAN), SEPT_L1_SPAN);
  }

  private ensureSeptPage(td: Td, level: 1 | 2, index: number, span: number): void {
    const pages = td.septPages[level - 1];
    if (pages.has(index)) return;
    pages.set(index, this.metadataFrame(td));
    this.seam('TDH.MEM.SEPT.ADD', td, { gpa: hex(index * span * PAGE_SIZE), level },
      `A level-${level} Secure-EPT page is added for GPA ${hex(index * span * PAGE_SIZE)} (${level === 1 ? '2 MiB' : '1 GiB'} of guest memory).`);
  }

  /** TDH.MEM.PAGE.ADD: copy a source page into a TD-private page before the TD is finalized. */
  memPageAdd(td: Td, gfn: number, frame: number, source: Uint8Array | undefined): bigint {
    if (td.lifecycle === 'runnable') return TdxStatus.TDX_OP_STATE_INCORRECT;
    if (td.stateOf(gfn) !== Sept.FREE) return TdxStatus.TDX_EPT_ENTRY_NOT_FREE;
    this.ensureSeptPages(td, gfn);
    const mem = this.host.memory;
    mem.zero(frame);
    if (source) mem.copyInto(frame, source);
    mem.hkid[frame] = td.hkid;
    td.sept.set(gfn, septEntry(Sept.MAPPED, frame));
    td.mappedPages++;
    td.mrtd.record('PAGE.ADD', gfn * PAGE_SIZE);
    this.seam('TDH.MEM.PAGE.ADD', td, { gpa: hex(gfn * PAGE_SIZE), hpa: hex(frame * PAGE_SIZE) },
      `The TDX module copies the initial contents into private page ${hex(gfn * PAGE_SIZE)}, encrypted with the TD's key; it is mapped at once, no accept needed.`, gfn);
    return TdxStatus.TDX_SUCCESS;
  }

  /** TDH.MR.EXTEND: measure a page in 256-byte chunks into MRTD. */
  mrExtend(td: Td, gfn: number): bigint {
    const f = td.frameOf(gfn);
    const data = this.host.memory.peek(f) ?? new Uint8Array(PAGE_SIZE);
    for (let off = 0; off < PAGE_SIZE; off += 256) td.mrtd.record('MR.EXTEND', gfn * PAGE_SIZE + off, data.subarray(off, off + 256));
    this.seam('TDH.MR.EXTEND', td, { gpa: hex(gfn * PAGE_SIZE), chunks: 16 },
      `The page at ${hex(gfn * PAGE_SIZE)} is measured into MRTD, 256 bytes at a time.`, gfn);
    return TdxStatus.TDX_SUCCESS;
  }

  /** TDH.MR.FINALIZE: seal MRTD; from now on the TD can run and no page can be added. */
  mrFinalize(td: Td): bigint {
    if (td.lifecycle !== 'initialized') return td.lifecycle === 'runnable' ? TdxStatus.TDX_OP_STATE_INCORRECT : TdxStatus.TDX_OPERAND_INVALID;
    td.lifecycle = 'runnable';
    this.seam('TDH.MR.FINALIZE', td, { mrtd: td.mrtd.value },
      `The measurement is sealed (MRTD ${td.mrtd.value}, simplified hash); the TD can now run, and new private memory only arrives through TDH.MEM.PAGE.AUG.`);
    return TdxStatus.TDX_SUCCESS;
  }

  /** TDH.MEM.PAGE.AUG: add a page at run time; it stays PENDING until the guest accepts it. */
  memPageAug(td: Td, gfn: number, frame: number): bigint {
    if (td.lifecycle !== 'runnable') return TdxStatus.TDX_OP_STATE_INCORRECT;
    if (td.stateOf(gfn) !== Sept.FREE) return TdxStatus.TDX_EPT_ENTRY_NOT_FREE;
    this.ensureSeptPages(td, gfn);
    this.host.memory.hkid[frame] = td.hkid;
    td.sept.set(gfn, septEntry(Sept.PENDING, frame));
    td.pendingPages++;
    this.host.clock.advance(Cost.seamcall);
    this.trace.record(EV_PAGE_AUG, td.vmName, -1, gfn, 1, gfn, frame);
    return TdxStatus.TDX_SUCCESS;
  }

  /** TDH.MEM.RANGE.BLOCK: stop new translations of the page (first step of removal). */
  memRangeBlock(td: Td, gfn: number): bigint {
    const e = td.sept.get(gfn);
    const s = septState(e);
    if (s !== Sept.MAPPED && s !== Sept.PENDING) return TdxStatus.TDX_EPT_ENTRY_STATE_INCORRECT;
    td.sept.set(gfn, septEntry(s === Sept.MAPPED ? Sept.BLOCKED : Sept.PENDING_BLOCKED, septFrame(e)));
    this.seam('TDH.MEM.RANGE.BLOCK', td, { gpa: hex(gfn * PAGE_SIZE) },
      `The Secure-EPT entry for ${hex(gfn * PAGE_SIZE)} is blocked: no new translation can use it.`, gfn);
    return TdxStatus.TDX_SUCCESS;
  }

  /** TDH.MEM.TRACK: open a new TLB epoch; KVM then kicks every vCPU out so stale TLB entries go. */
  memTrack(td: Td): bigint {
    td.tlbEpoch++;
    td.mig.needTrack = false;
    this.seam('TDH.MEM.TRACK', td, { epoch: td.tlbEpoch },
      `A new TLB epoch (${td.tlbEpoch}) starts; KVM kicks every vCPU so no stale translation of the blocked pages survives.`);
    return TdxStatus.TDX_SUCCESS;
  }

  /** TDH.MEM.PAGE.REMOVE: unmap a blocked page and give the frame back to the host. */
  memPageRemove(td: Td, gfn: number): { status: bigint; frame: number } {
    const e = td.sept.get(gfn);
    const s = septState(e);
    if (s !== Sept.BLOCKED && s !== Sept.PENDING_BLOCKED) return { status: TdxStatus.TDX_EPT_ENTRY_STATE_INCORRECT, frame: -1 };
    const frame = septFrame(e);
    td.sept.set(gfn, 0);
    if (s === Sept.BLOCKED) td.mappedPages--;
    else td.pendingPages--;
    this.seam('TDH.MEM.PAGE.REMOVE', td, { gpa: hex(gfn * PAGE_SIZE), hpa: hex(frame * PAGE_SIZE) },
      `Private page ${hex(gfn * PAGE_SIZE)} is removed from the TD; KVM flushes its cache lines and clears host page ${hex(frame * PAGE_SIZE)} before reuse.`, gfn);
    // tdx_clear_page() after TDH.PHYMEM.PAGE.WBINVD: the frame returns to the host key, zeroed.
    this.host.memory.zero(frame);
    this.host.memory.hkid[frame] = 0;
    return { status: TdxStatus.TDX_SUCCESS, frame };
  }

  /** TDG.MEM.PAGE.ACCEPT from the guest. */
  memPageAccept(td: Td, gfn: number, vcpu: number): AcceptResult {
    const e = td.sept.get(gfn);
    const s = septState(e);
    if (s === Sept.FREE) return { status: 'ept-violation' };
    if (s === Sept.MAPPED) {
      this.trace.record(EV_ACCEPT_AGAIN, td.vmName, vcpu, gfn, 1, gfn);
      return { status: TdxStatus.TDX_PAGE_ALREADY_ACCEPTED };
    }
    if (s !== Sept.PENDING) return { status: TdxStatus.TDX_OPERAND_BUSY };
    // A page write-blocked for export: the accept (a write) exits to KVM like any write, which
    // calls TDH.EXPORT.UNBLOCKW (Mmu.faultForAccept) before the TDCALL runs again.
    if (isWriteBlocked(td, gfn)) return { status: 'ept-violation' };
    const f = septFrame(e);
    this.host.memory.zero(f);
    this.host.clock.advance(Cost.zeroPage);
    td.sept.set(gfn, septEntry(Sept.MAPPED, f));
    td.pendingPages--;
    td.mappedPages++;
    this.trace.record(EV_ACCEPT, td.vmName, vcpu, gfn, 1, gfn);
    return { status: TdxStatus.TDX_SUCCESS };
  }

  /** Destroy the TD: free every private page and metadata page (TDH.PHYMEM.PAGE.RECLAIM). */
  destroy(td: Td): void {
    const mem = this.host.memory;
    td.sept.forEachSet(0, td.maxGfn, (gfn, e) => {
      const f = septFrame(e);
      mem.zero(f);
      mem.hkid[f] = 0;
      td.sept.set(gfn, 0);
    });
    for (const pages of td.septPages) for (const f of pages.values()) mem.free(f);
    for (const f of td.controlPages) mem.free(f);
    for (const pages of td.septPages) pages.clear();
    td.controlPages.length = 0;
    this.tds.delete(td.hkid);
  }
}
