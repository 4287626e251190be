/**
 * The registers a vCPU starts with, ordinary VM beside TD, for the "Reset state" table of the
 * attack-surface panel (RegRow in surface-view.ts). Pure data: the same rows in the same order for
 * both kinds, so the UI can put them side by side, and each row names who sets it.
 *
 * Ordinary VM (KVM_X86_DEFAULT_VM). KVM builds the architectural RESET state at KVM_CREATE_VCPU:
 * kvm_vcpu_reset() (arch/x86/kvm/x86.c: GPRs zeroed, RDX = CPUID.1.EAX or 0x600, RFLAGS 0x2, RIP 0xfff0,
 * CR0 = CD|NW|ET, CR4 = EFER = 0, XCR0 = x87) and vmx_vcpu_reset() (arch/x86/kvm/vmx/vmx.c: CS 0xf000
 * base 0xffff0000, seg_setup() limit 0xffff AR 0x93, GDTR/IDTR limit 0xffff, DR7 0x400), and
 * kvm_lapic_reset() sets IA32_APIC_BASE = 0xfee00000 | ENABLE | BSP-for-vCPU-0. QEMU then writes
 * its own copy of the same state: x86_cpu_reset() (target/i386/cpu.c: CR0 0x60000010, EDX =
 * env->cpuid_version) and kvm_arch_reset_vcpu() (target/i386/kvm/kvm.c: the BSP RUNNABLE, the APs
 * KVM_MP_STATE_UNINITIALIZED, i.e. waiting for INIT/SIPI), put with KVM_SET_REGS / KVM_SET_SREGS /
 * KVM_SET_MP_STATE. Nothing stops the VMM from writing any other state later.
 *
 * TD (KVM_X86_TDX_VM). The TDX module sets the state at TDH.VP.INIT, which KVM_TDX_INIT_VCPU calls
 * with the ioctl's data as the initial RCX (Documentation/virt/kvm/x86/intel-tdx.rst); QEMU passes
 * the TD HOB's address (target/i386/kvm/tdx.c tdx_post_init_vcpus()). Values from the TDX module
 * source: tdh_vp_init.c init_vcpu_gprs_and_registers() (RBX = 52 or 48 by GPAW, RCX = R8 = the
 * parameter, RDX = CPUID(1).EAX saved at TDH.SYS.INIT, RSI = vCPU index, XCR0 1, DR6 0xffff0ff0,
 * other GPRs 0) and td_vmcs_init.c td_vmcs_*_state_init_map (RIP 0xfffffff0, RFLAGS 0x2, flat
 * 32-bit segments limit 0xffffffff AR 0xc09b/0xc093, CR0 0x21, CR4 0x2040 with VMXE hidden by the
 * read shadow, EFER 0x901, DR7 0x400, GDTR limit 0xffff). KVM's tdx_vcpu_init() forces x2APIC
 * (APIC_DEFAULT_PHYS_BASE | LAPIC_MODE_X2APIC | BSP). The host can neither set nor read this state
 * (KVM_SET_REGS/SREGS → EINVAL without the DEBUG attribute), and there is no INIT/SIPI
 * (tdx_vcpu_reset() warns on INIT): every vCPU enters TDVF at 0xfffffff0, where the reset vector
 * tells the BSP from the APs by ESI (OvmfPkg/ResetVector/Ia32/IntelTdx.asm) and parks the APs until
 * the OS wakes them through the ACPI MP-wakeup mailbox.
 *
 * Talk mode ("Twist the reset state", DOMAIN.md §1, not merged): for an ordinary VM the VMM would
 * pin the entry state once at vCPU creation and KVM would refuse later changes to it. The values are
 * the same as upstream (the firmware's entry at 0xf000:0xfff0); only who may change them differs. A
 * TD is the same in both modes: the TDX module already owns its state.
 */
import { hex } from '../core/units';
import { kvmCpuid } from '../kvm/msr-cpuid';
import type { RegRow } from './surface-view';

export type ResetKind = 'default' | 'tdx';
export type ResetMode = 'upstream' | 'talk';

export interface ResetOpts {
  /** The value the VMM passes in KVM_TDX_INIT_VCPU's data (QEMU: the TD HOB's GPA); 0 when absent. */
  hobGpa?: number;
  /** The TD's guest physical address width. */
  gpaw: 48 | 52;
  /** The vCPU's index; vCPU 0 is the BSP. */
  vcpuIndex: number;
}

// include/uapi/linux/kvm.h
const KVM_MP_STATE_RUNNABLE = 0;
const KVM_MP_STATE_UNINITIALIZED = 1;

// arch/x86/include/asm/apicdef.h, msr-index.h
const APIC_DEFAULT_PHYS_BASE = 0xfee00000;
const MSR_IA32_APICBASE_BSP = 1 << 8;
const X2APIC_ENABLE = 1 << 10;
const MSR_IA32_APICBASE_ENABLE = 1 << 11;

/** CPUID.1.EAX (family/model/stepping) of the simulated CPU, the "CPU signature" put in RDX at reset. */
const cpuSignature = (): number => kvmCpuid(1, 0, 52)[0];

/** The row names, in display order; both kinds give exactly these. */
export const RESET_ROW_NAMES = [
  'rip', 'rflags', 'cs.selector', 'cs.base', 'cs.limit', 'cs.ar',
  'ds/es/fs/gs/ss.selector', 'ds/es/fs/gs/ss.base', 'ds/es/fs/gs/ss.limit', 'ds/es/fs/gs/ss.ar',
  'gdtr.base', 'gdtr.limit', 'idtr.limit',
  'cr0', 'cr3', 'cr4', 'efer', 'apic_base',
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'r8', 'dr6', 'dr7', 'xcr0', 'mp_state',
] as const;

type RowName = typeof RESET_ROW_NAMES[number];
type Rows = Record<RowName, [value: number, setBy: string]>;

const KVM = 'architectural reset (KVM: kvm_vcpu_reset())';
const VMX = 'architectural reset (KVM: vmx_vcpu_reset())';
const QEMU_REGS = 'QEMU: x86_cpu_reset() → KVM_SET_REGS';
const QEMU_SREGS = 'QEMU: x86_cpu_reset() → KVM_SET_SREGS';
const TDX = 'the TDX module: TDH.VP.INIT (from KVM_TDX_INIT_VCPU)';

function ordinaryRows(vcpuIndex: number): Rows {
  const bsp = vcpuIndex === 0;
  const sregs = `${VMX}; ${QEMU_SREGS}`;
  return {
    rip: [0xfff0, `${KVM}; ${QEMU_REGS}${bsp ? '' : ' (an AP replaces it at SIPI: RIP 0)'}`],
    rflags: [0x2, `${KVM}; ${QEMU_REGS}`],
    'cs.selector': [0xf000, `${sregs}${bsp ? '' : ' (an AP replaces it at SIPI: vector << 8)'}`],
    'cs.base': [0xffff0000, `${sregs}${bsp ? '' : ' (an AP replaces it at SIPI: vector << 12)'}`],
    'cs.limit': [0xffff, sregs],
    'cs.ar': [0x9b, `${sregs} (16-bit code: present, readable, accessed)`],
    'ds/es/fs/gs/ss.selector': [0, `${VMX} seg_setup(); ${QEMU_SREGS}`],
    'ds/es/fs/gs/ss.base': [0, `${VMX} seg_setup(); ${QEMU_SREGS}`],
    'ds/es/fs/gs/ss.limit': [0xffff, `${VMX} seg_setup(); ${QEMU_SREGS}`],
    'ds/es/fs/gs/ss.ar': [0x93, `${VMX} seg_setup(); ${QEMU_SREGS} (16-bit data: present, writable, accessed)`],
    'gdtr.base': [0, sregs],
    'gdtr.limit': [0xffff, sregs],
    'idtr.limit': [0xffff, sregs],
    cr0: [0x60000010, `${KVM}; ${QEMU_SREGS} (CD|NW|ET: real mode, caches off)`],
    cr3: [0, `${KVM}; ${QEMU_SREGS}`],
    cr4: [0, `${KVM}; ${QEMU_SREGS}`],
    efer: [0, `${KVM}; ${QEMU_SREGS}`],
    apic_base: [
      (APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE | (bsp ? MSR_IA32_APICBASE_BSP : 0)) >>> 0,
      `architectural reset (KVM: kvm_lapic_reset()); QEMU: apic_designate_bsp() → KVM_SET_SREGS (apic_base) (xAPIC${bsp ? ', BSP bit' : ''})`,
    ],
    rax: [0, `${KVM}; ${QEMU_REGS}`],
    rbx: [0, `${KVM}; ${QEMU_REGS}`],
    rcx: [0, `${KVM}; ${QEMU_REGS}`],
    rdx: [cpuSignature(), `${KVM} (0x600 before KVM_SET_CPUID2); QEMU: x86_cpu_reset() → KVM_SET_REGS (env->cpuid_version, the CPU signature)`],
    rsi: [0, `${KVM}; ${QEMU_REGS}`],
    r8: [0, `${KVM}; ${QEMU_REGS}`],
    dr6: [0xffff0ff0, `${KVM}; QEMU: x86_cpu_reset() → KVM_SET_DEBUGREGS`],
    dr7: [0x400, `${VMX}; QEMU: x86_cpu_reset() → KVM_SET_DEBUGREGS`],
    xcr0: [0x1, `${KVM}; QEMU: kvm_arch_reset_vcpu() → KVM_SET_XCRS (x87 only)`],
    mp_state: bsp
      ? [KVM_MP_STATE_RUNNABLE, 'QEMU: kvm_arch_reset_vcpu() → KVM_SET_MP_STATE (KVM_MP_STATE_RUNNABLE: the BSP runs the firmware)']
      : [KVM_MP_STATE_UNINITIALIZED, 'QEMU: kvm_arch_reset_vcpu() → KVM_SET_MP_STATE (KVM_MP_STATE_UNINITIALIZED: the AP waits for INIT, then SIPI)'],
  };
}

/** The entry state the talk's VMM would pin at vCPU creation (segments, control and debug registers, RIP/RFLAGS). */
const TALK_PINNED: ReadonlySet<RowName> = new Set<RowName>([
  'rip', 'rflags', 'cs.selector', 'cs.base', 'cs.limit', 'cs.ar',
  'ds/es/fs/gs/ss.selector', 'ds/es/fs/gs/ss.base', 'ds/es/fs/gs/ss.limit', 'ds/es/fs/gs/ss.ar',
  'gdtr.base', 'gdtr.limit', 'idtr.limit', 'cr0', 'cr3', 'cr4', 'efer', 'dr7',
]);

const TALK_SET_BY = "the VMM, pinned at vCPU creation (talk's proposal, not merged): KVM would refuse later KVM_SET_REGS/KVM_SET_SREGS to it";

function tdRows(opts: ResetOpts): Rows {
  const bsp = opts.vcpuIndex === 0;
  const rcx = opts.hobGpa ?? 0;
  const seg = `${TDX}: td_vmcs_init.c`;
  return {
    rip: [0xfffffff0, `${seg} (TDVF's reset vector; KVM_SET_REGS is refused)`],
    rflags: [0x2, seg],
    'cs.selector': [0, `${TDX} (unverified: not in the init map, so 0)`],
    'cs.base': [0, `${TDX} (unverified: not in the init map, so 0)`],
    'cs.limit': [0xffffffff, seg],
    'cs.ar': [0xc09b, `${seg} (32-bit flat code: D=1, G=1)`],
    'ds/es/fs/gs/ss.selector': [0, `${TDX} (unverified: not in the init map, so 0)`],
    'ds/es/fs/gs/ss.base': [0, `${TDX} (unverified: not in the init map, so 0)`],
    'ds/es/fs/gs/ss.limit': [0xffffffff, seg],
    'ds/es/fs/gs/ss.ar': [0xc093, `${seg} (32-bit flat data: B=1, G=1)`],
    'gdtr.base': [0, `${TDX} (unverified: not in the init map, so 0)`],
    'gdtr.limit': [0xffff, seg],
    'idtr.limit': [0, `${TDX} (unverified: not in the init map, so 0)`],
    cr0: [0x21, `${seg} (PE|NE: 32-bit protected mode, paging off)`],
    cr3: [0, `${TDX} (unverified: not in the init map, so 0)`],
    cr4: [0x40, `${seg} (MCE; the VMCS holds 0x2040, the read shadow hides VMXE)`],
    efer: [0x901, `${seg} (SCE|LME|NXE; LMA stays 0 until paging is on)`],
    apic_base: [
      (APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE | X2APIC_ENABLE | (bsp ? MSR_IA32_APICBASE_BSP : 0)) >>> 0,
      `KVM: tdx_vcpu_init() (KVM_TDX_INIT_VCPU) forces x2APIC${bsp ? ', BSP bit' : ''}; a guest RDMSR takes #VE and KVM answers`,
    ],
    rax: [0, `${TDX}: tdh_vp_init.c (other GPRs 0)`],
    rbx: [opts.gpaw, `${TDX}: tdh_vp_init.c (GPAW: ${opts.gpaw}-bit guest physical addresses)`],
    rcx: [rcx, `${TDX}: tdh_vp_init.c (KVM_TDX_INIT_VCPU's data; QEMU passes the TD HOB's address)`],
    rdx: [cpuSignature(), `${TDX}: tdh_vp_init.c (CPUID(1).EAX saved at TDH.SYS.INIT, the CPU signature)`],
    rsi: [opts.vcpuIndex, `${TDX}: tdh_vp_init.c (the vCPU index; TDVF takes ESI = 0 as the BSP)`],
    r8: [rcx, `${TDX}: tdh_vp_init.c (a copy of RCX)`],
    dr6: [0xffff0ff0, `${TDX}: tdh_vp_init.c`],
    dr7: [0x400, seg],
    xcr0: [0x1, `${TDX}: tdh_vp_init.c (x87 only)`],
    mp_state: [
      KVM_MP_STATE_RUNNABLE,
      `KVM (unverified: no INIT/SIPI for a TD, so every vCPU runs from its first KVM_RUN; TDVF parks ${bsp ? 'the APs' : 'this AP'} until the ACPI MP-wakeup mailbox)`,
    ],
  };
}

/**
 * The registers a vCPU starts with. kind 'default' is an ordinary VM, 'tdx' a TD; mode 'talk'
 * changes only who may set an ordinary VM's entry state. Values are hex strings.
 */
export function resetState(kind: ResetKind, mode: ResetMode, opts: ResetOpts): RegRow[] {
  const rows = kind === 'tdx' ? tdRows(opts) : ordinaryRows(opts.vcpuIndex);
  const pin = kind === 'default' && mode === 'talk';
  return RESET_ROW_NAMES.map((name) => {
    const [value, setBy] = rows[name];
    return { name, value: hex(value), setBy: pin && TALK_PINNED.has(name) ? TALK_SET_BY : setBy };
  });
}
