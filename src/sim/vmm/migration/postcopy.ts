/**
 * QEMU's post-copy, the destination's side (migration/postcopy-ram.c, migration/savevm.c
 * loadvm_postcopy_*, migration/migration.c migrate_send_rp_req_pages): the incoming VM runs before
 * its RAM has arrived, and each touch of a page still on the source is a fault that fetches it.
 *
 * - ADVISE (at the migration's start, when `postcopy-ram` is on): the destination checks that it
 *   can do post-copy (postcopy_ram_supported_by_host(): a userfaultfd, UFFDIO_API) and makes its
 *   received bitmap;
 * - DISCARD (after the source stopped): the pages the source still had dirty — never sent, or
 *   written after they were sent — are dropped from the destination's RAM (ram_discard_range):
 *   they are missing now, whatever the pre-copy put there;
 * - LISTEN: a userfaultfd (O_CLOEXEC | O_NONBLOCK), UFFDIO_API, and every RAM block registered in
 *   MISSING mode (postcopy_ram_incoming_setup → ram_block_enable_notify); the fault thread
 *   ("postcopy/fault") reads it;
 * - RUNNING: the packaged device state is loaded and the vCPUs run (loadvm_postcopy_handle_run);
 * - END: every page has arrived; the userfaultfd is closed and RAM is ordinary memory again.
 *
 * A vCPU that touches a missing page sleeps in handle_userfault(); the fault thread reads the
 * message and, unless the page has arrived since, asks the source over the return path
 * (MIG_RP_MSG_REQ_PAGES); the page comes back on the stream (or the preempt channel) and is placed
 * with UFFDIO_COPY, or UFFDIO_ZEROPAGE for a page of zeros, which wakes the vCPU.
 *
 * Blocktime and latency as QEMU 10.1 counts them (postcopy_blocktime_context), with the
 * `postcopy-blocktime` capability: a fault's time runs from the fault thread's read (the lab's fault
 * thread reads at the instant of the fault) to the page's placement; a vCPU's blocktime accrues
 * when its pending fault is resolved; the total accrues only while every vCPU is blocked.
 *
 * Plain data (typed arrays, numbers, arrays): it saves and restores with its migration thread.
 */
import { PostcopyFault } from '../../core/migration-page-state';
import { PAGED_CHUNK } from '../../core/paged-array';
import { PAGE_SIZE, formatSize, hex } from '../../core/units';
import { O_CLOEXEC, O_NONBLOCK, UFFDIO_REGISTER_MODE_MISSING, UFFD_API, UFFD_FEATURE_THREAD_ID } from '../../abi/userfaultfd';
import type { HostMemory } from '../../host/physmem';
import { Userfaultfd, type UffdMsg } from '../../host/userfaultfd';
import { vcpuTid } from '../../kvm/mmu';
import type { VmmVm } from '../vmm';

/** What a page of the destination is, as the post-copy page map shows it. */
export const PC_MISSING = 0;
/** Arrived during the pre-copy phase and not dirtied since: the destination keeps it. */
export const PC_PRECOPY = 1;
/** A vCPU faulted on it and the destination asked for it: in flight. */
export const PC_REQUESTED = 2;
/** Placed from the background stream (nobody was waiting). */
export const PC_BACKGROUND = 3;
/** Placed because a vCPU faulted on it (the request, or the background copy a vCPU waited for). */
export const PC_FAULT = 4;
/** Placed as a page of zeros (UFFDIO_ZEROPAGE). */
export const PC_ZERO = 5;
export const PC_STATE_NAMES = ['missing', 'pre-copied', 'requested', 'background', 'by fault', 'zero'] as const;

/** The destination's MigrationIncomingState status (query-migrate on the destination). */
export type IncomingStatus = 'none' | 'active' | 'postcopy-active' | 'postcopy-paused' | 'postcopy-recover' | 'completed' | 'failed';
/** PostcopyState on the destination (postcopy_state_set). */
export type PostcopyPhase = 'none' | 'advise' | 'discard' | 'listen' | 'running' | 'end';

/** How a fault was served (core/migration-page-state.ts PostcopyFault). */
export const FAULT_REQUESTED = PostcopyFault.REQUESTED;
export const FAULT_IN_FLIGHT = PostcopyFault.IN_FLIGHT;
export const FAULT_ARRIVED = PostcopyFault.ARRIVED;

const NO_VCPUS: number[] = [];

/** At most this many faults are kept for the timeline (the oldest go first); the counters keep all. */
export const FAULT_LOG_MAX = 8192;

/** QEMU's MIG_RP_MSG_REQ_PAGES: type (2) + length (2) + be64 start + be32 len; the first of a block also carries its id (1 + len). */
export const REQ_PAGES_BYTES = 4 + 8 + 4;

export interface PostcopyDestinationInfo {
  status: IncomingStatus;
  'postcopy-blocktime'?: number;
  'postcopy-vcpu-blocktime'?: number[];
  'postcopy-latency'?: number;
  'postcopy-vcpu-latency'?: number[];
}

/** A migration that switched to post-copy: the destination's side at the end. */
export interface PostcopySummary {
  /** query-migrate on the destination (blocktime and latency with the postcopy-blocktime capability). */
  destination: PostcopyDestinationInfo;
  /** The destination's phase (ADVISE, DISCARD, LISTEN, RUNNING, END as none/advise/.../end). */
  phase: string;
  /** What the destination counted: faults, requests sent, pages placed by a fault / in the background / as zero, pages discarded. */
  counts: Record<string, number>;
  /** Pages the destination has (its received bitmap's weight), of `npages`. */
  received: number;
  npages: number;
}

/** The destination's post-copy state and its fault thread's bookkeeping. */
export class PostcopyIncoming {
  static readonly stateSkip: readonly string[] = ['dst', 'baseIndex'];
  /** The RAM block's first page as a page index of the destination's process (a cache). */
  private baseIndex = -1;
  status: IncomingStatus = 'none';
  phase: PostcopyPhase = 'none';
  /** The userfaultfd the destination registered its RAM with (-1: none). */
  uffdFd = -1;
  /** Per page of the RAM block: PC_*. Empty until ADVISE. */
  page = new Uint8Array(0);
  /** Per PAGED_CHUNK pages, a count of changes to `page` (what the page map's viewer compares). */
  chunkVersion = new Uint32Array(0);
  /** When the guest started running here (CMD_POSTCOPY_RUN), ns; 0 before. */
  runNs = 0;
  /** Pages received (pre-copied and kept, or placed): the receivedmap's weight. */
  received = 0;
  /** `migrate-recover` was run while paused: the destination listens for the source again. */
  recoverListening = false;
  readonly counts = { faults: 0, requests: 0, wokenWithoutRequest: 0, placedBackground: 0, placedFault: 0, zero: 0, discarded: 0, reRequested: 0, duplicates: 0, differentOnArrival: 0 };
  /** Per vCPU: when it blocked on a page (-1: not blocked), the page, and its sums. */
  blockedSince: number[] = [];
  blockedPage: number[] = [];
  vcpuBlocktime: number[] = [];
  vcpuLatencySum: number[] = [];
  vcpuFaults: number[] = [];
  /** While every vCPU is blocked: since when (-1 otherwise); the total of such time. */
  allBlockedSince = -1;
  blocktime = 0;
  /** The fault log: vCPU, page, start, end (-1 while waiting), how it was served. */
  readonly log = { vcpu: [] as number[], page: [] as number[], start: [] as number[], end: [] as number[], how: [] as number[], dropped: 0 };

  constructor(private readonly dst: VmmVm) {}

  private emit(name: string, args: Record<string, string | number | boolean>, text: string): void {
    this.dst.host.trace.emit('vmm', name, args, text, { vm: this.dst.desc.name });
  }

  private get base(): number {
    return this.dst.ram[0].hva - this.dst.ram[0].gmemOffset;
  }

  get uffd(): Userfaultfd | undefined {
    return this.dst.process.uffds.find((u) => u.fd === this.uffdFd);
  }

  setStatus(s: IncomingStatus, text: string): void {
    const from = this.status;
    if (from === s) return;
    this.status = s;
    this.emit('migrate_set_state', { side: 'destination', from, to: s }, text);
  }

  /** CMD_POSTCOPY_ADVISE arrived: the received bitmap, one entry per page. */
  advise(npages: number): void {
    this.page = new Uint8Array(npages);
    this.chunkVersion = new Uint32Array(Math.ceil(npages / PAGED_CHUNK));
    this.phase = 'advise';
    const n = this.dst.nvcpus;
    this.blockedSince = new Array(n).fill(-1);
    this.blockedPage = new Array(n).fill(-1);
    this.vcpuBlocktime = new Array(n).fill(0);
    this.vcpuLatencySum = new Array(n).fill(0);
    this.vcpuFaults = new Array(n).fill(0);
    this.status = 'active';
    this.emit('loadvm_postcopy_handle_advise', { pages: npages, page_size: PAGE_SIZE },
      `The destination gets CMD_POSTCOPY_ADVISE: the source may switch to post-copy. It checks it can (postcopy_ram_supported_by_host(): userfaultfd works here, the page sizes match) and keeps a received bitmap for the ${npages} pages.`);
  }

  /** A pre-copy page arrived (ram_load_precopy sets its bit in the received bitmap). */
  precopied(p: number): void {
    if (this.page.length === 0) return;
    if (this.page[p] === PC_MISSING) this.received++;
    this.page[p] = PC_PRECOPY;
    this.chunkVersion[(p / PAGED_CHUNK) | 0]++;
  }

  /**
   * CMD_POSTCOPY_RAM_DISCARD: drop every page the source still has dirty (ram_discard_range →
   * madvise(MADV_DONTNEED)); its received bit is cleared. `dirty(p)` reads the source's bitmap.
   */
  discard(npages: number, dirty: (p: number) => boolean): { pages: number; ranges: number } {
    this.phase = 'discard';
    const proc = this.dst.process;
    const base = this.base;
    let pages = 0;
    let ranges = 0;
    for (let p = 0; p < npages; ) {
      if (!dirty(p)) {
        p++;
        continue;
      }
      let e = p;
      while (e < npages && dirty(e)) e++;
      ranges++;
      pages += e - p;
      proc.discard(base + p * PAGE_SIZE, (e - p) * PAGE_SIZE, 'postcopy discard');
      for (let q = p; q < e; q++) {
        if (this.page[q] !== PC_MISSING) this.received--;
        this.page[q] = PC_MISSING;
        this.chunkVersion[(q / PAGED_CHUNK) | 0]++;
      }
      p = e;
    }
    this.counts.discarded = pages;
    this.emit('loadvm_postcopy_ram_handle_discard', { pages, ranges },
      `CMD_POSTCOPY_RAM_DISCARD: the destination drops ${pages} page(s) in ${ranges} range(s) — pages the source had not sent yet or that the guest wrote after they were sent. Those pages are missing here now: a touch of one must fetch it.`);
    return { pages, ranges };
  }

  /** CMD_POSTCOPY_LISTEN: a userfaultfd over all of RAM, in MISSING mode; the fault thread starts. */
  listen(npages: number, blocktime: boolean): void {
    this.phase = 'listen';
    const u = this.dst.process.userfaultfd(O_CLOEXEC | O_NONBLOCK);
    u.api(UFFD_API, blocktime ? UFFD_FEATURE_THREAD_ID : 0);
    u.register(this.base, npages * PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING);
    this.uffdFd = u.fd;
    this.emit('loadvm_postcopy_handle_listen', { uffd: u.fd, pages: npages },
      `CMD_POSTCOPY_LISTEN: the destination's RAM is registered with userfaultfd ${u.fd}; its fault thread ("postcopy/fault") waits for messages, and a listen thread takes the rest of the stream.`);
  }

  /** CMD_POSTCOPY_RUN (inside the package): the guest runs here now. */
  run(now: number): void {
    this.phase = 'running';
    this.runNs = now;
    this.setStatus('postcopy-active', `The destination runs the guest (CMD_POSTCOPY_RUN) while ${this.page.length - this.received} of its ${this.page.length} pages are still on the source: postcopy-active.`);
  }

  /** Whether the fault thread has messages to read. */
  get faultPending(): boolean {
    // The status first: the scheduler asks at every step, and most of a migration is not post-copy.
    if (this.status !== 'postcopy-active') return false;
    const u = this.uffd;
    return u !== undefined && u.pending > 0;
  }

  /**
   * The fault thread (postcopy_ram_fault_thread): read the messages, and for each page not received
   * yet send MIG_RP_MSG_REQ_PAGES. Returns the pages to request (in order, one per message).
   */
  readFaults(now: number): number[] {
    const u = this.uffd;
    if (!u) return [];
    const out: number[] = [];
    let msgs: UffdMsg[];
    try {
      msgs = u.read(u.pending * 32);
    } catch {
      return out;
    }
    for (const m of msgs) {
      const p = (m.pagefault.address - this.base) / PAGE_SIZE;
      const v = this.vcpuOf(m.pagefault.feat.ptid);
      this.counts.faults++;
      if (v >= 0 && this.blockedSince[v] < 0) this.block(v, p, now);
      const st = this.page[p];
      if (st !== PC_MISSING && st !== PC_REQUESTED) {
        // Arrived in between: UFFDIO_COPY already woke the thread (this message was read late).
        this.counts.wokenWithoutRequest++;
        continue;
      }
      this.logFault(v, p, now, FAULT_REQUESTED);
      this.page[p] = PC_REQUESTED;
      this.chunkVersion[(p / PAGED_CHUNK) | 0]++;
      this.counts.requests++;
      out.push(p);
    }
    return out;
  }

  /**
   * A fault caught by one of the private-memory designs (the talk's backend fd, KVM Userfault) on
   * page p by vCPU v: the same bookkeeping as a userfaultfd message. Returns whether to request it.
   */
  noteFault(p: number, v: number, now: number): boolean {
    this.counts.faults++;
    if (v >= 0 && this.blockedSince[v] < 0) this.block(v, p, now);
    const st = this.page[p];
    if (st !== PC_MISSING && st !== PC_REQUESTED) {
      this.counts.wokenWithoutRequest++;
      return false;
    }
    this.logFault(v, p, now, FAULT_REQUESTED);
    this.page[p] = PC_REQUESTED;
    this.chunkVersion[(p / PAGED_CHUNK) | 0]++;
    this.counts.requests++;
    return true;
  }

  /** The vCPU index of a faulting thread id (UFFD_FEATURE_THREAD_ID), or -1 (no thread ids: blocktime needs them). */
  vcpuOf(tid: number): number {
    if (tid === 0) return -1;
    const v = tid - vcpuTid(this.dst.process.pid, 0);
    return v >= 0 && v < this.dst.nvcpus ? v : -1;
  }

  private block(v: number, p: number, now: number): void {
    this.blockedSince[v] = now;
    this.blockedPage[v] = p;
    if (this.allBlockedSince < 0 && this.blockedSince.every((t) => t >= 0)) this.allBlockedSince = now;
  }

  private logFault(v: number, p: number, now: number, how: number): void {
    const l = this.log;
    if (l.vcpu.length >= FAULT_LOG_MAX) {
      const k = FAULT_LOG_MAX / 2;
      l.vcpu.splice(0, k);
      l.page.splice(0, k);
      l.start.splice(0, k);
      l.end.splice(0, k);
      l.how.splice(0, k);
      l.dropped += k;
    }
    l.vcpu.push(v);
    l.page.push(p);
    l.start.push(now);
    l.end.push(-1);
    l.how.push(how);
  }

  /**
   * A page arrived (ram_load_postcopy → postcopy_place_page / _zero): UFFDIO_COPY from the
   * stream's bytes (the source's frame, with its content token) or UFFDIO_ZEROPAGE; the vCPUs
   * waiting for it wake. Returns the vCPU indexes woken.
   */
  place(p: number, src: HostMemory, frame: number, zero: boolean, now: number): number[] {
    const st = this.page[p];
    if (st !== PC_MISSING && st !== PC_REQUESTED) {
      // A second copy of a page already here (never expected: the source sends each page once).
      this.counts.duplicates++;
      return NO_VCPUS;
    }
    const u = this.uffd!;
    const proc = this.dst.process;
    if (this.baseIndex < 0) this.baseIndex = proc.pageIndex(this.base);
    const i = this.baseIndex + p;
    let tids: readonly number[] | null;
    if (st === PC_REQUESTED) {
      // A page a vCPU asked for: the ioctl and its event, one per page (the background's go per batch).
      const addr = this.base + p * PAGE_SIZE;
      const r = zero ? u.zeropage(addr, PAGE_SIZE) : u.copy(addr, { kind: 'frames', memory: src, frames: [frame] }, PAGE_SIZE);
      if (r.ret !== 0) throw new Error(`post-copy: placing page ${p} at ${hex(addr)} failed with ${r.errno} (${r.why})`);
      tids = r.woken;
    } else tids = u.placePage(i, zero, src, frame);
    if (tids === null) throw new Error(`post-copy: page ${p} is present at the destination before it arrived`);
    return this.placed(p, st, zero, tids, proc.lookupIndex(i), src, frame, now);
  }

  /**
   * A private page placed by one of the private-memory designs (the talk's backend fd, KVM
   * Userfault): the page is frame `df` of the destination now; `tids` the threads its install woke.
   */
  placedPrivate(p: number, zero: boolean, tids: readonly number[], df: number, src: HostMemory, frame: number, now: number): number[] {
    const st = this.page[p];
    if (st !== PC_MISSING && st !== PC_REQUESTED) {
      this.counts.duplicates++;
      return NO_VCPUS;
    }
    return this.placed(p, st, zero, tids, df, src, frame, now);
  }

  /** The bookkeeping of a placed page: the proof it is the source's, its state, the vCPUs it wakes, blocktime. */
  private placed(p: number, st: number, zero: boolean, tids: readonly number[], df: number, src: HostMemory, frame: number, now: number): number[] {
    // What arrived is the source's page, exactly (content token and bytes): the proof the lab keeps.
    const dm = this.dst.host.memory;
    const same = zero ? df < 0 || dm.pageToken(df) === 0 : dm.samePageAcross(df, src, frame);
    if (!same) this.counts.differentOnArrival++;
    let woken = NO_VCPUS;
    if (tids.length || st === PC_REQUESTED) {
      woken = [];
      for (const tid of tids) {
        const v = this.vcpuOf(tid);
        if (v >= 0) woken.push(v);
      }
      // Every vCPU waiting for this page (also those whose message was not read yet) wakes.
      for (let v = 0; v < this.blockedPage.length; v++) if (this.blockedPage[v] === p && !woken.includes(v)) woken.push(v);
    }
    const byFault = st === PC_REQUESTED || woken.length > 0;
    this.page[p] = zero ? PC_ZERO : byFault ? PC_FAULT : PC_BACKGROUND;
    this.chunkVersion[(p / PAGED_CHUNK) | 0]++;
    this.received++;
    if (byFault) this.counts.placedFault++;
    else this.counts.placedBackground++;
    if (zero) this.counts.zero++;
    if (!byFault) return woken;
    for (const v of woken) this.resolve(v, now);
    // The log's open faults on this page end now.
    const l = this.log;
    this.forOpenFaults(p, (k) => {
      l.end[k] = now;
    });
    return woken;
  }

  /**
   * The source found page p already sent when its request came (get_queued_page_not_dirty): the
   * faults waiting for it are served by the background copy on the link (for the timeline).
   */
  servedInFlight(p: number): void {
    const l = this.log;
    this.forOpenFaults(p, (k) => {
      l.how[k] = FAULT_IN_FLIGHT;
    });
  }

  /** The log's faults on page p still waiting (newest first, among the last 4096 logged). */
  private forOpenFaults(p: number, fn: (k: number) => void): void {
    const l = this.log;
    for (let k = l.page.length - 1; k >= 0 && k >= l.page.length - 4096; k--) if (l.page[k] === p && l.end[k] < 0) fn(k);
  }

  /** mark_postcopy_blocktime_end() for vCPU v: its wait ends now. */
  private resolve(v: number, now: number): void {
    const since = this.blockedSince[v];
    if (since < 0) return;
    if (this.allBlockedSince >= 0) {
      this.blocktime += now - this.allBlockedSince;
      this.allBlockedSince = -1;
    }
    this.vcpuBlocktime[v] += now - since;
    this.vcpuLatencySum[v] += now - since;
    this.vcpuFaults[v]++;
    this.blockedSince[v] = -1;
    this.blockedPage[v] = -1;
  }

  /** Whether page p is in the received bitmap (pre-copied and kept, or placed). */
  receivedAt(p: number): boolean {
    const st = this.page[p];
    return st !== PC_MISSING && st !== PC_REQUESTED;
  }

  /** Pages still wanted by a waiting vCPU (re-requested after a recovery: migrate_send_rp_req_pages_pending()). */
  pendingRequests(): number[] {
    const out: number[] = [];
    for (let p = 0; p < this.page.length; p++) if (this.page[p] === PC_REQUESTED) out.push(p);
    return out;
  }

  /** The guest's RAM is all here (postcopy_ram_incoming_cleanup): the userfaultfd goes, RAM is ordinary memory. */
  end(): void {
    const u = this.uffd;
    if (u) u.unregister(this.base, this.page.length * PAGE_SIZE);
    this.phase = 'end';
    this.uffdFd = -1;
    this.emit('postcopy_ram_incoming_cleanup', { pages: this.page.length, faults: this.counts.faults, requests: this.counts.requests },
      `Every page has arrived (${this.counts.placedFault} because a vCPU faulted on it, ${this.counts.placedBackground} in the background, ${this.counts.zero} as zero pages): the destination unregisters its RAM from the userfaultfd, and the guest's memory is ordinary memory again.`);
  }

  /** query-migrate on the destination (fill_destination_migration_info, fill_destination_postcopy_migration_info). */
  info(blocktimeCap: boolean, now: number): PostcopyDestinationInfo {
    const out: PostcopyDestinationInfo = { status: this.status };
    if (!blocktimeCap || this.page.length === 0) return out;
    const ms = (ns: number) => Math.floor(ns / 1e6);
    const open = this.allBlockedSince >= 0 ? now - this.allBlockedSince : 0;
    out['postcopy-blocktime'] = ms(this.blocktime + open);
    out['postcopy-vcpu-blocktime'] = this.vcpuBlocktime.map((b) => ms(b));
    const faults = this.vcpuFaults.reduce((a, b) => a + b, 0);
    out['postcopy-latency'] = faults ? Math.floor(this.vcpuLatencySum.reduce((a, b) => a + b, 0) / faults) : 0;
    out['postcopy-vcpu-latency'] = this.vcpuLatencySum.map((s, v) => (this.vcpuFaults[v] ? Math.floor(s / this.vcpuFaults[v]) : 0));
    return out;
  }

  /** A sentence for the trace: how the pages came. */
  describe(): string {
    const c = this.counts;
    return `${c.faults} fault(s), ${c.requests} request(s) (MIG_RP_MSG_REQ_PAGES), ${c.placedFault} page(s) placed for a waiting vCPU, ${c.placedBackground} in the background, ${c.zero} zero; ${formatSize(this.received * PAGE_SIZE)} received`;
  }
}
