/**
 * Intel TDX ABI constants: SEAMCALL (host → TDX module) and TDCALL (guest → TDX module) leaves,
 * TDG.VP.VMCALL (guest → VMM) sub-functions, status codes, TD attributes, Secure-EPT states.
 *
 * Verified against (see docs/abi-sources.md):
 *  - Linux: arch/x86/virt/vmx/tdx/tdx.h, arch/x86/include/asm/shared/tdx.h,
 *    arch/x86/include/asm/shared/tdx_errno.h, arch/x86/include/asm/tdx.h,
 *    arch/x86/kvm/vmx/tdx_arch.h, arch/x86/kvm/vmx/tdx_errno.h, arch/x86/kvm/vmx/tdx.c,
 *    arch/x86/coco/tdx/tdx.c, arch/x86/coco/tdx/tdx-shared.c, arch/x86/include/uapi/asm/vmx.h;
 *  - Intel's TDX module source (github.com/intel/tdx-module): include/tdx_api_defs.h,
 *    include/auto_gen/tdx_error_codes_defs.h, include/auto_gen/sept_state_lookup.h,
 *    src/common/memory_handlers/sept_manager.h, src/td_dispatcher/.../tdg_vp_info.c;
 *  - QEMU target/i386/kvm/tdx.h (TDVMCALL sub-function and status numbers it handles).
 *
 * 64-bit register values are bigint. Leaf numbers and sub-functions are number.
 */

// ---------------------------------------------------------------------------------------------
// SEAMCALL leaves (RAX bits 15:0 = leaf, bits 23:16 = version) — arch/x86/virt/vmx/tdx/tdx.h
// ---------------------------------------------------------------------------------------------
export const TDX_VERSION_SHIFT = 16; // arch/x86/virt/vmx/tdx/tdx.h

export const TDH_VP_ENTER = 0; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MNG_ADDCX = 1; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MEM_PAGE_ADD = 2; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MEM_SEPT_ADD = 3; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_VP_ADDCX = 4; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MEM_PAGE_RELOCATE = 5; // intel/tdx-module include/tdx_api_defs.h (not used by Linux)
export const TDH_MEM_PAGE_AUG = 6; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MEM_RANGE_BLOCK = 7; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MNG_KEY_CONFIG = 8; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MNG_CREATE = 9; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_VP_CREATE = 10; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MNG_RD = 11; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MEM_RD = 12; // intel/tdx-module include/tdx_api_defs.h
export const TDH_MNG_WR = 13; // intel/tdx-module include/tdx_api_defs.h
export const TDH_MEM_WR = 14; // intel/tdx-module include/tdx_api_defs.h
export const TDH_MEM_PAGE_DEMOTE = 15; // intel/tdx-module include/tdx_api_defs.h
export const TDH_MR_EXTEND = 16; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MR_FINALIZE = 17; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_VP_FLUSH = 18; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MNG_VPFLUSHDONE = 19; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MNG_KEY_FREEID = 20; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MNG_INIT = 21; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_VP_INIT = 22; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MEM_PAGE_PROMOTE = 23; // intel/tdx-module include/tdx_api_defs.h
export const TDH_PHYMEM_PAGE_RDMD = 24; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MEM_SEPT_RD = 25; // intel/tdx-module include/tdx_api_defs.h
export const TDH_VP_RD = 26; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MNG_KEY_RECLAIMID = 27; // intel/tdx-module include/tdx_api_defs.h
export const TDH_PHYMEM_PAGE_RECLAIM = 28; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MEM_PAGE_REMOVE = 29; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MEM_SEPT_REMOVE = 30; // intel/tdx-module include/tdx_api_defs.h (not in Linux tdx.h)
export const TDH_SYS_KEY_CONFIG = 31; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_SYS_INFO = 32; // intel/tdx-module include/tdx_api_defs.h
export const TDH_SYS_INIT = 33; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_SYS_RD = 34; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_SYS_LP_INIT = 35; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_SYS_TDMR_INIT = 36; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_SYS_RDALL = 37; // intel/tdx-module include/tdx_api_defs.h
export const TDH_MEM_TRACK = 38; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MEM_RANGE_UNBLOCK = 39; // intel/tdx-module include/tdx_api_defs.h (not in Linux tdx.h)
export const TDH_PHYMEM_CACHE_WB = 40; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_PHYMEM_PAGE_WBINVD = 41; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_MEM_SEPT_WR = 42; // intel/tdx-module include/tdx_api_defs.h
export const TDH_VP_WR = 43; // arch/x86/virt/vmx/tdx/tdx.h
export const TDH_SYS_LP_SHUTDOWN = 44; // intel/tdx-module include/tdx_api_defs.h
export const TDH_SYS_CONFIG = 45; // arch/x86/virt/vmx/tdx/tdx.h

// Service-TD binding and TD migration leaves (TDX module 1.5+, "TD Migration" spec). Not used by
// mainline Linux; numbers from intel/tdx-module include/tdx_api_defs.h (enum seamcall_leaf_opcode_e).
export const TDH_SERVTD_BIND = 48; // intel/tdx-module include/tdx_api_defs.h
export const TDH_SERVTD_PREBIND = 49; // intel/tdx-module include/tdx_api_defs.h
export const TDH_EXPORT_ABORT = 64; // intel/tdx-module include/tdx_api_defs.h
export const TDH_EXPORT_BLOCKW = 65; // intel/tdx-module include/tdx_api_defs.h
export const TDH_EXPORT_RESTORE = 66; // intel/tdx-module include/tdx_api_defs.h
export const TDH_EXPORT_MEM = 68; // intel/tdx-module include/tdx_api_defs.h
export const TDH_EXPORT_PAUSE = 70; // intel/tdx-module include/tdx_api_defs.h
export const TDH_EXPORT_TRACK = 71; // intel/tdx-module include/tdx_api_defs.h
export const TDH_EXPORT_STATE_IMMUTABLE = 72; // intel/tdx-module include/tdx_api_defs.h
export const TDH_EXPORT_STATE_TD = 73; // intel/tdx-module include/tdx_api_defs.h
export const TDH_EXPORT_STATE_VP = 74; // intel/tdx-module include/tdx_api_defs.h
export const TDH_EXPORT_UNBLOCKW = 75; // intel/tdx-module include/tdx_api_defs.h
export const TDH_IMPORT_ABORT = 80; // intel/tdx-module include/tdx_api_defs.h
export const TDH_IMPORT_END = 81; // intel/tdx-module include/tdx_api_defs.h
export const TDH_IMPORT_COMMIT = 82; // intel/tdx-module include/tdx_api_defs.h
export const TDH_IMPORT_MEM = 83; // intel/tdx-module include/tdx_api_defs.h
export const TDH_IMPORT_TRACK = 84; // intel/tdx-module include/tdx_api_defs.h
export const TDH_IMPORT_STATE_IMMUTABLE = 85; // intel/tdx-module include/tdx_api_defs.h
export const TDH_IMPORT_STATE_TD = 86; // intel/tdx-module include/tdx_api_defs.h
export const TDH_IMPORT_STATE_VP = 87; // intel/tdx-module include/tdx_api_defs.h
export const TDH_MIG_STREAM_CREATE = 96; // intel/tdx-module include/tdx_api_defs.h

/** Leaf number → the spec's dotted name. */
export const SEAMCALL_NAMES: Record<number, string> = {
  0: 'TDH.VP.ENTER',
  1: 'TDH.MNG.ADDCX',
  2: 'TDH.MEM.PAGE.ADD',
  3: 'TDH.MEM.SEPT.ADD',
  4: 'TDH.VP.ADDCX',
  5: 'TDH.MEM.PAGE.RELOCATE',
  6: 'TDH.MEM.PAGE.AUG',
  7: 'TDH.MEM.RANGE.BLOCK',
  8: 'TDH.MNG.KEY.CONFIG',
  9: 'TDH.MNG.CREATE',
  10: 'TDH.VP.CREATE',
  11: 'TDH.MNG.RD',
  12: 'TDH.MEM.RD',
  13: 'TDH.MNG.WR',
  14: 'TDH.MEM.WR',
  15: 'TDH.MEM.PAGE.DEMOTE',
  16: 'TDH.MR.EXTEND',
  17: 'TDH.MR.FINALIZE',
  18: 'TDH.VP.FLUSH',
  19: 'TDH.MNG.VPFLUSHDONE',
  20: 'TDH.MNG.KEY.FREEID',
  21: 'TDH.MNG.INIT',
  22: 'TDH.VP.INIT',
  23: 'TDH.MEM.PAGE.PROMOTE',
  24: 'TDH.PHYMEM.PAGE.RDMD',
  25: 'TDH.MEM.SEPT.RD',
  26: 'TDH.VP.RD',
  27: 'TDH.MNG.KEY.RECLAIMID',
  28: 'TDH.PHYMEM.PAGE.RECLAIM',
  29: 'TDH.MEM.PAGE.REMOVE',
  30: 'TDH.MEM.SEPT.REMOVE',
  31: 'TDH.SYS.KEY.CONFIG',
  32: 'TDH.SYS.INFO',
  33: 'TDH.SYS.INIT',
  34: 'TDH.SYS.RD',
  35: 'TDH.SYS.LP.INIT',
  36: 'TDH.SYS.TDMR.INIT',
  37: 'TDH.SYS.RDALL',
  38: 'TDH.MEM.TRACK',
  39: 'TDH.MEM.RANGE.UNBLOCK',
  40: 'TDH.PHYMEM.CACHE.WB',
  41: 'TDH.PHYMEM.PAGE.WBINVD',
  42: 'TDH.MEM.SEPT.WR',
  43: 'TDH.VP.WR',
  44: 'TDH.SYS.LP.SHUTDOWN',
  45: 'TDH.SYS.CONFIG',
  48: 'TDH.SERVTD.BIND',
  49: 'TDH.SERVTD.PREBIND',
  64: 'TDH.EXPORT.ABORT',
  65: 'TDH.EXPORT.BLOCKW',
  66: 'TDH.EXPORT.RESTORE',
  68: 'TDH.EXPORT.MEM',
  70: 'TDH.EXPORT.PAUSE',
  71: 'TDH.EXPORT.TRACK',
  72: 'TDH.EXPORT.STATE.IMMUTABLE',
  73: 'TDH.EXPORT.STATE.TD',
  74: 'TDH.EXPORT.STATE.VP',
  75: 'TDH.EXPORT.UNBLOCKW',
  80: 'TDH.IMPORT.ABORT',
  81: 'TDH.IMPORT.END',
  82: 'TDH.IMPORT.COMMIT',
  83: 'TDH.IMPORT.MEM',
  84: 'TDH.IMPORT.TRACK',
  85: 'TDH.IMPORT.STATE.IMMUTABLE',
  86: 'TDH.IMPORT.STATE.TD',
  87: 'TDH.IMPORT.STATE.VP',
  96: 'TDH.MIG.STREAM.CREATE',
};

// ---------------------------------------------------------------------------------------------
// TDCALL leaves (guest → TDX module, leaf in RAX) — arch/x86/include/asm/shared/tdx.h
// ---------------------------------------------------------------------------------------------
export const TDG_VP_VMCALL = 0; // arch/x86/include/asm/shared/tdx.h
export const TDG_VP_INFO = 1; // arch/x86/include/asm/shared/tdx.h
export const TDG_MR_RTMR_EXTEND = 2; // arch/x86/include/asm/shared/tdx.h (added 2025, RTMR sysfs series)
export const TDG_VP_VEINFO_GET = 3; // arch/x86/include/asm/shared/tdx.h
export const TDG_MR_REPORT = 4; // arch/x86/include/asm/shared/tdx.h
export const TDG_VP_CPUIDVE_SET = 5; // intel/tdx-module include/tdx_api_defs.h (not defined by Linux)
export const TDG_MEM_PAGE_ACCEPT = 6; // arch/x86/include/asm/shared/tdx.h
export const TDG_VM_RD = 7; // arch/x86/include/asm/shared/tdx.h
export const TDG_VM_WR = 8; // arch/x86/include/asm/shared/tdx.h
export const TDG_VP_RD = 9; // intel/tdx-module include/tdx_api_defs.h
export const TDG_VP_WR = 10; // intel/tdx-module include/tdx_api_defs.h
export const TDG_SYS_RD = 11; // intel/tdx-module include/tdx_api_defs.h
export const TDG_SYS_RDALL = 12; // intel/tdx-module include/tdx_api_defs.h
export const TDG_SERVTD_RD = 18; // intel/tdx-module include/tdx_api_defs.h
export const TDG_SERVTD_WR = 20; // intel/tdx-module include/tdx_api_defs.h
export const TDG_MR_VERIFYREPORT = 22; // intel/tdx-module include/tdx_api_defs.h
export const TDG_MEM_PAGE_ATTR_RD = 23; // intel/tdx-module include/tdx_api_defs.h
export const TDG_MEM_PAGE_ATTR_WR = 24; // intel/tdx-module include/tdx_api_defs.h

export const TDCALL_NAMES: Record<number, string> = {
  0: 'TDG.VP.VMCALL',
  1: 'TDG.VP.INFO',
  2: 'TDG.MR.RTMR.EXTEND',
  3: 'TDG.VP.VEINFO.GET',
  4: 'TDG.MR.REPORT',
  5: 'TDG.VP.CPUIDVE.SET',
  6: 'TDG.MEM.PAGE.ACCEPT',
  7: 'TDG.VM.RD',
  8: 'TDG.VM.WR',
  9: 'TDG.VP.RD',
  10: 'TDG.VP.WR',
  11: 'TDG.SYS.RD',
  12: 'TDG.SYS.RDALL',
  18: 'TDG.SERVTD.RD',
  20: 'TDG.SERVTD.WR',
  22: 'TDG.MR.VERIFYREPORT',
  23: 'TDG.MEM.PAGE.ATTR.RD',
  24: 'TDG.MEM.PAGE.ATTR.WR',
};

/** TDG.MEM.PAGE.ACCEPT RCX = GPA | level; level in bits 2:0 (arch/x86/coco/tdx/tdx-shared.c). */
export const TDX_PS_4K = 0; // arch/x86/include/asm/shared/tdx.h
export const TDX_PS_2M = 1; // arch/x86/include/asm/shared/tdx.h
export const TDX_PS_1G = 2; // arch/x86/include/asm/shared/tdx.h

/** CPUID leaf 0x21 returns "IntelTDX    " in EBX, EDX, ECX inside a TD. */
export const TDX_CPUID_LEAF_ID = 0x21; // arch/x86/include/asm/shared/tdx.h
export const TDX_IDENT = 'IntelTDX    '; // arch/x86/include/asm/shared/tdx.h

// ---------------------------------------------------------------------------------------------
// TDG.VP.VMCALL (guest → VMM through the TDX module)
// ---------------------------------------------------------------------------------------------
//
// Register convention (arch/x86/include/asm/shared/tdx.h _tdx_hypercall(), arch/x86/coco/tdx/tdx.c,
// GHCI spec "TDCALL [TDG.VP.VMCALL] leaf"):
//   RAX = 0 (TDG_VP_VMCALL)             → on return: TDX module status of the TDCALL itself
//   RCX = bitmap of registers exposed to the VMM (TDVMCALL_EXPOSE_REGS_MASK: RDX RBX RSI RDI R8-R15)
//   R10 = TDX_HYPERCALL_STANDARD (0)     → on return: TDVMCALL status (TDVMCALL_STATUS_*)
//         (non-zero R10 = a KVM hypercall number: tdx_kvm_hypercall() puts nr in R10, p1..p4 in R11..R14)
//   R11 = sub-function (TDVMCALL_* or a VMX EXIT_REASON_*) → on return: output value
//   R12, R13, R14, R15 = arguments 0..3 (more in RBX, RDI, RSI, R8, R9, RDX, e.g. ReportFatalError)
//   MapGPA: R12 = start GPA (shared bit set to convert to shared), R13 = size. If the VMM answers
//   TDVMCALL_STATUS_RETRY, R11 = the GPA at which to resume; Linux re-issues from there (max 3 tries
//   without progress) and fails if R11 is outside [start, end).
//   KVM forwards MapGPA to userspace as KVM_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE) in chunks of
//   TDX_MAP_GPA_MAX_LEN; on a pending interrupt it returns RETRY with R11 = next GPA; if userspace
//   fails the hypercall it returns INVALID_OPERAND with R11 = next GPA (arch/x86/kvm/vmx/tdx.c).
export const TDX_HYPERCALL_STANDARD = 0; // arch/x86/include/asm/shared/tdx.h
export const TDX_MAP_GPA_MAX_LEN = 2 * 1024 * 1024; // arch/x86/kvm/vmx/tdx.c (KVM-side chunk size)

// Register bits for RCX (which GPRs are passed to the VMM)
export const TDX_RDX = 1 << 2; // arch/x86/include/asm/shared/tdx.h
export const TDX_RBX = 1 << 3; // arch/x86/include/asm/shared/tdx.h
export const TDX_RSI = 1 << 6; // arch/x86/include/asm/shared/tdx.h
export const TDX_RDI = 1 << 7; // arch/x86/include/asm/shared/tdx.h
export const TDX_R8 = 1 << 8; // arch/x86/include/asm/shared/tdx.h
export const TDX_R9 = 1 << 9; // arch/x86/include/asm/shared/tdx.h
export const TDX_R10 = 1 << 10; // arch/x86/include/asm/shared/tdx.h
export const TDX_R11 = 1 << 11; // arch/x86/include/asm/shared/tdx.h
export const TDX_R12 = 1 << 12; // arch/x86/include/asm/shared/tdx.h
export const TDX_R13 = 1 << 13; // arch/x86/include/asm/shared/tdx.h
export const TDX_R14 = 1 << 14; // arch/x86/include/asm/shared/tdx.h
export const TDX_R15 = 1 << 15; // arch/x86/include/asm/shared/tdx.h
export const TDVMCALL_EXPOSE_REGS_MASK = 0xffcc; // arch/x86/include/asm/shared/tdx.h (OR of the above)

// Sub-functions (R11) that are not VMX exit reasons
export const TDVMCALL_GET_TD_VM_CALL_INFO = 0x10000; // QEMU target/i386/kvm/tdx.h; kvm_run.tdx.get_tdvmcall_info
export const TDVMCALL_MAP_GPA = 0x10001; // arch/x86/include/asm/shared/tdx.h
export const TDVMCALL_GET_QUOTE = 0x10002; // arch/x86/include/asm/shared/tdx.h
export const TDVMCALL_REPORT_FATAL_ERROR = 0x10003; // arch/x86/include/asm/shared/tdx.h
export const TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT = 0x10004; // QEMU target/i386/kvm/tdx.h; kvm_run.tdx.setup_event_notify

export const TDVMCALL_NAMES: Record<number, string> = {
  0x10000: 'GetTdVmCallInfo',
  0x10001: 'MapGPA',
  0x10002: 'GetQuote',
  0x10003: 'ReportFatalError',
  0x10004: 'SetupEventNotifyInterrupt',
};

// Instruction sub-functions reuse the VMX basic exit reasons (hcall_func(exit_reason) == exit_reason)
export const EXIT_REASON_CPUID = 10; // arch/x86/include/uapi/asm/vmx.h
export const EXIT_REASON_HLT = 12; // arch/x86/include/uapi/asm/vmx.h
export const EXIT_REASON_VMCALL = 18; // arch/x86/include/uapi/asm/vmx.h
export const EXIT_REASON_IO_INSTRUCTION = 30; // arch/x86/include/uapi/asm/vmx.h
export const EXIT_REASON_MSR_READ = 31; // arch/x86/include/uapi/asm/vmx.h
export const EXIT_REASON_MSR_WRITE = 32; // arch/x86/include/uapi/asm/vmx.h
export const EXIT_REASON_MWAIT_INSTRUCTION = 36; // arch/x86/include/uapi/asm/vmx.h
export const EXIT_REASON_MONITOR_INSTRUCTION = 39; // arch/x86/include/uapi/asm/vmx.h
export const EXIT_REASON_EPT_VIOLATION = 48; // arch/x86/include/uapi/asm/vmx.h (TDVMCALL: MMIO request)
export const EXIT_REASON_EPT_MISCONFIG = 49; // arch/x86/include/uapi/asm/vmx.h (KVM: TD MMIO exit path)
export const EXIT_REASON_WBINVD = 54; // arch/x86/include/uapi/asm/vmx.h
export const EXIT_REASON_TDCALL = 77; // arch/x86/include/uapi/asm/vmx.h (TDH.VP.ENTER exit for TDG.VP.VMCALL)

export const VMX_EXIT_REASON_NAMES: Record<number, string> = {
  10: 'CPUID',
  12: 'HLT',
  18: 'VMCALL',
  30: 'IO_INSTRUCTION',
  31: 'MSR_READ',
  32: 'MSR_WRITE',
  36: 'MWAIT_INSTRUCTION',
  39: 'MONITOR_INSTRUCTION',
  48: 'EPT_VIOLATION',
  49: 'EPT_MISCONFIG',
  54: 'WBINVD',
  77: 'TDCALL',
};

// TDVMCALL status codes, returned in R10
export const TDVMCALL_STATUS_SUCCESS = 0x0000000000000000n; // arch/x86/include/asm/shared/tdx.h
export const TDVMCALL_STATUS_RETRY = 0x0000000000000001n; // arch/x86/include/asm/shared/tdx.h
export const TDVMCALL_STATUS_INVALID_OPERAND = 0x8000000000000000n; // arch/x86/include/asm/shared/tdx.h
/** Name in QEMU is TDG_VP_VMCALL_GPA_INUSE; Linux does not define it. */
export const TDVMCALL_STATUS_GPA_INUSE = 0x8000000000000001n; // QEMU target/i386/kvm/tdx.h
export const TDVMCALL_STATUS_ALIGN_ERROR = 0x8000000000000002n; // arch/x86/include/asm/shared/tdx.h
export const TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED = 0x8000000000000003n; // arch/x86/include/asm/shared/tdx.h

export const TDVMCALL_STATUS_NAMES: ReadonlyMap<bigint, string> = new Map([
  [TDVMCALL_STATUS_SUCCESS, 'TDVMCALL_STATUS_SUCCESS'],
  [TDVMCALL_STATUS_RETRY, 'TDVMCALL_STATUS_RETRY'],
  [TDVMCALL_STATUS_INVALID_OPERAND, 'TDVMCALL_STATUS_INVALID_OPERAND'],
  [TDVMCALL_STATUS_GPA_INUSE, 'TDVMCALL_STATUS_GPA_INUSE'],
  [TDVMCALL_STATUS_ALIGN_ERROR, 'TDVMCALL_STATUS_ALIGN_ERROR'],
  [TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED, 'TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED'],
]);

// ---------------------------------------------------------------------------------------------
// TDX module status codes (RAX after SEAMCALL/TDCALL). Bits 63:32 = class+code, bits 31:0 = detail
// (e.g. operand id). Compare after masking with TDX_SEAMCALL_STATUS_MASK.
// Source: intel/tdx-module include/auto_gen/tdx_error_codes_defs.h; the subset Linux uses is in
// arch/x86/include/asm/shared/tdx_errno.h (older: arch/x86/kvm/vmx/tdx_errno.h).
// ---------------------------------------------------------------------------------------------
export const TDX_SEAMCALL_STATUS_MASK = 0xffffffff00000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_SUCCESS = 0x0000000000000000n; // arch/x86/include/asm/tdx.h
export const TDX_NON_RECOVERABLE_VCPU = 0x4000000100000000n; // shared/tdx_errno.h and tdx-module agree
/** tdx-module auto_gen value; Linux shared/tdx_errno.h has 0x4000000200000000 — they differ. */
export const TDX_NON_RECOVERABLE_TD = 0x6000000200000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_INTERRUPTED_RESUMABLE = 0x8000000300000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_INTERRUPTED_RESTARTABLE = 0x8000000400000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_OPERAND_INVALID = 0xc000010000000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_OPERAND_ADDR_RANGE_ERROR = 0xc000010100000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_OPERAND_BUSY = 0x8000020000000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_PREVIOUS_TLB_EPOCH_BUSY = 0x8000020100000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_SYS_BUSY = 0x8000020200000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_RND_NO_ENTROPY = 0x8000020300000000n; // arch/x86/include/asm/tdx.h
export const TDX_PAGE_METADATA_INCORRECT = 0xc000030000000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_PAGE_ALREADY_FREE = 0x0000030100000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_PAGE_NOT_OWNED_BY_TD = 0xc000030200000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_PAGE_NOT_FREE = 0xc000030300000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_TD_ASSOCIATED_PAGES_EXIST = 0xc000040000000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_TD_FATAL = 0xe000060400000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_TD_NON_DEBUG = 0xc000060500000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_LIFECYCLE_STATE_INCORRECT = 0xc000060700000000n; // intel/tdx-module tdx_error_codes_defs.h
/**
 * There is no TDX_TD_NOT_FINALIZED / TDX_TD_FINALIZED status. A SEAMCALL issued in the wrong TD
 * operation state (e.g. TDH.MEM.PAGE.ADD after TDH.MR.FINALIZE, TDH.VP.ENTER before it, TDH.MR.FINALIZE
 * twice) fails with TDX_OP_STATE_INCORRECT.
 */
export const TDX_OP_STATE_INCORRECT = 0xc000060800000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_VCPU_STATE_INCORRECT = 0xc000070000000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_VCPU_ASSOCIATED = 0x8000070100000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_VCPU_NOT_ASSOCIATED = 0x8000070200000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_NO_VALID_VE_INFO = 0xc000070400000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_KEY_GENERATION_FAILED = 0x8000080000000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_KEY_STATE_INCORRECT = 0xc000081100000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_KEY_CONFIGURED = 0x0000081500000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_NO_HKID_READY_TO_WBCACHE = 0x0000082100000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_FLUSHVP_NOT_DONE = 0x8000082400000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_EPT_WALK_FAILED = 0xc0000b0000000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_EPT_ENTRY_FREE = 0xc0000b0100000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_EPT_ENTRY_NOT_FREE = 0xc0000b0200000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_EPT_ENTRY_NOT_PRESENT = 0xc0000b0300000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_EPT_ENTRY_NOT_LEAF = 0xc0000b0400000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_EPT_ENTRY_LEAF = 0xc0000b0500000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_GPA_RANGE_NOT_BLOCKED = 0xc0000b0600000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_GPA_RANGE_ALREADY_BLOCKED = 0x00000b0700000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_TLB_TRACKING_NOT_DONE = 0xc0000b0800000000n; // intel/tdx-module tdx_error_codes_defs.h
/**
 * TDG.MEM.PAGE.ACCEPT on a page that is already MAPPED. Bit 63 is clear: a warning, not an error.
 * The Linux guest has no name for it: try_accept_one() (arch/x86/coco/tdx/tdx-shared.c) treats any
 * non-zero return as failure. TDVF/EDK2 and Intel's early guest trees call it
 * TDX_PAGE_ALREADY_ACCEPTED / TDX_EXIT_REASON_PAGE_ALREADY_ACCEPTED and tolerate it.
 */
export const TDX_PAGE_ALREADY_ACCEPTED = 0x00000b0a00000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_PAGE_SIZE_MISMATCH = 0xc0000b0b00000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_GPA_RANGE_BLOCKED = 0xc0000b0c00000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_EPT_ENTRY_STATE_INCORRECT = 0xc0000b0d00000000n; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_EPT_PAGE_NOT_FREE = 0xc0000b0e00000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_METADATA_FIELD_NOT_READABLE = 0xc0000c0200000000n; // arch/x86/include/asm/shared/tdx_errno.h
// migration-related (TD Migration, not upstream Linux)
export const TDX_NOT_WRITE_BLOCKED = 0xc0000e0200000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_ALREADY_WRITE_BLOCKED = 0x00000e0300000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_NOT_EXPORTED = 0xc0000e0400000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_EXPORTED_DIRTY_PAGES_REMAIN = 0xc0000e0700000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_TD_NOT_MIGRATABLE = 0xc0000e0900000000n; // intel/tdx-module tdx_error_codes_defs.h
export const TDX_INVALID_PAGE_MAC = 0xc0000e0f00000000n; // intel/tdx-module tdx_error_codes_defs.h

// Linux software-defined SEAMCALL errors (bits 47:40 = 0xFF, never produced by the module)
export const TDX_ERROR = 1n << 63n; // arch/x86/include/asm/tdx.h (_BITUL(63))
export const TDX_NON_RECOVERABLE = 1n << 62n; // arch/x86/include/asm/tdx.h (_BITUL(62))
export const TDX_SW_ERROR = 0x8000ff0000000000n; // arch/x86/include/asm/tdx.h: TDX_ERROR | GENMASK_ULL(47, 40)
export const TDX_SEAMCALL_VMFAILINVALID = 0x8000ff00ffff0000n; // arch/x86/include/asm/tdx.h: TDX_SW_ERROR | 0xFFFF0000
export const TDX_SEAMCALL_GP = 0x8000ff000000000dn; // arch/x86/include/asm/tdx.h: TDX_SW_ERROR | X86_TRAP_GP (13)
export const TDX_SEAMCALL_UD = 0x8000ff0000000006n; // arch/x86/include/asm/tdx.h: TDX_SW_ERROR | X86_TRAP_UD (6)

// Operand ids that appear in status bits 31:0
export const TDX_OPERAND_ID_RCX = 0x01; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_OPERAND_ID_TDR = 0x80; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_OPERAND_ID_SEPT = 0x92; // arch/x86/include/asm/shared/tdx_errno.h
export const TDX_OPERAND_ID_TD_EPOCH = 0xa9; // arch/x86/include/asm/shared/tdx_errno.h

/** Keyed by the masked status (bits 63:32); use tdxStatusName() to look a raw RAX value up. */
export const TDX_STATUS_NAMES: ReadonlyMap<bigint, string> = new Map([
  [TDX_SUCCESS, 'TDX_SUCCESS'],
  [TDX_NON_RECOVERABLE_VCPU, 'TDX_NON_RECOVERABLE_VCPU'],
  [TDX_NON_RECOVERABLE_TD, 'TDX_NON_RECOVERABLE_TD'],
  [TDX_INTERRUPTED_RESUMABLE, 'TDX_INTERRUPTED_RESUMABLE'],
  [TDX_INTERRUPTED_RESTARTABLE, 'TDX_INTERRUPTED_RESTARTABLE'],
  [TDX_OPERAND_INVALID, 'TDX_OPERAND_INVALID'],
  [TDX_OPERAND_ADDR_RANGE_ERROR, 'TDX_OPERAND_ADDR_RANGE_ERROR'],
  [TDX_OPERAND_BUSY, 'TDX_OPERAND_BUSY'],
  [TDX_PREVIOUS_TLB_EPOCH_BUSY, 'TDX_PREVIOUS_TLB_EPOCH_BUSY'],
  [TDX_SYS_BUSY, 'TDX_SYS_BUSY'],
  [TDX_RND_NO_ENTROPY, 'TDX_RND_NO_ENTROPY'],
  [TDX_PAGE_METADATA_INCORRECT, 'TDX_PAGE_METADATA_INCORRECT'],
  [TDX_PAGE_ALREADY_FREE, 'TDX_PAGE_ALREADY_FREE'],
  [TDX_PAGE_NOT_OWNED_BY_TD, 'TDX_PAGE_NOT_OWNED_BY_TD'],
  [TDX_PAGE_NOT_FREE, 'TDX_PAGE_NOT_FREE'],
  [TDX_TD_ASSOCIATED_PAGES_EXIST, 'TDX_TD_ASSOCIATED_PAGES_EXIST'],
  [TDX_TD_FATAL, 'TDX_TD_FATAL'],
  [TDX_TD_NON_DEBUG, 'TDX_TD_NON_DEBUG'],
  [TDX_LIFECYCLE_STATE_INCORRECT, 'TDX_LIFECYCLE_STATE_INCORRECT'],
  [TDX_OP_STATE_INCORRECT, 'TDX_OP_STATE_INCORRECT'],
  [TDX_VCPU_STATE_INCORRECT, 'TDX_VCPU_STATE_INCORRECT'],
  [TDX_VCPU_ASSOCIATED, 'TDX_VCPU_ASSOCIATED'],
  [TDX_VCPU_NOT_ASSOCIATED, 'TDX_VCPU_NOT_ASSOCIATED'],
  [TDX_NO_VALID_VE_INFO, 'TDX_NO_VALID_VE_INFO'],
  [TDX_KEY_GENERATION_FAILED, 'TDX_KEY_GENERATION_FAILED'],
  [TDX_KEY_STATE_INCORRECT, 'TDX_KEY_STATE_INCORRECT'],
  [TDX_KEY_CONFIGURED, 'TDX_KEY_CONFIGURED'],
  [TDX_NO_HKID_READY_TO_WBCACHE, 'TDX_NO_HKID_READY_TO_WBCACHE'],
  [TDX_FLUSHVP_NOT_DONE, 'TDX_FLUSHVP_NOT_DONE'],
  [TDX_EPT_WALK_FAILED, 'TDX_EPT_WALK_FAILED'],
  [TDX_EPT_ENTRY_FREE, 'TDX_EPT_ENTRY_FREE'],
  [TDX_EPT_ENTRY_NOT_FREE, 'TDX_EPT_ENTRY_NOT_FREE'],
  [TDX_EPT_ENTRY_NOT_PRESENT, 'TDX_EPT_ENTRY_NOT_PRESENT'],
  [TDX_EPT_ENTRY_NOT_LEAF, 'TDX_EPT_ENTRY_NOT_LEAF'],
  [TDX_EPT_ENTRY_LEAF, 'TDX_EPT_ENTRY_LEAF'],
  [TDX_GPA_RANGE_NOT_BLOCKED, 'TDX_GPA_RANGE_NOT_BLOCKED'],
  [TDX_GPA_RANGE_ALREADY_BLOCKED, 'TDX_GPA_RANGE_ALREADY_BLOCKED'],
  [TDX_TLB_TRACKING_NOT_DONE, 'TDX_TLB_TRACKING_NOT_DONE'],
  [TDX_PAGE_ALREADY_ACCEPTED, 'TDX_PAGE_ALREADY_ACCEPTED'],
  [TDX_PAGE_SIZE_MISMATCH, 'TDX_PAGE_SIZE_MISMATCH'],
  [TDX_GPA_RANGE_BLOCKED, 'TDX_GPA_RANGE_BLOCKED'],
  [TDX_EPT_ENTRY_STATE_INCORRECT, 'TDX_EPT_ENTRY_STATE_INCORRECT'],
  [TDX_EPT_PAGE_NOT_FREE, 'TDX_EPT_PAGE_NOT_FREE'],
  [TDX_METADATA_FIELD_NOT_READABLE, 'TDX_METADATA_FIELD_NOT_READABLE'],
  [TDX_NOT_WRITE_BLOCKED, 'TDX_NOT_WRITE_BLOCKED'],
  [TDX_ALREADY_WRITE_BLOCKED, 'TDX_ALREADY_WRITE_BLOCKED'],
  [TDX_NOT_EXPORTED, 'TDX_NOT_EXPORTED'],
  [TDX_EXPORTED_DIRTY_PAGES_REMAIN, 'TDX_EXPORTED_DIRTY_PAGES_REMAIN'],
  [TDX_TD_NOT_MIGRATABLE, 'TDX_TD_NOT_MIGRATABLE'],
  [TDX_INVALID_PAGE_MAC, 'TDX_INVALID_PAGE_MAC'],
  [TDX_SEAMCALL_VMFAILINVALID, 'TDX_SEAMCALL_VMFAILINVALID'],
  [TDX_SEAMCALL_GP, 'TDX_SEAMCALL_GP'],
  [TDX_SEAMCALL_UD, 'TDX_SEAMCALL_UD'],
]);

/** Name of a raw status: exact match first (SW errors), then by class+code (bits 63:32). */
export function tdxStatusName(status: bigint): string {
  return (
    TDX_STATUS_NAMES.get(status) ??
    TDX_STATUS_NAMES.get(status & TDX_SEAMCALL_STATUS_MASK) ??
    `0x${status.toString(16).padStart(16, '0')}`
  );
}

// ---------------------------------------------------------------------------------------------
// TD attributes (TD_PARAMS.ATTRIBUTES; TDG.VP.INFO returns them in RDX)
// Current names: TDX_ATTR_* in arch/x86/include/asm/shared/tdx.h.
// KVM's older names: TDX_TD_ATTR_* in arch/x86/kvm/vmx/tdx_arch.h (same bits).
// ---------------------------------------------------------------------------------------------
export const TDX_ATTR_DEBUG = 1n << 0n; // arch/x86/include/asm/shared/tdx.h
export const TDX_ATTR_HGS_PLUS_PROF = 1n << 4n; // arch/x86/include/asm/shared/tdx.h
export const TDX_ATTR_PERF_PROF = 1n << 5n; // arch/x86/include/asm/shared/tdx.h
export const TDX_ATTR_PMT_PROF = 1n << 6n; // arch/x86/include/asm/shared/tdx.h
export const TDX_ATTR_ICSSD = 1n << 16n; // arch/x86/include/asm/shared/tdx.h
export const TDX_ATTR_LASS = 1n << 27n; // arch/x86/include/asm/shared/tdx.h
/** No #VE on access to a PENDING page: the TD exits to the VMM instead. Linux guests require it. */
export const TDX_ATTR_SEPT_VE_DISABLE = 1n << 28n; // arch/x86/include/asm/shared/tdx.h
export const TDX_ATTR_MIGRTABLE = 1n << 29n; // arch/x86/include/asm/shared/tdx.h (sic: "MIGRTABLE")
export const TDX_ATTR_PKS = 1n << 30n; // arch/x86/include/asm/shared/tdx.h
export const TDX_ATTR_KL = 1n << 31n; // arch/x86/include/asm/shared/tdx.h
export const TDX_ATTR_TPA = 1n << 62n; // arch/x86/include/asm/shared/tdx.h
export const TDX_ATTR_PERFMON = 1n << 63n; // arch/x86/include/asm/shared/tdx.h

export const TDX_TD_ATTR_DEBUG = TDX_ATTR_DEBUG; // arch/x86/kvm/vmx/tdx_arch.h BIT_ULL(0)
export const TDX_TD_ATTR_SEPT_VE_DISABLE = TDX_ATTR_SEPT_VE_DISABLE; // arch/x86/kvm/vmx/tdx_arch.h BIT_ULL(28)
export const TDX_TD_ATTR_PKS = TDX_ATTR_PKS; // arch/x86/kvm/vmx/tdx_arch.h BIT_ULL(30)
export const TDX_TD_ATTR_KL = TDX_ATTR_KL; // arch/x86/kvm/vmx/tdx_arch.h BIT_ULL(31)
export const TDX_TD_ATTR_PERFMON = TDX_ATTR_PERFMON; // arch/x86/kvm/vmx/tdx_arch.h BIT_ULL(63)

export const TD_ATTRIBUTE_NAMES: ReadonlyMap<bigint, string> = new Map([
  [TDX_ATTR_DEBUG, 'DEBUG'],
  [TDX_ATTR_HGS_PLUS_PROF, 'HGS_PLUS_PROF'],
  [TDX_ATTR_PERF_PROF, 'PERF_PROF'],
  [TDX_ATTR_PMT_PROF, 'PMT_PROF'],
  [TDX_ATTR_ICSSD, 'ICSSD'],
  [TDX_ATTR_LASS, 'LASS'],
  [TDX_ATTR_SEPT_VE_DISABLE, 'SEPT_VE_DISABLE'],
  [TDX_ATTR_MIGRTABLE, 'MIGRTABLE'],
  [TDX_ATTR_PKS, 'PKS'],
  [TDX_ATTR_KL, 'KL'],
  [TDX_ATTR_TPA, 'TPA'],
  [TDX_ATTR_PERFMON, 'PERFMON'],
]);

// ---------------------------------------------------------------------------------------------
// Secure-EPT entry states
// ---------------------------------------------------------------------------------------------
// Codes 0..4 are REAL: the public state numbers the TDX module reports in the extended error info of
// SEAMCALLs (R8 bits 15:8), enum tdx_sept_entry_state in arch/x86/kvm/vmx/tdx_arch.h:
//   TDX_SEPT_FREE 0, TDX_SEPT_BLOCKED 1, TDX_SEPT_PENDING 2, TDX_SEPT_PENDING_BLOCKED 3, TDX_SEPT_PRESENT 4.
// The module's own (internal) names are FREE, MAPPED (= public PRESENT), BLOCKED, PENDING,
// PENDING_BLOCKED, REMOVED, NL_MAPPED / NL_BLOCKED (non-leaf) and, for TD migration, BLOCKEDW,
// EXPORTED_BLOCKEDW, EXPORTED_DIRTY, EXPORTED_DIRTY_BLOCKEDW, PENDING_BLOCKEDW,
// PENDING_EXPORTED_BLOCKEDW, PENDING_EXPORTED_DIRTY, PENDING_EXPORTED_DIRTY_BLOCKEDW
// (intel/tdx-module include/auto_gen/sept_state_lookup.h, src/common/memory_handlers/sept_manager.h).
// All names below are real module names; codes >= 16 are this simulator's own choice.
export const SeptState = {
  FREE: 0, // real public code (TDX_SEPT_FREE)
  BLOCKED: 1, // real public code (TDX_SEPT_BLOCKED)
  PENDING: 2, // real public code (TDX_SEPT_PENDING) — after TDH.MEM.PAGE.AUG, before TDG.MEM.PAGE.ACCEPT
  PENDING_BLOCKED: 3, // real public code (TDX_SEPT_PENDING_BLOCKED)
  MAPPED: 4, // real public code, public name TDX_SEPT_PRESENT; module-internal name MAPPED
  REMOVED: 16, // simulator code; module-internal state (encoding 0xc)
  BLOCKEDW: 17, // simulator code; migration: write-blocked by TDH.EXPORT.BLOCKW
  EXPORTED_BLOCKEDW: 18, // simulator code; migration
  EXPORTED_DIRTY: 19, // simulator code; migration: exported, then written (must be re-exported)
  EXPORTED_DIRTY_BLOCKEDW: 20, // simulator code; migration
  PENDING_BLOCKEDW: 21, // simulator code; migration
  PENDING_EXPORTED_BLOCKEDW: 22, // simulator code; migration
  PENDING_EXPORTED_DIRTY: 23, // simulator code; migration
  PENDING_EXPORTED_DIRTY_BLOCKEDW: 24, // simulator code; migration
} as const;
export type SeptState = (typeof SeptState)[keyof typeof SeptState];

export const SEPT_STATE_NAMES: Record<number, string> = {
  0: 'SEPT_FREE',
  1: 'SEPT_BLOCKED',
  2: 'SEPT_PENDING',
  3: 'SEPT_PENDING_BLOCKED',
  4: 'SEPT_MAPPED',
  16: 'SEPT_REMOVED',
  17: 'SEPT_BLOCKEDW',
  18: 'SEPT_EXPORTED_BLOCKEDW',
  19: 'SEPT_EXPORTED_DIRTY',
  20: 'SEPT_EXPORTED_DIRTY_BLOCKEDW',
  21: 'SEPT_PENDING_BLOCKEDW',
  22: 'SEPT_PENDING_EXPORTED_BLOCKEDW',
  23: 'SEPT_PENDING_EXPORTED_DIRTY',
  24: 'SEPT_PENDING_EXPORTED_DIRTY_BLOCKEDW',
};

/** The module's internal 7-bit state encodings (bits PS:D of the SEPT entry), for reference only. */
export const SEPT_STATE_ENCODING: Record<string, number> = {
  FREE: 0xe, // intel/tdx-module include/auto_gen/sept_state_lookup.h
  REMOVED: 0xc,
  NL_MAPPED: 0x0,
  NL_BLOCKED: 0x8,
  MAPPED: 0x60,
  BLOCKED: 0x68,
  BLOCKEDW: 0x64,
  EXPORTED_BLOCKEDW: 0x66,
  EXPORTED_DIRTY: 0x63,
  EXPORTED_DIRTY_BLOCKEDW: 0x67,
  PENDING: 0x70,
  PENDING_BLOCKED: 0x78,
  PENDING_BLOCKEDW: 0x74,
  PENDING_EXPORTED_BLOCKEDW: 0x76,
  PENDING_EXPORTED_DIRTY: 0x73,
  PENDING_EXPORTED_DIRTY_BLOCKEDW: 0x77,
};

/** TDH.VP.ENTER extended exit qualification type for a guest access to a PENDING page. */
export const TDX_EXT_EXIT_QUAL_TYPE_MASK = 0xf; // arch/x86/kvm/vmx/tdx_arch.h GENMASK(3, 0)
export const TDX_EXT_EXIT_QUAL_TYPE_PENDING_EPT_VIOLATION = 6; // arch/x86/kvm/vmx/tdx_arch.h

// ---------------------------------------------------------------------------------------------
// GPA width and the shared bit
// ---------------------------------------------------------------------------------------------
// TDG.VP.INFO outputs (arch/x86/coco/tdx/tdx.c tdx_parse_tdinfo(); intel/tdx-module tdg_vp_info.c):
//   RAX = TDX_SUCCESS
//   RCX bits 5:0 = GPAW (48, or 52 when TD_PARAMS.CONFIG_FLAGS.GPAW / TDX_CONFIG_FLAGS_MAX_GPAW is set);
//                  the guest computes shared bit = BIT(GPAW - 1)
//   RDX = TD ATTRIBUTES (Linux panics unless SEPT_VE_DISABLE is set, or only warns for a DEBUG TD)
//   R8  = NUM_VCPUS and MAX_VCPUS (td_num_of_vcpus_t; GHCI: bits 31:0 NUM_VCPUS, 63:32 MAX_VCPUS —
//         field order UNVERIFIED in the stored module source)
//   R9  = VCPU_INDEX
//   R10 = TDCALL leaves available (newer modules; earlier ones: reserved, 0)
//   R11 = reserved (0)
export const TDX_GPAW_48 = 48; // arch/x86/kvm/vmx/tdx.c setup_tdparams_eptp_controls(): "Only values 48 and 52"
export const TDX_GPAW_52 = 52; // arch/x86/kvm/vmx/tdx.c (needs 5-level EPT)
export const TDX_SHARED_BIT_GPAW48 = 1n << 47n; // 0x0000800000000000 — QEMU tdx_shared_bit(); KVM picks TDX_SHARED_BIT_PWL_4 (4-level EPT)
export const TDX_SHARED_BIT_GPAW52 = 1n << 51n; // 0x0008000000000000 — QEMU tdx_shared_bit(); KVM picks TDX_SHARED_BIT_PWL_5 (5-level EPT)
export const TDX_CONFIG_FLAGS_MAX_GPAW = 1n << 0n; // arch/x86/kvm/vmx/tdx_arch.h: 0 → GPA[47], 1 → GPA[51]

// ---------------------------------------------------------------------------------------------
// #VE information (TDG.VP.VEINFO.GET) — struct ve_info in arch/x86/include/asm/tdx.h
// ---------------------------------------------------------------------------------------------
export interface VeInfo {
  /** RCX: VMX basic exit reason that caused the #VE (EXIT_REASON_*). */
  exitReason: number;
  /** RDX: exit qualification (I/O: size/direction/port; EPT violation: access bits). */
  exitQual: bigint;
  /** R8: guest linear address. */
  gla: bigint;
  /** R9: guest physical address (EPT violation). */
  gpa: bigint;
  /** R10 bits 31:0: instruction length — valid for instruction #VEs, NOT for EPT violations. */
  instrLen: number;
  /** R10 bits 63:32: instruction information. */
  instrInfo: number;
}

// I/O exit-qualification decoding used by handle_io() (arch/x86/coco/tdx/tdx.c)
export const VE_IO_SIZE_MASK = 0x7; // size = (exit_qual & 7) + 1
export const VE_IO_IN = 1 << 3; // VE_IS_IO_IN
export const VE_IO_STRING = 1 << 4; // VE_IS_IO_STRING — string I/O is refused (-EIO)
export const VE_IO_PORT_SHIFT = 16; // VE_GET_PORT_NUM = exit_qual >> 16
// Direction values passed in R13 by the guest
export const PORT_READ = 0; // arch/x86/coco/tdx/tdx.c
export const PORT_WRITE = 1; // arch/x86/coco/tdx/tdx.c
export const EPT_READ = 0; // arch/x86/coco/tdx/tdx.c (MMIO)
export const EPT_WRITE = 1; // arch/x86/coco/tdx/tdx.c (MMIO)

// How Linux's #VE handler turns a #VE into a TDVMCALL (arch/x86/coco/tdx/tdx.c,
// virt_exception_kernel(); user mode only handles CPUID). Every call: R10 = 0, R11 = sub-function.
//
//   exit reason          handler        TDVMCALL inputs                               output used
//   HLT (12)             handle_halt    R11=12, R12=irqs_disabled                     status only
//   MSR_READ (31)        read_msr       R11=31, R12=ECX (MSR index)                   R11 → EDX:EAX
//   MSR_WRITE (32)       write_msr      R11=32, R12=ECX, R13=EDX<<32|EAX              status only
//   CPUID (10)           handle_cpuid   R11=10, R12=EAX (leaf), R13=ECX (subleaf)     R12..R15 → EAX,EBX,ECX,EDX
//                        (only leaves 0x40000000..0x4FFFFFFF go to the VMM; others read as all zeros)
//   IO_INSTRUCTION (30)  handle_io      R11=30, R12=size, R13=PORT_READ/WRITE, R14=port,
//                                       R15=value (OUT only)                          R11 → AL/AX/EAX (IN)
//   EPT_VIOLATION (48)   handle_mmio    R11=48, R12=size, R13=EPT_READ/WRITE, R14=GPA,
//                        (shared GPA)   R15=value (write)                             R11 → register (read)
//                        A #VE on a *private* GPA panics: "Unexpected EPT-violation on private memory."
//                        MMIO is decoded from the instruction bytes; RIP advances by insn.length.
//   anything else        —              pr_warn("Unexpected #VE: %lld") → -EIO → the kernel treats it as #GP
//
// For instruction #VEs RIP advances by ve->instr_len. Non-zero TDVMCALL status → -EIO.
// MONITOR/MWAIT/WBINVD/VMCALL also raise #VE (Documentation/arch/x86/tdx.rst) but Linux's handler
// has no case for them; KVM's VMCALL path is tdx_kvm_hypercall() (R10 = nr), not a #VE.
//
// KVM's side (arch/x86/kvm/vmx/tdx.c tdx_handle_exit): EXIT_REASON_TDCALL → handle_tdvmcall();
// CPUID → tdx_emulate_cpuid; HLT → kvm_emulate_halt_noskip; IO → tdx_emulate_io (→ KVM_EXIT_IO);
// MSR_READ/WRITE → kvm_emulate_rdmsr/wrmsr with RCX = R12 (only tdx_has_emulated_msr() MSRs;
// failures → TDVMCALL_STATUS_INVALID_OPERAND); EPT_MISCONFIG → tdx_emulate_mmio (→ KVM_EXIT_MMIO);
// EPT_VIOLATION → tdx_handle_ept_violation (private GPA fault → TDH.MEM.PAGE.AUG);
// unhandled → KVM_EXIT_INTERNAL_ERROR / KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON.
//
// PENDING-page access with SEPT_VE_DISABLE (tdx_handle_ept_violation, stored mainline tree):
//   pr_warn("Guest access before accepting 0x%llx on vCPU %d\n") + kvm_vm_dead() → KVM_RUN = -1, errno EIO.
//   Proposed July 2025 (Sean Christopherson, "KVM: TDX: Exit with MEMORY_FAULT on unexpected pending
//   S-EPT Violation"): KVM_EXIT_MEMORY_FAULT with size 0 and errno EFAULT instead — merge status UNVERIFIED.

/** Whether a guest-physical address carries a TD's shared bit (bit GPAW-1): the access is to shared memory. */
export const isSharedGpa = (gpa: number, sharedBit: number): boolean => Math.floor(gpa / sharedBit) % 2 === 1;
