/**
 * The guest kernel's services for workloads with rates in virtual time:
 *
 *     sleep_ns(rdi = nanoseconds)                                          → rax = 0
 *     dirty_memory(rdi = base GPA, rsi = bytes, rdx = rate in bytes per virtual second,
 *                  rcx = pattern (0 uniform, 1 sequential, 2 hot set; | 0x100 CPU-bound), r8 = duration in ns,
 *                  r9 = seed)                                              → rax = writes done
 *
 * Both wait the way Linux does: read the TSC (RDMSR IA32_TIME_STAMP_COUNTER), arm the local APIC
 * timer in TSC-deadline mode (WRMSR IA32_TSC_DEADLINE; in a TD the #VE handler's
 * TDG.VP.VMCALL<Instruction.WRMSR>) and halt (HLT; in a TD TDG.VP.VMCALL<Instruction.HLT>, as
 * tdx_safe_halt() does). The halted vCPU costs nothing until its timer fires: the scheduler moves
 * the clock there.
 *
 * dirty_memory dirties whole pages of the working set [base, base + bytes): write number i is due at
 * start + i × 4096 / rate seconds (the rate counts a page per write, as a migration's dirty rate
 * does) and stores 8 bytes (the write's number) in its page through the CPU bus, so each write takes
 * the EPT fault, dirty logging and everything else a program's store takes. It wakes at most once a
 * jiffy (HZ = 250, Linux's default: every 4 ms) and does the writes due by then. A CPU-bound workload
 * (pattern | DIRTY_CPU_BOUND) does at most a jiffy's writes per wake-up: when its vCPU was kept off
 * the CPU (auto-converge's throttle) it does not make up the writes it missed, its schedule moves
 * later instead — so throttling the vCPU lowers its dirty rate, as it does for a guest that writes
 * memory as fast as it runs. A timed one catches up, as a task driven by the clock does. Which page write i
 * hits depends only on (seed, i): uniform over the working set, sequential (wrapping), or a hot set
 * (nine writes in ten go to the first tenth of the pages, the rest uniformly to the others). A TD's
 * working set is accepted first, as Linux accepts memory before it hands it out.
 *
 * Each service keeps its progress in plain fields (no generator), so a VM exit in the middle — a
 * memory fault, the halt itself — resumes where it stopped when the vCPU re-enters the `call`.
 */
import { TSC_HZ } from '../../core/clock';
import { formatSize, hex } from '../../core/units';
import type { CpuBus, CpuRegs } from '../../cpu/bus';
import { GuestException } from '../../cpu/bus';
import { EXIT_REASON_HLT, EXIT_REASON_MSR_WRITE } from '../../abi/tdx';
import { MSR_IA32_TSC, MSR_IA32_TSC_DEADLINE } from '../../abi/msr';
import type { Platform } from './boot';
import type { OpRegs } from './boot-exec';

export const TIMED_SERVICES = ['sleep_ns', 'dirty_memory'] as const;
export type TimedService = (typeof TIMED_SERVICES)[number];

export const DIRTY_PATTERNS = ['uniform', 'sequential', 'hot-set'] as const;
/** The pattern register's flag for a CPU-bound workload (no catching up after the vCPU was kept off the CPU). */
export const DIRTY_CPU_BOUND = 0x100;
export type DirtyPattern = (typeof DIRTY_PATTERNS)[number];

/** Linux's default tick (CONFIG_HZ_250): the workload wakes at most this often. */
export const JIFFY_NS = 4_000_000;

const PAGE = 4096;
const EINVAL = BigInt.asUintN(64, -22n);
const EIO = BigInt.asUintN(64, -5n);

type Log = (name: string, args: Record<string, string | number | boolean>, text: string, gfns?: readonly [number, number]) => void;

interface KernelCalls {
  accept(start: number, size: number, bus: CpuBus): bigint;
  tdvmcall(bus: CpuBus, sub: number, r12: bigint, r13?: bigint): OpRegs;
}

/** A timed call in progress: plain data, kept across exits. */
interface TimedOp {
  service: TimedService;
  key: string;
  /** accept (a TD's working set) → run (do what is due) → arm (the timer) → halt → run ... */
  phase: 'accept' | 'run' | 'arm' | 'halt';
  /** TSC at the start, and when the next wake-up is due. */
  start: number;
  wake: number;
  /** sleep_ns: when it ends. */
  until: number;
  base: number;
  bytes: number;
  rate: number;
  pattern: DirtyPattern;
  /** CPU-bound: at most a jiffy's writes per wake-up (DIRTY_CPU_BOUND). */
  cpuBound: boolean;
  seed: number;
  total: number;
  done: number;
}

/** What the dirty_memory workload has done so far on this vCPU (for the report and tests). */
export interface DirtyStats {
  writes: number;
  wakeups: number;
  running: boolean;
}

/** A 32-bit integer hash (the finaliser of MurmurHash3): the page of write i depends on (seed, i) only. */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The page (index in the working set) that write `i` dirties. */
export function dirtyPage(pattern: DirtyPattern, pages: number, seed: number, i: number): number {
  if (pattern === 'sequential') return i % pages;
  const h = mix(seed ^ mix(i + 0x9e3779b9));
  if (pattern === 'uniform') return h % pages;
  const hot = Math.max(1, Math.floor(pages / 10));
  if (pages === hot || h % 10 !== 0) return mix(h) % hot;
  return hot + (mix(h) % (pages - hot));
}

export class TimedServices {
  /** Wiring the kernel's constructor makes (its log and its accept/TDVMCALL paths); the progress is `op`. */
  static readonly stateSkip: readonly string[] = ['log', 'kernel'];
  private op: TimedOp | null = null;
  readonly stats: DirtyStats = { writes: 0, wakeups: 0, running: false };

  constructor(private readonly platform: Platform, private readonly log: Log, private readonly kernel: KernelCalls) {}

  call(name: TimedService, regs: CpuRegs, bus: CpuBus): bigint {
    const arg = (r: 'rdi' | 'rsi' | 'rdx' | 'rcx' | 'r8' | 'r9'): number => Number(BigInt.asUintN(52, regs.get(r)));
    const key = name === 'sleep_ns' ? `sleep:${arg('rdi')}` : `dirty:${arg('rdi')}:${arg('rsi')}:${arg('rdx')}:${arg('rcx')}:${arg('r8')}:${arg('r9')}`;
    if (!this.op || this.op.key !== key) {
      const r = name === 'sleep_ns' ? this.startSleep(key, arg('rdi'), bus) : this.startDirty(key, arg('rdi'), arg('rsi'), arg('rdx'), arg('rcx'), arg('r8'), arg('r9'), bus);
      if (r !== null) return r;
    }
    return this.continue(bus);
  }

  private startSleep(key: string, ns: number, bus: CpuBus): bigint | null {
    const now = this.readTsc(bus);
    const ticks = Math.ceil((ns * TSC_HZ) / 1e9);
    this.op = { service: 'sleep_ns', key, phase: 'run', start: now, wake: now + ticks, until: now + ticks, base: 0, bytes: 0, rate: 0, pattern: 'uniform', cpuBound: false, seed: 0, total: 0, done: 0 };
    this.log('sleep_ns', { ns }, `The guest kernel puts the task to sleep for ${ns} ns: it arms the TSC-deadline timer and halts the vCPU.`);
    return null;
  }

  private startDirty(key: string, base: number, bytes: number, rate: number, patternArg: number, duration: number, seed: number, bus: CpuBus): bigint | null {
    const cpuBound = (patternArg & DIRTY_CPU_BOUND) !== 0;
    const pattern = patternArg & ~DIRTY_CPU_BOUND;
    const problem = base % PAGE ? `the base ${hex(base)} is not page aligned` : bytes < PAGE ? `the working set of ${bytes} bytes is smaller than a page`
      : rate <= 0 ? 'the rate is 0 bytes per second' : pattern >= DIRTY_PATTERNS.length ? `pattern ${pattern} is not 0 (uniform), 1 (sequential) or 2 (hot set)` : null;
    if (problem) {
      this.log('dirty_memory', { base: hex(base), bytes, rate, pattern }, `dirty_memory is refused: ${problem}.`);
      return EINVAL;
    }
    const now = this.readTsc(bus);
    const p = DIRTY_PATTERNS[pattern];
    const total = Math.floor((rate * duration) / 1e9 / PAGE);
    const pages = Math.floor(bytes / PAGE);
    this.op = { service: 'dirty_memory', key, phase: this.platform === 'tdx' ? 'accept' : 'run', start: now, wake: now, until: 0, base, bytes: pages * PAGE, rate, pattern: p, cpuBound, seed, total, done: 0 };
    this.stats.running = true;
    this.log('dirty_memory', { base: hex(base), bytes: pages * PAGE, rate, pattern: p, duration, seed, writes: total, ...(cpuBound ? { cpu_bound: true } : {}) },
      `The guest starts dirtying ${formatSize(pages * PAGE)} at ${hex(base)}: ${formatSize(rate)} per second (${p}${cpuBound ? ', CPU-bound: a throttled vCPU falls behind' : ''}), for ${duration} ns — ${total} page writes, waking at most every ${JIFFY_NS / 1e6} ms.`,
      [base / PAGE, pages]);
    return null;
  }

  private continue(bus: CpuBus): bigint {
    const op = this.op!;
    for (;;) {
      switch (op.phase) {
        case 'accept': {
          const r = this.kernel.accept(op.base, op.bytes, bus);
          if (r !== 0n) return this.end(EIO);
          op.phase = 'run';
          break;
        }
        case 'run': {
          const now = this.readTsc(bus);
          if (op.service === 'sleep_ns') {
            if (now >= op.until) return this.end(0n);
            op.wake = op.until;
          } else {
            this.writeDue(op, now, bus);
            if (op.done >= op.total) return this.end(BigInt(op.done));
            // Wake at the first jiffy boundary at which the next write is due.
            const next = op.start + Math.ceil((op.done * PAGE * TSC_HZ) / op.rate);
            const jiffy = (JIFFY_NS * TSC_HZ) / 1e9;
            op.wake = op.start + Math.max(Math.ceil((next - op.start) / jiffy), Math.floor((now - op.start) / jiffy) + 1) * jiffy;
          }
          op.phase = 'arm';
          break;
        }
        case 'arm':
          this.armTimer(op.wake, bus);
          op.phase = 'halt';
          break;
        case 'halt':
          this.halt(op, bus);
          if (op.service === 'dirty_memory') this.stats.wakeups++;
          break;
      }
    }
  }

  /** Do every write due by TSC `now`; `done` moves only after a write completed (an exit repeats it). */
  private writeDue(op: TimedOp, now: number, bus: CpuBus): void {
    let due = Math.min(op.total, Math.floor(((now - op.start) * op.rate) / TSC_HZ / PAGE) + 1);
    if (op.cpuBound) {
      // At most a jiffy's writes (and one) per wake-up; the missed ones move the schedule later.
      const most = Math.ceil((op.rate * JIFFY_NS) / 1e9 / PAGE) + 1;
      const behind = due - op.done - most;
      if (behind > 0) {
        op.start += Math.ceil((behind * PAGE * TSC_HZ) / op.rate);
        due = op.done + most;
      }
    }
    const pages = op.bytes / PAGE;
    while (op.done < due) {
      const i = op.done;
      const gpa = op.base + dirtyPage(op.pattern, pages, op.seed, i) * PAGE;
      const off = (i * 64) % PAGE;
      const page = bus.page(gpa + off, 'write');
      let v = i + 1;
      for (let b = 0; b < 8; b++) {
        page[off + b] = v & 0xff;
        v = Math.floor(v / 256);
      }
      op.done++;
      this.stats.writes++;
    }
  }

  private end(ret: bigint): bigint {
    const op = this.op!;
    this.op = null;
    if (op.service === 'dirty_memory') {
      this.stats.running = false;
      this.log('dirty_memory', { writes: op.done, status: ret === EIO ? 'EIO' : 'done' },
        ret === EIO ? 'dirty_memory stops: the working set could not be accepted.' : `The workload is done: ${op.done} page writes over ${formatSize(op.bytes)}.`);
    }
    return ret;
  }

  private readTsc(bus: CpuBus): number {
    return Number(bus.rdmsr(MSR_IA32_TSC));
  }

  /** WRMSR IA32_TSC_DEADLINE; in a TD it raises #VE and the handler asks KVM with a TDVMCALL. */
  private armTimer(tsc: number, bus: CpuBus): void {
    try {
      bus.wrmsr(MSR_IA32_TSC_DEADLINE, BigInt(tsc));
    } catch (e) {
      if (!(e instanceof GuestException && e.vector === 'VE' && this.platform === 'tdx')) throw e;
      this.kernel.tdvmcall(bus, EXIT_REASON_MSR_WRITE, BigInt(MSR_IA32_TSC_DEADLINE), BigInt(tsc));
    }
  }

  /**
   * Halt until the timer (or another interrupt) wakes the vCPU. HLT throws out of the service (the
   * vCPU blocks); the vCPU re-enters the `call`, which goes on at 'run'. A TD's
   * TDG.VP.VMCALL<Instruction.HLT> is issued again on re-entry and then returns: KVM completes it.
   */
  private halt(op: TimedOp, bus: CpuBus): void {
    if (this.platform === 'tdx') {
      this.kernel.tdvmcall(bus, EXIT_REASON_HLT, 0n);
      op.phase = 'run';
      return;
    }
    op.phase = 'run';
    bus.hlt();
  }
}
