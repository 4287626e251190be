import { describe, expect, it } from 'vitest';
import { Clock } from '../core/clock';
import { Trace } from '../core/trace';
import { MiB } from '../core/units';
import { assemble } from '../guest/asm';
import { KERNEL_SERVICES } from '../guest/kernel/kernel';
import { Host } from '../host/host';
import { Kvm } from '../kvm/kvm';
import { VmmVm } from '../vmm/vmm';
import { runVcpu } from './run-vcpu';
import { Scheduler } from './scheduler';

function world(programs: string[][]) {
  const clock = new Clock();
  const trace = new Trace(() => clock.now, 1_000_000);
  const host = new Host({ name: 'h', memoryBytes: 256 * MiB }, clock, trace);
  const kvm = new Kvm(host);
  const sched = new Scheduler(clock);
  const vmms = programs.map((p, i) => {
    const v = new VmmVm(host, kvm, { name: `g${i}`, kind: 'default', memoryBytes: 16 * MiB, program: assemble(p.join('\n'), { origin: 0x100000, services: KERNEL_SERVICES }), discardOnConvert: true });
    v.setOrder(0, i);
    for (const a of v.actors) sched.add(a);
    for (const t of v.threads) t.horizon = () => sched.horizon(t);
    return v;
  });
  return { clock, sched, vmms };
}

const spin = ['_start: inc rax', 'jmp _start'];

describe('runVcpu (the run step through the scheduler)', () => {
  it('a VM in prelaunch runs only in its own run step; a VM started with cont runs with the world', () => {
    const { vmms, sched } = world([spin, spin, spin]);
    const [a, b, c] = vmms;
    c.cont();
    const r = runVcpu(sched, a, 0, 'halt', 100_000, true);
    expect(r).toMatchObject({ stop: 'budget', instructions: 100_000 });
    expect(b.threads[0].counts.instructions).toBe(0);
    expect(c.threads[0].counts.instructions).toBeGreaterThan(0);
    // Held between its run steps, a prelaunch VM keeps its state for the reader but is not ready.
    expect(a.threads[0].state).toBe('running');
    expect(a.threads[0].readyAt()).toBeNull();
    expect(b.threads[0].readyAt()).toBeNull();
    expect(c.threads[0].state).toBe('running');
    expect(a.threads[0].snapshotCounts().time.paused).toBeGreaterThan(0);
  });

  it('a halted vCPU is kicked by the next run step, as the lab always resumed a guest after HLT', () => {
    const { vmms, sched } = world([['_start: mov rax, 1', 'hlt', 'mov rax, 2', 'hlt']]);
    const v = vmms[0];
    expect(runVcpu(sched, v, 0, 'halt', 1000, true).stop).toBe('halted');
    expect(v.cpus[0].get('rax')).toBe(1n);
    expect(runVcpu(sched, v, 0, 'halt', 1000, true).stop).toBe('halted');
    expect(v.cpus[0].get('rax')).toBe(2n);
  });

  it('a stopped VM does not run: the step says so', () => {
    const { vmms, sched } = world([spin]);
    vmms[0].stop();
    expect(runVcpu(sched, vmms[0], 0, 'halt', 1000, true)).toMatchObject({ stop: 'paused', instructions: 0 });
  });

  it('a vCPU halted with nothing due anywhere ends the step as idle without kicking', () => {
    const { vmms, sched } = world([['_start: hlt', 'jmp _start']]);
    runVcpu(sched, vmms[0], 0, 'halt', 1000, true);
    const t = vmms[0].threads[0];
    expect(t.readyAt()).toBeNull();
    vmms[0].cont();
    expect(t.state).toBe('halted');
    expect(sched.step()).toBeNull();
  });
});
