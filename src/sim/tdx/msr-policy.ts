/**
 * MSRs in a TD, in two layers.
 *
 * 1. The TDX module decides per MSR and per direction (Documentation/arch/x86/tdx.rst, "MSR
 *    behavior"; the TDX module ABI spec's MSR virtualisation table): some "just work" (the module
 *    context-switches or virtualises them: native), some raise #GP (VMX capability MSRs: a TD cannot
 *    use VMX), the rest raise #VE. The guest's #VE handler turns a #VE into
 *    TDG.VP.VMCALL<Instruction.RDMSR/WRMSR> (exit reasons 31/32), which reaches KVM.
 * 2. KVM answers a forwarded access through kvm_emulate_rdmsr()/kvm_emulate_wrmsr() (arch/x86/kvm/
 *    vmx/tdx.c, tdx_handle_exit(): EXIT_REASON_MSR_READ/WRITE), i.e. the same path as an ordinary VM:
 *    kvm_msr_allowed() (the MSR filter), then tdx_get_msr()/tdx_set_msr(), which only handle
 *    tdx_has_emulated_msr() and refuse writes to tdx_is_read_only_msr(); a failure can go to user
 *    space as KVM_EXIT_X86_RDMSR/WRMSR if KVM_CAP_X86_USER_SPACE_MSR asks for it, else
 *    tdx_complete_emulated_msr() answers TDVMCALL_STATUS_INVALID_OPERAND and Linux treats it as #GP.
 *
 * Layer 1 here follows tdx.rst and what Linux's boot code avoids ("x86/boot: Avoid #VE during boot
 * for TDX platforms": writes to EFER #VE, reads do not); per-MSR entries not confirmed in a stored
 * copy of the module spec are marked UNVERIFIED.
 */
export type TdMsrClass = 'native' | 've' | 'gp';

/** MSRs the TDX module context-switches or virtualises: both directions run inside the TD. */
const NATIVE = new Set<number>([
  0x3b, // IA32_TSC_ADJUST
  0x48, // IA32_SPEC_CTRL
  0x49, // IA32_PRED_CMD
  0x10b, // IA32_FLUSH_CMD
  0x174, 0x175, 0x176, // IA32_SYSENTER_CS/ESP/EIP
  0xda0, // IA32_XSS (XSAVES state follows XFAM)
  0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, // STAR, LSTAR, CSTAR, FMASK
  0xc0000100, 0xc0000101, 0xc0000102, 0xc0000103, // FS_BASE, GS_BASE, KERNEL_GS_BASE, TSC_AUX
]);

/**
 * x2APIC registers the CPU virtualises for a TD (APICv; the virtual APIC page is TD-private). These
 * are exactly the ones tdx_has_emulated_msr() says KVM cannot emulate: TPR, PPR, EOI, ISR, TMR, IRR
 * (8 registers each; the ranges as fixed by "KVM: TDX: Fix APIC MSR ranges in tdx_has_emulated_msr()").
 */
export function x2apicVirtualized(index: number): boolean {
  return index === 0x808 || index === 0x80a || index === 0x80b
    || (index >= 0x810 && index < 0x818) || (index >= 0x818 && index < 0x820) || (index >= 0x820 && index < 0x828);
}

/** The TDX module's class of an access to `index` from a TD. */
export function tdMsrPolicy(index: number, access: 'read' | 'write'): TdMsrClass {
  if (NATIVE.has(index)) return 'native';
  if (index >= 0x480 && index <= 0x491) return 'gp'; // IA32_VMX_* capability MSRs: VMX is not available in a TD
  if (index >= 0x800 && index <= 0x8ff) return x2apicVirtualized(index) ? 'native' : 've';
  // IA32_EFER: the module fixes LME/LMA/NX/SCE; reads are native, writes #VE (Linux avoids writing it).
  if (index === 0xc0000080) return access === 'read' ? 'native' : 've';
  // IA32_TIME_STAMP_COUNTER: reads see the module's virtual TSC; writes #VE (UNVERIFIED).
  if (index === 0x10) return access === 'read' ? 'native' : 've';
  return 've';
}

const KVM_MAX_MCE_BANKS = 32; // arch/x86/include/asm/kvm_host.h

/**
 * tdx_has_emulated_msr() (arch/x86/kvm/vmx/tdx.c): the MSRs KVM answers for a TD's
 * TDG.VP.VMCALL<Instruction.RDMSR/WRMSR>.
 */
export function tdxHasEmulatedMsr(index: number): boolean {
  switch (index) {
    case 0x8b: // MSR_IA32_UCODE_REV
    case 0x10a: // MSR_IA32_ARCH_CAPABILITIES
    case 0x1fc: // MSR_IA32_POWER_CTL
    case 0x277: // MSR_IA32_CR_PAT
    case 0xfe: // MSR_MTRRcap
    case 0x2ff: // MSR_MTRRdefType
    case 0x6e0: // MSR_IA32_TSC_DEADLINE
    case 0x1a0: // MSR_IA32_MISC_ENABLE
    case 0xce: // MSR_PLATFORM_INFO
    case 0x140: // MSR_MISC_FEATURES_ENABLES
    case 0x1b: // MSR_IA32_APICBASE
    case 0xc0000080: // MSR_EFER
    case 0x3a: // MSR_IA32_FEAT_CTL
    case 0x179: // MSR_IA32_MCG_CAP
    case 0x17a: // MSR_IA32_MCG_STATUS
    case 0x17b: // MSR_IA32_MCG_CTL
    case 0x4d0: // MSR_IA32_MCG_EXT_CTL
    case 0x4b564d05: // MSR_KVM_POLL_CONTROL
      return true;
  }
  if (index >= 0x200 && index <= 0x26f) return true; // MTRRphysBase_MSR(0) ... MSR_MTRRfix4K_F8000
  if (index >= 0x400 && index < 0x400 + 4 * KVM_MAX_MCE_BANKS) return true; // MSR_IA32_MCx_{CTL,STATUS,ADDR,MISC}
  if (index >= 0x280 && index < 0x280 + KVM_MAX_MCE_BANKS) return true; // MSR_IA32_MCx_CTL2
  if (index >= 0x800 && index <= 0x8ff) return !x2apicVirtualized(index);
  return false;
}

/** tdx_is_read_only_msr(): KVM refuses a TD's writes to these even though it emulates reads. */
export function tdxIsReadOnlyMsr(index: number): boolean {
  return index === 0x1b || index === 0xc0000080 || index === 0x3a;
}

/**
 * Values KVM reports for a TD where they differ from an ordinary VM: tdx_get_msr() answers
 * IA32_FEATURE_CONTROL with FEAT_CTL_LOCKED (no LMCE), the vCPU's EFER is SCE|LME|LMA|NX
 * (tdx_vcpu_create()), and a TD's local APIC is in x2APIC mode (APIC_BASE bit 10).
 */
export const TD_MSR_VALUES: ReadonlyMap<number, bigint> = new Map([
  [0x3a, 0x1n],
  [0xc0000080, 0xd01n],
  [0x1b, 0xfee00d00n],
]);
