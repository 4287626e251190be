/**
 * How the booting guest reaches the hardware, per VM type. Every method is a generator of bus
 * operations (see boot-exec.ts), so a boot interrupted by a VM exit resumes at the same access.
 *
 * In a TD, port I/O and MMIO are explicit TDG.VP.VMCALLs, as TDVF's IoLib (MdePkg
 * BaseIoLibIntrinsic/IoLibTdx.c) and Linux's early TDX code (arch/x86/boot/compressed/tdx.c,
 * arch/x86/coco/tdx/tdx.c) issue them: <Instruction.IO> (30: r12 size, r13 direction 0 read /
 * 1 write, r14 port, r15 value) and <#VE.RequestMMIO> (48: r12 size, r13 direction, r14 GPA with the
 * shared bit, r15 value); the result is in r11, the status in r10. MSRs and CPUID go to the CPU first
 * and are forwarded by the #VE path only when the TDX module raises a #VE.
 */
import { hex } from '../../core/units';
import type { ArgValue, TraceSink } from '../../core/trace';
import { type CpuRegs, GuestException } from '../../cpu/bus';
import {
  EXIT_REASON_CPUID, EXIT_REASON_EPT_VIOLATION, EXIT_REASON_IO_INSTRUCTION, EXIT_REASON_MSR_READ, EXIT_REASON_MSR_WRITE,
  TDG_VP_VMCALL,
} from '../../abi/tdx';
import type { BootGen } from './boot-exec';

export const COM1 = 0x3f8;

/** A failed access the boot could not work around: it ends the service with a failure line. */
export class BootFault extends Error {}

const mask = (size: number): number => (size === 4 ? 0xffffffff : (1 << (size * 8)) - 1);

/** The booting guest's view of the machine, and its log. */
export class BootHw {
  /** A TD (CPUID leaf 0x21 says "IntelTDX    "): I/O and MMIO go through TDG.VP.VMCALL. */
  td = false;
  /** The GPA shared bit (from TDG.VP.INFO); 0 outside a TD. */
  sharedMask = 0;
  /** The guest program's rip at the `call` (for Linux's "at rIP:" in warnings). */
  rip = 0;
  readonly log: string[] = [];
  readonly failures: string[] = [];

  constructor(
    private readonly trace: TraceSink,
    private readonly ctx: { vm: string; vcpu: number },
    /** The service running ('firmware_boot', 'linux_boot'): Linux's warnings name it where they name a function. */
    readonly service: string,
  ) {}

  emit(name: string, args: Record<string, ArgValue>, text: string, gfns?: readonly [number, number]): void {
    this.trace.emit('guest', name, args, text, { ...this.ctx, gfns });
  }

  /**
   * printk(): one trace event per line, then the line goes out on the serial console as
   * serial8250_console_write() sends it (uart_console_write() turns "\n" into "\r\n"). The
   * per-character port writes are muted; the simulated UART is always ready, so the LSR poll
   * before each character (wait_for_xmitr()) is left out.
   */
  *printk(line: string): BootGen<void> {
    this.log.push(line);
    this.emit('printk', { line }, line);
    const text = `${line}\r\n`;
    for (let i = 0; i < text.length; i++) yield* this.pio(COM1, 1, false, text.charCodeAt(i), true);
  }

  /** A failure: logged as the kernel logs it, and listed at the end of the boot. */
  *fail(what: string, line: string): BootGen<void> {
    this.failures.push(`${what}: ${line}`);
    yield* this.printk(line);
  }

  // ---- port I/O -------------------------------------------------------------------------------

  *pio(port: number, size: 1 | 2 | 4, dirIn: boolean, value = 0, quiet = false): BootGen<number> {
    if (this.td) {
      const r = yield* this.tdvmcall(EXIT_REASON_IO_INSTRUCTION, BigInt(size), dirIn ? 0n : 1n, BigInt(port), dirIn ? 0n : BigInt(value >>> 0), quiet);
      // tdx_io_in(): a failed call reads as all ones.
      if (r.get('r10') !== 0n) return dirIn ? mask(size) >>> 0 : 0;
      return dirIn ? Number(r.get('r11') & BigInt(mask(size) >>> 0)) : 0;
    }
    const v = yield { kind: 'io', port, size, dirIn, value, quiet };
    if (v instanceof GuestException) {
      this.emit(`#${v.vector}`, { port: hex(port) }, `Port I/O to ${hex(port)} raised #${v.vector} (${v.message}); the access reads as all ones.`);
      return dirIn ? mask(size) >>> 0 : 0;
    }
    return (v as number) >>> 0;
  }

  *inb(port: number): BootGen<number> {
    return yield* this.pio(port, 1, true);
  }
  *outb(port: number, value: number): BootGen<void> {
    yield* this.pio(port, 1, false, value & 0xff);
  }
  *inl(port: number): BootGen<number> {
    return yield* this.pio(port, 4, true);
  }
  *outw(port: number, value: number): BootGen<void> {
    yield* this.pio(port, 2, false, value & 0xffff);
  }
  *outl(port: number, value: number): BootGen<void> {
    yield* this.pio(port, 4, false, value >>> 0);
  }

  // ---- MMIO -----------------------------------------------------------------------------------

  /** An MMIO access; in a TD always to the shared alias (Linux's ioremap() maps MMIO shared in a TD). */
  *mmio(gpa: number, size: 1 | 2 | 4, isWrite: boolean, value = 0): BootGen<number> {
    if (this.td) {
      const r = yield* this.tdvmcall(EXIT_REASON_EPT_VIOLATION, BigInt(size), isWrite ? 1n : 0n, BigInt(gpa + this.sharedMask), isWrite ? BigInt(value >>> 0) : 0n);
      if (r.get('r10') !== 0n) {
        this.emit('TDG.VP.VMCALL<#VE.RequestMMIO>', { gpa: hex(gpa), status: hex(r.get('r10')) }, `The VMM refused the MMIO request at ${hex(gpa)}; it reads as all ones.`);
        return isWrite ? 0 : mask(size) >>> 0;
      }
      return isWrite ? 0 : Number(r.get('r11') & BigInt(mask(size) >>> 0));
    }
    const v = yield { kind: 'mmio', gpa, size, isWrite, value };
    if (v instanceof GuestException) {
      this.emit(`#${v.vector}`, { gpa: hex(gpa) }, `The MMIO access to ${hex(gpa)} raised #${v.vector} (${v.message}); it reads as all ones.`);
      return isWrite ? 0 : mask(size) >>> 0;
    }
    return (v as number) >>> 0;
  }

  *readl(gpa: number): BootGen<number> {
    return yield* this.mmio(gpa, 4, false);
  }
  *writel(gpa: number, value: number): BootGen<void> {
    yield* this.mmio(gpa, 4, true, value);
  }

  // ---- memory ---------------------------------------------------------------------------------

  *read(gpa: number, length: number): BootGen<Uint8Array> {
    const v = yield { kind: 'read', gpa, length };
    if (v instanceof GuestException) throw new BootFault(`reading ${length} bytes at ${hex(gpa)} raised #${v.vector}: ${v.message}`);
    return v as Uint8Array;
  }

  *write(gpa: number, bytes: Uint8Array): BootGen<void> {
    const v = yield { kind: 'write', gpa, bytes };
    if (v instanceof GuestException) throw new BootFault(`writing ${bytes.length} bytes at ${hex(gpa)} raised #${v.vector}: ${v.message}`);
  }

  // ---- TDCALL ---------------------------------------------------------------------------------

  *tdcall(regs: Partial<Record<'rax' | 'rcx' | 'rdx' | 'r10' | 'r11' | 'r12' | 'r13' | 'r14' | 'r15', bigint>>, quiet = false): BootGen<CpuRegs> {
    const v = yield { kind: 'tdcall', regs, quiet };
    if (v instanceof GuestException) throw new BootFault(`TDCALL leaf ${regs.rax ?? 0n} raised #${v.vector}: ${v.message}`);
    return v as CpuRegs;
  }

  /** TDG.VP.VMCALL with the standard ABI (r10 = 0, r11 = sub-function, r12..r15 arguments). */
  *tdvmcall(sub: number, r12: bigint, r13 = 0n, r14 = 0n, r15 = 0n, quiet = false): BootGen<CpuRegs> {
    return yield* this.tdcall({ rax: BigInt(TDG_VP_VMCALL), r10: 0n, r11: BigInt(sub), r12, r13, r14, r15 }, quiet);
  }

  // ---- MSR and CPUID --------------------------------------------------------------------------

  /**
   * rdmsrl(): the CPU answers, or raises #VE (the #VE handler forwards it with
   * TDG.VP.VMCALL<Instruction.RDMSR>) or #GP (the exception-table fixup ex_handler_msr() warns
   * "unchecked MSR access error" and reads 0). Returns null when the read failed.
   */
  *rdmsr(msr: number): BootGen<bigint | null> {
    let v = yield { kind: 'rdmsr', msr };
    if (v instanceof GuestException && v.vector === 'VE') {
      const r = yield* this.tdvmcall(EXIT_REASON_MSR_READ, BigInt(msr));
      v = r.get('r10') === 0n ? r.get('r11') : new GuestException('GP', `the VMM refused RDMSR ${hex(msr)}`);
    }
    if (v instanceof GuestException) {
      yield* this.fail(`RDMSR ${hex(msr)}`, `unchecked MSR access error: RDMSR from ${hex(msr)} at rIP: ${hex(this.rip)} (${this.service})`);
      return null;
    }
    return v as bigint;
  }

  /** wrmsrl(), with the same #VE and #GP handling as rdmsr(). Returns false when the write failed. */
  *wrmsr(msr: number, value: bigint): BootGen<boolean> {
    let v = yield { kind: 'wrmsr', msr, value };
    if (v instanceof GuestException && v.vector === 'VE') {
      const r = yield* this.tdvmcall(EXIT_REASON_MSR_WRITE, BigInt(msr), value);
      v = r.get('r10') === 0n ? undefined : new GuestException('GP', `the VMM refused WRMSR ${hex(msr)}`);
    }
    if (v instanceof GuestException) {
      const hi = (value >> 32n).toString(16).padStart(8, '0');
      const lo = (value & 0xffffffffn).toString(16).padStart(8, '0');
      yield* this.fail(`WRMSR ${hex(msr)}`, `unchecked MSR access error: WRMSR to ${hex(msr)} (tried to write 0x${hi}${lo}) at rIP: ${hex(this.rip)} (${this.service})`);
      return false;
    }
    return true;
  }

  /**
   * CPUID. In a TD the hypervisor leaves raise #VE; Linux's handle_cpuid() forwards only the range
   * reserved for the hypervisor (0x40000000-0x4fffffff) with TDG.VP.VMCALL<Instruction.CPUID> and
   * returns all zeros for anything else.
   */
  *cpuid(leaf: number, subleaf = 0): BootGen<[number, number, number, number]> {
    const v = yield { kind: 'cpuid', leaf, subleaf };
    if (!(v instanceof GuestException)) return v as [number, number, number, number];
    if (v.vector !== 'VE' || leaf < 0x40000000 || leaf > 0x4fffffff) return [0, 0, 0, 0];
    const r = yield* this.tdvmcall(EXIT_REASON_CPUID, BigInt(leaf), BigInt(subleaf));
    if (r.get('r10') !== 0n) return [0, 0, 0, 0];
    return [Number(r.get('r12') & 0xffffffffn), Number(r.get('r13') & 0xffffffffn), Number(r.get('r14') & 0xffffffffn), Number(r.get('r15') & 0xffffffffn)];
  }
}
