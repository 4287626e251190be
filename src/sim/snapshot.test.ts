/**
 * Snapshots (snapshot.ts): a run saved at any point and restored into a fresh run continues exactly
 * as the original: the same trace and the same report, byte for byte. A property test snapshots
 * every preset at random points (a random number of advance() slices of random sizes) and restores
 * from a structuredClone of the snapshot, proving it is plain data. FUZZ_RUNS=n runs it n times
 * (default 100; `npm run fuzz` runs it at volume).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../test-properties';
import { PRESETS } from '../scenarios';
import { ScenarioRun } from './scenario/runner';
import { type RunSnapshot, restoreRun, snapshotRun } from './snapshot';
import { same, scenarioOf, text, whole } from './test-reports';

const IDS = Object.keys(PRESETS);

/** The report of a run continued to its end. */
const finish = (run: ScenarioRun): string => text(run.runAll());

/** Every service in progress the snapshot holds (GuestBoot's runner jobs), to know what a case covered. */
function jobsIn(v: unknown, out: string[] = [], seen = new Set<unknown>()): string[] {
  if (v === null || typeof v !== 'object' || seen.has(v) || ArrayBuffer.isView(v)) return out;
  seen.add(v);
  const o = v as Record<string, unknown>;
  const runner = o.runner as { job?: { name: string } | null } | undefined;
  if (runner && typeof runner === 'object' && runner.job) out.push(runner.job.name);
  const values = v instanceof Map ? [...v.values()] : Object.values(o);
  for (const x of values) jobsIn(x, out, seen);
  return out;
}

describe('snapshots', () => {
  it('every preset, snapshotted at random points and restored from a structured clone, continues exactly as the original', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...IDS),
        fc.array(fc.integer({ min: 1, max: 40_000 }), { maxLength: 30 }),
        (id, slices) => {
          const run = ScenarioRun.fromJson(scenarioOf(id));
          for (const n of slices) {
            if (run.done) break;
            run.advance(n);
          }
          const snap = snapshotRun(run);
          const restored = restoreRun(scenarioOf(id), structuredClone(snap));
          expect(restored.next).toBe(run.next);
          expect(restored.trace.count).toBe(run.trace.count);
          expect(restored.clock.now).toBe(run.clock.now);
          // Both go on to the end, and end as the run whole does (slicing never changes the trace:
          // slicing.test.ts); the reports hold every kept event, so the traces match byte for byte.
          const got = finish(restored);
          same(got, finish(run), `${id} after ${slices.length} slices [${slices.join(', ')}]`);
          same(got, whole(id), `${id} restored after ${slices.length} slices, against the run whole`);
        },
      ),
      propertyRuns(0x5a5e),
    );
  }, 1_800_000);

  it.each(['platform-upstream', 'platform-talk'])('%s: restores the boot services in progress (their answer logs) at every exit of the boot', (id) => {
    // The VMM's loop stops after each exit it handled: firmware_boot and linux_boot are then in the
    // middle of their work (one guest instruction that exits hundreds of times).
    const probe = ScenarioRun.fromJson(scenarioOf(id));
    const v = probe.vmms.values().next().value!;
    let exits = 0;
    while (v.run(0, 'exit', 1_000_000).stop === 'exit') exits++;
    expect(exits).toBeGreaterThan(50);
    let inProgress = 0;
    // A spread of exit counts (all of them would take minutes): snapshot there, and both go on.
    for (let k = 1; k < exits; k += Math.max(1, Math.floor(exits / 8))) {
      const run = ScenarioRun.fromJson(scenarioOf(id));
      const vm = run.vmms.values().next().value!;
      for (let i = 0; i < k; i++) vm.run(0, 'exit', 1_000_000);
      const snap = snapshotRun(run);
      if (jobsIn(snap.world).length > 0) inProgress++;
      const restored = restoreRun(scenarioOf(id), structuredClone(snap));
      same(finish(restored), finish(run), `${id} after ${k} exits`);
    }
    expect(inProgress).toBeGreaterThan(3);
  }, 600_000);

  it.each(['platform-talk', 'selftest-by-hand'])('%s: taking snapshots does not change the run (a keyframe of a live run leaves it as it was)', (id) => {
    const plain = ScenarioRun.fromJson(scenarioOf(id));
    const watched = ScenarioRun.fromJson(scenarioOf(id));
    while (!plain.done) {
      plain.advance(2_000);
      watched.advance(2_000);
      snapshotRun(watched);
    }
    same(text(watched.report()), text(plain.report()), id);
  }, 300_000);

  it('restores twice from one snapshot, and a snapshot of a restored run restores too', () => {
    const id = 'shared-buffer';
    const run = ScenarioRun.fromJson(scenarioOf(id));
    for (let i = 0; i < 6; i++) run.advance(500);
    const snap = snapshotRun(run);
    const a = restoreRun(scenarioOf(id), structuredClone(snap));
    a.advance(500);
    const again = restoreRun(scenarioOf(id), structuredClone(snapshotRun(a)));
    const b = restoreRun(scenarioOf(id), snap);
    b.advance(500);
    run.advance(500);
    const want = finish(run);
    same(finish(a), want, 'restored once');
    same(finish(b), want, 'restored again from the same snapshot');
    same(finish(again), want, 'restored from a snapshot of a restored run');
  });

  it('refuses what is not a snapshot of this scenario, saying why', () => {
    const run = ScenarioRun.fromJson(scenarioOf('msr-filter'));
    const snap = snapshotRun(run);
    expect(() => restoreRun(scenarioOf('lazy-accept'), snap)).toThrow(/snapshot is of scenario .* not of/);
    expect(() => restoreRun(scenarioOf('msr-filter'), { ...snap, version: 99 } as unknown as RunSnapshot)).toThrow(/version 99 is not supported/);
    expect(() => restoreRun(scenarioOf('msr-filter'), {} as RunSnapshot)).toThrow(/not a snapshot/);
  });
});

describe('snapshots of a world of two hosts', () => {
  /** A VM on each host, KVM-level objects made by hand on the second, a link between them. */
  const twoHosts = (): unknown => ({
    version: 2,
    title: 'two hosts',
    seed: 7,
    hosts: [{ name: 'src', memory: '512M' }, { name: 'dst', memory: '1G' }],
    links: [{ name: 'wire', from: 'src', to: 'dst', bandwidth: '10Gbit', latency: '50us' }],
    vms: [
      { name: 'a', host: 'src', type: 'default', memory: '16M', program: ['_start:', '    mov al, 0x41', '    mov dx, 0x3f8', '    out dx, al', '    hlt'] },
      { name: 'b', host: 'dst', type: 'tdx', memory: '64M', tdx: { firmware_accept: '1M' }, program: ['_start:', '    mov byte [0x200000], 0x42', '    hlt'] },
    ],
    steps: [
      { do: 'run', vm: 'a' },
      { do: 'KVM_CREATE_VM', host: 'dst', type: 1, as: 'hand' },
      { do: 'KVM_CREATE_GUEST_MEMFD', vm: 'hand', size: '2M', as: 'gm' },
      { do: 'mmap', host: 'dst', length: '2M', as: 'mem' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'hand', slot: 0, flags: ['KVM_MEM_GUEST_MEMFD'], guest_phys_addr: 0, memory_size: '2M', userspace_addr: 'mem', guest_memfd: 'gm' },
      { do: 'KVM_CREATE_VCPU', vm: 'hand', id: 0 },
      { do: 'load_program', vm: 'hand', vcpu: 0, gpa: '0x1000', program: ['_start:', '    mov byte [0x3000], 0x43', '    hlt'] },
      { do: 'run', vm: 'b' },
      { do: 'KVM_RUN', vm: 'hand', vcpu: 0 },
      { do: 'host_read', vm: 'b', gpa: '0x200000', length: 1, via: 'physical' },
      { do: 'host_read', vm: 'hand', gpa: '0x3000', length: 1, via: 'vmm_mapping' },
    ],
  });

  it('continues exactly as the original from a snapshot after every step and inside the runs', () => {
    const whole = ScenarioRun.fromJson(twoHosts()).runAll();
    // Every step did what it says (so the snapshots below hold hand-made VMs, memfds, vCPUs and CPUs).
    expect(whole.results.map((r) => r.errno ?? 'ok')).toEqual(Array(whole.results.length).fill('ok'));
    expect((whole.results.at(-1)!.value as { hex: string }).hex).toBe('43');
    const steps = whole.results.length;
    for (let k = 0; k <= steps + 2; k++) {
      const run = ScenarioRun.fromJson(twoHosts());
      for (let i = 0; i < k && !run.done; i++) run.advance(3);
      const snap = snapshotRun(run);
      expect(snap.world.hosts).toEqual(['src', 'dst']);
      const restored = restoreRun(twoHosts(), structuredClone(snap));
      same(finish(restored), finish(run), `after ${k} slices`);
    }
  });

  it('two-hosts: snapshots inside run_until, with a transfer in flight and a link cut pending, restore exactly', () => {
    const want = whole('two-hosts');
    const steps = (PRESETS['two-hosts'] as { steps: { do: string }[] }).steps;
    const firstUntil = steps.findIndex((s) => s.do === 'run_until');
    let covered = 0;
    for (const slice of [1, 3, 7]) {
      const run = ScenarioRun.fromJson(scenarioOf('two-hosts'));
      while (run.next < firstUntil) run.step();
      // Inside the first run_until: the 256 MiB transfer is on the wire and the cut at 150 ms is a pending timer.
      for (let k = 0; k < 5; k++) expect(run.advance(slice)).toBeNull();
      expect(run.next).toBe(firstUntil);
      const link = run.world.link('wan');
      expect(link.inFlight.map((t) => t.label)).toEqual(['second transfer']);
      expect(run.world.scheduler.actors.some((a) => a.kind === 'timer' && a.name === 'link_down wan')).toBe(true);
      const snap = structuredClone(snapshotRun(run));
      const restored = restoreRun(scenarioOf('two-hosts'), snap);
      expect(restored.world.link('wan').inFlight).toEqual(link.inFlight);
      // The restored run goes on by slices as well, and ends as the run whole.
      while (!restored.done) restored.advance(slice * 13);
      same(text(restored.report()), want, `two-hosts restored inside run_until (slices of ${slice})`);
      same(finish(run), want, `two-hosts, the original (slices of ${slice})`);
      covered++;
    }
    expect(covered).toBe(3);
  });

  /** Two vCPUs dirtying memory and sleeping, throttled, run_until in between. */
  const throttled = () => ({
    version: 2, title: 'throttled pair', seed: 3,
    vms: [{
      name: 'pair', type: 'default', memory: '16M', vcpus: 2,
      program: [
        '_start:',
        '    mov rbx, rdi',
        '    shl rbx, 20',
        '    add rbx, 0x400000     ; each vCPU its own working set',
        '    mov rdi, rbx',
        '    mov rsi, 0x100000',
        '    mov rdx, 8388608',
        '    mov rcx, 1',
        '    mov r8, 300000000',
        '    mov r9, 5',
        '    call dirty_memory',
        '    mov rdi, 20000000',
        '    call sleep_ns',
        '    hlt',
      ],
    }],
    steps: [
      { do: 'cont', vm: 'pair' },
      { do: 'run_until', time: '60ms' },
      { do: 'set_cpu_throttle', vm: 'pair', pct: 40 },
      { do: 'run_until', time: '200ms' },
      { do: 'set_cpu_throttle', vm: 'pair', pct: 0 },
      { do: 'run_until', time: '400ms' },
    ],
  });

  it('two vCPUs under a CPU throttle: snapshotted at random points, restored, they end as the run whole', () => {
    const want = text(ScenarioRun.fromJson(throttled()).runAll());
    const probe = ScenarioRun.fromJson(throttled());
    probe.runAll();
    const threads = probe.vmms.get('pair')!.threads;
    // The scenario does what it is for: both vCPUs wrote, slept under the throttle and halted at the end.
    expect(threads.map((t) => t.state)).toEqual(['halted', 'halted']);
    for (const t of threads) expect(t.snapshotCounts().time.sleeping).toBeGreaterThan(0);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 40 }), (slices) => {
        const run = ScenarioRun.fromJson(throttled());
        for (const n of slices) if (!run.done) run.advance(n);
        const restored = restoreRun(throttled(), structuredClone(snapshotRun(run)));
        same(finish(restored), want, `throttled pair restored after slices [${slices.join(', ')}]`);
        same(finish(run), want, `throttled pair, the original after slices [${slices.join(', ')}]`);
      }),
      propertyRuns(0x7e57),
    );
  }, 600_000);

  it('a closure left in the world (a timer that is not data) makes the snapshot fail, naming where', () => {
    const run = ScenarioRun.fromJson(scenarioOf('two-hosts'));
    run.world.scheduler.at(1_000, 'a closure', () => {});
    expect(() => snapshotRun(run)).toThrow(/state: \.scheduler\.list\[\d+\]\.actor\.action is a function/);
    expect(() => run.world.at(1_000, 'x', { kind: 'reboot', args: {} })).toThrow(/timer "x": no action "reboot" \(actions: link_down, link_up\)/);
  });

  it('a world loads only a state of the same hosts', () => {
    const run = ScenarioRun.fromJson(twoHosts());
    const other = ScenarioRun.fromJson(scenarioOf('msr-filter'));
    expect(() => other.world.loadState(run.world.saveState())).toThrow(/a world of hosts src, dst cannot load into one of hosts/);
  });
});
