/**
 * Post-copy of private memory (guest_memfd) for a software-protected VM (KVM_X86_SW_PROTECTED_VM):
 * the designs of issue 12. Its private pages live in guest_memfd, which has no VMA in QEMU, so the
 * userfaultfd that post-copy registers over RAM never sees a fault on one:
 *
 * - `upstream` — nothing catches a private fault, and KVM refuses dirty logging on a guest_memfd
 *   slot before post-copy could even start (migration.ts dirtyLogRefused): no post-copy.
 * - `talk` — the talk's proposal: a new fd on the memory backend "with mostly the same interface as
 *   userfaultfd". The destination registers guest_memfd in missing mode; kvm_gmem_get_pfn() of a page
 *   the file lacks puts the vCPU to sleep and queues a UFFD_EVENT_PAGEFAULT message naming the file
 *   offset (kvm/mmu.ts gmemUserfault); QEMU's fault thread reads it as it reads userfaultfd's, asks
 *   the source, and the copy-in installs the page and wakes the vCPU.
 * - `kvm-userfault` — KVM Userfault (James Houghton's series, v3 June 2025, not merged): the
 *   destination sets KVM_MEM_USERFAULT on the slot with a userfault_bitmap of the pages still
 *   missing; a vCPU touching one exits with KVM_EXIT_MEMORY_FAULT and KVM_MEMORY_EXIT_FLAG_USERFAULT;
 *   QEMU's vCPU thread asks for the page and waits; the page is written into guest_memfd (a write
 *   path for guest_memfd was proposed separately), its bit cleared, and the vCPU re-enters KVM_RUN.
 *
 * The source must also know which private pages the guest wrote during the pre-copy: both proposal
 * designs use the talk's dirty log kept in guest_memfd (kvm/vm.ts privateDirtyLog 'talk'; upstream
 * KVM refuses it), and the source reads a private page from its guest_memfd as the kernel would for
 * the backend (no such interface is upstream either). The memory attributes (which GFNs are
 * private) go with the device state.
 *
 * A TD migrating with the TDX module (td-export.ts) uses the same KVM Userfault machinery to stop a
 * vCPU on a private page not yet imported; the page itself comes through the module's out-of-order
 * import (TDH.IMPORT.MEM after TDH.IMPORT.COMMIT), never by the host writing guest_memfd.
 *
 * Page p of the migration is at offset p × 4 KiB of the RAM block and of its guest_memfd file.
 * Plain data plus wiring: it saves and restores with its thread.
 */
import { PAGE_SIZE, hex } from '../../core/units';
import type { GuestMemfd } from '../../kvm/guest-memfd';
import { gfnToGmemIndex } from '../../kvm/memslot';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE, KVM_MEM_USERFAULT } from '../../kvm/uapi';
import type { VmmVm } from '../vmm';
import type { PostcopyIncoming } from './postcopy';
import type { TdMigrationPath } from './td-export';

export const PRIVATE_POSTCOPY_DESIGNS = ['upstream', 'talk', 'kvm-userfault'] as const;
export type PrivatePostcopyDesign = (typeof PRIVATE_POSTCOPY_DESIGNS)[number];

/** Where page p of a VMM's RAM block is: its GFN and, with guest_memfd, the file and page index. */
interface PageAt {
  gfn: number;
  slot: number;
  gmem: GuestMemfd | undefined;
  index: number;
}

function pageAt(v: VmmVm, p: number): PageAt | null {
  const off = p * PAGE_SIZE;
  for (const b of v.ram) {
    if (off < b.gmemOffset || off >= b.gmemOffset + b.size) continue;
    const gfn = (b.gpa + off - b.gmemOffset) / PAGE_SIZE;
    const slot = v.vm.slots.get(b.slot);
    return { gfn, slot: b.slot, gmem: slot?.gmem, index: slot?.gmem ? gfnToGmemIndex(slot, gfn) : -1 };
  }
  return null;
}

export class PrivatePostcopy {
  static readonly stateSkip: readonly string[] = ['w', 'inc', 'td'];
  /** The talk's backend fds, per slot id; KVM Userfault's bitmap addresses in the destination VMM, per slot id. */
  readonly backendFds: Record<number, number> = {};
  readonly bitmaps: Record<number, number> = {};
  readonly counts = { privateSent: 0, privatePlaced: 0, kvmUserfaultExits: 0, backendFaults: 0 };

  /**
   * `td`: a TD's path through the TDX module, whose out-of-order import places the pages (then
   * `design` is 'kvm-userfault': only the catching of faults is KVM Userfault's).
   */
  constructor(
    private readonly w: { src: VmmVm; dst: VmmVm }, private readonly inc: PostcopyIncoming, readonly design: PrivatePostcopyDesign,
    private readonly td: TdMigrationPath | null = null,
  ) {}

  /** A TD's post-copy through the TDX module (the fault timeline names it so). */
  get viaTdxModule(): boolean {
    return this.td !== null;
  }

  private emit(name: string, args: Record<string, string | number | boolean>, text: string, side: 'src' | 'dst' = 'dst'): void {
    const v = side === 'src' ? this.w.src : this.w.dst;
    v.host.trace.emit('vmm', name, args, text, { vm: v.desc.name });
  }

  /** Whether page p is private on the source (its GFN has KVM_MEMORY_ATTRIBUTE_PRIVATE). */
  owns(p: number): boolean {
    const a = pageAt(this.w.src, p);
    return a !== null && a.gmem !== undefined && this.w.src.vm.attributes.has(a.gfn);
  }

  /** The source's frame behind private page p (-1: the file has no page there: it reads as zeros). */
  srcFrame(p: number): number {
    const a = pageAt(this.w.src, p)!;
    return a.gmem!.frameAt(a.index);
  }

  /** The destination's frame behind private page p (-1: its guest_memfd has no page there yet). */
  dstFrame(p: number): number {
    const a = pageAt(this.w.dst, p);
    return a?.gmem ? a.gmem.frameAt(a.index) : -1;
  }

  /** The source's dirty logging must see private writes: the talk's log kept in guest_memfd. */
  startSource(): void {
    // A TD's private writes are caught by the module's write blocks (td-export.ts).
    if (this.design === 'upstream' || this.td) return;
    this.w.src.vm.privateDirtyLog = 'talk';
    this.emit('private_dirty_log', { design: this.design },
      `The source logs private writes in guest_memfd's own log (the talk's proposal, not upstream): without it upstream KVM refuses dirty logging on a guest_memfd slot and nothing could be migrated.`, 'src');
  }

  /** Pre-copy: private page p goes from the source's guest_memfd to the destination's; returns whether it was a zero page. */
  savePrecopy(p: number): boolean {
    this.counts.privateSent++;
    const from = this.srcFrame(p);
    const d = pageAt(this.w.dst, p)!;
    const g = d.gmem!;
    const sm = this.w.src.host.memory;
    const zero = from < 0 || (sm.pageToken(from) === 0 && sm.storedBytesZero(from));
    if (zero) {
      const f = g.frameAt(d.index);
      if (f >= 0) this.w.dst.host.memory.zero(f);
      return true;
    }
    const [f] = g.getPfn(d.index);
    this.w.dst.host.memory.copyPageFrom(sm, from, f);
    return false;
  }

  /** CMD_POSTCOPY_RAM_DISCARD for private pages: the destination punches them out of its guest_memfd. */
  discard(npages: number, dirty: (p: number) => boolean): number {
    // A TD: what is still dirty was never exported (the blackout sent the rest again), so the destination has nothing to drop.
    if (this.td) return 0;
    let n = 0;
    for (let p = 0; p < npages; p++) {
      if (!dirty(p) || !this.owns(p)) continue;
      const d = pageAt(this.w.dst, p)!;
      if (d.gmem && d.gmem.frameAt(d.index) >= 0) d.gmem.punchPages(d.index, 1);
      n++;
    }
    return n;
  }

  /** With the device state: the destination's KVM gets the same private GFNs (KVM_SET_MEMORY_ATTRIBUTES). */
  copyAttributes(): void {
    // A TD's attributes go with TDH.IMPORT.COMMIT (td-export.ts syncAttributes).
    if (this.td) return;
    const { src, dst } = this.w;
    for (const [a, b] of src.vm.attributes.intersect(0, Number.MAX_SAFE_INTEGER))
      dst.vm.setMemoryAttributes({ address: a * PAGE_SIZE, size: (b - a) * PAGE_SIZE, attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE });
  }

  /** CMD_POSTCOPY_LISTEN: the design's way to catch a private fault is set up on every guest_memfd slot. */
  listen(npages: number): void {
    const dst = this.w.dst;
    if (this.design === 'talk') {
      for (const b of dst.ram) {
        const slot = dst.vm.slots.get(b.slot);
        if (!slot?.gmem || slot.gmem.userfault) continue;
        const fd = dst.process.newFd();
        slot.gmem.registerUserfault(fd);
        this.backendFds[b.slot] = fd;
        this.emit('gmem_userfault_register', { guest_memfd: slot.gmem.fd, fd, proposal: 'talk' },
          `The talk's proposal (not upstream): QEMU opens a userfault fd (${fd}) on guest_memfd ${slot.gmem.fd} and registers the file in missing mode, with the same messages and copy-in as userfaultfd: a vCPU touching a private page the file lacks now waits for QEMU instead of getting a zeroed page.`);
      }
      return;
    }
    if (this.design !== 'kvm-userfault') return;
    const ku = dst.kvmUserfault;
    ku.wait = new Array(dst.nvcpus).fill(-1);
    for (const b of dst.ram) {
      const slot = dst.vm.slots.get(b.slot);
      if (!slot?.gmem) continue;
      const bits = new Uint8Array(Math.ceil(slot.npages / 64) * 8);
      let missing = 0;
      for (let i = 0; i < slot.npages; i++) {
        const p = b.gmemOffset / PAGE_SIZE + i;
        if (p >= npages || !this.owns(p) || this.inc.receivedAt(p) || (this.td?.absent(p) ?? false)) continue;
        bits[i >>> 3] |= 1 << (i & 7);
        missing++;
      }
      if (this.td) {
        // The flag has been on since setup (prepareTd): QEMU only fills the bitmap, which KVM reads at each fault.
        const hva = this.bitmaps[b.slot];
        dst.process.write(hva, bits);
        this.emit('kvm_userfault_enable', { slot: b.slot, bitmap: hex(hva), missing, series: 'kvm-userfault', td: 1 },
          `QEMU marks the ${missing} private page(s) not imported yet in memslot ${b.slot}'s userfault bitmap (KVM Userfault, a posted series, not merged): a TD vCPU touching one exits to QEMU instead of KVM adding a fresh page (TDH.MEM.PAGE.AUG) where the TD's data belongs.`);
        continue;
      }
      const hva = dst.process.mmapAnon(Math.max(PAGE_SIZE, bits.length), `userfault_bitmap(slot ${b.slot})`);
      dst.process.write(hva, bits);
      this.bitmaps[b.slot] = hva;
      dst.vm.setUserMemoryRegion2({
        slot: b.slot, flags: slot.flags | KVM_MEM_USERFAULT, guest_phys_addr: slot.baseGfn * PAGE_SIZE, memory_size: slot.npages * PAGE_SIZE,
        userspace_addr: slot.userspaceAddr, guest_memfd: slot.gmem.fd, guest_memfd_offset: slot.gmemPgoff * PAGE_SIZE, userfault_bitmap: hva,
      });
      this.emit('kvm_userfault_enable', { slot: b.slot, bitmap: hex(hva), missing, series: 'kvm-userfault' },
        `KVM Userfault (a posted series, not merged): QEMU sets KVM_MEM_USERFAULT on memslot ${b.slot} with a userfault_bitmap at ${hex(hva)} marking the ${missing} private page(s) still on the source.`);
    }
    ku.on = true;
  }

  /**
   * A TD migrating with post-copy: KVM_MEM_USERFAULT goes on the destination's guest_memfd slots
   * at the start, with an empty bitmap, before the module has imported a page. Set later, KVM would
   * drop the slot's mappings — for a TD, TDH.MEM.PAGE.REMOVE of pages only the import can bring back.
   */
  prepareTd(): void {
    const dst = this.w.dst;
    dst.kvmUserfault.wait = new Array(dst.nvcpus).fill(-1);
    for (const b of dst.ram) {
      const slot = dst.vm.slots.get(b.slot);
      if (!slot?.gmem) continue;
      const hva = dst.process.mmapAnon(Math.max(PAGE_SIZE, Math.ceil(slot.npages / 64) * 8), `userfault_bitmap(slot ${b.slot})`);
      this.bitmaps[b.slot] = hva;
      dst.vm.setUserMemoryRegion2({
        slot: b.slot, flags: slot.flags | KVM_MEM_USERFAULT, guest_phys_addr: slot.baseGfn * PAGE_SIZE, memory_size: slot.npages * PAGE_SIZE,
        userspace_addr: slot.userspaceAddr, guest_memfd: slot.gmem.fd, guest_memfd_offset: slot.gmemPgoff * PAGE_SIZE, userfault_bitmap: hva,
      });
      this.emit('kvm_userfault_enable', { slot: b.slot, bitmap: hex(hva), missing: 0, series: 'kvm-userfault', td: 1 },
        `The destination QEMU sets KVM_MEM_USERFAULT on memslot ${b.slot} (KVM Userfault, a posted series, not merged) now, before the TDX module imports any page, with an empty bitmap: set later, KVM would drop the TD's private mappings, which only the import can bring back. Post-copy will mark the pages still on the source.`);
    }
  }

  /** Faults the design caught that the fault thread has not handled yet. */
  get faultPending(): boolean {
    // The fault thread asks only while post-copy is active: paused, the faults wait for the recovery.
    if (this.inc.status !== 'postcopy-active') return false;
    if (this.design === 'kvm-userfault') return this.w.dst.kvmUserfault.queue.length > 0;
    if (this.design !== 'talk') return false;
    for (const b of this.w.dst.ram) if (this.w.dst.vm.slots.get(b.slot)?.gmem?.userfaultPending) return true;
    return false;
  }

  /** The fault thread (or, with KVM Userfault, the vCPU threads): each fault's page, to request (those already here are not). */
  readFaults(now: number): number[] {
    const dst = this.w.dst;
    const out: number[] = [];
    if (this.design === 'kvm-userfault') {
      const ku = dst.kvmUserfault;
      while (ku.queue.length) {
        const gfn = ku.queue.shift()!;
        const v = ku.queueVcpu.shift()!;
        const p = this.pageOfGfn(gfn);
        this.counts.kvmUserfaultExits++;
        if (p >= 0 && this.inc.noteFault(p, v, now)) out.push(p);
        else if (p >= 0) this.wakeKvmUserfault(gfn);
      }
      return out;
    }
    for (const b of dst.ram) {
      const g = dst.vm.slots.get(b.slot)?.gmem;
      if (!g?.userfaultPending) continue;
      const msgs = g.readUserfault();
      this.emit('read(gmem userfault fd)', { fd: g.userfault!.fd, messages: msgs.length, proposal: 'talk' },
        `QEMU's fault thread reads ${msgs.length} UFFD_EVENT_PAGEFAULT message(s) from the backend's fd ${g.userfault!.fd} (the talk's proposal): offsets ${msgs.map((m) => hex(m.offset)).join(', ')}.`);
      for (const m of msgs) {
        this.counts.backendFaults++;
        const p = m.offset / PAGE_SIZE;
        if (this.inc.noteFault(p, this.inc.vcpuOf(m.ptid), now)) out.push(p);
      }
    }
    return out;
  }

  private pageOfGfn(gfn: number): number {
    for (const b of this.w.dst.ram) {
      const first = b.gpa / PAGE_SIZE;
      if (gfn >= first && gfn < first + b.size / PAGE_SIZE) return b.gmemOffset / PAGE_SIZE + gfn - first;
    }
    return -1;
  }

  /** Private page p arrived: the design installs it; returns the vCPUs it wakes. */
  place(p: number, zero: boolean, now: number): number[] {
    const dst = this.w.dst;
    const d = pageAt(dst, p)!;
    if (this.td) {
      // The module imported it (TDH.IMPORT.MEM, out of order) when its batch arrived; QEMU clears the bit.
      const f = this.td.frames(p);
      this.clearBit(d.slot, d.gfn);
      this.counts.privatePlaced++;
      const woken = this.inc.placedPrivate(p, zero || f.src < 0, [], f.dst, this.w.src.host.memory, f.src, now);
      return [...new Set([...woken, ...this.wakeKvmUserfault(d.gfn)])];
    }
    const g = d.gmem!;
    const from = zero ? -1 : this.srcFrame(p);
    const sm = this.w.src.host.memory;
    let tids: number[] | null;
    if (this.design === 'talk') {
      tids = g.installUserfault(d.index, sm, from);
      if (tids === null) {
        this.inc.counts.duplicates++;
        return [];
      }
    } else {
      // KVM Userfault: the page is written into guest_memfd, then its bit is cleared.
      tids = g.installUserfault(d.index, sm, from) ?? [];
      this.clearBit(d.slot, d.gfn);
    }
    this.counts.privatePlaced++;
    const woken = this.inc.placedPrivate(p, zero, tids, g.frameAt(d.index), sm, from, now);
    if (this.design === 'kvm-userfault') return [...new Set([...woken, ...this.wakeKvmUserfault(d.gfn)])];
    return woken;
  }

  private clearBit(slotId: number, gfn: number): void {
    const hva = this.bitmaps[slotId];
    if (hva === undefined) return;
    const slot = this.w.dst.vm.slots.get(slotId)!;
    const i = gfn - slot.baseGfn;
    const at = hva + (i >>> 3);
    const proc = this.w.dst.process;
    const b = proc.read(at, 1);
    b[0] &= ~(1 << (i & 7));
    proc.write(at, b);
  }

  /** The vCPU threads waiting for GFN `gfn` (KVM Userfault) run again: they re-enter KVM_RUN. */
  private wakeKvmUserfault(gfn: number): number[] {
    const ku = this.w.dst.kvmUserfault;
    const out: number[] = [];
    for (let v = 0; v < ku.wait.length; v++)
      if (ku.wait[v] === gfn) {
        ku.wait[v] = -1;
        out.push(v);
      }
    return out;
  }

  /** Every page is here: the backend fds close; KVM_MEM_USERFAULT is cleared. */
  end(): void {
    const dst = this.w.dst;
    for (const b of dst.ram) {
      const slot = dst.vm.slots.get(b.slot);
      if (!slot?.gmem) continue;
      if (slot.gmem.userfault) slot.gmem.unregisterUserfault();
      if (this.bitmaps[b.slot] !== undefined && slot.flags & KVM_MEM_USERFAULT)
        dst.vm.setUserMemoryRegion2({
          slot: b.slot, flags: slot.flags & ~KVM_MEM_USERFAULT, guest_phys_addr: slot.baseGfn * PAGE_SIZE, memory_size: slot.npages * PAGE_SIZE,
          userspace_addr: slot.userspaceAddr, guest_memfd: slot.gmem.fd, guest_memfd_offset: slot.gmemPgoff * PAGE_SIZE,
        });
    }
    dst.kvmUserfault.on = false;
  }
}
