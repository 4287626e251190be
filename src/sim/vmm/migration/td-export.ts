/**
 * The migration thread's TD path: how QEMU's pre-copy loop (migration.ts) moves a TD's private
 * pages when a design lets it (neither is upstream; the trace says which):
 *
 * - `tdx-module` — Intel's downstream KVM and QEMU for the TDX module's TD migration: KVM accepts
 *   dirty logging on the TD's guest_memfd slots, write-protects private pages with
 *   TDH.EXPORT.BLOCKW (kvm/mmu.ts writeBlockPrivate) and logs a write to one when its EPT violation
 *   calls TDH.EXPORT.UNBLOCKW; QEMU's loop runs unchanged, each bitmap sync closes an epoch
 *   (TDH.EXPORT.TRACK), private pages go out in TDH.EXPORT.MEM bundles and come in with
 *   TDH.IMPORT.MEM, the blackout is TDH.EXPORT.PAUSE and the in-order TDH.EXPORT.TRACK, and the
 *   destination runs after TDH.IMPORT.COMMIT.
 * - `talk` — the talk's proposal: dirty logging of private memory kept in the backend
 *   (mark_page_dirty() records a private GFN in guest_memfd's own log, KVM_GET_DIRTY_LOG hands it
 *   over), so the VMM's loop runs as for an ordinary VM and learns which GPAs were written. The talk
 *   did not say how the private bytes leave; only the TDX module can re-encrypt a TD's page for
 *   another host, so the lab sends them through the same export as `tdx-module` (and, since a TD's
 *   private mapping can only be write-protected by the module, catches writes the same way). What
 *   differs is where the log lives and what the host is told: the GPAs, never the bytes.
 *
 * Shared pages go the ordinary way (migration.ts savePage, the slot's bitmap). Page p of the
 * migration is at offset p × 4 KiB of the RAM block; its GFN comes from the memslots.
 *
 * Plain data (counters, a PagedU32 of what went on the wire): it saves and restores with its thread.
 */
import { PagedU32 } from '../../core/paged-array';
import { PAGE_SIZE, formatSize, hex } from '../../core/units';
import { TdxStatus, type Td } from '../../tdx/module';
import {
  GPA_ENTRY_BYTES, MBMD_BYTES, MIG_LIST_MAX, PAGE_MAC_BYTES, exportAbort, exportMem, exportPause, exportStart, exportTrack,
  importAbort, importCommit, importEnd, importMem, importStart, importTrack, migrationKey, pageMac, sealedBytes, type MigBundle,
} from '../../tdx/export';
import { Sept } from '../../tdx/sept';
import { gfnToGmemIndex } from '../../kvm/memslot';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE } from '../../kvm/uapi';
import type { VmmVm } from '../vmm';

/**
 * How a migration treats a VM with private memory (the `migrate` step's `td_design`): for a TD,
 * upstream, the talk's proposal or the TDX module's TD migration; for a software-protected VM,
 * upstream, the talk's proposal or KVM Userfault (private-postcopy.ts).
 */
export const TD_DESIGNS = ['upstream', 'talk', 'tdx-module', 'kvm-userfault'] as const;
export type TdDesign = (typeof TD_DESIGNS)[number];

/** The bytes of the TD's immutable state bundle (TDH.EXPORT.STATE.IMMUTABLE): an MBMD and a page. */
const IMMUTABLE_STATE_BYTES = MBMD_BYTES + PAGE_SIZE;

export class TdMigrationPath {
  /** Wiring: the two VMMs (made again on restore). */
  static readonly stateSkip: readonly string[] = ['w'];
  /** GFNs of the bundle being filled (at most 512). */
  bundle: number[] = [];
  /** TD-migration bytes (epoch tokens, state bundles) for the next batch on the link. */
  pendingBytes = 0;
  /** Per GFN, the content token + 2 of the page's last export (1 for a PENDING page): what went on the wire. */
  readonly wire = new PagedU32(2 ** 40);
  readonly counts = { exported: 0, stateOnly: 0, bundles: 0, epochs: 0, finalTrackFailures: 0 };
  /** Why the TD path failed (QEMU's error-desc), or ''. */
  error = '';
  /** Post-copy (the module's out-of-order phase): GFNs taken for the next post-copy batch. */
  pcPending: number[] = [];
  /** Post-copy bundles exported and on the link, by the migration's batch id (imported when the batch arrives). */
  readonly pcBundles = new Map<number, MigBundle[]>();
  readonly pcCounts = { inBlackout: 0, outOfOrder: 0, bundles: 0 };
  readonly key: number;

  constructor(private readonly w: { src: VmmVm; dst: VmmVm }, readonly design: 'talk' | 'tdx-module') {
    this.key = migrationKey(w.src.desc.name, w.dst.desc.name);
  }

  private get srcTd(): Td {
    return this.w.src.vm.td!;
  }

  private get dstTd(): Td {
    return this.w.dst.vm.td!;
  }

  private emit(name: string, args: Record<string, string | number | boolean>, text: string, side: 'src' | 'dst' = 'src'): void {
    const v = side === 'src' ? this.w.src : this.w.dst;
    v.host.trace.emit('vmm', name, args, text, { vm: v.desc.name });
  }

  private get label(): string {
    return this.design === 'talk' ? "the talk's proposal" : "the TDX module's TD migration, Intel's trees";
  }

  /** The GFN of migration page p (offset p × 4 KiB in the RAM block). */
  gfnOf(p: number): number {
    const off = p * PAGE_SIZE;
    for (const b of this.w.src.ram) if (off >= b.gmemOffset && off < b.gmemOffset + b.size) return (b.gpa + off - b.gmemOffset) / PAGE_SIZE;
    return -1;
  }

  /** Page p is private on the source: it goes through the TDX module. */
  owns(p: number): boolean {
    const g = this.gfnOf(p);
    return g >= 0 && this.w.src.vm.isPrivate(g);
  }

  /** At setup, before dirty logging starts: the design's KVM, the sessions, the memory attributes. */
  start(): void {
    const { src, dst } = this.w;
    src.vm.privateDirtyLog = this.design;
    this.emit('tdx_mig_setup', { design: this.design, key: hex(this.key) }, this.design === 'talk'
      ? `The migration of TD "${src.desc.name}" follows the talk's proposal (not upstream): KVM keeps the dirty log of private pages in guest_memfd, so QEMU's loop runs as for an ordinary VM. The talk did not say how private bytes leave the host; only the TDX module can re-encrypt a TD's page for another host, so the lab sends them through the module's export (TDH.EXPORT.*, Intel's trees), after a Migration TD on each host has attested the other and agreed a key.`
      : `The migration of TD "${src.desc.name}" follows the TDX module's TD migration (Intel's trees, not upstream): a Migration TD on each host attests the other and they agree a migration key; the hosts only carry what the TDX modules seal with it.`);
    let st = exportStart(src.kvm.tdx, this.srcTd, this.key, dst.desc.name);
    if (st !== TdxStatus.TDX_SUCCESS) throw new Error(`TDH.EXPORT.STATE.IMMUTABLE failed with ${hex(st)}`);
    st = importStart(dst.kvm.tdx, this.dstTd, this.key, src.desc.name);
    if (st !== TdxStatus.TDX_SUCCESS) throw new Error(`TDH.IMPORT.STATE.IMMUTABLE failed with ${hex(st)}`);
    this.pendingBytes += IMMUTABLE_STATE_BYTES;
    this.syncAttributes('at setup');
  }

  /**
   * The destination's memory attributes made the same as the source's (which GFNs are private):
   * QEMU carries the shared/private state with the RAM in Intel's tree; the lab sets it directly.
   */
  private syncAttributes(when: string): void {
    const { src, dst } = this.w;
    let shared = 0;
    for (const b of src.ram) {
      const g0 = b.gpa / PAGE_SIZE;
      const n = b.size / PAGE_SIZE;
      let at = g0;
      const set = (s: number, e: number, priv: boolean) => {
        if (e <= s) return;
        if (!priv) shared += e - s;
        const differs = priv ? dst.vm.attributes.intersect(s, e).reduce((k, [x, y]) => k + y - x, 0) !== e - s : dst.vm.attributes.intersect(s, e).length > 0;
        if (differs) dst.vm.setMemoryAttributes({ address: s * PAGE_SIZE, size: (e - s) * PAGE_SIZE, attributes: priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0 });
      };
      for (const [s, e] of src.vm.attributes.intersect(g0, g0 + n)) {
        set(at, s, false);
        set(s, e, true);
        at = e;
      }
      set(at, g0 + n, false);
    }
    this.emit('tdx_mig_attributes', { when, shared_pages: shared },
      `The destination's memory attributes follow the source's ${when}: ${shared} page(s) shared, the rest private.`, 'dst');
  }

  /** Page p (private) goes into the current bundle; returns its bytes in the stream (0 when the module has no page there). */
  save(p: number): number {
    const g = this.gfnOf(p);
    const s = this.srcTd.stateOf(g);
    if (s !== Sept.MAPPED && s !== Sept.PENDING) return 0;
    let bytes = s === Sept.MAPPED ? PAGE_SIZE + PAGE_MAC_BYTES + GPA_ENTRY_BYTES : GPA_ENTRY_BYTES;
    if (this.bundle.length === 0) bytes += MBMD_BYTES;
    this.bundle.push(g);
    if (this.bundle.length === MIG_LIST_MAX) this.flush();
    return bytes;
  }

  /**
   * The bundle goes out: the pages written since KVM_CLEAR_DIRTY_LOG blocked them are blocked again
   * (TDH.EXPORT.BLOCKW, TDH.MEM.TRACK), TDH.EXPORT.MEM seals them, and the destination's
   * TDH.IMPORT.MEM places them (the lab imports a bundle when it is put on the link, as it writes
   * ordinary pages into the destination then).
   */
  flush(): void {
    if (this.bundle.length === 0) return;
    const gfns = this.bundle;
    this.bundle = [];
    const { src } = this.w;
    src.vm.mmu.writeBlockPrivate(gfns);
    const r = exportMem(src.kvm.tdx, this.srcTd, gfns);
    if (r.status !== TdxStatus.TDX_SUCCESS || !r.bundle) throw new Error(`TDH.EXPORT.MEM failed with ${hex(r.status)}`);
    const b = r.bundle;
    b.gfns.forEach((g, i) => {
      this.wire.set(g, b.frames[i] >= 0 ? b.tokens[i] + 2 : 1);
      if (b.frames[i] >= 0) this.counts.exported++;
      else this.counts.stateOnly++;
    });
    this.counts.bundles++;
    this.importBundle(b);
  }

  /** A bitmap sync after the first: the bundle goes out and TDH.EXPORT.TRACK closes the epoch. */
  epoch(): void {
    this.flush();
    const r = exportTrack(this.w.src.kvm.tdx, this.srcTd, false);
    if (r.status !== TdxStatus.TDX_SUCCESS) throw new Error(`TDH.EXPORT.TRACK failed with ${hex(r.status)}`);
    importTrack(this.w.dst.kvm.tdx, this.dstTd, r.epoch);
    this.counts.epochs++;
    this.pendingBytes += MBMD_BYTES;
  }

  /** TD-migration bytes waiting for the link (and none left after). */
  takeBytes(): number {
    const n = this.pendingBytes;
    this.pendingBytes = 0;
    return n;
  }

  /**
   * The blackout begins (the VM is stopped): TDH.EXPORT.PAUSE. Then the lab's VMM asks for the
   * in-order TDH.EXPORT.TRACK before it has exported the last dirty pages, to show the module's
   * check (a real VMM exports them first): while DIRTY_COUNT > 0 it fails.
   */
  pause(): void {
    const m = this.w.src.kvm.tdx;
    const st = exportPause(m, this.srcTd);
    if (st !== TdxStatus.TDX_SUCCESS) throw new Error(`TDH.EXPORT.PAUSE failed with ${hex(st)}`);
    if (this.srcTd.mig.dirtyCount === 0) return;
    const r = exportTrack(m, this.srcTd, true);
    if (r.status === TdxStatus.TDX_SUCCESS) return;
    this.counts.finalTrackFailures++;
    this.emit('tdx_mig_export_track', { inorder_done: 1, status: 'TDX_EXPORTED_DIRTY_PAGES_REMAIN', dirty_count: this.srcTd.mig.dirtyCount },
      `The VMM may not end the in-order phase yet: the module itself counts ${this.srcTd.mig.dirtyCount} exported page(s) written since (DIRTY_COUNT), whatever the host's bitmap says. QEMU exports the last dirty pages and tries again (${this.label}, not upstream).`);
  }

  /** After the last pages: the bundle, the in-order TDH.EXPORT.TRACK (the start token). Returns false when the module refuses. */
  finish(): boolean {
    this.flush();
    const r = exportTrack(this.w.src.kvm.tdx, this.srcTd, true);
    if (r.status !== TdxStatus.TDX_SUCCESS) {
      this.counts.finalTrackFailures++;
      this.error = `TDH.EXPORT.TRACK(INORDER_DONE) failed: TDX_EXPORTED_DIRTY_PAGES_REMAIN (DIRTY_COUNT ${this.srcTd.mig.dirtyCount})`;
      return false;
    }
    importTrack(this.w.dst.kvm.tdx, this.dstTd, r.epoch);
    this.pendingBytes += MBMD_BYTES;
    this.emit('tdx_mig_export_state', { vcpus: this.w.src.nvcpus },
      `The TD's mutable state and each vCPU's go out sealed (TDH.EXPORT.STATE.TD, TDH.EXPORT.STATE.VP): the host carries them without reading a register (${this.label}, not upstream).`);
    return true;
  }

  /**
   * The stream has arrived: TDH.IMPORT.COMMIT; the TD may run on the destination. In post-copy
   * (`outOfOrder`) the import stays open for the pages still on the source.
   */
  commit(outOfOrder = false): void {
    const { dst } = this.w;
    this.syncAttributes('at switchover');
    const st = importCommit(dst.kvm.tdx, this.dstTd, outOfOrder);
    if (st !== TdxStatus.TDX_SUCCESS) throw new Error(`TDH.IMPORT.COMMIT failed with ${hex(st)}`);
    if (outOfOrder) return;
    this.emit('tdx_mig_done', { exported: this.counts.exported, state_only: this.counts.stateOnly, bundles: this.counts.bundles, epochs: this.counts.epochs },
      `${this.counts.exported} private page version(s) went as ciphertext in ${this.counts.bundles} bundle(s) over ${this.counts.epochs + 1} epoch(s), and ${this.counts.stateOnly} never-accepted page(s) as state only (${formatSize(this.counts.exported * (PAGE_SIZE + PAGE_MAC_BYTES + GPA_ENTRY_BYTES))} with their MACs and GPA entries).`);
  }

  // ---- post-copy: the module's out-of-order phase ------------------------------------------------

  /**
   * Private page p was exported before. At the switch to post-copy such a page still in the host's
   * bitmap goes again in the blackout: the module gives the start token only when DIRTY_COUNT is 0,
   * and the host cannot tell a write after the export (EXPORTED_DIRTY) from one its log recorded
   * before it; a page never exported may wait for the out-of-order phase.
   */
  exportedBefore(p: number): boolean {
    return this.wire.get(this.gfnOf(p)) !== 0;
  }

  /** How many of the source TD's pages the module counts written since their export (DIRTY_COUNT). */
  get dirtyCount(): number {
    return this.srcTd.mig.dirtyCount;
  }

  /** Private page p has nothing behind it in the source's Secure EPT (never added): nothing will be sent for it. */
  absent(p: number): boolean {
    const s = this.srcTd.stateOf(this.gfnOf(p));
    return s !== Sept.MAPPED && s !== Sept.PENDING;
  }

  /** Post-copy: private page p goes in the next batch's bundles; returns its bytes in the stream (0: nothing there). */
  savePostcopy(p: number): number {
    const g = this.gfnOf(p);
    const s = this.srcTd.stateOf(g);
    if (s !== Sept.MAPPED && s !== Sept.PENDING) return 0;
    let bytes = s === Sept.MAPPED ? PAGE_SIZE + PAGE_MAC_BYTES + GPA_ENTRY_BYTES : GPA_ENTRY_BYTES;
    if (this.pcPending.length % MIG_LIST_MAX === 0) bytes += MBMD_BYTES;
    this.pcPending.push(g);
    return bytes;
  }

  /** The batch `batch` goes on the link: TDH.EXPORT.MEM out of order, at most 512 pages a bundle. */
  flushPostcopy(batch: number): void {
    if (this.pcPending.length === 0) return;
    const gfns = this.pcPending;
    this.pcPending = [];
    const out: MigBundle[] = [];
    for (let k = 0; k < gfns.length; k += MIG_LIST_MAX) {
      const r = exportMem(this.w.src.kvm.tdx, this.srcTd, gfns.slice(k, k + MIG_LIST_MAX));
      if (r.status !== TdxStatus.TDX_SUCCESS || !r.bundle) throw new Error(`TDH.EXPORT.MEM (out of order) failed with ${hex(r.status)}`);
      const b = r.bundle;
      b.gfns.forEach((g, i) => this.wire.set(g, b.frames[i] >= 0 ? b.tokens[i] + 2 : 1));
      this.counts.exported += b.frames.filter((f) => f >= 0).length;
      this.counts.stateOnly += b.frames.filter((f) => f < 0).length;
      this.counts.bundles++;
      this.pcCounts.bundles++;
      out.push(b);
    }
    this.pcBundles.set(batch, out);
  }

  /** The batch arrived: the destination's module imports its bundles out of order while the TD runs. */
  importPostcopy(batch: number): void {
    const bundles = this.pcBundles.get(batch);
    if (!bundles) return;
    this.pcBundles.delete(batch);
    for (const b of bundles) this.importBundle(b);
  }

  private importBundle(b: MigBundle): void {
    const { src, dst } = this.w;
    const st = importMem(dst.kvm.tdx, this.dstTd, b, src.host.memory, (g) => {
      const slot = dst.vm.findSlot(g);
      if (!slot?.gmem) throw new Error(`the destination has no guest_memfd behind GFN ${hex(g)}`);
      return slot.gmem.getPfn(gfnToGmemIndex(slot, g))[0];
    });
    if (st !== TdxStatus.TDX_SUCCESS) throw new Error(`TDH.IMPORT.MEM failed with ${hex(st)}`);
    // KVM's mirror of the destination's Secure EPT (KVM_TDX_MIG_IMPORT_MEM in Intel's tree).
    for (const g of b.gfns) dst.vm.mmu.mirror!.set(g, this.dstTd.frameOf(g) + 1);
  }

  /** The link broke: bundles on it are lost (their pages are sent, and exported, again after a recovery). */
  dropInflight(): void {
    this.pcBundles.clear();
    this.pcPending = [];
  }

  /** The destination's frame of private page p (-1: not imported) and the source's, for the arrival's proof. */
  frames(p: number): { dst: number; src: number } {
    const g = this.gfnOf(p);
    return { dst: this.dstTd.stateOf(g) === Sept.MAPPED ? this.dstTd.frameOf(g) : -1, src: this.srcTd.stateOf(g) === Sept.MAPPED ? this.srcTd.frameOf(g) : -1 };
  }

  /** Every page has come: TDH.IMPORT.END. */
  endImport(): void {
    const st = importEnd(this.w.dst.kvm.tdx, this.dstTd);
    if (st !== TdxStatus.TDX_SUCCESS) throw new Error(`TDH.IMPORT.END failed with ${hex(st)}`);
    this.emit('tdx_mig_done', { exported: this.counts.exported, state_only: this.counts.stateOnly, bundles: this.counts.bundles, epochs: this.counts.epochs, in_blackout: this.pcCounts.inBlackout, out_of_order: this.pcCounts.outOfOrder },
      `${this.counts.exported} private page version(s) went as ciphertext in ${this.counts.bundles} bundle(s): ${this.pcCounts.inBlackout} exported page(s) written since went again in the blackout, in order, because the module gives no start token while DIRTY_COUNT > 0; ${this.pcCounts.outOfOrder} page(s) never exported came out of order after TDH.IMPORT.COMMIT, while the TD ran (${this.label}, not upstream).`, 'dst');
  }

  /** The migration failed or was cancelled: TDH.EXPORT.ABORT on the source, TDH.IMPORT.ABORT on the destination. */
  abort(): void {
    const { src, dst } = this.w;
    this.bundle = [];
    if (this.srcTd.mig.phase !== 'none') exportAbort(src.kvm.tdx, this.srcTd);
    if (this.dstTd.mig.phase === 'import-in-order') importAbort(dst.kvm.tdx, this.dstTd);
  }

  /** The migration is over and dirty logging is off: the source's KVM is back to upstream's rule. */
  release(): void {
    this.w.src.vm.privateDirtyLog = 'none';
  }

  /** Whether private page p is the same on both hosts: the Secure-EPT state, and for a mapped page the content token and bytes. */
  samePage(p: number): boolean {
    const g = this.gfnOf(p);
    const a = this.srcTd.stateOf(g);
    const b = this.dstTd.stateOf(g);
    if (a !== Sept.MAPPED || b !== Sept.MAPPED) return a === b || (a === Sept.FREE && b === Sept.FREE);
    return this.w.src.host.memory.samePageAcross(this.srcTd.frameOf(g), this.w.dst.host.memory, this.dstTd.frameOf(g));
  }

  /** What a host reading the stream sees of GPA `gpa`'s last export: ciphertext and a MAC, or null when it has not gone out. */
  wireView(gpa: number, len: number): { bytes: Uint8Array; mac: string; stateOnly: boolean } | null {
    const g = Math.floor(gpa / PAGE_SIZE);
    const w = this.wire.get(g);
    if (w === 0) return null;
    if (w === 1) return { bytes: new Uint8Array(0), mac: '', stateOnly: true };
    const token = w - 2;
    return { bytes: sealedBytes(this.key, g, token, gpa % PAGE_SIZE, len), mac: pageMac(this.key, g, token), stateOnly: false };
  }
}
