/**
 * Snapshots of a whole run: the machine (clock, trace, random numbers, host memory and processes,
 * KVM's VMs and vCPUs, the TDX module's TDs, the VMMs with their devices, the guest CPUs and
 * kernels) and the runner's position (next step, the run step in progress, results so far), as one
 * plain, structured-clonable value. Restoring builds a fresh run from the same scenario (the
 * constructors make the structure and its wiring: closures, notifiers, compiled programs), makes the
 * parts the scenario's steps made since (VMs, guest_memfds, vCPUs, CPUs: the factories below), and
 * loads every part's saved state into it (core/state.ts). The restored run then behaves exactly as
 * the original would have (snapshot.test.ts proves it on every preset).
 */
import { Cpu } from './cpu';
import { assemble } from './guest/asm';
import { KERNEL_SERVICES, LinuxGuestKernel, type Platform } from './guest/kernel/kernel';
import type { Host } from './host/host';
import { Process } from './host/process';
import { GuestMemfd } from './kvm/guest-memfd';
import type { Kvm } from './kvm/kvm';
import { Vcpu } from './kvm/vcpu';
import { Vm } from './kvm/vm';
import { type PartState, type RefState, type StateFactories, loadGraph, resolvePath, saveGraph, stateClass } from './core/state';
import { ScenarioRun } from './scenario/runner';
import { parseScenario, type ScenarioT } from './scenario/schema';

export const SNAPSHOT_FORMAT = 'guest-memory-lab/snapshot';
export const SNAPSHOT_VERSION = 1;

/** A saved run: plain data (structuredClone and postMessage carry it; JSON does not: typed arrays, bigints, Maps). */
export interface RunSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: typeof SNAPSHOT_VERSION;
  /** The scenario's title and seed, to catch a snapshot restored with another scenario. */
  title: string;
  seed: number;
  /** The runner's position, for a reader (the same values are in `state`). */
  next: number;
  events: number;
  time_ns: number;
  state: PartState;
}

stateClass('Process', Process);
stateClass('Vm', Vm);
stateClass('GuestMemfd', GuestMemfd);
stateClass('Vcpu', Vcpu);
stateClass('Cpu', Cpu);
stateClass('LinuxGuestKernel', LinuxGuestKernel);
stateClass('ScenarioRun', ScenarioRun);

const isRef = (v: unknown): v is RefState => typeof v === 'object' && v !== null && '$ref' in v;

/** How a restore makes the parts a fresh run from the scenario does not have yet. */
const FACTORIES: StateFactories = {
  Process: (s, ctx) => (ctx.owner as Host).spawn(String(s.name)),
  Vm: (s, ctx) => {
    const kvm = ctx.owner as Kvm;
    const proc = isRef(s.vmm) ? (resolvePath(ctx.root, s.vmm.$ref) as Process) : null;
    if (!proc) throw new Error(`state: VM "${String(s.name)}" names no process that made it`);
    return kvm.createVm(Number(s.type), String(s.name), proc.pid);
  },
  GuestMemfd: (s, ctx) => (ctx.owner as Vm).createGuestMemfd(Number(s.size), Number(s.flags)),
  Vcpu: (s, ctx) => (ctx.owner as Vm).createVcpu(Number(s.id)),
  Cpu: (s, ctx) => {
    const vcpu = ctx.owner as Vcpu;
    const k = s.kernel as PartState & { platform: Platform };
    const src = s.source as { origin: number; lines: string[] };
    const kernel = new LinuxGuestKernel(k.platform, vcpu.vm.kvm.host.trace, { vm: vcpu.vm.name, vcpu: vcpu.id });
    return new Cpu(assemble(src.lines.join('\n'), { origin: src.origin, services: KERNEL_SERVICES }), vcpu, kernel);
  },
};

/** Save a run, wherever it is (between steps or inside a run step advanced by slices). */
export function snapshotRun(run: ScenarioRun): RunSnapshot {
  return {
    format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, title: run.scenario.title, seed: run.scenario.seed,
    next: run.next, events: run.trace.count, time_ns: run.clock.now,
    state: saveGraph(run),
  };
}

/**
 * A fresh run of `scenario` put in the state `snap` saved: it continues exactly as the saved run
 * would have. Throws with a clear message when the snapshot is not one, or is of another scenario.
 */
export function restoreRun(scenario: ScenarioT | unknown, snap: RunSnapshot): ScenarioRun {
  if (snap?.format !== SNAPSHOT_FORMAT) throw new Error(`not a snapshot (format is ${JSON.stringify(snap?.format)}, expected "${SNAPSHOT_FORMAT}")`);
  if (snap.version !== SNAPSHOT_VERSION) throw new Error(`snapshot version ${snap.version} is not supported (this build reads version ${SNAPSHOT_VERSION})`);
  const sc = parseScenario(scenario);
  if (sc.title !== snap.title || sc.seed !== snap.seed)
    throw new Error(`the snapshot is of scenario "${snap.title}" (seed ${snap.seed}), not of "${sc.title}" (seed ${sc.seed})`);
  const run = new ScenarioRun(sc);
  // Twice: the first pass makes the missing parts (whose constructors allocate frames, emit events
  // and move the clock), the second puts every value back over what those constructors did.
  loadGraph(run, snap.state, FACTORIES);
  loadGraph(run, snap.state, FACTORIES);
  return run;
}
