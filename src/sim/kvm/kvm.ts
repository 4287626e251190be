import type { Host } from '../host/host';
import { fail } from '../core/errno';
import { TdxModule } from '../tdx/module';
import {
  KVM_CAP_EXIT_HYPERCALL, KVM_CAP_GUEST_MEMFD, KVM_CAP_IRQCHIP, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
  KVM_CAP_MAX_VCPUS, KVM_CAP_MEMORY_ATTRIBUTES, KVM_CAP_MEMORY_FAULT_INFO, KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_READONLY_MEM, KVM_CAP_SPLIT_IRQCHIP, KVM_CAP_SYNC_MMU, KVM_CAP_USER_MEMORY, KVM_CAP_USER_MEMORY2,
  KVM_CAP_VM_TYPES, KVM_CAP_X86_USER_SPACE_MSR, KVM_CAP_X86_MSR_FILTER, KVM_HC_MAP_GPA_RANGE,
  KVM_MEMORY_ATTRIBUTE_PRIVATE, KVM_USER_MEM_SLOTS, KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM,
  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, KVM_DIRTY_LOG_INITIALLY_SET,
} from './uapi';
import { Vm } from './vm';

/** The VM types this host's KVM supports (the simulated CPU has TDX and no SEV). */
export const SUPPORTED_VM_TYPES = [KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM];
export const VM_TYPE_NAMES: Record<number, string> = {
  0: 'KVM_X86_DEFAULT_VM',
  1: 'KVM_X86_SW_PROTECTED_VM',
  2: 'KVM_X86_SEV_VM',
  3: 'KVM_X86_SEV_ES_VM',
  4: 'KVM_X86_SNP_VM',
  5: 'KVM_X86_TDX_VM',
};

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

  /** KVM_CHECK_EXTENSION on /dev/kvm (no VM): the answers for a default VM, or the host's maximum. */
  checkExtension(cap: number): number {
    return checkExtensionFor(null, cap);
  }
}

/**
 * kvm_vm_ioctl_check_extension_generic() and kvm_vm_ioctl_check_extension() (x86), for a VM or for
 * the system fd (vm = null). Unknown capabilities answer 0.
 */
export function checkExtensionFor(vm: Vm | null, cap: number): number {
  const type = vm ? vm.type : KVM_X86_DEFAULT_VM;
  const isTd = type === KVM_X86_TDX_VM;
  const hasPrivate = type !== KVM_X86_DEFAULT_VM;
  switch (cap) {
    case KVM_CAP_VM_TYPES:
      return SUPPORTED_VM_TYPES.reduce((m, t) => m | (1 << t), 0);
    case KVM_CAP_USER_MEMORY:
    case KVM_CAP_USER_MEMORY2:
    case KVM_CAP_SYNC_MMU:
    case KVM_CAP_MEMORY_FAULT_INFO:
    case KVM_CAP_SPLIT_IRQCHIP:
      return 1;
    case KVM_CAP_IRQCHIP:
      // A TD requires the split irqchip: the PIC and IOAPIC are in user space, the local APIC in KVM.
      return isTd ? 0 : 1;
    case KVM_CAP_NR_MEMSLOTS:
      return KVM_USER_MEM_SLOTS;
    case KVM_CAP_MAX_VCPUS:
      return KVM_MAX_VCPUS;
    case KVM_CAP_READONLY_MEM:
      // TDX cannot have read-only memslots (hence no pflash for a TD).
      return vm && isTd ? 0 : 1;
    case KVM_CAP_MEMORY_ATTRIBUTES:
      // kvm_supported_mem_attributes(): PRIVATE only for VMs with private memory; on the system fd,
      // what any VM type could have.
      return vm === null || hasPrivate ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
    case KVM_CAP_GUEST_MEMFD:
      return vm === null || hasPrivate ? 1 : 0;
    case KVM_CAP_EXIT_HYPERCALL:
      return 1 << KVM_HC_MAP_GPA_RANGE;
    case KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2:
      return KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET;
    case KVM_CAP_X86_USER_SPACE_MSR:
    case KVM_CAP_X86_MSR_FILTER:
      return isTd ? 0 : 1;
    default:
      return 0;
  }
}
