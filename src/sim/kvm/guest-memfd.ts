import { fail } from '../core/errno';
import { Cost } from '../core/clock';
import { PagedU32 } from '../core/paged-array';
import { hexU64, narrow, unknownBits, type U64 } from '../core/u64';
import { PAGE_SIZE, formatSize, hex, isPageAligned } from '../core/units';
import { FrameOwner, type HostMemory } from '../host/physmem';
import { u32Arg } from './u64-arg';
import type { Vm } from './vm';
import { GUEST_MEMFD_FLAG_INIT_SHARED, GUEST_MEMFD_FLAG_MMAP } from './uapi';

/** fallocate(2) mode bits (include/uapi/linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;

/** A range of the file bound to a memslot: [pgoff, pgoff + npages) ↔ gfns [baseGfn, ...). */
export interface GmemBinding {
  slot: number;
  pgoff: number;
  npages: number;
  baseGfn: number;
}

/**
 * A guest_memfd file (virt/kvm/guest_memfd.c). Its page cache holds the VM's private memory; user
 * space cannot read, write or (without GUEST_MEMFD_FLAG_MMAP) map it. Pages are allocated on first
 * use and zeroed then, "so as to avoid leaking host data"; fallocate(PUNCH_HOLE) frees them and zaps
 * the guest's mappings of that range.
 */
export class GuestMemfd {
  /** page index → host frame + 1 */
  private readonly pages: PagedU32;
  readonly bindings: GmemBinding[] = [];
  allocatedPages = 0;
  /**
   * The talk's proposal (not upstream): dirty logging kept inside the memory backend. One bit per
   * file page, set by mark_page_dirty() for a private GFN instead of a memslot bitmap; KVM hands it
   * to KVM_GET_DIRTY_LOG. Allocated when dirty logging starts on a slot bound to this file.
   */
  dirtyLog: Uint32Array | null = null;
  /**
   * The talk's proposal for post-copy (not upstream): a new fd on the memory backend "with mostly the
   * same interface as userfaultfd". Registered in missing mode over the whole file: a vCPU touching a
   * page the file does not have sleeps (as in handle_userfault()) and a UFFD_EVENT_PAGEFAULT message
   * naming the file offset is queued; the VMM reads it and installs the page with a copy-in, which
   * wakes the vCPU. Waiters are kept as Linux keeps userfaultfd's: one entry per sleeping thread.
   */
  userfault: { fd: number; tid: number[]; index: number[]; read: number[]; faults: number; copied: number } | null = null;

  constructor(
    readonly vm: Vm,
    readonly fd: number,
    /** The simulated inode number; host frames of this file are owned by it. */
    readonly ino: number,
    readonly size: number,
    readonly flags: number,
  ) {
    this.pages = new PagedU32(size / PAGE_SIZE);
  }

  get npages(): number {
    return this.size / PAGE_SIZE;
  }

  /** The host frame holding page `index`, or -1 if it was never allocated (or was punched). */
  frameAt(index: number): number {
    return this.pages.get(index) - 1;
  }

  /**
   * kvm_gmem_get_pfn(): the frame for `index`, allocating and zeroing it on first use.
   * Returns [frame, freshlyAllocated].
   */
  getPfn(index: number): [number, boolean] {
    const e = this.pages.get(index);
    if (e !== 0) return [e - 1, false];
    const host = this.vm.kvm.host;
    const f = host.memory.alloc(FrameOwner.GuestMemfd, this.ino);
    if (f < 0) fail('ENOMEM', 'host memory is exhausted');
    // The page is cleared on first use; freshly allocated frames already read as zeros.
    host.clock.advance(Cost.zeroPage);
    this.pages.set(index, f + 1);
    this.allocatedPages++;
    return [f, true];
  }

  /** The talk's backend userfault fd: register the whole file (missing mode). */
  registerUserfault(fd: number): void {
    this.userfault = { fd, tid: [], index: [], read: [], faults: 0, copied: 0 };
  }

  /** A thread `tid` touches missing page `index`: it sleeps; a message is queued unless it already waits for it. */
  queueUserfault(index: number, tid: number): boolean {
    const u = this.userfault!;
    for (let k = 0; k < u.tid.length; k++) if (u.tid[k] === tid && u.index[k] === index) return false;
    u.tid.push(tid);
    u.index.push(index);
    u.read.push(0);
    u.faults++;
    return true;
  }

  /** read() on the backend fd: the messages not read yet, oldest first, as {offset, ptid}. */
  readUserfault(): { offset: number; ptid: number }[] {
    const u = this.userfault;
    if (!u) return [];
    const out: { offset: number; ptid: number }[] = [];
    for (let k = 0; k < u.tid.length; k++) {
      if (u.read[k]) continue;
      u.read[k] = 1;
      out.push({ offset: u.index[k] * PAGE_SIZE, ptid: u.tid[k] });
    }
    return out;
  }

  get userfaultPending(): boolean {
    return this.userfault !== null && this.userfault.read.includes(0);
  }

  /**
   * The copy-in of the talk's fd: the page's bytes (frame `from` of `memory`, with its content token;
   * a page of zeros when from < 0) become page `index` of the file, and the threads waiting for it
   * wake. Returns their ids; null when the file has the page already (EEXIST).
   */
  installUserfault(index: number, memory: HostMemory, from: number): number[] | null {
    if (this.frameAt(index) >= 0) return null;
    const [f] = this.getPfn(index);
    if (from >= 0) this.vm.kvm.host.memory.copyPageFrom(memory, from, f);
    const u = this.userfault;
    if (!u) return [];
    u.copied++;
    const woken: number[] = [];
    for (let k = 0; k < u.tid.length; ) {
      if (u.index[k] === index) {
        woken.push(u.tid[k]);
        u.tid.splice(k, 1);
        u.index.splice(k, 1);
        u.read.splice(k, 1);
      } else k++;
    }
    return woken;
  }

  /** Close the backend fd: threads still waiting wake and fault again (the file backs the page then). */
  unregisterUserfault(): number[] {
    const woken = this.userfault?.tid.slice() ?? [];
    this.userfault = null;
    return woken;
  }

  /** fallocate(PUNCH_HOLE) of pages [first, first + count) from inside the kernel (a migration's discard). */
  punchPages(first: number, count: number): void {
    this.punch(first, count);
  }

  /** fallocate(fd, mode, offset, len). */
  fallocate(modeArg: U64, offset: number, len: number): void {
    // fallocate(2)'s mode is an int: more than 32 bits cannot be passed; within them `&` is exact.
    const mode = u32Arg(modeArg, 'fallocate mode');
    const known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE;
    // kvm_gmem_fallocate(): the file can never change size, so KEEP_SIZE is required.
    if (!(mode & FALLOC_FL_KEEP_SIZE)) fail('EOPNOTSUPP', `guest_memfd cannot change size: fallocate needs FALLOC_FL_KEEP_SIZE (mode ${hex(mode)})`);
    if (mode & ~known) fail('EOPNOTSUPP', `guest_memfd supports only FALLOC_FL_KEEP_SIZE and FALLOC_FL_PUNCH_HOLE (mode ${hex(mode)})`);
    if (!isPageAligned(offset) || !isPageAligned(len) || len <= 0)
      fail('EINVAL', `offset ${hex(offset)} and len ${hex(len)} must be page aligned and len non-zero`);
    const first = offset / PAGE_SIZE;
    if (mode & FALLOC_FL_PUNCH_HOLE) {
      // kvm_gmem_punch_hole(): punching beyond the end of the file is allowed (nothing is there).
      const end = Math.min(first + len / PAGE_SIZE, this.npages);
      this.punch(first, Math.max(0, end - first));
      return;
    }
    // kvm_gmem_allocate(): the file cannot grow.
    if (offset + len > this.size) fail('EINVAL', `allocating [${hex(offset)}, ${hex(offset + len)}) goes beyond the file size ${hex(this.size)}`);
    for (let i = first; i < first + len / PAGE_SIZE; i++) this.getPfn(i);
    this.vm.kvm.host.trace.emit('kvm', 'fallocate', { fd: this.fd, mode, offset: hex(offset), len: hex(len) },
      `fallocate() preallocates ${formatSize(len)} of guest_memfd ${this.fd}; the pages are cleared on first use.`, { vm: this.vm.name });
  }

  private punch(first: number, count: number): void {
    const memory = this.vm.kvm.host.memory;
    // kvm_gmem_invalidate_begin(): zap the guest mappings of every binding that overlaps the hole.
    for (const b of this.bindings) {
      const lo = Math.max(first, b.pgoff);
      const hi = Math.min(first + count, b.pgoff + b.npages);
      if (lo < hi) this.vm.mmu.zapPrivate(b.baseGfn + (lo - b.pgoff), hi - lo, 'fallocate(PUNCH_HOLE)');
    }
    let freed = 0;
    this.pages.forEachSet(first, count, (i, e) => {
      memory.free(e - 1);
      this.pages.set(i, 0);
      freed++;
    });
    this.allocatedPages -= freed;
    this.vm.kvm.host.trace.emit('kvm', 'fallocate(PUNCH_HOLE)',
      { fd: this.fd, offset: hex(first * PAGE_SIZE), len: hex(count * PAGE_SIZE), freed },
      `A hole is punched in guest_memfd ${this.fd}: ${freed} page(s) are freed and the guest's mappings of the range are zapped; a later fault gets a fresh zeroed page.`,
      { vm: this.vm.name });
  }

  /**
   * kvm_gmem_bind(): bind [pgoff, pgoff+npages) to a memslot. A file range that is already bound is
   * refused with EINVAL (virt/kvm/guest_memfd.c); the EEXIST that set_memory_region_test sees comes
   * earlier, from the overlapping GPA range.
   */
  bind(b: GmemBinding): void {
    if (b.pgoff + b.npages > this.npages)
      fail('EINVAL', `guest_memfd_offset + memory_size (${hex((b.pgoff + b.npages) * PAGE_SIZE)}) is beyond the guest_memfd size ${hex(this.size)}`);
    for (const o of this.bindings) {
      if (b.pgoff < o.pgoff + o.npages && o.pgoff < b.pgoff + b.npages)
        fail('EINVAL', `guest_memfd ${this.fd} pages [${hex(b.pgoff)}, ${hex(b.pgoff + b.npages)}) are already bound to memslot ${o.slot}`);
    }
    this.bindings.push(b);
  }

  unbind(slot: number): void {
    const i = this.bindings.findIndex((b) => b.slot === slot);
    if (i >= 0) this.bindings.splice(i, 1);
  }

  /**
   * read()/write() fail with EINVAL (the file has no read/write operations); pread()/pwrite() with
   * ESPIPE (the anonymous inode is not opened with FMODE_PREAD/PWRITE). guest_memfd_test checks both.
   */
  readOrWrite(op: 'read' | 'write' | 'pread' | 'pwrite'): never {
    fail(op.startsWith('p') ? 'ESPIPE' : 'EINVAL', `${op}() on a guest_memfd is refused: private memory is not readable or writable from user space`);
  }

  mmap(): never | void {
    if (!(this.flags & GUEST_MEMFD_FLAG_MMAP))
      fail('ENODEV', 'guest_memfd was created without GUEST_MEMFD_FLAG_MMAP, so it cannot be mapped');
    fail('EOPNOTSUPP', 'mapping guest_memfd into user space is not simulated');
  }

  /**
   * kvm_gmem_get_supported_flags() (include/linux/kvm_host.h): GUEST_MEMFD_FLAG_MMAP always, and
   * GUEST_MEMFD_FLAG_INIT_SHARED when kvm_arch_supports_gmem_init_shared(), which x86 answers with
   * !kvm_arch_has_private_mem(): a VM with private memory must convert pages to shared explicitly.
   */
  static supportedFlags(vmHasPrivateMemory: boolean): number {
    return GUEST_MEMFD_FLAG_MMAP | (vmHasPrivateMemory ? 0 : GUEST_MEMFD_FLAG_INIT_SHARED);
  }

  /** kvm_gmem_create(): `flags & ~supported` is EINVAL, on all 64 bits of the __u64. Returns the flags. */
  static validateFlags(flags: bigint, vmHasPrivateMemory: boolean): number {
    const supported = GuestMemfd.supportedFlags(vmHasPrivateMemory);
    const bad = unknownBits(flags, supported);
    if (bad === 0n) return narrow(flags);
    if (bad === BigInt(GUEST_MEMFD_FLAG_INIT_SHARED))
      fail('EINVAL', 'GUEST_MEMFD_FLAG_INIT_SHARED is refused for a VM type with private memory (its pages start private)');
    fail('EINVAL', `unknown guest_memfd flags ${hexU64(bad)} (supported: ${hex(supported)})`);
  }

  forEachPage(fn: (index: number, frame: number) => void): void {
    this.pages.forEachSet(0, this.npages, (i, e) => fn(i, e - 1));
  }

  get pageCacheBytes(): number {
    return this.pages.allocatedBytes;
  }
}
