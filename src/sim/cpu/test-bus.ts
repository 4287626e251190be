/**
 * A tiny CpuBus for unit tests: flat guest memory in one Uint8Array, port I/O recorded in an array,
 * fixed CPUID and MSR values, HLT that exits. Tests can arm faults per page and access kind (a VcpuExit
 * or a GuestException, once or every time) to check exit and exception semantics. Reusable by other
 * modules' tests (guest kernel, vCPU loop).
 */
import { type Access, type CpuBus, type CpuRegs, GuestException, VcpuExit } from './bus';
import { type AssembleOptions, assemble } from '../guest/asm/assembler';
import type { Program } from '../abi/program';
import { Cpu } from './cpu';
import type { GuestKernel } from './bus';

export interface PortAccess {
  port: number;
  size: 1 | 2 | 4;
  dirIn: boolean;
  value: number;
}

export interface ArmedFault {
  /** First byte of the page (any address in it works). */
  gpa: number;
  access: Access;
  /** What to throw. */
  error: () => unknown;
  /** Remove the fault after it fired once (default true). */
  once?: boolean;
}

export class TestBus implements CpuBus {
  readonly mem: Uint8Array;
  tlbGeneration = 0;
  readonly ports: PortAccess[] = [];
  /** Values IN returns, per port (default 0xff..). */
  readonly portValues = new Map<number, number>();
  readonly msrs = new Map<number, bigint>([[0x10, 0x1122334455667788n]]);
  readonly wrmsrs: [number, bigint][] = [];
  readonly cpuidCalls: [number, number][] = [];
  readonly tdcalls: bigint[] = [];
  readonly vmcalls: bigint[] = [];
  /** Number of page() calls per access kind (to check TLB caching). */
  readonly pageCalls: Record<Access, number> = { read: 0, write: 0, fetch: 0 };
  hlts = 0;
  /** When false, hlt() returns instead of throwing VcpuExit('hlt'). */
  hltExits = true;
  faults: ArmedFault[] = [];
  /** Optional TDCALL behaviour (default: rax = 0, r11 = leaf + 0x100 as a recognisable result). */
  onTdcall: ((regs: CpuRegs) => void) | null = null;

  /** MMIO accesses seen (after page() threw MmioAccess for an armed address). */
  readonly mmios: { gpa: number; size: number; isWrite: boolean; value: number }[] = [];
  /** The value an MMIO read returns. */
  mmioValue = 0xffffffff;

  constructor(size = 1 << 20) {
    this.mem = new Uint8Array(size);
  }

  mmio(gpa: number, size: number, isWrite: boolean, value: number): number {
    this.mmios.push({ gpa, size, isWrite, value });
    return isWrite ? 0 : this.mmioValue & (size >= 4 ? 0xffffffff : 2 ** (8 * size) - 1);
  }

  load(program: Program): void {
    this.mem.set(program.image, program.origin);
  }

  /** Arms a fault on the page containing gpa for one access kind. */
  arm(gpa: number, access: Access, error: () => unknown, once = true): void {
    this.faults.push({ gpa, access, error, once });
  }

  page(gpa: number, access: Access): Uint8Array {
    this.pageCalls[access]++;
    const pfn = Math.floor(gpa / 4096);
    const k = this.faults.findIndex((f) => Math.floor(f.gpa / 4096) === pfn && f.access === access);
    if (k >= 0) {
      const f = this.faults[k];
      if (f.once !== false) this.faults.splice(k, 1);
      throw f.error();
    }
    if ((pfn + 1) * 4096 > this.mem.length) {
      throw new GuestException('PF', `no memory at 0x${gpa.toString(16)}`);
    }
    return this.mem.subarray(pfn * 4096, pfn * 4096 + 4096);
  }

  /** Changes a translation: the CPU must drop its cached pages. */
  zap(): void {
    this.tlbGeneration++;
  }

  io(port: number, size: 1 | 2 | 4, dirIn: boolean, value: number): number {
    const v = dirIn ? (this.portValues.get(port) ?? 0xffffffff) & (size === 4 ? 0xffffffff : (1 << (size * 8)) - 1) : 0;
    this.ports.push({ port, size, dirIn, value: dirIn ? v >>> 0 : value });
    return v >>> 0;
  }

  rdmsr(index: number): bigint {
    const v = this.msrs.get(index);
    if (v === undefined) throw new GuestException('GP', `rdmsr of unknown MSR 0x${index.toString(16)}`);
    return v;
  }

  wrmsr(index: number, value: bigint): void {
    this.wrmsrs.push([index, value]);
    this.msrs.set(index, value);
  }

  cpuid(leaf: number, subleaf: number): [number, number, number, number] {
    this.cpuidCalls.push([leaf, subleaf]);
    if (leaf === 0) return [0x21, 0x756e6547, 0x6c65746e, 0x49656e69]; // "GenuineIntel"
    return [leaf + 1, subleaf + 2, 0xc0ffee, 0xdeadbeef];
  }

  hlt(): void {
    this.hlts++;
    if (this.hltExits) throw new VcpuExit('hlt');
  }

  tdcall(regs: CpuRegs): void {
    this.tdcalls.push(regs.get('rax'));
    if (this.onTdcall) {
      this.onTdcall(regs);
      return;
    }
    regs.set('r11', regs.get('rax') + 0x100n);
    regs.set('rax', 0n);
  }

  vmcall(regs: CpuRegs): void {
    this.vmcalls.push(regs.get('rax'));
    regs.set('rax', regs.get('rbx') + regs.get('rcx'));
  }
}

export interface TestMachine {
  program: Program;
  bus: TestBus;
  cpu: Cpu;
}

/**
 * Assembles `source` at origin 0x1000 (unless given), loads it into a 1 MiB TestBus, and makes a Cpu
 * with rsp = 0x80000.
 */
export function testMachine(
  source: string,
  options: AssembleOptions & { kernel?: GuestKernel | null; memSize?: number; fastPaths?: boolean } = {},
): TestMachine {
  const program = assemble(source, { origin: 0x1000, ...options });
  const bus = new TestBus(options.memSize);
  bus.load(program);
  const cpu = new Cpu(program, bus, options.kernel ?? null, { fastPaths: options.fastPaths });
  cpu.set('rsp', 0x80000n);
  return { program, bus, cpu };
}

/** Runs until the guest halts (the hlt exit) or the budget runs out; returns the instructions retired. */
export function runToHlt(m: TestMachine, budget = 1_000_000): number {
  const start = m.cpu.instructionsRetired;
  try {
    m.cpu.run(budget);
  } catch (e) {
    if (!(e instanceof VcpuExit) || e.why !== 'hlt') throw e;
  }
  return m.cpu.instructionsRetired - start;
}
