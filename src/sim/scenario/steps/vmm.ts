import { z } from 'zod';
import { hex } from '../../core/units';
import { LIMITS, ScenarioError, deviceName, instructionBudget, msrIndex, numeric, vmName } from '../fields';
import { defineStep, type StepOutcome } from './define';
import type { VmmVm } from '../../vmm/vmm';
import { runVcpu, type VcpuRunResult } from '../../world/run-vcpu';
import { runWorkBudget } from './world';

/** A run step's result from what the vCPU did (the budget's message names the step's whole budget). */
export function runStepOutcome(v: VmmVm, budget: number, o: VcpuRunResult): StepOutcome {
  const why = o.stop === 'budget' && !o.worldBudget ? `the guest ran ${budget} instructions without halting; the run stopped at the step budget` : o.message;
  return { ret: 0, why, value: { stop: o.stop, instructions: o.instructions, exits: o.exits, console: v.console }, exit: o.lastExit && structuredClone(o.lastExit) };
}

/** A reboot's result: its boot count and how its run ended. */
export function rebootOutcome(v: VmmVm, o: VcpuRunResult): StepOutcome {
  return { ret: 0, why: o.message, value: { boot: v.boots, stop: o.stop, instructions: o.instructions, exits: o.exits, console: v.console } };
}

/** VMM-level steps: what QEMU (or its operator) does to a VM from the scenario's `vms`. */

export const VMM_STEPS = [
  defineStep('run', 'vmm', {
    vm: vmName,
    vcpu: z.number().int().nonnegative().default(0),
    until: z.enum(['halt', 'exit']).default('halt'),
    max_instructions: instructionBudget(LIMITS.runInstructions, 'a run step'),
  }, { summary: 'run the vCPU loop, answering exits, until the guest halts (or one exit with until "exit")' },
  (ctx, st, i) => {
    const v = ctx.vmm(st.vm, i);
    if (!v.threads[st.vcpu]) throw new ScenarioError([{ path: `$.steps[${i}].vcpu`, message: `VM "${st.vm}" has ${v.threads.length} vCPU(s): there is no vCPU ${st.vcpu}` }]);
    return runStepOutcome(v, st.max_instructions, runVcpu(ctx.world.scheduler, v, st.vcpu, st.until, st.max_instructions, true, Infinity, undefined, Infinity, runWorkBudget(ctx.world)));
  }),

  defineStep('convert', 'vmm', { vm: vmName, gpa: numeric, size: numeric, to: z.enum(['private', 'shared']) },
    { summary: "convert a range as QEMU's kvm_convert_memory() does" },
    (ctx, st, i) => {
      const rc = ctx.vmm(st.vm, i).convertMemory(st.gpa, st.size, st.to === 'private', 'requested by the scenario');
      return rc === 0 ? { ret: 0 } : { ret: -1, errno: 'EINVAL', why: 'the VMM could not convert the range' };
    }),

  defineStep('interrupt', 'vmm', { vm: vmName, vcpu: z.number().int().nonnegative().default(0) },
    { summary: 'make an interrupt pending on a vCPU' },
    (ctx, st, i) => {
      const v = ctx.vmm(st.vm, i);
      if (!v.vcpus[st.vcpu]) throw new ScenarioError([{ path: `$.steps[${i}].vcpu`, message: `VM "${st.vm}" has ${v.vcpus.length} vCPU(s): there is no vCPU ${st.vcpu}` }]);
      v.vcpus[st.vcpu].interruptPending = true;
      ctx.hostOfVm(st.vm, i).host.trace.emit('vmm', 'interrupt', { vcpu: st.vcpu }, `An interrupt becomes pending on vCPU ${st.vcpu}.`, { vm: st.vm, vcpu: st.vcpu });
      return { ret: 0 };
    }),

  defineStep('set_device', 'vmm', { vm: vmName, device: deviceName, enabled: z.boolean() },
    { summary: 'switch a device on or off for the next boot' },
    (ctx, st, i) => {
      const v = ctx.vmm(st.vm, i);
      v.setDevice(st.device, st.enabled);
      return { ret: 0, value: { needs_reboot: v.pendingChanges() } };
    }),

  defineStep('set_design_mode', 'vmm', { vm: vmName, mode: z.enum(['upstream', 'talk']) },
    { summary: "upstream or the talk's proposal, for the next boot" },
    (ctx, st, i) => {
      const v = ctx.vmm(st.vm, i);
      v.setDesignMode(st.mode);
      return { ret: 0, value: { needs_reboot: v.pendingChanges() } };
    }),

  defineStep('reboot', 'vmm', { vm: vmName, max_instructions: instructionBudget(LIMITS.wholeStepInstructions, 'a reboot') },
    { summary: 'restart the VM with the pending platform and run the guest until it halts (its boot)' },
    (ctx, st, i) => {
      const v = ctx.vmm(st.vm, i);
      v.reboot();
      // Whole here (a test's or the CLI's step()); ScenarioRun.advance() runs it in slices like a run.
      return rebootOutcome(v, runVcpu(ctx.world.scheduler, v, 0, 'halt', st.max_instructions, true, Infinity, undefined, LIMITS.wholeStepExits, runWorkBudget(ctx.world)));
    }),

  defineStep('stop', 'vmm', { vm: vmName },
    { summary: "QEMU's stop: pause every vCPU thread of the VM (vm_stop)" },
    (ctx, st, i) => {
      ctx.vmm(st.vm, i).stop();
      return { ret: 0 };
    }),

  defineStep('cont', 'vmm', { vm: vmName },
    { summary: "QEMU's cont: start the VM (its vCPU threads run with the world from now on) or resume it after stop" },
    (ctx, st, i) => {
      ctx.vmm(st.vm, i).cont();
      return { ret: 0 };
    }),

  defineStep('set_cpu_throttle', 'vmm', {
    vm: vmName,
    pct: z.number().min(0).max(100).describe('percent of the time the vCPUs sleep (1 to 99; 0 stops throttling)'),
  }, { summary: "auto-converge's cpu_throttle_set: each vCPU sleeps pct / (1 - pct) of a 10 ms timeslice, every 10 ms / (1 - pct)" },
  (ctx, st, i) => {
    const v = ctx.vmm(st.vm, i);
    v.setCpuThrottle(st.pct);
    return { ret: 0, value: { pct: v.throttlePct } };
  }),

  defineStep('freeze_devices', 'vmm', { vm: vmName },
    { summary: "(the talk's proposal) the guest's init phase is over, freeze device state" },
    (ctx, st, i) => {
      ctx.vmm(st.vm, i).freezeDevices();
      return { ret: 0 };
    }),

  defineStep('vmm_msr_handler', 'vmm', {
    vm: vmName,
    msr: msrIndex,
    read: z.union([numeric, z.enum(['stored', 'gp'])]).optional().describe('RDMSR: a value, the value last stored by a write, or "gp" (msr.error = 1)'),
    write: z.union([z.enum(['accept', 'store', 'gp']), z.strictObject({ only: numeric })]).optional().describe('WRMSR: drop it, store it, "gp", or accept only one value'),
  }, { summary: 'how QEMU answers KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR for one MSR (kvm_handle_rdmsr/wrmsr)' },
  (ctx, st, i) => {
    const v = ctx.vmm(st.vm, i);
    const read = st.read === undefined ? undefined : typeof st.read === 'number' ? BigInt(st.read) : st.read;
    const write = st.write === undefined ? undefined : typeof st.write === 'object' ? { only: BigInt(st.write.only) } : st.write;
    v.msrPolicy.set(st.msr, { read, write });
    ctx.hostOfVm(st.vm, i).host.trace.emit('vmm', 'vmm_msr_handler', { msr: hex(st.msr), read: read === undefined ? 'none' : typeof read === 'bigint' ? hex(read) : read, write: write === undefined ? 'none' : typeof write === 'object' ? `only ${hex(write.only)}` : write },
      `QEMU registers a handler for MSR ${hex(st.msr)}: it answers the exits KVM sends it for this MSR.`, { vm: st.vm });
    return { ret: 0 };
  }),

  defineStep('set_msr_policy', 'vmm', {
    vm: vmName,
    msr: msrIndex,
    read: z.enum(['allow', 'deny']).optional(),
    write: z.enum(['allow', 'deny']).optional(),
    constraint: z.enum(['none', 'read-only', 'fixed']).optional().describe("the talk's proposal (not upstream): KVM pins the MSR or makes it read-only"),
    value: numeric.optional().describe('for constraint "fixed": the value (default: the reset value)'),
  }, { summary: "one MSR's policy: its bits in the VMM's KVM_X86_SET_MSR_FILTER (denied accesses exit to the VMM with KVM_MSR_EXIT_REASON_FILTER) and the talk's constraint" },
  (ctx, st, i) => ({ ret: ctx.vmm(st.vm, i).setMsrPolicy(st.msr, { read: st.read, write: st.write, constraint: st.constraint, value: st.value }) })),

  defineStep('kvm_dirty_ring_reap', 'vmm', { vm: vmName, vcpu: z.number().int().nonnegative().optional().describe('only this vCPU\'s ring (default: every vCPU\'s)') },
    { summary: "QEMU's kvm_dirty_ring_reap(): collect the vCPUs' dirty rings into the VMM's dirty bitmap, then KVM_RESET_DIRTY_RINGS (needs dirty_ring_size)" },
    (ctx, st, i) => {
      const v = ctx.vmm(st.vm, i);
      if (!v.dirtyRing.enabled) throw new ScenarioError([{ path: `$.steps[${i}].vm`, message: `VM "${st.vm}" has no dirty ring: give it "dirty_ring_size" (-accel kvm,dirty-ring-size=N) in $.vms` }]);
      if (st.vcpu !== undefined && !v.vcpus[st.vcpu]) throw new ScenarioError([{ path: `$.steps[${i}].vcpu`, message: `VM "${st.vm}" has ${v.vcpus.length} vCPU(s): there is no vCPU ${st.vcpu}` }]);
      const total = v.dirtyRing.reap('asked by the scenario', st.vcpu);
      const dirty: Record<string, number> = {};
      for (const [slot, bm] of v.dirtyRing.dirtyBmap) {
        let n = 0;
        for (const w of bm) for (let x = w; x; x &= x - 1) n++;
        dirty[String(slot)] = n;
      }
      return { ret: total, value: { reaped: total, dirty_pages_per_slot: dirty } };
    }),
] as const;
