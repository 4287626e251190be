import type { ErrnoName } from '../core/errno';
import { VcpuExit } from '../cpu/bus';
import type { UserfaultBlocked } from '../host/userfaultfd';

/**
 * The kvm_run exit shapes (include/uapi/linux/kvm.h, struct kvm_run), named by exit reason. Each
 * carries the union member user space reads for that reason, with the kernel's field names.
 */
export type RunExit =
  | { reason: 'KVM_EXIT_IO'; io: { direction: 'KVM_EXIT_IO_IN' | 'KVM_EXIT_IO_OUT'; size: number; port: number; count: number; data: number } }
  | { reason: 'KVM_EXIT_MMIO'; mmio: { phys_addr: number; data: number; len: number; is_write: boolean } }
  | { reason: 'KVM_EXIT_HYPERCALL'; hypercall: { nr: number; args: number[]; ret: number; flags: number } }
  | { reason: 'KVM_EXIT_MEMORY_FAULT'; memory_fault: { flags: number; gpa: number; size: number } }
  | { reason: 'KVM_EXIT_HLT' }
  | { reason: 'KVM_EXIT_SHUTDOWN' }
  | { reason: 'KVM_EXIT_INTR' }
  | { reason: 'KVM_EXIT_INTERNAL_ERROR'; internal: { suberror: number; ndata: number; data: number[] } }
  | { reason: 'KVM_EXIT_SYSTEM_EVENT'; system_event: { type: number; ndata: number; data: number[] } }
  /** The vCPU's dirty ring reached its soft limit: user space harvests and calls KVM_RESET_DIRTY_RINGS. */
  | { reason: 'KVM_EXIT_DIRTY_RING_FULL' }
  /**
   * KVM_CAP_X86_USER_SPACE_MSR exits. reason is a KVM_MSR_EXIT_REASON_* bit; data is the u64 as a
   * hex string (the value written, or what user space returns for a read); user space sets error = 1
   * to make KVM inject #GP.
   */
  | { reason: 'KVM_EXIT_X86_RDMSR' | 'KVM_EXIT_X86_WRMSR'; msr: { error: number; reason: number; index: number; data: string } };

export type RunExitReason = RunExit['reason'];

/** What KVM_RUN returned: 0 and an exit, or -1 with errno (EFAULT goes with KVM_EXIT_MEMORY_FAULT). */
export interface RunResult {
  ret: 0 | -1;
  errno?: ErrnoName;
  exit?: RunExit;
  /** Instructions the guest retired during this KVM_RUN. */
  instructions: number;
  /** Why KVM_RUN returned, in one sentence. */
  why: string;
  /**
   * With an in-kernel local APIC, HLT does not exit: the vCPU blocks in KVM (kvm_vcpu_block()) until
   * an interrupt. The simulation stops there and says so instead of waiting forever.
   */
  blocked?: 'halted' | 'panicked' | 'userfault';
  /**
   * With blocked 'userfault': get_user_pages() of a page registered with a userfaultfd put the vCPU
   * thread to sleep in handle_userfault(); it runs again when user space installs the page and wakes
   * it, and KVM_RUN then retries the access.
   */
  userfault?: { fd: number; tid: number; address: number };
}

/** Thrown through the guest CPU to end KVM_RUN with an exit to user space. */
export class KvmExitSignal extends VcpuExit {
  constructor(readonly exit: RunExit, readonly errno: ErrnoName | undefined, why: string) {
    super(why);
  }
}

/** Thrown through the guest CPU when KVM's get_user_pages() waits on a userfaultfd: the access is retried after the wake. */
export class UserfaultWait extends VcpuExit {
  constructor(readonly wait: UserfaultBlocked) {
    super(wait.message);
  }
}

/** Thrown when the vCPU blocks in the kernel (HLT with an in-kernel APIC). */
export class VcpuBlocked extends VcpuExit {}

/** KVM_RUN fails without an exit: the VM is dead (kvm_vm_dead(), e.g. TDX "Guest access before accepting"). */
export class VmDeadSignal extends VcpuExit {}
