import { fail } from '../core/errno';
import { Cost, type Clock } from '../core/clock';
import { PagedU32 } from '../core/paged-array';
import { PAGE_SIZE, formatSize, hex, isPageAligned, pageAlignUp } from '../core/units';
import type { TraceSink } from '../core/trace';
import { FrameOwner, type HostMemory } from './physmem';

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
}

/** The highest user virtual address on x86-64 with 4-level paging (TASK_SIZE_MAX, roughly). */
const TASK_SIZE = 0x7fff_ffff_f000;
/** Where this simulation places mmap()s, growing up (QEMU's guest RAM usually lands high). */
const MMAP_BASE = 0x7f00_0000_0000;

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

  constructor(readonly host: ProcessHost, readonly pid: number, readonly name: string) {
    this.pt = new PagedU32(Math.ceil((TASK_SIZE - MMAP_BASE) / PAGE_SIZE));
  }

  private vpn(hva: number): number {
    return (hva - MMAP_BASE) / PAGE_SIZE;
  }

  /** mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE): returns the address. */
  mmapAnon(len: number, name: string): number {
    if (len <= 0) fail('EINVAL', `mmap of ${len} bytes`);
    const size = pageAlignUp(len);
    const start = this.nextMmap;
    if (start + size > TASK_SIZE) fail('ENOMEM', 'the address space is full');
    // Leave a guard page between mappings so that an off-by-one access faults, as in Linux.
    this.nextMmap = start + size + PAGE_SIZE;
    this.vmas.push({ start, end: start + size, prot: 'rw-', name });
    this.host.trace.emit('host', 'mmap', { pid: this.pid, addr: hex(start), length: size, name },
      `${this.name} maps ${formatSize(size)} of anonymous memory for ${name} at ${hex(start)}; no page is backed yet.`);
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
  fault(hva: number, by: 'process' | 'get_user_pages' | 'migration', cost: number = Cost.hostFault): number {
    if (hva < MMAP_BASE || hva >= TASK_SIZE) fail('EFAULT', `no mapping at ${hex(hva)} in ${this.name}`);
    return this.faultIndex(this.pageIndex(hva), by, cost);
  }

  /** fault() by page index (pageIndex()). */
  faultIndex(i: number, _by: 'process' | 'get_user_pages' | 'migration', cost: number = Cost.hostFault): number {
    const existing = this.lookupIndex(i);
    if (existing >= 0) return existing;
    const at = MMAP_BASE + i * PAGE_SIZE;
    let mapped = false;
    for (const v of this.vmas)
      if (at >= v.start && at < v.end) {
        mapped = true;
        break;
      }
    if (!mapped) fail('EFAULT', `no mapping at ${hex(at)} in ${this.name}`);
    const f = this.host.memory.alloc(FrameOwner.ProcessAnon, this.pid);
    if (f < 0) fail('ENOMEM', 'host memory is exhausted');
    this.pt.set(i, f + 1);
    this.residentPages++;
    this.host.clock.advance(cost);
    return f;
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
    });
  }

  private forEachPage(hva: number, len: number, fn: (frame: number, off: number, n: number, at: number) => void): void {
    for (let at = 0; at < len; ) {
      const a = hva + at;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, len - at);
      const f = this.fault(a, 'process');
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
