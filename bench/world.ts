/**
 * Building simulated machines for the benchmark, the way ScenarioRun does (src/sim/scenario/runner.ts):
 * a virtual clock, a trace with the runner's event limit, a host, KVM with the TDX module, and VMs
 * built by the QEMU-like VMM (VmmVm) from a machine description.
 */
import { Clock } from '../src/sim/core/clock';
import { Trace } from '../src/sim/core/trace';
import { MiB, PAGE_SIZE } from '../src/sim/core/units';
import { assemble, type Program } from '../src/sim/guest/asm';
import type { Cpu } from '../src/sim/cpu';
import { LinuxGuestKernel } from '../src/sim/guest/kernel/kernel';
import { Host } from '../src/sim/host/host';
import { Kvm } from '../src/sim/kvm/kvm';
import { VmmVm, type RunOutcome, type VmKind } from '../src/sim/vmm/vmm';
import { BenchError, check } from './util';

/** The event limit ScenarioRun gives its trace (the CLI and the UI run scenarios through it). */
export const TRACE_LIMIT = 200_000;
/** Where programs are assembled and loaded (the scenario schema's default origin). */
export const ORIGIN = 0x100000;

/** The guest kernel's service names, taken from the kernel itself so that they stay in sync. */
const SERVICES = new LinuxGuestKernel('none', new Trace(() => 0), { vm: 'bench', vcpu: 0 }).services;

export interface World {
  clock: Clock;
  trace: Trace;
  host: Host;
  kvm: Kvm;
}

export function makeWorld(hostBytes: number, name = 'bench-host'): World {
  const clock = new Clock();
  const trace = new Trace(() => clock.now, TRACE_LIMIT);
  const host = new Host({ name, memoryBytes: hostBytes }, clock, trace);
  const kvm = new Kvm(host);
  return { clock, trace, host, kvm };
}

export function assembleProgram(source: string): Program {
  try {
    return assemble(source, { origin: ORIGIN, services: SERVICES });
  } catch (e) {
    throw new BenchError(`the benchmark's guest program does not assemble: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export interface VmOptions {
  name: string;
  kind: VmKind;
  memoryBytes: number;
  program: Program;
  /** TD only: how much TDVF accepts before the program runs. */
  firmwareAcceptBytes?: number;
}

export function buildVm(w: World, o: VmOptions): VmmVm {
  try {
    return new VmmVm(w.host, w.kvm, {
      name: o.name,
      kind: o.kind,
      memoryBytes: o.memoryBytes,
      program: o.program,
      discardOnConvert: true,
      tdx: o.kind === 'tdx' ? { septVeDisable: true, debug: false, gpaw: 48, firmwareAcceptBytes: o.firmwareAcceptBytes ?? 2 * MiB } : undefined,
    });
  } catch (e) {
    throw new BenchError(`cannot build ${o.kind} VM "${o.name}" (${o.memoryBytes / MiB} MiB): ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function cpuOf(v: VmmVm): Cpu {
  const c = v.cpus[0];
  if (!c) throw new BenchError(`VM "${v.desc.name}" has no vCPU 0`);
  return c;
}

/**
 * Start the program again from its entry point. The harness does this between passes the way a
 * debugger would: it is not part of what is measured and needs no exit or device model.
 */
export function restart(v: VmmVm, regs: Partial<Record<'rdi' | 'rsi', number>> = {}): void {
  const cpu = cpuOf(v);
  v.vcpus[0].resetRunState();
  cpu.rip = v.desc.program.entry;
  for (const [r, val] of Object.entries(regs)) cpu.set(r as 'rdi' | 'rsi', BigInt(val));
}

/** Run the vCPU until the guest halts; anything else is a benchmark failure with the reason. */
export function runToHalt(v: VmmVm, budget: number): RunOutcome {
  const o = v.run(0, 'halt', budget);
  check(o.stop === 'halted', `VM "${v.desc.name}" (${v.desc.kind}) did not halt: stop=${o.stop}: ${o.message}` +
    (o.lastExit ? ` (last exit ${o.lastExit.reason})` : ''));
  return o;
}

export const pagesOf = (bytes: number): number => bytes / PAGE_SIZE;
