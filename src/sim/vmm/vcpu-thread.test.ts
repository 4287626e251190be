/**
 * vCPU threads as scheduler actors: time that waits (HLT with the TSC-deadline timer armed moves the
 * clock instead of being interpreted), the guest kernel's sleep_ns and dirty_memory, several vCPUs,
 * stop/cont, QEMU's throttle, and the blocked state's API.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../test-properties';
import { Clock, CPU_THROTTLE_TIMESLICE_NS, throttleSleepNs, throttleTickNs } from '../core/clock';
import { Trace } from '../core/trace';
import { MiB } from '../core/units';
import { assemble } from '../guest/asm';
import { KERNEL_SERVICES } from '../guest/kernel/kernel';
import { Host } from '../host/host';
import { Kvm } from '../kvm/kvm';
import { Scheduler } from '../world/scheduler';
import { VmmVm, type VmKind } from './vmm';

const SEC = 1_000_000_000;

function machine(program: string[], o: { kind?: VmKind; vcpus?: number; memory?: number } = {}) {
  const clock = new Clock();
  const trace = new Trace(() => clock.now, 2_000_000);
  const host = new Host({ name: 'h', memoryBytes: 256 * MiB }, clock, trace);
  const kvm = new Kvm(host);
  const kind = o.kind ?? 'default';
  const vmm = new VmmVm(host, kvm, {
    name: 'g', kind, memoryBytes: o.memory ?? 32 * MiB, program: assemble(program.join('\n'), { origin: 0x100000, services: KERNEL_SERVICES }),
    discardOnConvert: true, vcpus: o.vcpus,
    tdx: kind === 'tdx' ? { septVeDisable: true, debug: false, gpaw: 48, firmwareAcceptBytes: 0 } : undefined,
  });
  const sched = new Scheduler(clock);
  for (const a of vmm.actors) sched.add(a);
  for (const t of vmm.threads) t.horizon = () => sched.horizon(t);
  vmm.start();
  const runAll = (limit = 1e6) => {
    let n = 0;
    while (sched.step() && n++ < limit) { /* until every actor waits */ }
    return n;
  };
  return { clock, trace, vmm, sched, runAll };
}

const dirty = (rate: number, duration: number, pattern = 1, bytes = 4 * MiB) => [
  '_start: mov rdi, 0x800000', `mov rsi, ${bytes}`, `mov rdx, ${rate}`, `mov rcx, ${pattern}`, `mov r8, ${duration}`, 'mov r9, 7',
  'call dirty_memory', 'mov rbx, rax', 'hlt',
];

describe('time that waits', () => {
  it('sleep_ns arms IA32_TSC_DEADLINE (0x6e0) and halts: the clock jumps to the deadline, nothing is interpreted meanwhile', () => {
    const { clock, trace, vmm, runAll } = machine(['_start: mov rdi, 5000000000', 'call sleep_ns', 'hlt']);
    runAll();
    const t = vmm.threads[0];
    expect(t.state).toBe('halted');
    expect(clock.now).toBeGreaterThanOrEqual(5 * SEC);
    expect(clock.now).toBeLessThan(5 * SEC + 1_000_000);
    expect(t.counts.instructions).toBeLessThan(10);
    const c = t.snapshotCounts();
    expect(c.time.halted).toBeGreaterThanOrEqual(5 * SEC - 100_000);
    const names = trace.events.map((e) => e.name);
    expect(names).toContain('kvm_lapic_tscdeadline');
    expect(names).toContain('apic_timer_expired');
    expect(trace.events.find((e) => e.name === 'WRMSR')?.args.msr).toBe('0x6e0');
  });

  it('in a TD the WRMSR goes through #VE and TDG.VP.VMCALL, the HLT through TDG.VP.VMCALL<Instruction.HLT>, and the sleep still skips time', () => {
    const { clock, trace, vmm, runAll } = machine(['_start: mov rdi, 2000000000', 'call sleep_ns', 'hlt'], { kind: 'tdx' });
    runAll();
    expect(vmm.threads[0].state).toBe('halted');
    expect(clock.now).toBeGreaterThanOrEqual(2 * SEC);
    const names = trace.events.map((e) => e.name);
    expect(names).toContain('TDG.VP.VMCALL<Instruction.WRMSR>');
    expect(names).toContain('TDG.VP.VMCALL<Instruction.HLT>');
  });

  it('dirty_memory costs interpreted work in proportion to its writes, not to the virtual time it waits', () => {
    // The same 100 page writes, spread over 1 s and over 100 s of virtual time.
    const fast = machine(dirty(100 * 4096, SEC));
    fast.runAll();
    const slow = machine(dirty(4096, 100 * SEC));
    slow.runAll();
    const k = (m: typeof fast) => m.vmm.kernelOf(0).timed.stats;
    expect(k(fast).writes).toBe(100);
    expect(k(slow).writes).toBe(100);
    expect(slow.clock.now).toBeGreaterThan(99 * SEC);
    expect(fast.clock.now).toBeLessThan(1.1 * SEC);
    // 100 times the virtual time, the same work: instructions, wake-ups and scheduler steps equal.
    expect(slow.vmm.threads[0].counts.instructions).toBe(fast.vmm.threads[0].counts.instructions);
    expect(k(slow).wakeups).toBe(k(fast).wakeups);
    expect(slow.sched.steps).toBe(fast.sched.steps);
  });

  it('dirty_memory at 20 MiB per virtual second writes at that rate and takes the EPT faults of a store', () => {
    const m = machine(dirty(20 * MiB, SEC / 4, 0, 8 * MiB));
    m.runAll();
    const s = m.vmm.kernelOf(0).timed.stats;
    expect(s.writes).toBe(Math.floor((20 * MiB) / 4 / 4096));
    expect(m.clock.now).toBeGreaterThan(SEC / 4 - 5_000_000);
    expect(m.clock.now).toBeLessThan(SEC / 4 + 5_000_000);
    // At most one wake-up a jiffy (4 ms).
    expect(s.wakeups).toBeLessThanOrEqual(SEC / 4 / 4_000_000 + 1);
    expect(m.vmm.vm.mmu.countMapped(0x800, 0x800 + 2048).shared).toBeGreaterThan(0);
  });
});

describe('several vCPUs', () => {
  it('8 vCPUs each start at the entry with their index in rdi and their own stack, and run interleaved', () => {
    // Each vCPU stores its index at 0x700000 + 8 × index (through its own stack), then halts.
    const prog = ['_start: push rdi', 'pop rax', 'mov rbx, rdi', 'shl rbx, 3', 'add rbx, 0x700000', 'mov [rbx], rax', 'mov rdi, 1000000', 'call sleep_ns', 'hlt'];
    const { vmm, runAll } = machine(prog, { vcpus: 8 });
    runAll();
    expect(vmm.threads.map((t) => t.state)).toEqual(Array(8).fill('halted'));
    const mem = vmm.process.read(vmm.gpaToHva(0x700000)!, 64);
    for (let i = 0; i < 8; i++) expect(mem[i * 8]).toBe(i);
    const rsps = vmm.cpus.map((c) => c.get('rsp'));
    expect(new Set(rsps).size).toBe(8);
  });

  it('refuses a ninth vCPU, naming the limit', () => {
    expect(() => machine(['_start: hlt'], { vcpus: 9 })).toThrow(/1 to 8 vCPUs/);
  });
});

describe('stop and cont, blocked', () => {
  it('a paused VM does not run until cont; time paused is counted', () => {
    const { vmm, sched, clock } = machine(['_start: mov rdi, 1000000', 'call sleep_ns', 'hlt']);
    vmm.stop();
    const t0 = clock.now;
    sched.runUntil(SEC);
    expect(vmm.threads[0].state).toBe('paused');
    expect(vmm.threads[0].counts.instructions).toBe(0);
    vmm.cont();
    sched.runUntil(2 * SEC);
    expect(vmm.threads[0].state).toBe('halted');
    expect(vmm.threads[0].snapshotCounts().time.paused).toBe(SEC - t0);
    expect(clock.now).toBe(2 * SEC);
  });

  it('a vCPU blocked on a page waits until it is unblocked', () => {
    const { vmm, sched, clock } = machine(['_start: mov rdi, 1000000', 'call sleep_ns', 'hlt']);
    const t = vmm.threads[0];
    const t0 = clock.now;
    t.block('gfn 0x800');
    expect(t.readyAt()).toBeNull();
    sched.runUntil(SEC);
    expect(t.state).toBe('blocked');
    expect(t.why).toBe('gfn 0x800');
    t.unblock();
    sched.runUntil(2 * SEC);
    expect(t.state).toBe('halted');
    expect(t.snapshotCounts().time.blocked).toBe(SEC - t0);
  });
});

describe('throttling (QEMU cpu_throttle_set)', () => {
  it('sleep and tick lengths follow cpu_throttle_thread: pct / (1 - pct) of a 10 ms timeslice', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 99 }), (pct) => {
      const p = pct / 100;
      expect(throttleSleepNs(pct)).toBe(Math.trunc((p / (1 - p)) * CPU_THROTTLE_TIMESLICE_NS + 1));
      expect(throttleTickNs(pct)).toBe(Math.trunc(CPU_THROTTLE_TIMESLICE_NS / (1 - p)));
      // Asleep for the sleep, running for the rest of the tick: the vCPU runs (1 - pct) of the time.
      expect((throttleTickNs(pct) - throttleSleepNs(pct)) / throttleTickNs(pct)).toBeCloseTo(1 - p, 5);
    }), propertyRuns(0x7407));
  });

  it.each([50, 90])('a busy guest throttled at %s percent sleeps that share of the time', (pct) => {
    const { vmm, sched, clock } = machine(['_start: inc rax', 'jmp _start']);
    const t0 = clock.now;
    vmm.setCpuThrottle(pct);
    // Two whole ticks.
    sched.runUntil(t0 + 2 * throttleTickNs(pct));
    const c = vmm.threads[0].snapshotCounts();
    const total = c.time.running + c.time.sleeping;
    expect(total).toBe(clock.now - t0);
    // A vCPU due exactly at the end runs one more instruction.
    expect(clock.now - (t0 + 2 * throttleTickNs(pct))).toBeLessThan(100);
    expect(c.time.sleeping / total).toBeCloseTo(pct / 100, 2);
  });
});
