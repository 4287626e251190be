import { fail } from '../core/errno';
import { Cost, type Clock } from '../core/clock';
import { PagedU32 } from '../core/paged-array';
import { PAGE_SIZE, formatSize, hex, isPageAligned, pageAlignUp } from '../core/units';
import type { TraceSink } from '../core/trace';
import { FrameOwner, type HostMemory } from './physmem';
import { O_CLOEXEC, O_NONBLOCK, UFFDIO_REGISTER_MODE_MINOR, UFFDIO_REGISTER_MODE_MISSING, UFFD_FEATURE_SIGBUS, UFFD_PAGEFAULT_FLAG_MINOR, UFFD_PAGEFAULT_FLAG_WRITE, UFFD_USER_MODE_ONLY } from '../abi/userfaultfd';
import { UserfaultBlocked, Userfaultfd } from './userfaultfd';
import { MMAP_BASE, TASK_SIZE } from './address-space';

/** What a process uses of its host (host.ts's Host has these), so process.ts need not import host.ts. */
export interface ProcessHost {
  readonly memory: HostMemory;
  readonly clock: Clock;
  readonly trace: TraceSink;
}

/** One mapping of a process's address space (a line of /proc/PID/maps). */
export interface Vma {
  start: number;
  end: number;
  prot: 'rw-' | 'r--' | 'r-x';
  /** What backs it: anonymous memory, or a file name. */
  name: string;
  /**
   * anonymous (MAP_PRIVATE|MAP_ANONYMOUS) by default; 'shmem' is MAP_SHARED memory of a memfd or
   * tmpfs file, whose pages live in a page cache apart from the page table (so a page can be in the
   * file but not mapped: what a userfaultfd MINOR fault is about).
   */
  kind?: 'anon' | 'shmem';
}

/** A userfaultfd registration (the VM_UFFD_* flags and vm_userfaultfd_ctx of the VMAs it covers), by page index. */
export interface UffdRange {
  /** First page index (Process.pageIndex) and one past the last. */
  start: number;
  end: number;
  /** UFFDIO_REGISTER_MODE_* bits. */
  mode: number;
  /** The userfaultfd's fd. */
  fd: number;
}


/** Host page-table entry bits as stored (frame + 1 in the low 31 bits). */
const PTE_FRAME_MASK = 0x7fff_ffff;

export type MmuNotifier = (start: number, end: number, why: string) => void;

/**
 * A user-space process: its VMAs and its page tables, filled lazily. A page is backed on first touch
 * by the process itself (a page fault) or by KVM through get_user_pages(). Unmapping or discarding a
 * range calls the MMU notifiers so KVM can zap what it mapped from it.
 */
export class Process {
  /** The MMU notifiers are wiring (KVM registers them when it makes a VM), not state. */
  static readonly stateSkip: readonly string[] = ['notifiers'];

  readonly vmas: Vma[] = [];
  /** Page table: virtual page number (within [MMAP_BASE, TASK_SIZE)) → host frame + 1. */
  private readonly pt: PagedU32;
  private nextMmap = MMAP_BASE;
  private readonly notifiers: MmuNotifier[] = [];
  residentPages = 0;
  /**
   * The page cache of this process's shared (shmem) mappings: page index → frame + 1. Each shmem
   * mapping is its own file here, and mappings never reuse addresses, so the page index keys it.
   */
  private readonly shmemCache: PagedU32;
  /** The userfaultfds this process made (userfaultfd(2)). */
  readonly uffds: Userfaultfd[] = [];
  /**
   * The ranges registered with them, in address order. Empty for nearly every process, so the fault
   * path checks `uffdRanges.length` (O(1)) before it looks at a range.
   */
  readonly uffdRanges: UffdRange[] = [];
  private nextFd = 100;

  /** A new file descriptor number (an fd the kernel hands out: a userfaultfd, a proposal's backend fd). */
  newFd(): number {
    return this.nextFd++;
  }

  constructor(readonly host: ProcessHost, readonly pid: number, readonly name: string) {
    this.pt = new PagedU32(Math.ceil((TASK_SIZE - MMAP_BASE) / PAGE_SIZE));
    this.shmemCache = new PagedU32(Math.ceil((TASK_SIZE - MMAP_BASE) / PAGE_SIZE));
  }

  private vpn(hva: number): number {
    return (hva - MMAP_BASE) / PAGE_SIZE;
  }

  /** mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE): returns the address. */
  mmapAnon(len: number, name: string): number {
    return this.mmap(len, name, 'anon');
  }

  /** mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED, memfd, 0) of a fresh memfd (QEMU's memory-backend-memfd). */
  mmapShared(len: number, name: string): number {
    return this.mmap(len, name, 'shmem');
  }

  private mmap(len: number, name: string, kind: 'anon' | 'shmem'): number {
    if (len <= 0) fail('EINVAL', `mmap of ${len} bytes`);
    const size = pageAlignUp(len);
    const start = this.nextMmap;
    if (start + size > TASK_SIZE) fail('ENOMEM', 'the address space is full');
    // Leave a guard page between mappings so that an off-by-one access faults, as in Linux.
    this.nextMmap = start + size + PAGE_SIZE;
    this.vmas.push(kind === 'anon' ? { start, end: start + size, prot: 'rw-', name } : { start, end: start + size, prot: 'rw-', name, kind });
    this.host.trace.emit('host', 'mmap', { pid: this.pid, addr: hex(start), length: size, name, ...(kind === 'shmem' ? { shared: true } : {}) },
      `${this.name} maps ${formatSize(size)} of ${kind === 'anon' ? 'anonymous memory' : 'shared memory (a memfd, MAP_SHARED)'} for ${name} at ${hex(start)}; no page is backed yet.`);
    return start;
  }

  findVma(hva: number): Vma | undefined {
    for (const v of this.vmas) if (hva >= v.start && hva < v.end) return v;
    return undefined;
  }

  /** The frame behind hva, or -1 when the page is not present in the page tables. */
  lookup(hva: number): number {
    if (hva < MMAP_BASE || hva >= TASK_SIZE) return -1;
    return this.lookupIndex(this.vpn(Math.floor(hva / PAGE_SIZE) * PAGE_SIZE));
  }

  /**
   * The index of hva's page in the process's mmap area: a small integer, so that a loop over many
   * pages (a migration's) computes with it instead of 47-bit addresses, which V8 boxes on the heap.
   * Meaningful only for an hva in [MMAP_BASE, TASK_SIZE).
   */
  pageIndex(hva: number): number {
    return this.vpn(Math.floor(hva / PAGE_SIZE) * PAGE_SIZE);
  }

  /** lookup() by page index (pageIndex()). */
  lookupIndex(i: number): number {
    const e = this.pt.get(i) & PTE_FRAME_MASK;
    return e === 0 ? -1 : e - 1;
  }

  /**
   * Make hva's page present (a page fault in the process, or get_user_pages() from KVM).
   * Throws EFAULT when no VMA covers it, ENOMEM when the host is out of memory. `cost` is what the
   * fault charges to the one world clock: an incoming migration's thread on another host passes 0,
   * since its work does not hold up the source's thread or the vCPUs.
   */
  fault(hva: number, by: 'process' | 'get_user_pages' | 'migration', cost: number = Cost.hostFault, tid: number = this.pid, write = false): number {
    if (hva < MMAP_BASE || hva >= TASK_SIZE) fail('EFAULT', `no mapping at ${hex(hva)} in ${this.name}`);
    return this.faultIndex(this.pageIndex(hva), by, cost, tid, write);
  }

  /**
   * fault() by page index (pageIndex()). A page in a range registered with a userfaultfd is not
   * backed here: the fault is handed to the userfaultfd (handle_userfault()) and UserfaultBlocked is
   * thrown, naming thread `tid`, which sleeps until user space resolves the page and wakes it.
   */
  faultIndex(i: number, by: 'process' | 'get_user_pages' | 'migration', cost: number = Cost.hostFault, tid: number = this.pid, write = false): number {
    const existing = this.lookupIndex(i);
    if (existing >= 0) return existing;
    const at = MMAP_BASE + i * PAGE_SIZE;
    let vma: Vma | undefined;
    for (const v of this.vmas)
      if (at >= v.start && at < v.end) {
        vma = v;
        break;
      }
    if (!vma) fail('EFAULT', `no mapping at ${hex(at)} in ${this.name}`);
    const cached = vma.kind === 'shmem' ? this.shmemCache.get(i) - 1 : -1;
    if (this.uffdRanges.length !== 0) this.userfault(i, cached >= 0, by, tid, write);
    let f = cached;
    if (f < 0) {
      f = this.host.memory.alloc(FrameOwner.ProcessAnon, this.pid);
      if (f < 0) fail('ENOMEM', 'host memory is exhausted');
      if (vma.kind === 'shmem') this.shmemCache.set(i, f + 1);
    }
    this.pt.set(i, f + 1);
    this.residentPages++;
    this.host.clock.advance(cost);
    return f;
  }

  /** The registration covering page index i, or undefined (a handful of ranges at most: QEMU registers one per RAMBlock). */
  uffdRangeAt(i: number): UffdRange | undefined {
    for (const r of this.uffdRanges) if (i >= r.start && i < r.end) return r;
    return undefined;
  }

  /** A page in the page cache of a shmem mapping (present in the file, whether mapped or not), or -1. */
  shmemFrame(i: number): number {
    return this.shmemCache.get(i) - 1;
  }

  /**
   * handle_userfault() for a page that is not present: MISSING when the page has no backing yet,
   * MINOR when a shmem page is in the page cache but not mapped. Returns when no registration
   * applies (the fault proceeds as usual); otherwise throws.
   */
  private userfault(i: number, inPageCache: boolean, by: 'process' | 'get_user_pages' | 'migration', tid: number, write: boolean): void {
    const r = this.uffdRangeAt(i);
    if (!r) return;
    const reason = inPageCache ? r.mode & UFFDIO_REGISTER_MODE_MINOR : r.mode & UFFDIO_REGISTER_MODE_MISSING;
    if (!reason) return;
    const ctx = this.uffds.find((u) => u.fd === r.fd);
    if (!ctx) throw new Error(`unreachable: a registration names userfaultfd ${r.fd}, which ${this.name} does not have`);
    const at = MMAP_BASE + i * PAGE_SIZE;
    // UFFD_USER_MODE_ONLY: a fault from the kernel (get_user_pages(), e.g. KVM's) is not handed over: VM_FAULT_SIGBUS.
    if (ctx.flags & UFFD_USER_MODE_ONLY && by === 'get_user_pages')
      fail('EFAULT', `${hex(at)} is registered with userfaultfd ${ctx.fd}, made with UFFD_USER_MODE_ONLY: a fault from the kernel is not handed to user space and get_user_pages() fails`);
    if (ctx.features & UFFD_FEATURE_SIGBUS)
      fail('EFAULT', `${hex(at)} is registered with userfaultfd ${ctx.fd}, which has UFFD_FEATURE_SIGBUS: the fault raises SIGBUS instead of a message`);
    const flags = (write ? UFFD_PAGEFAULT_FLAG_WRITE : 0) | (inPageCache ? UFFD_PAGEFAULT_FLAG_MINOR : 0);
    const queued = ctx.queueFault(i, flags, tid);
    throw new UserfaultBlocked(ctx.fd, tid, at, flags, queued);
  }

  /**
   * userfaultfd(2): a new userfaultfd for this process (its mm). flags: O_CLOEXEC, O_NONBLOCK,
   * UFFD_USER_MODE_ONLY; anything else is EINVAL. The VMM is taken to be privileged
   * (CAP_SYS_PTRACE), so vm.unprivileged_userfaultfd does not refuse it.
   */
  userfaultfd(flags: number): Userfaultfd {
    if (!Number.isInteger(flags) || flags < 0 || flags & ~(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY))
      fail('EINVAL', `userfaultfd flags ${hex(flags)}: only O_CLOEXEC, O_NONBLOCK and UFFD_USER_MODE_ONLY are allowed`);
    const u = new Userfaultfd(this, this.nextFd++, flags);
    this.uffds.push(u);
    this.host.trace.emit('host', 'userfaultfd', { pid: this.pid, fd: u.fd, flags },
      `${this.name} opens userfaultfd ${u.fd}; it must negotiate the API (UFFDIO_API) before anything else.`);
    return u;
  }

  /** Put frame f at page index i (UFFDIO_COPY / ZEROPAGE / CONTINUE install a page). The page must not be present. */
  installIndex(i: number, f: number, shmem: boolean): void {
    if (shmem) this.shmemCache.set(i, f + 1);
    this.pt.set(i, f + 1);
    this.residentPages++;
  }

  /** The VMA covering page index i. */
  vmaAtIndex(i: number): Vma | undefined {
    return this.findVma(MMAP_BASE + i * PAGE_SIZE);
  }

  /** Read len bytes at hva as the process would (faulting pages in). */
  read(hva: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    this.forEachPage(hva, len, (f, off, n, at) => {
      const src = this.host.memory.peek(f);
      if (src) out.set(src.subarray(off, off + n), at);
    });
    return out;
  }

  write(hva: number, bytes: Uint8Array): void {
    this.forEachPage(hva, bytes.length, (f, off, n, at) => {
      this.host.memory.bytes(f).set(bytes.subarray(at, at + n), off);
    }, true);
  }

  private forEachPage(hva: number, len: number, fn: (frame: number, off: number, n: number, at: number) => void, write = false): void {
    for (let at = 0; at < len; ) {
      const a = hva + at;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, len - at);
      const f = this.fault(a, 'process', Cost.hostFault, this.pid, write);
      fn(f, off, n, at);
      at += n;
    }
  }

  /**
   * madvise(MADV_DONTNEED) / fallocate(PUNCH_HOLE) on the backing: drop the pages; the next touch
   * gets a zero page. KVM hears of it through the MMU notifier and zaps its EPT entries.
   */
  discard(start: number, len: number, why: string): number {
    if (!isPageAligned(start)) fail('EINVAL', `discard start ${hex(start)} is not page aligned`);
    const end = start + pageAlignUp(len);
    for (const n of this.notifiers) n(start, end, why);
    let dropped = 0;
    for (let a = start; a < end; a += PAGE_SIZE) {
      const f = this.lookup(a);
      if (f >= 0) {
        this.pt.set(this.vpn(a), 0);
        // A shared mapping's page stays in its file: only the mapping goes (the next touch is a minor fault).
        if (this.shmemCache.get(this.vpn(a)) === f + 1) {
          this.residentPages--;
          continue;
        }
        this.host.memory.free(f);
        this.residentPages--;
        dropped++;
      }
    }
    return dropped;
  }

  /** Register an MMU notifier (KVM registers one per VM on the VMM's mm). */
  addMmuNotifier(n: MmuNotifier): () => void {
    this.notifiers.push(n);
    return () => {
      const i = this.notifiers.indexOf(n);
      if (i >= 0) this.notifiers.splice(i, 1);
    };
  }

  /** Calls fn(hva, frame) for every present page in [start, start+len). */
  forEachPresent(start: number, len: number, fn: (hva: number, frame: number) => void): void {
    const first = this.vpn(start);
    this.pt.forEachSet(first, Math.ceil(len / PAGE_SIZE), (vpn, e) => {
      fn(MMAP_BASE + vpn * PAGE_SIZE, (e & PTE_FRAME_MASK) - 1);
    });
  }

  /** The runs of consecutive present pages in [start, start+len), as [hva, pages] pairs in address order. */
  presentRuns(start: number, len: number): [number, number][] {
    return this.pt.runsOfSet(this.vpn(start), Math.ceil(len / PAGE_SIZE)).map(([vpn, n]) => [MMAP_BASE + vpn * PAGE_SIZE, n]);
  }

  get pageTableBytes(): number {
    return this.pt.allocatedBytes;
  }
}
