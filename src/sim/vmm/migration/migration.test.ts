/**
 * Pre-copy live migration (migration.ts) through scenarios: the geometric model of MIGRATION.md, a
 * hot set that never converges until auto-converge, the destination's memory equal to the source's
 * page by page (a property over workloads, parameters and switchover points), a link cut, a cancel,
 * a snapshot in the middle, and bad input refused with its JSON path before anything runs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MiB } from '../../core/units';
import { ScenarioError } from '../../scenario/fields';
import { ScenarioRun } from '../../scenario/runner';
import { restoreRun, snapshotRun } from '../../snapshot';
import type { MigrationThread } from './migration';

const RUNS = Number(process.env.FUZZ_RUNS) || 100;

interface Setup {
  memory?: string;
  ring?: number;
  /** A TD instead of an ordinary VM (its firmware accepts the first MiB). */
  td?: boolean;
  workload: Record<string, unknown>;
  link?: { bandwidth: string | number; latency?: string | number };
  steps: unknown[];
}

function scenario({ memory = '32M', ring = 0, td = false, workload, link = { bandwidth: '16MiB' }, steps }: Setup) {
  return {
    version: 2, title: 'migration', seed: 1,
    hosts: [{ name: 'src', memory: '1G' }, { name: 'dst', memory: '1G' }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: link.bandwidth, latency: link.latency ?? '50us' }],
    vms: [{ name: 'guest', host: 'src', type: td ? 'tdx' : 'default', memory, workload, ...(td ? { tdx: { firmware_accept: '1M' } } : {}), ...(ring ? { dirty_ring_size: ring } : {}) }],
    steps,
  };
}

function run(s: Setup) {
  const r = ScenarioRun.fromJson(scenario(s));
  const report = r.runAll();
  return { r, report, m: r.world.migrations[0] as MigrationThread };
}

describe('the geometric model (MIGRATION.md): a sequential writer below the bandwidth', () => {
  // M = 24 MiB in use, D = 4 MiB/s of distinct pages, B = 16 MiB/s (the link), T = 100 ms: λ = 1/4.
  const M = 24 * MiB;
  const D = 4 * MiB;
  const B = 16 * MiB;
  const T = 0.1;
  const lambda = D / B;
  const n = Math.ceil(Math.log((B * T) / M) / Math.log(lambda));
  const { m, report } = run({
    workload: { rate: D, pattern: 'sequential', working_set: M },
    steps: [
      { do: 'cont', vm: 'guest' },
      { do: 'run_until', time: '100ms' },
      { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', parameters: { 'downtime-limit': 100 } },
      { do: 'run_until', vm: 'guest', status: 'completed', time: '30s' },
    ],
  });
  const rounds = m.rounds;

  it('completes with every page equal on both hosts', () => {
    expect(m.status).toBe('completed');
    expect(report.results[3].value).toMatchObject({ status: 'completed', reached: true });
    expect(m.mismatchedPages()).toEqual([]);
  });

  it('round 0 sends M; the sync after it finds D × its duration dirty; then about M·λ (within 5 %)', () => {
    // The pages in use and the guest's image: M plus a few pages; zero pages cost 9 bytes each.
    expect(rounds[0].bytes / M).toBeGreaterThan(1);
    expect(rounds[0].bytes / M).toBeLessThan(1.02);
    expect(rounds[0].dirty_pages * 4096).toBeCloseTo((D * rounds[0].duration_ns) / 1e9, -5);
    // QEMU syncs once the estimate is below the threshold, so a pass's tail is a short round of its own.
    const pass1 = rounds[1].bytes + rounds[2].bytes;
    expect(pass1 / (M * lambda)).toBeGreaterThan(0.95);
    expect(pass1 / (M * lambda)).toBeLessThan(1.05);
  });

  it('takes the model\'s n rounds above bandwidth × downtime-limit before it converges', () => {
    expect(n).toBe(2);
    expect(rounds.filter((r) => !r.final && r.bytes > B * T).length).toBe(n);
  });

  it('total bytes within 3 % of M(1 − λ^(n+1))/(1 − λ); downtime within 25 % of M·λ^n / B', () => {
    const info = m.info(0);
    const ram = info.ram!;
    const total = (M * (1 - lambda ** (n + 1))) / (1 - lambda);
    expect(ram.transferred / total).toBeGreaterThan(0.97);
    expect(ram.transferred / total).toBeLessThan(1.03);
    const downtimeMs = ((M * lambda ** n) / B) * 1000;
    expect(info.downtime! / downtimeMs).toBeGreaterThan(0.75);
    expect(info.downtime! / downtimeMs).toBeLessThan(1.25);
    // The stop-and-copy carried the device and vCPU state too, counted in downtime-bytes.
    expect(ram['downtime-bytes']).toBe(rounds[rounds.length - 1].bytes);
    expect(ram['precopy-bytes'] + ram['downtime-bytes']).toBe(ram.transferred);
  });

  it("query-migrate's counters are QEMU's: normal pages × 4096 = normal-bytes, duplicates for zero pages, the threshold from the measured bandwidth", () => {
    const info = m.info(0);
    const ram = info.ram!;
    expect(info).toMatchObject({ status: 'completed', 'setup-time': 0 });
    expect(info).not.toHaveProperty('expected-downtime');
    expect(ram['normal-bytes']).toBe(ram.normal * 4096);
    expect(ram.total).toBe(32 * MiB);
    expect(ram.remaining).toBe(0);
    expect(ram.duplicate).toBeGreaterThan(1000);
    expect(ram['dirty-sync-count']).toBe(rounds.length + 1);
    // bandwidth per window ≈ the link's 16 MiB/s, so threshold_size ≈ 1.6 MiB.
    expect(m.stats.thresholdSize / (B * T)).toBeCloseTo(1, 1);
    expect(ram.mbps).toBeCloseTo((B * 8) / 1e6, 0);
  });
});

describe('a hot set larger than bandwidth × downtime-limit', () => {
  const hot = (caps: string[], until: string) => run({
    workload: { rate: '8M', pattern: 'hot-set', working_set: '8M', cpu_bound: true },
    link: { bandwidth: '4MiB' },
    steps: [
      { do: 'cont', vm: 'guest' },
      { do: 'run_until', time: '50ms' },
      { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', parameters: { 'downtime-limit': 100 }, capabilities: caps },
      { do: 'run_until', vm: 'guest', status: 'completed', time: until },
      { do: 'query_migrate', vm: 'guest' },
    ],
  });

  it('never converges: still active after 10 s and dozens of rounds; what is left dirty after each sync stays near the hot set, above the threshold', () => {
    const { m, report } = hot([], '10s');
    expect(m.status).toBe('active');
    expect(report.results[3].value).toMatchObject({ reached: false, status: 'active' });
    expect(report.results[3].why).toMatch(/did not reach completed/);
    expect(m.rounds.length).toBeGreaterThan(30);
    const late = m.rounds.slice(-10);
    // The hot tenth of 8 MiB is 0.8 MiB; the threshold 4 MiB/s × 100 ms = 0.4 MiB.
    for (const r of late) {
      expect(r.remaining).toBeGreaterThan(r.threshold);
      expect(r.remaining / (0.8 * MiB)).toBeGreaterThan(0.6);
      expect(r.remaining / (0.8 * MiB)).toBeLessThan(1.1);
    }
    expect(report.results[4].value).toMatchObject({ status: 'active' });
  });

  it('auto-converge throttles the vCPU (20 %, then +10 %) until it converges', () => {
    const { m } = hot(['auto-converge'], '60s');
    expect(m.status).toBe('completed');
    const pcts = [...new Set(m.rounds.map((r) => r.throttle_pct))];
    expect(pcts.slice(0, 3)).toEqual([0, 20, 30]);
    expect(Math.max(...pcts)).toBeLessThanOrEqual(99);
    expect(m.mismatchedPages()).toEqual([]);
    // The throttle ends with the migration (cpu_throttle_stop).
    expect(m.vmms.src.throttlePct).toBe(0);
  });
});

describe('switchover', () => {
  it('the guest goes on on the destination: registers, its kernel, its workload; the source stays paused (postmigrate)', () => {
    const r = ScenarioRun.fromJson(scenario({
      memory: '8M',
      workload: { rate: '1M', pattern: 'uniform', working_set: '2M' },
      steps: [
        { do: 'cont', vm: 'guest' },
        { do: 'run_until', time: '20ms' },
        { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan' },
        { do: 'run_until', vm: 'guest', status: 'completed', time: '10s' },
        { do: 'run_until', time: '12s' },
      ],
    }));
    for (let i = 0; i < 4; i++) r.step();
    const m = r.world.migrations[0];
    const { src, dst } = m.vmms;
    expect(m.status).toBe('completed');
    // At completion: the destination's vCPU is where the source's stopped, with its registers and MSRs.
    expect(dst.cpus[0].rip).toBe(src.cpus[0].rip);
    expect([...dst.cpus[0].r]).toEqual([...src.cpus[0].r]);
    expect([...dst.vcpus[0].msrs]).toEqual([...src.vcpus[0].msrs]);
    expect(dst.threads[0].state).toBe(src.threads[0].state === 'paused' ? 'halted' : src.threads[0].state);
    const writes = src.kernelOf(0).timed.stats.writes;
    expect(dst.kernelOf(0).timed.stats.writes).toBe(writes);
    r.step();
    expect(src.runState).toBe('postmigrate');
    expect(src.threads.every((t) => t.state === 'paused')).toBe(true);
    expect(dst.runState).toBe('running');
    // The workload goes on writing on the destination (its progress came with the kernel's state).
    expect(dst.kernelOf(0).timed.stats.writes).toBeGreaterThan(writes + 1000);
    expect(src.kernelOf(0).timed.stats.writes).toBe(writes);
    const names = r.trace.events.map((e) => `${e.host}:${e.name}`);
    expect(names).toContain('src:migrate_set_state');
    expect(names).toContain('src:KVM_GET_DIRTY_LOG');
    expect(names).toContain('src:KVM_CLEAR_DIRTY_LOG');
    expect(names).toContain('src:migration_bitmap_sync');
    expect(names).toContain('dst:vm_start');
  });

  it('destination equals source page by page at completion, for any workload, parameters and switchover point, for an ordinary VM and a TD in each design that completes', () => {
    fc.assert(
      fc.property(
        fc.record({
          // An ordinary VM (bitmap or ring), or a TD through the talk's backend-kept log or the TDX module's export (td-export.ts).
          vm: fc.constantFrom('default', 'default', 'talk', 'tdx-module'),
          rate: fc.integer({ min: 64, max: 2048 }).map((k) => k * 1024),
          pattern: fc.constantFrom('uniform', 'sequential', 'hot-set'),
          ws: fc.integer({ min: 64, max: 640 }).map((p) => p * 4096),
          bw: fc.integer({ min: 1, max: 16 }).map((x) => x * MiB),
          downtime: fc.integer({ min: 5, max: 400 }),
          start: fc.integer({ min: 1, max: 100 }),
          raiseAt: fc.integer({ min: 100, max: 3000 }),
          seed: fc.integer({ min: 1, max: 1000 }),
          ring: fc.constantFrom(0, 0, 4096),
        }),
        (p) => {
          const td = p.vm !== 'default';
          const r = ScenarioRun.fromJson(scenario({
            memory: td ? '8M' : '4M',
            ring: td ? 0 : p.ring,
            td,
            // A TD's working set lies above its image and the MiB its firmware accepted.
            workload: { rate: p.rate, pattern: p.pattern, working_set: p.ws, base: td ? '2M' : '1M', seed: p.seed },
            link: { bandwidth: p.bw },
            steps: [
              { do: 'cont', vm: 'guest' },
              { do: 'run_until', time: `${p.start}ms` },
              { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', parameters: { 'downtime-limit': p.downtime }, ...(td ? { td_design: p.vm } : {}) },
              { do: 'run_until', vm: 'guest', status: 'completed', time: `${p.start + p.raiseAt}ms` },
              // The operator raises the limit (a switchover the guest cannot prevent) if it has not converged.
              { do: 'migrate_set_parameters', vm: 'guest', parameters: { 'downtime-limit': 2_000_000 } },
              { do: 'run_until', vm: 'guest', status: 'completed', time: '60s' },
            ],
          }));
          r.runAll();
          const m = r.world.migrations[0];
          expect(m.status).toBe('completed');
          // Checked at completion: run_until stops there, before the guest runs on the destination.
          expect(m.mismatchedPages()).toEqual([]);
          if (td) {
            // No page lost, none stale: every private page the source has mapped or pending is in the destination's Secure EPT.
            expect(m.vmms.dst.vm.td!.mappedPages).toBe(m.vmms.src.vm.td!.mappedPages);
            expect(m.vmms.dst.vm.td!.pendingPages).toBe(m.vmms.src.vm.td!.pendingPages);
            expect(m.stats.duplicate).toBe(0);
          }
        },
      ),
      { numRuns: RUNS, seed: RUNS === 100 ? 0x11ce : undefined },
    );
  }, 600_000);
});

describe('with the KVM dirty ring (dirty_ring_size)', () => {
  it('each sync reaps the rings (kvm_dirty_ring_reap, KVM_RESET_DIRTY_RINGS) instead of KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG, and the pages arrive', () => {
    const { r, m } = run({
      memory: '16M', ring: 4096,
      workload: { rate: '2M', pattern: 'uniform', working_set: '8M' },
      steps: [
        { do: 'cont', vm: 'guest' },
        { do: 'run_until', time: '50ms' },
        { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', parameters: { 'downtime-limit': 50 } },
        { do: 'run_until', vm: 'guest', status: 'completed', time: '30s' },
      ],
    });
    expect(m.status).toBe('completed');
    expect(m.dirty.kind).toBe('ring');
    expect(m.mismatchedPages()).toEqual([]);
    const names = r.trace.events.filter((e) => e.host === 'src').map((e) => e.name);
    expect(names).toContain('kvm_dirty_ring_reap');
    expect(names).toContain('KVM_RESET_DIRTY_RINGS');
    expect(names).not.toContain('KVM_GET_DIRTY_LOG');
    expect(names).not.toContain('KVM_CLEAR_DIRTY_LOG');
  });
});

describe('failure and cancel', () => {
  const base = (extra: unknown[]) => run({
    memory: '8M',
    workload: { rate: '1M', pattern: 'uniform', working_set: '4M' },
    link: { bandwidth: '2MiB' },
    steps: [{ do: 'cont', vm: 'guest' }, { do: 'run_until', time: '20ms' }, { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan' }, ...extra],
  });

  it('a link cut during pre-copy fails the migration; the source keeps running and stops logging dirty pages', () => {
    const { m, r } = base([{ do: 'link_down', link: 'wan', at: '500ms' }, { do: 'run_until', vm: 'guest', status: ['completed', 'failed'], time: '10s' }, { do: 'run_until', time: '11s' }]);
    expect(m.status).toBe('failed');
    expect(m.info(0)['error-desc']).toMatch(/link wan went down/);
    const { src, dst } = m.vmms;
    expect(src.runState).toBe('running');
    expect(dst.runState).toBe('inmigrate');
    expect([...src.vm.slots.values()].every((s) => !s.dirtyBitmap)).toBe(true);
    expect(r.trace.events.some((e) => e.name === 'migrate_set_state' && e.args.to === 'failed')).toBe(true);
  });

  it('migrate_cancel: cancelling, then cancelled; the guest runs on at the source; a new migrate then completes', () => {
    const { m, r, report } = base([
      { do: 'run_until', time: '300ms' },
      { do: 'migrate_cancel', vm: 'guest' },
      { do: 'query_migrate', vm: 'guest' },
      { do: 'run_until', vm: 'guest', status: 'cancelled', time: '1s' },
      { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan' },
      { do: 'run_until', vm: 'guest', status: 'completed', time: '20s' },
    ]);
    expect(report.results[5].value).toMatchObject({ status: 'cancelling' });
    expect(m.status).toBe('cancelled');
    expect(r.world.migrations.map((x) => x.status)).toEqual(['cancelled', 'completed']);
    expect(r.world.migrations[1].mismatchedPages()).toEqual([]);
  });
});

describe('a snapshot in the middle of a migration', () => {
  it('restores and goes on with the same trace and report as the run whole', () => {
    const sc = scenario({
      memory: '8M',
      workload: { rate: '2M', pattern: 'hot-set', working_set: '4M' },
      link: { bandwidth: '4MiB' },
      steps: [
        { do: 'cont', vm: 'guest' },
        { do: 'run_until', time: '20ms' },
        { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', parameters: { 'downtime-limit': 50 }, capabilities: ['auto-converge'] },
        { do: 'run_until', vm: 'guest', status: 'completed', time: '20s' },
        { do: 'run_until', time: '21s' },
      ],
    });
    const text = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
    const whole = text(ScenarioRun.fromJson(sc).runAll());
    for (const [slice, bytes] of [[7, MiB / 2], [7, 3.5 * MiB], [50, 2.5 * MiB]]) {
      const r = ScenarioRun.fromJson(sc);
      while (!r.done && !((r.world.migrations[0]?.stats.transferred ?? 0) > bytes)) r.advance(slice);
      expect(r.world.migrations[0].status).toBe('active');
      const restored = restoreRun(sc, structuredClone(snapshotRun(r)));
      expect(text(restored.runAll())).toBe(whole);
    }
  });
});

describe('bad input is refused with its JSON path, before anything runs', () => {
  const refuse = (migrate: Record<string, unknown>, extra: Partial<Setup> = {}) => {
    try {
      ScenarioRun.fromJson(scenario({ workload: { rate: '1M' }, steps: [{ do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', ...migrate }], ...extra }));
    } catch (e) {
      expect(e).toBeInstanceOf(ScenarioError);
      return (e as ScenarioError).message;
    }
    throw new Error('accepted');
  };

  it('an unknown parameter, a negative bandwidth, an out-of-range parameter', () => {
    expect(refuse({ parameters: { 'max-bandwdith': 1 } })).toMatch(/\$\.steps\[0\]\.parameters.*max-bandwdith/);
    expect(refuse({ parameters: { 'max-bandwidth': -5 } })).toMatch(/\$\.steps\[0\]\.parameters\["max-bandwidth"\]: -5 is not a rate/);
    expect(refuse({ parameters: { 'cpu-throttle-initial': 100 } })).toBe(`$.steps[0].parameters["cpu-throttle-initial"]: Parameter 'cpu_throttle_initial' expects an integer in the range of 1 to 99`);
  });

  it('an unknown or too small destination host, a link that does not join them', () => {
    expect(refuse({ to: 'nowhere' })).toMatch(/^\$\.steps\[0\]\.to: no host named "nowhere"/);
    expect(refuse({ to: 'src' })).toMatch(/^\$\.steps\[0\]\.to: VM "guest" already runs on host "src"/);
    expect(refuse({}, { memory: '2G' })).toMatch(/^\$\.steps\[0\]\.to: host "dst" is too small: it has 1 GiB/);
    expect(refuse({ link: 'lan' })).toMatch(/^\$\.steps\[0\]\.link: no link named "lan"/);
  });

  it("dirty-limit without a dirty ring, and with auto-converge, with QEMU's error text; with a ring it is accepted", () => {
    expect(refuse({ capabilities: ['dirty-limit'] })).toBe(`$.steps[0].capabilities: dirty-limit requires KVM with accelerator property 'dirty-ring-size' set`);
    expect(refuse({ capabilities: ['dirty-limit', 'auto-converge'] })).toBe('$.steps[0].capabilities: dirty-limit conflicts with auto-converge either of then available currently');
    expect(refuse({ capabilities: ['dirty-limit', 'auto-converge'] }, { ring: 4096 })).toBe('$.steps[0].capabilities: dirty-limit conflicts with auto-converge either of then available currently');
    expect(() => ScenarioRun.fromJson(scenario({ ring: 4096, workload: { rate: '1M' }, steps: [{ do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', capabilities: ['dirty-limit'] }] }))).not.toThrow();
  });
});
