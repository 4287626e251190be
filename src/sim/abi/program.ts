/**
 * The assembled program: the shapes the assembler (guest software) produces and the CPU interpreter
 * (hardware) executes — the instruction set both sides share, so it lives in abi/ below them. The CPU
 * runs from the decoded `Insn` table (keyed by address), never by decoding the image bytes, so the
 * operand fields below are pre-resolved for a fast interpreter: registers as numbers, displacements and
 * immediates as unsigned 32-bit halves (and as bigint for the slow paths and the UI).
 */

/** Operand kinds. Numbers, not strings, so the interpreter's switches stay monomorphic and cheap. */
export const OPND_REG = 0;
export const OPND_MEM = 1;
export const OPND_IMM = 2;

export interface Operand {
  kind: number;
  /** Size in bytes (1, 2, 4, 8); 0 for an immediate whose size comes from the instruction. */
  size: number;
  /** Register number in x86 encoding order (0 = rax ... 15 = r15); -1 when not a register. */
  reg: number;
  /** ah, ch, dh, bh: bits 8..15 of rax, rcx, rdx, rbx. */
  high8: boolean;
  /** Memory: base and index register numbers (-1 if absent), scale 1/2/4/8. */
  base: number;
  index: number;
  scale: number;
  /** Memory displacement modulo 2^64, as unsigned 32-bit halves. */
  dispLo: number;
  dispHi: number;
  /** Immediate modulo 2^64 (already truncated to the operation size), as unsigned 32-bit halves. */
  immLo: number;
  immHi: number;
  /** The immediate or displacement as written (after evaluation). */
  value: bigint;
  /** The operand's source text. */
  text: string;
}

/** Operation codes of the interpreter. */
export const Op = {
  MOV: 1, MOVZX: 2, MOVSX: 3, LEA: 4, XCHG: 5,
  ADD: 10, OR: 11, ADC: 12, SBB: 13, AND: 14, SUB: 15, XOR: 16, CMP: 17, TEST: 18,
  NOT: 20, NEG: 21, INC: 22, DEC: 23, SHL: 24, SHR: 25, SAR: 26, IMUL: 27,
  PUSH: 30, POP: 31, CALL: 32, CALL_SERVICE: 33, RET: 34, JMP: 35, JCC: 36, LOOP: 37,
  NOP: 40, HLT: 41, STOS: 42, MOVS: 43, RDMSR: 44, WRMSR: 45, CPUID: 46, IN: 47, OUT: 48,
  TDCALL: 49, VMCALL: 50, UD2: 51, INT3: 52, SETCC: 53, CMOVCC: 54,
} as const;

/** x86 condition codes (the low nibble of the Jcc opcode). */
export const Cond = {
  O: 0, NO: 1, B: 2, AE: 3, E: 4, NE: 5, BE: 6, A: 7, S: 8, NS: 9, P: 10, NP: 11, L: 12, GE: 13, LE: 14, G: 15,
} as const;

export interface Insn {
  /** Guest address of the first byte. */
  addr: number;
  length: number;
  /** 1-based source line. */
  line: number;
  /** Lower-case mnemonic as written (`jz`, `stosb`, `rep movsb` is mnemonic `movsb` with rep). */
  mnemonic: string;
  /** Source text of the instruction (no label, no comment). */
  text: string;
  op: number;
  /** Operation size in bytes (the destination's size; element size for string ops; port size for IN/OUT). */
  size: number;
  /** Destination (first) and source (second) operands, null when absent. */
  dst: Operand | null;
  src: Operand | null;
  /** A third operand: the immediate of `imul reg, r/m, imm`. */
  aux: Operand | null;
  /** Condition code for jcc/setcc/cmovcc. */
  cond: number;
  /** Direct target of jmp/call/jcc/loop; -1 when indirect or not a branch. */
  target: number;
  /** Kernel service name for `call NAME`. */
  service: string;
  rep: boolean;
}

export interface Program {
  origin: number;
  /** The bytes from origin to the end of the last item. */
  image: Uint8Array;
  /** Address of `_start` or `start` if present, else origin. */
  entry: number;
  /** Labels and equ constants (equ values that fit a double exactly). */
  symbols: Map<string, number>;
  /** The decoded instruction at each instruction address. */
  insnAt: Map<number, Insn>;
  /** All instructions in address order. */
  insns: readonly Insn[];
  /** The 1-based source line of the item (instruction or data) covering addr, or undefined. */
  lineOf(addr: number): number | undefined;
  /** The source, split into lines (index 0 is line 1). */
  sourceLines: readonly string[];
}
