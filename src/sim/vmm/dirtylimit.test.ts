/**
 * QEMU's dirty limit (dirtylimit.ts): the rate and throttle formulas against QEMU's integer
 * arithmetic (system/dirtylimit.c, migration/dirtyrate.c), and a migration with the `dirty-limit`
 * capability through scenarios: a hot set that never converges without it converges with it, each
 * vCPU's measured rate ends within QEMU's tolerance of its quota, the vCPU really sleeps on its full
 * ring, query-migrate reports the two dirty-limit fields, a cancel ends the limit, and a snapshot
 * taken while a vCPU sleeps restores and goes on identically.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../test-properties';
import { ScenarioRun } from '../scenario/runner';
import { restoreRun, snapshotRun } from '../snapshot';
import {
  DIRTYLIMIT_TOLERANCE_RANGE, calculateDirtyrate, dirtylimitDone, needLinearAdjustment, ringFullTimeUs, ringSizeMiB, setThrottle,
} from './dirtylimit';
import type { MigrationThread } from './migration/migration';


describe("the dirty rate and the throttle, with QEMU's arithmetic", () => {
  it('do_calculate_dirtyrate(): whole MiB of the pages collected, × 1000 / ms', () => {
    // 448 pages = 1.75 MiB → 1 MiB; over 250 ms: 4 MB/s.
    expect(calculateDirtyrate(448, 250)).toBe(4);
    // 31131 pages = 121.6 MiB over a second.
    expect(calculateDirtyrate(31131, 1000)).toBe(121);
    expect(calculateDirtyrate(255, 1000)).toBe(0);
  });

  it('dirtylimit_dirty_ring_full_time(): the ring in MiB (entries >> 8) × 10^6 / the highest rate', () => {
    expect([1024, 4096, 65536, 128].map(ringSizeMiB)).toEqual([4, 16, 256, 0]);
    expect(ringFullTimeUs(1024, 44)).toBe(90909);
    expect(ringFullTimeUs(4096, 121)).toBe(132231);
    expect(ringFullTimeUs(4096, 0)).toBe(0);
  });

  it('dirtylimit_done() within 25 MB/s; linear adjustment when more than 50 % of the larger apart', () => {
    expect(dirtylimitDone(4, 29)).toBe(true);
    expect(dirtylimitDone(4, 30)).toBe(false);
    expect(dirtylimitDone(100, 75)).toBe(true);
    expect(needLinearAdjustment(4, 44)).toBe(true);
    expect(needLinearAdjustment(100, 140)).toBe(false);
    expect(needLinearAdjustment(100, 205)).toBe(true);
    // (104 × 100 / 204) is 50 in integers: not more than 50 %.
    expect(needLinearAdjustment(100, 204)).toBe(false);
  });

  it('dirtylimit_set_throttle(): linear steps of ring-full × pct / (100 − pct), fixed steps of a tenth, clamped to [0, 99 × ring-full]', () => {
    // Quota 4, rate 44: sleep_pct = 40 × 100 / 44 = 90; 90909 × 90 / 10 = 818181 µs more.
    expect(setThrottle(0, 4, 44, 90909)).toEqual({ throttleUs: 818181, ringFullUs: 90909, linear: true, sleepPct: 90, deltaUs: 818181 });
    // Quota 100, rate 20: sleep_pct = 80 × 100 / 100 = 80; 1000 × 80 / 20 = 4000 µs less.
    expect(setThrottle(10000, 100, 20, 1000)).toMatchObject({ throttleUs: 6000, linear: true, sleepPct: 80, deltaUs: 4000 });
    // Near the quota: a tenth of the ring-full time, up or down.
    expect(setThrottle(5000, 100, 140, 10000)).toMatchObject({ throttleUs: 6000, linear: false, deltaUs: 1000 });
    expect(setThrottle(5000, 140, 100, 10000)).toMatchObject({ throttleUs: 4000, linear: false, deltaUs: 1000 });
    // Never below zero, never above 99 ring-full times; nothing dirtied: no sleep at all.
    expect(setThrottle(500, 140, 100, 10000).throttleUs).toBe(0);
    expect(setThrottle(98 * 1000, 1, 1000, 1000).throttleUs).toBe(99 * 1000);
    expect(setThrottle(777, 10, 0, 1000).throttleUs).toBe(0);
  });

  it('the sleep only grows while the rate is above the quota, only shrinks below it, and stays in [0, 99 × ring-full]', () => {
    fc.assert(fc.property(fc.nat(10_000_000), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 1_000_000 }),
      (prev, quota, current, ring) => {
        const start = Math.min(prev, ring * 99);
        const t = setThrottle(start, quota, current, ring).throttleUs;
        expect(t).toBeGreaterThanOrEqual(0);
        expect(t).toBeLessThanOrEqual(ring * 99);
        if (quota < current) expect(t).toBeGreaterThanOrEqual(start);
        if (quota > current) expect(t).toBeLessThanOrEqual(start);
      }), propertyRuns(0xd17));
  });
});

/**
 * A guest whose boot vCPU writes a hot set (nine writes in ten to 2.4 MiB) at 64 MiB/s, CPU-bound, with
 * a 1024-entry dirty ring (soft limit 448); its second vCPU only halts. Migrated at 16 MiB/s with
 * downtime-limit 100 ms: the threshold (1.6 MiB) is below the hot set.
 */
function hotSet(capabilities: string[], until: string, extra: unknown[] = []) {
  return {
    version: 2, title: 'dirty-limit', seed: 1,
    hosts: [{ name: 'src', memory: '256M' }, { name: 'dst', memory: '256M' }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '1Gbit', latency: '50us' }],
    vms: [{
      name: 'guest', host: 'src', type: 'default', memory: '32M', vcpus: 2, dirty_ring_size: 1024,
      workload: { rate: '64M', pattern: 'hot-set', working_set: '24M', cpu_bound: true },
    }],
    steps: [
      { do: 'cont', vm: 'guest' },
      { do: 'run_until', time: '100ms' },
      {
        do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', capabilities,
        parameters: { 'max-bandwidth': '16MiB', 'downtime-limit': 100, 'vcpu-dirty-limit': 4, 'x-vcpu-dirty-limit-period': 250 },
      },
      { do: 'run_until', vm: 'guest', status: ['completed', 'cancelled'], time: until },
      ...extra,
    ],
  };
}

const QUOTA = 4;

describe('a migration with dirty-limit', () => {
  it('without it the hot set never converges: still active after 6 s', () => {
    const r = ScenarioRun.fromJson(hotSet([], '6s'));
    r.runAll();
    const m = r.world.migrations[0] as MigrationThread;
    expect(m.status).toBe('active');
    expect(m.rounds.length).toBeGreaterThan(15);
    expect(m.rounds.slice(-5).every((x) => x.remaining > x.threshold)).toBe(true);
  });

  const r = ScenarioRun.fromJson(hotSet(['dirty-limit'], '30s', [{ do: 'query_migrate', vm: 'guest' }]));
  const report = r.runAll();
  const m = r.world.migrations[0] as MigrationThread;
  const src = m.vmms.src;
  const events = r.trace.events.filter((e) => e.host === 'src');
  const named = (n: string) => events.filter((e) => e.name === n);

  it('with it the same hot set converges, every page equal on both hosts', () => {
    expect(m.status).toBe('completed');
    expect(m.mismatchedPages()).toEqual([]);
    expect(m.capabilities['dirty-limit']).toBe(true);
    // Where auto-converge would throttle: migration_dirty_limit_guest() sets vcpu-dirty-limit on each vCPU.
    const trigger = named('migration_dirty_limit_guest');
    expect(trigger).toHaveLength(1);
    expect(trigger[0].args).toMatchObject({ dirtyrate: QUOTA });
    expect(named('dirtylimit_set_vcpu').filter((e) => e.args.quota === QUOTA).map((e) => e.vcpu)).toEqual([0, 1]);
    expect(named('cpu_throttle_set')).toHaveLength(0);
  });

  it("the writing vCPU's rate, measured from its ring every x-vcpu-dirty-limit-period, ends within QEMU's tolerance of the quota; the halted vCPU is left alone", () => {
    const start = named('dirtylimit_state_initialize')[0].seq;
    const rates = named('dirtyrate_do_calculate_vcpu').filter((e) => e.seq > start && e.vcpu === 0).map((e) => e.args as { dirtyrate: number; ms: number });
    expect(rates.every((x) => x.ms === 250)).toBe(true);
    // First far above the quota, so the sleep grows in proportion (dirtylimit_throttle_pct) ...
    expect(rates[0].dirtyrate).toBeGreaterThan(QUOTA + DIRTYLIMIT_TOLERANCE_RANGE);
    expect(named('dirtylimit_throttle_pct')[0].args).toMatchObject({ cpu_index: 0 });
    // ... then near it.
    expect(rates.length).toBeGreaterThan(1);
    for (const x of rates.slice(1)) expect(Math.abs(x.dirtyrate - QUOTA)).toBeLessThanOrEqual(DIRTYLIMIT_TOLERANCE_RANGE);
    expect(named('dirtylimit_vcpu_execute').every((e) => e.vcpu === 0)).toBe(true);
    expect(src.dirtyLimit.sleeps[1]).toBe(0);
  });

  it('the throttled vCPU really sleeps on its full ring: its thread is off the CPU that long in virtual time', () => {
    const dl = src.dirtyLimit;
    expect(dl.sleeps[0]).toBeGreaterThan(0);
    expect(named('dirtylimit_vcpu_execute')).toHaveLength(dl.sleeps[0]);
    const slept = src.threads[0].snapshotCounts().time.sleeping;
    // The last sleep may be cut short when the source stops at switchover.
    expect(slept).toBeLessThanOrEqual(dl.sleptNs[0]);
    expect(slept).toBeGreaterThanOrEqual(dl.sleptNs[0] - dl.throttleUsPerFull[0] * 1000);
  });

  it("while the limit is in service the kvm-reaper thread does not reap; it ends with the migration, and query-migrate drops its fields", () => {
    const from = named('dirtylimit_state_initialize')[0].seq;
    const to = named('dirtylimit_state_finalize')[0].seq;
    const reaperReaps = named('kvm_dirty_ring_reap').filter((e) => String(e.args.why).includes('kvm-reaper'));
    expect(reaperReaps.some((e) => e.seq < from)).toBe(true);
    expect(reaperReaps.filter((e) => e.seq > from && e.seq < to)).toEqual([]);
    expect(named('kvm_dirty_ring_full').filter((e) => e.seq > from && e.seq < to).every((e) => /reaps this vCPU's ring only/.test(e.text))).toBe(true);
    expect(src.dirtyLimit.inService).toBe(false);
    expect(src.dirtyRing.heldByDirtyLimit).toBe(false);
    const done = report.results[4].value as Record<string, unknown>;
    expect(done.status).toBe('completed');
    expect(done).not.toHaveProperty('dirty-limit-throttle-time-per-round');
  });
});

/**
 * Run `sc` one slice unit (an instruction or an actor) at a time until `pred` holds (or the run ends),
 * so that no state between two actors is skipped. (The workload's writes are a guest kernel service:
 * few instructions, so this is cheap.)
 */
function driveTo(sc: unknown, pred: (m: MigrationThread | undefined) => boolean) {
  const r = ScenarioRun.fromJson(sc);
  for (;;) {
    const m = r.world.migrations[0] as MigrationThread | undefined;
    if (r.done || pred(m)) return r;
    r.advance(1);
  }
}

describe('while the limit is in service', () => {
  const throttled = (m: MigrationThread | undefined) => !!m && m.vmms.src.dirtyLimit.throttleUsPerFull[0] > 0 && m.vmms.src.threads[0].state === 'sleeping';

  it('query-migrate reports dirty-limit-throttle-time-per-round and dirty-limit-ring-full-time (µs), and asking changes nothing', () => {
    const r = driveTo(hotSet(['dirty-limit'], '30s'), throttled);
    const m = r.world.migrations[0] as MigrationThread;
    const dl = m.vmms.src.dirtyLimit;
    const max = dl.maxDirtyrate;
    const info = m.info(r.world.clock.now);
    expect(info.status).toBe('active');
    expect(info['dirty-limit-throttle-time-per-round']).toBe(dl.throttleUsPerFull[0]);
    // Both vCPUs are running (one halted in the guest); the average is below the highest rate seen.
    expect(info['dirty-limit-ring-full-time']).toBe(Math.floor((4 * 1e6) / max));
    expect(m.info(r.world.clock.now)).toEqual(info);
    expect(dl.maxDirtyrate).toBe(max);
  });

  it('migrate_cancel ends it: dirtylimit_state_finalize, no more sleeps, and the kvm-reaper reaps again', () => {
    const r = driveTo(hotSet(['dirty-limit'], '30s', [{ do: 'run_until', time: '60s' }]), throttled);
    const m = r.world.migrations[0] as MigrationThread;
    const t0 = r.world.clock.now;
    const wakes = m.vmms.src.dirtyRing.iterations;
    const writes = m.vmms.src.kernelOf(0).timed.stats.writes;
    expect(m.cancel(t0)).toBe(true);
    while (!r.done && r.world.clock.now < t0 + 1.5e9) r.advance(100);
    expect(m.status).toBe('cancelled');
    const dl = m.vmms.src.dirtyLimit;
    expect(dl.inService).toBe(false);
    const ev = r.trace.events.filter((e) => e.host === 'src');
    const end = ev.find((e) => e.name === 'dirtylimit_state_finalize')!;
    expect(end.args.why).toBe('the migration is cancelled');
    const after = ev.filter((e) => e.seq > end.seq);
    expect(after.some((e) => e.name === 'dirtylimit_vcpu_execute')).toBe(false);
    // The kvm-reaper thread wakes and reaps again (with dirty logging off it finds nothing to reap).
    expect(m.vmms.src.dirtyRing.heldByDirtyLimit).toBe(false);
    expect(m.vmms.src.dirtyRing.iterations).toBeGreaterThan(wakes);
    // The guest runs on at the source, unlimited: its sleep ends and it writes again.
    expect(m.vmms.src.runState).toBe('running');
    expect(m.vmms.src.kernelOf(0).timed.stats.writes).toBeGreaterThan(writes);
  });

  it('a snapshot taken while the vCPU sleeps on its full ring restores and goes on with the same report', () => {
    const sc = hotSet(['dirty-limit'], '30s', [{ do: 'query_migrate', vm: 'guest' }, { do: 'run_until', time: '6s' }]);
    const text = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
    const whole = text(ScenarioRun.fromJson(sc).runAll());
    const r = driveTo(sc, throttled);
    expect(r.world.migrations[0].status).toBe('active');
    const restored = restoreRun(sc, structuredClone(snapshotRun(r)));
    expect(restored.world.migrations[0].vmms.src.dirtyLimit.inService).toBe(true);
    expect(restored.world.migrations[0].vmms.src.threads[0].state).toBe('sleeping');
    expect(text(restored.runAll())).toBe(whole);
  });
});
