/**
 * A resumable executor for long guest-kernel services (the firmware and the kernel boot).
 *
 * A service's bus access may throw VcpuExit: the access leaves the guest, and when the vCPU is
 * entered again the CPU re-executes the `call`, expecting the bus to answer that same access from
 * the completion user space gave. So a long service is written as a generator that yields one bus
 * operation at a time; the executor keeps the pending operation across the exit, performs it again
 * when the service is called again, and only then resumes the generator with its result. Code
 * between two operations therefore runs exactly once, and so does every trace event it emits.
 */
import type { TraceSink } from '../../core/trace';
import { type CpuBus, type CpuRegs, GuestException, MmioAccess, type Reg64, VcpuExit } from '../../cpu/bus';

/** One bus operation. `quiet` mutes the trace around this one access (the console's per-character writes). */
export type BusOp = { quiet?: boolean } & (
  | { kind: 'io'; port: number; size: 1 | 2 | 4; dirIn: boolean; value: number }
  | { kind: 'mmio'; gpa: number; size: 1 | 2 | 4; isWrite: boolean; value: number }
  | { kind: 'read'; gpa: number; length: number }
  | { kind: 'write'; gpa: number; bytes: Uint8Array }
  | { kind: 'rdmsr'; msr: number }
  | { kind: 'wrmsr'; msr: number; value: bigint }
  | { kind: 'cpuid'; leaf: number; subleaf: number }
  | { kind: 'tdcall'; regs: Partial<Record<Reg64, bigint>> }
);

/**
 * What an operation gives back: io/mmio a number, read a Uint8Array, rdmsr a bigint, cpuid four
 * numbers, tdcall the registers after the call, write/wrmsr undefined — or the GuestException the
 * access raised (a #VE or #GP is the service's to handle, as Linux's own fixups do).
 */
export type OpResult = number | bigint | Uint8Array | [number, number, number, number] | CpuRegs | GuestException | undefined;

export type BootGen<T> = Generator<BusOp, T, OpResult>;

/** Registers of a TDCALL the kernel makes on its own behalf. */
export class OpRegs implements CpuRegs {
  private r = new Map<Reg64, bigint>();
  rip = 0;
  constructor(init: Partial<Record<Reg64, bigint>> = {}) {
    for (const [k, v] of Object.entries(init)) this.r.set(k as Reg64, BigInt.asUintN(64, v));
  }
  get(reg: Reg64): bigint {
    return this.r.get(reg) ?? 0n;
  }
  /** The registers set, as [name, value] pairs (for saved state). */
  entries(): [Reg64, bigint][] {
    return [...this.r.entries()];
  }
  set(reg: Reg64, v: bigint): void {
    this.r.set(reg, BigInt.asUintN(64, v));
  }
}

const PAGE = 4096;

/** Perform one operation on the bus. VcpuExit propagates; a GuestException is returned as the result. */
function perform(op: BusOp, bus: CpuBus): OpResult {
  try {
    switch (op.kind) {
      case 'io':
        return bus.io(op.port, op.size, op.dirIn, op.value);
      case 'mmio':
        return mmio(bus, op.gpa, op.size, op.isWrite, op.value);
      case 'read': {
        const out = new Uint8Array(op.length);
        for (let done = 0; done < op.length;) {
          const gpa = op.gpa + done;
          const off = gpa % PAGE;
          const n = Math.min(PAGE - off, op.length - done);
          out.set(bus.page(gpa, 'read').subarray(off, off + n), done);
          done += n;
        }
        return out;
      }
      case 'write':
        for (let done = 0; done < op.bytes.length;) {
          const gpa = op.gpa + done;
          const off = gpa % PAGE;
          const n = Math.min(PAGE - off, op.bytes.length - done);
          bus.page(gpa, 'write').set(op.bytes.subarray(done, done + n), off);
          done += n;
        }
        return undefined;
      case 'rdmsr':
        return bus.rdmsr(op.msr);
      case 'wrmsr':
        bus.wrmsr(op.msr, op.value);
        return undefined;
      case 'cpuid':
        return bus.cpuid(op.leaf, op.subleaf);
      case 'tdcall': {
        const r = new OpRegs(op.regs);
        bus.tdcall(r);
        return r;
      }
    }
  } catch (e) {
    if (e instanceof GuestException) return e;
    throw e;
  }
}

/** An MMIO access as the CPU does it: RAM answers directly; where none is, page() says so and mmio() exits. */
function mmio(bus: CpuBus, gpa: number, size: number, isWrite: boolean, value: number): number {
  let page: Uint8Array;
  try {
    page = bus.page(gpa, isWrite ? 'write' : 'read');
  } catch (e) {
    if (e instanceof MmioAccess) return bus.mmio(gpa, size, isWrite, value);
    throw e;
  }
  const off = gpa % PAGE;
  let v = 0;
  for (let i = size - 1; i >= 0; i--) {
    if (isWrite) page[off + i] = (value >>> (8 * i)) & 0xff;
    else v = v * 256 + page[off + i];
  }
  return isWrite ? 0 : v;
}

/**
 * An answer as saved state: what the generator was given, in plain data (OpRegs as its registers,
 * a GuestException as its fields).
 */
export type SavedAnswer =
  | { v: number | bigint | Uint8Array | [number, number, number, number] | undefined }
  | { regs: [Reg64, bigint][]; rip: number }
  | { exc: { vector: GuestException['vector']; message: string; ve?: GuestException['ve'] } };

/**
 * A service in progress, as saved state: which service, the arguments it was started with, and the
 * answers its generator has been given so far. A generator's suspended frame cannot be saved, but
 * it is deterministic: a fresh generator started with the same arguments and given the same answers
 * is at the same point, with the same locals (ResumableRunner.loadState re-drives it).
 */
export interface ResumableState {
  job: { name: string; args: number[]; answers: SavedAnswer[] } | null;
}

function saveAnswer(r: OpResult): SavedAnswer {
  if (r instanceof OpRegs) return { regs: r.entries(), rip: r.rip };
  if (r instanceof GuestException) return { exc: { vector: r.vector, message: r.message, ve: r.ve && structuredClone(r.ve) } };
  if (r instanceof Uint8Array) return { v: r.slice() };
  if (Array.isArray(r)) return { v: [r[0], r[1], r[2], r[3]] };
  if (r === undefined || typeof r === 'number' || typeof r === 'bigint') return { v: r };
  throw new Error('state: a boot service was answered with registers that are not OpRegs');
}

function loadAnswer(a: SavedAnswer): OpResult {
  if ('regs' in a) {
    const r = new OpRegs();
    for (const [k, v] of a.regs) r.set(k, v);
    r.rip = a.rip;
    return r;
  }
  if ('exc' in a) return new GuestException(a.exc.vector, a.exc.message, a.exc.ve && structuredClone(a.exc.ve));
  return a.v instanceof Uint8Array ? a.v.slice() : Array.isArray(a.v) ? [a.v[0], a.v[1], a.v[2], a.v[3]] : a.v;
}

/**
 * Runs resumable services, one at a time, keeping the one in progress across VM exits. It logs the
 * answers it gives the service's generator, so that the service in progress can be saved
 * (saveState) and re-driven in a fresh runner (loadState).
 */
export class ResumableRunner {
  private job: { name: string; args: number[]; gen: BootGen<unknown>; step: IteratorResult<BusOp, unknown>; answers: OpResult[] } | null = null;

  constructor(private readonly trace: TraceSink) {}

  /**
   * Run (or continue) the service `name`. `start(args)` makes its generator the first time; when
   * the service is called again after a VcpuExit, the pending operation is performed again instead.
   * `args` must be all the generator depends on besides its answers (for loadState).
   */
  run<T>(name: string, args: number[], start: (args: number[]) => BootGen<T>, bus: CpuBus): T {
    if (!this.job || this.job.name !== name) {
      this.job = null;
      const gen = start(args);
      this.job = { name, args, gen, step: gen.next(undefined), answers: [] };
    }
    const job = this.job;
    try {
      while (!job.step.done) {
        const op = job.step.value;
        // The mute covers this one access only: a VcpuExit leaves the quietly() block with it.
        const result = op.quiet ? this.trace.quietly(() => perform(op, bus)) : perform(op, bus);
        job.answers.push(result);
        job.step = job.gen.next(result);
      }
    } catch (e) {
      if (!(e instanceof VcpuExit)) this.job = null;
      throw e;
    }
    this.job = null;
    return job.step.value as T;
  }

  saveState(): ResumableState {
    const j = this.job;
    return { job: j && { name: j.name, args: [...j.args], answers: j.answers.map(saveAnswer) } };
  }

  /**
   * Put back the service in progress: start a fresh generator with the saved arguments and give it
   * the saved answers again, with the trace muted (its events are in the saved trace already).
   * `start` must be the one run() was given for that service.
   */
  loadState(s: ResumableState, start: (name: string, args: number[]) => BootGen<unknown>): void {
    this.job = null;
    const saved = s.job;
    if (!saved) return;
    this.trace.quietly(() => {
      const gen = start(saved.name, saved.args);
      const answers = saved.answers.map(loadAnswer);
      let step = gen.next(undefined);
      for (const a of answers) {
        if (step.done) throw new Error(`state: the saved ${saved.name} ended before its ${answers.length} saved answers were given`);
        step = gen.next(a);
      }
      if (step.done) throw new Error(`state: the saved ${saved.name} was in progress, but re-driving it ends it`);
      this.job = { name: saved.name, args: [...saved.args], gen, step, answers };
    });
  }
}
