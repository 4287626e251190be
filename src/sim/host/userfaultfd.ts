import { Errno, fail, type ErrnoName } from '../core/errno';
import { PAGE_SIZE, hex } from '../core/units';
import {
  O_NONBLOCK, UFFDIO_CONTINUE_MODE_DONTWAKE, UFFDIO_CONTINUE_MODE_WP, UFFDIO_COPY_MODE_DONTWAKE, UFFDIO_COPY_MODE_WP,
  UFFDIO_REGISTER_MODE_MINOR, UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_WP, UFFDIO_ZEROPAGE_MODE_DONTWAKE,
  UFFD_API, UFFD_API_FEATURES, UFFD_API_IOCTLS, UFFD_API_RANGE_IOCTLS, UFFD_API_REGISTER_MODES, UFFD_EVENT_PAGEFAULT,
  UFFD_FEATURE_THREAD_ID, UFFD_MSG_SIZE, _UFFDIO_CONTINUE, _UFFDIO_WRITEPROTECT,
} from '../abi/userfaultfd';
import { MMAP_BASE, TASK_SIZE } from './address-space';
import { FrameOwner, type HostMemory } from './physmem';
import type { Process, UffdRange } from './process';

/** struct uffd_msg for UFFD_EVENT_PAGEFAULT (the only event the lab produces: it has no fork, mremap or madvise events). */
export interface UffdMsg {
  event: typeof UFFD_EVENT_PAGEFAULT;
  pagefault: {
    /** UFFD_PAGEFAULT_FLAG_WRITE | _WP | _MINOR */
    flags: number;
    /** The faulting address: page aligned unless UFFD_FEATURE_EXACT_ADDRESS (the lab faults whole pages, so always the page). */
    address: number;
    /** feat.ptid: the faulting thread's id with UFFD_FEATURE_THREAD_ID, else 0. */
    feat: { ptid: number };
  };
}

/** Where UFFDIO_COPY takes the bytes from (uffdio_copy.src). */
export type UffdCopySource =
  /** An address in this process (what the syscall takes): its pages are read (and faulted in) as the kernel's copy_from_user would. */
  | { kind: 'hva'; hva: number }
  /** Bytes in a buffer of the caller (a page received from the network, before it is named by an address). */
  | { kind: 'bytes'; bytes: Uint8Array }
  /**
   * Frames of a host's memory, one per page of the range: a page the migration stream carries, with
   * its content token, so that the destination can be proved to hold the very page (copyPageFrom).
   */
  | { kind: 'frames'; memory: HostMemory; frames: ArrayLike<number> };

/**
 * What UFFDIO_COPY / ZEROPAGE / CONTINUE did. `done` is what the kernel writes back into
 * uffdio_copy.copy (uffdio_zeropage.zeropage, uffdio_continue.mapped): bytes installed, or -errno
 * when the first page already failed. `ret` is the ioctl's return: 0 when the whole range was done,
 * else -1 with `errno` (EEXIST, ENOENT...; EAGAIN when only part was done).
 */
export interface UffdFillResult {
  ret: 0 | -1;
  errno?: ErrnoName;
  why?: string;
  done: number;
  /** Threads woken (none with *_MODE_DONTWAKE). */
  woken: number[];
}

/**
 * Thrown by Process.fault()/faultIndex() when the page is handed to a userfaultfd: the faulting
 * thread `tid` sleeps in handle_userfault() until user space installs the page and wakes it
 * (UFFDIO_COPY, ZEROPAGE, CONTINUE or WAKE). Not a SysError: the fault did not fail, it waits.
 * Callers either let it reach the thread's owner (a vCPU thread blocks) or catch it.
 */
export class UserfaultBlocked extends Error {
  constructor(
    readonly fd: number,
    readonly tid: number,
    /** The page's address. */
    readonly address: number,
    readonly flags: number,
    /** Whether a new message was queued (false: this thread already waits for this page). */
    readonly queued: boolean,
  ) {
    super(`thread ${tid} waits on userfaultfd ${fd} for the page at ${hex(address)}`);
    this.name = 'UserfaultBlocked';
  }
}

const MSG_FLAG_NAMES = ['WRITE', 'WP', 'MINOR'];
const NONE: readonly number[] = Object.freeze([]);
const flagNames = (f: number): string => MSG_FLAG_NAMES.filter((_, b) => f & (1 << b)).map((n) => `UFFD_PAGEFAULT_FLAG_${n}`).join('|') || '0';
const modeNames = (m: number): string => ['MISSING', 'WP', 'MINOR'].filter((_, b) => m & (1 << b)).map((n) => `UFFDIO_REGISTER_MODE_${n}`).join('|');

/**
 * A userfaultfd (fs/userfaultfd.c, mm/userfaultfd.c): a process's page faults in registered ranges
 * become messages that user space reads and resolves by installing pages. QEMU's post-copy registers
 * the destination's RAM in MISSING mode; its fault thread reads the messages and asks the source for
 * the pages; UFFDIO_COPY installs each page atomically and wakes the vCPUs that wait for it.
 *
 * Waiting threads are kept as Linux keeps them: one wait-queue entry per sleeping thread
 * (handle_userfault() queues one per fault), oldest first, each read once. Two threads touching the
 * same page are two messages; a thread already waiting for a page is not queued twice.
 */
export class Userfaultfd {
  /** UFFD_STATE_WAIT_API until UFFDIO_API succeeds; every other ioctl and read() is EINVAL before. */
  state: 'wait_api' | 'running' = 'wait_api';
  /** The features user space asked for in UFFDIO_API (ctx->features). */
  features = 0;
  // The wait queue (fault_pending_wqh, then fault_wqh once read): parallel arrays, oldest first.
  readonly waitTid: number[] = [];
  readonly waitPage: number[] = [];
  readonly waitFlags: number[] = [];
  /** 1 once read() returned its message (the entry moved to fault_wqh). */
  readonly waitRead: number[] = [];
  readonly stats = { faults: 0, messagesRead: 0, copied: 0, zeroed: 0, continued: 0, woken: 0 };

  constructor(readonly process: Process, readonly fd: number, readonly flags: number) {}

  private get trace() {
    return this.process.host.trace;
  }

  private running(op: string): void {
    if (this.state !== 'running') fail('EINVAL', `${op} on userfaultfd ${this.fd} before UFFDIO_API: the API must be negotiated first`);
  }

  /** UFFDIO_API {api, features}: returns what the kernel writes back (every feature and ioctl it has). */
  api(api: number, features: number): { api: number; features: number; ioctls: bigint } {
    if (this.state !== 'wait_api') fail('EINVAL', `UFFDIO_API on userfaultfd ${this.fd} again: the API is negotiated once`);
    if (api !== UFFD_API) fail('EINVAL', `uffdio_api.api ${hex(api)} is not UFFD_API (0xaa)`);
    if (!Number.isInteger(features) || features < 0 || features & ~UFFD_API_FEATURES)
      fail('EINVAL', `uffdio_api.features ${hex(features)} has bits this kernel does not know (UFFD_API_FEATURES is ${hex(UFFD_API_FEATURES)})`);
    this.state = 'running';
    this.features = features;
    this.trace.emit('host', 'UFFDIO_API', { fd: this.fd, api: hex(api), features: hex(features), available: hex(UFFD_API_FEATURES) },
      `userfaultfd ${this.fd} speaks API 0xaa with features ${hex(features)}${features & UFFD_FEATURE_THREAD_ID ? ' (messages will carry the faulting thread\'s id)' : ''}; the kernel reports all it has (${hex(UFFD_API_FEATURES)}).`);
    return { api: UFFD_API, features: UFFD_API_FEATURES, ioctls: UFFD_API_IOCTLS };
  }

  /** validate_range(): start and len page aligned, len non-zero, inside the address space. Returns page indexes [first, end). */
  private range(start: number, len: number, what: string): [number, number] {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(len) || start < 0 || len < 0) fail('EINVAL', `${what}: start and len must be unsigned integers`);
    if (start % PAGE_SIZE || len % PAGE_SIZE) fail('EINVAL', `${what}: start ${hex(start)} and len ${hex(len)} must be page aligned`);
    if (len === 0) fail('EINVAL', `${what}: len is 0`);
    if (start >= TASK_SIZE || len > TASK_SIZE - start) fail('EINVAL', `${what}: [${hex(start)}, ${hex(start + len)}) goes beyond the user address space`);
    // Below the mmap area the lab maps nothing: such a range has no VMA (see register/unregister).
    const lo = Math.max(start, MMAP_BASE);
    return [(lo - MMAP_BASE) / PAGE_SIZE, Math.max(0, start + len - MMAP_BASE) / PAGE_SIZE];
  }

  /** The parts of [first, end) covered by VMAs, with their kind. */
  private vmaParts(first: number, end: number): { start: number; end: number; shmem: boolean }[] {
    const base = MMAP_BASE;
    const out: { start: number; end: number; shmem: boolean }[] = [];
    for (const v of this.process.vmas) {
      const s = Math.max(first, (v.start - base) / PAGE_SIZE);
      const e = Math.min(end, (v.end - base) / PAGE_SIZE);
      if (s < e) out.push({ start: s, end: e, shmem: v.kind === 'shmem' });
    }
    return out.sort((a, b) => a.start - b.start);
  }

  /**
   * UFFDIO_REGISTER {range, mode}: returns uffdio_register.ioctls. The VMAs in the range must all
   * support the mode (vma_can_userfault(): MINOR only on shmem/hugetlbfs; MISSING and WP on
   * anonymous and shmem memory); at least one VMA must be in the range (ENOMEM otherwise); a VMA
   * registered with another userfaultfd is EBUSY. Registering again replaces the mode.
   */
  register(start: number, len: number, mode: number): number {
    this.running('UFFDIO_REGISTER');
    if (!Number.isInteger(mode) || mode <= 0) fail('EINVAL', `uffdio_register.mode ${mode}: at least one of MISSING, WP, MINOR is needed`);
    if (mode & ~UFFD_API_REGISTER_MODES) fail('EINVAL', `uffdio_register.mode ${hex(mode)} has unknown bits`);
    const [first, end] = this.range(start, len, 'UFFDIO_REGISTER');
    const parts = this.vmaParts(first, end);
    if (parts.length === 0)
      fail('ENOMEM', `no VMA of ${this.process.name} lies in [${hex(start)}, ${hex(start + len)}): there is no mapping to register (private guest_memfd memory is never mapped, so it cannot be registered)`);
    for (const p of parts) {
      if (mode & UFFDIO_REGISTER_MODE_MINOR && !p.shmem)
        fail('EINVAL', `UFFDIO_REGISTER_MODE_MINOR needs shared memory (shmem or hugetlbfs): the VMA at ${hex(this.addr(p.start))} is anonymous (vma_can_userfault())`);
      for (const r of this.process.uffdRanges)
        if (r.fd !== this.fd && r.start < p.end && p.start < r.end)
          fail('EBUSY', `[${hex(this.addr(Math.max(r.start, p.start)))}, …) is already registered with userfaultfd ${r.fd}: a VMA has one userfaultfd`);
    }
    for (const p of parts) this.setRanges(p.start, p.end, mode);
    let ioctls = UFFD_API_RANGE_IOCTLS;
    if (!(mode & UFFDIO_REGISTER_MODE_WP)) ioctls -= 1 << _UFFDIO_WRITEPROTECT;
    if (!(mode & UFFDIO_REGISTER_MODE_MINOR)) ioctls -= 1 << _UFFDIO_CONTINUE;
    const pages = parts.reduce((n, p) => n + p.end - p.start, 0);
    this.trace.emit('host', 'UFFDIO_REGISTER', { fd: this.fd, start: hex(start), len: hex(len), mode: modeNames(mode), pages, ioctls: hex(ioctls) },
      `${pages} page(s) of ${this.process.name} from ${hex(start)} are registered with userfaultfd ${this.fd} (${modeNames(mode)}): ` +
        (mode & UFFDIO_REGISTER_MODE_MISSING ? 'a touch of a page that is not there now waits for user space to supply it instead of getting a zero page.' : 'faults of that kind now go to user space.'));
    return ioctls;
  }

  /** Replace this fd's registration of [s, e) by `mode` (0 removes it). */
  private setRanges(s: number, e: number, mode: number): void {
    const rs = this.process.uffdRanges;
    const out: UffdRange[] = [];
    for (const r of rs) {
      if (r.fd !== this.fd || r.end <= s || r.start >= e) {
        out.push(r);
        continue;
      }
      if (r.start < s) out.push({ ...r, end: s });
      if (r.end > e) out.push({ ...r, start: e });
    }
    if (mode) out.push({ start: s, end: e, mode, fd: this.fd });
    out.sort((a, b) => a.start - b.start);
    // Merge neighbours with the same fd and mode, as vma_merge() would.
    rs.length = 0;
    for (const r of out) {
      const prev = rs[rs.length - 1];
      if (prev && prev.fd === r.fd && prev.mode === r.mode && prev.end === r.start) prev.end = r.end;
      else rs.push(r);
    }
  }

  /** UFFDIO_UNREGISTER {start, len}: the range's threads still waiting for a missing page are woken (they fault again, unregistered). */
  unregister(start: number, len: number): number[] {
    this.running('UFFDIO_UNREGISTER');
    const [first, end] = this.range(start, len, 'UFFDIO_UNREGISTER');
    const parts = this.vmaParts(first, end);
    if (parts.length === 0) fail('ENOMEM', `no VMA of ${this.process.name} lies in [${hex(start)}, ${hex(start + len)})`);
    for (const p of parts) this.setRanges(p.start, p.end, 0);
    const woken = this.wakeRange(first, end);
    this.trace.emit('host', 'UFFDIO_UNREGISTER', { fd: this.fd, start: hex(start), len: hex(len), woken: woken.length },
      `[${hex(start)}, ${hex(start + len)}) is no longer registered with userfaultfd ${this.fd}${woken.length ? `; ${woken.length} waiting thread(s) are woken and fault again` : ''}.`);
    return woken;
  }

  /**
   * handle_userfault(): thread `tid` faulted on page index `i`. Queues its message unless this
   * thread already waits for this page (it is asleep: only the lab's re-entry can ask twice).
   * Returns whether a message was queued.
   */
  queueFault(i: number, flags: number, tid: number): boolean {
    for (let k = 0; k < this.waitTid.length; k++) if (this.waitTid[k] === tid && this.waitPage[k] === i) return false;
    this.waitTid.push(tid);
    this.waitPage.push(i);
    this.waitFlags.push(flags);
    this.waitRead.push(0);
    this.stats.faults++;
    const address = this.addr(i);
    this.trace.emit('host', 'UFFD_EVENT_PAGEFAULT', { fd: this.fd, address: hex(address), flags: flagNames(flags), ptid: tid },
      `Thread ${tid} of ${this.process.name} touches ${hex(address)}, which is registered with userfaultfd ${this.fd} and not present: instead of backing it, the kernel queues a UFFD_EVENT_PAGEFAULT message and the thread sleeps.`);
    return true;
  }

  private addr(i: number): number {
    return MMAP_BASE + i * PAGE_SIZE;
  }

  /** Messages not yet read. */
  get pending(): number {
    let n = 0;
    for (const r of this.waitRead) if (!r) n++;
    return n;
  }

  /** Threads asleep on this userfaultfd (read or not). */
  get waiting(): number {
    return this.waitTid.length;
  }

  /** Whether thread tid is asleep on this userfaultfd. */
  isWaiting(tid: number): boolean {
    return this.waitTid.includes(tid);
  }

  /**
   * read(fd, buf, count): up to count / sizeof(struct uffd_msg) messages, oldest first. With none
   * pending, an O_NONBLOCK fd gets EAGAIN; a blocking one would sleep: the lab returns [] (the
   * reader waits for the next fault).
   */
  read(count: number = UFFD_MSG_SIZE): UffdMsg[] {
    this.running('read()');
    if (count < UFFD_MSG_SIZE) fail('EINVAL', `read() of ${count} bytes: a uffd_msg is ${UFFD_MSG_SIZE} bytes`);
    const max = Math.floor(count / UFFD_MSG_SIZE);
    const out: UffdMsg[] = [];
    for (let k = 0; k < this.waitTid.length && out.length < max; k++) {
      if (this.waitRead[k]) continue;
      this.waitRead[k] = 1;
      out.push({
        event: UFFD_EVENT_PAGEFAULT,
        pagefault: { flags: this.waitFlags[k], address: this.addr(this.waitPage[k]), feat: { ptid: this.features & UFFD_FEATURE_THREAD_ID ? this.waitTid[k] : 0 } },
      });
    }
    if (out.length === 0 && this.flags & O_NONBLOCK) fail('EAGAIN', `no fault is pending on userfaultfd ${this.fd}`);
    this.stats.messagesRead += out.length;
    if (out.length)
      this.trace.emit('host', 'read(userfaultfd)', { fd: this.fd, messages: out.length, addresses: out.map((m) => hex(m.pagefault.address)) },
        `The fault thread reads ${out.length} uffd_msg${out.length === 1 ? '' : 's'} from userfaultfd ${this.fd}: UFFD_EVENT_PAGEFAULT at ${out.map((m) => hex(m.pagefault.address)).join(', ')}${this.features & UFFD_FEATURE_THREAD_ID ? ` (threads ${out.map((m) => m.pagefault.feat.ptid).join(', ')})` : ''}.`);
    return out;
  }

  /** Wake every thread waiting for a page in [first, end); returns their ids. */
  private wakeRange(first: number, end: number): number[] {
    const woken: number[] = [];
    for (let k = 0; k < this.waitTid.length; ) {
      if (this.waitPage[k] >= first && this.waitPage[k] < end) {
        woken.push(this.waitTid[k]);
        this.waitTid.splice(k, 1);
        this.waitPage.splice(k, 1);
        this.waitFlags.splice(k, 1);
        this.waitRead.splice(k, 1);
      } else k++;
    }
    this.stats.woken += woken.length;
    return woken;
  }

  /** UFFDIO_WAKE {start, len}: wake the threads waiting in the range (after *_MODE_DONTWAKE). Returns their ids. */
  wake(start: number, len: number): number[] {
    this.running('UFFDIO_WAKE');
    const [first, end] = this.range(start, len, 'UFFDIO_WAKE');
    const woken = this.wakeRange(first, end);
    this.trace.emit('host', 'UFFDIO_WAKE', { fd: this.fd, start: hex(start), len: hex(len), woken },
      woken.length ? `userfaultfd ${this.fd} wakes thread(s) ${woken.join(', ')} waiting in [${hex(start)}, ${hex(start + len)}); a thread whose page is still missing faults again.`
        : `UFFDIO_WAKE on [${hex(start)}, ${hex(start + len)}) finds no thread waiting.`);
    return woken;
  }

  /**
   * The registration that covers all of [first, end) for this fd (mfill_atomic()'s find_dst_vma():
   * ENOENT when the range is not inside one VMA registered with this userfaultfd).
   */
  private dstRange(first: number, end: number, what: string): UffdRange {
    for (const r of this.process.uffdRanges)
      if (r.fd === this.fd && first >= r.start && end <= r.end) {
        const v = this.process.vmaAtIndex(first);
        if (v && (v.end - MMAP_BASE) / PAGE_SIZE >= end) return r;
      }
    fail('ENOENT', `${what}: [${hex(this.addr(first))}, ${hex(this.addr(end))}) is not inside one VMA registered with userfaultfd ${this.fd}`);
  }

  /** The common part of COPY/ZEROPAGE/CONTINUE: install page by page, stop at the first failure, wake unless DONTWAKE. */
  private fill(first: number, end: number, dontwake: boolean, name: string, one: (i: number, k: number) => ErrnoName | null): UffdFillResult {
    let done = 0;
    let errno: ErrnoName | undefined;
    let failedAt = -1;
    for (let i = first; i < end; i++) {
      const e = one(i, i - first);
      if (e) {
        errno = e;
        failedAt = i;
        break;
      }
      done++;
    }
    const woken = done > 0 && !dontwake ? this.wakeRange(first, first + done) : [];
    const bytes = done * PAGE_SIZE;
    const why = errno === 'EEXIST' ? `the page at ${hex(this.addr(failedAt))} is already present: ${name} installs a page only where none is`
      : errno === 'EFAULT' ? `the page at ${hex(this.addr(failedAt))} is not in the file's page cache: UFFDIO_CONTINUE maps an existing page, it does not make one`
      : errno === 'ENOMEM' ? 'host memory is exhausted' : undefined;
    const r: UffdFillResult = errno === undefined ? { ret: 0, done: bytes, woken }
      : done > 0 ? { ret: -1, errno: 'EAGAIN', why: `only ${done} of ${end - first} page(s) were installed (${why})`, done: bytes, woken }
        : { ret: -1, errno, why, done: -errnoValue(errno), woken };
    this.trace.emit('host', name, { fd: this.fd, start: hex(this.addr(first)), len: hex((end - first) * PAGE_SIZE), done: r.done, woken, errno: r.errno ?? null },
      r.ret === 0 ? `${name} installs ${done} page(s) at ${hex(this.addr(first))} atomically${woken.length ? ` and wakes thread(s) ${woken.join(', ')}` : dontwake ? ' (DONTWAKE: the waiting threads sleep on until UFFDIO_WAKE)' : ''}.`
        : `${name} at ${hex(this.addr(first))} fails with ${r.errno}: ${r.why}.`);
    return r;
  }

  /** A fresh frame at page index i, or null when the host is out of memory. */
  private newFrame(): number {
    return this.process.host.memory.alloc(FrameOwner.ProcessAnon, this.process.pid);
  }

  /**
   * UFFDIO_COPY {dst, src, len, mode}: copy the source into fresh pages at dst and map them, page by
   * page; a page already present is EEXIST (the range stops there). Wakes the threads waiting in the
   * installed part unless UFFDIO_COPY_MODE_DONTWAKE. The bytes and their content token go together.
   */
  copy(dst: number, src: UffdCopySource, len: number, mode = 0): UffdFillResult {
    this.running('UFFDIO_COPY');
    if (mode & ~(UFFDIO_COPY_MODE_DONTWAKE | UFFDIO_COPY_MODE_WP)) fail('EINVAL', `uffdio_copy.mode ${hex(mode)} has unknown bits`);
    const [first, end] = this.range(dst, len, 'UFFDIO_COPY');
    if (src.kind === 'frames' && src.frames.length < end - first) fail('EFAULT', `the source has ${src.frames.length} page(s) for ${end - first}`);
    if (src.kind === 'bytes' && src.bytes.length < len) fail('EFAULT', `the source has ${src.bytes.length} bytes for ${len}`);
    const reg = this.dstRange(first, end, 'UFFDIO_COPY');
    if (mode & UFFDIO_COPY_MODE_WP && !(reg.mode & UFFDIO_REGISTER_MODE_WP)) fail('EINVAL', 'UFFDIO_COPY_MODE_WP needs a range registered in WP mode');
    const memory = this.process.host.memory;
    const shmem = this.process.vmaAtIndex(first)?.kind === 'shmem';
    return this.fill(first, end, (mode & UFFDIO_COPY_MODE_DONTWAKE) !== 0, 'UFFDIO_COPY', (i, k) => {
      if (this.process.lookupIndex(i) >= 0 || (shmem && this.process.shmemFrame(i) >= 0)) return 'EEXIST';
      const f = this.newFrame();
      if (f < 0) return 'ENOMEM';
      if (src.kind === 'frames') memory.copyPageFrom(src.memory, src.frames[k], f);
      else if (src.kind === 'bytes') memory.copyInto(f, src.bytes.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE));
      else memory.copyInto(f, this.process.read(src.hva + k * PAGE_SIZE, PAGE_SIZE));
      this.process.installIndex(i, f, shmem);
      this.stats.copied++;
      return null;
    });
  }

  /**
   * UFFDIO_COPY (or, `zero`, UFFDIO_ZEROPAGE) of one page at page index i, as a post-copy
   * destination places the pages of a background batch: the same semantics as copy() and
   * zeropage() for one registered page (EEXIST when present), without their per-call trace event
   * (the caller records one event for the batch). Returns the threads woken, or null for EEXIST.
   */
  placePage(i: number, zero: boolean, memory: HostMemory, frame: number): readonly number[] | null {
    if (this.process.lookupIndex(i) >= 0) return null;
    const f = this.newFrame();
    if (f < 0) fail('ENOMEM', 'host memory is exhausted');
    const m = this.process.host.memory;
    if (zero) {
      m.zero(f);
      this.stats.zeroed++;
    } else {
      m.copyPageFrom(memory, frame, f);
      this.stats.copied++;
    }
    this.process.installIndex(i, f, false);
    if (this.waitTid.length === 0) return NONE;
    return this.wakeRange(i, i + 1);
  }

  /**
   * UFFDIO_ZEROPAGE {range, mode}: map zeroed pages. (Linux maps the shared zero page for anonymous
   * memory and copies on the next write; the lab gives each page a frame of zeros at once.)
   */
  zeropage(start: number, len: number, mode = 0): UffdFillResult {
    this.running('UFFDIO_ZEROPAGE');
    if (mode & ~UFFDIO_ZEROPAGE_MODE_DONTWAKE) fail('EINVAL', `uffdio_zeropage.mode ${hex(mode)} has unknown bits`);
    const [first, end] = this.range(start, len, 'UFFDIO_ZEROPAGE');
    this.dstRange(first, end, 'UFFDIO_ZEROPAGE');
    const shmem = this.process.vmaAtIndex(first)?.kind === 'shmem';
    return this.fill(first, end, (mode & UFFDIO_ZEROPAGE_MODE_DONTWAKE) !== 0, 'UFFDIO_ZEROPAGE', (i) => {
      if (this.process.lookupIndex(i) >= 0 || (shmem && this.process.shmemFrame(i) >= 0)) return 'EEXIST';
      const f = this.newFrame();
      if (f < 0) return 'ENOMEM';
      this.process.host.memory.zero(f);
      this.process.installIndex(i, f, shmem);
      this.stats.zeroed++;
      return null;
    });
  }

  /**
   * UFFDIO_CONTINUE {range, mode}: map pages that are already in the shmem file's page cache (a
   * MINOR fault: the contents are there, only the mapping is missing). Needs a range registered in
   * MINOR mode; a page not in the cache is EFAULT, one already mapped EEXIST.
   */
  continue(start: number, len: number, mode = 0): UffdFillResult {
    this.running('UFFDIO_CONTINUE');
    if (mode & ~(UFFDIO_CONTINUE_MODE_DONTWAKE | UFFDIO_CONTINUE_MODE_WP)) fail('EINVAL', `uffdio_continue.mode ${hex(mode)} has unknown bits`);
    const [first, end] = this.range(start, len, 'UFFDIO_CONTINUE');
    const reg = this.dstRange(first, end, 'UFFDIO_CONTINUE');
    if (this.process.vmaAtIndex(first)?.kind !== 'shmem')
      fail('EINVAL', `UFFDIO_CONTINUE at ${hex(start)}: the VMA is anonymous memory, which has no page cache to map from`);
    if (!(reg.mode & UFFDIO_REGISTER_MODE_MINOR)) fail('EINVAL', `UFFDIO_CONTINUE at ${hex(start)}: the range is not registered in MINOR mode`);
    return this.fill(first, end, (mode & UFFDIO_CONTINUE_MODE_DONTWAKE) !== 0, 'UFFDIO_CONTINUE', (i) => {
      if (this.process.lookupIndex(i) >= 0) return 'EEXIST';
      const f = this.process.shmemFrame(i);
      if (f < 0) return 'EFAULT';
      this.process.installIndex(i, f, false);
      this.stats.continued++;
      return null;
    });
  }
}

function errnoValue(e: ErrnoName): number {
  return Errno[e];
}
