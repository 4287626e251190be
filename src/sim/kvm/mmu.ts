import { Cost } from '../core/clock';
import { eventKind } from '../core/trace';
import { isSharedGpa } from '../abi/tdx';
import { PagedU32 } from '../core/paged-array';
import { PAGE_SIZE, hex } from '../core/units';
import { SysError } from '../core/errno';
import { GuestException, type Access } from '../cpu/bus';
import { Sept, septFrame, septState } from '../tdx/sept';
import { TdxStatus } from '../tdx/module';
import { MIG_LIST_MAX, exportBlockw, exportUnblockw, isWriteBlocked } from '../tdx/export';
import { dirtyTrackEnabled, gfnToGmemIndex, gfnToHva, type Memslot } from './memslot';
import { KvmExitSignal, UserfaultWait, VmDeadSignal } from './run';
import { UserfaultBlocked } from '../host/userfaultfd';
import { UFFD_PAGEFAULT_FLAG_WRITE } from '../abi/userfaultfd';
import type { GuestMemfd } from './guest-memfd';
import { KVM_MEMORY_EXIT_FLAG_PRIVATE, KVM_MEMORY_EXIT_FLAG_USERFAULT, KVM_MEM_READONLY, KVM_MEM_USERFAULT } from './uapi';
import type { Vm } from './vm';

/** EPT entry as stored: host frame + 1 in bits 30..0, writable in bit 31. */
const EPT_W = 0x8000_0000;
const EPT_FRAME = 0x7fff_ffff;

/** Decode a stored EPT entry (0 = not present). */
export const eptEntryFrame = (e: number): number => (e & EPT_FRAME) - 1;
export const eptEntryWritable = (e: number): boolean => (e & EPT_W) !== 0;

/** VMX exit reason for an EPT violation, reported in the #VE information. */
const EXIT_REASON_EPT_VIOLATION = 48;

/**
 * The thread id of a VMM's vCPU thread, as userfaultfd reports it (uffd_msg.feat.ptid). The lab
 * numbers a process's threads pid × 100 + 1 + vCPU index, so they are unique on the host.
 */
export const vcpuTid = (pid: number, vcpu: number): number => pid * 100 + 1 + vcpu;

/** Zaps larger than this are traced as one summary event instead of one per page. */
const TRACE_PER_PAGE_LIMIT = 16;

export interface MmuStats {
  eptViolations: number;
  writeProtectFaults: number;
  zapped: number;
}

/** A translation result: the host frame, or 'mmio' when no memslot backs the GPA. */
export type Translation = number | 'mmio';

// The hot events of the fault paths (a page each): recorded as numbers, made into args and a
// sentence only when read (see EventKind in core/trace.ts).
const ACCESSES: readonly Access[] = ['read', 'write', 'fetch'];
const EV_EPT_VIOLATION = eventKind('kvm', 'EPT violation', (gpa, access, flags) => {
  const acc = ACCESSES[access];
  const priv = (flags & 1) !== 0;
  return {
    args: { gpa: hex(gpa), access: acc, private: priv },
    text: `The guest's ${acc} of ${priv ? 'private' : 'shared'} GPA ${hex(gpa)} finds no ${flags & 2 ? 'Secure-EPT' : 'EPT'} entry: an EPT violation exits to KVM.`,
  };
});
const EV_GUP = eventKind('host', 'get_user_pages', (hva, frame) => ({
  args: { hva: hex(hva), hpa: hex(frame * PAGE_SIZE) },
  text: `KVM faults in the VMM's page at HVA ${hex(hva)}; the host backs it with frame ${hex(frame * PAGE_SIZE)}.`,
}));
const EV_EPT_INSTALLED = eventKind('kvm', 'EPT entry installed', (gfn, frame, writable) => ({
  args: { gfn: hex(gfn), hpa: hex(frame * PAGE_SIZE), writable: writable === 1 },
  text: `KVM maps GFN ${hex(gfn)} to host frame ${hex(frame * PAGE_SIZE)}${writable ? '' : ' read-only (dirty logging write-protects it)'}.`,
}));

/**
 * KVM's MMU for one VM (arch/x86/kvm/mmu/). The EPT maps GFNs to host frames; for a TD it is the
 * shared EPT, and private GFNs live in the Secure EPT that the TDX module owns, of which KVM keeps a
 * mirror. Faults decide private or shared (kvm_mmu_faultin_pfn), take shared pages through the host
 * page tables (get_user_pages) and private ones from guest_memfd (kvm_gmem_get_pfn).
 */
export class Mmu {
  readonly ept = new PagedU32(2 ** 40);
  /** Mirror of the Secure EPT (TDs): gfn → frame + 1. */
  readonly mirror: PagedU32 | null;
  /** Bumped on every zap or write-protect so the vCPUs' cached translations are dropped. */
  generation = 0;
  readonly stats: MmuStats = { eptViolations: 0, writeProtectFaults: 0, zapped: 0 };

  constructor(private readonly vm: Vm) {
    this.mirror = vm.isTd ? new PagedU32(2 ** 40) : null;
  }

  eptFrame(gfn: number): number {
    return eptEntryFrame(this.ept.get(gfn));
  }

  eptWritable(gfn: number): boolean {
    return eptEntryWritable(this.ept.get(gfn));
  }

  /**
   * The host frame behind a guest access (gpa includes a TD's shared bit). Handles the EPT
   * violation in the kernel when it can; throws KvmExitSignal for exits to user space,
   * GuestException for exceptions the guest takes, VmDeadSignal when KVM kills the VM.
   */
  translate(gpa: number, access: Access, vcpu: number): Translation {
    const td = this.vm.td;
    if (td) {
      const sb = td.sharedBit;
      if (isSharedGpa(gpa, sb)) {
        if (access === 'fetch')
          throw new GuestException('PF', `instruction fetch from shared GPA ${hex(gpa)}: a TD can only execute private memory`);
        return this.shared(Math.floor((gpa - sb) / PAGE_SIZE), gpa - sb, access, vcpu);
      }
      return this.tdPrivate(Math.floor(gpa / PAGE_SIZE), gpa, access, vcpu);
    }
    const gfn = Math.floor(gpa / PAGE_SIZE);
    const e = this.ept.get(gfn);
    if (e !== 0 && (access !== 'write' || e & EPT_W)) return (e & EPT_FRAME) - 1;
    if (this.vm.attributes.has(gfn)) return this.swPrivate(gfn, gpa, access, vcpu);
    return this.shared(gfn, gpa, access, vcpu);
  }

  private memoryFault(gpa: number, priv: boolean, why: string, userfault = false): never {
    const page = Math.floor(gpa / PAGE_SIZE) * PAGE_SIZE;
    const flags = (priv ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0) | (userfault ? KVM_MEMORY_EXIT_FLAG_USERFAULT : 0);
    const names = [priv && 'KVM_MEMORY_EXIT_FLAG_PRIVATE', userfault && 'KVM_MEMORY_EXIT_FLAG_USERFAULT'].filter(Boolean).join('|') || 0;
    this.vm.trace('kvm', 'KVM_EXIT_MEMORY_FAULT', { flags: names, gpa: hex(page), size: PAGE_SIZE },
      `KVM_RUN returns -1 (EFAULT) with KVM_EXIT_MEMORY_FAULT: ${why}.`, { gfns: [page / PAGE_SIZE, 1] });
    throw new KvmExitSignal({ reason: 'KVM_EXIT_MEMORY_FAULT', memory_fault: { flags, gpa: page, size: PAGE_SIZE } }, 'EFAULT', why);
  }

  /**
   * KVM Userfault (posted series v3, June 2025; not merged): kvm_do_userfault(). On a fault in a
   * KVM_MEM_USERFAULT slot KVM reads the page's bit in the VMM's bitmap (__get_user()); a set bit
   * exits with KVM_EXIT_MEMORY_FAULT and KVM_MEMORY_EXIT_FLAG_USERFAULT, for shared and private
   * (guest_memfd) pages alike. Pages already mapped never get here: a bit set later takes effect
   * once the mapping is gone (the flag toggled, a zap).
   */
  private checkUserfault(slot: Memslot, gfn: number, gpa: number, priv: boolean): void {
    if (!(slot.flags & KVM_MEM_USERFAULT)) return;
    const offset = gfn - slot.baseGfn;
    const addr = (slot.userfaultBitmap ?? 0) + Math.floor(offset / 8);
    const vmm = this.vm.vmm;
    const f = vmm.lookup(addr);
    let byte = 0;
    if (f >= 0) byte = this.vm.kvm.host.memory.peek(f)?.[addr % PAGE_SIZE] ?? 0;
    else if (!vmm.findVma(addr)) {
      // __get_user() fails: kvm_do_userfault() returns true without filling memory_fault; KVM_RUN is -EFAULT.
      this.memoryFault(gpa, priv, `KVM cannot read the userfault bitmap at ${hex(addr)} (no mapping in the VMM): KVM_RUN returns -EFAULT`, false);
    }
    // An unsigned long bitmap on a little-endian machine: bit `offset` is bit offset % 8 of byte offset / 8.
    if (((byte >>> (offset % 8)) & 1) === 0) return;
    this.memoryFault(gpa, priv,
      `GFN ${hex(gfn)} is marked in memslot ${slot.id}'s userfault bitmap (KVM Userfault, a posted series, not merged): KVM exits so that the VMM fetches the page, clears the bit and re-enters`, true);
  }

  private traceViolation(gfn: number, gpa: number, access: Access, priv: boolean, vcpu: number): void {
    this.stats.eptViolations++;
    this.vm.clock.advance(Cost.eptViolation);
    this.vm.kvm.host.trace.record(EV_EPT_VIOLATION, this.vm.name, vcpu, gfn, 1, gpa, ACCESSES.indexOf(access), (priv ? 1 : 0) | (priv && this.vm.isTd ? 2 : 0));
  }

  private traceGup(gfn: number, hva: number, frame: number, vcpu: number): void {
    this.vm.kvm.host.trace.record(EV_GUP, this.vm.name, vcpu, gfn, 1, hva, frame);
  }

  private traceInstalled(gfn: number, frame: number, writable: boolean, vcpu: number): void {
    this.vm.kvm.host.trace.record(EV_EPT_INSTALLED, this.vm.name, vcpu, gfn, 1, gfn, frame, writable ? 1 : 0);
  }

  // A closure makes V8 allocate its enclosing function's variables on the heap at every call, so
  // this (rarer) event's lazy args and sentence are made here, not in the fault path.
  private traceGmemPfn(gfn: number, index: number, fd: number, frame: number, fresh: boolean, vcpu: number): void {
    this.vm.trace('kvm', 'kvm_gmem_get_pfn', () => ({ gfn: hex(gfn), index, hpa: hex(frame * PAGE_SIZE), fresh }),
      () => `KVM takes page ${index} of guest_memfd ${fd}${fresh ? ' (allocated and cleared now)' : ''} and maps it at GFN ${hex(gfn)}.`, { vcpu, gfns: [gfn, 1] });
  }

  /** A shared access: the page behind the memslot's userspace_addr, through the host page tables. */
  private shared(gfn: number, gpa: number, access: Access, vcpu: number): Translation {
    const e = this.ept.get(gfn);
    if (e !== 0) {
      if (access !== 'write' || e & EPT_W) return (e & EPT_FRAME) - 1;
      return this.writeProtectFault(gfn, e, vcpu);
    }
    const slot = this.vm.findSlot(gfn);
    if (this.vm.isTd && this.vm.attributes.has(gfn)) {
      this.traceViolation(gfn, gpa, access, false, vcpu);
      this.memoryFault(gpa, false, `shared access to ${hex(gpa)}, which is private: KVM exits to user space to convert it`);
    }
    if (!slot) return 'mmio';
    if (access === 'write' && slot.flags & KVM_MEM_READONLY) return 'mmio';
    this.traceViolation(gfn, gpa, access, false, vcpu);
    this.checkUserfault(slot, gfn, gpa, false);
    const hva = gfnToHva(slot, gfn);
    let frame: number;
    try {
      const before = this.vm.vmm.lookup(hva);
      frame = this.vm.vmm.fault(hva, 'get_user_pages', Cost.hostFault, vcpuTid(this.vm.vmm.pid, vcpu), access === 'write');
      if (before < 0) this.traceGup(gfn, hva, frame, vcpu);
    } catch (err) {
      // The page is registered with a userfaultfd (post-copy): the vCPU thread sleeps until it arrives.
      if (err instanceof UserfaultBlocked) throw new UserfaultWait(err);
      if (err instanceof SysError)
        this.memoryFault(gpa, false, `get_user_pages() failed for HVA ${hex(hva)} (${err.errno}): KVM_RUN returns -EFAULT with the fault's GPA`);
      throw err;
    }
    const logging = dirtyTrackEnabled(slot);
    const writable = !logging || access === 'write';
    const ringFull = access === 'write' && logging && this.vm.markDirty(slot, gfn, vcpu);
    this.ept.set(gfn, (frame + 1) | (writable && !(slot.flags & KVM_MEM_READONLY) ? EPT_W : 0));
    this.traceInstalled(gfn, frame, writable, vcpu);
    if (ringFull) this.dirtyRingFull(vcpu);
    return frame;
  }

  /** A write to a write-protected page under dirty logging: mark_page_dirty(), then make it writable. */
  private writeProtectFault(gfn: number, e: number, vcpu: number): number {
    const slot = this.vm.findSlot(gfn);
    this.stats.writeProtectFaults++;
    this.vm.clock.advance(Cost.vmExit);
    if (slot?.flags && slot.flags & KVM_MEM_READONLY) return (e & EPT_FRAME) - 1;
    const ringFull = slot !== undefined && dirtyTrackEnabled(slot) && this.vm.markDirty(slot, gfn, vcpu);
    this.ept.set(gfn, (e | EPT_W) >>> 0);
    if (ringFull) this.dirtyRingFull(vcpu);
    return (e & EPT_FRAME) - 1;
  }

  /**
   * The push filled the vCPU's dirty ring to its soft limit: the page is already writable, but the
   * vCPU exits before entering the guest again (kvm_dirty_ring_check_request() in
   * vcpu_enter_guest()), so the write's instruction runs again after user space has reset the ring.
   */
  private dirtyRingFull(vcpuId: number): never {
    const vcpu = this.vm.vcpus.find((v) => v.id === vcpuId);
    if (!vcpu) throw new Error(`unreachable: vCPU ${vcpuId} pushed a dirty-ring entry but does not exist`);
    return vcpu.dirtyRingFullExit();
  }

  /** A private access in a software-protected VM: the page comes from guest_memfd. */
  private swPrivate(gfn: number, gpa: number, access: Access, vcpu: number): Translation {
    const slot = this.vm.findSlot(gfn);
    this.traceViolation(gfn, gpa, access, true, vcpu);
    if (!slot || !slot.gmem)
      this.memoryFault(gpa, true, `GFN ${hex(gfn)} is private but ${slot ? `memslot ${slot.id} has no guest_memfd` : 'no memslot covers it'}: KVM cannot back it`);
    this.checkUserfault(slot, gfn, gpa, true);
    const index = gfnToGmemIndex(slot, gfn);
    const g = slot.gmem;
    if (g.userfault && g.frameAt(index) < 0) this.gmemUserfault(g, index, gfn, access, vcpu);
    const [frame, fresh] = g.getPfn(index);
    // Dirty logging of private pages (the talk's backend log): a write marks the page, and a read maps it
    // read-only so that the first write comes back here.
    const logging = dirtyTrackEnabled(slot);
    if (logging && access === 'write') this.vm.markDirty(slot, gfn, vcpu);
    this.ept.set(gfn, (frame + 1) | (!logging || access === 'write' ? EPT_W : 0));
    this.traceGmemPfn(gfn, index, g.fd, frame, fresh, vcpu);
    return frame;
  }

  /**
   * The talk's proposal (not upstream): guest_memfd has a userfault fd and does not have the page.
   * The vCPU thread sleeps, as in handle_userfault(), and a message naming the file offset is queued
   * for the VMM; the access is retried when the page has been copied in.
   */
  private gmemUserfault(g: GuestMemfd, index: number, gfn: number, access: Access, vcpu: number): never {
    const tid = vcpuTid(this.vm.vmm.pid, vcpu);
    const queued = g.queueUserfault(index, tid);
    const flags = access === 'write' ? UFFD_PAGEFAULT_FLAG_WRITE : 0;
    if (queued)
      this.vm.trace('kvm', 'UFFD_EVENT_PAGEFAULT', { fd: g.userfault!.fd, guest_memfd: g.fd, offset: hex(index * PAGE_SIZE), ptid: tid, proposal: 'talk' },
        `The talk's proposal (not upstream): guest_memfd ${g.fd} has no page at offset ${hex(index * PAGE_SIZE)} (GFN ${hex(gfn)}) and a userfault fd on it, so kvm_gmem_get_pfn() does not allocate one: vCPU ${vcpu} sleeps and the backend's fd ${g.userfault!.fd} gets a UFFD_EVENT_PAGEFAULT message, as a userfaultfd would.`,
        { vcpu, gfns: [gfn, 1] });
    throw new UserfaultWait(new UserfaultBlocked(g.userfault!.fd, tid, index * PAGE_SIZE, flags, queued));
  }

  /** A private access in a TD: the Secure EPT decides. */
  private tdPrivate(gfn: number, gpa: number, access: Access, vcpu: number): number {
    const td = this.vm.td!;
    for (let attempt = 0; attempt < 2; attempt++) {
      const e = td.sept.get(gfn);
      const state = septState(e);
      if (state === Sept.MAPPED) {
        const f = septFrame(e);
        if (access === 'write' && td.mig.phase !== 'none' && isWriteBlocked(td, gfn)) this.unblockForWrite(gfn, gpa, vcpu);
        const mem = this.vm.kvm.host.memory;
        if (access !== 'write' && mem.isPoisoned(f, gpa % PAGE_SIZE, 1)) {
          this.vm.trace('host', 'machine check', { gpa: hex(gpa), hpa: hex(f * PAGE_SIZE + (gpa % PAGE_SIZE)) },
            `The TD reads a cache line the host overwrote: its integrity check fails and the CPU raises a machine check.`, { vcpu, gfns: [gfn, 1] });
          throw new GuestException('MC', `machine check reading poisoned private memory at ${hex(gpa)}`);
        }
        return f;
      }
      if (state === Sept.PENDING) {
        if (td.septVeDisable) {
          // tdx_handle_ept_violation(): pr_warn("Guest access before accepting 0x%llx on vCPU %d"), kvm_vm_dead(), -EIO.
          this.vm.kill(`Guest access before accepting 0x${(gfn * PAGE_SIZE).toString(16)} on vCPU ${vcpu}`, vcpu, gfn);
          throw new VmDeadSignal('the TD touched a PENDING page with SEPT_VE_DISABLE set');
        }
        this.vm.trace('tdx-module', '#VE', { gpa: hex(gpa), exit_reason: EXIT_REASON_EPT_VIOLATION },
          `The TD touched ${hex(gpa)} before accepting it; without SEPT_VE_DISABLE the TDX module injects a #VE into the guest.`, { vcpu, gfns: [gfn, 1] });
        throw new GuestException('VE', `EPT violation on unaccepted private GPA ${hex(gpa)}`,
          { exitReason: EXIT_REASON_EPT_VIOLATION, exitQualification: access === 'write' ? 2 : 1, gpa });
      }
      if (attempt > 0) break;
      this.traceViolation(gfn, gpa, access, true, vcpu);
      this.tdPrivateFault(gfn, gpa, vcpu);
    }
    throw new Error(`unreachable: private GFN ${hex(gfn)} still unmapped after a fault`);
  }

  /** KVM's handling of a private EPT violation in a TD: check the attribute, take the guest_memfd page, AUG it. */
  tdPrivateFault(gfn: number, gpa: number, _vcpu: number): void {
    const vm = this.vm;
    const td = vm.td!;
    if (!vm.attributes.has(gfn))
      this.memoryFault(gpa, true, `private access to ${hex(gpa)}, which is shared: KVM exits to user space to convert it`);
    const slot = vm.findSlot(gfn);
    if (!slot || !slot.gmem)
      this.memoryFault(gpa, true, `GFN ${hex(gfn)} is private but ${slot ? `memslot ${slot.id} has no guest_memfd` : 'no memslot covers it'}`);
    this.checkUserfault(slot, gfn, gpa, true);
    const [frame] = slot.gmem.getPfn(gfnToGmemIndex(slot, gfn));
    const status = vm.kvm.tdx.memPageAug(td, gfn, frame);
    if (status !== TdxStatus.TDX_SUCCESS) throw new Error(`TDH.MEM.PAGE.AUG failed with ${hex(status)}`);
    // AUG only adds a mapping: nothing a vCPU cached is stale, so no TLB generation bump.
    this.mirror!.set(gfn, frame + 1);
    // While private pages are dirty-logged (a TD migration: not upstream), a page added now is new
    // to the destination: it is logged dirty so that it is exported too.
    if (vm.privateDirtyLog !== 'none' && dirtyTrackEnabled(slot)) vm.markDirty(slot, gfn, _vcpu);
  }

  /**
   * A guest write to a private page the TDX module write-blocked for export (Intel's KVM tree for
   * TD migration, not upstream): the EPT violation exits to KVM, which calls TDH.EXPORT.UNBLOCKW and
   * logs the page dirty (mark_page_dirty()), then the write goes on.
   */
  private unblockForWrite(gfn: number, gpa: number, vcpu: number): void {
    const vm = this.vm;
    this.traceViolation(gfn, gpa, 'write', true, vcpu);
    const st = exportUnblockw(vm.kvm.tdx, vm.td!, gfn, vcpu);
    if (st !== TdxStatus.TDX_SUCCESS) throw new Error(`TDH.EXPORT.UNBLOCKW failed with ${hex(st)}`);
    const slot = vm.findSlot(gfn);
    const ringFull = slot !== undefined && dirtyTrackEnabled(slot) && vm.markDirty(slot, gfn, vcpu);
    if (ringFull) this.dirtyRingFull(vcpu);
  }

  /**
   * Write-protect private pages of a TD for dirty logging (a TD migration: Intel's KVM tree, not
   * upstream): TDH.EXPORT.BLOCKW in lists of at most 512 GPAs, then TDH.MEM.TRACK and a kick of every
   * vCPU so that no TLB entry still allows a write. Pages not in the Secure EPT, or already blocked,
   * are left out.
   */
  writeBlockPrivate(gfns: readonly number[]): number {
    const vm = this.vm;
    const td = vm.td;
    if (!td || td.mig.phase === 'none') return 0;
    const list = gfns.filter((g) => {
      const s = td.stateOf(g);
      return (s === Sept.MAPPED || s === Sept.PENDING) && !isWriteBlocked(td, g);
    });
    if (list.length === 0) return 0;
    const tdx = vm.kvm.tdx;
    const calls = Math.ceil(list.length / MIG_LIST_MAX);
    const body = (): void => {
      for (let k = 0; k < list.length; k += MIG_LIST_MAX) {
        const st = exportBlockw(tdx, td, list.slice(k, k + MIG_LIST_MAX));
        if (st !== TdxStatus.TDX_SUCCESS) throw new Error(`TDH.EXPORT.BLOCKW failed with ${hex(st)}`);
      }
      tdx.memTrack(td);
    };
    if (calls <= 4) body();
    else {
      vm.kvm.host.trace.quietly(body);
      vm.trace('tdx-module', 'TDH.EXPORT.BLOCKW', { gpas: list.length, calls },
        `The TDX module write-blocks ${list.length} private pages in ${calls} calls of at most ${MIG_LIST_MAX} GPAs, then TDH.MEM.TRACK flushes the TLBs (the TDX module's TD migration: Intel's trees, not upstream).`,
        { gfns: [list[0], list[list.length - 1] - list[0] + 1] });
    }
    this.generation++;
    return list.length;
  }

  /** Zap the (shared) EPT entries of [gfn, gfn+count). */
  zapShared(gfn: number, count: number): number {
    let n = 0;
    this.ept.forEachSet(gfn, count, (g) => {
      this.ept.set(g, 0);
      n++;
    });
    if (n) {
      this.generation++;
      this.stats.zapped += n;
    }
    return n;
  }

  /**
   * Zap private mappings of [gfn, gfn+count): for a TD the Secure-EPT removal sequence
   * (TDH.MEM.RANGE.BLOCK → TDH.MEM.TRACK and a kick of every vCPU → TDH.MEM.PAGE.REMOVE); for a
   * software-protected VM, the EPT entries of GFNs that are private.
   */
  zapPrivate(gfn: number, count: number, why: string): number {
    const vm = this.vm;
    if (!vm.td) {
      let n = 0;
      for (const [a, b] of vm.attributes.intersect(gfn, gfn + count)) n += this.zapShared(a, b - a);
      if (n) vm.trace('kvm', 'kvm_mmu_unmap_gfn_range', { gfn: hex(gfn), count, zapped: n, why },
        `${why}: KVM zaps ${n} private mapping(s) in [${hex(gfn * PAGE_SIZE)}, ${hex((gfn + count) * PAGE_SIZE)}).`, { gfns: [gfn, count] });
      return n;
    }
    const td = vm.td;
    const tdx = vm.kvm.tdx;
    const present: number[] = [];
    this.mirror!.forEachSet(gfn, count, (g) => present.push(g));
    if (present.length === 0) return 0;
    const body = (): void => {
      for (const g of present) tdx.memRangeBlock(td, g);
      tdx.memTrack(td);
      for (const g of present) {
        tdx.memPageRemove(td, g);
        this.mirror!.set(g, 0);
      }
    };
    if (present.length <= TRACE_PER_PAGE_LIMIT) body();
    else {
      vm.kvm.host.trace.quietly(body);
      vm.trace('tdx-module', 'TDH.MEM.RANGE.BLOCK', { pages: present.length }, `${present.length} Secure-EPT entries are blocked.`, { gfns: [gfn, count] });
      vm.trace('tdx-module', 'TDH.MEM.TRACK', { epoch: td.tlbEpoch }, 'A new TLB epoch starts and every vCPU is kicked.');
      vm.trace('tdx-module', 'TDH.MEM.PAGE.REMOVE', { pages: present.length },
        `${present.length} private pages are removed from the TD, flushed and cleared.`, { gfns: [gfn, count] });
    }
    this.generation++;
    this.stats.zapped += present.length;
    vm.trace('kvm', 'kvm_mmu_unmap_gfn_range', { gfn: hex(gfn), count, zapped: present.length, why },
      `${why}: KVM removes ${present.length} private page(s) from the TD's Secure EPT.`, { gfns: [gfn, count] });
    return present.length;
  }

  /** Write-protect the present, writable EPT entries of [gfn, gfn+count) (dirty logging). */
  writeProtect(gfn: number, count: number): number {
    let n = 0;
    this.ept.forEachSet(gfn, count, (g, e) => {
      if (e & EPT_W) {
        this.ept.set(g, (e & EPT_FRAME) >>> 0);
        n++;
      }
    });
    if (n) this.generation++;
    return n;
  }

  /** Pre-fault a private GFN for TDG.MEM.PAGE.ACCEPT, which exits to KVM when no Secure-EPT entry exists. */
  faultForAccept(gfn: number, vcpu: number): void {
    const td = this.vm.td;
    if (td && td.mig.phase !== 'none' && isWriteBlocked(td, gfn)) {
      this.unblockForWrite(gfn, gfn * PAGE_SIZE, vcpu);
      return;
    }
    this.traceViolation(gfn, gfn * PAGE_SIZE, 'write', true, vcpu);
    this.tdPrivateFault(gfn, gfn * PAGE_SIZE, vcpu);
  }

  /** Present mappings in [gfn, gfn+count): shared EPT and (TD) Secure EPT. */
  countMapped(gfn: number, count: number): { shared: number; private: number } {
    let s = 0;
    let p = 0;
    this.ept.forEachSet(gfn, count, () => s++);
    this.mirror?.forEachSet(gfn, count, () => p++);
    return { shared: s, private: p };
  }

  get bytes(): number {
    return this.ept.allocatedBytes + (this.mirror?.allocatedBytes ?? 0);
  }

}

export type { Memslot };
