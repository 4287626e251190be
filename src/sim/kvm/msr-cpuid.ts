/**
 * The MSRs a boot and the lessons touch, as KVM emulates them for an ordinary VM, and CPUID as
 * KVM_SET_CPUID2 installs it. What the TDX module does with the same MSRs and leaves is in
 * tdx/msr-policy.ts and tdx/cpuid-policy.ts; the per-VM rows the attack-surface panel shows are
 * built at the end of this file.
 */
import { hex } from '../core/units';
import type { CpuidRow, MsrRow } from './surface-rows';
import { TDX_CPUID_LEAF_ID, TD_CPUID_LEAVES, cpuidString, tdCpuid, tdCpuidPolicy, type CpuidRegs } from '../tdx/cpuid-policy';
import { tdMsrPolicy, tdxHasEmulatedMsr, tdxIsReadOnlyMsr, type TdMsrClass } from '../tdx/msr-policy';
import { MSR_EXIT_REASON_NAMES, kvmMsrAllowed, msrExitReason, type MsrConstraint, type MsrFailure } from './msr-filter';
import { KVM_MSR_FILTER_READ, KVM_MSR_FILTER_WRITE } from './uapi';
import type { Vm } from './vm';

export interface MsrInfo {
  name: string;
  /** What the MSR is for, in a few words. */
  purpose: string;
  /** The value a fresh vCPU reads (KVM's reset value, or what QEMU writes at reset). */
  reset: bigint;
  /** A guest WRMSR fails (kvm_set_msr_common() refuses writes that are not host-initiated). */
  readOnly?: boolean;
  /** A guest RDMSR fails (command MSRs such as IA32_PRED_CMD, x2APIC EOI and SELF_IPI). */
  writeOnly?: boolean;
}

const m = (name: string, purpose: string, reset: bigint, o: { readOnly?: boolean; writeOnly?: boolean } = {}): MsrInfo => ({ name, purpose, reset, ...o });

/**
 * KVM's MSRs for an ordinary VM (arch/x86/kvm/x86.c kvm_get_msr_common()/kvm_set_msr_common(),
 * msrs_to_save_base[] and emulated_msrs_all[] in arch/x86/kvm/msrs.c, lapic.c for x2APIC). Reset
 * values: KVM's vCPU reset (microcode_version 0x100000000, MTRRcap 0x508, PAT 0x0007040600070406,
 * PLATFORM_INFO with CPUID_FAULT bit 31, poll control 1), QEMU's MCE default (MCG_CTL_P | MCG_SER_P,
 * 10 banks), KVM's nested VMX_BASIC (VMCS12_REVISION 0x11e57ed0, 4 KiB VMCS, write-back, true controls).
 */
export const MSRS: ReadonlyMap<number, MsrInfo> = new Map<number, MsrInfo>([
  [0x10, m('IA32_TIME_STAMP_COUNTER', 'the TSC, as RDTSC reads it', 0n)],
  [0x17, m('IA32_PLATFORM_ID', 'platform ID for microcode loading (KVM reads 0)', 0n, { readOnly: true })],
  [0x1b, m('IA32_APIC_BASE', 'local APIC base address, enable and x2APIC mode bits', 0xfee00900n)],
  [0x3a, m('IA32_FEATURE_CONTROL', 'lock bit and VMX/SGX/LMCE enables, set by firmware', 0x5n)],
  [0x3b, m('IA32_TSC_ADJUST', 'per-CPU offset added to the TSC', 0n)],
  [0x48, m('IA32_SPEC_CTRL', 'speculation controls (IBRS, STIBP, SSBD)', 0n)],
  [0x49, m('IA32_PRED_CMD', 'indirect branch prediction barrier (write-only command)', 0n, { writeOnly: true })],
  [0x8b, m('IA32_UCODE_REV', 'microcode revision', 0x100000000n)],
  [0xce, m('MSR_PLATFORM_INFO', 'platform info; KVM reports CPUID faulting (bit 31)', 0x80000000n, { readOnly: true })],
  [0xfe, m('IA32_MTRRCAP', 'MTRR capabilities: 8 variable ranges, fixed ranges, WC', 0x508n, { readOnly: true })],
  [0x10a, m('IA32_ARCH_CAPABILITIES', 'CPU vulnerability enumeration (set by the VMM)', 0x20000e0ebn, { readOnly: true })],
  [0x10b, m('IA32_FLUSH_CMD', 'L1D cache flush (write-only command)', 0n, { writeOnly: true })],
  [0x140, m('MSR_MISC_FEATURES_ENABLES', 'CPUID faulting enable', 0n)],
  [0x174, m('IA32_SYSENTER_CS', 'SYSENTER code segment', 0n)],
  [0x175, m('IA32_SYSENTER_ESP', 'SYSENTER stack pointer', 0n)],
  [0x176, m('IA32_SYSENTER_EIP', 'SYSENTER entry point', 0n)],
  [0x179, m('IA32_MCG_CAP', 'machine-check capabilities and bank count', 0x100010an, { readOnly: true })],
  [0x17a, m('IA32_MCG_STATUS', 'machine-check status', 0n)],
  [0x1a0, m('IA32_MISC_ENABLE', 'miscellaneous enables (fast strings, MWAIT, ...)', 0x1n)],
  [0x1fc, m('MSR_IA32_POWER_CTL', 'power management control', 0n)],
  [0x277, m('IA32_PAT', 'page attribute table', 0x0007040600070406n)],
  [0x2ff, m('IA32_MTRR_DEF_TYPE', 'default memory type and MTRR enable', 0n)],
  [0x480, m('IA32_VMX_BASIC', 'VMX capabilities (nested virtualisation)', 0x00d8100011e57ed0n, { readOnly: true })],
  [0x6e0, m('IA32_TSC_DEADLINE', 'local APIC timer deadline in TSC ticks', 0n)],
  [0x802, m('x2APIC ID', 'local APIC ID', 0n, { readOnly: true })],
  [0x803, m('x2APIC VERSION', 'local APIC version (0x14) and max LVT entry', 0x50014n, { readOnly: true })],
  [0x808, m('x2APIC TPR', 'task priority', 0n)],
  [0x80a, m('x2APIC PPR', 'processor priority', 0n, { readOnly: true })],
  [0x80b, m('x2APIC EOI', 'end of interrupt (write-only)', 0n, { writeOnly: true })],
  [0x80d, m('x2APIC LDR', 'logical destination (derived from the ID)', 0x1n, { readOnly: true })],
  [0x80f, m('x2APIC SVR', 'spurious vector and APIC software enable', 0xffn)],
  [0x810, m('x2APIC ISR0', 'in-service interrupts 0-31', 0n, { readOnly: true })],
  [0x818, m('x2APIC TMR0', 'trigger mode of interrupts 0-31', 0n, { readOnly: true })],
  [0x820, m('x2APIC IRR0', 'requested interrupts 0-31', 0n, { readOnly: true })],
  [0x828, m('x2APIC ESR', 'error status', 0n)],
  [0x830, m('x2APIC ICR', 'interrupt command: send IPIs', 0n)],
  [0x832, m('x2APIC LVT_TIMER', 'timer interrupt vector and mode', 0x10000n)],
  [0x835, m('x2APIC LVT_LINT0', 'LINT0 pin', 0x10000n)],
  [0x836, m('x2APIC LVT_LINT1', 'LINT1 pin', 0x10000n)],
  [0x837, m('x2APIC LVT_ERROR', 'APIC error interrupt', 0x10000n)],
  [0x838, m('x2APIC TMICT', 'timer initial count', 0n)],
  [0x839, m('x2APIC TMCCT', 'timer current count', 0n, { readOnly: true })],
  [0x83e, m('x2APIC TDCR', 'timer divide configuration', 0n)],
  [0x83f, m('x2APIC SELF_IPI', 'send an IPI to this CPU (write-only)', 0n, { writeOnly: true })],
  [0xda0, m('IA32_XSS', 'supervisor state components XSAVES manages', 0n)],
  [0xc0000080, m('IA32_EFER', 'long mode, NX and SYSCALL enables', 0n)],
  [0xc0000081, m('IA32_STAR', 'SYSCALL/SYSRET segment selectors', 0n)],
  [0xc0000082, m('IA32_LSTAR', '64-bit SYSCALL entry point', 0n)],
  [0xc0000083, m('IA32_CSTAR', 'compatibility-mode SYSCALL entry point', 0n)],
  [0xc0000084, m('IA32_FMASK', 'RFLAGS mask for SYSCALL', 0n)],
  [0xc0000100, m('IA32_FS_BASE', 'FS segment base (thread-local storage)', 0n)],
  [0xc0000101, m('IA32_GS_BASE', 'GS segment base (per-CPU data in the kernel)', 0n)],
  [0xc0000102, m('IA32_KERNEL_GS_BASE', 'GS base swapped in by SWAPGS', 0n)],
  [0xc0000103, m('IA32_TSC_AUX', 'value RDTSCP and RDPID return (CPU number)', 0n)],
  [0x4b564d00, m('MSR_KVM_WALL_CLOCK_NEW', 'KVM paravirt: GPA where KVM writes the wall clock', 0n)],
  [0x4b564d01, m('MSR_KVM_SYSTEM_TIME_NEW', 'KVM paravirt: GPA of the per-vCPU kvmclock page', 0n)],
  [0x4b564d05, m('MSR_KVM_POLL_CONTROL', 'KVM paravirt: host-side halt polling on/off', 0x1n)],
]);

export const msrName = (index: number): string => MSRS.get(index)?.name ?? `MSR ${hex(index)}`;

/**
 * CPUID as KVM sets it for a guest (what KVM_SET_CPUID2 from QEMU typically installs on a Sapphire
 * Rapids host). For a TD it is the configuration the VMM passes in KVM_TDX_INIT_VM, which the TDX
 * module then masks (tdx/cpuid-policy.ts), and KVM's answer to a forwarded TDVMCALL<Instruction.CPUID>.
 */
export function kvmCpuid(leaf: number, subleaf: number, physBits: number): CpuidRegs {
  switch (leaf) {
    case 0: {
      const [b, d, c] = cpuidString('GenuineIntel');
      return [0x1f, b, c, d];
    }
    case 1:
      // Family 6 model 0x8f (Sapphire Rapids), stepping 8; ECX bit 31: running under a hypervisor.
      return [0x000806f8, 0x00000800, 0xfffa3223 >>> 0, 0x1f8bfbff];
    case 7:
      return subleaf === 0 ? [0x2, 0xf1bf07ab >>> 0, 0x1b415f6e, 0xac004410 >>> 0] : [0, 0, 0, 0];
    case 0xb:
    case 0x1f:
      // One thread per core (SMT level), x2APIC ID 0.
      return subleaf === 0 ? [0, 1, 0x100, 0] : [0, 0, subleaf & 0xff, 0];
    case 0xd:
      // XCR0 components x87|SSE|AVX|AVX-512 (0xe7); XSAVE area size for them.
      return subleaf === 0 ? [0xe7, 0xa88, 0xa88, 0] : [0, 0, 0, 0];
    case 0x40000000: {
      const [b, c, d] = cpuidString('KVMKVMKVM\0\0\0');
      return [0x40000001, b, c, d];
    }
    case 0x40000001:
      return [0x01007afb, 0, 0, 0];
    case 0x80000000:
      return [0x80000008, 0, 0, 0];
    case 0x80000001:
      // ECX: LAHF, ABM, PREFETCHW; EDX: SYSCALL, NX, 1 GiB pages, RDTSCP, long mode.
      return [0, 0, 0x121, 0x2c100800];
    case 0x80000008:
      return [(physBits & 0xff) | (48 << 8), 0, 0, 0];
    default:
      return [0, 0, 0, 0];
  }
}

// ---- Rows for the attack-surface panel ------------------------------------------------------

const ACCESS_VERB = { read: 'RDMSR', write: 'WRMSR' } as const;

/**
 * What KVM decides for a guest access it has to handle, without side effects: the talk's constraint
 * (a proposal) first, then kvm_msr_allowed(), then KVM's own emulation (tdx_get_msr()/tdx_set_msr()
 * for a TD, kvm_get_msr_common()/kvm_set_msr_common() otherwise). Failures carry the internal code
 * kvm_msr_reason() turns into kvm_run.msr.reason: unknown MSR → KVM_MSR_RET_UNSUPPORTED (UNKNOWN),
 * refused (read-only, or not emulated for a TD, where tdx_get_msr() returns 1) → INVAL.
 */
export type KvmMsrDecision = { kind: 'constraint'; constraint: MsrConstraint } | { kind: 'emulate' } | { kind: 'fail'; failure: MsrFailure };

export function kvmMsrDecision(vm: Vm, index: number, access: 'read' | 'write'): KvmMsrDecision {
  const constraint = vm.msrPolicy.constraints.get(index);
  if (constraint) return { kind: 'constraint', constraint };
  if (!kvmMsrAllowed(vm.msrPolicy.filter, index, access === 'read' ? KVM_MSR_FILTER_READ : KVM_MSR_FILTER_WRITE)) return { kind: 'fail', failure: 'filtered' };
  if (vm.isTd) {
    if (!tdxHasEmulatedMsr(index) || (access === 'write' && tdxIsReadOnlyMsr(index))) return { kind: 'fail', failure: 'invalid' };
    return { kind: 'emulate' };
  }
  const info = MSRS.get(index);
  if (!info || (access === 'read' && info.writeOnly)) return { kind: 'fail', failure: 'unsupported' };
  if (access === 'write' && info.readOnly) return { kind: 'fail', failure: 'invalid' };
  return { kind: 'emulate' };
}

/**
 * MSRs whose accesses VMX KVM does not intercept (vmx_disable_intercept_for_msr() in
 * arch/x86/kvm/vmx/vmx.c: the segment bases, SYSENTER, TSC reads; the speculation-control command
 * MSRs for writes): the CPU completes them without a VM exit. A filter that denies one makes KVM
 * intercept it again (vmx_recalc_msr_intercepts()).
 */
const VMX_PASSTHROUGH: Readonly<Record<'read' | 'write', ReadonlySet<number>>> = {
  read: new Set([0x10, 0x174, 0x175, 0x176, 0xc0000100, 0xc0000101, 0xc0000102]),
  write: new Set([0x49, 0x10b, 0x174, 0x175, 0x176, 0xc0000100, 0xc0000101, 0xc0000102]),
};

/** Whether an ordinary VM's access to this MSR completes in the CPU, without a VM exit. */
export function vmxPassthrough(vm: Vm, index: number, access: 'read' | 'write'): boolean {
  return !vm.isTd && VMX_PASSTHROUGH[access].has(index) && !vm.msrPolicy.constraints.has(index)
    && kvmMsrAllowed(vm.msrPolicy.filter, index, access === 'read' ? KVM_MSR_FILTER_READ : KVM_MSR_FILTER_WRITE);
}

/** The path one kind of access takes for this VM, in one sentence, and whether it reaches host code. */
/** What user space does with an MSR exit, in a few words (the VMM knows its own handlers). */
export type VmmMsrAnswer = (index: number, access: 'read' | 'write') => string;

function msrPath(vm: Vm, index: number, access: 'read' | 'write', vmmAnswer?: VmmMsrAnswer): { text: string; reachesHost: boolean; tdClass: TdMsrClass | null } {
  const verb = ACCESS_VERB[access];
  const tdClass = vm.isTd ? tdMsrPolicy(index, access) : null;
  if (tdClass === 'native') return { text: `${verb} runs natively in the TD (the TDX module virtualises it); the host never sees it`, reachesHost: false, tdClass };
  if (tdClass === 'gp') return { text: 'the TDX module raises #GP; the host never sees it', reachesHost: false, tdClass };
  if (vmxPassthrough(vm, index, access)) return { text: `${verb} completes in the CPU without a VM exit (KVM does not intercept it)`, reachesHost: false, tdClass };
  const hops: string[] = tdClass === 've' ? ['#VE', `TDG.VP.VMCALL<Instruction.${verb}>`] : ['VM exit'];
  const d = kvmMsrDecision(vm, index, access);
  if (d.kind === 'constraint') {
    const c = d.constraint;
    hops.push(c.kind === 'fixed' ? (access === 'read' ? `constraint (proposal): KVM returns ${hex(c.value)}` : 'constraint (proposal): KVM drops the write')
      : access === 'write' ? 'constraint (proposal): read-only, #GP' : 'constraint (proposal): read-only, KVM answers the read');
  } else if (d.kind === 'emulate') hops.push('KVM emulates');
  else {
    const reason = msrExitReason(d.failure);
    if (d.failure === 'filtered') hops.push('kvm_msr_allowed: denied');
    if (vm.userSpaceMsr & reason) hops.push(`KVM_EXIT_X86_${verb} (${MSR_EXIT_REASON_NAMES[reason]}) → ${vmmAnswer ? vmmAnswer(index, access) : 'user space answers'}`);
    else hops.push(d.failure === 'unsupported' ? 'KVM does not know it: #GP' : d.failure === 'invalid' ? 'KVM refuses it: #GP' : '#GP');
  }
  return { text: hops.join(' → '), reachesHost: true, tdClass };
}

/**
 * msrRows(vm): one row per MSR of the table, as this VM's guest would experience it now; with
 * `vmmAnswer`, the paths that exit to user space say what the VMM does with them.
 */
export function msrRows(vm: Vm, vmmAnswer?: VmmMsrAnswer): MsrRow[] {
  const p = vm.msrPolicy;
  const indices = [...new Set([...MSRS.keys(), ...p.constraints.keys(), ...p.accesses.keys()])].sort((a, b) => a - b);
  return indices.map((index) => {
    const read = msrPath(vm, index, 'read', vmmAnswer);
    const write = msrPath(vm, index, 'write', vmmAnswer);
    const c = p.constraints.get(index);
    return {
      index: hex(index),
      name: msrName(index),
      purpose: MSRS.get(index)?.purpose ?? 'not in the simulator\'s MSR table',
      readPath: read.text,
      writePath: write.text,
      tdClass: read.tdClass,
      filter: {
        read: kvmMsrAllowed(p.filter, index, KVM_MSR_FILTER_READ) ? 'allow' : 'deny',
        write: kvmMsrAllowed(p.filter, index, KVM_MSR_FILTER_WRITE) ? 'allow' : 'deny',
      },
      constraint: c ? (c.kind === 'fixed' ? { kind: 'fixed', value: hex(c.value) } : { kind: 'read-only' }) : null,
      reachesHost: read.reachesHost || write.reachesHost,
      accesses: p.accesses.get(index) ?? 0,
    };
  });
}

const hex32 = (x: number): string => '0x' + (x >>> 0).toString(16).padStart(8, '0');

/** The leaves a boot reads, with the registers this VM's guest sees and who decides them. */
export function cpuidRows(vm: Vm): CpuidRow[] {
  const td = vm.td;
  const physBits = td ? td.gpaw : 46;
  const configured = (leaf: number, sub: number): CpuidRegs => kvmCpuid(leaf, sub, physBits);
  return TD_CPUID_LEAVES.map(({ leaf, subleaf, name }) => {
    let regs: CpuidRegs;
    let policy: string;
    let ve = false;
    if (vm.isTd) {
      const p = tdCpuidPolicy(leaf);
      ve = p.ve;
      policy = p.how;
      regs = tdCpuid(leaf, subleaf, configured) ?? configured(leaf, subleaf);
    } else {
      policy = 'KVM_SET_CPUID2';
      regs = leaf === TDX_CPUID_LEAF_ID ? [0, 0, 0, 0] : configured(leaf, subleaf);
    }
    return { leaf: hex(leaf), subleaf: hex(subleaf), name, eax: hex32(regs[0]), ebx: hex32(regs[1]), ecx: hex32(regs[2]), edx: hex32(regs[3]), policy, ve };
  });
}
