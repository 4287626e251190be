/**
 * The MSRs and CPUID leaves KVM answers for a guest. A short table: the full per-MSR policy, the MSR
 * filter and user-space MSR exits belong to the attack-surface lessons.
 */
export interface MsrInfo {
  name: string;
  /** The value a fresh vCPU reads. */
  reset: bigint;
  readOnly?: boolean;
  /** KVM emulates it for a TD when the TD's #VE handler forwards it (tdx_has_emulated_msr()). */
  tdEmulated?: boolean;
}

export const MSRS: ReadonlyMap<number, MsrInfo> = new Map<number, MsrInfo>([
  [0x10, { name: 'IA32_TIME_STAMP_COUNTER', reset: 0n }],
  [0x1b, { name: 'IA32_APIC_BASE', reset: 0xfee00900n, tdEmulated: true, readOnly: false }],
  [0x3a, { name: 'IA32_FEATURE_CONTROL', reset: 0x5n, tdEmulated: true }],
  [0x8b, { name: 'IA32_UCODE_REV', reset: 0x100000000n, tdEmulated: true }],
  [0x10a, { name: 'IA32_ARCH_CAPABILITIES', reset: 0x20000e0ebn, tdEmulated: true }],
  [0xce, { name: 'MSR_PLATFORM_INFO', reset: 0x80000000n, tdEmulated: true }],
  [0x140, { name: 'MSR_MISC_FEATURES_ENABLES', reset: 0n, tdEmulated: true }],
  [0x179, { name: 'IA32_MCG_CAP', reset: 0x1000a0an, tdEmulated: true }],
  [0x17a, { name: 'IA32_MCG_STATUS', reset: 0n, tdEmulated: true }],
  [0x1a0, { name: 'IA32_MISC_ENABLE', reset: 0x1n, tdEmulated: true }],
  [0x1fc, { name: 'MSR_IA32_POWER_CTL', reset: 0n, tdEmulated: true }],
  [0x277, { name: 'IA32_PAT', reset: 0x0007040600070406n, tdEmulated: true }],
  [0x2ff, { name: 'IA32_MTRR_DEF_TYPE', reset: 0n, tdEmulated: true }],
  [0xfe, { name: 'IA32_MTRRCAP', reset: 0x508n, readOnly: true, tdEmulated: true }],
  [0x6e0, { name: 'IA32_TSC_DEADLINE', reset: 0n, tdEmulated: true }],
  [0xc0000080, { name: 'IA32_EFER', reset: 0n, tdEmulated: true }],
]);

export const msrName = (index: number): string => MSRS.get(index)?.name ?? `MSR ${'0x' + index.toString(16)}`;

/** CPUID as KVM sets it for a guest (what KVM_SET_CPUID2 from a VMM would typically install). */
export function kvmCpuid(leaf: number, subleaf: number, physBits: number): [number, number, number, number] {
  const str = (s: string): number[] => {
    const out: number[] = [];
    for (let i = 0; i < s.length; i += 4) out.push(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24));
    return out.map((x) => x >>> 0);
  };
  void subleaf;
  switch (leaf) {
    case 0: {
      const [b, d, c] = str('GenuineIntel');
      return [0x1f, b, c, d];
    }
    case 1:
      // Family 6 model 0x8f (Sapphire Rapids), stepping 8; ECX bit 31: running under a hypervisor.
      return [0x000806f8, 0x00000800, 0xfffa3223 >>> 0, 0x1f8bfbff];
    case 0x40000000: {
      const [b, c, d] = str('KVMKVMKVM\0\0\0');
      return [0x40000001, b, c, d];
    }
    case 0x40000001:
      return [0x01007afb, 0, 0, 0];
    case 0x80000000:
      return [0x80000008, 0, 0, 0];
    case 0x80000008:
      return [(physBits & 0xff) | (48 << 8), 0, 0, 0];
    default:
      return [0, 0, 0, 0];
  }
}
