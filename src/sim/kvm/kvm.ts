import type { Host } from '../host/host';
import { fail } from '../core/errno';
import { TdxModule } from '../tdx/module';
import {
  KVM_CAP_EXIT_HYPERCALL, KVM_CAP_GUEST_MEMFD, KVM_CAP_GUEST_MEMFD_FLAGS, GUEST_MEMFD_FLAG_INIT_SHARED, GUEST_MEMFD_FLAG_MMAP, KVM_CAP_IRQCHIP, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
  KVM_CAP_MAX_VCPUS, KVM_CAP_MEMORY_ATTRIBUTES, KVM_CAP_MEMORY_FAULT_INFO, KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_READONLY_MEM, KVM_CAP_SPLIT_IRQCHIP, KVM_CAP_SYNC_MMU, KVM_CAP_USER_MEMORY, KVM_CAP_USER_MEMORY2,
  KVM_CAP_SYNC_REGS, KVM_CAP_VM_TYPES, KVM_CAP_X86_SMM, KVM_CAP_X86_USER_SPACE_MSR, KVM_CAP_X86_MSR_FILTER, KVM_HC_MAP_GPA_RANGE,
  KVM_SYNC_X86_VALID_FIELDS,
  KVM_MEMORY_ATTRIBUTE_PRIVATE, KVM_USER_MEM_SLOTS, KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM,
  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, KVM_DIRTY_LOG_INITIALLY_SET, VM_TYPE_NAMES,
  KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP,
} from './uapi';
import { KVM_DIRTY_GFN_BYTES, KVM_DIRTY_RING_MAX_ENTRIES } from './dirty-ring';
import { GuestMemfd } from './guest-memfd';
import type { CapRow } from './surface-rows';
import { Vm } from './vm';

/** The VM types this host's KVM supports (the simulated CPU has TDX and no SEV). */
export const SUPPORTED_VM_TYPES = [KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM];
// The names live with the other uapi constants (vm.ts uses them too); re-exported for the callers here.
export { VM_TYPE_NAMES };

const KVM_MAX_VCPUS = 4096;

/**
 * /dev/kvm on one host: creates VMs and answers KVM_CHECK_EXTENSION on the system fd. Per-VM answers
 * come from Vm.checkExtension (api.rst recommends the VM ioctl, because they differ per VM type).
 */
export class Kvm {
  readonly vms: Vm[] = [];
  readonly tdx: TdxModule;
  private nextFd = 10;
  private nextIno = 1;
  /**
   * The host's kernel has the KVM Userfault series applied (posted, v3 June 2025; not merged):
   * KVM_MEM_USERFAULT is a valid memslot flag. An upstream kernel refuses it with EINVAL.
   */
  userfaultSeries = false;

  constructor(readonly host: Host) {
    this.tdx = new TdxModule(host);
  }

  allocFd(): number {
    return this.nextFd++;
  }

  allocIno(): number {
    return this.nextIno++;
  }

  /** KVM_CREATE_VM(type). */
  createVm(type: number, name: string, vmmPid: number): Vm {
    if (!SUPPORTED_VM_TYPES.includes(type))
      fail('EINVAL', `VM type ${type} (${VM_TYPE_NAMES[type] ?? 'unknown'}) is not in KVM_CAP_VM_TYPES on this host`);
    const proc = this.host.processes.find((p) => p.pid === vmmPid);
    if (!proc) fail('EINVAL', `no process ${vmmPid}`);
    const vm = new Vm(this, type, name, this.allocFd(), proc);
    this.vms.push(vm);
    return vm;
  }

  /**
   * KVM_CHECK_EXTENSION on /dev/kvm (vm = null: the answers for a default VM, or the host's maximum),
   * or on a VM's fd (Vm.checkExtension asks here, so vm.ts needs no value from this module).
   */
  checkExtension(cap: number, vm: Vm | null = null): number {
    return checkExtensionFor(vm, cap);
  }
}

interface CapEntry {
  cap: number;
  name: string;
  /** The answer for this VM, or for the system fd (vm = null). */
  answer: (vm: Vm | null) => number;
  /** Why the answer is what it is, and where it differs per VM type. */
  note: string;
}

const isTd = (vm: Vm | null): boolean => vm?.type === KVM_X86_TDX_VM;
/** On the system fd, what any VM type could have; on a VM fd, whether this one has private memory. */
const privateMem = (vm: Vm | null): boolean => vm === null || vm.type !== KVM_X86_DEFAULT_VM;

/**
 * kvm_vm_ioctl_check_extension_generic() (virt/kvm/kvm_main.c) and kvm_vm_ioctl_check_extension()
 * (arch/x86/kvm/x86.c). What differs for a TD comes from tdx_vm_init() (has_protected_state,
 * has_private_mem) and from vt_has_emulated_msr() answering tdx_has_emulated_msr() for a TD.
 */
const CAPS: readonly CapEntry[] = [
  { cap: KVM_CAP_VM_TYPES, name: 'KVM_CAP_VM_TYPES', answer: () => SUPPORTED_VM_TYPES.reduce((m, t) => m | (1 << t), 0),
    note: 'bitmap of KVM_CREATE_VM types (bit n = type n); the same on every fd' },
  { cap: KVM_CAP_USER_MEMORY, name: 'KVM_CAP_USER_MEMORY', answer: () => 1, note: 'memslots from the VMM\'s memory' },
  { cap: KVM_CAP_USER_MEMORY2, name: 'KVM_CAP_USER_MEMORY2', answer: () => 1, note: 'KVM_SET_USER_MEMORY_REGION2 (guest_memfd fields)' },
  { cap: KVM_CAP_SYNC_MMU, name: 'KVM_CAP_SYNC_MMU', answer: () => 1, note: 'MMU notifiers keep KVM\'s mappings in sync with the VMM\'s' },
  { cap: KVM_CAP_MEMORY_FAULT_INFO, name: 'KVM_CAP_MEMORY_FAULT_INFO', answer: () => 1, note: 'KVM_EXIT_MEMORY_FAULT carries gpa/size/flags' },
  { cap: KVM_CAP_MEMORY_ATTRIBUTES, name: 'KVM_CAP_MEMORY_ATTRIBUTES', answer: (vm) => (privateMem(vm) ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0),
    note: 'kvm_supported_mem_attributes(): KVM_MEMORY_ATTRIBUTE_PRIVATE only for VMs with private memory' },
  { cap: KVM_CAP_GUEST_MEMFD, name: 'KVM_CAP_GUEST_MEMFD', answer: () => 1,
    note: 'kvm_vm_ioctl_check_extension_generic(): 1 on every VM type (a default VM may back memory with guest_memfd too)' },
  { cap: KVM_CAP_GUEST_MEMFD_FLAGS, name: 'KVM_CAP_GUEST_MEMFD_FLAGS',
    answer: (vm) => (vm === null ? GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED : GuestMemfd.supportedFlags(privateMem(vm))),
    note: 'kvm_gmem_get_supported_flags(): GUEST_MEMFD_FLAG_MMAP, plus INIT_SHARED unless the VM has private memory' },
  { cap: KVM_CAP_READONLY_MEM, name: 'KVM_CAP_READONLY_MEM', answer: (vm) => (isTd(vm) ? 0 : 1),
    note: 'kvm_arch_has_readonly_mem(): not with protected state (a TD), hence no pflash for a TD' },
  { cap: KVM_CAP_X86_SMM, name: 'KVM_CAP_X86_SMM', answer: (vm) => (isTd(vm) ? 0 : 1),
    note: 'has_emulated_msr(MSR_IA32_SMBASE): tdx_has_emulated_msr() says no, so a TD has no SMM' },
  { cap: KVM_CAP_IRQCHIP, name: 'KVM_CAP_IRQCHIP', answer: (vm) => (isTd(vm) ? 0 : 1),
    note: 'a TD needs the split irqchip (PIC and IOAPIC in user space); KVM_CREATE_IRQCHIP fails for a TD (has_protected_eoi)' },
  { cap: KVM_CAP_SPLIT_IRQCHIP, name: 'KVM_CAP_SPLIT_IRQCHIP', answer: () => 1, note: 'local APIC in KVM, PIC/IOAPIC in the VMM' },
  { cap: KVM_CAP_NR_MEMSLOTS, name: 'KVM_CAP_NR_MEMSLOTS', answer: () => KVM_USER_MEM_SLOTS, note: 'KVM_MEM_SLOTS_NUM - KVM_INTERNAL_MEM_SLOTS' },
  { cap: KVM_CAP_MAX_VCPUS, name: 'KVM_CAP_MAX_VCPUS', answer: () => KVM_MAX_VCPUS,
    note: 'kvm->max_vcpus; tdx_vm_init() also caps a TD at the host\'s present CPUs (the simulated host does not model CPUs)' },
  { cap: KVM_CAP_SYNC_REGS, name: 'KVM_CAP_SYNC_REGS', answer: () => KVM_SYNC_X86_VALID_FIELDS,
    note: 'KVM_SYNC_X86_REGS | SREGS | EVENTS in kvm_run; a TD\'s registers are protected unless it has the DEBUG attribute' },
  { cap: KVM_CAP_EXIT_HYPERCALL, name: 'KVM_CAP_EXIT_HYPERCALL', answer: () => 1 << KVM_HC_MAP_GPA_RANGE,
    note: 'KVM_EXIT_HYPERCALL_VALID_MASK: only KVM_HC_MAP_GPA_RANGE can go to user space' },
  { cap: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, name: 'KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2', answer: () => KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET,
    note: 'KVM_CLEAR_DIRTY_LOG; not usable on guest_memfd slots' },
  { cap: KVM_CAP_DIRTY_LOG_RING, name: 'KVM_CAP_DIRTY_LOG_RING', answer: () => KVM_DIRTY_RING_MAX_ENTRIES * KVM_DIRTY_GFN_BYTES,
    note: 'the largest dirty ring in bytes (KVM_DIRTY_RING_MAX_ENTRIES entries of 16 bytes); x86 has the TSO ring' },
  { cap: KVM_CAP_DIRTY_LOG_RING_ACQ_REL, name: 'KVM_CAP_DIRTY_LOG_RING_ACQ_REL', answer: () => KVM_DIRTY_RING_MAX_ENTRIES * KVM_DIRTY_GFN_BYTES,
    note: 'the same ring with acquire/release ordering of the flags; either capability enables it' },
  { cap: KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, name: 'KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP', answer: () => 0,
    note: 'a backup bitmap for writes with no running vCPU: only arm64 needs it (CONFIG_NEED_KVM_DIRTY_RING_WITH_BITMAP), so the ring excludes the bitmap on x86' },
  { cap: KVM_CAP_X86_USER_SPACE_MSR, name: 'KVM_CAP_X86_USER_SPACE_MSR', answer: () => 1,
    note: 'MSR accesses KVM cannot complete can exit to user space; for a TD only the MSRs the TDX module forwards (#VE → TDVMCALL) reach KVM' },
  { cap: KVM_CAP_X86_MSR_FILTER, name: 'KVM_CAP_X86_MSR_FILTER', answer: () => 1,
    note: 'KVM_X86_SET_MSR_FILTER; a TD\'s native MSRs never reach KVM, so the filter cannot see them' },
];

/** KVM_CHECK_EXTENSION for a VM fd, or for the system fd (vm = null). Unknown capabilities answer 0. */
export function checkExtensionFor(vm: Vm | null, cap: number): number {
  return CAPS.find((c) => c.cap === cap)?.answer(vm) ?? 0;
}

/** capRows(vm): every capability the simulator knows, answered on /dev/kvm and on this VM's fd. */
export function capRows(vm: Vm): CapRow[] {
  return CAPS.map((c) => ({ name: c.name, number: c.cap, system: c.answer(null), vm: c.answer(vm), note: c.note }));
}
