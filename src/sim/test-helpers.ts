/**
 * Shared helpers for the simulator's unit and property tests (not used by the simulator itself).
 * Scenarios are built from small step lists, the way a kernel selftest calls ioctls by hand.
 */
import type { SimEvent } from './core/trace';
import { GuestException, type CpuRegs, type Reg64 } from './cpu/bus';
import { KvmExitSignal, VmDeadSignal } from './kvm/run';
import type { Vcpu } from './kvm/vcpu';
import { ScenarioRun, type StepResult } from './scenario/runner';

export type StepIn = { do: string } & Record<string, unknown>;

export interface ScenarioOptions {
  vms?: Record<string, unknown>[];
  hostMemory?: string;
  seed?: number;
  title?: string;
  /** Posted kernel series the host has (schema: hosts[].kernel_series). */
  kernelSeries?: string[];
}

/** A scenario document (not yet run). Host memory is small by default so that tests stay fast. */
export function scenarioDoc(steps: StepIn[], opts: ScenarioOptions = {}): Record<string, unknown> {
  return {
    version: 2,
    title: opts.title ?? 'unit test',
    seed: opts.seed ?? 1,
    hosts: [{ name: 'host0', memory: opts.hostMemory ?? '512M', ...(opts.kernelSeries ? { kernel_series: opts.kernelSeries } : {}) }],
    vms: opts.vms ?? [],
    steps,
  };
}

export function scenario(steps: StepIn[], opts: ScenarioOptions = {}): ScenarioRun {
  return ScenarioRun.fromJson(scenarioDoc(steps, opts));
}

/** Run every step; return the run and its step results. */
export function runSteps(steps: StepIn[], opts: ScenarioOptions = {}): { run: ScenarioRun; r: StepResult[] } {
  const run = scenario(steps, opts);
  run.runAll();
  return { run, r: run.results };
}

/** The last step result of a run. */
export function last(run: ScenarioRun): StepResult {
  return run.results[run.results.length - 1];
}

/** The events a step emitted. */
export function stepEvents(run: ScenarioRun, res: StepResult): SimEvent[] {
  const [from, to] = res.events;
  return run.trace.events.filter((e) => e.seq >= from && e.seq < to);
}

export function eventNames(events: readonly SimEvent[]): string[] {
  return events.map((e) => e.name);
}

/** Events of the whole run with this name. */
export function named(run: ScenarioRun, name: string): SimEvent[] {
  return run.trace.events.filter((e) => e.name === name);
}

/**
 * The KVM-level set-up of private_mem_conversions_test: a VM of `type`, an anonymous mapping "mem"
 * (the shared backing), a guest_memfd "gmem" of the same size, memslot 0 binding both at GPA 0, vCPU 0.
 */
export function kvmSetup(opts: { type?: number; size?: string | number; vm?: string; gmem?: boolean } = {}): StepIn[] {
  const vm = opts.vm ?? 'vm';
  const size = opts.size ?? '2M';
  const gmem = opts.gmem ?? true;
  return [
    { do: 'KVM_CREATE_VM', as: vm, type: opts.type ?? 1 },
    { do: 'mmap', length: size, as: `${vm}_mem` },
    ...(gmem ? [{ do: 'KVM_CREATE_GUEST_MEMFD', vm, size, as: `${vm}_gmem` }] : []),
    {
      do: 'KVM_SET_USER_MEMORY_REGION2', vm, slot: 0, flags: gmem ? ['KVM_MEM_GUEST_MEMFD'] : 0, guest_phys_addr: 0, memory_size: size,
      userspace_addr: `${vm}_mem`, ...(gmem ? { guest_memfd: `${vm}_gmem` } : {}),
    },
    { do: 'KVM_CREATE_VCPU', vm },
  ];
}

/** Scratch registers for calling a vCPU's TDCALL / VMCALL directly, as the guest kernel does. */
export class Regs implements CpuRegs {
  private readonly r = new Map<Reg64, bigint>();
  rip = 0;
  constructor(init: Partial<Record<Reg64, bigint | number>> = {}) {
    for (const [k, v] of Object.entries(init)) this.set(k as Reg64, BigInt(v as number | bigint));
  }
  get(reg: Reg64): bigint {
    return this.r.get(reg) ?? 0n;
  }
  set(reg: Reg64, v: bigint): void {
    this.r.set(reg, BigInt.asUintN(64, v));
  }
}

/** What a direct guest access through the vCPU's bus ended in. */
export type Touch =
  | { kind: 'ok'; page: Uint8Array }
  | { kind: 'exit'; signal: KvmExitSignal }
  | { kind: 'exception'; exc: GuestException }
  | { kind: 'dead'; signal: VmDeadSignal };

/** A guest access to `gpa` through the vCPU's bus (CpuBus.page), classified. */
export function touch(vcpu: Vcpu, gpa: number, access: 'read' | 'write' | 'fetch'): Touch {
  try {
    return { kind: 'ok', page: vcpu.page(gpa, access) };
  } catch (e) {
    if (e instanceof KvmExitSignal) return { kind: 'exit', signal: e };
    if (e instanceof GuestException) return { kind: 'exception', exc: e };
    if (e instanceof VmDeadSignal) return { kind: 'dead', signal: e };
    throw e;
  }
}

/** Hex bytes as the report prints them. */
export const hexBytes = (bytes: number[]): string => bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ');
