/**
 * CPUID in a TD. The TDX module answers CPUID itself from the configuration fixed at
 * TDH.MNG.INIT: the VMM passes its wishes in KVM_TDX_INIT_VM's cpuid, but it can only choose the
 * bits KVM_TDX_CAPABILITIES reports as configurable (td_conf->cpuid_config_leaves/values, see
 * arch/x86/kvm/vmx/tdx.c init_kvm_tdx_caps() and setup_tdparams_cpuids()); other bits are fixed by
 * the module or follow the TD's ATTRIBUTES and XFAM. Leaves the module does not virtualise (the
 * hypervisor range 0x40000000-0x4fffffff and leaves outside its list) raise #VE, and the guest asks
 * the VMM with TDG.VP.VMCALL<Instruction.CPUID> (Documentation/arch/x86/tdx.rst: "CPUID*" is
 * listed under instruction-based #VE). Linux detects a TD with leaf 0x21, "IntelTDX    " in
 * EBX, EDX, ECX (arch/x86/coco/tdx/tdx.c reads it as sig[0], sig[2], sig[1]).
 *
 * The fixed bits below are the ones a boot cares about, not the module's full table.
 */
export type CpuidRegs = [number, number, number, number];

export const TDX_CPUID_LEAF_ID = 0x21;
/** The highest basic leaf the module reports (TDX 1.5). UNVERIFIED against a stored module spec. */
const TD_MAX_BASIC_LEAF = 0x23;

/** The leaves a boot reads, in the order the panel lists them. */
export const TD_CPUID_LEAVES: readonly { leaf: number; subleaf: number; name: string }[] = [
  { leaf: 0, subleaf: 0, name: 'vendor and highest basic leaf' },
  { leaf: 1, subleaf: 0, name: 'family/model, feature flags' },
  { leaf: 7, subleaf: 0, name: 'structured extended features' },
  { leaf: 0xb, subleaf: 0, name: 'x2APIC topology' },
  { leaf: 0xd, subleaf: 0, name: 'XSAVE components' },
  { leaf: 0x1f, subleaf: 0, name: 'V2 extended topology' },
  { leaf: TDX_CPUID_LEAF_ID, subleaf: 0, name: 'TDX identification ("IntelTDX    ")' },
  { leaf: 0x40000000, subleaf: 0, name: 'hypervisor signature ("KVMKVMKVM")' },
  { leaf: 0x40000001, subleaf: 0, name: 'KVM paravirtual features' },
  { leaf: 0x80000000, subleaf: 0, name: 'highest extended leaf' },
  { leaf: 0x80000001, subleaf: 0, name: 'extended features (LM, NX, SYSCALL)' },
  { leaf: 0x80000008, subleaf: 0, name: 'physical and virtual address sizes' },
];

const CPUID_1_ECX_MONITOR = 1 << 3;
const CPUID_1_ECX_VMX = 1 << 5;
const CPUID_1_ECX_SMX = 1 << 6;
const CPUID_1_ECX_X2APIC = 1 << 21;
const CPUID_1_ECX_HYPERVISOR = 1 << 31;
const CPUID_7_EBX_SGX = 1 << 2;
const CPUID_80000001_EDX_FIXED1 = (1 << 11) | (1 << 20) | (1 << 29); // SYSCALL, NX, LM

/** How the module treats a leaf: whether it raises #VE, and who decides its bits. */
export function tdCpuidPolicy(leaf: number): { ve: boolean; how: string } {
  if (leaf >= 0x40000000 && leaf <= 0x4fffffff)
    return { ve: true, how: '#VE: the hypervisor range is not virtualised by the TDX module; TDVMCALL<Instruction.CPUID> asks KVM' };
  switch (leaf) {
    case 0:
      return { ve: false, how: 'fixed by the TDX module (vendor, highest leaf)' };
    case 1:
      return { ve: false, how: 'configurable (KVM_TDX_INIT_VM cpuid) except fixed bits: VMX, SMX, MONITOR 0; x2APIC, hypervisor 1' };
    case 7:
      return { ve: false, how: 'configurable within KVM_TDX_CAPABILITIES; SGX fixed 0; AVX-512 etc. follow XFAM' };
    case 0xb:
    case 0x1f:
      return { ve: false, how: 'configurable: topology from KVM_TDX_INIT_VM cpuid' };
    case 0xd:
      return { ve: false, how: 'derived from XFAM (KVM_TDX_INIT_VM xfam), not from the cpuid list' };
    case TDX_CPUID_LEAF_ID:
      return { ve: false, how: 'fixed by the TDX module: "IntelTDX    "' };
    case 0x80000000:
      return { ve: false, how: 'fixed by the TDX module' };
    case 0x80000001:
      return { ve: false, how: 'configurable; LM, NX and SYSCALL fixed 1' };
    case 0x80000008:
      return { ve: false, how: 'fixed by the module from the GPAW; KVM takes the GPAW (48 or 52) from the VMM in EAX[23:16] and clears it before TDH.MNG.INIT' };
  }
  if (leaf <= TD_MAX_BASIC_LEAF || (leaf >= 0x80000000 && leaf <= 0x80000008)) return { ve: false, how: 'answered by the TDX module' };
  return { ve: true, how: '#VE: not a leaf the TDX module virtualises' };
}

/** A CPUID signature string as register values, four characters per register, little-endian. */
export function cpuidString(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i += 4) out.push((s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24)) >>> 0);
  return out;
}

/**
 * What a TD reads for CPUID(leaf, subleaf), or null when the leaf raises #VE. `configured` is the
 * VMM's configuration from KVM_TDX_INIT_VM (KVM's CPUID for the guest); the module applies its fixed
 * bits on top.
 */
export function tdCpuid(leaf: number, subleaf: number, configured: (leaf: number, subleaf: number) => CpuidRegs): CpuidRegs | null {
  if (tdCpuidPolicy(leaf).ve) return null;
  const [a, b, c, d] = configured(leaf, subleaf);
  switch (leaf) {
    case 0:
      return [TD_MAX_BASIC_LEAF, b, c, d];
    case 1:
      return [a, b, ((c & ~(CPUID_1_ECX_VMX | CPUID_1_ECX_SMX | CPUID_1_ECX_MONITOR)) | CPUID_1_ECX_X2APIC | CPUID_1_ECX_HYPERVISOR) >>> 0, d];
    case 7:
      return subleaf === 0 ? [a, (b & ~CPUID_7_EBX_SGX) >>> 0, c, d] : [a, b, c, d];
    case TDX_CPUID_LEAF_ID:
      {
        const [ebx, edx, ecx] = cpuidString('IntelTDX    ');
        return [0, ebx, ecx, edx];
      }
    case 0x80000001:
      return [a, b, c, (d | CPUID_80000001_EDX_FIXED1) >>> 0];
    default:
      return [a, b, c, d];
  }
}
