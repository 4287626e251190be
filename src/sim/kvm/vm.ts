import type { Clock } from '../core/clock';
import { fail } from '../core/errno';
import { RangeSet } from '../core/range-set';
import type { ArgValue, EventContext, Layer, Lazy } from '../core/trace';
import { hexU64, narrow, unknownBits, type U64 } from '../core/u64';
import { PAGE_SIZE, formatSize, hex, isPageAligned } from '../core/units';
import type { Process } from '../host/process';
import type { Td } from '../tdx/module';
import { GuestMemfd } from './guest-memfd';
import type { Kvm } from './kvm';
import { gfnToHva, slotContains, type Memslot, type UserspaceMemoryRegion2 } from './memslot';
import { Mmu } from './mmu';
import { KVM_MSR_EXIT_REASON_VALID_MASK, VmMsrPolicy, parseMsrFilter, userSpaceMsrNames, type KvmMsrFilter } from './msr-filter';
import { KVM_DIRTY_GFN_BYTES, KVM_DIRTY_RING_MAX_ENTRIES, dirtyRingRsvdEntries } from './dirty-ring';
import {
  KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_EXIT_HYPERCALL, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_CAP_X86_USER_SPACE_MSR,
  KVM_DIRTY_LOG_INITIALLY_SET, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, KVM_HC_MAP_GPA_RANGE,
  KVM_MEMORY_ATTRIBUTE_PRIVATE, KVM_MEM_GUEST_MEMFD, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KVM_MEM_USERFAULT,
  KVM_MAX_NR_ADDRESS_SPACES, KVM_USER_MEM_SLOTS, KVM_X86_DEFAULT_VM, KVM_X86_TDX_VM, VM_TYPE_NAMES,
} from './uapi';
import { u32Arg, u64Arg } from './u64-arg';
import { Vcpu } from './vcpu';

/** struct kvm_memory_attributes */
export interface MemoryAttributes {
  address: number;
  size: number;
  /** __u64 */
  attributes: U64;
  /** __u64 */
  flags?: U64;
}

/** A simulated file descriptor in the VMM's table. */
export type FdObject = { kind: 'guest_memfd'; gmem: GuestMemfd } | { kind: 'vm'; vm: Vm } | { kind: 'vcpu'; vcpu: Vcpu };

/** The largest memslot KVM accepts (KVM_MEM_MAX_NR_PAGES = 2^31 - 1 pages). */
const KVM_MEM_MAX_NR_PAGES = 2 ** 31 - 1;

/**
 * One VM (struct kvm): its memslots, memory attributes, guest_memfd files, vCPUs and MMU.
 * Methods are the VM ioctls; each either returns a value or throws SysError (the -1/errno).
 */
export class Vm {
  /** Wiring: the VMM's in-kernel device hook, registered again when the VMM is built. */
  static readonly stateSkip: readonly string[] = ['kernelIo'];
  readonly slots = new Map<number, Memslot>();
  /** Memory attributes: the GFNs marked KVM_MEMORY_ATTRIBUTE_PRIVATE. All memory starts shared. */
  readonly attributes = new RangeSet();
  /** Bumped when memslots or memory attributes change (what every page's state is computed against). */
  layoutVersion = 0;
  readonly gmems = new Map<number, GuestMemfd>();
  readonly vcpus: Vcpu[] = [];
  readonly mmu: Mmu;
  /** The TD in the TDX module, once KVM_TDX_INIT_VM has run (created at KVM_CREATE_VM here). */
  td: Td | null = null;
  /** Hypercalls user space asked to handle (KVM_CAP_EXIT_HYPERCALL). */
  exitHypercalls = 0;
  /** KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 flags enabled on this VM. */
  manualDirtyLogProtect = 0;
  /**
   * kvm->dirty_ring_size: the bytes of each vCPU's dirty ring (KVM_CAP_DIRTY_LOG_RING), 0 without one.
   * With a ring, x86 keeps no dirty bitmap (kvm_use_dirty_bitmap() is false): the ring replaces it.
   */
  dirtyRingSize = 0;
  /**
   * Dirty logging of private (guest_memfd) memory, which upstream KVM refuses
   * (check_memory_region_flags()): 'talk' is the talk's proposal (the log kept in guest_memfd,
   * mark_page_dirty() records there), 'tdx-module' Intel's downstream KVM for TD migration (the
   * slot's bitmap, private pages write-blocked through TDH.EXPORT.BLOCKW). Neither is upstream.
   */
  privateDirtyLog: 'none' | 'talk' | 'tdx-module' = 'none';
  /** KVM_CAP_X86_USER_SPACE_MSR: the KVM_MSR_EXIT_REASON_* that exit to user space (kvm->arch.user_space_msr_mask). */
  userSpaceMsr = 0;
  /**
   * Port and MMIO accesses KVM answers itself, before any exit to user space: the devices of the
   * in-kernel irqchip and PIT on kvm_io_bus and, in the talk's design, the allow-list check. The
   * VMM registers it (as KVM_CREATE_IRQCHIP registers KVM's devices). Returns the value read, or
   * null when the access must exit to user space.
   */
  kernelIo: ((space: 'port' | 'mmio', addr: number, size: number, isWrite: boolean, value: number) => number | null) | null = null;
  /** The MSR filter (KVM_X86_SET_MSR_FILTER), the talk's MSR constraints and access counters. */
  readonly msrPolicy = new VmMsrPolicy();
  /** KVM_CREATE_IRQCHIP / KVM_CAP_SPLIT_IRQCHIP: with a local APIC in KVM, HLT blocks instead of exiting. */
  irqchip: 'none' | 'kernel' | 'split' = 'none';
  /** Set when KVM killed the VM (KVM_BUG_ON, or a TD touching an unaccepted page). */
  dead: string | null = null;
  readonly vmId: number;

  constructor(readonly kvm: Kvm, readonly type: number, readonly name: string, readonly fd: number, readonly vmm: Process) {
    this.vmId = kvm.vms.length + 1;
    this.trace('kvm', 'KVM_CREATE_VM', { type, type_name: VM_TYPE_NAMES[type], fd },
      `KVM creates VM "${name}" of type ${VM_TYPE_NAMES[type]} (${type}); the VMM gets fd ${fd}.`);
    if (type === KVM_X86_TDX_VM) {
      // The TDR and the HKID: KVM creates them at KVM_TDX_INIT_VM; the simulator does it here so that
      // the Secure EPT exists from the start.
      this.td = kvm.tdx.mngCreate(name, 2 ** 40);
    }
    this.mmu = new Mmu(this);
    vmm.addMmuNotifier((start, end, why) => this.mmuNotifierInvalidate(start, end, why));
  }

  get clock(): Clock {
    return this.kvm.host.clock;
  }

  get isTd(): boolean {
    return this.type === KVM_X86_TDX_VM;
  }

  get hasPrivateMemory(): boolean {
    return this.type !== KVM_X86_DEFAULT_VM;
  }

  trace(layer: Layer, name: string, args: Lazy<Record<string, ArgValue>>, text: Lazy<string>, ctx: EventContext = {}): void {
    this.kvm.host.trace.emitFor(ctx.vm === undefined ? this.name : ctx.vm, layer, name, args, text, ctx);
  }

  /** KVM_CHECK_EXTENSION on the VM fd. */
  checkExtension(cap: number): number {
    return this.kvm.checkExtension(cap, this);
  }

  /** KVM_ENABLE_CAP on the VM fd. struct kvm_enable_cap's args[4] are __u64: checked on all 64 bits. */
  enableCap(cap: number, args: U64[]): number {
    const big = args.map((a, k) => u64Arg(a, `args[${k}]`));
    const a0big = big[0] ?? 0n;
    /** args[0] with no bit outside `allowed`, as a number; EINVAL names the unknown bits. */
    const onlyKnown = (allowed: number, what: string): number => {
      const bad = unknownBits(a0big, allowed);
      if (bad) fail('EINVAL', `${what} ${hexU64(bad)}`);
      return narrow(a0big);
    };
    switch (cap) {
      case KVM_CAP_EXIT_HYPERCALL: {
        this.exitHypercalls = onlyKnown(1 << KVM_HC_MAP_GPA_RANGE, 'KVM_CAP_EXIT_HYPERCALL: these hypercalls cannot exit to user space:');
        return 0;
      }
      case KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: {
        this.manualDirtyLogProtect = onlyKnown(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET, 'KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: unknown flags');
        return 0;
      }
      case KVM_CAP_X86_USER_SPACE_MSR: {
        // kvm_vm_ioctl_enable_cap(): only KVM_MSR_EXIT_REASON_VALID_MASK bits.
        const a0 = onlyKnown(KVM_MSR_EXIT_REASON_VALID_MASK, 'KVM_CAP_X86_USER_SPACE_MSR: unknown exit reasons');
        this.userSpaceMsr = a0;
        const names = userSpaceMsrNames(a0);
        this.trace('kvm', 'KVM_ENABLE_CAP', { cap: 'KVM_CAP_X86_USER_SPACE_MSR', args0: a0, reasons: names },
          names.length ? `From now on an MSR access KVM cannot complete (${names.join(', ')}) exits to the VMM instead of injecting #GP.`
            : 'MSR accesses KVM cannot complete inject #GP again; none exit to the VMM.');
        return 0;
      }
      case KVM_CAP_DIRTY_LOG_RING:
      case KVM_CAP_DIRTY_LOG_RING_ACQ_REL:
        // kvm_vm_ioctl_enable_dirty_log_ring(kvm, cap->args[0]) takes a u32: the upper bits are dropped.
        return this.enableDirtyLogRing(cap, Number(a0big & 0xffffffffn));
      default:
        if (this.checkExtension(cap) === 0) fail('EINVAL', `capability ${cap} cannot be enabled on this VM`);
        return 0;
    }
  }

  /** kvm_vm_ioctl_enable_dirty_log_ring(): the checks in the kernel's order, then kvm->dirty_ring_size. */
  private enableDirtyLogRing(cap: number, size: number): number {
    const name = cap === KVM_CAP_DIRTY_LOG_RING ? 'KVM_CAP_DIRTY_LOG_RING' : 'KVM_CAP_DIRTY_LOG_RING_ACQ_REL';
    const rsvd = dirtyRingRsvdEntries();
    const max = KVM_DIRTY_RING_MAX_ENTRIES * KVM_DIRTY_GFN_BYTES;
    if (size === 0 || (size & (size - 1)) !== 0) fail('EINVAL', `${name}: the ring size ${size} (bytes) is not a power of two`);
    if (size < rsvd * KVM_DIRTY_GFN_BYTES || size < PAGE_SIZE)
      fail('EINVAL', `${name}: ${size} bytes is too small: the ring must hold the ${rsvd} reserved entries (${rsvd * KVM_DIRTY_GFN_BYTES} bytes) and at least a page`);
    if (size > max) fail('E2BIG', `${name}: ${size} bytes is more than KVM_DIRTY_RING_MAX_ENTRIES (${KVM_DIRTY_RING_MAX_ENTRIES} entries, ${max} bytes)`);
    if (this.dirtyRingSize) fail('EINVAL', `${name}: the dirty ring is already enabled (${this.dirtyRingSize} bytes); it can be set only once`);
    if (this.vcpus.length) fail('EINVAL', `${name}: "${this.name}" already has ${this.vcpus.length} vCPU(s); the ring size cannot be set after KVM_CREATE_VCPU`);
    this.dirtyRingSize = size;
    const entries = size / KVM_DIRTY_GFN_BYTES;
    this.trace('kvm', 'KVM_ENABLE_CAP', { cap: name, size, entries, soft_limit: entries - rsvd },
      `"${this.name}" gets a dirty ring of ${entries} entries per vCPU instead of a dirty bitmap: a vCPU exits with KVM_EXIT_DIRTY_RING_FULL once ${entries - rsvd} entries wait (${rsvd} are kept in reserve).`);
    return 0;
  }

  /**
   * KVM_RESET_DIRTY_RINGS (kvm_vm_ioctl_reset_dirty_pages()): every vCPU's harvested entries go back
   * to invalid and their pages are write-protected again (kvm_reset_dirty_gfn()). Returns the count.
   */
  resetDirtyRings(): number {
    if (!this.dirtyRingSize) fail('EINVAL', `"${this.name}" has no dirty ring (KVM_CAP_DIRTY_LOG_RING is not enabled)`);
    let cleared = 0;
    const perVcpu: number[] = [];
    for (const v of this.vcpus) {
      const n = v.dirtyRing.reset((slotArg, offset) => {
        // kvm_reset_dirty_gfn(): as_id in the upper 16 bits; a slot gone (or too small) since is skipped.
        const slot = slotArg >>> 16 === 0 ? this.slots.get(slotArg & 0xffff) : undefined;
        if (!slot || offset >= slot.npages) return;
        this.mmu.writeProtect(slot.baseGfn + offset, 1);
      });
      perVcpu.push(n);
      cleared += n;
    }
    this.trace('kvm', 'KVM_RESET_DIRTY_RINGS', { cleared, per_vcpu: perVcpu.join(',') },
      cleared ? `KVM resets ${cleared} harvested dirty-ring entr${cleared === 1 ? 'y' : 'ies'} (${perVcpu.map((n, k) => `vCPU ${this.vcpus[k].id}: ${n}`).join(', ')}) and write-protects those pages again, so the next write to each is caught.`
        : 'KVM_RESET_DIRTY_RINGS finds no harvested entry to reset.');
    return cleared;
  }

  /**
   * KVM_X86_SET_MSR_FILTER: replaces the VM's filter atomically (a failed call keeps the old one).
   * A filter with KVM_MSR_FILTER_DEFAULT_ALLOW and no ranges removes filtering.
   */
  setMsrFilter(filter: KvmMsrFilter): number {
    const f = parseMsrFilter(filter);
    this.msrPolicy.filter = f.defaultAllow && f.ranges.length === 0 ? null : f;
    this.trace('kvm', 'KVM_X86_SET_MSR_FILTER',
      { flags: f.defaultAllow ? 'KVM_MSR_FILTER_DEFAULT_ALLOW' : 'KVM_MSR_FILTER_DEFAULT_DENY', ranges: f.ranges.map((r) => `${hex(r.base)}+${r.nmsrs}`) },
      this.msrPolicy.filter
        ? `KVM installs an MSR filter: ${f.ranges.length} range(s) decide by bitmap, every other MSR is ${f.defaultAllow ? 'allowed' : 'denied'} (x2APIC MSRs are never filtered).`
        : 'KVM removes the MSR filter: every MSR access is handled as before.');
    return 0;
  }

  /**
   * KVM_CREATE_GUEST_MEMFD {size, flags (__u64)}: returns the new fd. kvm_gmem_create() checks only
   * `flags & ~kvm_gmem_get_supported_flags(kvm)` and the size, on every VM type (docs/abi-sources.md).
   */
  createGuestMemfd(size: number, flagsArg: U64): GuestMemfd {
    const flags = GuestMemfd.validateFlags(u64Arg(flagsArg, 'guest_memfd flags'), this.hasPrivateMemory);
    if (size <= 0 || !isPageAligned(size)) fail('EINVAL', `size ${hex(size)} must be non-zero and page aligned`);
    const gmem = new GuestMemfd(this, this.kvm.allocFd(), this.kvm.allocIno(), size, flags);
    this.gmems.set(gmem.fd, gmem);
    this.trace('kvm', 'KVM_CREATE_GUEST_MEMFD', { size: hex(size), flags, fd: gmem.fd },
      `KVM creates guest_memfd ${gmem.fd} of ${formatSize(size)} for "${this.name}": private memory the VMM cannot read, write or map.`);
    return gmem;
  }

  findSlot(gfn: number): Memslot | undefined {
    for (const s of this.slots.values()) if (slotContains(s, gfn)) return s;
    return undefined;
  }

  /** KVM_SET_USER_MEMORY_REGION2 (and KVM_SET_USER_MEMORY_REGION when guest_memfd fields are absent). */
  setUserMemoryRegion2(region: UserspaceMemoryRegion2): number {
    // kvm_userspace_memory_region2.flags is a __u32: more bits cannot be passed at all.
    const r = { ...region, flags: u32Arg(region.flags, 'memslot flags') };
    // check_memory_region_flags()
    let valid = KVM_MEM_LOG_DIRTY_PAGES;
    if (this.hasPrivateMemory) valid |= KVM_MEM_GUEST_MEMFD;
    // x86: read-only memslots except for VMs with protected state (TDX), and never with guest_memfd.
    if (!this.isTd && !(r.flags & KVM_MEM_GUEST_MEMFD)) valid |= KVM_MEM_READONLY;
    // Dirty logging of private memory is not supported (upstream; the designs that keep a log of
    // private pages accept it: privateDirtyLog).
    if (r.flags & KVM_MEM_GUEST_MEMFD && this.privateDirtyLog === 'none') valid &= ~KVM_MEM_LOG_DIRTY_PAGES;
    // KVM Userfault (posted series, not merged): check_memory_region_flags() adds KVM_MEM_USERFAULT
    // where the architecture selects HAVE_KVM_USERFAULT (x86 and arm64), for every VM type.
    if (this.kvm.userfaultSeries) valid |= KVM_MEM_USERFAULT;
    if (r.flags & ~valid) {
      const bad = r.flags & ~valid;
      const why =
        bad & KVM_MEM_LOG_DIRTY_PAGES && r.flags & KVM_MEM_GUEST_MEMFD ? 'KVM_MEM_LOG_DIRTY_PAGES cannot be combined with KVM_MEM_GUEST_MEMFD: dirty logging of private memory is not supported'
        : bad & KVM_MEM_READONLY && r.flags & KVM_MEM_GUEST_MEMFD ? 'KVM_MEM_READONLY cannot be combined with KVM_MEM_GUEST_MEMFD'
        : bad & KVM_MEM_READONLY ? 'a TD cannot have read-only memslots'
        : bad & KVM_MEM_GUEST_MEMFD ? `a ${VM_TYPE_NAMES[this.type]} has no private memory, so KVM_MEM_GUEST_MEMFD is invalid`
        : bad & KVM_MEM_USERFAULT ? 'KVM_MEM_USERFAULT (1 << 3) is from the KVM Userfault series, which is not merged: this host\'s kernel does not have it (a scenario host gets it with kernel_series: ["kvm-userfault"])'
        : `unknown memslot flags ${hex(bad)}`;
      fail('EINVAL', why);
    }
    if (!Number.isInteger(r.slot) || r.slot < 0 || r.slot >= KVM_USER_MEM_SLOTS)
      fail('EINVAL', `slot ${r.slot} is out of range (KVM_CAP_NR_MEMSLOTS is ${KVM_USER_MEM_SLOTS})`);
    if (!isPageAligned(r.memory_size)) fail('EINVAL', `memory_size ${hex(r.memory_size)} is not page aligned`);
    if (!isPageAligned(r.guest_phys_addr)) fail('EINVAL', `guest_phys_addr ${hex(r.guest_phys_addr)} is not page aligned`);
    if (!isPageAligned(r.userspace_addr)) fail('EINVAL', `userspace_addr ${hex(r.userspace_addr)} is not page aligned`);
    if (r.flags & KVM_MEM_GUEST_MEMFD && !isPageAligned(r.guest_memfd_offset ?? 0))
      fail('EINVAL', `guest_memfd_offset ${hex(r.guest_memfd_offset ?? 0)} is not page aligned`);
    if (r.memory_size / PAGE_SIZE > KVM_MEM_MAX_NR_PAGES) fail('EINVAL', 'memory_size exceeds KVM_MEM_MAX_NR_PAGES');
    if (r.flags & KVM_MEM_USERFAULT) checkUserfaultBitmap(r.userfault_bitmap ?? 0, r.memory_size / PAGE_SIZE);
    const old = this.slots.get(r.slot);
    if (r.memory_size === 0) {
      if (!old) fail('EINVAL', `slot ${r.slot} does not exist, so it cannot be deleted`);
      this.deleteSlot(old);
      return 0;
    }
    const baseGfn = r.guest_phys_addr / PAGE_SIZE;
    const npages = r.memory_size / PAGE_SIZE;
    if (old) {
      // Private memslots are immutable (kvm_set_memory_region()); the designs that log private
      // pages (not upstream) let dirty logging be switched on and off on them, and the KVM Userfault
      // series (not merged) relaxes the rule to "not moved", so that KVM_MEM_USERFAULT can be toggled.
      const mayChange = (this.privateDirtyLog !== 'none' ? KVM_MEM_LOG_DIRTY_PAGES : 0) | KVM_MEM_USERFAULT;
      if ((old.gmem || r.flags & KVM_MEM_GUEST_MEMFD) && (old.gmem === undefined || ((old.flags ^ r.flags) & ~mayChange) !== 0))
        fail('EINVAL', `memslot ${r.slot} has guest_memfd: such slots can only be created or deleted${this.kvm.userfaultSeries ? ' (or, with the KVM Userfault series, have KVM_MEM_USERFAULT toggled)' : ''}`);
      if (old.npages !== npages) fail('EINVAL', `memslot ${r.slot} cannot change size`);
      if (old.baseGfn !== baseGfn) fail('EINVAL', 'moving a memslot is not simulated');
      if (old.userspaceAddr !== r.userspace_addr) fail('EINVAL', `memslot ${r.slot} cannot change userspace_addr`);
      if ((old.flags ^ r.flags) & KVM_MEM_READONLY) fail('EINVAL', 'KVM_MEM_READONLY cannot change on an existing memslot');
      // kvm_set_memory_region(): the same flags are "nothing to change" (the bitmap address is not taken either).
      if (old.flags === r.flags && r.flags & KVM_MEM_USERFAULT) return 0;
      this.changeSlotFlags(old, r.flags, r.userfault_bitmap ?? 0);
      return 0;
    }
    for (const s of this.slots.values()) {
      if (baseGfn < s.baseGfn + s.npages && s.baseGfn < baseGfn + npages)
        fail('EEXIST', `[${hex(r.guest_phys_addr)}, ${hex(r.guest_phys_addr + r.memory_size)}) overlaps memslot ${s.id}`);
    }
    const slot: Memslot = { id: r.slot, baseGfn, npages, flags: r.flags, userspaceAddr: r.userspace_addr, gmemPgoff: 0 };
    if (r.flags & KVM_MEM_USERFAULT) slot.userfaultBitmap = r.userfault_bitmap ?? 0;
    if (r.flags & KVM_MEM_GUEST_MEMFD) {
      const gmem = this.kvm.vms.flatMap((v) => [...v.gmems.values()]).find((g) => g.fd === r.guest_memfd);
      if (!gmem) fail('EINVAL', `fd ${r.guest_memfd} is not a guest_memfd`);
      if (gmem.vm !== this) fail('EINVAL', `guest_memfd ${gmem.fd} belongs to VM "${gmem.vm.name}", not "${this.name}"`);
      slot.gmemPgoff = (r.guest_memfd_offset ?? 0) / PAGE_SIZE;
      gmem.bind({ slot: r.slot, pgoff: slot.gmemPgoff, npages, baseGfn });
      slot.gmem = gmem;
    }
    if (r.flags & KVM_MEM_LOG_DIRTY_PAGES) this.startDirtyLog(slot);
    this.slots.set(r.slot, slot);
    this.layoutVersion++;
    this.trace('kvm', 'KVM_SET_USER_MEMORY_REGION2',
      { slot: r.slot, flags: r.flags, guest_phys_addr: hex(r.guest_phys_addr), memory_size: hex(r.memory_size), userspace_addr: hex(r.userspace_addr),
        guest_memfd: slot.gmem ? slot.gmem.fd : -1, guest_memfd_offset: hex(slot.gmemPgoff * PAGE_SIZE) },
      `Memslot ${r.slot} maps GPA [${hex(r.guest_phys_addr)}, ${hex(r.guest_phys_addr + r.memory_size)}) to the VMM's memory at ${hex(r.userspace_addr)}` +
        (slot.gmem ? ` for shared pages and to guest_memfd ${slot.gmem.fd} at offset ${hex(slot.gmemPgoff * PAGE_SIZE)} for private ones.` : '.'),
      { gfns: [baseGfn, npages] });
    return 0;
  }

  private changeSlotFlags(slot: Memslot, flags: number, userfaultBitmap: number): void {
    const was = slot.flags & KVM_MEM_LOG_DIRTY_PAGES;
    const wasUserfault = slot.flags & KVM_MEM_USERFAULT;
    slot.flags = flags;
    if (!was && flags & KVM_MEM_LOG_DIRTY_PAGES) this.startDirtyLog(slot);
    if (was && !(flags & KVM_MEM_LOG_DIRTY_PAGES)) slot.dirtyBitmap = undefined;
    slot.userfaultBitmap = flags & KVM_MEM_USERFAULT ? userfaultBitmap : undefined;
    if ((wasUserfault ^ flags) & KVM_MEM_USERFAULT) {
      // kvm_commit_memory_region(): enabling KVM_MEM_USERFAULT calls kvm_arch_userfault_enabled(),
      // which drops every translation of the slot, so that each page marked in the bitmap faults again.
      const zapped = flags & KVM_MEM_USERFAULT ? this.mmu.zapShared(slot.baseGfn, slot.npages) + this.mmu.zapPrivate(slot.baseGfn, slot.npages, `KVM_MEM_USERFAULT is enabled on memslot ${slot.id}`) : 0;
      this.trace('kvm', 'KVM_SET_USER_MEMORY_REGION2', { slot: slot.id, flags, userfault_bitmap: hex(userfaultBitmap), zapped },
        flags & KVM_MEM_USERFAULT
          ? `KVM Userfault (a posted series, not merged): memslot ${slot.id} gets KVM_MEM_USERFAULT with its bitmap at ${hex(userfaultBitmap)}; KVM drops all ${zapped} mapping(s) of the slot, and from now on a vCPU touching a page whose bit is set exits to user space.`
          : `Memslot ${slot.id} leaves KVM_MEM_USERFAULT: its bitmap is no longer read.`, { gfns: [slot.baseGfn, slot.npages] });
      return;
    }
    const priv = slot.gmem && this.privateDirtyLog !== 'none'
      ? this.privateDirtyLog === 'talk'
        ? " Its private pages are logged too, in guest_memfd's own log (the talk's proposal, not upstream: upstream KVM refuses this flag on a guest_memfd slot)."
        : " Its private pages are logged too, write-blocked through the TDX module (Intel's KVM tree for TD migration, not upstream: upstream KVM refuses this flag on a guest_memfd slot)."
      : '';
    this.trace('kvm', 'KVM_SET_USER_MEMORY_REGION2', { slot: slot.id, flags },
      `Memslot ${slot.id} ${flags & KVM_MEM_LOG_DIRTY_PAGES ? 'starts' : 'stops'} dirty logging.${flags & KVM_MEM_LOG_DIRTY_PAGES ? priv : ''}`, { gfns: [slot.baseGfn, slot.npages] });
  }

  private startDirtyLog(slot: Memslot): void {
    // kvm_prepare_memory_region(): the bitmap only if kvm_use_dirty_bitmap() (no ring on x86).
    if (!this.dirtyRingSize) slot.dirtyBitmap = new Uint32Array(Math.ceil(slot.npages / 32));
    if (slot.gmem && this.privateDirtyLog === 'talk' && !slot.gmem.dirtyLog) slot.gmem.dirtyLog = new Uint32Array(Math.ceil(slot.gmem.npages / 32));
    if (this.manualDirtyLogProtect & KVM_DIRTY_LOG_INITIALLY_SET) {
      // KVM_DIRTY_LOG_INITIALLY_SET: every page starts dirty and stays writable until cleared.
      slot.dirtyBitmap?.fill(0xffffffff);
      return;
    }
    this.mmu.writeProtect(slot.baseGfn, slot.npages);
    if (this.logsPrivate(slot)) {
      const gfns: number[] = [];
      this.td!.sept.forEachSet(slot.baseGfn, slot.npages, (g) => gfns.push(g));
      this.mmu.writeBlockPrivate(gfns);
    }
  }

  /** A TD slot whose private pages are dirty-logged (a design that is not upstream): write-protecting them goes through the TDX module. */
  private logsPrivate(slot: Memslot): boolean {
    return this.td !== null && slot.gmem !== undefined && this.privateDirtyLog !== 'none';
  }

  private deleteSlot(slot: Memslot): void {
    this.mmu.zapShared(slot.baseGfn, slot.npages);
    this.mmu.zapPrivate(slot.baseGfn, slot.npages, `memslot ${slot.id} is deleted`);
    slot.gmem?.unbind(slot.id);
    this.slots.delete(slot.id);
    this.layoutVersion++;
    this.trace('kvm', 'KVM_SET_USER_MEMORY_REGION2', { slot: slot.id, memory_size: 0 },
      `Memslot ${slot.id} is deleted; every mapping of [${hex(slot.baseGfn * PAGE_SIZE)}, ${hex((slot.baseGfn + slot.npages) * PAGE_SIZE)}) is zapped.`,
      { gfns: [slot.baseGfn, slot.npages] });
  }

  /** KVM_SET_MEMORY_ATTRIBUTES. Zaps what changes; never copies data. */
  setMemoryAttributes(a: MemoryAttributes): number {
    const supported = this.checkExtension(233 /* KVM_CAP_MEMORY_ATTRIBUTES */);
    // kvm_vm_ioctl_set_mem_attributes(): flags and attributes are __u64, every unknown bit is EINVAL.
    const flags = u64Arg(a.flags ?? 0, 'flags');
    if (flags) fail('EINVAL', `flags must be 0 (got ${hexU64(flags)})`);
    const attrs = u64Arg(a.attributes, 'attributes');
    if (unknownBits(attrs, supported))
      fail('EINVAL', `attributes ${hexU64(attrs)} are not supported by a ${VM_TYPE_NAMES[this.type]} (supported: ${hex(supported)})`);
    const attributes = narrow(attrs);
    if (a.size === 0) fail('EINVAL', 'size must be non-zero');
    if (!isPageAligned(a.address) || !isPageAligned(a.size)) fail('EINVAL', `address ${hex(a.address)} and size ${hex(a.size)} must be page aligned`);
    const start = a.address / PAGE_SIZE;
    const end = start + a.size / PAGE_SIZE;
    const toPrivate = (attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE) !== 0;
    // kvm_vm_set_mem_attributes(): only ranges whose attribute changes are zapped.
    const changing: [number, number][] = toPrivate ? this.complement(start, end) : this.attributes.intersect(start, end);
    let zapped = 0;
    for (const [s, e] of changing) {
      if (toPrivate) zapped += this.mmu.zapShared(s, e - s);
      else {
        zapped += this.mmu.zapPrivate(s, e - s, 'the range becomes shared');
        if (!this.isTd) zapped += this.mmu.zapShared(s, e - s);
      }
    }
    if (toPrivate) this.attributes.add(start, end);
    else this.attributes.remove(start, end);
    this.layoutVersion++;
    this.trace('kvm', 'KVM_SET_MEMORY_ATTRIBUTES', { address: hex(a.address), size: hex(a.size), attributes, zapped },
      `[${hex(a.address)}, ${hex(a.address + a.size)}) becomes ${toPrivate ? 'private' : 'shared'}; KVM zaps ${zapped} mapping(s) of the old kind. No data is copied: the ${toPrivate ? 'private' : 'shared'} view is a different page.`,
      { gfns: [start, end - start] });
    return 0;
  }

  /** The parts of [start, end) that are not private. */
  private complement(start: number, end: number): [number, number][] {
    const out: [number, number][] = [];
    let at = start;
    for (const [s, e] of this.attributes.intersect(start, end)) {
      if (s > at) out.push([at, s]);
      at = e;
    }
    if (at < end) out.push([at, end]);
    return out;
  }

  isPrivate(gfn: number): boolean {
    return this.attributes.has(gfn);
  }

  /**
   * mark_page_dirty_in_slot() for a write by vCPU `vcpuId` to a page of a slot that logs dirty pages:
   * with a dirty ring, an entry on that vCPU's ring (kvm_dirty_ring_push()); else the slot's bit.
   * Returns true when the push brought the ring to its soft limit (KVM_REQ_DIRTY_RING_SOFT_FULL):
   * the vCPU must exit to user space before it enters the guest again.
   */
  markDirty(slot: Memslot, gfn: number, vcpuId: number): boolean {
    const i = gfn - slot.baseGfn;
    if (this.privateDirtyLog === 'talk' && slot.gmem?.dirtyLog && this.attributes.has(gfn)) {
      // The talk's mark_page_dirty(): a private GFN is recorded in the backend's own log.
      const k = i + slot.gmemPgoff;
      slot.gmem.dirtyLog[k >>> 5] |= 1 << (k & 31);
      return false;
    }
    if (this.dirtyRingSize) {
      // Every write the MMU sees comes from a running vCPU; without one x86 would drop it (WARN_ON_ONCE).
      const vcpu = this.vcpus.find((v) => v.id === vcpuId);
      return vcpu ? vcpu.pushDirtyGfn(slot.id, i, gfn) : false;
    }
    const bm = slot.dirtyBitmap;
    if (bm) bm[i >>> 5] |= 1 << (i & 31);
    return false;
  }

  /** KVM_GET_DIRTY_LOG: the slot's bitmap; without manual protect it is cleared and the pages re-protected. */
  getDirtyLog(slotId: number): Uint32Array {
    // kvm_get_dirty_log_protect(): ENXIO with a ring; EINVAL for an as_id/id out of range; ENOENT
    // for a slot that does not exist or does not log.
    this.checkBitmapInUse('KVM_GET_DIRTY_LOG');
    const id = u32Arg(slotId, 'slot') & 0xffff;
    if (slotId >>> 16 >= KVM_MAX_NR_ADDRESS_SPACES || id >= KVM_USER_MEM_SLOTS)
      fail('EINVAL', `slot ${hex(slotId)}: as_id ${slotId >>> 16} and id ${id} must be below ${KVM_MAX_NR_ADDRESS_SPACES} and KVM_USER_MEM_SLOTS (${KVM_USER_MEM_SLOTS})`);
    const slot = slotId >>> 16 === 0 ? this.slots.get(id) : undefined;
    if (!slot) fail('ENOENT', `memslot ${slotId} does not exist`);
    if (!slot.dirtyBitmap) fail('ENOENT', `memslot ${slotId} does not have KVM_MEM_LOG_DIRTY_PAGES`);
    if (slot.gmem?.dirtyLog && this.privateDirtyLog === 'talk') this.collectBackendLog(slot, slot.dirtyBitmap, slot.gmem.dirtyLog);
    const copy = slot.dirtyBitmap.slice();
    let dirty = 0;
    for (const w of copy) dirty += popcount(w);
    if (!(this.manualDirtyLogProtect & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
      this.reprotect(slot, copy, 0);
      slot.dirtyBitmap.fill(0);
    }
    this.trace('kvm', 'KVM_GET_DIRTY_LOG', { slot: slotId, dirty },
      `KVM returns the dirty bitmap of memslot ${slotId}: ${dirty} page(s) written since the last call` +
        (this.manualDirtyLogProtect & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE ? '; with manual protect they stay writable until KVM_CLEAR_DIRTY_LOG.' : '; they are write-protected again.'),
      { gfns: [slot.baseGfn, slot.npages] });
    return copy;
  }

  /**
   * The talk's proposal: KVM_GET_DIRTY_LOG takes the private pages guest_memfd logged for this
   * slot's range into the slot's bitmap, so the VMM's loop is the same as for an ordinary VM. What
   * the host learns is which GPAs the guest wrote, never what it wrote.
   */
  private collectBackendLog(slot: Memslot, bitmap: Uint32Array, log: Uint32Array): void {
    const gpas: number[] = [];
    let n = 0;
    for (let i = 0; i < slot.npages; i++) {
      const k = i + slot.gmemPgoff;
      if (!((log[k >>> 5] >>> (k & 31)) & 1)) continue;
      log[k >>> 5] &= ~(1 << (k & 31));
      bitmap[i >>> 5] |= 1 << (i & 31);
      if (gpas.length < 4) gpas.push((slot.baseGfn + i) * PAGE_SIZE);
      n++;
    }
    if (n)
      this.trace('kvm', 'kvm_gmem_get_dirty_log', { slot: slot.id, private_dirty: n, first: gpas.map((g) => hex(g)).join(',') },
        `guest_memfd's own log (the talk's proposal, not upstream) hands KVM ${n} private page(s) the guest wrote (${gpas.map((g) => hex(g)).join(', ')}${n > gpas.length ? ', …' : ''}): the host now knows which GPAs changed, but not a byte of what the guest wrote there.`,
        { gfns: [slot.baseGfn, slot.npages] });
  }

  /** KVM_CLEAR_DIRTY_LOG {slot, first_page, num_pages, dirty_bitmap}. */
  clearDirtyLog(slotId: number, firstPage: number, numPages: number, bitmap?: Uint32Array): number {
    this.checkBitmapInUse('KVM_CLEAR_DIRTY_LOG');
    const slot = this.slots.get(slotId);
    if (!(this.manualDirtyLogProtect & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
      fail('EINVAL', 'KVM_CLEAR_DIRTY_LOG needs KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled');
    if (!slot) fail('EINVAL', `slot ${slotId} does not exist`);
    if (!slot.dirtyBitmap) fail('ENOENT', `memslot ${slotId} does not have KVM_MEM_LOG_DIRTY_PAGES`);
    // struct kvm_clear_dirty_log: first_page is a __u64, num_pages a __u32 (a negative or fractional
    // value cannot be passed; checking it here keeps `% 64` from accepting -64).
    u64Arg(firstPage, 'first_page');
    u32Arg(numPages, 'num_pages');
    if (firstPage % 64 !== 0 || (numPages % 64 !== 0 && firstPage + numPages !== slot.npages))
      fail('EINVAL', 'first_page must be a multiple of 64, and num_pages too unless the range ends at the end of the slot');
    if (firstPage + numPages > slot.npages) fail('EINVAL', `[${firstPage}, ${firstPage + numPages}) goes beyond the slot's ${slot.npages} pages`);
    // Word by word (first_page is a multiple of 64, so the caller's bits line up with the log's words):
    // only the pages set in both are cleared and write-protected again, runs of consecutive pages in
    // one go.
    let n = 0;
    const log = slot.dirtyBitmap;
    // Private pages of a TD whose private memory is logged (not upstream) go to the TDX module instead.
    const priv = this.logsPrivate(slot) ? [] as number[] : null;
    const base = firstPage >>> 5;
    let runStart = 0;
    let runLength = 0;
    for (let k = 0; k < Math.ceil(numPages / 32); k++) {
      const tail = numPages - k * 32;
      const mask = tail >= 32 ? 0xffffffff : 2 ** tail - 1;
      let w = (bitmap ? bitmap[k] & mask : mask) & log[base + k];
      if (w === 0) continue;
      log[base + k] &= ~w;
      while (w !== 0) {
        const b = 31 - Math.clz32(w & -w);
        w &= w - 1;
        const p = firstPage + k * 32 + b;
        n++;
        if (priv && this.attributes.has(slot.baseGfn + p)) {
          priv.push(slot.baseGfn + p);
          continue;
        }
        if (runLength > 0 && p === runStart + runLength) runLength++;
        else {
          if (runLength > 0) this.mmu.writeProtect(slot.baseGfn + runStart, runLength);
          runStart = p;
          runLength = 1;
        }
      }
    }
    if (runLength > 0) this.mmu.writeProtect(slot.baseGfn + runStart, runLength);
    // Write-protected by the TDX module, in lists (TDH.EXPORT.BLOCKW).
    if (priv?.length) this.mmu.writeBlockPrivate(priv);
    this.trace('kvm', 'KVM_CLEAR_DIRTY_LOG', { slot: slotId, first_page: firstPage, num_pages: numPages, cleared: n },
      `${n} page(s) of memslot ${slotId} are cleared in the dirty log and write-protected again, just before they are sent.`,
      { gfns: [slot.baseGfn + firstPage, numPages] });
    return 0;
  }

  /** kvm_get_dirty_log_protect() / kvm_clear_dirty_log_protect(): "Dirty ring tracking may be exclusive to dirty log tracking". */
  private checkBitmapInUse(ioctl: string): void {
    if (this.dirtyRingSize)
      fail('ENXIO', `${ioctl}: "${this.name}" tracks dirty pages with its dirty ring, so there is no dirty bitmap (harvest the ring and use KVM_RESET_DIRTY_RINGS)`);
  }

  private reprotect(slot: Memslot, bitmap: Uint32Array, from: number): void {
    const priv = this.logsPrivate(slot) ? [] as number[] : null;
    for (let w = 0; w < bitmap.length; w++) {
      let bits = bitmap[w];
      while (bits) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const gfn = slot.baseGfn + from + w * 32 + b;
        if (priv && this.attributes.has(gfn)) priv.push(gfn);
        else this.mmu.writeProtect(gfn, 1);
      }
    }
    if (priv?.length) this.mmu.writeBlockPrivate(priv);
  }

  /** KVM_CREATE_VCPU */
  createVcpu(id: number): Vcpu {
    if (this.vcpus.some((v) => v.id === id)) fail('EEXIST', `vCPU ${id} already exists`);
    if (id < 0 || id >= 4096) fail('EINVAL', `vCPU id ${id} is out of range`);
    const v = new Vcpu(this, id, this.kvm.allocFd());
    // kvm_vm_ioctl_create_vcpu(): kvm_dirty_ring_alloc() when the VM has a ring.
    if (this.dirtyRingSize) v.dirtyRing.alloc(this.dirtyRingSize);
    this.vcpus.push(v);
    this.trace('kvm', 'KVM_CREATE_VCPU', { id, fd: v.fd }, `KVM creates vCPU ${id} of "${this.name}" (fd ${v.fd}).`, { vcpu: id });
    return v;
  }

  /** kvm_vm_dead(): every further KVM_RUN fails with EIO. */
  kill(message: string, vcpu?: number, gfn?: number): void {
    if (this.dead) return;
    this.dead = message;
    this.trace('kvm', 'kvm_vm_dead', { message },
      `KVM prints "${message}" and kills "${this.name}" (kvm_vm_dead()): KVM_RUN fails with EIO from now on.`, { vcpu: vcpu ?? null, gfns: gfn === undefined ? undefined : [gfn, 1] });
  }

  /** The MMU notifier KVM registered on the VMM's mm: zap shared mappings of discarded host pages. */
  private mmuNotifierInvalidate(start: number, end: number, why: string): void {
    for (const s of this.slots.values()) {
      const lo = Math.max(start, s.userspaceAddr);
      const hi = Math.min(end, s.userspaceAddr + s.npages * PAGE_SIZE);
      if (lo >= hi) continue;
      const gfn = s.baseGfn + (lo - s.userspaceAddr) / PAGE_SIZE;
      const n = this.mmu.zapShared(gfn, (hi - lo) / PAGE_SIZE);
      if (n)
        this.trace('kvm', 'mmu_notifier_invalidate_range_start', { hva: hex(lo), len: hex(hi - lo), zapped: n, why },
          `The VMM's pages at ${hex(lo)} go away (${why}); KVM's MMU notifier zaps ${n} shared mapping(s).`, { gfns: [gfn, (hi - lo) / PAGE_SIZE] });
    }
  }

  /** The HVA of a GPA through the memslots (the VMM's view), or undefined. */
  gpaToHva(gpa: number): number | undefined {
    const s = this.findSlot(Math.floor(gpa / PAGE_SIZE));
    return s ? gfnToHva(s, Math.floor(gpa / PAGE_SIZE)) + (gpa % PAGE_SIZE) : undefined;
  }
}

/** The top of the x86-64 user address space (TASK_SIZE_MAX), for access_ok(). */
const USER_ADDR_END = 0x7fff_ffff_f000;

/**
 * KVM Userfault v3, kvm_set_memory_region(): the bitmap must be an untagged user address that
 * access_ok() accepts for DIV_ROUND_UP(npages, BITS_PER_LONG) longs; otherwise EINVAL.
 */
function checkUserfaultBitmap(addr: number, npages: number): void {
  const bytes = Math.ceil(npages / 64) * 8;
  if (!Number.isSafeInteger(addr) || addr < 0 || addr + bytes > USER_ADDR_END)
    fail('EINVAL', `userfault_bitmap ${hex(addr)} (${bytes} bytes for ${npages} pages) is not a user address range (access_ok() fails)`);
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}
