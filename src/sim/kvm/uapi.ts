/**
 * KVM userspace ABI constants, copied by value from the Linux UAPI headers.
 *
 * Verified against (see docs/abi-sources.md for the exact files):
 *  - include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h, read through QEMU's synced copy
 *    linux-headers/linux/kvm.h + linux-headers/asm-x86/kvm.h (qemu/qemu, commit 050b3d36, a sync from
 *    a kernel that already has KVM_CAP_GUEST_MEMFD_FLAGS = 244 and KVM_EXIT_TDX = 40);
 *  - include/uapi/linux/kvm_para.h, arch/x86/include/uapi/asm/kvm_para.h;
 *  - include/linux/kvm_host.h, arch/x86/include/asm/kvm_host.h (memslot counts);
 *  - virt/kvm/guest_memfd.c, tools/testing/selftests/kvm/guest_memfd_test.c (errno notes).
 *
 * Numbers are plain `number` unless the value needs all 64 bits (then `bigint`). Values marked
 * "proposal" are from patch series that are not in mainline; "UNVERIFIED" marks the rest that could
 * not be confirmed in a stored source.
 */

// ---------------------------------------------------------------------------------------------
// ioctl encoding: _IOC(dir, type, nr, size) = dir << 30 | size << 16 | type << 8 | nr
// dir: _IOC_NONE 0, _IOC_WRITE 1, _IOC_READ 2 (include/uapi/asm-generic/ioctl.h)
// ---------------------------------------------------------------------------------------------
export const KVMIO = 0xae; // include/uapi/linux/kvm.h
export const KVM_API_VERSION = 12; // include/uapi/linux/kvm.h

// ---------------------------------------------------------------------------------------------
// VM types for KVM_CREATE_VM(type); KVM_CAP_VM_TYPES returns a bitmap, bit n = type n
// ---------------------------------------------------------------------------------------------
export const KVM_X86_DEFAULT_VM = 0; // arch/x86/include/uapi/asm/kvm.h
export const KVM_X86_SW_PROTECTED_VM = 1; // arch/x86/include/uapi/asm/kvm.h
export const KVM_X86_SEV_VM = 2; // arch/x86/include/uapi/asm/kvm.h
export const KVM_X86_SEV_ES_VM = 3; // arch/x86/include/uapi/asm/kvm.h
export const KVM_X86_SNP_VM = 4; // arch/x86/include/uapi/asm/kvm.h
export const KVM_X86_TDX_VM = 5; // arch/x86/include/uapi/asm/kvm.h

export const VM_TYPE_NAMES: Record<number, string> = {
  [KVM_X86_DEFAULT_VM]: 'KVM_X86_DEFAULT_VM',
  [KVM_X86_SW_PROTECTED_VM]: 'KVM_X86_SW_PROTECTED_VM',
  [KVM_X86_SEV_VM]: 'KVM_X86_SEV_VM',
  [KVM_X86_SEV_ES_VM]: 'KVM_X86_SEV_ES_VM',
  [KVM_X86_SNP_VM]: 'KVM_X86_SNP_VM',
  [KVM_X86_TDX_VM]: 'KVM_X86_TDX_VM',
};

// ---------------------------------------------------------------------------------------------
// Capabilities (KVM_CHECK_EXTENSION argument) — include/uapi/linux/kvm.h
// ---------------------------------------------------------------------------------------------
export const KVM_CAP_IRQCHIP = 0; // include/uapi/linux/kvm.h
export const KVM_CAP_USER_MEMORY = 3; // include/uapi/linux/kvm.h
export const KVM_CAP_SET_TSS_ADDR = 4; // include/uapi/linux/kvm.h
export const KVM_CAP_NR_VCPUS = 9; // include/uapi/linux/kvm.h — "returns recommended max vcpus per vm"
export const KVM_CAP_NR_MEMSLOTS = 10; // include/uapi/linux/kvm.h — "returns max memory slots per vm"
export const KVM_CAP_SYNC_MMU = 16; // include/uapi/linux/kvm.h
export const KVM_CAP_SYNC_REGS = 74; // include/uapi/linux/kvm.h
export const KVM_CAP_MAX_VCPUS = 66; // include/uapi/linux/kvm.h
export const KVM_CAP_READONLY_MEM = 81; // include/uapi/linux/kvm.h
export const KVM_CAP_X86_SMM = 117; // include/uapi/linux/kvm.h
export const KVM_CAP_SPLIT_IRQCHIP = 121; // include/uapi/linux/kvm.h
export const KVM_CAP_MAX_VCPU_ID = 128; // include/uapi/linux/kvm.h
export const KVM_CAP_X2APIC_API = 129; // include/uapi/linux/kvm.h
export const KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168; // include/uapi/linux/kvm.h
export const KVM_CAP_X86_USER_SPACE_MSR = 188; // include/uapi/linux/kvm.h
export const KVM_CAP_X86_MSR_FILTER = 189; // include/uapi/linux/kvm.h
export const KVM_CAP_DIRTY_LOG_RING = 192; // include/uapi/linux/kvm.h
export const KVM_CAP_EXIT_HYPERCALL = 201; // include/uapi/linux/kvm.h
export const KVM_CAP_DIRTY_LOG_RING_ACQ_REL = 223; // include/uapi/linux/kvm.h
export const KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP = 225; // include/uapi/linux/kvm.h
export const KVM_CAP_USER_MEMORY2 = 231; // include/uapi/linux/kvm.h
export const KVM_CAP_MEMORY_FAULT_INFO = 232; // include/uapi/linux/kvm.h
export const KVM_CAP_MEMORY_ATTRIBUTES = 233; // include/uapi/linux/kvm.h
export const KVM_CAP_GUEST_MEMFD = 234; // include/uapi/linux/kvm.h
export const KVM_CAP_VM_TYPES = 235; // include/uapi/linux/kvm.h
export const KVM_CAP_PRE_FAULT_MEMORY = 236; // include/uapi/linux/kvm.h
// The guest_memfd mmap series introduced this number as KVM_CAP_GUEST_MEMFD_MMAP (244); it was
// renamed KVM_CAP_GUEST_MEMFD_FLAGS (same number) together with GUEST_MEMFD_FLAG_INIT_SHARED.
// KVM_CHECK_EXTENSION(KVM_CAP_GUEST_MEMFD_FLAGS) returns the supported GUEST_MEMFD_FLAG_* mask.
export const KVM_CAP_GUEST_MEMFD_FLAGS = 244; // include/uapi/linux/kvm.h
/** @deprecated pre-merge name of KVM_CAP_GUEST_MEMFD_FLAGS (same number). */
export const KVM_CAP_GUEST_MEMFD_MMAP = KVM_CAP_GUEST_MEMFD_FLAGS; // rename patch on kvm@vger

export const CAP_NAMES: Record<string, number> = {
  KVM_CAP_IRQCHIP,
  KVM_CAP_USER_MEMORY,
  KVM_CAP_SET_TSS_ADDR,
  KVM_CAP_NR_VCPUS,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_SYNC_MMU,
  KVM_CAP_MAX_VCPUS,
  KVM_CAP_SYNC_REGS,
  KVM_CAP_READONLY_MEM,
  KVM_CAP_X86_SMM,
  KVM_CAP_SPLIT_IRQCHIP,
  KVM_CAP_MAX_VCPU_ID,
  KVM_CAP_X2APIC_API,
  KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
  KVM_CAP_X86_USER_SPACE_MSR,
  KVM_CAP_X86_MSR_FILTER,
  KVM_CAP_DIRTY_LOG_RING,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
  KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP,
  KVM_CAP_USER_MEMORY2,
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_MEMORY_ATTRIBUTES,
  KVM_CAP_GUEST_MEMFD,
  KVM_CAP_VM_TYPES,
  KVM_CAP_PRE_FAULT_MEMORY,
  KVM_CAP_GUEST_MEMFD_FLAGS,
};

// ---------------------------------------------------------------------------------------------
// Memslots
// ---------------------------------------------------------------------------------------------
export const KVM_MEM_SLOTS_NUM = 32767; // include/linux/kvm_host.h: SHRT_MAX
export const KVM_INTERNAL_MEM_SLOTS = 3; // arch/x86/include/asm/kvm_host.h: "memory slots that are not exposed to userspace"
/** What KVM_CHECK_EXTENSION(KVM_CAP_NR_MEMSLOTS) returns on x86: KVM_MEM_SLOTS_NUM - KVM_INTERNAL_MEM_SLOTS. */
export const KVM_USER_MEM_SLOTS = KVM_MEM_SLOTS_NUM - KVM_INTERNAL_MEM_SLOTS; // include/linux/kvm_host.h → 32764
/** x86 with CONFIG_KVM_SMM: address space 0 = normal, 1 = SMM. VMs with private memory get only 1. */
export const KVM_MAX_NR_ADDRESS_SPACES = 2; // arch/x86/include/asm/kvm_host.h (kvm_arch_nr_memslot_as_ids)

// kvm_userspace_memory_region{,2}.flags; bits 0..15 are userspace-visible
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0; // include/uapi/linux/kvm.h
export const KVM_MEM_READONLY = 1 << 1; // include/uapi/linux/kvm.h
export const KVM_MEM_GUEST_MEMFD = 1 << 2; // include/uapi/linux/kvm.h
/**
 * NOT UPSTREAM — "KVM Userfault" proposal (James Houghton, RFC 2024 / v2-v3 2025): a memslot flag plus a
 * per-slot bitmap `userfault_bitmap` taken from kvm_userspace_memory_region2.pad2. Value from the patch.
 */
export const KVM_MEM_USERFAULT = 1 << 3; // proposal: include/uapi/linux/kvm.h in "KVM: Introduce KVM Userfault"

// Memory attributes (KVM_SET_MEMORY_ATTRIBUTES)
export const KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3; // include/uapi/linux/kvm.h (1ULL << 3)

// guest_memfd creation flags (kvm_create_guest_memfd.flags)
export const GUEST_MEMFD_FLAG_MMAP = 1 << 0; // include/uapi/linux/kvm.h (1ULL << 0)
export const GUEST_MEMFD_FLAG_INIT_SHARED = 1 << 1; // include/uapi/linux/kvm.h (1ULL << 1)

// ---------------------------------------------------------------------------------------------
// Exit reasons (kvm_run.exit_reason) — include/uapi/linux/kvm.h
// ---------------------------------------------------------------------------------------------
export const KVM_EXIT_UNKNOWN = 0;
export const KVM_EXIT_EXCEPTION = 1;
export const KVM_EXIT_IO = 2;
export const KVM_EXIT_HYPERCALL = 3;
export const KVM_EXIT_DEBUG = 4;
export const KVM_EXIT_HLT = 5;
export const KVM_EXIT_MMIO = 6;
export const KVM_EXIT_IRQ_WINDOW_OPEN = 7;
export const KVM_EXIT_SHUTDOWN = 8;
export const KVM_EXIT_FAIL_ENTRY = 9;
export const KVM_EXIT_INTR = 10;
export const KVM_EXIT_SET_TPR = 11;
export const KVM_EXIT_TPR_ACCESS = 12;
export const KVM_EXIT_S390_SIEIC = 13;
export const KVM_EXIT_S390_RESET = 14;
export const KVM_EXIT_DCR = 15; // deprecated
export const KVM_EXIT_NMI = 16;
export const KVM_EXIT_INTERNAL_ERROR = 17;
export const KVM_EXIT_OSI = 18;
export const KVM_EXIT_PAPR_HCALL = 19;
export const KVM_EXIT_S390_UCONTROL = 20;
export const KVM_EXIT_WATCHDOG = 21;
export const KVM_EXIT_S390_TSCH = 22;
export const KVM_EXIT_EPR = 23;
export const KVM_EXIT_SYSTEM_EVENT = 24;
export const KVM_EXIT_S390_STSI = 25;
export const KVM_EXIT_IOAPIC_EOI = 26;
export const KVM_EXIT_HYPERV = 27;
export const KVM_EXIT_ARM_NISV = 28;
export const KVM_EXIT_X86_RDMSR = 29;
export const KVM_EXIT_X86_WRMSR = 30;
export const KVM_EXIT_DIRTY_RING_FULL = 31;
export const KVM_EXIT_AP_RESET_HOLD = 32;
export const KVM_EXIT_X86_BUS_LOCK = 33;
export const KVM_EXIT_XEN = 34;
export const KVM_EXIT_RISCV_SBI = 35;
export const KVM_EXIT_RISCV_CSR = 36;
export const KVM_EXIT_NOTIFY = 37;
export const KVM_EXIT_LOONGARCH_IOCSR = 38;
/** KVM_RUN returns -1/EFAULT (not 0) with this exit; kvm_run.memory_fault = {flags, gpa, size}. */
export const KVM_EXIT_MEMORY_FAULT = 39;
/**
 * TDVMCALLs KVM hands to userspace: kvm_run.tdx = {flags, nr, union{unknown, get_quote,
 * get_tdvmcall_info, setup_event_notify}}; nr is the TDVMCALL sub-function (e.g. GetQuote 0x10002).
 * MapGPA is NOT sent this way: it becomes KVM_EXIT_HYPERCALL / KVM_HC_MAP_GPA_RANGE.
 */
export const KVM_EXIT_TDX = 40;
/** arm64 only; seen in QEMU's linux-headers sync patch (kernel 6.19 era), not in the stored kernel tree. */
export const KVM_EXIT_ARM_SEA = 41; // QEMU linux-headers/linux/kvm.h update patch (qemu-devel)

export const EXIT_REASON_NAMES: Record<number, string> = {
  0: 'KVM_EXIT_UNKNOWN',
  1: 'KVM_EXIT_EXCEPTION',
  2: 'KVM_EXIT_IO',
  3: 'KVM_EXIT_HYPERCALL',
  4: 'KVM_EXIT_DEBUG',
  5: 'KVM_EXIT_HLT',
  6: 'KVM_EXIT_MMIO',
  7: 'KVM_EXIT_IRQ_WINDOW_OPEN',
  8: 'KVM_EXIT_SHUTDOWN',
  9: 'KVM_EXIT_FAIL_ENTRY',
  10: 'KVM_EXIT_INTR',
  11: 'KVM_EXIT_SET_TPR',
  12: 'KVM_EXIT_TPR_ACCESS',
  13: 'KVM_EXIT_S390_SIEIC',
  14: 'KVM_EXIT_S390_RESET',
  15: 'KVM_EXIT_DCR',
  16: 'KVM_EXIT_NMI',
  17: 'KVM_EXIT_INTERNAL_ERROR',
  18: 'KVM_EXIT_OSI',
  19: 'KVM_EXIT_PAPR_HCALL',
  20: 'KVM_EXIT_S390_UCONTROL',
  21: 'KVM_EXIT_WATCHDOG',
  22: 'KVM_EXIT_S390_TSCH',
  23: 'KVM_EXIT_EPR',
  24: 'KVM_EXIT_SYSTEM_EVENT',
  25: 'KVM_EXIT_S390_STSI',
  26: 'KVM_EXIT_IOAPIC_EOI',
  27: 'KVM_EXIT_HYPERV',
  28: 'KVM_EXIT_ARM_NISV',
  29: 'KVM_EXIT_X86_RDMSR',
  30: 'KVM_EXIT_X86_WRMSR',
  31: 'KVM_EXIT_DIRTY_RING_FULL',
  32: 'KVM_EXIT_AP_RESET_HOLD',
  33: 'KVM_EXIT_X86_BUS_LOCK',
  34: 'KVM_EXIT_XEN',
  35: 'KVM_EXIT_RISCV_SBI',
  36: 'KVM_EXIT_RISCV_CSR',
  37: 'KVM_EXIT_NOTIFY',
  38: 'KVM_EXIT_LOONGARCH_IOCSR',
  39: 'KVM_EXIT_MEMORY_FAULT',
  40: 'KVM_EXIT_TDX',
  41: 'KVM_EXIT_ARM_SEA',
};

// kvm_run.memory_fault.flags
export const KVM_MEMORY_EXIT_FLAG_PRIVATE = 1 << 3; // include/uapi/linux/kvm.h (1ULL << 3)
/** NOT UPSTREAM — KVM Userfault proposal: set when the fault hit a GFN marked in the userfault bitmap. */
export const KVM_MEMORY_EXIT_FLAG_USERFAULT = 1 << 4; // proposal: include/uapi/linux/kvm.h (1ULL << 4)

// kvm_run.internal.suberror for KVM_EXIT_INTERNAL_ERROR
export const KVM_INTERNAL_ERROR_EMULATION = 1; // include/uapi/linux/kvm.h
export const KVM_INTERNAL_ERROR_SIMUL_EX = 2; // include/uapi/linux/kvm.h
export const KVM_INTERNAL_ERROR_DELIVERY_EV = 3; // include/uapi/linux/kvm.h
/** TDX uses it for unhandled TD exits: data[0] = TDH.VP.ENTER status, data[1] = last vmentry cpu. */
export const KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4; // include/uapi/linux/kvm.h
export const KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES = 1; // include/uapi/linux/kvm.h (1ULL << 0)

export const INTERNAL_ERROR_NAMES: Record<number, string> = {
  1: 'KVM_INTERNAL_ERROR_EMULATION',
  2: 'KVM_INTERNAL_ERROR_SIMUL_EX',
  3: 'KVM_INTERNAL_ERROR_DELIVERY_EV',
  4: 'KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON',
};

// kvm_run.io.direction
export const KVM_EXIT_IO_IN = 0; // include/uapi/linux/kvm.h
export const KVM_EXIT_IO_OUT = 1; // include/uapi/linux/kvm.h
/** The I/O data buffer lives in the kvm_run mapping at page KVM_PIO_PAGE_OFFSET (x86). */
export const KVM_PIO_PAGE_OFFSET = 1; // arch/x86/include/uapi/asm/kvm.h
export const KVM_COALESCED_MMIO_PAGE_OFFSET = 2; // arch/x86/include/uapi/asm/kvm.h

// kvm_run.hypercall.flags (x86)
export const KVM_EXIT_HYPERCALL_LONG_MODE = 1; // arch/x86/include/uapi/asm/kvm.h (_BITULL(0))

// kvm_run.system_event.type
export const KVM_SYSTEM_EVENT_SHUTDOWN = 1; // include/uapi/linux/kvm.h
export const KVM_SYSTEM_EVENT_RESET = 2; // include/uapi/linux/kvm.h
export const KVM_SYSTEM_EVENT_CRASH = 3; // include/uapi/linux/kvm.h
export const KVM_SYSTEM_EVENT_WAKEUP = 4; // include/uapi/linux/kvm.h
export const KVM_SYSTEM_EVENT_SUSPEND = 5; // include/uapi/linux/kvm.h
export const KVM_SYSTEM_EVENT_SEV_TERM = 6; // include/uapi/linux/kvm.h
/** TDG.VP.VMCALL<ReportFatalError>: data[] carries the guest's error code and message registers. */
export const KVM_SYSTEM_EVENT_TDX_FATAL = 7; // include/uapi/linux/kvm.h

export const SYSTEM_EVENT_NAMES: Record<number, string> = {
  1: 'KVM_SYSTEM_EVENT_SHUTDOWN',
  2: 'KVM_SYSTEM_EVENT_RESET',
  3: 'KVM_SYSTEM_EVENT_CRASH',
  4: 'KVM_SYSTEM_EVENT_WAKEUP',
  5: 'KVM_SYSTEM_EVENT_SUSPEND',
  6: 'KVM_SYSTEM_EVENT_SEV_TERM',
  7: 'KVM_SYSTEM_EVENT_TDX_FATAL',
};

// ---------------------------------------------------------------------------------------------
// Hypercalls (KVM_EXIT_HYPERCALL.nr) — include/uapi/linux/kvm_para.h
// (include/linux/kvm_para.h only wraps the uapi header; it defines no KVM_HC_* numbers.)
// ---------------------------------------------------------------------------------------------
export const KVM_HC_VAPIC_POLL_IRQ = 1; // include/uapi/linux/kvm_para.h
export const KVM_HC_MMU_OP = 2; // include/uapi/linux/kvm_para.h
export const KVM_HC_FEATURES = 3; // include/uapi/linux/kvm_para.h
export const KVM_HC_PPC_MAP_MAGIC_PAGE = 4; // include/uapi/linux/kvm_para.h
export const KVM_HC_KICK_CPU = 5; // include/uapi/linux/kvm_para.h
export const KVM_HC_MIPS_GET_CLOCK_FREQ = 6; // include/uapi/linux/kvm_para.h
export const KVM_HC_MIPS_EXIT_VM = 7; // include/uapi/linux/kvm_para.h
export const KVM_HC_MIPS_CONSOLE_OUTPUT = 8; // include/uapi/linux/kvm_para.h
export const KVM_HC_CLOCK_PAIRING = 9; // include/uapi/linux/kvm_para.h
export const KVM_HC_SEND_IPI = 10; // include/uapi/linux/kvm_para.h
export const KVM_HC_SCHED_YIELD = 11; // include/uapi/linux/kvm_para.h
/** args = {gpa, npages, attrs}; reaches userspace only if enabled via KVM_CAP_EXIT_HYPERCALL (bit 12). */
export const KVM_HC_MAP_GPA_RANGE = 12; // include/uapi/linux/kvm_para.h

export const HYPERCALL_NAMES: Record<number, string> = {
  1: 'KVM_HC_VAPIC_POLL_IRQ',
  2: 'KVM_HC_MMU_OP',
  3: 'KVM_HC_FEATURES',
  4: 'KVM_HC_PPC_MAP_MAGIC_PAGE',
  5: 'KVM_HC_KICK_CPU',
  6: 'KVM_HC_MIPS_GET_CLOCK_FREQ',
  7: 'KVM_HC_MIPS_EXIT_VM',
  8: 'KVM_HC_MIPS_CONSOLE_OUTPUT',
  9: 'KVM_HC_CLOCK_PAIRING',
  10: 'KVM_HC_SEND_IPI',
  11: 'KVM_HC_SCHED_YIELD',
  12: 'KVM_HC_MAP_GPA_RANGE',
};

// Hypercall return values (guest-visible)
export const KVM_ENOSYS = 1000; // include/uapi/linux/kvm_para.h
export const KVM_EOPNOTSUPP = 95; // include/uapi/linux/kvm_para.h

// KVM_HC_MAP_GPA_RANGE attrs (args[2])
export const KVM_MAP_GPA_RANGE_PAGE_SZ_4K = 0; // arch/x86/include/uapi/asm/kvm_para.h
export const KVM_MAP_GPA_RANGE_PAGE_SZ_2M = 1 << 0; // arch/x86/include/uapi/asm/kvm_para.h
export const KVM_MAP_GPA_RANGE_PAGE_SZ_1G = 1 << 1; // arch/x86/include/uapi/asm/kvm_para.h
export const KVM_MAP_GPA_RANGE_ENCRYPTED = 1 << 4; // arch/x86/include/uapi/asm/kvm_para.h: ENC_STAT(1) = 1 << 4
export const KVM_MAP_GPA_RANGE_DECRYPTED = 0 << 4; // arch/x86/include/uapi/asm/kvm_para.h: ENC_STAT(0) = 0
export const KVM_FEATURE_HC_MAP_GPA_RANGE = 16; // arch/x86/include/uapi/asm/kvm_para.h (CPUID 0x40000001 bit)

// ---------------------------------------------------------------------------------------------
// Dirty logging
// ---------------------------------------------------------------------------------------------
// KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) args[0]
export const KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1 << 0; // include/uapi/linux/kvm.h
export const KVM_DIRTY_LOG_INITIALLY_SET = 1 << 1; // include/uapi/linux/kvm.h
// struct kvm_dirty_gfn {u32 flags; u32 slot; u64 offset;}; 00 invalid → 01 dirty → 1X reset by user
export const KVM_DIRTY_GFN_F_DIRTY = 1 << 0; // include/uapi/linux/kvm.h (_BITUL(0))
export const KVM_DIRTY_GFN_F_RESET = 1 << 1; // include/uapi/linux/kvm.h (_BITUL(1))
export const KVM_DIRTY_GFN_F_MASK = 0x3; // include/uapi/linux/kvm.h
/** Dirty rings are mmap()ed from the vCPU fd at this page offset (x86). */
export const KVM_DIRTY_LOG_PAGE_OFFSET = 64; // arch/x86/include/uapi/asm/kvm.h

// ---------------------------------------------------------------------------------------------
// MSR filtering and userspace MSR exits
// ---------------------------------------------------------------------------------------------
export const KVM_MSR_FILTER_READ = 1 << 0; // arch/x86/include/uapi/asm/kvm.h (kvm_msr_filter_range.flags)
export const KVM_MSR_FILTER_WRITE = 1 << 1; // arch/x86/include/uapi/asm/kvm.h
export const KVM_MSR_FILTER_DEFAULT_ALLOW = 0 << 0; // arch/x86/include/uapi/asm/kvm.h (kvm_msr_filter.flags)
export const KVM_MSR_FILTER_DEFAULT_DENY = 1 << 0; // arch/x86/include/uapi/asm/kvm.h
export const KVM_MSR_FILTER_MAX_RANGES = 16; // arch/x86/include/uapi/asm/kvm.h
export const KVM_MSR_FILTER_MAX_BITMAP_SIZE = 0x600; // arch/x86/include/uapi/asm/kvm.h ("in bytes")
// kvm_run.msr.reason, and the mask given to KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)
export const KVM_MSR_EXIT_REASON_INVAL = 1 << 0; // include/uapi/linux/kvm.h
export const KVM_MSR_EXIT_REASON_UNKNOWN = 1 << 1; // include/uapi/linux/kvm.h
export const KVM_MSR_EXIT_REASON_FILTER = 1 << 2; // include/uapi/linux/kvm.h

/** KVM_CHECK_EXTENSION(KVM_CAP_SYNC_REGS): KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS. */
export const KVM_SYNC_X86_VALID_FIELDS = 0x7; // arch/x86/include/uapi/asm/kvm.h (1 << 0 | 1 << 1 | 1 << 2)

// KVM_CAP_X2APIC_API args[0]
export const KVM_X2APIC_API_USE_32BIT_IDS = 1 << 0; // arch/x86/include/uapi/asm/kvm.h
export const KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK = 1 << 1; // arch/x86/include/uapi/asm/kvm.h

// ---------------------------------------------------------------------------------------------
// TDX: KVM_MEMORY_ENCRYPT_OP sub-commands (struct kvm_tdx_cmd.id) — arch/x86/include/uapi/asm/kvm.h
// struct kvm_tdx_cmd {u32 id; u32 flags; u64 data; u64 hw_error /* SEAMCALL status */};
// ---------------------------------------------------------------------------------------------
export const KVM_TDX_CAPABILITIES = 0; // arch/x86/include/uapi/asm/kvm.h (enum kvm_tdx_cmd_id)
export const KVM_TDX_INIT_VM = 1; // arch/x86/include/uapi/asm/kvm.h
export const KVM_TDX_INIT_VCPU = 2; // arch/x86/include/uapi/asm/kvm.h
export const KVM_TDX_INIT_MEM_REGION = 3; // arch/x86/include/uapi/asm/kvm.h
export const KVM_TDX_FINALIZE_VM = 4; // arch/x86/include/uapi/asm/kvm.h
export const KVM_TDX_GET_CPUID = 5; // arch/x86/include/uapi/asm/kvm.h
export const KVM_TDX_CMD_NR_MAX = 6; // arch/x86/include/uapi/asm/kvm.h
/** kvm_tdx_cmd.flags for KVM_TDX_INIT_MEM_REGION: also TDH.MR.EXTEND the pages. */
export const KVM_TDX_MEASURE_MEMORY_REGION = 1 << 0; // arch/x86/include/uapi/asm/kvm.h (_BITULL(0))

export const TDX_CMD_NAMES: Record<number, string> = {
  0: 'KVM_TDX_CAPABILITIES',
  1: 'KVM_TDX_INIT_VM',
  2: 'KVM_TDX_INIT_VCPU',
  3: 'KVM_TDX_INIT_MEM_REGION',
  4: 'KVM_TDX_FINALIZE_VM',
  5: 'KVM_TDX_GET_CPUID',
};

// ---------------------------------------------------------------------------------------------
// ioctl request numbers, computed from _IO/_IOR/_IOW/_IOWR with KVMIO 0xAE and x86-64 struct sizes.
// Struct sizes: kvm_userspace_memory_region 32, kvm_userspace_memory_region2 160 (48 + pad2[14]*8),
// kvm_memory_attributes 32, kvm_create_guest_memfd 64, kvm_dirty_log 16, kvm_clear_dirty_log 24,
// kvm_enable_cap 104, unsigned long 8, kvm_msr_filter 392 (flags 4 + pad 4 + 16 * 24-byte ranges),
// kvm_regs 144 (18 * u64), kvm_pre_fault_memory 64.
// Cross-checked: KVM_RUN 0xAE80, KVM_CREATE_VM 0xAE01, KVM_SET_USER_MEMORY_REGION 0x4020AE46,
// KVM_ENABLE_CAP 0x4068AEA3, KVM_MEMORY_ENCRYPT_OP 0xC008AEBA, KVM_GET_REGS 0x8090AE81.
// Values ≥ 0x80000000 are unsigned 32-bit numbers (as ioctl(2) sees them).
// ---------------------------------------------------------------------------------------------
export const IOCTL: Record<string, number> = {
  KVM_CREATE_VM: 0xae01, // _IO(KVMIO, 0x01)
  KVM_CHECK_EXTENSION: 0xae03, // _IO(KVMIO, 0x03)
  KVM_CREATE_VCPU: 0xae41, // _IO(KVMIO, 0x41)
  KVM_GET_DIRTY_LOG: 0x4010ae42, // _IOW(KVMIO, 0x42, struct kvm_dirty_log)
  KVM_SET_USER_MEMORY_REGION: 0x4020ae46, // _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region)
  KVM_SET_USER_MEMORY_REGION2: 0x40a0ae49, // _IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
  KVM_RUN: 0xae80, // _IO(KVMIO, 0x80)
  KVM_GET_REGS: 0x8090ae81, // _IOR(KVMIO, 0x81, struct kvm_regs)
  KVM_SET_REGS: 0x4090ae82, // _IOW(KVMIO, 0x82, struct kvm_regs)
  KVM_ENABLE_CAP: 0x4068aea3, // _IOW(KVMIO, 0xa3, struct kvm_enable_cap)
  KVM_MEMORY_ENCRYPT_OP: 0xc008aeba, // _IOWR(KVMIO, 0xba, unsigned long)
  KVM_CLEAR_DIRTY_LOG: 0xc018aec0, // _IOWR(KVMIO, 0xc0, struct kvm_clear_dirty_log)
  KVM_X86_SET_MSR_FILTER: 0x4188aec6, // _IOW(KVMIO, 0xc6, struct kvm_msr_filter)
  KVM_RESET_DIRTY_RINGS: 0xaec7, // _IO(KVMIO, 0xc7)
  KVM_SET_MEMORY_ATTRIBUTES: 0x4020aed2, // _IOW(KVMIO, 0xd2, struct kvm_memory_attributes)
  KVM_CREATE_GUEST_MEMFD: 0xc040aed4, // _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
  KVM_PRE_FAULT_MEMORY: 0xc040aed5, // _IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
};

export const IOCTL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(IOCTL).map(([name, nr]) => [nr, name]),
);

// ---------------------------------------------------------------------------------------------
// Behaviour notes the simulator must reproduce (verified findings)
// ---------------------------------------------------------------------------------------------
//
// guest_memfd file operations (virt/kvm/guest_memfd.c, tools/testing/selftests/kvm/guest_memfd_test.c):
//  - kvm_gmem_fops has only .mmap, .open, .release, .fallocate — no .read/.write/.read_iter.
//    guest_memfd_test.c test_file_read_write() asserts only that read(), write(), pread() and
//    pwrite() return < 0; it does not check errno. The errno follows from the VFS (derived, not
//    tested by the selftest — UNVERIFIED by execution):
//      read()/write()   → EINVAL (file opened O_RDWR, but FMODE_CAN_READ/WRITE unset: no read/write op)
//      pread()/pwrite() → ESPIPE (FMODE_PREAD/PWRITE are set only by do_dentry_open() in fs/open.c,
//                         which anon-inode files created by anon_inode_create_getfile() skip)
//  - mmap(): without GUEST_MEMFD_FLAG_MMAP → ENODEV; MAP_PRIVATE (copy-on-write) → EINVAL;
//    faulting a page of a mapping whose file lacks GUEST_MEMFD_FLAG_INIT_SHARED → SIGBUS.
//  - KVM_CREATE_GUEST_MEMFD: any VM type; flags & ~kvm_gmem_get_supported_flags() (MMAP, plus INIT_SHARED
//    unless the VM has private memory), or size <= 0 or not page aligned → EINVAL.
//  - fallocate(): mode without KEEP_SIZE, or any bit other than KEEP_SIZE|PUNCH_HOLE → EOPNOTSUPP;
//    offset/len not page aligned → EINVAL; allocating past i_size → EINVAL; punching past it is OK.
//  - kvm_gmem_bind(): fd not a guest_memfd (EINVAL), other VM's file (EINVAL), offset unaligned or
//    beyond size (EINVAL), and a file range already bound to another slot → EINVAL (r = -EINVAL).
//    The EEXIST in set_memory_region_test ("Overlapping guest_memfd() bindings should fail with
//    EEXIST") comes from the GPA-overlap check in kvm_main.c, which runs before kvm_gmem_bind().
//
// KVM_RUN when a TD touches a PENDING private page with SEPT_VE_DISABLE set
// (arch/x86/kvm/vmx/tdx.c, tdx_handle_ept_violation(), stored mainline version):
//    pr_warn("Guest access before accepting 0x%llx on vCPU %d\n", gpa, vcpu->vcpu_id);
//    kvm_vm_dead(vcpu->kvm);  return -EIO;
//  → KVM_RUN fails with errno EIO and the VM is dead (later ioctls on it also fail with EIO).
//  A July 2025 patch by Sean Christopherson ("KVM: TDX: Exit with MEMORY_FAULT on unexpected pending
//  S-EPT Violation", series "KVM: Drop vm_dead, pivot on vm_bugged for -EIO") changes this to
//  KVM_EXIT_MEMORY_FAULT with memory_fault.size = 0 and errno EFAULT, and drops the message.
//  Whether it is merged in a given kernel: UNVERIFIED from the stored tree.
