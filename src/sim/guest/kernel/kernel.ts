import { hex } from '../../core/units';
import type { TraceSink } from '../../core/trace';
import { GuestPanic, type CpuBus, type CpuRegs, type DecodedForKernel, type GuestException, type GuestKernel } from '../../cpu/bus';
import {
  EXIT_REASON_CPUID, EXIT_REASON_EPT_VIOLATION, EXIT_REASON_HLT, EXIT_REASON_IO_INSTRUCTION, EXIT_REASON_MSR_READ,
  EXIT_REASON_MSR_WRITE, TDG_MEM_PAGE_ACCEPT, TDG_VP_INFO, TDG_VP_VMCALL, TDVMCALL_MAP_GPA, TDVMCALL_STATUS_RETRY,
  TDX_PAGE_ALREADY_ACCEPTED, isSharedGpa,
} from '../../abi/tdx';
import { BOOT_SERVICES, type BootInfo, type FirmwareInfo, GuestBoot, type Platform } from './boot';
import { OpRegs } from './boot-exec';
import { TIMED_SERVICES, TimedServices } from './timed';

export type { Platform };

const PAGE = 4096;

/** The services a guest program can call by name (the assembler checks `call` targets against them). */
export const KERNEL_SERVICES: ReadonlySet<string> = new Set([
  'set_memory_decrypted', 'set_memory_encrypted', 'accept_memory', 'tdx_get_info', ...BOOT_SERVICES, ...TIMED_SERVICES,
]);

const KVM_HC_MAP_GPA_RANGE = 12;
const KVM_MAP_GPA_RANGE_ENCRYPTED = 1 << 4;

/** A service call in progress; kept across exits so the call continues where it stopped. */
interface Op {
  key: string;
  phase: 'map' | 'accept';
  start: number;
  end: number;
  cursor: number;
  retries: number;
}

/**
 * The guest kernel a program runs on: a few Linux services a program can call by name, and the
 * exception handlers. It follows what Linux does (arch/x86/coco/tdx/tdx.c, arch/x86/mm/pat/set_memory.c,
 * mm/mm_init.c accept_memory) so the trace shows the same calls in the same order.
 */
export class LinuxGuestKernel implements GuestKernel {
  /** The service table is the kernel's code, not its state. */
  static readonly stateSkip: readonly string[] = ['services'];
  readonly services: ReadonlySet<string> = KERNEL_SERVICES;
  private op: Op | null = null;
  private sharedMask = 0;
  /** The firmware and kernel boot services (boot.ts). */
  private readonly boot: GuestBoot;

  constructor(
    readonly platform: Platform,
    private readonly trace: TraceSink,
    private readonly ctx: { vm: string; vcpu: number },
  ) {
    this.boot = new GuestBoot(trace, ctx, platform);
    this.timed = new TimedServices(platform, (name, args, text, gfns) => this.log(name, args, text, gfns), {
      accept: (start, size, bus) => this.acceptMemory(start, size, bus),
      tdvmcall: (bus, sub, r12, r13) => this.tdvmcall(bus, sub, r12, r13),
    });
  }

  /** sleep_ns and dirty_memory (timed.ts): what the workload has done, for the report and tests. */
  readonly timed: TimedServices;

  /** boot_params as the firmware left them for Linux (acpi_rsdp_addr: where the ACPI tables are). */
  get bootParams(): { readonly acpi_rsdp_addr: number } {
    return this.boot.bootParams;
  }

  /** What firmware_boot did (null before it ran). */
  get firmwareInfo(): FirmwareInfo | null {
    return this.boot.firmware;
  }

  /** What linux_boot found: devices, ACPI tables, failures, console lines (null before it ran). */
  get bootInfo(): BootInfo | null {
    return this.boot.info;
  }

  private log(name: string, args: Record<string, string | number | boolean>, text: string, gfns?: readonly [number, number]): void {
    this.trace.emit('guest', name, args, text, { ...this.ctx, gfns });
  }

  callService(name: string, regs: CpuRegs, bus: CpuBus): void {
    const a0 = Number(BigInt.asUintN(52, regs.get('rdi')));
    const a1 = Number(BigInt.asUintN(52, regs.get('rsi')));
    let ret = 0n;
    switch (name) {
      case 'set_memory_decrypted':
        ret = this.setMemory(false, a0, a1, bus);
        break;
      case 'set_memory_encrypted':
        ret = this.setMemory(true, a0, a1, bus);
        break;
      case 'accept_memory':
        ret = this.acceptMemory(a0, a1, bus);
        break;
      case 'tdx_get_info':
        ret = BigInt(this.tdxInfo(bus));
        break;
      case 'firmware_boot':
      case 'linux_boot':
        ret = this.boot.call(name, regs, bus);
        break;
      case 'sleep_ns':
      case 'dirty_memory':
        ret = this.timed.call(name, regs, bus);
        break;
      default:
        throw new Error(`unknown guest kernel service ${name}`);
    }
    regs.set('rax', ret);
  }

  /** tdx_parse_tdinfo(): TDG.VP.INFO gives the GPA width, hence the shared bit. Returns the shared mask. */
  private tdxInfo(bus: CpuBus): number {
    if (this.sharedMask) return this.sharedMask;
    const r = new OpRegs();
    r.set('rax', BigInt(TDG_VP_INFO));
    bus.tdcall(r);
    const gpaw = Number(r.get('rcx') & 0x3fn);
    this.sharedMask = 2 ** (gpaw - 1);
    return this.sharedMask;
  }

  /**
   * set_memory_decrypted(addr, numpages) / set_memory_encrypted(addr, numpages). Returns 0 or -EIO
   * (as an unsigned 64-bit value). On a machine without memory encryption both do nothing.
   */
  private setMemory(enc: boolean, addr: number, numpages: number, bus: CpuBus): bigint {
    const name = enc ? 'set_memory_encrypted' : 'set_memory_decrypted';
    if (addr % PAGE !== 0 || numpages <= 0) {
      this.log(name, { addr: hex(addr), numpages }, `${name}(${hex(addr)}, ${numpages}) is refused: the address must be page aligned and the count positive.`);
      return BigInt.asUintN(64, -22n);
    }
    const key = `${name}:${addr}:${numpages}`;
    if (!this.op || this.op.key !== key) {
      if (this.platform === 'none') {
        this.log(name, { addr: hex(addr), numpages }, `${name}: this guest has no memory encryption, so there is nothing to do.`);
        return 0n;
      }
      this.op = { key, phase: 'map', start: addr, end: addr + numpages * PAGE, cursor: addr, retries: 0 };
      this.log(name, { addr: hex(addr), numpages },
        enc ? `The guest kernel makes ${numpages} page(s) at ${hex(addr)} private again: it asks the host to map them private, then accepts each page.`
            : `The guest kernel shares ${numpages} page(s) at ${hex(addr)} with the host: it asks the host to map them shared (MapGPA).`,
        [addr / PAGE, numpages]);
    }
    const op = this.op;
    if (op.phase === 'map') {
      if (!(this.platform === 'tdx' ? this.tdxMapGpa(op, enc, bus) : this.kvmMapGpaRange(op, enc, bus))) {
        this.log(name, { addr: hex(addr), status: 'EIO' }, `${name} failed: the host refused the conversion.`);
        this.op = null;
        return BigInt.asUintN(64, -5n);
      }
      op.phase = 'accept';
      op.cursor = op.start;
    }
    if (enc && this.platform === 'tdx') {
      for (; op.cursor < op.end; op.cursor += PAGE) if (!this.acceptPage(op.cursor, bus)) return BigInt.asUintN(64, -5n);
    }
    this.op = null;
    return 0n;
  }

  /** tdx_map_gpa(): TDG.VP.VMCALL<MapGPA> over the whole range, resuming from R11 on RETRY. */
  private tdxMapGpa(op: Op, enc: boolean, bus: CpuBus): boolean {
    const shared = enc ? 0 : this.tdxInfo(bus);
    while (op.retries < 3) {
      const r = new OpRegs();
      r.set('rax', BigInt(TDG_VP_VMCALL));
      r.set('r10', 0n);
      r.set('r11', BigInt(TDVMCALL_MAP_GPA));
      r.set('r12', BigInt(op.cursor + shared));
      r.set('r13', BigInt(op.end - op.cursor));
      this.log('TDG.VP.VMCALL<MapGPA>', { gpa: hex(op.cursor + shared), size: hex(op.end - op.cursor) },
        `The guest calls TDG.VP.VMCALL<MapGPA> for [${hex(op.cursor)}, ${hex(op.end)})${enc ? '' : ' with the shared bit set'}.`);
      bus.tdcall(r);
      const status = r.get('r10');
      if (status !== TDVMCALL_STATUS_RETRY) return status === 0n;
      const resume = Number(r.get('r11')) - shared;
      if (resume < op.cursor || resume >= op.end) return false;
      if (resume === op.cursor) op.retries++;
      else {
        op.cursor = resume;
        op.retries = 0;
      }
      this.log('TDG.VP.VMCALL<MapGPA>', { status: 'TDVMCALL_STATUS_RETRY', resume: hex(resume) }, `The host answered RETRY; the guest calls again from ${hex(resume)}.`);
    }
    return false;
  }

  /** The KVM paravirtual hypercall KVM_HC_MAP_GPA_RANGE (software-protected VMs and SNP use it). */
  private kvmMapGpaRange(op: Op, enc: boolean, bus: CpuBus): boolean {
    const r = new OpRegs();
    r.set('rax', BigInt(KVM_HC_MAP_GPA_RANGE));
    r.set('rbx', BigInt(op.start));
    r.set('rcx', BigInt((op.end - op.start) / PAGE));
    r.set('rdx', BigInt(enc ? KVM_MAP_GPA_RANGE_ENCRYPTED : 0));
    this.log('KVM_HC_MAP_GPA_RANGE', { gpa: hex(op.start), npages: (op.end - op.start) / PAGE, enc },
      `The guest issues the KVM_HC_MAP_GPA_RANGE hypercall (VMCALL) to make the range ${enc ? 'private' : 'shared'}.`);
    bus.vmcall(r);
    return r.get('rax') === 0n;
  }

  /** accept_memory(start, size): TDG.MEM.PAGE.ACCEPT for each 4 KiB page; "already accepted" is fine. */
  private acceptMemory(start: number, size: number, bus: CpuBus): bigint {
    if (this.platform !== 'tdx') {
      this.log('accept_memory', { start: hex(start), size: hex(size) }, 'accept_memory: only a TD has memory to accept; nothing to do.');
      return 0n;
    }
    const key = `accept:${start}:${size}`;
    if (!this.op || this.op.key !== key) {
      const s = Math.floor(start / PAGE) * PAGE;
      this.op = { key, phase: 'accept', start: s, end: Math.ceil((start + size) / PAGE) * PAGE, cursor: s, retries: 0 };
      this.log('accept_memory', { start: hex(start), size: hex(size) }, `The guest kernel accepts [${hex(s)}, ${hex(this.op.end)}) before using it.`,
        [s / PAGE, (this.op.end - s) / PAGE]);
    }
    const op = this.op;
    for (; op.cursor < op.end; op.cursor += PAGE) if (!this.acceptPage(op.cursor, bus)) return BigInt.asUintN(64, -5n);
    this.op = null;
    return 0n;
  }

  private acceptPage(gpa: number, bus: CpuBus): boolean {
    const r = new OpRegs();
    r.set('rax', BigInt(TDG_MEM_PAGE_ACCEPT));
    r.set('rcx', BigInt(gpa));
    bus.tdcall(r);
    const st = r.get('rax');
    if (st === 0n || st === TDX_PAGE_ALREADY_ACCEPTED) return true;
    this.log('TDG.MEM.PAGE.ACCEPT', { gpa: hex(gpa), status: hex(st) }, `Accepting ${hex(gpa)} failed with status ${hex(st)}.`);
    this.op = null;
    return false;
  }

  handleException(exc: GuestException, regs: CpuRegs, bus: CpuBus, insn: DecodedForKernel): boolean {
    switch (exc.vector) {
      case 'VE':
        return this.handleVe(exc, regs, bus, insn);
      case 'GP':
        // rdmsr/wrmsr in Linux carry an exception-table fixup (ex_handler_msr): warn, read 0, go on.
        if (insn.mnemonic === 'rdmsr' || insn.mnemonic === 'wrmsr') {
          const msr = Number(regs.get('rcx') & 0xffffffffn);
          this.log('unchecked MSR access error', { msr: hex(msr), op: insn.mnemonic },
            `unchecked MSR access error: ${insn.mnemonic.toUpperCase()} ${insn.mnemonic === 'rdmsr' ? 'from' : 'to'} ${hex(msr)} (the guest kernel fixes up the #GP and goes on${insn.mnemonic === 'rdmsr' ? ' with 0' : ''}).`);
          if (insn.mnemonic === 'rdmsr') {
            regs.set('rax', 0n);
            regs.set('rdx', 0n);
          }
          regs.rip += insn.length;
          return true;
        }
        return this.panic(`general protection fault: ${exc.message}`);
      case 'MC':
        return this.panic(`Machine check: ${exc.message}`);
      default:
        return this.panic(`#${exc.vector}: ${exc.message}`);
    }
  }

  private panic(msg: string): never {
    this.log('Kernel panic', { message: msg }, `Kernel panic - not syncing: ${msg}`);
    throw new GuestPanic(msg);
  }

  private tdvmcall(bus: CpuBus, sub: number, r12: bigint, r13 = 0n, r14 = 0n, r15 = 0n): OpRegs {
    const r = new OpRegs();
    r.set('rax', BigInt(TDG_VP_VMCALL));
    r.set('r10', 0n);
    r.set('r11', BigInt(sub));
    r.set('r12', r12);
    r.set('r13', r13);
    r.set('r14', r14);
    r.set('r15', r15);
    bus.tdcall(r);
    return r;
  }

  /** virt_exception_kernel(): turn the #VE into the TDVMCALL that asks the VMM to do the work. */
  private handleVe(exc: GuestException, regs: CpuRegs, bus: CpuBus, insn: DecodedForKernel): boolean {
    const ve = exc.ve;
    if (!ve) return this.panic('#VE without information');
    switch (ve.exitReason) {
      case EXIT_REASON_HLT: {
        // handle_halt(): TDG.VP.VMCALL<Instruction.HLT>; the vCPU blocks (or exits) inside the call.
        this.tdvmcall(bus, EXIT_REASON_HLT, 0n);
        regs.rip += insn.length;
        return true;
      }
      case EXIT_REASON_IO_INSTRUCTION: {
        const size = ve.size ?? insn.size;
        const r = this.tdvmcall(bus, EXIT_REASON_IO_INSTRUCTION, BigInt(size), ve.dirIn ? 0n : 1n, BigInt(ve.port ?? 0), ve.dirIn ? 0n : insn.value ?? 0n);
        if (r.get('r10') !== 0n) return this.panic(`port I/O to ${hex(ve.port ?? 0)} failed`);
        if (ve.dirIn) insn.writeResult?.(r.get('r11') & ((1n << BigInt(size * 8)) - 1n));
        regs.rip += insn.length;
        return true;
      }
      case EXIT_REASON_CPUID: {
        const r = this.tdvmcall(bus, EXIT_REASON_CPUID, BigInt(ve.leaf ?? 0), BigInt(ve.subleaf ?? 0));
        regs.set('rax', r.get('r12') & 0xffffffffn);
        regs.set('rbx', r.get('r13') & 0xffffffffn);
        regs.set('rcx', r.get('r14') & 0xffffffffn);
        regs.set('rdx', r.get('r15') & 0xffffffffn);
        regs.rip += insn.length;
        return true;
      }
      case EXIT_REASON_MSR_READ:
      case EXIT_REASON_MSR_WRITE: {
        const write = ve.exitReason === EXIT_REASON_MSR_WRITE;
        const value = ((regs.get('rdx') & 0xffffffffn) << 32n) | (regs.get('rax') & 0xffffffffn);
        const r = this.tdvmcall(bus, ve.exitReason, BigInt(ve.msr ?? 0), write ? value : 0n);
        if (r.get('r10') !== 0n) return this.handleException({ vector: 'GP', message: `MSR ${hex(ve.msr ?? 0)} refused by the host` } as GuestException, regs, bus, insn);
        if (!write) {
          const v = r.get('r11');
          regs.set('rax', v & 0xffffffffn);
          regs.set('rdx', v >> 32n);
        }
        regs.rip += insn.length;
        return true;
      }
      case EXIT_REASON_EPT_VIOLATION: {
        const gpa = ve.gpa ?? 0;
        const shared = this.tdxInfo(bus);
        if (!isSharedGpa(gpa, shared)) return this.panic('Unexpected EPT-violation on private memory.');
        // handle_mmio(): decode the instruction and ask the VMM (#VE.RequestMMIO).
        const write = insn.writeResult === undefined;
        const r = this.tdvmcall(bus, EXIT_REASON_EPT_VIOLATION, BigInt(insn.size), write ? 1n : 0n, BigInt(gpa), write ? insn.value ?? 0n : 0n);
        if (r.get('r10') !== 0n) return this.panic(`MMIO at ${hex(gpa)} refused`);
        if (!write) insn.writeResult!(r.get('r11'));
        regs.rip += insn.length;
        return true;
      }
      default:
        return this.panic(`Unexpected #VE: ${ve.exitReason}`);
    }
  }
}
