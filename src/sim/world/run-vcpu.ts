import type { RunExit } from '../kvm/run';
import type { RunOutcome, VmmVm } from '../vmm/vmm';
import type { RunRequest } from '../vmm/vcpu-thread';
import type { Scheduler } from './scheduler';

/** What a `run` step reports: why it stopped, and what the vCPU did meanwhile. */
export interface VcpuRunResult {
  stop: RunOutcome['stop'] | 'paused' | 'idle' | 'slice';
  instructions: number;
  exits: number;
  message: string;
  lastExit?: RunExit;
  /** Stop 'slice': the step's request, to continue it with (`cont`). */
  request?: RunRequest;
  /** Stop 'budget' at the world's budget (`world`), not the vCPU's own. */
  worldBudget?: boolean;
}

/** A run's budget for the rest of the world (runVcpu): `left` is plain data, kept between slices. */
export interface WorldBudget {
  left: number;
  /** The world's work so far (only its growth counts). */
  work: () => number;
  /** What one exit of the run's own vCPU costs. */
  perExit: number;
  /** The step's why when it stops there. */
  why: string;
}

/**
 * A `run` step through the world's scheduler: QEMU's vCPU threads run as actors, and the step ends
 * when vCPU `vcpuIndex` halts, panics or stops, has run `budget` instructions, or (until = 'exit')
 * handled one exit — or when nothing in the world can run any more. Every other actor due meanwhile
 * runs too (the VM's other vCPUs, VMs that were started with `cont`, links, timers). A VM still in
 * prelaunch runs for the step only: its threads are let go and held again after (VmmVm.step), so
 * VMs a scenario steps one at a time do not run in each other's steps. With `kick`, a halted vCPU is
 * woken first, as the lab's run step always resumed a guest after its HLT.
 *
 * `slice` pauses the step (stop 'slice') once vCPU `vcpuIndex` has run that many instructions: it
 * caps the thread's act (VcpuThread.cap), cutting a KVM_RUN short if need be; the rest of the run
 * goes on first thing in the next slice. Virtual time inside a KVM_RUN is exact (Clock.now), so a
 * step run in slices gives exactly the events, at exactly the times, of the step run whole.
 *
 * `cont` continues a step paused by a slice: its request (plain data, the runner keeps it between
 * slices and in a snapshot), whose counts then run over the whole step.
 *
 * `world` bounds what the rest of the world does meanwhile, which this vCPU's budget does not: every
 * other actor's run costs what `world.work()` grew by, each of this vCPU's runs `world.perExit` an
 * exit it handled (its instructions are the step's budget; a run that only goes on after a slice
 * costs nothing, so slices do not change the count). Once `world.left` is spent the step stops
 * between two actors (stop 'budget', `world.why`).
 */
export function runVcpu(scheduler: Scheduler, vmm: VmmVm, vcpuIndex: number, until: 'halt' | 'exit', budget: number, kick: boolean, slice = Infinity, cont?: RunRequest, maxExits = Infinity, world?: WorldBudget): VcpuRunResult {
  const t = vmm.threads[vcpuIndex];
  if (!t) throw new RangeError(`VM "${vmm.desc.name}" has no vCPU ${vcpuIndex} (it has ${vmm.threads.length})`);
  if (vmm.runState === 'paused') return { stop: 'paused', instructions: 0, exits: 0, message: `the VM is stopped: vCPU ${vcpuIndex} runs again after cont` };
  if (vmm.runState === 'inmigrate') return { stop: 'paused', instructions: 0, exits: 0, message: `the VM waits for an incoming migration: vCPU ${vcpuIndex} runs once the migration completes` };
  if (vmm.runState === 'postmigrate') return { stop: 'paused', instructions: 0, exits: 0, message: `the guest has migrated away: vCPU ${vcpuIndex} of this VM never runs again` };
  vmm.step(false);
  if (kick) t.kick();
  const r = (t.request = cont ?? { until, left: budget, instructions: 0, exits: 0, last: null as RunOutcome | null });
  const from = r.instructions;
  try {
    for (;;) {
      if (t.state !== 'running' && t.state !== 'sleeping' && t.state !== 'blocked') break;
      if (r.left <= 0) break;
      // An exit costs the simulator far more than an instruction: a run that must end in bounded
      // time (a reboot runs whole) also stops after `maxExits` exits to user space.
      if (r.exits >= maxExits) {
        return { stop: 'budget', instructions: r.instructions, exits: r.exits, message: `the guest made ${r.exits} exits to user space without halting; the run stopped at the step's exit budget`, lastExit: r.last?.lastExit };
      }
      if (until === 'exit' && r.last?.stop === 'exit') break;
      if (world && world.left <= 0) return { stop: 'budget', instructions: r.instructions, exits: r.exits, message: world.why, lastExit: r.last?.lastExit, worldBudget: true };
      if (r.instructions - from >= slice) return { stop: 'slice', instructions: r.instructions, exits: r.exits, message: `paused after ${r.instructions} instructions (a slice)`, lastExit: r.last?.lastExit, request: r };
      t.cap = slice - (r.instructions - from);
      const w0 = world?.work() ?? 0;
      const e0 = t.counts.exits;
      const ran = scheduler.step();
      if (!ran) {
        return { stop: 'idle', instructions: r.instructions, exits: r.exits, message: `nothing in the world can run: vCPU ${vcpuIndex} is ${t.state} and no event is due`, lastExit: r.last?.lastExit };
      }
      if (world) world.left -= ran === t ? (t.counts.exits - e0) * world.perExit : world.work() - w0;
    }
  } finally {
    t.cap = Infinity;
    t.request = null;
    vmm.step(true);
  }
  const o = r.last;
  if (!o) return { stop: (t.state as string) === 'paused' ? 'paused' : 'halted', instructions: 0, exits: 0, message: t.why || `vCPU ${vcpuIndex} is ${t.state}` };
  if (r.left <= 0 && o.stop === 'budget') return { stop: 'budget', instructions: r.instructions, exits: r.exits, message: o.message, lastExit: o.lastExit };
  return { stop: o.stop, instructions: r.instructions, exits: r.exits, message: o.message, lastExit: o.lastExit };
}
