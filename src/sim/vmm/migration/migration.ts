/**
 * QEMU's live migration, pre-copy, for an ordinary VM: the source's migration thread as a scheduler
 * actor (migration/migration.c migration_thread(), migration/ram.c). docs/abi-sources.md lists what
 * follows which function.
 *
 * - setup (ram_save_setup): dirty logging starts, every page is dirty in the migration's bitmap, the
 *   first bitmap sync (`dirty-sync-count` 1), the stream's header;
 * - each pass of the loop (migration_iteration_run): the pending estimate without a sync
 *   (ram_state_pending_estimate: the pages still dirty in the bitmap); only when it is at or below
 *   `threshold_size` the exact pending (a bitmap sync); completion when that is below the threshold
 *   (or zero); otherwise pages are sent (ram_save_iterate) while the rate limiter allows
 *   (`max-bandwidth` / 10 per 100 ms period, migration_rate_exceeded); there is no iteration cap;
 * - the counters every 100 ms (migration_update_counters): the bandwidth measured over the period,
 *   `threshold_size = bandwidth × downtime-limit` (or `avail-switchover-bandwidth`), `mbps`,
 *   `pages-per-second`, `expected-downtime` from the bytes dirty at the last sync;
 * - a sync at least a second after the last rate update (migration_bitmap_sync) recomputes
 *   `dirty-pages-rate` and runs auto-converge's check (migration_trigger_throttle);
 * - completion (migration_completion): the VM stops, a last sync, the remaining dirty pages and the
 *   device and vCPU state go out unthrottled; when they have arrived the destination starts the
 *   guest, and the source stays paused (postmigrate).
 *
 * A page is sent as QEMU's stream carries it: an 8-byte header (offset | flags) and 4,096 bytes, or
 * for a page of zeros the header and one byte (RAM_SAVE_FLAG_ZERO, counted `duplicate`). Sending a
 * page clears its bit first, so a write after the send marks it dirty again and the next pass sends
 * it again. The page's bytes and content token are written into the destination's memory when the
 * batch is put on the link; the link decides when the batch arrives.
 *
 * Everything here is plain data (counters, typed arrays, the rounds), so a snapshot taken in the
 * middle of a migration restores and goes on exactly as the original (world/state.ts makes the
 * thread again, wired to the VMMs and the link named in its fields).
 */
import type { Actor } from '../../core/actor';
import { SysError } from '../../core/errno';
import { wiring } from '../../core/state';
import { PAGE_SIZE, formatSize, hex } from '../../core/units';
import { KVM_MEM_LOG_DIRTY_PAGES } from '../../kvm/uapi';
import type { VmmVm } from '../vmm';
import { KvmDirtyBitmap, KvmDirtyRing, type DirtyPageSource } from './dirty-source';
import { CAPABILITY_NAMES, DEFAULT_CAPABILITIES, DEFAULT_PARAMETERS, type MigrationCapabilities, type MigrationParameters } from './params';
import { loadVmState, saveVmState, streamSize } from './vmstate';
import { GPA_ENTRY_BYTES } from '../../tdx/export';
import { TdMigrationPath, type TdDesign } from './td-export';
import { migrationDirtyLimitGuest } from '../dirtylimit';
import { PostcopyIncoming, REQ_PAGES_BYTES, type PostcopySummary } from './postcopy';
import { PrivatePostcopy } from './private-postcopy';

/** MigrationStatus, the values a pre-copy and a post-copy go through (qapi/migration.json). */
export type MigrationStatus = 'setup' | 'active' | 'device' | 'postcopy-active' | 'postcopy-paused' | 'postcopy-recover-setup' | 'postcopy-recover'
  | 'completed' | 'failed' | 'cancelling' | 'cancelled';
export const MIGRATION_STATUSES: readonly MigrationStatus[] = [
  'setup', 'active', 'device', 'postcopy-active', 'postcopy-paused', 'postcopy-recover-setup', 'postcopy-recover', 'completed', 'failed', 'cancelling', 'cancelled',
];
/** The statuses of a migration in post-copy: the guest runs on the destination, part of its memory is still on the source. */
export const POSTCOPY_STATUSES: readonly MigrationStatus[] = ['postcopy-active', 'postcopy-paused', 'postcopy-recover-setup', 'postcopy-recover'];

/** BUFFER_DELAY: the rate limiter's and the counters' period, 100 ms. */
export const BUFFER_DELAY_NS = 100_000_000;
/** XFER_LIMIT_RATIO: the limiter allows max-bandwidth / 10 per period. */
export const XFER_LIMIT_RATIO = 10;
/** save_page_header(): be64 offset | flags. */
export const PAGE_HEADER_BYTES = 8;
/** RAM_SAVE_FLAG_EOS that ends each ram_save_iterate() section. */
const EOS_BYTES = 8;
/**
 * ram_save_iterate() stops after MAX_WAIT (50 ms) even when the limiter would allow more: the thread
 * sends at most what the link carries in that time in one go (one link transfer), then lets the rest
 * of the world run.
 */
export const MAX_WAIT_NS = 50_000_000;
/** QEMU's "pc.ram" RAMBlock id, sent (length-prefixed) with the first page of the block. */
const RAM_BLOCK_ID = 'pc.ram';
/** A page sent, in guest instructions' worth of work (Actor.lastWork: the worker's slices stay short while a batch goes out). */
const PAGE_WORK = 4;
/** CPU_THROTTLE_DIRTY_SYNC_TIMESLICE_MS: while auto-converge throttles, a sync at least every 5 s. */
const THROTTLE_SYNC_NS = 5_000_000_000;

/** The ends of a migration's link, as the thread uses it (world/link.ts implements it). */
export interface MigrationChannel {
  readonly name: string;
  readonly latency: number;
  /** Bytes per virtual second. */
  readonly bandwidth: number;
  send(bytes: number, label: string, done: { kind: string; args: Record<string, string | number | boolean> }, lane?: 'main' | 'preempt' | 'return'): { state: 'in-flight' | 'delivered' | 'failed'; deliverAt: number };
  readonly state: 'up' | 'down';
}

/** What the thread is wired to: the two VMMs and the link (made again on a restore from the names it keeps). */
export interface MigrationWiring {
  src: VmmVm;
  dst: VmmVm;
  link: MigrationChannel;
}

/** The link handler kind the world registers (World): a migration's transfers end there. */
export const MIGRATION_TRANSFER = 'migration';

/** One round: the pages sent between two bitmap syncs, and what the sync that ended it found. */
export interface MigrationRound {
  round: number;
  /** Virtual ns when it started (the sync before it) and how long it took. */
  start_ns: number;
  duration_ns: number;
  /** Bytes put on the link in the round (pages with their headers). */
  bytes: number;
  pages: number;
  /** Pages the sync that ended the round found newly dirty. */
  dirty_pages: number;
  /** Bytes still dirty after that sync (what the next round starts with). */
  remaining: number;
  threshold: number;
  throttle_pct: number;
  /** The last round: the stop-and-copy, with the guest stopped. */
  final: boolean;
}

/**
 * query-migrate's answer (MigrationInfo), with QEMU's names and QEMU's choice of fields per status
 * (fill_source_migration_info): `setup`, `failed` and `cancelled` give the status only (and
 * `error-desc` after an error); the others the times and `ram`.
 */
export interface MigrationInfo {
  status: MigrationStatus;
  'total-time'?: number;
  'setup-time'?: number;
  'expected-downtime'?: number;
  downtime?: number;
  'cpu-throttle-percentage'?: number;
  /** dirty-limit in service: the longest sleep of a vCPU per full dirty ring, µs (dirtylimit_throttle_time_per_round). */
  'dirty-limit-throttle-time-per-round'?: number;
  /** dirty-limit in service: µs a running vCPU takes to fill its ring at the average rate (dirtylimit_ring_full_time). */
  'dirty-limit-ring-full-time'?: number;
  ram?: {
    transferred: number;
    remaining: number;
    total: number;
    duplicate: number;
    normal: number;
    'normal-bytes': number;
    'dirty-pages-rate': number;
    mbps: number;
    'dirty-sync-count': number;
    'precopy-bytes': number;
    'downtime-bytes': number;
    'pages-per-second': number;
    'page-size': number;
    /** Pages sent in the post-copy phase, in bytes (ram.postcopy-bytes). */
    'postcopy-bytes': number;
    /** Page requests the source received from the destination (ram.postcopy-requests). */
    'postcopy-requests': number;
  };
  'error-desc'?: string;
}

export interface MigrationSetup {
  /** Its index in the world's migrations (World.migrations). */
  id: number;
  src: string;
  dst: string;
  link: string;
  parameters: MigrationParameters;
  capabilities: MigrationCapabilities;
  /** A VM with private memory: how its migration goes (td-export.ts; absent for an ordinary VM). */
  tdDesign?: TdDesign;
}

/** The source's migration thread (QEMU's "live_migration" thread) as a scheduler actor. */
export class MigrationThread implements Actor {
  static readonly stateSkip: readonly string[] = ['w', 'srcBase', 'dstBase', 'srcIndex', 'dstIndex', 'actPages'];
  readonly kind = 'vmm-thread';
  readonly name: string;
  order: readonly number[];
  readonly id: number;
  readonly src: string;
  readonly dst: string;
  readonly link: string;
  status: MigrationStatus = 'setup';
  parameters: MigrationParameters;
  capabilities: MigrationCapabilities;
  /** Why it failed (QEMU's error-desc). */
  error = '';
  /** When the thread next runs (null: waiting for the link to deliver the end of the stream). */
  private nextAt: number | null;
  readonly startNs: number;
  setupNs = 0;
  endNs = 0;
  downtimeStartNs = 0;
  /** The bitmap of pages still to send (RAMBlock bmap), one bit per page of the guest's RAM. */
  bmap: Uint32Array;
  readonly npages: number;
  /** migration_dirty_pages: bits set in bmap. */
  dirtyPages = 0;
  /** Where the scan goes on (PageSearchStatus.page). */
  scan = 0;
  /** The block id has gone out with a page (save_page_header's first page of a block). */
  blockIdSent = false;
  /** Where dirty pages come from: KVM's bitmap with manual protect, or the VM's dirty rings. */
  readonly dirty: DirtyPageSource;
  /** Dirty logging was switched on (setup got past memory_global_dirty_log_start). */
  dirtyStarted = false;
  /** A VM with private memory: the design its migration follows (td-export.ts), and the TD path of the talk's and the TDX module's. */
  readonly tdDesign: TdDesign | undefined;
  readonly td: TdMigrationPath | null;
  readonly stats = {
    transferred: 0, precopyBytes: 0, downtimeBytes: 0, normal: 0, duplicate: 0, dirtySyncCount: 0,
    dirtyPagesRate: 0, dirtyBytesLastSync: 0, mbps: 0, pagesPerSecond: 0, thresholdSize: 0,
    /** In ms, as QEMU reports it; starts at the downtime limit (migrate_fd_connect). */
    expectedDowntime: 0,
  };
  /** The 100 ms period (update_iteration_initial_status): its start, bytes and pages then, bytes sent in it. */
  private readonly win = { start: 0, bytes: 0, pages: 0, used: 0 };
  /** The period of auto-converge's check and the dirty rate (RAMState). */
  private readonly period = { lastSync: 0, dirtyPages: 0, bytesXferPrev: 0, highCount: 0, lastAnySync: 0 };
  readonly rounds: MigrationRound[] = [];
  private readonly round = { start: 0, bytes: 0, pages: 0, finalDirty: 0 };
  /** migrate-start-postcopy was asked (MigrationState.start_postcopy): the loop switches at its next pass. */
  startPostcopy = false;
  /** The destination's side of post-copy (its received bitmap, userfaultfd, fault thread, blocktime). */
  readonly incoming: PostcopyIncoming;
  /** Post-copy on the source: requested pages not yet sent (src_page_requests), counters, batches in flight by id. */
  readonly pc = {
    queue: [] as number[], requests: 0, bytes: 0, startNs: 0, downtimeEndNs: 0, bgNextAt: 0, batchSeq: 0, endSent: false,
    /** postcopy_start() ran: the source guest is stopped for good and its pages go on demand or in the background. */
    switched: false,
    /** Page requests the link lost on their way to the source (a cut); the destination asks again after a recovery. */
    requestsLost: 0,
    /** The source's bitmap when the discard went out (what the destination drops when it arrives). */
    discardMap: new Uint32Array(0),
  };
  /** Post-copy page batches in flight: their pages, by batch id (lost with the link, resent after recovery). */
  readonly pcInflight = new Map<number, number[]>();
  /** A software-protected VM: how its private (guest_memfd) pages migrate (private-postcopy.ts). */
  readonly priv: PrivatePostcopy | null;
  /** Wiring (made again on restore): the VMMs and the link. */
  private readonly w: MigrationWiring;
  /** Where the RAM block starts in each VMM's address space (page p is at base + p × 4 KiB). */
  private readonly srcBase: number;
  private readonly dstBase: number;
  /** The same, as page indexes in each VMM's address space (Process.pageIndex()): small integers for the per-page loop. */
  private readonly srcIndex: number;
  private readonly dstIndex: number;

  constructor(w: MigrationWiring, setup: MigrationSetup, now: number) {
    this.w = wiring(w);
    this.srcBase = w.src.ram[0].hva - w.src.ram[0].gmemOffset;
    this.dstBase = w.dst.ram[0].hva - w.dst.ram[0].gmemOffset;
    this.srcIndex = w.src.process.pageIndex(this.srcBase);
    this.dstIndex = w.dst.process.pageIndex(this.dstBase);
    this.id = setup.id;
    this.src = setup.src;
    this.dst = setup.dst;
    this.link = setup.link;
    this.parameters = { ...DEFAULT_PARAMETERS, ...setup.parameters };
    this.capabilities = { ...DEFAULT_CAPABILITIES, ...setup.capabilities };
    this.name = `${setup.src}/live_migration`;
    this.order = w.src.threads[0]?.order.slice(0, 2) ?? [];
    this.startNs = now;
    this.nextAt = now;
    const blocks = w.src.ram;
    this.npages = blocks.reduce((n, b) => Math.max(n, (b.gmemOffset + b.size) / PAGE_SIZE), 0);
    this.bmap = new Uint32Array(Math.ceil(this.npages / 32));
    // QEMU logs dirty pages with the ring when the VM has one (-accel kvm,dirty-ring-size=N), else with the bitmap.
    this.dirty = w.src.dirtyRing.enabled ? new KvmDirtyRing(w.src.vm, blocks, w.src.dirtyRing) : new KvmDirtyBitmap(w.src.vm, blocks);
    this.tdDesign = setup.tdDesign;
    const isTd = w.src.desc.kind === 'tdx';
    this.td = isTd && (setup.tdDesign === 'talk' || setup.tdDesign === 'tdx-module') ? new TdMigrationPath(w, setup.tdDesign) : null;
    this.stats.expectedDowntime = this.parameters['downtime-limit'];
    this.incoming = new PostcopyIncoming(w.dst);
    const d = setup.tdDesign;
    // A TD's post-copy (the TDX module's out-of-order phase): KVM Userfault catches the destination's touch of a page not yet imported.
    const tdPostcopy = this.td && d === 'tdx-module' && this.capabilities['postcopy-ram'];
    this.priv = w.src.desc.kind === 'sw-protected' && (d === 'upstream' || d === 'talk' || d === 'kvm-userfault') ? new PrivatePostcopy(w, this.incoming, d)
      : tdPostcopy ? new PrivatePostcopy(w, this.incoming, 'kvm-userfault', this.td) : null;
  }

  /** The source and destination VMMs (for tests and the report). */
  get vmms(): { src: VmmVm; dst: VmmVm } {
    return { src: this.w.src, dst: this.w.dst };
  }

  private emit(name: string, args: Record<string, string | number | boolean>, text: string, side: 'src' | 'dst' = 'src'): void {
    const v = side === 'src' ? this.w.src : this.w.dst;
    v.host.trace.emit('vmm', name, args, text, { vm: v.desc.name });
  }

  private setStatus(s: MigrationStatus, text: string): void {
    const from = this.status;
    this.status = s;
    this.emit('migrate_set_state', { from, to: s }, text);
  }

  get finished(): boolean {
    return this.status === 'completed' || this.status === 'failed' || this.status === 'cancelled';
  }

  /** In post-copy (the guest runs on the destination). */
  get inPostcopy(): boolean {
    return POSTCOPY_STATUSES.includes(this.status);
  }

  readyAt(): number | null {
    if (this.finished) return null;
    // The destination's fault thread (postcopy/fault) runs as soon as a vCPU's fault is queued.
    if (this.incoming.faultPending || (this.priv?.faultPending ?? false)) return this.w.dst.vm.clock.now;
    return this.nextAt;
  }

  done(): boolean {
    return this.finished;
  }

  /** Pages handled by the current act(), for the scheduler's slicing (lastWork). */
  private actPages = 0;

  lastWork(): number {
    return this.actPages * PAGE_WORK;
  }

  act(now: number): void {
    this.actPages = 0;
    if (this.incoming.faultPending || (this.priv?.faultPending ?? false)) return this.faultThread(now);
    switch (this.status) {
      case 'setup':
        return this.setup(now);
      case 'cancelling':
        return this.end(now, 'cancelled', 'migrate_cancel: the migration thread stops; dirty logging ends and the source guest keeps running.');
      case 'active':
        return this.iterate(now);
      case 'postcopy-active':
        return this.postcopyIterate(now);
      default:
        this.nextAt = null;
    }
  }

  // ---- setup ----------------------------------------------------------------------------------

  /** ram_save_setup() and the first sync. */
  private setup(now: number): void {
    try {
      this.td?.start();
      if (this.priv?.viaTdxModule) this.priv.prepareTd();
      this.priv?.startSource();
      this.dirty.start();
    } catch (e) {
      if (e instanceof SysError) return this.dirtyLogRefused(now, e);
      throw e;
    }
    this.dirtyStarted = true;
    // ram_list_init_bitmaps(): every page starts dirty, so the first pass sends all of RAM.
    this.bmap.fill(0xffffffff);
    const tail = this.npages % 32;
    if (tail) this.bmap[this.bmap.length - 1] = (2 ** tail - 1) >>> 0;
    this.dirtyPages = this.npages;
    this.period.lastSync = 0;
    this.bitmapSync(now, false);
    this.round.start = now;
    // The stream's header (QEMU_VM_FILE_MAGIC, version), the RAM section's start with the RAM size
    // (RAM_SAVE_FLAG_MEM_SIZE) and each block's id and length, then RAM_SAVE_FLAG_EOS.
    const header = 8 + (1 + 4 + 1 + 'ram'.length + 4 + 4) + 8 + (1 + RAM_BLOCK_ID.length + 8) + EOS_BYTES;
    this.put(header, 'migration stream header and RAM setup', false);
    if (this.finished) return;
    // qemu_savevm_send_postcopy_advise(): with postcopy-ram the destination is told at once.
    if (this.capabilities['postcopy-ram']) this.sendCmd(8 + 8 + 4, 'CMD_POSTCOPY_ADVISE', 'advise');
    this.setupNs = now - this.startNs;
    this.win.start = now;
    this.win.bytes = this.stats.transferred;
    this.win.pages = 0;
    this.win.used = header;
    this.setStatus('active', `The migration of "${this.src}" is active: every one of its ${this.npages} pages is dirty in the migration's bitmap, so the first pass sends all of its RAM to "${this.dst}" over link ${this.link}.`);
  }

  // ---- the loop -------------------------------------------------------------------------------

  /** One turn of migration_thread()'s loop. */
  private iterate(now: number): void {
    this.updateCounters(now);
    // While auto-converge throttles, a sync at least every 5 s even if the estimate stays high.
    if (this.w.src.throttlePct > 0 && this.stats.dirtySyncCount > 1 && now - this.period.lastAnySync >= THROTTLE_SYNC_NS) this.bitmapSync(now, false);
    if (this.rateExceeded()) {
      this.nextAt = this.win.start + BUFFER_DELAY_NS;
      return;
    }
    const threshold = this.stats.thresholdSize;
    let pending = this.dirtyPages * PAGE_SIZE;
    if (pending <= threshold) {
      this.bitmapSync(now, false);
      pending = this.dirtyPages * PAGE_SIZE;
    }
    if (pending === 0 || pending < threshold) return this.complete(now, pending);
    // migration_iteration_run(): still much to send, and migrate-start-postcopy was asked.
    if (this.startPostcopy && this.capabilities['postcopy-ram']) return this.postcopyStart(now);
    this.sendBatch();
  }

  /**
   * Upstream KVM refuses KVM_MEM_LOG_DIRTY_PAGES on a guest_memfd memslot
   * (check_memory_region_flags()), so QEMU cannot start dirty logging for a VM with private memory
   * (kvm_log_start → kvm_set_user_memory_region fails with EINVAL) and the migration fails in setup;
   * the source keeps running. QEMU has no migration blocker for TDX (docs/abi-sources.md).
   */
  private dirtyLogRefused(now: number, e: SysError): void {
    const src = this.w.src;
    const b = src.ram.find((r) => src.vm.slots.get(r.slot)?.gmem) ?? src.ram[0];
    const slot = src.vm.slots.get(b.slot);
    const flags = (slot?.flags ?? 0) | KVM_MEM_LOG_DIRTY_PAGES;
    src.host.trace.emit('kvm', 'KVM_SET_USER_MEMORY_REGION2', { slot: b.slot, flags: hex(flags), ret: -1, errno: e.errno, why: e.why },
      `KVM refuses to log dirty pages on memslot ${b.slot}: it is backed by guest_memfd, and check_memory_region_flags() rejects KVM_MEM_LOG_DIRTY_PAGES with KVM_MEM_GUEST_MEMFD ("Dirty logging private memory is not currently supported"): -1, ${e.errno}.`,
      { vm: src.desc.name, gfns: [b.gpa / PAGE_SIZE, b.size / PAGE_SIZE] });
    this.error = `kvm_set_user_memory_region: KVM_SET_USER_MEMORY_REGION2 failed, slot=${b.slot}, start=${hex(b.gpa)}, size=${hex(b.size)}, flags=${hex(flags)}, guest_memfd=${slot?.gmem?.fd ?? -1}, guest_memfd_offset=${hex(b.gmemOffset)}: Invalid argument`;
    const postcopy = this.capabilities['postcopy-ram']
      ? ' Post-copy would not help either: it catches the destination\'s faults with userfaultfd, which registers VMAs, and private guest_memfd memory has none in QEMU (UFFDIO_REGISTER finds no mapping; a vCPU\'s private fault goes to kvm_gmem_get_pfn(), which would just allocate a zeroed page).'
      : '';
    this.end(now, 'failed', `QEMU cannot start dirty logging for "${this.src}" (${this.error}): pre-copy has no way to know which private pages the guest writes, so the migration fails in setup and the source guest keeps running.${postcopy} Upstream has nothing else to offer: the TDX module's TD migration, the talk's backend-kept log and KVM Userfault are not upstream.`);
  }

  /** migration_rate_exceeded(): the period's quota is used (max-bandwidth 0: no limit). */
  private rateExceeded(): boolean {
    const bw = this.parameters['max-bandwidth'];
    return bw > 0 && this.win.used >= bw / XFER_LIMIT_RATIO;
  }

  /** migration_update_counters(): at most every 100 ms. */
  private updateCounters(now: number): void {
    const w = this.win;
    if (now < w.start + BUFFER_DELAY_NS) return;
    const st = this.stats;
    const transferred = st.transferred - w.bytes;
    const ms = (now - w.start) / 1e6;
    const bandwidth = transferred / ms;
    const switchover = this.parameters['avail-switchover-bandwidth'];
    const expected = switchover ? switchover / 1000 : bandwidth;
    st.thresholdSize = Math.floor(expected * this.parameters['downtime-limit']);
    st.mbps = (transferred * 8) / (ms / 1000) / 1e6;
    st.pagesPerSecond = (st.normal + st.duplicate - w.pages) / (ms / 1000);
    if (st.dirtyPagesRate && transferred > 10000) st.expectedDowntime = Math.floor(st.dirtyBytesLastSync / expected);
    w.start = now;
    w.bytes = st.transferred;
    w.pages = st.normal + st.duplicate;
    w.used = 0;
  }

  /** Count bytes put on the link, and send them; returns false when the link refused them. */
  private put(bytes: number, label: string, final: boolean, what = 'ram', extra: Record<string, number> = {}, lane: 'main' | 'preempt' = 'main'): boolean {
    const st = this.stats;
    st.transferred += bytes;
    if (this.status === 'device' || what === 'package' || what === 'discard' || what === 'td-blackout') st.downtimeBytes += bytes;
    else if (this.inPostcopy) this.pc.bytes += bytes;
    else st.precopyBytes += bytes;
    this.win.used += bytes;
    this.round.bytes += bytes;
    const t = this.w.link.send(bytes, label, { kind: MIGRATION_TRANSFER, args: { id: this.id, final, what, ...extra } }, lane);
    if (t.state === 'failed') return false;
    if (lane === 'preempt') return true;
    // A blocking socket: the thread goes on once the bytes are on the wire.
    this.nextAt = Math.max(this.w.src.vm.clock.now, t.deliverAt - this.w.link.latency);
    return true;
  }

  /** ram_save_iterate(), one batch: pages while the limiter allows, then RAM_SAVE_FLAG_EOS. */
  private sendBatch(): void {
    let bytes = 0;
    let pages = 0;
    const bw = this.parameters['max-bandwidth'];
    const quota = bw > 0 ? bw / XFER_LIMIT_RATIO : Infinity;
    const most = Math.max(1, Math.floor((this.w.link.bandwidth * MAX_WAIT_NS) / 1e9 / (PAGE_SIZE + PAGE_HEADER_BYTES)));
    while (pages < most && this.dirtyPages > 0 && this.win.used + bytes < quota) {
      const p = this.nextDirty();
      if (p < 0) break;
      bytes += this.savePage(p);
      pages++;
    }
    if (this.td) {
      this.td.flush();
      bytes += this.td.takeBytes();
    }
    this.round.pages += pages;
    this.put(bytes + EOS_BYTES, `RAM: ${pages} page(s)`, false);
  }

  /** The next dirty page from the scan position, wrapping (find_dirty_block); -1 when none. */
  private nextDirty(): number {
    const n = this.npages;
    const bm = this.bmap;
    let p = this.scan >= n ? 0 : this.scan;
    for (let seen = 0; seen <= n + 32; ) {
      const w = p >>> 5;
      const bits = bm[w] >>> (p & 31);
      if (bits !== 0) {
        const q = p + (31 - Math.clz32(bits & -bits));
        if (q < n) {
          this.scan = q + 1;
          return q;
        }
      }
      const step = 32 - (p & 31);
      seen += step;
      p += step;
      if (p >= n) p = 0;
    }
    return -1;
  }

  /** migration_bitmap_clear_dirty() and ram_save_target_page(): the page goes out; returns its bytes in the stream. */
  private savePage(p: number): number {
    this.actPages++;
    this.dirty.beforeSend(p);
    this.bmap[p >>> 5] &= ~(1 << (p & 31));
    this.dirtyPages--;
    if (this.td?.owns(p)) {
      // A private page: through the TDX module, as ciphertext; never a zero page (td-export.ts).
      const n = this.td.save(p);
      if (n > 0) this.stats.normal++;
      return n;
    }
    if (this.priv?.owns(p)) {
      // A software-protected VM's private page: guest_memfd to guest_memfd (private-postcopy.ts).
      if (this.priv.savePrecopy(p)) {
        this.stats.duplicate++;
        return PAGE_HEADER_BYTES + 1;
      }
      this.stats.normal++;
      return PAGE_HEADER_BYTES + PAGE_SIZE;
    }
    const src = this.w.src;
    const dst = this.w.dst;
    const sm = src.host.memory;
    const dm = dst.host.memory;
    // Page indexes, not addresses (see Process.pageIndex()).
    const sf = src.process.lookupIndex(this.srcIndex + p);
    const dPage = this.dstIndex + p;
    let header = PAGE_HEADER_BYTES;
    if (!this.blockIdSent) {
      header += 1 + RAM_BLOCK_ID.length;
      this.blockIdSent = true;
    }
    // A page that reads as zeros: none behind it, or stored zeros. A page with a token and no stored
    // bytes is in use with contents the lab does not keep (DESIGN.md principle 4): it is not zero.
    if (sf < 0 || (sm.peek(sf) === undefined ? sm.pageToken(sf) === 0 : sm.storedBytesZero(sf))) {
      // save_zero_page(): a header and one byte. The destination clears the page only if it is not
      // zero already (ram_handle_zero); a page the source wrote zeros into keeps its token.
      this.stats.duplicate++;
      const df = dst.process.lookupIndex(dPage);
      if (sf >= 0 && sm.pageToken(sf) !== 0) dm.copyPageFrom(sm, sf, df >= 0 ? df : dst.process.faultIndex(dPage, 'migration', 0));
      else if (df >= 0 && (dm.pageToken(df) !== 0 || dm.hasData(df))) dm.zero(df);
      return header + 1;
    }
    this.stats.normal++;
    dm.copyPageFrom(sm, sf, dst.process.faultIndex(dPage, 'migration', 0));
    return header + PAGE_SIZE;
  }

  /** migration_bitmap_sync(): harvest the dirty log into the migration's bitmap. */
  private bitmapSync(now: number, lastStage: boolean): void {
    const st = this.stats;
    st.dirtySyncCount++;
    if (!this.period.lastSync) this.period.lastSync = now || 1;
    this.period.lastAnySync = now;
    let fresh = 0;
    const bm = this.bmap;
    this.dirty.sync((p) => {
      const bit = 1 << (p & 31);
      if (bm[p >>> 5] & bit) return;
      bm[p >>> 5] |= bit;
      fresh++;
    });
    this.dirtyPages += fresh;
    this.period.dirtyPages += fresh;
    // The TD path: each sync after the first closes an epoch (TDH.EXPORT.TRACK).
    if (this.td && st.dirtySyncCount > 1 && !lastStage) this.td.epoch();
    st.dirtyBytesLastSync = this.dirtyPages * PAGE_SIZE;
    let rates = '';
    if (now > this.period.lastSync + 1e9) {
      this.triggerThrottle();
      st.dirtyPagesRate = Math.floor((this.period.dirtyPages * 1000) / ((now - this.period.lastSync) / 1e6));
      this.period.lastSync = now;
      this.period.dirtyPages = 0;
      this.period.bytesXferPrev = st.transferred;
      rates = ` The dirty rate over the last period: ${st.dirtyPagesRate} pages/s.`;
    }
    // The last sync's pages belong to the stop-and-copy round (switchover() records it).
    if (lastStage) this.round.finalDirty = fresh;
    else if (st.dirtySyncCount > 1) this.closeRound(now, fresh);
    this.emit('migration_bitmap_sync', { 'dirty-sync-count': st.dirtySyncCount, new_dirty_pages: fresh, remaining: st.dirtyBytesLastSync, last_stage: lastStage },
      st.dirtySyncCount === 1
        ? `The first bitmap sync (dirty-sync-count 1): dirty logging is on and every page is still to be sent.`
        : `Bitmap sync ${st.dirtySyncCount}${lastStage ? ' (the last, with the guest stopped)' : ''}: ${fresh} page(s) were written since the last sync and not yet sent again, so ${formatSize(st.dirtyBytesLastSync)} is still dirty${lastStage ? '' : ` against a threshold of ${formatSize(st.thresholdSize)}`}.${rates}`);
  }

  /** The round that a sync ends. */
  private closeRound(now: number, dirty: number): void {
    const r = this.round;
    this.rounds.push({
      round: this.rounds.length, start_ns: r.start, duration_ns: now - r.start, bytes: r.bytes, pages: r.pages, dirty_pages: dirty,
      remaining: this.dirtyPages * PAGE_SIZE, threshold: this.stats.thresholdSize, throttle_pct: this.w.src.throttlePct, final: false,
    });
    r.start = now;
    r.bytes = 0;
    r.pages = 0;
  }

  /** migration_trigger_throttle(): auto-converge's check, at most once a second. */
  private triggerThrottle(): void {
    const st = this.stats;
    const pct = this.parameters['throttle-trigger-threshold'];
    const xfer = st.transferred - this.period.bytesXferPrev;
    const dirtied = this.period.dirtyPages * PAGE_SIZE;
    const limit = (xfer * pct) / 100;
    if (!(dirtied > limit && ++this.period.highCount >= 2)) return;
    this.period.highCount = 0;
    if (this.capabilities['dirty-limit'] && !this.capabilities['auto-converge']) {
      const q = this.parameters['vcpu-dirty-limit'];
      if (migrationDirtyLimitGuest(this.w.src.dirtyLimit, q, this.parameters['x-vcpu-dirty-limit-period'], this.w.src.vm.clock.now))
        this.emit('migration_dirty_limit_guest', { dirtyrate: q, dirtied, transferred: xfer, threshold_pct: pct },
          `The guest dirtied ${formatSize(dirtied)} while ${formatSize(xfer)} went out (more than ${pct}%), twice in a row: with dirty-limit, QEMU limits each vCPU to ${q} MB/s instead of throttling them all.`);
      return;
    }
    if (!this.capabilities['auto-converge']) return;
    // mig_throttle_guest_down()
    const src = this.w.src;
    const next = src.throttlePct === 0 ? this.parameters['cpu-throttle-initial']
      : Math.min(src.throttlePct + this.parameters['cpu-throttle-increment'], this.parameters['max-cpu-throttle']);
    this.emit('migration_throttle', { dirtied, transferred: xfer, threshold_pct: pct, pct: next },
      `Auto-converge: the guest dirtied ${formatSize(dirtied)} while ${formatSize(xfer)} went out (more than ${pct}%), twice in a row, so QEMU throttles its vCPUs to ${next}%.`);
    src.setCpuThrottle(next);
  }

  // ---- completion -----------------------------------------------------------------------------

  /** migration_completion(): stop, last sync, the rest of RAM and the device state, unthrottled. */
  private complete(now: number, pending: number): void {
    this.emit('migration_thread_low_pending', { pending, threshold: this.stats.thresholdSize },
      `Only ${formatSize(pending)} is still dirty, below the threshold of ${formatSize(this.stats.thresholdSize)} (what the link carries in downtime-limit ${this.parameters['downtime-limit']} ms): the migration completes.`);
    this.setStatus('device', `The source stops the guest and sends what is left: the last dirty pages and the device and vCPU state.`);
    this.downtimeStartNs = now;
    this.w.src.stop();
    this.td?.pause();
    this.bitmapSync(now, true);
    let bytes = 0;
    let pages = 0;
    for (let p = this.nextDirty(); p >= 0; p = this.dirtyPages > 0 ? this.nextDirty() : -1) {
      bytes += this.savePage(p);
      pages++;
    }
    this.round.pages += pages;
    if (this.td && !this.td.finish()) {
      this.error = this.td.error;
      return this.end(now, 'failed', `The TDX module refuses to end the in-order phase (${this.error}): the migration fails and the source TD goes on.`);
    }
    bytes += this.td?.takeBytes() ?? 0;
    if (!this.put(bytes + EOS_BYTES, `RAM, stop-and-copy: ${pages} page(s)`, false)) return;
    const state = streamSize(saveVmState(this.w.src));
    this.put(state, `device and vCPU state (${formatSize(state)})`, true);
    if (this.status === 'device') this.nextAt = null;
  }

  /** A transfer of this migration ended (the link's handler, registered by the world). */
  transferEnded(t: { state: string; endedAt: number | null }, args: Record<string, string | number | boolean>): void {
    if (this.finished || this.status === 'cancelling') return;
    const now = t.endedAt ?? this.w.src.vm.clock.now;
    const what = String(args.what ?? 'ram');
    if (t.state === 'failed' && what === 'req') this.pc.requestsLost++;
    if (t.state === 'failed' && this.inPostcopy) {
      // Before the destination runs the guest, the source's copy is still whole: the migration fails and the source goes on.
      if (this.incoming.phase !== 'running' && this.incoming.phase !== 'end') return this.postcopyFailEarly(now);
      return this.postcopyPause();
    }
    if (what !== 'ram') return t.state === 'delivered' ? this.postcopyDelivered(what, args, now) : undefined;
    const final = args.final === true;
    if (t.state === 'failed') {
      this.error = `link ${this.link} went down: the migration stream broke`;
      this.end(now, 'failed', `The link ${this.link} is down, so the stream breaks and the migration fails; the source guest keeps running, as a failed pre-copy leaves it.`);
      return;
    }
    if (final && this.status === 'device') this.switchover(now);
  }

  /** The end of the stream has arrived: the destination loads the state and runs the guest. */
  private switchover(now: number): void {
    const { src, dst } = this.w;
    const st = this.stats;
    this.td?.commit();
    loadVmState(dst, saveVmState(src));
    src.threads.forEach((t, i) => dst.threads[i].adopt(t));
    dst.startIncoming(this.src);
    this.rounds.push({
      round: this.rounds.length, start_ns: this.round.start, duration_ns: now - this.round.start, bytes: this.round.bytes, pages: this.round.pages,
      dirty_pages: this.round.finalDirty, remaining: 0, threshold: st.thresholdSize, throttle_pct: src.throttlePct, final: true,
    });
    this.end(now, 'completed', `The migration of "${this.src}" to "${this.dst}" completes: ${formatSize(st.transferred)} sent in ${this.rounds.length} round(s) and ${st.dirtySyncCount} bitmap syncs; the guest was stopped for ${((now - this.downtimeStartNs) / 1e6).toFixed(1)} ms (downtime-limit ${this.parameters['downtime-limit']} ms).`);
    src.postmigrate(this.dst);
  }

  /** migration_iteration_finish() and cleanup: dirty logging stops, the throttle ends, the status is final. */
  private end(now: number, status: 'completed' | 'failed' | 'cancelled', text: string): void {
    const src = this.w.src;
    this.endNs = now;
    this.nextAt = null;
    // QEMU cancels dirty-limit in migration_cancel(); the lab ends it with every migration (a completed
    // one leaves the source stopped for good, a failed one its guest running unlimited).
    if (this.capabilities['dirty-limit']) src.dirtyLimit.cancel(`the migration is ${status}`);
    if (this.dirtyStarted) this.dirty.stop();
    if (status !== 'completed') this.td?.abort();
    this.td?.release();
    if (src.throttlePct > 0) src.setCpuThrottle(0);
    const stopped = this.downtimeStartNs > 0 && src.runState === 'paused';
    this.setStatus(status, text);
    if (status !== 'completed') {
      if (stopped) src.cont();
      this.emit('incoming_migration_failed', { from: this.src, status },
        `The destination's incoming migration from "${this.src}" ends (${status}): what arrived is discarded and this VM does not start.`, 'dst');
    }
  }

  // ---- post-copy (migration/postcopy-ram.c, ram.c, savevm.c) ----------------------------------

  /** A command on the main stream (QEMU_VM_COMMAND): `what` says what the destination does when it arrives. */
  private sendCmd(bytes: number, label: string, what: string, extra: Record<string, number> = {}): boolean {
    return this.put(bytes, label, false, what, extra);
  }

  /**
   * postcopy_start(): the source stops the guest, syncs the dirty log a last time, sends the discard
   * bitmap (CMD_POSTCOPY_RAM_DISCARD: every page still dirty — never sent, or written since), then
   * one package (CMD_PACKAGED) holding CMD_POSTCOPY_LISTEN, the device and vCPU state and
   * CMD_POSTCOPY_RUN. From now on the guest's pages go on demand and in the background.
   */
  private postcopyStart(now: number): void {
    const src = this.w.src;
    this.emit('postcopy_start', { remaining: this.dirtyPages * PAGE_SIZE, 'dirty-sync-count': this.stats.dirtySyncCount },
      `migrate-start-postcopy takes effect: ${formatSize(this.dirtyPages * PAGE_SIZE)} is still dirty, so instead of waiting for pre-copy to converge the source stops the guest and hands it to "${this.dst}" before its memory has arrived.`);
    this.downtimeStartNs = now;
    src.stop();
    this.td?.pause();
    this.bitmapSync(now, true);
    this.pc.startNs = now;
    this.pc.switched = true;
    if (this.td && !this.tdBlackout(now)) return;
    // ram_postcopy_send_discard_bitmap(): the runs of set bits, at most 12 ranges per command.
    let ranges = 0;
    for (let p = 0; p < this.npages; ) {
      if (!this.bit(p)) {
        p++;
        continue;
      }
      while (p < this.npages && this.bit(p)) p++;
      ranges++;
    }
    this.pc.discardMap = this.bmap.slice();
    const cmds = Math.max(1, Math.ceil(ranges / 12));
    this.setStatus('postcopy-active', `postcopy-active: the source sends the discard bitmap (${this.dirtyPages} page(s) in ${ranges} range(s)) and the device state; the guest will run on "${this.dst}" while ${formatSize(this.dirtyPages * PAGE_SIZE)} of its RAM is still here. The source guest stays stopped for good.`);
    this.rounds.push({
      round: this.rounds.length, start_ns: this.round.start, duration_ns: now - this.round.start, bytes: this.round.bytes, pages: this.round.pages,
      dirty_pages: this.round.finalDirty, remaining: this.dirtyPages * PAGE_SIZE, threshold: this.stats.thresholdSize, throttle_pct: src.throttlePct, final: true,
    });
    this.round.start = now;
    this.round.bytes = 0;
    this.round.pages = 0;
    if (src.throttlePct > 0) src.setCpuThrottle(0);
    if (!this.sendCmd(cmds * (4 + 2 + RAM_BLOCK_ID.length) + ranges * 16, `CMD_POSTCOPY_RAM_DISCARD: ${ranges} range(s)`, 'discard')) return;
    const state = streamSize(saveVmState(src));
    if (!this.sendCmd(state + 3 * 4 + 4, `CMD_PACKAGED: CMD_POSTCOPY_LISTEN, device and vCPU state (${formatSize(state)}), CMD_POSTCOPY_RUN`, 'package')) return;
    src.postmigrate(this.dst);
    this.pc.bgNextAt = this.nextAt ?? now;
  }

  /**
   * A TD's switch to post-copy (the TDX module's rules, Intel's trees): the module gives the start
   * token only when no exported page is dirty (DIRTY_COUNT 0), so every exported page written since
   * goes again now, in the blackout; a private page the source's Secure EPT lacks has nothing to send.
   * What stays in the bitmap was never exported: it goes out of order after TDH.IMPORT.COMMIT.
   * Returns false when the module refused the start token (the migration failed).
   */
  private tdBlackout(now: number): boolean {
    const td = this.td!;
    const dirtyCount = td.dirtyCount;
    let bytes = 0;
    let pages = 0;
    let absent = 0;
    for (let p = 0; p < this.npages; p++) {
      if (!this.bit(p) || !td.owns(p)) continue;
      if (td.absent(p)) {
        this.bmap[p >>> 5] &= ~(1 << (p & 31));
        this.dirtyPages--;
        absent++;
      } else if (td.exportedBefore(p)) {
        bytes += this.savePage(p);
        pages++;
      }
    }
    td.pcCounts.inBlackout += pages;
    if (!td.finish()) {
      this.error = td.error;
      this.end(now, 'failed', `The TDX module refuses the start token (${this.error}): the migration fails and the source TD goes on.`);
      return false;
    }
    bytes += td.takeBytes();
    this.emit('tdx_mig_postcopy_blackout', { resent: pages, dirty_count: dirtyCount, absent, deferred: this.dirtyPages },
      `The TD's switch to post-copy (the TDX module's out-of-order phase; Intel's trees, not upstream, and Intel's QEMU has no TD post-copy): the ${pages} exported page(s) the host's log shows written must go again now, in order, since the module gives the start token only when DIRTY_COUNT is 0 (it counts ${dirtyCount} of them written after their export; the host cannot tell which). The ${this.dirtyPages} page(s) never exported wait: they will come out of order while the TD runs on "${this.dst}".${absent ? ` ${absent} private page(s) were never added on the source: nothing to send.` : ''}`);
    this.round.pages += pages;
    // Sent with the guest stopped: downtime bytes, as the stop-and-copy's are.
    this.put(bytes + EOS_BYTES, `TD blackout: ${pages} exported page(s) written since, the TD and vCPU state, the start token`, false, 'td-blackout');
    return !this.finished;
  }

  private bit(p: number): boolean {
    return (this.bmap[p >>> 5] & (1 << (p & 31))) !== 0;
  }

  /**
   * The post-copy loop: pages a vCPU waits for first (get_queued_page(); on the preempt channel with
   * postcopy-preempt), the scan going on from the last one asked for, then a background batch while
   * the link and max-postcopy-bandwidth allow; when every page has gone, the end of the stream.
   */
  private postcopyIterate(now: number): void {
    this.updateCounters(now);
    if (this.pc.queue.length) this.sendRequested();
    if (this.dirtyPages === 0) {
      if (!this.pc.endSent) {
        this.pc.endSent = true;
        this.put(EOS_BYTES + 8, 'RAM_SAVE_FLAG_EOS, QEMU_VM_EOF: the end of the post-copy stream', true, 'pc-end');
      }
      this.nextAt = null;
      return;
    }
    if (now < this.pc.bgNextAt) {
      this.nextAt = this.pc.bgNextAt;
      return;
    }
    const bw = this.parameters['max-postcopy-bandwidth'];
    if (bw > 0 && this.win.used >= bw / XFER_LIMIT_RATIO) {
      this.nextAt = this.pc.bgNextAt = this.win.start + BUFFER_DELAY_NS;
      return;
    }
    const quota = bw > 0 ? bw / XFER_LIMIT_RATIO : Infinity;
    const most = Math.max(1, Math.floor((this.w.link.bandwidth * MAX_WAIT_NS) / 1e9 / (PAGE_SIZE + PAGE_HEADER_BYTES)));
    const pages: number[] = [];
    let bytes = 0;
    while (pages.length < most && this.dirtyPages > 0 && this.win.used + bytes < quota) {
      const p = this.nextDirty();
      if (p < 0) break;
      const n = this.takePage(p);
      bytes += Math.abs(n);
      // A zero page is kept as -(p + 1): the destination places it without reading the source again.
      pages.push(n < 0 ? -p - 1 : p);
    }
    this.sendPages(pages, bytes, 'main', `RAM, post-copy background: ${pages.length} page(s)`);
    this.pc.bgNextAt = this.nextAt ?? now;
  }

  /** The pages the destination asked for that are still to send, now (a page already sent is on its way: skipped). */
  private sendRequested(): void {
    const lane = this.capabilities['postcopy-preempt'] ? 'preempt' : 'main';
    const q = this.pc.queue.splice(0);
    for (const p of q) {
      if (!this.bit(p)) {
        this.incoming.servedInFlight(p);
        this.emit('get_queued_page_not_dirty', { page: p, gpa: hex(p * PAGE_SIZE) },
          `The source gets the request for page ${p}, which has gone already (it is on the link): nothing to send again.`);
        continue;
      }
      const n = this.takePage(p);
      // The scan goes on from the page asked for (pss->page), as a vCPU is likely to touch its neighbours next.
      this.scan = p + 1;
      const saveNext = this.nextAt;
      this.sendPages([n < 0 ? -p - 1 : p], Math.abs(n), lane, `RAM, requested page ${p}${lane === 'preempt' ? ' (postcopy-preempt channel)' : ''}`);
      if (lane === 'main') this.pc.bgNextAt = Math.max(this.pc.bgNextAt, this.nextAt ?? 0);
      else this.nextAt = saveNext;
    }
  }

  /**
   * Clear page p's bit (it goes now) and count it; returns its bytes in the stream, negative for a
   * page that goes as a zero page (RAM_SAVE_FLAG_ZERO: the destination places it with UFFDIO_ZEROPAGE).
   */
  private takePage(p: number): number {
    this.actPages++;
    this.bmap[p >>> 5] &= ~(1 << (p & 31));
    this.dirtyPages--;
    this.round.pages++;
    let header = PAGE_HEADER_BYTES;
    if (!this.blockIdSent) {
      header += 1 + RAM_BLOCK_ID.length;
      this.blockIdSent = true;
    }
    if (this.td?.owns(p)) {
      // Out of order through the TDX module: ciphertext, never a zero page (the host cannot tell one).
      const n = this.td.savePostcopy(p);
      if (n === 0) return -GPA_ENTRY_BYTES;
      this.td.pcCounts.outOfOrder++;
      this.stats.normal++;
      return n;
    }
    if (this.sourceZero(p)) {
      this.stats.duplicate++;
      return -(header + 1);
    }
    this.stats.normal++;
    return header + PAGE_SIZE;
  }

  /**
   * Whether page p of the (stopped) source goes as a zero page: nothing behind it, or stored zeros
   * and no content token (a page the guest wrote zeros into keeps its token, so it goes whole).
   */
  private sourceZero(p: number): boolean {
    const sm = this.w.src.host.memory;
    const sf = this.priv?.owns(p) ? this.priv.srcFrame(p) : this.w.src.process.lookupIndex(this.srcIndex + p);
    if (sf < 0) return true;
    return sm.pageToken(sf) === 0 && sm.storedBytesZero(sf);
  }

  private sendPages(pages: number[], bytes: number, lane: 'main' | 'preempt', label: string): void {
    if (pages.length === 0) return;
    const batch = ++this.pc.batchSeq;
    this.pcInflight.set(batch, pages);
    this.td?.flushPostcopy(batch);
    this.put(bytes + EOS_BYTES, label, false, 'pc-ram', { batch }, lane);
  }

  /** The destination's fault thread: read the faults, ask the source for each page over the return path. */
  private faultThread(now: number): void {
    const pages = this.incoming.readFaults(now);
    if (this.priv?.faultPending) pages.push(...this.priv.readFaults(now));
    for (const p of pages) {
      this.w.dst.host.trace.emit('vmm', 'MIG_RP_MSG_REQ_PAGES', { page: p, gpa: hex(p * PAGE_SIZE), len: PAGE_SIZE, requests: this.incoming.counts.requests },
        `The destination's fault thread asks the source for page ${p} (GPA ${hex(p * PAGE_SIZE)}) over the return path: MIG_RP_MSG_REQ_PAGES, ${this.incoming.counts.requests} request(s) so far.`,
        { vm: this.dst, gfns: [p, 1] });
      this.w.link.send(REQ_PAGES_BYTES, `MIG_RP_MSG_REQ_PAGES page ${p}`, { kind: MIGRATION_TRANSFER, args: { id: this.id, final: false, what: 'req', page: p } }, 'return');
    }
  }

  /** A post-copy transfer arrived (at the destination, or at the source for the return path's). */
  private postcopyDelivered(what: string, args: Record<string, string | number | boolean>, now: number): void {
    const inc = this.incoming;
    const { src, dst } = this.w;
    switch (what) {
      case 'advise':
        return inc.advise(this.npages);
      case 'discard': {
        const map = this.pc.discardMap;
        // Pages that came during pre-copy and are not in the discard bitmap are the destination's for good.
        for (let p = 0; p < this.npages; p++) if (!(map[p >>> 5] & (1 << (p & 31)))) inc.precopied(p);
        inc.discard(this.npages, (p) => (map[p >>> 5] & (1 << (p & 31))) !== 0);
        this.priv?.discard(this.npages, (p) => (map[p >>> 5] & (1 << (p & 31))) !== 0);
        this.pc.discardMap = new Uint32Array(0);
        return;
      }
      case 'package': {
        inc.listen(this.npages, this.capabilities['postcopy-blocktime']);
        // A TD: TDH.IMPORT.STATE.TD/VP and the start token are in; TDH.IMPORT.COMMIT lets it run while the rest comes out of order.
        this.td?.commit(true);
        this.priv?.copyAttributes();
        this.priv?.listen(this.npages);
        loadVmState(dst, saveVmState(src));
        src.threads.forEach((t, i) => dst.threads[i].adopt(t));
        dst.startIncoming(this.src);
        this.pc.downtimeEndNs = now;
        inc.run(now);
        return;
      }
      case 'pc-ram': {
        const batch = Number(args.batch);
        const pages = this.pcInflight.get(batch);
        if (!pages) return;
        this.pcInflight.delete(batch);
        this.td?.importPostcopy(batch);
        const c = inc.counts;
        const [z0, f0] = [c.zero, c.placedFault];
        for (const p of pages) this.place(p, now);
        // One event for the batch: the pages placed with UFFDIO_COPY / UFFDIO_ZEROPAGE that nobody was waiting for.
        const zeros = c.zero - z0;
        const quiet = pages.length - (c.placedFault - f0);
        if (quiet > 0)
          dst.host.trace.emit('vmm', 'ram_load_postcopy', { pages: pages.length, zero: zeros, for_faults: c.placedFault - f0, received: inc.received },
            `${quiet} page(s) arrive in the background and are placed (UFFDIO_COPY, or UFFDIO_ZEROPAGE for the ${zeros} zero page(s)); ${this.npages - inc.received} page(s) are still missing here.`, { vm: this.dst });
        return;
      }
      case 'req': {
        // The return path thread (source_return_path_thread → ram_save_queue_pages): postcopy-requests + 1.
        this.pc.requests++;
        const p = Number(args.page);
        this.pc.queue.push(p);
        this.emit('ram_save_queue_pages', { page: p, 'postcopy-requests': this.pc.requests },
          `The source receives MIG_RP_MSG_REQ_PAGES for page ${p} (postcopy-requests ${this.pc.requests}): it sends that page before anything else${this.capabilities['postcopy-preempt'] ? ', on the preempt channel' : ', behind what is already queued on the stream'}.`);
        if (this.status === 'postcopy-active') this.nextAt = now;
        return;
      }
      case 'pc-end': {
        inc.end();
        this.priv?.end();
        if (this.td) this.td.endImport();
        inc.setStatus('completed', `The destination has all of the guest's memory: its incoming migration is completed.`);
        this.endNs = now;
        return this.end(now, 'completed', `The post-copy migration of "${this.src}" to "${this.dst}" completes: ${formatSize(this.stats.transferred)} sent; after the switch ${inc.describe()}; the guest was stopped for ${(((this.pc.downtimeEndNs || now) - this.downtimeStartNs) / 1e6).toFixed(1)} ms.`);
      }
      case 'recv-bitmap-cmd': {
        // MIG_CMD_RECV_BITMAP at the destination: it answers with its received bitmap (MIG_RP_MSG_RECV_BITMAP).
        inc.setStatus('postcopy-recover', 'The source has connected again: postcopy-recover. The destination sends its received bitmap back so the source knows what is missing here.');
        this.w.link.send(4 + 8 + Math.ceil(this.npages / 8) + 8, 'MIG_RP_MSG_RECV_BITMAP', { kind: MIGRATION_TRANSFER, args: { id: this.id, final: false, what: 'recv-bitmap' } }, 'return');
        return;
      }
      case 'recv-bitmap': {
        // ram_dirty_bitmap_reload(): every page the destination has not received is to send.
        let n = 0;
        for (let p = 0; p < this.npages; p++) {
          const missing = !inc.receivedAt(p);
          if (missing) {
            this.bmap[p >>> 5] |= 1 << (p & 31);
            n++;
          } else this.bmap[p >>> 5] &= ~(1 << (p & 31));
        }
        this.dirtyPages = n;
        this.pc.queue.length = 0;
        this.emit('ram_dirty_bitmap_reload', { missing: n },
          `The source reloads its bitmap from the destination's: ${n} page(s) have not arrived (the ones lost with the link included) and will be sent; none that arrived goes again.`);
        this.sendCmd(4, 'CMD_POSTCOPY_RESUME', 'resume');
        return;
      }
      case 'resume': {
        inc.setStatus('postcopy-active', 'CMD_POSTCOPY_RESUME: the destination is postcopy-active again and asks once more for every page a vCPU still waits for.');
        for (const p of inc.pendingRequests()) {
          inc.counts.reRequested++;
          this.w.link.send(REQ_PAGES_BYTES, `MIG_RP_MSG_REQ_PAGES page ${p} (again)`, { kind: MIGRATION_TRANSFER, args: { id: this.id, final: false, what: 'req', page: p } }, 'return');
        }
        this.w.link.send(4 + 4, 'MIG_RP_MSG_RESUME_ACK', { kind: MIGRATION_TRANSFER, args: { id: this.id, final: false, what: 'resume-ack' } }, 'return');
        return;
      }
      case 'resume-ack': {
        this.pc.bgNextAt = now;
        this.pc.endSent = false;
        this.setStatus('postcopy-active', `MIG_RP_MSG_RESUME_ACK: the post-copy goes on; ${this.dirtyPages} page(s) are still to send.`);
        this.nextAt = now;
        return;
      }
    }
  }

  /** Page p arrived at the destination: placed, and the vCPUs that waited for it run again. */
  private place(q: number, now: number): void {
    const zero = q < 0;
    const p = zero ? -q - 1 : q;
    if (this.priv?.owns(p)) {
      const w = this.priv.place(p, zero, now);
      for (let k = 0; k < w.length; k++) this.w.dst.threads[w[k]]?.unblock();
      return;
    }
    const frame = zero ? -1 : this.w.src.process.lookupIndex(this.srcIndex + p);
    const woken = this.incoming.place(p, this.w.src.host.memory, frame, zero, now);
    for (let k = 0; k < woken.length; k++) this.w.dst.threads[woken[k]]?.unblock();
  }

  /** The link failed before the destination ran the guest: the source's copy is whole, so it runs on. */
  private postcopyFailEarly(now: number): void {
    this.error = `link ${this.link} went down before the destination started the guest`;
    this.w.src.runState = 'paused';
    this.incoming.setStatus('failed', 'The stream broke before CMD_POSTCOPY_RUN: the destination never ran the guest, and drops what arrived.');
    this.end(now, 'failed', `The link ${this.link} broke before the destination got the device state: the guest never ran there, so the source's copy is still whole and the source runs it again.`);
  }

  /**
   * postcopy_pause() on both sides: the stream broke while the guest's memory is split between
   * the hosts, so neither can go on alone. Pages and requests in flight are lost; vCPUs that fault
   * stay blocked until a recovery.
   */
  private postcopyPause(): void {
    if (this.status === 'postcopy-paused') return;
    this.pcInflight.clear();
    this.td?.dropInflight();
    this.pc.queue.length = 0;
    this.nextAt = null;
    this.error = `Unable to write to socket: link ${this.link} is down`;
    this.setStatus('postcopy-paused', `The link ${this.link} broke during post-copy: postcopy-paused. The guest runs on "${this.dst}" but ${this.incoming.page.length - this.incoming.received} of its pages are only on "${this.src}": neither side can go on alone, so both wait for a recovery (migrate-recover on the destination, migrate with resume on the source).`);
    this.incoming.recoverListening = false;
    this.incoming.setStatus('postcopy-paused', `The destination pauses post-copy too: its vCPUs run, but a vCPU that touches a missing page stays blocked until the link is back.`);
  }

  /** migrate-recover on the destination (qmp_migrate_recover): it listens for the source again. */
  recover(): string | null {
    if (this.incoming.status !== 'postcopy-paused') return 'Migrate recover can only be run when postcopy is paused.';
    this.incoming.recoverListening = true;
    this.w.dst.host.trace.emit('vmm', 'migrate-recover', { status: this.incoming.status },
      `migrate-recover: the destination listens for the source to come back; it stays postcopy-paused until the source connects.`, { vm: this.dst });
    return null;
  }

  /** migrate with resume=true on the source (migrate_prepare → postcopy_do_resume). Returns QEMU's error, or null. */
  resume(): string | null {
    if (this.status !== 'postcopy-paused') return 'Cannot resume if there is no paused migration';
    this.setStatus('postcopy-recover-setup', `migrate with resume: the source tries to reach "${this.dst}" again (postcopy-recover-setup).`);
    if (this.w.link.state === 'down' || !this.incoming.recoverListening) {
      this.error = this.w.link.state === 'down' ? `Failed to connect: link ${this.link} is down` : `Failed to connect: Connection refused (run migrate-recover on "${this.dst}" first)`;
      this.setStatus('postcopy-paused', `The source cannot connect (${this.error}): it stays postcopy-paused.`);
      return null;
    }
    this.error = '';
    this.setStatus('postcopy-recover', 'postcopy-recover: the source asks the destination which pages it has (MIG_CMD_RECV_BITMAP).');
    this.sendCmd(4 + 1 + RAM_BLOCK_ID.length, 'MIG_CMD_RECV_BITMAP', 'recv-bitmap-cmd');
    return null;
  }

  // ---- commands -------------------------------------------------------------------------------

  /** migrate_cancel (migrate_fd_cancel): cancelling now, cancelled when the thread notices. */
  cancel(now: number): boolean {
    if (this.finished || this.status === 'cancelling' || this.inPostcopy) return false;
    this.setStatus('cancelling', 'migrate_cancel: QEMU asks the migration thread to stop.');
    this.nextAt = now;
    return true;
  }

  /** migrate-set-parameters while the migration runs: the next period and check use them. */
  setParameters(p: Partial<MigrationParameters>): void {
    Object.assign(this.parameters, p);
    // vcpu_dirty_rate_stat_collect() reads the period at each one; the quota applies at the next trigger.
    if (this.capabilities['dirty-limit']) this.w.src.dirtyLimit.periodMs = this.parameters['x-vcpu-dirty-limit-period'];
  }

  // ---- query-migrate --------------------------------------------------------------------------

  /** query-migrate (fill_source_migration_info, populate_time_info, populate_ram_info), at virtual time `now`. */
  info(now: number): MigrationInfo {
    const out: MigrationInfo = { status: this.status };
    if (this.error) out['error-desc'] = this.error;
    if (this.status === 'setup' || this.status === 'failed' || this.status === 'cancelled') return out;
    const st = this.stats;
    const ms = (ns: number) => Math.floor(ns / 1e6);
    const completed = this.status === 'completed';
    if (this.status === 'postcopy-paused' || this.status === 'postcopy-recover-setup') return out;
    out['setup-time'] = ms(this.setupNs);
    out['total-time'] = ms((completed ? this.endNs : now) - this.startNs);
    if (completed) out.downtime = ms((this.pc.downtimeEndNs || this.endNs) - this.downtimeStartNs);
    else out['expected-downtime'] = st.expectedDowntime;
    out.ram = {
      transferred: st.transferred,
      // Zero once completed (QEMU fills them only while not completed).
      remaining: completed ? 0 : this.dirtyPages * PAGE_SIZE,
      total: this.npages * PAGE_SIZE,
      duplicate: st.duplicate,
      normal: st.normal,
      'normal-bytes': st.normal * PAGE_SIZE,
      'dirty-pages-rate': completed ? 0 : st.dirtyPagesRate,
      mbps: Math.round(st.mbps * 1000) / 1000,
      'dirty-sync-count': st.dirtySyncCount,
      'precopy-bytes': st.precopyBytes,
      'downtime-bytes': st.downtimeBytes,
      'pages-per-second': Math.round(st.pagesPerSecond),
      'page-size': PAGE_SIZE,
      'postcopy-bytes': this.pc.bytes,
      'postcopy-requests': this.pc.requests,
    };
    // cpu_throttle_active(): only while the throttle is on.
    if (this.w.src.throttlePct > 0) out['cpu-throttle-percentage'] = this.w.src.throttlePct;
    const dl = this.w.src.dirtyLimit;
    if (this.capabilities['dirty-limit'] && dl.inService) {
      out['dirty-limit-throttle-time-per-round'] = dl.throttleTimePerRound();
      out['dirty-limit-ring-full-time'] = dl.ringFullTime();
    }
    return out;
  }

  /** For the report: query-migrate at the end, the rounds, and the setup. */
  summary(now: number): { vm: string; to: string; link: string; parameters: MigrationParameters; capabilities: string[]; info: MigrationInfo; rounds: MigrationRound[]; td_design?: TdDesign; postcopy?: PostcopySummary } {
    return {
      vm: this.src, to: this.dst, link: this.link, parameters: { ...this.parameters },
      capabilities: CAPABILITY_NAMES.filter((c) => this.capabilities[c]), info: this.info(now), rounds: this.rounds.map((r) => ({ ...r })),
      // A VM with private memory: the design it followed ('talk' and 'tdx-module' are not upstream).
      ...(this.tdDesign ? { td_design: this.tdDesign } : {}),
      ...(this.incoming.page.length ? { postcopy: this.postcopySummary(now) } : {}),
    };
  }

  /** The destination's post-copy side, for the report and the panel. */
  postcopySummary(now: number): PostcopySummary {
    const inc = this.incoming;
    return {
      destination: inc.info(this.capabilities['postcopy-blocktime'], now), phase: inc.phase, counts: { ...inc.counts },
      received: inc.received, npages: this.npages,
    };
  }

  /** Whether every page of the destination equals the source's (content token and stored bytes): what a completed migration proves. */
  mismatchedPages(): number[] {
    const { src, dst } = this.w;
    const out: number[] = [];
    for (let p = 0; p < this.npages; p++) if (!(this.td?.owns(p) ? this.td.samePage(p) : samePageOf(src, dst, p))) out.push(p);
    return out;
  }
}

/** Page p of the RAM block of two VMMs (on different hosts) holds the same content: token and bytes. */
export function samePageOf(a: VmmVm, b: VmmVm, p: number): boolean {
  const off = p * PAGE_SIZE;
  const fa = a.process.lookup(a.ram[0].hva - a.ram[0].gmemOffset + off);
  const fb = b.process.lookup(b.ram[0].hva - b.ram[0].gmemOffset + off);
  const ma = a.host.memory;
  const mb = b.host.memory;
  const blank = (m: typeof ma, f: number) => f < 0 || (m.pageToken(f) === 0 && m.storedBytesZero(f));
  if (fa < 0 || fb < 0) return blank(ma, fa) && blank(mb, fb);
  return ma.samePageAcross(fa, mb, fb);
}
