/**
 * The guest CPU: an interpreter for the x86-64 subset the assembler accepts. It runs the assembled
 * program's decoded instruction table, reaching memory, ports, MSRs, CPUID, TDCALL, VMCALL and HLT only
 * through the CpuBus (../bus.ts).
 *
 * Performance: registers are 16 pairs of unsigned 32-bit halves in a Uint32Array (no BigInt on the hot
 * path); flags are kept as 0/1 numbers; memory goes through a software TLB of page arrays (and
 * DataViews) per access kind, flushed when `bus.tlbGeneration` changes, which is checked on entry to
 * run() and after every bus or kernel call (translations change nowhere else while the CPU runs). The
 * program is pre-decoded into closure-threaded code: one closure per instruction, indexed by offset
 * from the origin, with operands bound at construction; runs of register ops, loads and stores ending
 * in a jump become block closures (see block()). The run loop checks the fetch only when rip leaves
 * the code page fetched last, and keeps the instruction count in a local.
 *
 * Exits: every instruction does all its page look-ups and bus calls before it changes a register, a
 * flag, memory or rip, so a VcpuExit thrown by the bus leaves the instruction without effect and it
 * simply executes again on the next run(). Two documented exceptions, as on hardware: `rep stosb/movsb`
 * may stop between iterations with rcx/rdi/rsi updated, and `hlt` retires (rip moves past it) before
 * bus.hlt() is called.
 */
import {
  type CpuBus, type CpuRegs, type DecodedForKernel, type ExceptionVector, type GuestKernel, type Reg64,
  GuestException, GuestPanic,
  MmioAccess, REG64, VcpuExit,
} from './bus';
import * as P from '../abi/program';
import type { Insn, Operand, Program } from '../abi/program';

// Module-local copies of the opcode numbers: imported bindings can compile to getters (ESM interop),
// which would cost a call per `case` on the hot path.
const OPND_REG = P.OPND_REG;
const OPND_MEM = P.OPND_MEM;
const OPND_IMM = P.OPND_IMM;
const OP_ADC = P.Op.ADC;
const OP_ADD = P.Op.ADD;
const OP_AND = P.Op.AND;
const OP_CALL = P.Op.CALL;
const OP_CALL_SERVICE = P.Op.CALL_SERVICE;
const OP_CMOVCC = P.Op.CMOVCC;
const OP_CMP = P.Op.CMP;
const OP_CPUID = P.Op.CPUID;
const OP_DEC = P.Op.DEC;
const OP_HLT = P.Op.HLT;
const OP_IMUL = P.Op.IMUL;
const OP_IN = P.Op.IN;
const OP_INC = P.Op.INC;
const OP_INT3 = P.Op.INT3;
const OP_JCC = P.Op.JCC;
const OP_JMP = P.Op.JMP;
const OP_LEA = P.Op.LEA;
const OP_LOOP = P.Op.LOOP;
const OP_MOV = P.Op.MOV;
const OP_MOVS = P.Op.MOVS;
const OP_MOVSX = P.Op.MOVSX;
const OP_MOVZX = P.Op.MOVZX;
const OP_NEG = P.Op.NEG;
const OP_NOP = P.Op.NOP;
const OP_NOT = P.Op.NOT;
const OP_OR = P.Op.OR;
const OP_OUT = P.Op.OUT;
const OP_POP = P.Op.POP;
const OP_PUSH = P.Op.PUSH;
const OP_RDMSR = P.Op.RDMSR;
const OP_RET = P.Op.RET;
const OP_SAR = P.Op.SAR;
const OP_SBB = P.Op.SBB;
const OP_SETCC = P.Op.SETCC;
const OP_SHL = P.Op.SHL;
const OP_SHR = P.Op.SHR;
const OP_STOS = P.Op.STOS;
const OP_SUB = P.Op.SUB;
const OP_TDCALL = P.Op.TDCALL;
const OP_TEST = P.Op.TEST;
const OP_UD2 = P.Op.UD2;
const OP_VMCALL = P.Op.VMCALL;
const OP_WRMSR = P.Op.WRMSR;
const OP_XCHG = P.Op.XCHG;
const OP_XOR = P.Op.XOR;

/** A fatal guest error: the guest cannot continue (jumped into data, unhandled exception, ...). */
export class GuestFault extends Error {
  constructor(
    message: string,
    /** The rip of the faulting instruction. */
    readonly addr: number,
    readonly vector?: ExceptionVector,
  ) {
    super(message);
    this.name = 'GuestFault';
  }
}

export interface CpuOptions {
  /**
   * Run the hottest instruction forms through specialised closures (default true). The generic
   * interpreter gives the same results; tests run both.
   */
  fastPaths?: boolean;
}

export interface Flags {
  cf: boolean;
  zf: boolean;
  sf: boolean;
  of: boolean;
}

/** Saved architectural state, for undoing a slow-path instruction interrupted by a VcpuExit. */
interface Snapshot {
  r: Uint32Array;
  rip: number;
  cf: number;
  zf: number;
  sf: number;
  of: number;
}

const TWO32 = 4294967296;
const PAGE = 4096;
/** Software TLB entries per access kind (direct-mapped by page number: 8 MiB of reach). */
const TLB_WAYS = 2048;
const READ = 0;
const WRITE = 1;
const FETCH = 2;
const ACCESS = ['read', 'write', 'fetch'] as const;
/** Above this image size the instruction table is a Map rather than a dense array. */
const DENSE_LIMIT = 1 << 22;
/** The most instructions one block closure executes. */
const MAX_BLOCK = 8;
/** The pseudo register (always 0) for a memory operand's missing base or index. */
const NO_REG = 16;

const RAX = 0;
const RCX = 1;
const RDX = 2;
const RBX = 3;
const RSP = 4;
const RSI = 6;
const RDI = 7;

/** A closure-threaded instruction (or block): runs it, returns how many instructions retired. */
type Closure = () => number;

const REG_INDEX = new Map<string, number>(REG64.map((n, i) => [n, i]));

function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** A guest address (52 bits, like MAXPHYADDR) from 64-bit halves. */
function addrOf(lo: number, hi: number): number {
  return (hi & 0xfffff) * TWO32 + lo;
}

export class Cpu implements CpuRegs {
  /**
   * Not state (core/state.ts): the program and what is compiled from it (a restore assembles the
   * program again from `source`), the wiring, and the software TLB, which is dropped on load and
   * refilled as on a flush.
   */
  static readonly stateSkip: readonly string[] = [
    'program', 'bus', 'dense', 'code', 'single', 'codeBase', 'codeEnd', 'tlbTag', 'tlbPage', 'tlbView', 'tlbFilled',
    'tlbFilledN', 'tlbGen', 'fetchLo', 'fetchHi', 'wp0', 'wp1', 'wf0', 'wf1', 'tlbFrame', 'tokens', 'tokenSeq', 'lastFrame',
  ];

  /**
   * Register halves: r[2*i] is the low 32 bits of register i, r[2*i+1] the high 32 bits. r[32] and
   * r[33] are always 0: the "no register" of a memory operand without base or index (so effective
   * address code needs no branches).
   */
  readonly r = new Uint32Array(34);
  rip: number;
  /** Flags as 0/1. */
  cf = 0;
  zf = 0;
  sf = 0;
  of = 0;
  /** Instructions retired. While run() executes, the count lives in a local and is stored on exit. */
  instructionsRetired = 0;
  /**
   * While run() executes: the count at the start of the instruction or block being run (-1 outside
   * run()'s loops), and where that block starts (-1 for a single instruction or a fetch), so that
   * retiredNow() is exact whenever the CPU calls the bus.
   */
  private liveN = -1;
  private liveAt = -1;
  /** The guest kernel's panic message, once it panicked (the CPU then spins in panic()). */
  panicked: string | null = null;
  /** The program's source and origin: what a restored CPU is assembled from (its saved state keeps it). */
  readonly source: { readonly origin: number; readonly lines: readonly string[] };

  private readonly dense: (Insn | undefined)[] | null;
  /**
   * Closure-threaded code, by offset from codeBase (dense programs only): one closure per instruction
   * (specialised, or calling exec()), holes raise "no instruction". Each returns how many instructions
   * it retired: `code` may hold block closures of several (see block()), `single` never does (used
   * near the end of the budget).
   */
  private readonly code: Closure[] | null = null;
  private readonly single: Closure[] | null = null;
  private readonly codeBase: number;
  private readonly codeEnd: number;
  private readonly tlbTag = new Float64Array(3 * TLB_WAYS).fill(-1);
  private readonly tlbPage: (Uint8Array | null)[] = new Array<Uint8Array | null>(3 * TLB_WAYS).fill(null);
  /** A DataView of tlbPage[slot] for the fast load and store paths. */
  private readonly tlbView: (DataView | null)[] = new Array<DataView | null>(3 * TLB_WAYS).fill(null);
  /** The slots filled since the last flush (so a flush need not clear the whole TLB). */
  private readonly tlbFilled = new Int32Array(3 * TLB_WAYS);
  private tlbFilledN = 0;
  private tlbGen = -1;
  /**
   * Instructions at [fetchLo, fetchHi) may run without a fetch look-up: their page was fetched
   * through the TLB, no translation changed since, and none of them crosses into the next page.
   * Reset whenever the TLB is flushed.
   */
  private fetchLo = -1;
  private fetchHi = -1;
  /** hlt retires before bus.hlt(): 1 while that call runs, so an exit out of it counts the hlt. */
  private extraRetired = 0;
  /** High half of the last value read (readOp / readMem / reg reads). */
  private vhi = 0;
  /** High half of the last ALU result. */
  private rhi = 0;
  /** Effective address halves of the last ea() (for lea). */
  private eaLo = 0;
  private eaHi = 0;
  /** Pages prepared by prepWrite() for the next commit(). */
  private wp0: Uint8Array = new Uint8Array(0);
  private wp1: Uint8Array | null = null;
  /** Their frames, for the content tokens. */
  private wf0 = 0;
  private wf1 = 0;
  /**
   * Content tokens (CpuBus.contentTokens): per write-TLB slot the frame behind it, and the token
   * array and counter. Every store gives its frame a new token. A bus without tokens gets a
   * one-entry array that frame 0 of every slot writes into.
   */
  private readonly tlbFrame = new Int32Array(3 * TLB_WAYS);
  private readonly tokens: Uint32Array;
  private readonly tokenSeq: Uint32Array;
  /** The frame behind the page the last page(…, WRITE) returned. */
  private lastFrame = 0;
  /** The address of a pending MMIO store, or -1. */
  private wmmio = -1;
  private woff = 0;

  constructor(
    readonly program: Program,
    readonly bus: CpuBus,
    readonly kernel: GuestKernel | null,
    options: CpuOptions = {},
  ) {
    this.rip = program.entry;
    this.source = { origin: program.origin, lines: program.sourceLines };
    const ct = bus.contentTokens ?? null;
    this.tokens = ct ? ct.token : new Uint32Array(1);
    this.tokenSeq = ct ? ct.seq : new Uint32Array(1);
    this.codeBase = program.origin;
    this.codeEnd = program.origin + program.image.length;
    if (program.image.length <= DENSE_LIMIT) {
      const len = program.image.length;
      this.dense = new Array<Insn | undefined>(len).fill(undefined);
      for (const i of program.insns) this.dense[i.addr - program.origin] = i;
      const fast = options.fastPaths !== false;
      const noInsn = (): number => this.noInsn();
      const single = new Array<Closure>(len).fill(noInsn);
      for (const i of program.insns) {
        const f = fast ? this.specialize(i) : null;
        single[i.addr - program.origin] = f ?? this.generic(i);
      }
      const code = single.slice();
      if (fast) {
        for (const i of program.insns) {
          const b = this.block(i, single);
          if (b) code[i.addr - program.origin] = b;
        }
      }
      this.single = single;
      this.code = code;
    } else {
      this.dense = null;
    }
  }

  private generic(insn: Insn): Closure {
    return () => {
      this.exec(insn);
      return 1;
    };
  }

  private noInsn(): never {
    throw new GuestFault(`no instruction at ${hex(this.rip)}: the guest jumped into data or unassembled memory`, this.rip);
  }

  // ---- CpuRegs (slow paths) -----------------------------------------------------------------------

  get(reg: Reg64): bigint {
    const i = REG_INDEX.get(reg);
    if (i === undefined) throw new Error(`unknown register ${reg}`);
    return (BigInt(this.r[2 * i + 1]) << 32n) | BigInt(this.r[2 * i]);
  }

  set(reg: Reg64, value: bigint): void {
    const i = REG_INDEX.get(reg);
    if (i === undefined) throw new Error(`unknown register ${reg}`);
    const v = BigInt.asUintN(64, value);
    this.r[2 * i] = Number(v & 0xffffffffn);
    this.r[2 * i + 1] = Number(v >> 32n);
  }

  get flags(): Flags {
    return { cf: this.cf === 1, zf: this.zf === 1, sf: this.sf === 1, of: this.of === 1 };
  }

  /** The instruction at rip (undefined if rip is not at an instruction). */
  currentInsn(): Insn | undefined {
    return this.insnAt(this.rip);
  }

  // ---- running --------------------------------------------------------------------------------------

  /** Executes one instruction (or delivers the exception it raised). */
  step(): void {
    this.run(1);
  }

  /**
   * Executes up to `maxInstructions` instructions; returns how many retired. VcpuExit and GuestFault
   * propagate (the count so far is in instructionsRetired).
   */
  run(maxInstructions: number): number {
    // After a kernel panic the CPU spins in panic(): nothing the program does runs any more.
    if (this.panicked !== null) throw new GuestPanic(this.panicked);
    const start = this.instructionsRetired;
    const end = start + maxInstructions;
    // Translations change only inside bus and kernel calls (the CPU checks after each of them) or
    // from outside between run() calls: check once here.
    this.syncTlb();
    let n = start;
    while (n < end) {
      let fetching = false;
      /** Where the block closure being run started (-1 outside the block loop). */
      let blockAt = -1;
      try {
        const code = this.code;
        if (code === null) {
          this.liveAt = -1;
          while (n < end) {
            this.liveN = n;
            fetching = true;
            const insn = this.fetch();
            fetching = false;
            this.exec(insn);
            n++;
          }
        } else {
          const base = this.codeBase;
          // Block closures run up to MAX_BLOCK instructions: only while that many are left.
          const blockEnd = end - MAX_BLOCK;
          while (n <= blockEnd) {
            const rip = this.rip;
            this.liveN = n;
            if (rip < this.fetchLo || rip >= this.fetchHi) {
              this.liveAt = -1;
              fetching = true;
              this.fetchPage(rip);
              fetching = false;
            }
            this.liveAt = blockAt = rip;
            n += code[rip - base]();
          }
          this.liveAt = blockAt = -1;
          const single = this.single!;
          while (n < end) {
            const rip = this.rip;
            this.liveN = n;
            if (rip < this.fetchLo || rip >= this.fetchHi) {
              fetching = true;
              this.fetchPage(rip);
              fetching = false;
            }
            n += single[rip - base]();
          }
        }
      } catch (e) {
        this.liveN = -1;
        n += this.extraRetired;
        this.extraRetired = 0;
        // A block stopped at one of its members: the members before it have retired.
        if (blockAt >= 0 && !fetching) n += this.retiredBefore(blockAt, this.rip);
        this.instructionsRetired = n;
        if (!(e instanceof GuestException)) throw e;
        this.deliver(e, fetching ? null : (this.insnAt(this.rip) ?? null));
        n = this.instructionsRetired;
        this.syncTlb();
      }
    }
    this.liveN = -1;
    this.instructionsRetired = n;
    return n - start;
  }

  /**
   * Instructions retired up to now, exact also while run() executes (a bus call asks, through the
   * clock, for the virtual time inside a KVM_RUN): the count at the current instruction or block,
   * plus the block's members before the one at rip (a member keeps rip at itself until it completes),
   * plus a hlt that retires before bus.hlt().
   */
  retiredNow(): number {
    const n = this.liveN;
    if (n < 0) return this.instructionsRetired + this.extraRetired;
    return n + this.extraRetired + (this.liveAt >= 0 ? this.retiredBefore(this.liveAt, this.rip) : 0);
  }

  /** How many instructions lie in [from, to) (the members of a block before the one at `to`). */
  private retiredBefore(from: number, to: number): number {
    const code = this.code!;
    const off = from - this.codeBase;
    if (code[off] === this.single![off]) return 0;
    let k = 0;
    for (let a = from; a < to; k++) {
      const i = this.insnAt(a);
      if (i === undefined) break;
      a += i.length;
    }
    return k;
  }

  private insnAt(addr: number): Insn | undefined {
    const off = addr - this.codeBase;
    if (this.dense) return off >= 0 && off < this.dense.length ? this.dense[off] : undefined;
    return this.program.insnAt.get(addr);
  }

  /** After a load (core/state.ts): the software TLB starts empty, as after a flush. */
  afterLoadState(): void {
    this.tlbTag.fill(-1);
    this.tlbFilledN = 0;
    this.tlbGen = -1;
    this.fetchLo = this.fetchHi = -1;
    this.wmmio = -1;
  }

  /** Flushes the software TLB if the bus's translations changed since the last check. */
  private syncTlb(): void {
    const gen = this.bus.tlbGeneration;
    if (gen !== this.tlbGen) {
      const n = this.tlbFilledN;
      const tag = this.tlbTag;
      if (n * 4 >= tag.length) {
        tag.fill(-1);
      } else {
        const filled = this.tlbFilled;
        for (let i = 0; i < n; i++) tag[filled[i]] = -1;
      }
      this.tlbFilledN = 0;
      this.tlbGen = gen;
      this.fetchLo = this.fetchHi = -1;
    }
  }

  /**
   * Fetches the instruction at rip (dense programs): looks its page up for `fetch` and, unless the
   * instruction crosses into the next page (whose page is then looked up too, every time), lets the
   * run loop execute the rest of the page's instructions without look-ups.
   */
  private fetchPage(rip: number): void {
    this.fetchLo = this.fetchHi = -1;
    this.page(rip, FETCH);
    const insn = this.insnAt(rip);
    if (insn === undefined) this.noInsn();
    const pageLo = rip - (rip & 0xfff);
    if ((rip & 0xfff) + insn.length > PAGE) {
      this.page(rip + insn.length - 1, FETCH);
      return;
    }
    let hi = Math.min(pageLo + PAGE, this.codeEnd);
    // An instruction crossing the page end needs its own look-ups: stop the range before it.
    const dense = this.dense!;
    for (let a = hi - 1; a >= hi - 16 && a >= rip; a--) {
      const x = dense[a - this.codeBase];
      if (x !== undefined) {
        if (a + x.length > pageLo + PAGE) hi = a;
        break;
      }
    }
    this.fetchLo = Math.max(pageLo, this.codeBase);
    this.fetchHi = hi;
  }

  /** Fetch for programs too large for the dense tables (through insnAt; translations checked). */
  private fetch(): Insn {
    const rip = this.rip;
    if (rip >= this.fetchLo && rip < this.fetchHi) {
      const insn = this.program.insnAt.get(rip);
      if (insn !== undefined && rip + insn.length <= this.fetchHi) return insn;
    }
    return this.fetchSlow(rip);
  }

  private fetchSlow(rip: number): Insn {
    this.fetchLo = this.fetchHi = -1;
    this.page(rip, FETCH);
    const insn = this.insnAt(rip);
    if (insn === undefined) this.noInsn();
    if ((rip & 0xfff) + insn.length > PAGE) {
      this.page(rip + insn.length - 1, FETCH);
    } else {
      this.fetchLo = rip - (rip & 0xfff);
      this.fetchHi = this.fetchLo + PAGE;
    }
    return insn;
  }

  /** Hands an exception to the guest kernel; a fatal GuestFault when nobody handles it. */
  private deliver(exc: GuestException, insn: Insn | null): void {
    const where = insn ? `${hex(insn.addr)} (${insn.text})` : `${hex(this.rip)} (instruction fetch)`;
    if (!this.kernel) {
      throw new GuestFault(`#${exc.vector} at ${where}: ${exc.message}; there is no guest kernel to handle it`, this.rip, exc.vector);
    }
    const decoded: DecodedForKernel = insn ? this.decodeForKernel(insn) : { mnemonic: '(fetch)', length: 0, size: 0 };
    const snap = this.snapshot();
    let handled: boolean;
    try {
      handled = this.kernel.handleException(exc, this, this.bus, decoded);
    } catch (e) {
      // The instruction will execute again (and fault again) when the vCPU re-enters.
      if (e instanceof VcpuExit) this.restore(snap);
      if (e instanceof GuestPanic) this.panicked = e.message;
      throw e;
    }
    if (!handled) {
      throw new GuestFault(`unhandled #${exc.vector} at ${where}: ${exc.message}`, insn ? insn.addr : this.rip, exc.vector);
    }
    this.instructionsRetired++;
  }

  private decodeForKernel(insn: Insn): DecodedForKernel {
    const d: DecodedForKernel = { mnemonic: insn.mnemonic, length: insn.length, size: insn.size };
    const dst = insn.dst;
    const src = insn.src;
    if (insn.op === OP_IN) {
      d.writeResult = (v) => this.writeAcc(insn.size, Number(BigInt.asUintN(32, v)));
    } else if (insn.op === OP_OUT) {
      d.value = BigInt(this.accValue(insn.size));
    } else if (dst && dst.kind === OPND_MEM) {
      d.size = dst.size;
      if (insn.op === OP_MOV && src) {
        const lo = this.readOp(src, dst.size);
        d.value = (BigInt(this.vhi) << 32n) | BigInt(lo);
      }
    } else if (src && src.kind === OPND_MEM) {
      d.size = src.size;
      if (dst && dst.kind === OPND_REG && (insn.op === OP_MOV || insn.op === OP_MOVZX || insn.op === OP_MOVSX)) {
        d.writeResult = (v) => {
          const x = BigInt.asUintN(64, v);
          this.writeExtended(insn, dst, src.size, Number(x & 0xffffffffn), Number(x >> 32n));
        };
      }
    }
    return d;
  }

  /** Writes a value read from memory into dst as mov/movzx/movsx would. */
  private writeExtended(insn: Insn, dst: Operand, srcSize: number, lo: number, hi: number): void {
    if (insn.op === OP_MOVSX) {
      const v = srcSize === 1 ? (lo << 24) >> 24 : srcSize === 2 ? (lo << 16) >> 16 : lo | 0;
      this.wrReg(dst, v >>> 0, v < 0 ? 0xffffffff : 0);
    } else if (insn.op === OP_MOVZX) {
      this.wrReg(dst, srcSize === 1 ? lo & 0xff : lo & 0xffff, 0);
    } else {
      this.wrReg(dst, lo, hi);
    }
  }

  private snapshot(): Snapshot {
    return { r: this.r.slice(), rip: this.rip, cf: this.cf, zf: this.zf, sf: this.sf, of: this.of };
  }

  private restore(s: Snapshot): void {
    this.r.set(s.r);
    this.rip = s.rip;
    this.cf = s.cf;
    this.zf = s.zf;
    this.sf = s.sf;
    this.of = s.of;
  }

  // ---- memory ---------------------------------------------------------------------------------------

  /**
   * The page backing addr for this access kind, through the software TLB (tags are page numbers;
   * the TLB is only flushed by syncTlb(), see run()).
   */
  private page(addr: number, kind: number): Uint8Array {
    const pfn = Math.floor(addr / PAGE);
    const slot = kind * TLB_WAYS + (pfn & (TLB_WAYS - 1));
    if (this.tlbTag[slot] === pfn) {
      if (kind === WRITE) this.lastFrame = this.tlbFrame[slot];
      return this.tlbPage[slot]!;
    }
    const p = this.bus.page(addr, ACCESS[kind]);
    // The look-up itself may have changed translations (a fault-in that zapped something).
    this.syncTlb();
    // Every slot whose tag is set is in tlbFilled (a replaced slot is there already).
    if (this.tlbTag[slot] === -1) this.tlbFilled[this.tlbFilledN++] = slot;
    if (kind === WRITE) {
      const f = this.bus.lastWriteFrame ?? -1;
      this.lastFrame = this.tlbFrame[slot] = f >= 0 && f < this.tokens.length ? f : 0;
    }
    this.tlbTag[slot] = pfn;
    this.tlbPage[slot] = p;
    this.tlbView[slot] = new DataView(p.buffer, p.byteOffset, p.byteLength);
    return p;
  }

  /** Reads size bytes at addr; returns the low 32 bits, the high 32 bits in this.vhi. */
  private readMem(addr: number, size: number): number {
    const off = addr & 0xfff;
    let p: Uint8Array;
    try {
      p = this.page(addr, READ);
    } catch (e) {
      if (!(e instanceof MmioAccess)) throw e;
      // MMIO: the device answers (up to 4 bytes are modelled; wider reads return the high half 0).
      this.vhi = 0;
      const v = this.bus.mmio(addr, size, false, 0) >>> 0;
      this.syncTlb();
      return v;
    }
    if (off + size <= PAGE) {
      switch (size) {
        case 1:
          this.vhi = 0;
          return p[off];
        case 2:
          this.vhi = 0;
          return p[off] | (p[off + 1] << 8);
        case 4:
          this.vhi = 0;
          return (p[off] | (p[off + 1] << 8) | (p[off + 2] << 16) | (p[off + 3] << 24)) >>> 0;
        default:
          this.vhi = (p[off + 4] | (p[off + 5] << 8) | (p[off + 6] << 16) | (p[off + 7] << 24)) >>> 0;
          return (p[off] | (p[off + 1] << 8) | (p[off + 2] << 16) | (p[off + 3] << 24)) >>> 0;
      }
    }
    // Crosses into the next page: both look-ups first, then byte by byte.
    const p2 = this.page(addr - off + PAGE, READ);
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < size; i++) {
      const b = off + i < PAGE ? p[off + i] : p2[off + i - PAGE];
      if (i < 4) lo |= b << (8 * i);
      else hi |= b << (8 * (i - 4));
    }
    this.vhi = hi >>> 0;
    return lo >>> 0;
  }

  /** Looks up the page(s) for a write of size bytes at addr; commit() then writes without faulting. */
  private prepWrite(addr: number, size: number): void {
    const off = addr & 0xfff;
    this.wmmio = -1;
    try {
      this.wp0 = this.page(addr, WRITE);
      this.wf0 = this.lastFrame;
    } catch (e) {
      if (!(e instanceof MmioAccess)) throw e;
      this.wmmio = addr;
      return;
    }
    this.woff = off;
    this.wp1 = off + size > PAGE ? this.page(addr - off + PAGE, WRITE) : null;
    this.wf1 = this.lastFrame;
  }

  private commit(lo: number, hi: number, size: number): void {
    if (this.wmmio >= 0) {
      // An MMIO store: the VMM emulates it (KVM_EXIT_MMIO); only the store's own effect is modelled.
      this.bus.mmio(this.wmmio, size, true, lo >>> 0);
      this.wmmio = -1;
      this.syncTlb();
      return;
    }
    const p = this.wp0;
    const off = this.woff;
    this.tokens[this.wf0] = ++this.tokenSeq[0];
    if (this.wp1 === null) {
      p[off] = lo;
      if (size === 1) return;
      p[off + 1] = lo >>> 8;
      if (size === 2) return;
      p[off + 2] = lo >>> 16;
      p[off + 3] = lo >>> 24;
      if (size === 4) return;
      p[off + 4] = hi;
      p[off + 5] = hi >>> 8;
      p[off + 6] = hi >>> 16;
      p[off + 7] = hi >>> 24;
      return;
    }
    const p2 = this.wp1;
    this.tokens[this.wf1] = ++this.tokenSeq[0];
    for (let i = 0; i < size; i++) {
      const b = i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4));
      if (off + i < PAGE) p[off + i] = b;
      else p2[off + i - PAGE] = b;
    }
  }

  /** Effective address of a memory operand (52-bit guest address); halves kept in eaLo/eaHi. */
  private ea(o: Operand): number {
    const r = this.r;
    let lo = o.dispLo;
    let hi = o.dispHi;
    if (o.base >= 0) {
      lo += r[2 * o.base];
      hi += r[2 * o.base + 1];
    }
    if (o.index >= 0) {
      lo += r[2 * o.index] * o.scale;
      hi += r[2 * o.index + 1] * o.scale;
    }
    if (lo >= TWO32) {
      const c = Math.floor(lo / TWO32);
      lo -= c * TWO32;
      hi += c;
    }
    this.eaLo = lo;
    this.eaHi = hi >>> 0;
    return addrOf(lo, hi);
  }

  // ---- registers and operands ---------------------------------------------------------------------

  private rdReg(o: Operand): number {
    const r = this.r;
    const i = 2 * o.reg;
    switch (o.size) {
      case 8:
        this.vhi = r[i + 1];
        return r[i];
      case 4:
        this.vhi = 0;
        return r[i];
      case 2:
        this.vhi = 0;
        return r[i] & 0xffff;
      default:
        this.vhi = 0;
        return o.high8 ? (r[i] >>> 8) & 0xff : r[i] & 0xff;
    }
  }

  /** Writes a register with x86 width rules: 32-bit writes zero-extend, 8/16-bit writes merge. */
  private wrReg(o: Operand, lo: number, hi: number): void {
    const r = this.r;
    const i = 2 * o.reg;
    switch (o.size) {
      case 8:
        r[i] = lo;
        r[i + 1] = hi;
        return;
      case 4:
        r[i] = lo;
        r[i + 1] = 0;
        return;
      case 2:
        r[i] = (r[i] & 0xffff0000) | (lo & 0xffff);
        return;
      default:
        if (o.high8) r[i] = (r[i] & 0xffff00ff) | ((lo & 0xff) << 8);
        else r[i] = (r[i] & 0xffffff00) | (lo & 0xff);
    }
  }

  /** Reads a register, immediate or memory operand at `size`; high half in this.vhi. */
  private readOp(o: Operand, size: number): number {
    if (o.kind === OPND_REG) return this.rdReg(o);
    if (o.kind === OPND_IMM) {
      this.vhi = o.immHi;
      return o.immLo;
    }
    return this.readMem(this.ea(o), size);
  }

  private accValue(size: number): number {
    const v = this.r[0];
    return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v;
  }

  private writeAcc(size: number, v: number): void {
    const r = this.r;
    if (size === 4) {
      r[0] = v;
      r[1] = 0;
    } else if (size === 2) {
      r[0] = (r[0] & 0xffff0000) | (v & 0xffff);
    } else {
      r[0] = (r[0] & 0xffffff00) | (v & 0xff);
    }
  }

  /** Adds a small signed delta to a 64-bit register. */
  private addReg(i: number, d: number): void {
    const r = this.r;
    let lo = r[2 * i] + d;
    if (lo >= TWO32) {
      lo -= TWO32;
      r[2 * i + 1]++;
    } else if (lo < 0) {
      lo += TWO32;
      r[2 * i + 1]--;
    }
    r[2 * i] = lo;
  }

  private regAddr(i: number): number {
    return addrOf(this.r[2 * i], this.r[2 * i + 1]);
  }

  private cond(c: number): boolean {
    switch (c) {
      case 0: return this.of === 1;
      case 1: return this.of === 0;
      case 2: return this.cf === 1;
      case 3: return this.cf === 0;
      case 4: return this.zf === 1;
      case 5: return this.zf === 0;
      case 6: return (this.cf | this.zf) === 1;
      case 7: return (this.cf | this.zf) === 0;
      case 8: return this.sf === 1;
      case 9: return this.sf === 0;
      case 12: return this.sf !== this.of;
      case 13: return this.sf === this.of;
      case 14: return this.zf === 1 || this.sf !== this.of;
      case 15: return this.zf === 0 && this.sf === this.of;
      default: return false;
    }
  }

  // ---- arithmetic -----------------------------------------------------------------------------------

  private setSZ(lo: number, hi: number, size: number): void {
    if (size === 8) {
      this.sf = hi >>> 31;
      this.zf = (lo | hi) === 0 ? 1 : 0;
    } else {
      this.sf = (lo >>> (size * 8 - 1)) & 1;
      this.zf = lo === 0 ? 1 : 0;
    }
  }

  private add(a: number, ah: number, b: number, bh: number, cin: number, size: number): number {
    if (size === 8) {
      let lo = a + b + cin;
      const c = lo >= TWO32 ? 1 : 0;
      lo = lo >>> 0;
      let hi = ah + bh + c;
      this.cf = hi >= TWO32 ? 1 : 0;
      hi = hi >>> 0;
      this.of = (((ah ^ hi) & (bh ^ hi)) >>> 31) & 1;
      this.sf = hi >>> 31;
      this.zf = (lo | hi) === 0 ? 1 : 0;
      this.rhi = hi;
      return lo;
    }
    const sh = size * 8 - 1;
    const mask = size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    const sum = a + b + cin;
    const res = size === 4 ? sum >>> 0 : sum & mask;
    this.cf = sum > mask ? 1 : 0;
    this.of = (((a ^ res) & (b ^ res)) >>> sh) & 1;
    this.sf = (res >>> sh) & 1;
    this.zf = res === 0 ? 1 : 0;
    this.rhi = 0;
    return res;
  }

  private sub(a: number, ah: number, b: number, bh: number, bin: number, size: number): number {
    if (size === 8) {
      let lo = a - b - bin;
      const br = lo < 0 ? 1 : 0;
      lo = lo >>> 0;
      let hi = ah - bh - br;
      this.cf = hi < 0 ? 1 : 0;
      hi = hi >>> 0;
      this.of = (((ah ^ bh) & (ah ^ hi)) >>> 31) & 1;
      this.sf = hi >>> 31;
      this.zf = (lo | hi) === 0 ? 1 : 0;
      this.rhi = hi;
      return lo;
    }
    const sh = size * 8 - 1;
    const diff = a - b - bin;
    const res = size === 4 ? diff >>> 0 : diff & ((1 << (size * 8)) - 1);
    this.cf = diff < 0 ? 1 : 0;
    this.of = (((a ^ b) & (a ^ res)) >>> sh) & 1;
    this.sf = (res >>> sh) & 1;
    this.zf = res === 0 ? 1 : 0;
    this.rhi = 0;
    return res;
  }

  private logic(lo: number, hi: number, size: number): number {
    lo = lo >>> 0;
    hi = size === 8 ? hi >>> 0 : 0;
    this.cf = 0;
    this.of = 0;
    this.setSZ(lo, hi, size);
    this.rhi = hi;
    return lo;
  }

  /** The two-operand ALU ops; result low half returned, high half in this.rhi. */
  private alu(op: number, a: number, ah: number, b: number, bh: number, size: number): number {
    switch (op) {
      case OP_ADD: return this.add(a, ah, b, bh, 0, size);
      case OP_ADC: return this.add(a, ah, b, bh, this.cf, size);
      case OP_SUB:
      case OP_CMP: return this.sub(a, ah, b, bh, 0, size);
      case OP_SBB: return this.sub(a, ah, b, bh, this.cf, size);
      case OP_AND:
      case OP_TEST: return this.logic(a & b, ah & bh, size);
      case OP_OR: return this.logic(a | b, ah | bh, size);
      default: return this.logic(a ^ b, ah ^ bh, size);
    }
  }

  /**
   * shl/shr/sar by count (already masked, non-zero). OF is architecturally defined only for 1-bit
   * shifts; for longer shifts this CPU clears it (deterministic, like the SDM's "undefined").
   */
  private shift(op: number, a: number, ah: number, count: number, size: number): number {
    if (size === 8) {
      let lo: number;
      let hi: number;
      const bit = (i: number): number => (i < 32 ? (a >>> i) & 1 : (ah >>> (i - 32)) & 1);
      if (op === OP_SHL) {
        this.cf = bit(64 - count);
        if (count < 32) {
          hi = ((ah << count) | (a >>> (32 - count))) >>> 0;
          lo = (a << count) >>> 0;
        } else {
          hi = (a << (count - 32)) >>> 0;
          lo = 0;
        }
        this.of = count === 1 ? (hi >>> 31) ^ this.cf : 0;
      } else {
        this.cf = bit(count - 1);
        this.of = op === OP_SHR && count === 1 ? ah >>> 31 : 0;
        if (count < 32) {
          lo = ((a >>> count) | (ah << (32 - count))) >>> 0;
          hi = op === OP_SHR ? ah >>> count : ((ah | 0) >> count) >>> 0;
        } else {
          lo = op === OP_SHR ? ah >>> (count - 32) : ((ah | 0) >> (count - 32)) >>> 0;
          hi = op === OP_SHR ? 0 : ((ah | 0) >> 31) >>> 0;
        }
      }
      this.setSZ(lo, hi, 8);
      this.rhi = hi;
      return lo;
    }
    const w = size * 8;
    const mask = size === 4 ? 0xffffffff : (1 << w) - 1;
    let res: number;
    if (op === OP_SHL) {
      this.cf = count <= w ? (a >>> (w - count)) & 1 : 0;
      res = count >= 32 ? 0 : (a << count) & mask;
      res = res >>> 0;
      this.of = count === 1 ? ((res >>> (w - 1)) & 1) ^ this.cf : 0;
    } else if (op === OP_SHR) {
      this.cf = count <= w ? (a >>> (count - 1)) & 1 : 0;
      this.of = count === 1 ? (a >>> (w - 1)) & 1 : 0;
      res = a >>> count;
    } else {
      const sa = (a << (32 - w)) >> (32 - w);
      this.cf = (sa >> Math.min(count - 1, 31)) & 1;
      this.of = 0;
      res = ((sa >> Math.min(count, 31)) & mask) >>> 0;
    }
    this.setSZ(res, 0, size);
    this.rhi = 0;
    return res;
  }

  /** Signed multiply truncated to size; CF = OF = the product did not fit. */
  private imul(a: number, ah: number, b: number, bh: number, size: number): number {
    let lo: number;
    let hi = 0;
    let overflow: boolean;
    if (size === 8) {
      const p = BigInt.asIntN(64, (BigInt(ah) << 32n) | BigInt(a)) * BigInt.asIntN(64, (BigInt(bh) << 32n) | BigInt(b));
      const t = BigInt.asUintN(64, p);
      lo = Number(t & 0xffffffffn);
      hi = Number(t >> 32n);
      overflow = BigInt.asIntN(64, p) !== p;
    } else if (size === 4) {
      const exact = (a | 0) * (b | 0);
      lo = Math.imul(a, b) >>> 0;
      overflow = exact !== (lo | 0);
    } else {
      const exact = ((a << 16) >> 16) * ((b << 16) >> 16);
      lo = exact & 0xffff;
      overflow = exact !== (lo << 16) >> 16;
    }
    this.cf = this.of = overflow ? 1 : 0;
    this.setSZ(lo, hi, size);
    this.rhi = hi;
    return lo;
  }

  // ---- specialised fast paths ---------------------------------------------------------------------

  /**
   * A closure for one instruction of a hot form (64/32-bit register moves and ALU ops, loads and
   * stores, inc/dec, jumps), or null to use exec(). The generic path costs several calls per
   * instruction (operand kind and size switches); these closures keep the common loop bodies at one.
   */
  private specialize(insn: Insn): (Closure | null) {
    const r = this.r;
    const next = insn.addr + insn.length;
    const size = insn.size;
    const d = insn.dst;
    const s = insn.src;
    const op = insn.op;
    const wide = size === 8 || size === 4;
    if (op === OP_JCC) {
      const t = insn.target;
      switch (insn.cond) {
        case 4: return () => { this.rip = this.zf === 1 ? t : next; return 1; };
        case 5: return () => { this.rip = this.zf === 0 ? t : next; return 1; };
        case 2: return () => { this.rip = this.cf === 1 ? t : next; return 1; };
        case 3: return () => { this.rip = this.cf === 0 ? t : next; return 1; };
        default: {
          const c = insn.cond;
          return () => { this.rip = this.cond(c) ? t : next; return 1; };
        }
      }
    }
    if (op === OP_JMP && insn.target >= 0) {
      const t = insn.target;
      return () => { this.rip = t; return 1; };
    }
    if (op === OP_LOOP) {
      const t = insn.target;
      return () => {
        this.addReg(RCX, -1);
        this.rip = (r[2 * RCX] | r[2 * RCX + 1]) !== 0 ? t : next;
        return 1;
      };
    }
    if (!d || !wide) return null;
    const di = 2 * d.reg;
    if (op === OP_MOV && d.kind === OPND_REG && s) {
      if (s.kind === OPND_IMM) {
        const lo = s.immLo;
        const hi = size === 8 ? s.immHi : 0;
        return () => { r[di] = lo; r[di + 1] = hi; this.rip = next; return 1; };
      }
      if (s.kind === OPND_REG) {
        const si = 2 * s.reg;
        if (size === 8) return () => { r[di] = r[si]; r[di + 1] = r[si + 1]; this.rip = next; return 1; };
        return () => { r[di] = r[si]; r[di + 1] = 0; this.rip = next; return 1; };
      }
      return this.loadFast(s, size, di, next);
    }
    if (op === OP_MOV && d.kind === OPND_MEM && s && s.kind !== OPND_MEM) {
      if (s.kind === OPND_IMM) return this.storeFast(d, size, -1, s.immLo, s.immHi, next);
      return this.storeFast(d, size, 2 * s.reg, 0, 0, next);
    }
    if (d.kind !== OPND_REG) return null;
    if (op === OP_INC || op === OP_DEC) {
      const delta = op === OP_INC ? 1 : -1;
      if (size === 8) {
        return () => {
          let lo = r[di] + delta;
          let hi = r[di + 1];
          if (lo >= TWO32) { lo = 0; hi = (hi + 1) >>> 0; } else if (lo < 0) { lo = 0xffffffff; hi = (hi - 1) >>> 0; }
          this.of = delta > 0 ? (hi === 0x80000000 && lo === 0 ? 1 : 0) : (hi === 0x7fffffff && lo === 0xffffffff ? 1 : 0);
          this.sf = hi >>> 31;
          this.zf = (lo | hi) === 0 ? 1 : 0;
          r[di] = lo;
          r[di + 1] = hi;
          this.rip = next;
          return 1;
        };
      }
      return () => {
        const v = (r[di] + delta) >>> 0;
        this.of = delta > 0 ? (v === 0x80000000 ? 1 : 0) : (v === 0x7fffffff ? 1 : 0);
        this.sf = v >>> 31;
        this.zf = v === 0 ? 1 : 0;
        r[di] = v;
        r[di + 1] = 0;
        this.rip = next;
        return 1;
      };
    }
    const isAlu = op === OP_ADD || op === OP_SUB || op === OP_CMP || op === OP_AND || op === OP_OR || op === OP_XOR || op === OP_TEST;
    if (!isAlu || !s || s.kind === OPND_MEM) return null;
    return this.aluFast(op, size, di, s, next);
  }

  /**
   * Register-destination add/sub/cmp/and/or/xor/test (4 or 8 bytes) with a register or immediate
   * source, with the flag arithmetic inline (no calls, so no boxed intermediate results).
   */
  private aluFast(op: number, size: number, di: number, s: Operand, next: number): Closure {
    const r = this.r;
    const sImm = s.kind === OPND_IMM;
    // An immediate source reads from two constant slots; a register source from its halves.
    const sl = sImm ? -1 : 2 * s.reg;
    const immLo = s.immLo;
    const immHi = size === 8 ? s.immHi : 0;
    if (size === 8) {
      switch (op) {
        case OP_ADD:
          return () => {
            const b = sl < 0 ? immLo : r[sl];
            const bh = sl < 0 ? immHi : r[sl + 1];
            const ah = r[di + 1];
            let lo = r[di] + b;
            const c = lo >= TWO32 ? 1 : 0;
            lo = lo >>> 0;
            let hi = ah + bh + c;
            this.cf = hi >= TWO32 ? 1 : 0;
            hi = hi >>> 0;
            this.of = (((ah ^ hi) & (bh ^ hi)) >>> 31) & 1;
            this.sf = hi >>> 31;
            this.zf = (lo | hi) === 0 ? 1 : 0;
            r[di] = lo;
            r[di + 1] = hi;
            this.rip = next;
            return 1;
          };
        case OP_SUB:
        case OP_CMP: {
          const writes = op === OP_SUB;
          return () => {
            const b = sl < 0 ? immLo : r[sl];
            const bh = sl < 0 ? immHi : r[sl + 1];
            const ah = r[di + 1];
            let lo = r[di] - b;
            const br = lo < 0 ? 1 : 0;
            lo = lo >>> 0;
            let hi = ah - bh - br;
            this.cf = hi < 0 ? 1 : 0;
            hi = hi >>> 0;
            this.of = (((ah ^ bh) & (ah ^ hi)) >>> 31) & 1;
            this.sf = hi >>> 31;
            this.zf = (lo | hi) === 0 ? 1 : 0;
            if (writes) {
              r[di] = lo;
              r[di + 1] = hi;
            }
            this.rip = next;
            return 1;
          };
        }
        default: {
          const writes = op !== OP_TEST;
          const kind = op === OP_AND || op === OP_TEST ? 0 : op === OP_OR ? 1 : 2;
          return () => {
            const b = sl < 0 ? immLo : r[sl];
            const bh = sl < 0 ? immHi : r[sl + 1];
            const a = r[di];
            const ah = r[di + 1];
            const lo = (kind === 0 ? a & b : kind === 1 ? a | b : a ^ b) >>> 0;
            const hi = (kind === 0 ? ah & bh : kind === 1 ? ah | bh : ah ^ bh) >>> 0;
            this.cf = 0;
            this.of = 0;
            this.sf = hi >>> 31;
            this.zf = (lo | hi) === 0 ? 1 : 0;
            if (writes) {
              r[di] = lo;
              r[di + 1] = hi;
            }
            this.rip = next;
            return 1;
          };
        }
      }
    }
    switch (op) {
      case OP_ADD:
        return () => {
          const a = r[di];
          const b = sl < 0 ? immLo : r[sl];
          const sum = a + b;
          const res = sum >>> 0;
          this.cf = sum > 0xffffffff ? 1 : 0;
          this.of = (((a ^ res) & (b ^ res)) >>> 31) & 1;
          this.sf = res >>> 31;
          this.zf = res === 0 ? 1 : 0;
          r[di] = res;
          r[di + 1] = 0;
          this.rip = next;
          return 1;
        };
      case OP_SUB:
      case OP_CMP: {
        const writes = op === OP_SUB;
        return () => {
          const a = r[di];
          const b = sl < 0 ? immLo : r[sl];
          const diff = a - b;
          const res = diff >>> 0;
          this.cf = diff < 0 ? 1 : 0;
          this.of = (((a ^ b) & (a ^ res)) >>> 31) & 1;
          this.sf = res >>> 31;
          this.zf = res === 0 ? 1 : 0;
          if (writes) {
            r[di] = res;
            r[di + 1] = 0;
          }
          this.rip = next;
          return 1;
        };
      }
      default: {
        const writes = op !== OP_TEST;
        const kind = op === OP_AND || op === OP_TEST ? 0 : op === OP_OR ? 1 : 2;
        return () => {
          const a = r[di];
          const b = sl < 0 ? immLo : r[sl];
          const res = (kind === 0 ? a & b : kind === 1 ? a | b : a ^ b) >>> 0;
          this.cf = 0;
          this.of = 0;
          this.sf = res >>> 31;
          this.zf = res === 0 ? 1 : 0;
          if (writes) {
            r[di] = res;
            r[di + 1] = 0;
          }
          this.rip = next;
          return 1;
        };
      }
    }
  }

  /**
   * `mov reg, [mem]` (4 or 8 bytes): the effective address and the TLB look-up inline; a TLB miss, a
   * page-crossing or an MMIO load goes through readMem().
   */
  private loadFast(m: Operand, size: number, di: number, next: number): Closure {
    const r = this.r;
    const tag = this.tlbTag;
    const view = this.tlbView;
    const bl = 2 * (m.base >= 0 ? m.base : NO_REG);
    const il = 2 * (m.index >= 0 ? m.index : NO_REG);
    const sc = m.index >= 0 ? m.scale : 0;
    const dLo = m.dispLo;
    const dHi = m.dispHi;
    const maxOff = PAGE - size;
    const wide = size === 8;
    return () => {
      let lo = dLo + r[bl] + r[il] * sc;
      let hi = dHi + r[bl + 1] + r[il + 1] * sc;
      if (lo >= TWO32) {
        const c = Math.floor(lo / TWO32);
        lo -= c * TWO32;
        hi += c;
      }
      const h = hi & 0xfffff;
      const vpn = lo >>> 12;
      const off = lo & 0xfff;
      const slot = READ * TLB_WAYS + (vpn & (TLB_WAYS - 1));
      let vlo: number;
      let vhi = 0;
      if (tag[slot] === h * 1048576 + vpn && off <= maxOff) {
        const v = view[slot]!;
        vlo = v.getUint32(off, true);
        if (wide) vhi = v.getUint32(off + 4, true);
      } else {
        vlo = this.readMem(h * TWO32 + lo, size);
        if (wide) vhi = this.vhi;
      }
      r[di] = vlo;
      r[di + 1] = vhi;
      this.rip = next;
      return 1;
    };
  }

  /**
   * `mov [mem], reg/imm` (4 or 8 bytes; si = -1 for the immediate): the effective address and the
   * TLB look-up inline; a TLB miss, a page-crossing or an MMIO store goes through prepWrite/commit.
   */
  private storeFast(m: Operand, size: number, si: number, immLo: number, immHi: number, next: number): Closure {
    const r = this.r;
    const tag = this.tlbTag;
    const view = this.tlbView;
    const bl = 2 * (m.base >= 0 ? m.base : NO_REG);
    const il = 2 * (m.index >= 0 ? m.index : NO_REG);
    const sc = m.index >= 0 ? m.scale : 0;
    const dLo = m.dispLo;
    const dHi = m.dispHi;
    const maxOff = PAGE - size;
    const wide = size === 8;
    const fromReg = si >= 0;
    const sl = fromReg ? si : 2 * NO_REG;
    const frames = this.tlbFrame;
    const tokens = this.tokens;
    const seq = this.tokenSeq;
    return () => {
      let lo = dLo + r[bl] + r[il] * sc;
      let hi = dHi + r[bl + 1] + r[il + 1] * sc;
      if (lo >= TWO32) {
        const c = Math.floor(lo / TWO32);
        lo -= c * TWO32;
        hi += c;
      }
      const h = hi & 0xfffff;
      const vpn = lo >>> 12;
      const off = lo & 0xfff;
      const slot = WRITE * TLB_WAYS + (vpn & (TLB_WAYS - 1));
      const vlo = fromReg ? r[sl] : immLo;
      const vhi = fromReg ? r[sl + 1] : immHi;
      if (tag[slot] === h * 1048576 + vpn && off <= maxOff) {
        const v = view[slot]!;
        v.setUint32(off, vlo, true);
        if (wide) v.setUint32(off + 4, vhi, true);
        tokens[frames[slot]] = ++seq[0];
      } else {
        this.prepWrite(h * TWO32 + lo, size);
        this.commit(vlo, vhi, size);
      }
      this.rip = next;
      return 1;
    };
  }

  /**
   * A block closure: a run of instructions that specialize() handles, from `insn` on, ending with a
   * direct jmp/jcc or before the first instruction it does not handle (at most MAX_BLOCK, all in
   * insn's page, none crossing into the next). It calls the members' own closures in order, so
   * registers, flags, memory and rip end exactly as after the separate instructions; it returns how
   * many instructions retired. A member that may call the bus (a load or store) keeps rip at itself
   * until it completes, so an exit or exception leaves the block restartable at that member (the
   * run loop adds `blockDone`); if it changed translations (the fetch range was dropped), the block
   * stops after it so that the next instruction is fetched again.
   */
  private block(insn: Insn, single: readonly Closure[]): Closure | null {
    const pageEnd = insn.addr - (insn.addr & 0xfff) + PAGE;
    const body: Insn[] = [];
    let i: Insn | undefined = insn;
    let term: Insn | null = null;
    while (i !== undefined && body.length < MAX_BLOCK && i.addr + i.length <= pageEnd) {
      if ((i.op === OP_JCC || i.op === OP_JMP) && i.target >= 0) {
        term = i;
        break;
      }
      if (!this.blockable(i)) break;
      body.push(i);
      if (body.length === MAX_BLOCK - 1) {
        // leave room for a terminator
        const nx = this.insnAt(i.addr + i.length);
        if (nx && (nx.op === OP_JCC || nx.op === OP_JMP) && nx.target >= 0 && nx.addr + nx.length <= pageEnd) term = nx;
        break;
      }
      i = this.insnAt(i.addr + i.length);
    }
    const total = body.length + (term ? 1 : 0);
    if (total < 2) return null;
    const fs = body.map((x) => single[x.addr - this.codeBase]);
    const chk = body.map((x) => this.touchesMemory(x));
    const nb = body.length;
    let t = -1;
    let next = -1;
    let c = -1;
    if (term) {
      t = term.target;
      next = term.addr + term.length;
      c = term.op === OP_JMP ? -1 : term.cond;
    }
    const hasTerm = term !== null;
    if (nb === 3 && hasTerm) {
      const [f0, f1, f2] = fs;
      const [c0, c1, c2] = chk;
      return () => {
        f0();
        if (c0 && this.fetchLo < 0) return 1;
        f1();
        if (c1 && this.fetchLo < 0) return 2;
        f2();
        if (c2 && this.fetchLo < 0) return 3;
        this.rip = c < 0 ? t : c === 5 ? (this.zf === 0 ? t : next) : c === 4 ? (this.zf === 1 ? t : next) : this.cond(c) ? t : next;
        return 4;
      };
    }
    if (nb === 2 && hasTerm) {
      const [f0, f1] = fs;
      const [c0, c1] = chk;
      return () => {
        f0();
        if (c0 && this.fetchLo < 0) return 1;
        f1();
        if (c1 && this.fetchLo < 0) return 2;
        this.rip = c < 0 ? t : c === 5 ? (this.zf === 0 ? t : next) : c === 4 ? (this.zf === 1 ? t : next) : this.cond(c) ? t : next;
        return 3;
      };
    }
    if (nb === 1 && hasTerm) {
      const f0 = fs[0];
      const c0 = chk[0];
      return () => {
        f0();
        if (c0 && this.fetchLo < 0) return 1;
        this.rip = c < 0 ? t : c === 5 ? (this.zf === 0 ? t : next) : c === 4 ? (this.zf === 1 ? t : next) : this.cond(c) ? t : next;
        return 2;
      };
    }
    return () => {
      for (let k = 0; k < nb; k++) {
        fs[k]();
        if (chk[k] && this.fetchLo < 0) return k + 1;
      }
      if (!hasTerm) return nb;
      this.rip = c < 0 ? t : c === 5 ? (this.zf === 0 ? t : next) : c === 4 ? (this.zf === 1 ? t : next) : this.cond(c) ? t : next;
      return nb + 1;
    };
  }

  /** Loads and stores (the members of a block that may call the bus). */
  private touchesMemory(i: Insn): boolean {
    return (i.dst !== null && i.dst.kind === OPND_MEM) || (i.src !== null && i.src.kind === OPND_MEM);
  }

  /**
   * Instructions a block may contain: register-only moves and ALU ops (they cannot fault) and the
   * 4/8-byte loads and stores of loadFast/storeFast (restartable, rip at the instruction until done).
   */
  private blockable(i: Insn): boolean {
    const d = i.dst;
    const s = i.src;
    if (!d || (i.size !== 8 && i.size !== 4)) return false;
    if (i.op === OP_MOV) {
      if (!s) return false;
      if (d.kind === OPND_REG) return true;
      return d.kind === OPND_MEM && s.kind !== OPND_MEM;
    }
    if (d.kind !== OPND_REG || (s && s.kind === OPND_MEM)) return false;
    switch (i.op) {
      case OP_INC: case OP_DEC:
        return true;
      case OP_ADD: case OP_SUB: case OP_CMP: case OP_AND: case OP_OR: case OP_XOR: case OP_TEST:
        return s !== null;
      default:
        return false;
    }
  }

  // ---- execution ------------------------------------------------------------------------------------

  private exec(insn: Insn): void {
    const next = insn.addr + insn.length;
    const size = insn.size;
    switch (insn.op) {
      case OP_MOV: {
        const d = insn.dst!;
        const lo = this.readOp(insn.src!, size);
        const hi = this.vhi;
        if (d.kind === OPND_REG) {
          this.wrReg(d, lo, hi);
        } else {
          this.prepWrite(this.ea(d), size);
          this.commit(lo, hi, size);
        }
        break;
      }
      case OP_ADD: case OP_OR: case OP_ADC: case OP_SBB: case OP_AND: case OP_SUB: case OP_XOR:
      case OP_CMP: case OP_TEST: {
        const d = insn.dst!;
        const b = this.readOp(insn.src!, size);
        const bh = this.vhi;
        const writes = insn.op !== OP_CMP && insn.op !== OP_TEST;
        if (d.kind === OPND_REG) {
          const a = this.rdReg(d);
          const res = this.alu(insn.op, a, this.vhi, b, bh, size);
          if (writes) this.wrReg(d, res, this.rhi);
        } else {
          const addr = this.ea(d);
          const a = this.readMem(addr, size);
          const ah = this.vhi;
          if (writes) this.prepWrite(addr, size);
          const res = this.alu(insn.op, a, ah, b, bh, size);
          if (writes) this.commit(res, this.rhi, size);
        }
        break;
      }
      case OP_NOT: case OP_NEG: case OP_INC: case OP_DEC: {
        const d = insn.dst!;
        let addr = 0;
        let a: number;
        if (d.kind === OPND_REG) {
          a = this.rdReg(d);
        } else {
          addr = this.ea(d);
          a = this.readMem(addr, size);
        }
        const ah = this.vhi;
        if (d.kind === OPND_MEM) this.prepWrite(addr, size);
        let res: number;
        if (insn.op === OP_NOT) {
          res = size === 8 ? ~a >>> 0 : (~a & (size === 4 ? 0xffffffff : (1 << (size * 8)) - 1)) >>> 0;
          this.rhi = size === 8 ? ~ah >>> 0 : 0;
        } else if (insn.op === OP_NEG) {
          res = this.sub(0, 0, a, ah, 0, size);
        } else {
          const cf = this.cf;
          res = insn.op === OP_INC ? this.add(a, ah, 1, 0, 0, size) : this.sub(a, ah, 1, 0, 0, size);
          this.cf = cf;
        }
        if (d.kind === OPND_REG) this.wrReg(d, res, this.rhi);
        else this.commit(res, this.rhi, size);
        break;
      }
      case OP_SHL: case OP_SHR: case OP_SAR: {
        const d = insn.dst!;
        const count = this.readOp(insn.src!, 1) & (size === 8 ? 63 : 31);
        let addr = 0;
        let a: number;
        if (d.kind === OPND_REG) {
          a = this.rdReg(d);
        } else {
          addr = this.ea(d);
          a = this.readMem(addr, size);
        }
        if (count === 0) break; // no change, flags untouched
        const ah = this.vhi;
        if (d.kind === OPND_MEM) this.prepWrite(addr, size);
        const res = this.shift(insn.op, a, ah, count, size);
        if (d.kind === OPND_REG) this.wrReg(d, res, this.rhi);
        else this.commit(res, this.rhi, size);
        break;
      }
      case OP_IMUL: {
        const d = insn.dst!;
        const b = this.readOp(insn.src!, size);
        const bh = this.vhi;
        let a: number;
        let ah: number;
        if (insn.aux) {
          a = insn.aux.immLo;
          ah = insn.aux.immHi;
        } else {
          a = this.rdReg(d);
          ah = this.vhi;
        }
        const res = this.imul(a, ah, b, bh, size);
        this.wrReg(d, res, this.rhi);
        break;
      }
      case OP_MOVZX: case OP_MOVSX: {
        const s = insn.src!;
        const lo = this.readOp(s, s.size);
        this.writeExtended(insn, insn.dst!, s.size, lo, this.vhi);
        break;
      }
      case OP_LEA: {
        this.ea(insn.src!);
        this.wrReg(insn.dst!, this.eaLo, this.eaHi);
        break;
      }
      case OP_XCHG: {
        const d = insn.dst!;
        const s = insn.src!;
        const b = this.rdReg(s);
        const bh = this.vhi;
        if (d.kind === OPND_REG) {
          const a = this.rdReg(d);
          const ah = this.vhi;
          this.wrReg(d, b, bh);
          this.wrReg(s, a, ah);
        } else {
          const addr = this.ea(d);
          const a = this.readMem(addr, size);
          const ah = this.vhi;
          this.prepWrite(addr, size);
          this.commit(b, bh, size);
          this.wrReg(s, a, ah);
        }
        break;
      }
      case OP_PUSH: {
        const lo = this.readOp(insn.dst!, 8);
        this.push(lo, this.vhi);
        break;
      }
      case OP_POP: {
        const d = insn.dst!;
        const lo = this.readMem(this.regAddr(RSP), 8);
        const hi = this.vhi;
        if (d.kind === OPND_REG) {
          this.addReg(RSP, 8);
          this.wrReg(d, lo, hi);
        } else {
          this.prepWrite(this.ea(d), 8);
          this.commit(lo, hi, 8);
          this.addReg(RSP, 8);
        }
        break;
      }
      case OP_CALL: {
        let target = insn.target;
        if (target < 0) target = addrOf(this.readOp(insn.dst!, 8), this.vhi);
        this.push(next % TWO32, Math.floor(next / TWO32));
        this.rip = target;
        return;
      }
      case OP_RET: {
        const lo = this.readMem(this.regAddr(RSP), 8);
        this.addReg(RSP, 8 + (insn.src ? insn.src.immLo : 0));
        this.rip = addrOf(lo, this.vhi);
        return;
      }
      case OP_JMP: {
        this.rip = insn.target >= 0 ? insn.target : addrOf(this.readOp(insn.dst!, 8), this.vhi);
        return;
      }
      case OP_JCC:
        this.rip = this.cond(insn.cond) ? insn.target : next;
        return;
      case OP_LOOP: {
        this.addReg(RCX, -1);
        this.rip = (this.r[2 * RCX] | this.r[2 * RCX + 1]) !== 0 ? insn.target : next;
        return;
      }
      case OP_SETCC: {
        const d = insn.dst!;
        const v = this.cond(insn.cond) ? 1 : 0;
        if (d.kind === OPND_REG) {
          this.wrReg(d, v, 0);
        } else {
          this.prepWrite(this.ea(d), 1);
          this.commit(v, 0, 1);
        }
        break;
      }
      case OP_CMOVCC: {
        const d = insn.dst!;
        const lo = this.readOp(insn.src!, size);
        if (this.cond(insn.cond)) this.wrReg(d, lo, this.vhi);
        else if (size === 4) this.r[2 * d.reg + 1] = 0; // a 32-bit cmov zero-extends even when false
        break;
      }
      case OP_NOP:
        break;
      case OP_HLT: {
        // HLT retires before the CPU sleeps: rip points past it while halted.
        this.rip = next;
        this.extraRetired = 1;
        try {
          this.bus.hlt();
        } catch (e) {
          if (e instanceof GuestException) {
            // #VE in a TD: the hlt has not retired; the handler sees rip at the hlt.
            this.extraRetired = 0;
            this.rip = insn.addr;
          }
          throw e;
        }
        this.extraRetired = 0; // run() counts it
        this.syncTlb();
        return;
      }
      case OP_STOS:
        this.stos(insn);
        break;
      case OP_MOVS:
        this.movs(insn);
        break;
      case OP_IN: {
        const port = insn.src!.kind === OPND_IMM ? insn.src!.immLo : this.r[2 * RDX] & 0xffff;
        const v = this.bus.io(port, size as 1 | 2 | 4, true, 0);
        this.syncTlb();
        this.writeAcc(size, v >>> 0);
        break;
      }
      case OP_OUT: {
        const port = insn.src!.kind === OPND_IMM ? insn.src!.immLo : this.r[2 * RDX] & 0xffff;
        this.bus.io(port, size as 1 | 2 | 4, false, this.accValue(size));
        this.syncTlb();
        break;
      }
      case OP_RDMSR: {
        const v = BigInt.asUintN(64, this.bus.rdmsr(this.r[2 * RCX]));
        this.syncTlb();
        const r = this.r;
        r[2 * RAX] = Number(v & 0xffffffffn);
        r[2 * RAX + 1] = 0;
        r[2 * RDX] = Number(v >> 32n);
        r[2 * RDX + 1] = 0;
        break;
      }
      case OP_WRMSR: {
        const r = this.r;
        this.bus.wrmsr(r[2 * RCX], (BigInt(r[2 * RDX]) << 32n) | BigInt(r[2 * RAX]));
        this.syncTlb();
        break;
      }
      case OP_CPUID: {
        const r = this.r;
        const [a, b, c, d] = this.bus.cpuid(r[2 * RAX], r[2 * RCX]);
        this.syncTlb();
        r[2 * RAX] = a;
        r[2 * RAX + 1] = 0;
        r[2 * RBX] = b;
        r[2 * RBX + 1] = 0;
        r[2 * RCX] = c;
        r[2 * RCX + 1] = 0;
        r[2 * RDX] = d;
        r[2 * RDX + 1] = 0;
        break;
      }
      case OP_TDCALL:
      case OP_VMCALL: {
        const snap = this.snapshot();
        try {
          if (insn.op === OP_TDCALL) this.bus.tdcall(this);
          else this.bus.vmcall(this);
        } catch (e) {
          this.restore(snap);
          throw e;
        }
        this.syncTlb();
        break;
      }
      case OP_CALL_SERVICE: {
        if (!this.kernel) {
          throw new GuestFault(`call ${insn.service} at ${hex(insn.addr)}: there is no guest kernel to provide this service`, insn.addr);
        }
        // A VcpuExit from the service propagates with rip still at the call: the service is called
        // again on re-entry and continues where it stopped (its registers are left as it set them).
        this.kernel.callService(insn.service, this, this.bus);
        this.syncTlb();
        break;
      }
      case OP_UD2:
        throw new GuestException('UD', `ud2 at ${hex(insn.addr)}`);
      case OP_INT3:
        throw new GuestFault(`int3 breakpoint at ${hex(insn.addr)}`, insn.addr);
      default:
        throw new GuestFault(`instruction '${insn.text}' at ${hex(insn.addr)} is not implemented`, insn.addr);
    }
    this.rip = next;
  }

  private push(lo: number, hi: number): void {
    const r = this.r;
    let slo = r[2 * RSP] - 8;
    let shi = r[2 * RSP + 1];
    if (slo < 0) {
      slo += TWO32;
      shi = (shi - 1) >>> 0;
    }
    this.prepWrite(addrOf(slo, shi), 8);
    this.commit(lo, hi, 8);
    r[2 * RSP] = slo;
    r[2 * RSP + 1] = shi;
  }

  private rcxZero(): boolean {
    return (this.r[2 * RCX] | this.r[2 * RCX + 1]) === 0;
  }

  /** Elements left in rcx, capped (rcx may be a full 64-bit count). */
  private rcxCapped(cap: number): number {
    return this.r[2 * RCX + 1] !== 0 ? cap : Math.min(this.r[2 * RCX], cap);
  }

  /** stos: store al/ax/eax/rax at [rdi]; with rep, page by page (an exit leaves rcx/rdi consistent). */
  private stos(insn: Insn): void {
    const size = insn.size;
    const r = this.r;
    if (!insn.rep) {
      const lo = size === 8 ? r[0] : this.accValue(size);
      this.prepWrite(this.regAddr(RDI), size);
      this.commit(lo, size === 8 ? r[1] : 0, size);
      this.addReg(RDI, size);
      return;
    }
    while (!this.rcxZero()) {
      const addr = this.regAddr(RDI);
      if (size === 1) {
        const off = addr & 0xfff;
        const p = this.page(addr, WRITE);
        const n = this.rcxCapped(PAGE - off);
        p.fill(r[0] & 0xff, off, off + n);
        this.tokens[this.lastFrame] = ++this.tokenSeq[0];
        this.addReg(RDI, n);
        this.addReg(RCX, -n);
      } else {
        this.prepWrite(addr, size);
        this.commit(size === 8 ? r[0] : this.accValue(size), size === 8 ? r[1] : 0, size);
        this.addReg(RDI, size);
        this.addReg(RCX, -1);
      }
    }
  }

  /** movs: copy [rsi] to [rdi]; with rep, in chunks that stay inside both pages. */
  private movs(insn: Insn): void {
    const size = insn.size;
    if (!insn.rep) {
      const lo = this.readMem(this.regAddr(RSI), size);
      const hi = this.vhi;
      this.prepWrite(this.regAddr(RDI), size);
      this.commit(lo, hi, size);
      this.addReg(RSI, size);
      this.addReg(RDI, size);
      return;
    }
    while (!this.rcxZero()) {
      const src = this.regAddr(RSI);
      const dst = this.regAddr(RDI);
      if (size === 1) {
        const soff = src & 0xfff;
        const doff = dst & 0xfff;
        const sp = this.page(src, READ);
        const dp = this.page(dst, WRITE);
        const n = this.rcxCapped(Math.min(PAGE - soff, PAGE - doff));
        // Byte by byte, forwards: overlapping copies behave as on hardware.
        for (let i = 0; i < n; i++) dp[doff + i] = sp[soff + i];
        this.tokens[this.lastFrame] = ++this.tokenSeq[0];
        this.addReg(RSI, n);
        this.addReg(RDI, n);
        this.addReg(RCX, -n);
      } else {
        const lo = this.readMem(src, size);
        const hi = this.vhi;
        this.prepWrite(dst, size);
        this.commit(lo, hi, size);
        this.addReg(RSI, size);
        this.addReg(RDI, size);
        this.addReg(RCX, -1);
      }
    }
  }
}

/** The source text of the instruction at addr, or undefined (for traces and the UI). */
export function disassembleAt(program: Program, addr: number): string | undefined {
  return program.insnAt.get(addr)?.text;
}

/** A trace line for the instruction at addr: `0x1000: mov rax, 5  ; line 3`. */
export function describeInsn(program: Program, addr: number): string {
  const insn = program.insnAt.get(addr);
  if (!insn) return `${hex(addr)}: (no instruction)`;
  return `${hex(addr)}: ${insn.text}  ; line ${insn.line}`;
}
