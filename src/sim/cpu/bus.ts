/**
 * The guest CPU's view of the machine. The guest runs on top of everything, so it talks to the
 * machine only through this interface, which the KVM vCPU implements (and, for a TD, the TDX module
 * behind it). The guest never imports kvm/ or tdx/.
 *
 * Two ways an access can leave the guest:
 * - throw `VcpuExit`: the instruction cannot complete inside the guest (a VM exit that has to go to
 *   KVM or user space). The CPU must leave rip and every register as they were before the
 *   instruction; when the vCPU is entered again the instruction executes again, and the bus then
 *   answers from the completion user space supplied (as KVM's complete_userspace_io does).
 * - throw `GuestException`: an exception delivered to the guest (#VE in a TD, #GP, #MC). The CPU hands
 *   it to the guest kernel's handler, which may emulate the instruction (the #VE handler turns port
 *   I/O, HLT, CPUID and MSR accesses into TDG.VP.VMCALL).
 */
export type Access = 'read' | 'write' | 'fetch';

export class VcpuExit {
  constructor(readonly why: string) {}
}

/**
 * Thrown by page() when no memory backs the address (an ordinary VM's MMIO). The CPU then performs
 * the access with `bus.mmio()`, which exits to the VMM and, when the vCPU re-enters, returns the
 * value the VMM supplied.
 */
export class MmioAccess {
  constructor(readonly gpa: number) {}
}

export type ExceptionVector = 'VE' | 'GP' | 'MC' | 'UD' | 'PF' | 'DE';

export interface VeInfo {
  /** The VMX exit reason the TDX module reports in the #VE information (CPUID 10, HLT 12, IO 30, ...). */
  exitReason: number;
  exitQualification: number;
  gpa?: number;
  /** For port I/O: port, size in bytes, direction. */
  port?: number;
  size?: number;
  dirIn?: boolean;
  /** For RDMSR/WRMSR. */
  msr?: number;
  /** For CPUID. */
  leaf?: number;
  subleaf?: number;
}

/**
 * Thrown by the guest kernel's panic(): Linux prints "Kernel panic - not syncing" and then spins in
 * panic() for ever (no panic= timeout, no pvpanic device), so nothing more exits to KVM.
 */
export class GuestPanic {
  constructor(readonly message: string) {}
}

export class GuestException {
  constructor(
    readonly vector: ExceptionVector,
    readonly message: string,
    readonly ve?: VeInfo,
  ) {}
}

/** General-purpose registers, in the x86 encoding order. */
export const REG64 = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
] as const;
export type Reg64 = (typeof REG64)[number];

/** What the bus and the guest kernel need from the CPU. */
export interface CpuRegs {
  get(reg: Reg64): bigint;
  set(reg: Reg64, value: bigint): void;
  rip: number;
}

export interface CpuBus {
  /**
   * The 4 KiB page of bytes that backs `gpa` for this kind of access (gpa is the full guest-physical
   * address, including a TD's shared bit). Throws VcpuExit or GuestException when the access cannot
   * be satisfied now. The returned array may be cached by the CPU, per page and per access kind,
   * until `tlbGeneration` changes.
   */
  page(gpa: number, access: Access): Uint8Array;
  /** Bumped whenever any translation the CPU may have cached becomes stale (zap, write-protect). */
  readonly tlbGeneration: number;
  /**
   * Content tokens of the memory behind the bus (host/physmem.ts): per frame, a token that changes
   * with every write, and the counter they come from. A CPU that caches a page for writing gives the
   * frame a new token at each store it makes into it (`token[frame] = ++seq[0]`). Null: not tracked.
   */
  readonly contentTokens?: { readonly token: Uint32Array; readonly seq: Uint32Array } | null;
  /** The frame behind the page the last page(…, 'write') returned (for contentTokens), or -1. */
  readonly lastWriteFrame?: number;

  /** An MMIO access of size bytes (after page() threw MmioAccess). Returns the value read. */
  mmio(gpa: number, size: number, isWrite: boolean, value: number): number;
  /** Port I/O. For IN returns the value read (size 1, 2 or 4 bytes); for OUT returns 0. */
  io(port: number, size: 1 | 2 | 4, dirIn: boolean, value: number): number;
  rdmsr(index: number): bigint;
  wrmsr(index: number, value: bigint): void;
  /** CPUID leaf/subleaf → [eax, ebx, ecx, edx]. */
  cpuid(leaf: number, subleaf: number): [number, number, number, number];
  /** HLT: called after rip has moved past the instruction; normally throws VcpuExit. */
  hlt(): void;
  /** TDCALL: leaf in RAX, arguments and results in registers. */
  tdcall(regs: CpuRegs): void;
  /** VMCALL: hypercall number in RAX (KVM ABI: args in RBX, RCX, RDX, RSI; result in RAX). */
  vmcall(regs: CpuRegs): void;
}

/**
 * The guest kernel the program runs on: services a program can `call` by name (set_memory_decrypted,
 * set_memory_encrypted, accept_memory, ...) and the exception handlers. Both may throw VcpuExit
 * (through the bus); a service must then be able to continue where it stopped when called again.
 */
export interface GuestKernel {
  readonly services: ReadonlySet<string>;
  /** Run a service. Arguments follow the System V ABI (rdi, rsi, rdx, ...); the result goes in rax. */
  callService(name: string, regs: CpuRegs, bus: CpuBus): void;
  /**
   * Handle an exception raised by the instruction at regs.rip (length insnLength). Returns true when
   * the handler emulated the instruction (it has set registers and advanced rip), false when the
   * guest cannot continue (the CPU then reports a fatal guest error).
   */
  handleException(exc: GuestException, regs: CpuRegs, bus: CpuBus, insn: DecodedForKernel): boolean;
}

/** What the #VE handler needs to emulate the instruction that raised the exception. */
export interface DecodedForKernel {
  mnemonic: string;
  length: number;
  /** For IN/OUT: size in bytes. For memory accesses: the access size. */
  size: number;
  /** For OUT and MMIO writes: the value being written. */
  value?: bigint;
  /** Where an IN or an MMIO read must put its result. */
  writeResult?: (v: bigint) => void;
}
