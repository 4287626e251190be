import type { RunExit } from '../kvm/run';
import type { RunOutcome, VmmVm } from '../vmm/vmm';
import type { Scheduler } from './scheduler';

/** What a `run` step reports: why it stopped, and what the vCPU did meanwhile. */
export interface VcpuRunResult {
  stop: RunOutcome['stop'] | 'paused' | 'idle';
  instructions: number;
  exits: number;
  message: string;
  lastExit?: RunExit;
}

/**
 * A `run` step through the world's scheduler: QEMU's vCPU threads run as actors, and the step ends
 * when vCPU `vcpuIndex` halts, panics or stops, has run `budget` instructions, or (until = 'exit')
 * handled one exit — or when nothing in the world can run any more. Every other actor due meanwhile
 * runs too (the VM's other vCPUs, VMs that were started with `cont`, links, timers). A VM still in
 * prelaunch runs for the step only: its threads are let go and held again after (VmmVm.step), so
 * VMs a scenario steps one at a time do not run in each other's steps. With `kick`, a halted vCPU is
 * woken first, as the lab's run step always resumed a guest after its HLT.
 */
export function runVcpu(scheduler: Scheduler, vmm: VmmVm, vcpuIndex: number, until: 'halt' | 'exit', budget: number, kick: boolean): VcpuRunResult {
  const t = vmm.threads[vcpuIndex];
  if (!t) throw new RangeError(`VM "${vmm.desc.name}" has no vCPU ${vcpuIndex} (it has ${vmm.threads.length})`);
  if (vmm.runState === 'paused') return { stop: 'paused', instructions: 0, exits: 0, message: `the VM is stopped: vCPU ${vcpuIndex} runs again after cont` };
  vmm.step(false);
  if (kick) t.kick();
  const r = (t.request = { until, left: budget, instructions: 0, exits: 0, last: null as RunOutcome | null });
  try {
    for (;;) {
      if (t.state !== 'running' && t.state !== 'sleeping' && t.state !== 'blocked') break;
      if (r.left <= 0) break;
      if (until === 'exit' && r.last?.stop === 'exit') break;
      if (!scheduler.step()) {
        return { stop: 'idle', instructions: r.instructions, exits: r.exits, message: `nothing in the world can run: vCPU ${vcpuIndex} is ${t.state} and no event is due`, lastExit: r.last?.lastExit };
      }
    }
  } finally {
    t.request = null;
    vmm.step(true);
  }
  const o = r.last;
  if (!o) return { stop: (t.state as string) === 'paused' ? 'paused' : 'halted', instructions: 0, exits: 0, message: t.why || `vCPU ${vcpuIndex} is ${t.state}` };
  if (r.left <= 0 && o.stop === 'budget') return { stop: 'budget', instructions: r.instructions, exits: r.exits, message: o.message, lastExit: o.lastExit };
  return { stop: o.stop, instructions: r.instructions, exits: r.exits, message: o.message, lastExit: o.lastExit };
}
