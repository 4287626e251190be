import { fail } from '../core/errno';
import { Cost, nsAtTsc, tscAt } from '../core/clock';
import { MSR_IA32_TSC, MSR_IA32_TSC_DEADLINE } from '../abi/msr';
import { PAGE_SIZE, hex } from '../core/units';
import { GuestException, GuestPanic, MmioAccess, VcpuExit, type Access, type CpuBus, type CpuRegs, type Reg64 } from '../cpu/bus';
import {
  EXIT_REASON_CPUID, EXIT_REASON_EPT_VIOLATION, EXIT_REASON_HLT, EXIT_REASON_IO_INSTRUCTION, EXIT_REASON_MSR_READ,
  EXIT_REASON_MSR_WRITE, TDG_MEM_PAGE_ACCEPT, TDG_VP_INFO, TDG_VP_VMCALL, TDVMCALL_MAP_GPA, TDVMCALL_REPORT_FATAL_ERROR,
  TDVMCALL_STATUS_INVALID_OPERAND, TDVMCALL_STATUS_RETRY, TDVMCALL_STATUS_SUCCESS, TDX_MAP_GPA_MAX_LEN, TDX_OPERAND_INVALID,
  TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED, isSharedGpa,
} from '../abi/tdx';
import type { Program } from '../abi/program';
import { GuestFault } from '../cpu/cpu';
import { KvmExitSignal, UserfaultWait, VcpuBlocked, VmDeadSignal, type RunExit, type RunResult } from './run';
import { MSRS, kvmCpuid, kvmMsrDecision, msrName, vmxPassthrough } from './msr-cpuid';
import { MSR_EXIT_REASON_NAMES, msrExitReason } from './msr-filter';
import { TD_MSR_VALUES, tdMsrPolicy } from '../tdx/msr-policy';
import { tdCpuid } from '../tdx/cpuid-policy';
import {
  KVM_ENOSYS, KVM_EXIT_HYPERCALL_LONG_MODE, KVM_HC_MAP_GPA_RANGE, KVM_INTERNAL_ERROR_EMULATION, KVM_MAP_GPA_RANGE_DECRYPTED,
  KVM_MAP_GPA_RANGE_ENCRYPTED, KVM_MAP_GPA_RANGE_PAGE_SZ_4K, KVM_SYSTEM_EVENT_TDX_FATAL,
} from './uapi';
import { DirtyRing, dirtyRingRsvdEntries } from './dirty-ring';
import type { Vm } from './vm';

/** The guest CPU as KVM drives it (implemented in guest/cpu). */
export interface GuestCpu extends CpuRegs {
  readonly program: Program;
  readonly flags?: { cf: boolean; zf: boolean; sf: boolean; of: boolean };
  run(maxInstructions: number): number;
  readonly instructionsRetired: number;
  /** Instructions retired up to now, exact also inside run() (what the clock reads during KVM_RUN). */
  retiredNow(): number;
}

/** What user space left in kvm_run for the instruction that exited, used when it runs again. */
type Completion =
  | { kind: 'io'; data: number }
  | { kind: 'mmio'; data: number }
  | { kind: 'hypercall'; ret: number }
  /** A TD's TDG.VP.VMCALL<Instruction.HLT> that halted: when the vCPU runs again, the call returns. */
  | { kind: 'hlt' }
  /** KVM_EXIT_X86_RDMSR/WRMSR: msr.error set means inject #GP; else a read returns msr.data. */
  | { kind: 'msr'; error: boolean; data: bigint };

/** KVM's state of a TDG.VP.VMCALL<MapGPA> being processed in 2 MiB chunks (tdx->map_gpa_next/end). */
interface MapGpaState {
  next: number;
  end: number;
  shared: boolean;
}

const MASK64 = (1n << 64n) - 1n;
const u64 = (x: bigint): bigint => x & MASK64;
const num = (x: bigint): number => Number(x & MASK64);

/**
 * A vCPU (struct kvm_vcpu). It is the guest CPU's bus: every guest memory access, port access, MSR,
 * CPUID, HLT, TDCALL and VMCALL comes through here and is answered the way KVM (and for a TD, the
 * TDX module in front of it) answers it. KVM_RUN runs the guest until something must go to user space.
 */
export class Vcpu implements CpuBus {
  cpu: GuestCpu | null = null;
  /** kvm_run as user space sees it after the last KVM_RUN. */
  lastExit: RunExit | null = null;
  /** KVM_RUN calls so far (each returns to user space once): how much exit handling this vCPU has cost. */
  runs = 0;
  private completion: Completion | null = null;
  private mapGpa: MapGpaState | null = null;
  /** A TD vCPU halted inside TDG.VP.VMCALL<Instruction.HLT>; the next KVM_RUN wakes it there. */
  private tdHalted = false;
  /** A pending interrupt (set by the VMM); TDX MapGPA answers RETRY when one is pending. */
  interruptPending = false;
  readonly msrs = new Map<number, bigint>();
  /** TD: KVM_TDX_INIT_VCPU has run. */
  tdInitialized = false;
  private hostTlbGen = 0;
  /** vcpu->dirty_ring: allocated at KVM_CREATE_VCPU when the VM has KVM_CAP_DIRTY_LOG_RING. */
  readonly dirtyRing = new DirtyRing();

  constructor(readonly vm: Vm, readonly id: number, readonly fd: number) {
    this.resetMsrs();
  }

  /** The MSRs' values at vCPU creation or reset (kvm_vcpu_reset(); for a TD what the TDX module sets). */
  resetMsrs(): void {
    this.msrs.clear();
    for (const [i, m] of MSRS) this.msrs.set(i, m.reset);
    if (this.vm.isTd) for (const [i, v] of TD_MSR_VALUES) this.msrs.set(i, v);
  }

  get tlbGeneration(): number {
    return this.vm.mmu.generation + this.hostTlbGen + this.vm.kvm.host.memory.contentsGeneration;
  }

  /** The host wrote physical memory behind the guest's back: drop cached translations. */
  flushTlb(): void {
    this.hostTlbGen++;
  }

  private trace(layer: Parameters<Vm['trace']>[0], name: string, args: Parameters<Vm['trace']>[2], text: string, gfns?: readonly [number, number]): void {
    this.vm.trace(layer, name, args, text, { vcpu: this.id, gfns });
  }

  private exit(exit: RunExit, why: string, errno?: 'EFAULT'): never {
    throw new KvmExitSignal(exit, errno, why);
  }

  // ---- CpuBus -------------------------------------------------------------------------------

  page(gpa: number, access: Access): Uint8Array {
    const t = this.vm.mmu.translate(gpa, access, this.id);
    if (t === 'mmio') return this.mmioAccess(gpa, access);
    const mem = this.vm.kvm.host.memory;
    if (access !== 'write') return mem.bytesForRead(t);
    this.lastWriteFrame = t;
    return mem.bytes(t);
  }

  /** See CpuBus.contentTokens: the host memory's tokens, which the CPU's stores update. */
  get contentTokens(): { token: Uint32Array; seq: Uint32Array } {
    const mem = this.vm.kvm.host.memory;
    return { token: mem.token, seq: mem.tokenSeq };
  }

  /** The host frame behind the last page(…, 'write'). */
  lastWriteFrame = -1;

  /** No memslot behind the GPA. A TD's shared access becomes a #VE; others exit with KVM_EXIT_MMIO. */
  private mmioAccess(gpa: number, access: Access): never {
    if (access === 'fetch') {
      this.exit({ reason: 'KVM_EXIT_INTERNAL_ERROR', internal: { suberror: KVM_INTERNAL_ERROR_EMULATION, ndata: 1, data: [gpa] } },
        `instruction fetch from ${hex(gpa)}, where no memslot is: KVM cannot emulate it (KVM_INTERNAL_ERROR_EMULATION)`);
    }
    const td = this.vm.td;
    if (td) {
      this.trace('tdx-module', '#VE', { gpa: hex(gpa), exit_reason: EXIT_REASON_EPT_VIOLATION },
        `The TD's shared access to ${hex(gpa)} hits no memory: the EPT entry has #VE enabled, so the guest gets a #VE to emulate MMIO.`);
      throw new GuestException('VE', `MMIO access to ${hex(gpa)}`, { exitReason: EXIT_REASON_EPT_VIOLATION, exitQualification: access === 'write' ? 2 : 1, gpa });
    }
    throw new MmioAccess(gpa);
  }

  /** Complete an MMIO access for an ordinary VM (the CPU calls this after page() threw MmioAccess). */
  mmio(gpa: number, size: number, isWrite: boolean, value: number): number {
    const c = this.takeCompletion('mmio');
    if (c) return c.data;
    const k = this.vm.kernelIo?.('mmio', gpa, size, isWrite, value) ?? null;
    if (k !== null) return isWrite ? 0 : k;
    this.trace('kvm', 'KVM_EXIT_MMIO', { phys_addr: hex(gpa), len: size, is_write: isWrite, data: isWrite ? hex(value) : null },
      `The guest ${isWrite ? 'writes' : 'reads'} ${size} byte(s) at ${hex(gpa)}, where no memory is: KVM exits to the VMM to emulate the device.`);
    this.exit({ reason: 'KVM_EXIT_MMIO', mmio: { phys_addr: gpa, data: isWrite ? value : 0, len: size, is_write: isWrite } }, 'MMIO');
  }

  io(port: number, size: 1 | 2 | 4, dirIn: boolean, value: number): number {
    if (this.vm.td) {
      if (!this.completion) this.trace('tdx-module', '#VE', { exit_reason: EXIT_REASON_IO_INSTRUCTION, port: hex(port) },
        `Port I/O is not allowed in a TD: ${dirIn ? 'IN from' : 'OUT to'} port ${hex(port)} raises a #VE in the guest.`);
      throw new GuestException('VE', `port I/O to ${hex(port)}`, { exitReason: EXIT_REASON_IO_INSTRUCTION, exitQualification: 0, port, size, dirIn });
    }
    return this.ioExit(port, size, dirIn, value);
  }

  private ioExit(port: number, size: number, dirIn: boolean, value: number): number {
    const c = this.takeCompletion('io');
    if (c) return dirIn ? c.data : 0;
    const k = this.vm.kernelIo?.('port', port, size, !dirIn, value) ?? null;
    if (k !== null) return dirIn ? k : 0;
    this.trace('kvm', 'KVM_EXIT_IO', { direction: dirIn ? 'KVM_EXIT_IO_IN' : 'KVM_EXIT_IO_OUT', port: hex(port), size, data: dirIn ? null : hex(value) },
      `The guest ${dirIn ? 'reads from' : 'writes to'} port ${hex(port)}; KVM exits to the VMM, which emulates the device.`);
    this.exit({ reason: 'KVM_EXIT_IO', io: { direction: dirIn ? 'KVM_EXIT_IO_IN' : 'KVM_EXIT_IO_OUT', size, port, count: 1, data: dirIn ? 0 : value } }, 'port I/O');
  }

  /**
   * RDMSR. A TD: the TDX module's class decides (tdx/msr-policy.ts); a #VE goes to the guest's
   * handler, which comes back through TDG.VP.VMCALL<Instruction.RDMSR> (tdvmcall()). An ordinary VM:
   * the access exits to KVM (kvm_emulate_rdmsr()).
   */
  rdmsr(index: number): bigint {
    index >>>= 0;
    const first = !this.completion;
    if (first) this.guestMsrAccess(index, 'read', 0n);
    if (this.vm.td) {
      const cls = tdMsrPolicy(index, 'read');
      if (cls === 'native') {
        if (MSRS.get(index)?.writeOnly) throw new GuestException('GP', `RDMSR of write-only ${msrName(index)}`);
        return this.msrValue(index);
      }
      this.tdMsrException(cls, index, 'read');
    }
    if (vmxPassthrough(this.vm, index, 'read')) return this.msrValue(index);
    const c = this.takeCompletion('msr');
    if (c) {
      if (c.error) this.injectMsrGp(index, 'read', 'the VMM answered KVM_EXIT_X86_RDMSR with msr.error = 1');
      return c.data;
    }
    const v = this.kvmEmulateMsr(index, 'read', 0n);
    if (v === null) this.injectMsrGp(index, 'read', null);
    return v;
  }

  wrmsr(index: number, value: bigint): void {
    index >>>= 0;
    const first = !this.completion;
    if (first) this.guestMsrAccess(index, 'write', value);
    if (this.vm.td) {
      const cls = tdMsrPolicy(index, 'write');
      if (cls === 'native') {
        this.storeMsr(index, value);
        return;
      }
      this.tdMsrException(cls, index, 'write');
    }
    if (vmxPassthrough(this.vm, index, 'write')) {
      this.storeMsr(index, value);
      return;
    }
    const c = this.takeCompletion('msr');
    if (c) {
      if (c.error) this.injectMsrGp(index, 'write', 'the VMM answered KVM_EXIT_X86_WRMSR with msr.error = 1');
      return;
    }
    if (this.kvmEmulateMsr(index, 'write', value) === null) this.injectMsrGp(index, 'write', null);
  }

  private msrValue(index: number): bigint {
    if (index === MSR_IA32_TSC) return this.tsc();
    return this.msrs.get(index) ?? 0n;
  }

  /**
   * The TSC this vCPU reads now: the virtual clock at TSC_HZ (core/clock.ts) plus the offset a
   * write to IA32_TIME_STAMP_COUNTER set (KVM keeps the offset, kvm_synchronize_tsc()).
   */
  tsc(): bigint {
    return BigInt.asUintN(64, tscAt(this.vm.clock.now) + this.tscOffset);
  }

  /** TSC offset from the virtual clock (a guest's write to the TSC sets it). */
  private tscOffset = 0n;

  /** A guest (or KVM on its behalf) writes an MSR: the TSC and the TSC-deadline timer have effects. */
  private storeMsr(index: number, value: bigint): void {
    if (index === MSR_IA32_TSC) {
      this.tscOffset = value - tscAt(this.vm.clock.now);
      return;
    }
    this.msrs.set(index, value);
    if (index === MSR_IA32_TSC_DEADLINE) {
      this.trace('kvm', 'kvm_lapic_tscdeadline', { tscdeadline: hex(value), armed: value !== 0n },
        value === 0n ? 'The guest disarms its local APIC timer (IA32_TSC_DEADLINE = 0).'
          : `The guest arms its local APIC timer: it fires when the TSC reaches ${hex(value)}, ${Math.max(0, this.timerDeadlineNs()! - this.vm.clock.now)} ns from now.`);
    }
  }

  /** When the armed TSC-deadline timer fires (virtual ns), or null when none is armed. */
  timerDeadlineNs(): number | null {
    const d = this.msrs.get(MSR_IA32_TSC_DEADLINE) ?? 0n;
    if (d === 0n) return null;
    return nsAtTsc(d - this.tscOffset);
  }

  /**
   * The TSC-deadline timer expires (apic_timer_expired()): the MSR reads 0 again and the timer
   * interrupt wakes a halted vCPU (kvm_vcpu_kick). The lab does not model interrupt vectors: the
   * woken vCPU goes on after its HLT, as a Linux guest does once its timer handler has run.
   */
  fireTimer(): void {
    const d = this.msrs.get(MSR_IA32_TSC_DEADLINE) ?? 0n;
    this.msrs.set(MSR_IA32_TSC_DEADLINE, 0n);
    this.vm.clock.advance(Cost.timerWakeup);
    this.trace('kvm', 'apic_timer_expired', { tscdeadline: hex(d) },
      `vCPU ${this.id}'s TSC-deadline timer fires: KVM injects the local APIC timer interrupt and wakes the vCPU from HLT.`);
  }

  /** The guest's side of the path: one event per RDMSR/WRMSR instruction, and the VM's counter. */
  private guestMsrAccess(index: number, access: 'read' | 'write', value: bigint): void {
    this.vm.msrPolicy.count(index);
    const verb = access === 'read' ? 'RDMSR' : 'WRMSR';
    this.trace('guest', verb, { msr: hex(index), name: msrName(index), ...(access === 'write' ? { value: hex(value) } : {}) },
      access === 'read' ? `The guest reads ${msrName(index)} (RDMSR with ECX = ${hex(index)}).` : `The guest writes ${hex(value)} to ${msrName(index)} (WRMSR with ECX = ${hex(index)}).`);
  }

  /** A TD's access the TDX module does not let through: #GP, or #VE for the guest's handler. */
  private tdMsrException(cls: 've' | 'gp', index: number, access: 'read' | 'write'): never {
    const verb = access === 'read' ? 'RDMSR' : 'WRMSR';
    const exitReason = access === 'read' ? EXIT_REASON_MSR_READ : EXIT_REASON_MSR_WRITE;
    if (cls === 'gp') {
      if (!this.completion) this.trace('tdx-module', '#GP', { msr: hex(index) }, `${msrName(index)} is not available in a TD: the TDX module raises #GP on ${verb}.`);
      throw new GuestException('GP', `${verb} ${msrName(index)} raises #GP in a TD`);
    }
    if (!this.completion) this.trace('tdx-module', '#VE', { exit_reason: exitReason, msr: hex(index) },
      `The TDX module does not virtualise ${msrName(index)}: ${verb} raises a #VE in the guest.`);
    throw new GuestException('VE', `${verb} ${hex(index)}`, { exitReason, exitQualification: 0, msr: index });
  }

  /** kvm_inject_gp(): an MSR access KVM (or the VMM) refused. The guest's #GP handler takes over. */
  private injectMsrGp(index: number, access: 'read' | 'write', why: string | null): never {
    const verb = access === 'read' ? 'RDMSR' : 'WRMSR';
    this.trace('kvm', '#GP', { msr: hex(index), op: verb },
      why ? `${why[0].toUpperCase()}${why.slice(1)}: KVM injects #GP into the guest.` : `KVM cannot complete ${verb} of ${msrName(index)} and no user-space exit is enabled for it: KVM injects #GP into the guest.`);
    throw new GuestException('GP', `${verb} of ${msrName(index)} refused`);
  }

  /**
   * kvm_emulate_rdmsr()/kvm_emulate_wrmsr() for an access that reached KVM (a VM exit, or a TD's
   * forwarded TDVMCALL): the decision of kvmMsrDecision(), then kvm_msr_user_space(): if user space
   * asked for this reason, exit with KVM_EXIT_X86_RDMSR/WRMSR. Returns the value read (0 for a
   * write), or null when the access failed and stays in the kernel (the caller injects #GP or
   * answers TDVMCALL_STATUS_INVALID_OPERAND).
   */
  private kvmEmulateMsr(index: number, access: 'read' | 'write', value: bigint): bigint | null {
    const d = kvmMsrDecision(this.vm, index, access);
    const read = access === 'read';
    if (d.kind === 'constraint') {
      const c = d.constraint;
      this.trace('kvm', 'MSR constraint (proposal)', { msr: hex(index), op: read ? 'RDMSR' : 'WRMSR', constraint: c.kind, ...(c.kind === 'fixed' ? { value: hex(c.value) } : {}) },
        c.kind === 'fixed' ? (read ? `The VMM pinned ${msrName(index)}: KVM returns ${hex(c.value)} (the talk's proposal).` : `The VMM pinned ${msrName(index)}: KVM drops the write of ${hex(value)} (the talk's proposal).`)
          : read ? `${msrName(index)} is read-only by the VMM's constraint: KVM answers the read (the talk's proposal).` : `${msrName(index)} is read-only by the VMM's constraint: the write fails (the talk's proposal).`);
      if (c.kind === 'fixed') return read ? c.value : 0n;
      return read ? this.msrValue(index) : null;
    }
    if (d.kind === 'emulate') {
      if (!read) this.storeMsr(index, value);
      const v = read ? this.msrValue(index) : value;
      this.trace('kvm', 'kvm_msr', { rw: read ? 'read' : 'write', msr: hex(index), data: hex(v) },
        read ? `KVM emulates the read of ${msrName(index)}: ${hex(v)}.` : `KVM emulates the write of ${hex(v)} to ${msrName(index)}.`);
      return read ? v : 0n;
    }
    if (d.failure === 'filtered')
      this.trace('kvm', 'kvm_msr_allowed', { msr: hex(index), type: read ? 'KVM_MSR_FILTER_READ' : 'KVM_MSR_FILTER_WRITE', allowed: false },
        `The VMM's MSR filter denies ${read ? 'reads of' : 'writes to'} ${msrName(index)}.`);
    const reason = msrExitReason(d.failure);
    if (this.vm.userSpaceMsr & reason) {
      const exitName = read ? 'KVM_EXIT_X86_RDMSR' : 'KVM_EXIT_X86_WRMSR';
      this.trace('kvm', exitName, { index: hex(index), reason: MSR_EXIT_REASON_NAMES[reason], data: read ? null : hex(value) },
        `KVM hands the ${read ? 'read of' : 'write to'} ${msrName(index)} to the VMM (${MSR_EXIT_REASON_NAMES[reason]}), as KVM_CAP_X86_USER_SPACE_MSR asked.`);
      this.exit({ reason: exitName, msr: { error: 0, reason, index, data: hex(read ? 0n : value) } }, `${read ? 'RDMSR' : 'WRMSR'} ${hex(index)} to user space`);
    }
    return null;
  }

  cpuid(leaf: number, subleaf: number): [number, number, number, number] {
    const td = this.vm.td;
    if (td) {
      // The TDX module answers from the configuration fixed at KVM_TDX_INIT_VM (KVM's CPUID masked
      // by the module's fixed bits); other leaves raise #VE so that the VMM can answer.
      const r = tdCpuid(leaf, subleaf, (l, s) => kvmCpuid(l, s, td.gpaw));
      if (r) return r;
      if (!this.completion) this.trace('tdx-module', '#VE', { exit_reason: EXIT_REASON_CPUID, leaf: hex(leaf) },
        `CPUID leaf ${hex(leaf)} is not virtualised by the TDX module: it raises a #VE.`);
      throw new GuestException('VE', `CPUID ${hex(leaf)}`, { exitReason: EXIT_REASON_CPUID, exitQualification: 0, leaf, subleaf });
    }
    return kvmCpuid(leaf, subleaf, 46);
  }

  hlt(): void {
    if (this.vm.td) {
      this.trace('tdx-module', '#VE', { exit_reason: EXIT_REASON_HLT }, 'HLT is not allowed in a TD: it raises a #VE; the guest asks the VMM to halt it with a TDVMCALL.');
      throw new GuestException('VE', 'HLT', { exitReason: EXIT_REASON_HLT, exitQualification: 0 });
    }
    this.halt();
  }

  /** kvm_emulate_halt(): without an in-kernel APIC the vCPU exits with KVM_EXIT_HLT, else it blocks. */
  private halt(): never {
    if (this.vm.irqchip === 'none') {
      this.trace('kvm', 'KVM_EXIT_HLT', {}, 'The guest halts; with no in-kernel local APIC, KVM exits to the VMM with KVM_EXIT_HLT.');
      this.exit({ reason: 'KVM_EXIT_HLT' }, 'HLT');
    }
    this.trace('kvm', 'kvm_vcpu_block', {}, 'The guest halts; KVM blocks the vCPU until an interrupt arrives (the simulation stops here).');
    throw new VcpuBlocked('HLT');
  }

  vmcall(regs: CpuRegs): void {
    if (this.vm.td) throw new GuestException('VE', 'VMCALL', { exitReason: 18, exitQualification: 0 });
    const nr = num(regs.get('rax'));
    if (nr === KVM_HC_MAP_GPA_RANGE && this.vm.exitHypercalls & (1 << KVM_HC_MAP_GPA_RANGE)) {
      const c = this.takeCompletion('hypercall');
      if (c) {
        regs.set('rax', u64(BigInt(c.ret)));
        return;
      }
      const gpa = num(regs.get('rbx'));
      const npages = num(regs.get('rcx'));
      const attrs = num(regs.get('rdx'));
      if (gpa % PAGE_SIZE !== 0 || npages === 0) {
        regs.set('rax', u64(-22n));
        return;
      }
      this.trace('kvm', 'KVM_EXIT_HYPERCALL', { nr: 'KVM_HC_MAP_GPA_RANGE', gpa: hex(gpa), npages, attrs },
        `The guest asks to make ${npages} page(s) at ${hex(gpa)} ${attrs & KVM_MAP_GPA_RANGE_ENCRYPTED ? 'private' : 'shared'}; KVM passes the hypercall to the VMM.`,
        [gpa / PAGE_SIZE, npages]);
      this.exit({ reason: 'KVM_EXIT_HYPERCALL', hypercall: { nr, args: [gpa, npages, attrs, 0, 0, 0], ret: 0, flags: KVM_EXIT_HYPERCALL_LONG_MODE } }, 'hypercall');
    }
    regs.set('rax', u64(-BigInt(KVM_ENOSYS)));
  }

  tdcall(regs: CpuRegs): void {
    const td = this.vm.td;
    if (!td) throw new GuestException('UD', 'TDCALL outside a TD is an invalid opcode');
    const leaf = num(regs.get('rax'));
    switch (leaf) {
      case TDG_VP_INFO:
        regs.set('rax', 0n);
        regs.set('rcx', BigInt(td.gpaw));
        regs.set('rdx', td.attributes);
        regs.set('r8', (BigInt(td.nrVcpus) << 32n) | BigInt(td.nrVcpus));
        regs.set('r9', BigInt(this.id));
        regs.set('r10', 0n);
        regs.set('r11', 0n);
        if (!this.completion) this.trace('tdx-module', 'TDG.VP.INFO', { gpaw: td.gpaw, attributes: hex(td.attributes) },
          `The guest asks the TDX module about itself: GPA width ${td.gpaw}, so the shared bit is bit ${td.gpaw - 1}.`);
        return;
      case TDG_MEM_PAGE_ACCEPT: {
        const rcx = regs.get('rcx');
        const gpa = num(rcx & ~0xfffn);
        const gfn = gpa / PAGE_SIZE;
        let r = this.vm.kvm.tdx.memPageAccept(td, gfn, this.id);
        if (r.status === 'ept-violation') {
          // The GPA has no Secure-EPT entry: the TD exits with an EPT violation, KVM AUGs the page
          // (or exits to user space if the GFN is not private), and the TDCALL runs again.
          this.vm.mmu.faultForAccept(gfn, this.id);
          r = this.vm.kvm.tdx.memPageAccept(td, gfn, this.id);
        }
        regs.set('rax', r.status === 'ept-violation' ? TDX_OPERAND_INVALID : r.status);
        return;
      }
      case TDG_VP_VMCALL:
        this.tdvmcall(regs);
        return;
      default:
        regs.set('rax', TDX_OPERAND_INVALID);
    }
  }

  /** KVM's handling of TDG.VP.VMCALL (arch/x86/kvm/vmx/tdx.c, handle_tdvmcall()). */
  private tdvmcall(regs: CpuRegs): void {
    const td = this.vm.td!;
    const r10 = regs.get('r10');
    const sub = num(regs.get('r11'));
    const set = (status: bigint, r11?: bigint): void => {
      regs.set('rax', 0n);
      regs.set('r10', status);
      if (r11 !== undefined) regs.set('r11', r11);
    };
    if (r10 !== 0n) return set(TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED);
    const r12 = regs.get('r12');
    const r13 = regs.get('r13');
    const r14 = regs.get('r14');
    const r15 = regs.get('r15');
    switch (sub) {
      case EXIT_REASON_HLT:
        // The #VE handler for HLT: the vCPU halts; when it is woken the TDCALL returns success.
        if (this.takeCompletion('hlt')) return set(TDVMCALL_STATUS_SUCCESS);
        this.trace('kvm', 'TDG.VP.VMCALL<Instruction.HLT>', {}, 'The TD asks KVM to halt its vCPU.');
        this.tdHalted = true;
        this.halt();
        return;
      case EXIT_REASON_IO_INSTRUCTION: {
        const size = num(r12);
        const write = r13 === 1n;
        const port = num(r14);
        if (![1, 2, 4].includes(size)) return set(TDVMCALL_STATUS_INVALID_OPERAND);
        if (!this.completion) this.trace('kvm', 'TDG.VP.VMCALL<Instruction.IO>', { port: hex(port), size, write },
          `The guest's #VE handler asks the VMM to ${write ? 'write' : 'read'} port ${hex(port)} on its behalf; KVM forwards it as KVM_EXIT_IO.`);
        const v = this.ioExit(port, size, !write, num(r15));
        set(TDVMCALL_STATUS_SUCCESS, write ? undefined : BigInt(v));
        return;
      }
      case EXIT_REASON_CPUID: {
        const [a, b, c, d] = kvmCpuid(num(r12), num(r13), td.gpaw);
        this.trace('kvm', 'TDG.VP.VMCALL<Instruction.CPUID>', { leaf: hex(num(r12)) }, `KVM answers CPUID leaf ${hex(num(r12))} for the TD.`);
        set(TDVMCALL_STATUS_SUCCESS);
        regs.set('r12', BigInt(a));
        regs.set('r13', BigInt(b));
        regs.set('r14', BigInt(c));
        regs.set('r15', BigInt(d));
        return;
      }
      case EXIT_REASON_MSR_READ:
      case EXIT_REASON_MSR_WRITE: {
        // tdx_handle_exit(): RCX = R12 (and EDX:EAX = R13 for a write), then kvm_emulate_rdmsr()/
        // kvm_emulate_wrmsr(); tdx_complete_emulated_msr() turns a failure into INVALID_OPERAND.
        const index = num(r12) >>> 0;
        const write = sub === EXIT_REASON_MSR_WRITE;
        const call = write ? 'TDG.VP.VMCALL<Instruction.WRMSR>' : 'TDG.VP.VMCALL<Instruction.RDMSR>';
        const c = this.takeCompletion('msr');
        if (c) {
          if (!c.error) return set(TDVMCALL_STATUS_SUCCESS, write ? undefined : c.data);
          this.trace('kvm', call, { msr: hex(index), status: 'TDVMCALL_STATUS_INVALID_OPERAND' },
            'The VMM answered with msr.error = 1: KVM fails the call and the guest treats it as #GP.');
          return set(TDVMCALL_STATUS_INVALID_OPERAND);
        }
        this.trace('kvm', call, { msr: hex(index), ...(write ? { value: hex(r13) } : {}) },
          `The guest's #VE handler asks KVM to ${write ? 'write' : 'read'} ${msrName(index)} on its behalf.`);
        const v = this.kvmEmulateMsr(index, write ? 'write' : 'read', r13);
        if (v === null) {
          this.trace('kvm', call, { msr: hex(index), status: 'TDVMCALL_STATUS_INVALID_OPERAND' },
            `KVM does not complete the ${write ? 'write to' : 'read of'} ${msrName(index)} for a TD: the call fails and the guest treats it as #GP.`);
          return set(TDVMCALL_STATUS_INVALID_OPERAND);
        }
        set(TDVMCALL_STATUS_SUCCESS, write ? undefined : v);
        return;
      }
      case EXIT_REASON_EPT_VIOLATION: {
        // #VE.RequestMMIO: r12 size, r13 direction (0 read, 1 write), r14 GPA, r15 value.
        const size = num(r12);
        const write = r13 === 1n;
        const gpa = num(r14);
        const sb = td.sharedBit;
        if (!isSharedGpa(gpa, sb)) {
          this.trace('kvm', 'TDG.VP.VMCALL<#VE.RequestMMIO>', { gpa: hex(gpa) }, `KVM refuses MMIO to private GPA ${hex(gpa)}.`);
          return set(TDVMCALL_STATUS_INVALID_OPERAND);
        }
        const c = this.takeCompletion('mmio');
        if (c) return set(TDVMCALL_STATUS_SUCCESS, write ? undefined : BigInt(c.data));
        const pa = gpa - sb;
        const k = this.vm.kernelIo?.('mmio', pa, size, write, num(r15)) ?? null;
        if (k !== null) return set(TDVMCALL_STATUS_SUCCESS, write ? undefined : BigInt(k));
        this.trace('kvm', 'KVM_EXIT_MMIO', { phys_addr: hex(pa), len: size, is_write: write },
          `The TD asks for MMIO at ${hex(pa)}; KVM strips the shared bit and exits to the VMM.`);
        this.exit({ reason: 'KVM_EXIT_MMIO', mmio: { phys_addr: pa, data: write ? num(r15) : 0, len: size, is_write: write } }, 'TD MMIO');
        return;
      }
      case TDVMCALL_MAP_GPA:
        this.mapGpaCall(regs, set);
        return;
      case TDVMCALL_REPORT_FATAL_ERROR:
        this.trace('kvm', 'TDG.VP.VMCALL<ReportFatalError>', { error: hex(r12) }, 'The TD reports a fatal error; KVM tells the VMM.');
        this.exit({ reason: 'KVM_EXIT_SYSTEM_EVENT', system_event: { type: KVM_SYSTEM_EVENT_TDX_FATAL, ndata: 1, data: [num(r12)] } }, 'fatal error');
        return;
      default:
        this.trace('kvm', 'TDG.VP.VMCALL', { subfunction: hex(sub) }, `KVM does not support TDVMCALL sub-function ${hex(sub)}.`);
        return set(TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED);
    }
  }

  /**
   * TDG.VP.VMCALL<MapGPA>: validate, then exit to user space with KVM_HC_MAP_GPA_RANGE one 2 MiB
   * chunk at a time (tdx_map_gpa(), tdx_complete_vmcall_map_gpa()). With an interrupt pending KVM
   * stops between chunks and answers RETRY with the GPA to resume from in R11.
   */
  private mapGpaCall(regs: CpuRegs, set: (s: bigint, r11?: bigint) => void): void {
    const td = this.vm.td!;
    const sb = td.sharedBit;
    const gpa = num(regs.get('r12'));
    const size = num(regs.get('r13'));
    let st = this.mapGpa;
    const c = this.takeCompletion('hypercall');
    if (st && c) {
      if (c.ret !== 0) {
        this.mapGpa = null;
        return set(TDVMCALL_STATUS_INVALID_OPERAND, BigInt(st.next));
      }
      st.next += TDX_MAP_GPA_MAX_LEN;
      if (st.next >= st.end) {
        this.mapGpa = null;
        return set(TDVMCALL_STATUS_SUCCESS);
      }
      if (this.interruptPending) {
        this.interruptPending = false;
        this.mapGpa = null;
        this.trace('kvm', 'TDG.VP.VMCALL<MapGPA>', { status: 'TDVMCALL_STATUS_RETRY', r11: hex(st.next) },
          `An interrupt is pending, so KVM stops between chunks and answers RETRY; the guest will call again from ${hex(st.next)} (R11).`);
        return set(TDVMCALL_STATUS_RETRY, BigInt(st.next));
      }
    } else {
      const shared = isSharedGpa(gpa, sb);
      const endShared = isSharedGpa(gpa + size - 1, sb);
      if (gpa % PAGE_SIZE || size % PAGE_SIZE || size === 0 || shared !== endShared) {
        this.trace('kvm', 'TDG.VP.VMCALL<MapGPA>', { gpa: hex(gpa), size: hex(size), status: 'TDVMCALL_STATUS_INVALID_OPERAND' },
          'KVM refuses MapGPA: the range must be page aligned, non-empty and entirely shared or entirely private.');
        return set(TDVMCALL_STATUS_INVALID_OPERAND, BigInt(gpa));
      }
      if (!(this.vm.exitHypercalls & (1 << KVM_HC_MAP_GPA_RANGE))) {
        this.trace('kvm', 'TDG.VP.VMCALL<MapGPA>', { status: 'TDVMCALL_STATUS_INVALID_OPERAND' },
          'The VMM did not enable KVM_CAP_EXIT_HYPERCALL for KVM_HC_MAP_GPA_RANGE, so KVM cannot pass MapGPA on.');
        return set(TDVMCALL_STATUS_INVALID_OPERAND, BigInt(gpa));
      }
      st = this.mapGpa = { next: gpa, end: gpa + size, shared };
      this.trace('kvm', 'TDG.VP.VMCALL<MapGPA>', { gpa: hex(gpa), size: hex(size), to: shared ? 'shared' : 'private' },
        `The guest asks to make [${hex(shared ? gpa - sb : gpa)}, +${hex(size)}) ${shared ? 'shared' : 'private'}; KVM hands it to the VMM 2 MiB at a time.`);
    }
    const chunkEnd = Math.min(st.next + TDX_MAP_GPA_MAX_LEN, st.end);
    const base = st.shared ? st.next - sb : st.next;
    const npages = (chunkEnd - st.next) / PAGE_SIZE;
    const attrs = (st.shared ? KVM_MAP_GPA_RANGE_DECRYPTED : KVM_MAP_GPA_RANGE_ENCRYPTED) | KVM_MAP_GPA_RANGE_PAGE_SZ_4K;
    this.trace('kvm', 'KVM_EXIT_HYPERCALL', { nr: 'KVM_HC_MAP_GPA_RANGE', gpa: hex(base), npages, attrs },
      `KVM exits to the VMM: make ${npages} page(s) at ${hex(base)} ${st.shared ? 'shared' : 'private'} (KVM_HC_MAP_GPA_RANGE).`,
      [base / PAGE_SIZE, npages]);
    this.exit({ reason: 'KVM_EXIT_HYPERCALL', hypercall: { nr: KVM_HC_MAP_GPA_RANGE, args: [base, npages, attrs, 0, 0, 0], ret: 0, flags: KVM_EXIT_HYPERCALL_LONG_MODE } }, 'MapGPA');
  }

  private takeCompletion<K extends Completion['kind']>(kind: K): Extract<Completion, { kind: K }> | null {
    const c = this.completion;
    if (!c || c.kind !== kind) return null;
    this.completion = null;
    this.vm.kvm.host.trace.setMuted(false);
    return c as Extract<Completion, { kind: K }>;
  }

  // ---- Dirty ring -------------------------------------------------------------------------------

  /**
   * kvm_dirty_ring_push() on this (running) vCPU: page `offset` of memslot `slot` (at `gfn`) was
   * written. Returns true when the ring has reached its soft limit (KVM_REQ_DIRTY_RING_SOFT_FULL).
   * Entries are too many to trace one by one: the first after the ring was empty is traced, and
   * the count goes with KVM_EXIT_DIRTY_RING_FULL, the harvest and KVM_RESET_DIRTY_RINGS.
   */
  pushDirtyGfn(slot: number, offset: number, gfn: number): boolean {
    const ring = this.dirtyRing;
    const first = ring.used === 0;
    const full = ring.push(slot, offset);
    if (first)
      this.trace('kvm', 'kvm_dirty_ring_push', { slot, offset: hex(offset), used: ring.used, soft_limit: ring.softLimit },
        `vCPU ${this.id}'s write to GFN ${hex(gfn)} is logged as the first entry on its empty dirty ring (memslot ${slot}, offset ${hex(offset)}); the next ones are counted, not traced one by one.`,
        [gfn, 1]);
    return full;
  }

  /** kvm_dirty_ring_check_request(): the ring is soft full, so KVM_RUN returns KVM_EXIT_DIRTY_RING_FULL. */
  private dirtyRingExit(): RunExit {
    const ring = this.dirtyRing;
    this.trace('kvm', 'KVM_EXIT_DIRTY_RING_FULL', { used: ring.used, soft_limit: ring.softLimit, size: ring.size },
      `vCPU ${this.id}'s dirty ring holds ${ring.used} entries, its soft limit (${ring.size} − ${dirtyRingRsvdEntries()} reserved): KVM_RUN returns KVM_EXIT_DIRTY_RING_FULL, and the vCPU cannot run until user space harvests the ring and calls KVM_RESET_DIRTY_RINGS.`);
    return { reason: 'KVM_EXIT_DIRTY_RING_FULL' };
  }

  /** From the write fault whose push filled the ring: end KVM_RUN before the guest is entered again. */
  dirtyRingFullExit(): never {
    this.exit(this.dirtyRingExit(), 'the dirty ring reached its soft limit');
  }

  // ---- KVM_RUN --------------------------------------------------------------------------------

  /**
   * KVM_RUN. Runs the guest for at most `budget` instructions. Returns like the ioctl: 0 with an exit
   * in kvm_run, or -1 with errno (EFAULT with KVM_EXIT_MEMORY_FAULT; EIO for a dead VM; EINVAL for a
   * TD not finalized; EINTR with KVM_EXIT_INTR when the budget runs out, as a signal would).
   */
  run(budget: number): RunResult {
    const vm = this.vm;
    this.runs++;
    if (vm.dead) return { ret: -1, errno: 'EIO', instructions: 0, why: `the VM is dead: ${vm.dead}` };
    if (vm.td && vm.td.lifecycle !== 'runnable') fail('EINVAL', 'the TD is not finalized (KVM_TDX_FINALIZE_VM has not run)');
    if (vm.td && !this.tdInitialized) fail('EINVAL', 'KVM_TDX_INIT_VCPU has not run for this vCPU');
    if (vm.slots.size === 0) {
      const exit: RunExit = { reason: 'KVM_EXIT_INTERNAL_ERROR', internal: { suberror: KVM_INTERNAL_ERROR_EMULATION, ndata: 0, data: [] } };
      this.lastExit = exit;
      this.trace('kvm', 'KVM_EXIT_INTERNAL_ERROR', { suberror: 'KVM_INTERNAL_ERROR_EMULATION' },
        'The VM has no memslots: the vCPU fetches its first instruction from nowhere and KVM cannot emulate it.');
      return { ret: 0, exit, instructions: 0, why: 'no memslots' };
    }
    const cpu = this.cpu;
    if (!cpu) fail('EINVAL', 'no guest program is loaded on this vCPU (the simulator runs assembled programs only)');
    // vcpu_enter_guest(): KVM_REQ_DIRTY_RING_SOFT_FULL stays set while the ring is soft full, so the
    // vCPU exits again at once, without entering the guest, until KVM_RESET_DIRTY_RINGS makes room.
    const ring = this.dirtyRing;
    if (ring.softFullRequest) {
      if (ring.softFull()) {
        const exit = this.dirtyRingExit();
        this.lastExit = exit;
        vm.clock.advance(Cost.userspaceExit);
        return { ret: 0, exit, instructions: 0, why: 'the dirty ring is still full: it must be harvested and reset first' };
      }
      ring.softFullRequest = false;
    }
    this.prepareCompletion();
    const trace = vm.kvm.host.trace;
    if (this.completion) trace.setMuted(true);
    const start = cpu.instructionsRetired;
    // Virtual time inside the call is exact (Clock.now counts the instructions retired so far), so
    // an event is stamped the same whether the call runs whole or is cut at an instruction boundary.
    vm.clock.beginRun(cpu);
    try {
      cpu.run(budget);
      // Budget used up with no exit: KVM_RUN would go on; a signal makes it return -EINTR.
      return this.finish({ ret: -1, errno: 'EINTR', exit: { reason: 'KVM_EXIT_INTR' }, instructions: 0, why: `the guest ran ${budget} instructions without exiting` }, start);
    } catch (e) {
      if (e instanceof KvmExitSignal) {
        this.lastExit = e.exit;
        this.vm.clock.advance(Cost.userspaceExit + (vm.td ? Cost.tdExit : Cost.vmExit));
        return this.finish({ ret: e.errno ? -1 : 0, errno: e.errno, exit: e.exit, instructions: 0, why: e.why }, start);
      }
      if (e instanceof VmDeadSignal) return this.finish({ ret: -1, errno: 'EIO', instructions: 0, why: vm.dead ?? e.why }, start);
      if (e instanceof VcpuBlocked) return this.finish({ ret: 0, blocked: 'halted', instructions: 0, why: 'the vCPU halted and is blocked in KVM' }, start);
      if (e instanceof UserfaultWait) {
        const w = e.wait;
        return this.finish({ ret: 0, blocked: 'userfault', userfault: { fd: w.fd, tid: w.tid, address: w.address }, instructions: 0,
          why: `KVM's get_user_pages() of ${hex(w.address)} waits on userfaultfd ${w.fd}: the vCPU thread (${w.tid}) sleeps until the page is installed and it is woken` }, start);
      }
      if (e instanceof GuestPanic) {
        return this.finish({ ret: 0, blocked: 'panicked', instructions: 0,
          why: `the guest kernel panicked (${e.message}) and its vCPU spins in panic(); nothing more exits to KVM, so the lab stops the run here (KVM_RUN itself would wait for a signal)` }, start);
      }
      if (e instanceof GuestFault) {
        const exit: RunExit = { reason: 'KVM_EXIT_SHUTDOWN' };
        this.lastExit = exit;
        this.trace('kvm', 'KVM_EXIT_SHUTDOWN', { why: e.message }, `The guest cannot continue (${e.message}); KVM reports a shutdown (triple fault).`);
        return this.finish({ ret: 0, exit, instructions: 0, why: e.message }, start);
      }
      if (e instanceof VcpuExit) throw new Error(`unexpected vCPU exit: ${e.why}`);
      throw e;
    } finally {
      vm.clock.endRun();
      trace.setMuted(false);
      this.completion = null;
    }
  }

  private finish(r: RunResult, start: number): RunResult {
    this.vm.clock.endRun();
    r.instructions = this.cpu!.instructionsRetired - start;
    this.vm.clock.advance(r.instructions * Cost.instruction);
    return r;
  }

  /** complete_userspace_io() and friends: what user space put in kvm_run finishes the exited instruction. */
  private prepareCompletion(): void {
    const e = this.lastExit;
    this.lastExit = null;
    this.completion = null;
    if (this.tdHalted) {
      this.tdHalted = false;
      this.completion = { kind: 'hlt' };
      return;
    }
    if (!e) return;
    switch (e.reason) {
      case 'KVM_EXIT_IO':
        this.completion = { kind: 'io', data: e.io.direction === 'KVM_EXIT_IO_IN' ? e.io.data : 0 };
        break;
      case 'KVM_EXIT_MMIO':
        this.completion = { kind: 'mmio', data: e.mmio.is_write ? 0 : e.mmio.data };
        break;
      case 'KVM_EXIT_HYPERCALL':
        this.completion = { kind: 'hypercall', ret: e.hypercall.ret };
        break;
      case 'KVM_EXIT_X86_RDMSR':
      case 'KVM_EXIT_X86_WRMSR':
        // complete_fast_rdmsr() / complete_fast_msr_access(): EDX:EAX = msr.data unless msr.error.
        this.completion = { kind: 'msr', error: e.msr.error !== 0, data: e.reason === 'KVM_EXIT_X86_RDMSR' ? BigInt.asUintN(64, BigInt(e.msr.data)) : 0n };
        break;
      default:
        break;
    }
  }

  /**
   * Forget any half-finished exit (a completion user space owes, a TD halted inside its HLT call):
   * for a vCPU whose registers are being reset to start a program again.
   */
  resetRunState(): void {
    this.completion = null;
    this.lastExit = null;
    this.tdHalted = false;
    this.mapGpa = null;
  }

  /** KVM_GET_REGS: refused for a TD unless it has the DEBUG attribute (its state is in TD-private memory). */
  getRegs(): Record<string, string> {
    const td = this.vm.td;
    if (td && !td.debug) fail('EINVAL', 'the TD\'s register state is protected: KVM_GET_REGS needs the DEBUG attribute');
    if (!this.cpu) fail('EINVAL', 'no guest program is loaded on this vCPU');
    const out: Record<string, string> = {};
    for (const r of ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as Reg64[])
      out[r] = hex(this.cpu.get(r));
    out.rip = hex(this.cpu.rip);
    const f = this.cpu.flags;
    if (f) out.rflags = hex(0x2 | (f.cf ? 1 : 0) | (f.zf ? 0x40 : 0) | (f.sf ? 0x80 : 0) | (f.of ? 0x800 : 0));
    return out;
  }
}
