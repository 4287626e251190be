/**
 * QEMU's dirty page rate limit (system/dirtylimit.c, migration/dirtyrate.c): each vCPU gets a quota
 * in MB/s; a "dirtyrate-stat" thread measures every vCPU's dirty rate from its dirty ring over a
 * period, and adjusts how long the vCPU sleeps each time its ring fills (CPUState.throttle_us_per_full);
 * the vCPU thread sleeps that long in its KVM_EXIT_DIRTY_RING_FULL path (dirtylimit_vcpu_execute()),
 * so a vCPU that writes fast is slowed down and one that only reads is left alone. A migration with
 * the `dirty-limit` capability turns it on where auto-converge would throttle
 * (migration_dirty_limit_guest(), with `vcpu-dirty-limit` MB/s for every vCPU) and measures over
 * `x-vcpu-dirty-limit-period` ms; while it is in service the kvm-reaper thread keeps sleeping and a
 * full ring is reaped by its own vCPU only, so every vCPU meets its own ring-full exits.
 *
 * The formulas are QEMU's, with its integer arithmetic: the rate is ((pages × 4 KiB) >> 20) × 1000 /
 * ms (do_calculate_dirtyrate()), the time to fill a ring is its size in MiB × 10^6 / the highest
 * rate seen (dirtylimit_dirty_ring_full_time()), and the sleep moves in proportion while the rate is
 * more than 50 % away from the quota, by a tenth of the ring-full time when closer, and not at all
 * within 25 MB/s of it (dirtylimit_set_throttle(), dirtylimit_done()). QEMU's "MB" is a MiB.
 *
 * Everything is plain data (per-vCPU arrays and numbers), saved with its VMM.
 */
import type { Actor } from '../core/actor';
import { MiB, PAGE_SIZE } from '../core/units';
import type { Vm } from '../kvm/vm';
import type { DirtyRingReaper } from './dirty-ring-reaper';

/** DIRTYLIMIT_TOLERANCE_RANGE: within this many MB/s of the quota the sleep is left as it is. */
export const DIRTYLIMIT_TOLERANCE_RANGE = 25;
/** DIRTYLIMIT_LINEAR_ADJUSTMENT_PCT: farther than this from the quota, the sleep moves in proportion. */
export const DIRTYLIMIT_LINEAR_ADJUSTMENT_PCT = 50;
/** DIRTYLIMIT_THROTTLE_PCT_MAX: the sleep is at most 99 ring-full times. */
export const DIRTYLIMIT_THROTTLE_PCT_MAX = 99;
/** DIRTYLIMIT_CALC_TIME_MS: the measuring period outside a dirty-limit migration. */
export const DIRTYLIMIT_CALC_TIME_MS = 1000;

/** do_calculate_dirtyrate(): MB/s from the ring entries collected in `ms` milliseconds. */
export function calculateDirtyrate(pages: number, ms: number): number {
  const mb = Math.floor((pages * PAGE_SIZE) / MiB);
  return ms > 0 ? Math.floor((mb * 1000) / ms) : 0;
}

/** qemu_target_pages_to_MiB(kvm_dirty_ring_size()): the ring's entries as MiB of 4 KiB pages (>> 8). */
export function ringSizeMiB(entries: number): number {
  return Math.floor((entries * PAGE_SIZE) / MiB);
}

/** dirtylimit_dirty_ring_full_time(): µs to fill a ring at `maxDirtyrate` MB/s (0 for a ring under 1 MiB). */
export function ringFullTimeUs(entries: number, maxDirtyrate: number): number {
  return maxDirtyrate > 0 ? Math.floor((ringSizeMiB(entries) * 1_000_000) / maxDirtyrate) : 0;
}

/** dirtylimit_done(): the rate is within DIRTYLIMIT_TOLERANCE_RANGE MB/s of the quota. */
export function dirtylimitDone(quota: number, current: number): boolean {
  return Math.abs(quota - current) <= DIRTYLIMIT_TOLERANCE_RANGE;
}

/** dirtylimit_need_linear_adjustment(): the rate is more than 50 % away from the quota (of the larger). */
export function needLinearAdjustment(quota: number, current: number): boolean {
  const max = Math.max(quota, current);
  return max > 0 && Math.floor((Math.abs(quota - current) * 100) / max) > DIRTYLIMIT_LINEAR_ADJUSTMENT_PCT;
}

/** What dirtylimit_set_throttle() did to one vCPU's sleep. */
export interface ThrottleStep {
  /** The new throttle_us_per_full. */
  throttleUs: number;
  ringFullUs: number;
  /** Linear: by `sleepPct` % of a cycle (`deltaUs`); else a tenth of the ring-full time. */
  linear: boolean;
  sleepPct: number;
  deltaUs: number;
}

/**
 * dirtylimit_set_throttle(): the next throttle_us_per_full for a vCPU sleeping `prev` µs per full ring,
 * whose rate is `current` MB/s against `quota`, with the ring filling in `ringFullUs` µs (at the
 * highest rate seen).
 */
export function setThrottle(prev: number, quota: number, current: number, ringFullUs: number): ThrottleStep {
  if (current === 0) return { throttleUs: 0, ringFullUs, linear: false, sleepPct: 0, deltaUs: 0 };
  let t = prev;
  let sleepPct = 0;
  let deltaUs: number;
  const linear = needLinearAdjustment(quota, current);
  if (linear) {
    // sleep_pct of a cycle (ring-full time + sleep) is what the rate must lose (or may gain).
    sleepPct = quota < current ? Math.floor(((current - quota) * 100) / current) : Math.floor(((quota - current) * 100) / quota);
    deltaUs = Math.trunc((ringFullUs * sleepPct) / (100 - sleepPct));
  } else {
    deltaUs = Math.trunc(ringFullUs / 10);
  }
  t += quota < current ? deltaUs : -deltaUs;
  t = Math.max(0, Math.min(t, ringFullUs * DIRTYLIMIT_THROTTLE_PCT_MAX));
  return { throttleUs: t, ringFullUs, linear, sleepPct, deltaUs };
}

/** What the thread reads from its VMM: the vCPUs that are running (CPUState.running). */
export interface DirtyLimitWiring {
  running(cpu: number): boolean;
}

/**
 * One QEMU process's dirty limit: dirtylimit_state (per vCPU: enabled, quota), the vCPUs'
 * throttle_us_per_full, vcpu_dirty_rate_stat (per vCPU: the last rate) and its "dirtyrate-stat"
 * thread, an actor of the world's scheduler that wakes at the end of each measuring period.
 */
export class DirtyLimit implements Actor {
  static readonly stateSkip: readonly string[] = ['vm', 'reaper', 'w'];
  readonly kind = 'vmm-thread';
  readonly name: string;
  order: readonly number[] = [];
  /** dirtylimit_in_service(): dirtylimit_state exists. */
  inService = false;
  /** dirtylimit_state->states[i]: enabled, and the quota in MB/s (0 when not enabled). */
  readonly enabled: boolean[] = [];
  readonly quota: number[] = [];
  /** dirtylimit_state->limited_nvcpu. */
  limitedNvcpu = 0;
  /** CPUState.throttle_us_per_full: µs each vCPU sleeps when its ring is full. */
  readonly throttleUsPerFull: number[] = [];
  /** vcpu_dirty_rate_stat->stat.rates: each vCPU's dirty rate over the last period, MB/s. */
  readonly rates: number[] = [];
  /** The static max_dirtyrate of dirtylimit_dirty_ring_full_time(): the highest rate it was given. */
  maxDirtyrate = 0;
  /** The static quota_dirtyrate of migration_dirty_limit_guest(): the quota a migration last set. */
  migrationQuota = 0;
  /** The period the stat thread measures over: x-vcpu-dirty-limit-period in a dirty-limit migration, else 1000 ms. */
  periodMs = DIRTYLIMIT_CALC_TIME_MS;
  /** vcpu_dirty_rate_stat->running, and the period in progress: its start and each vCPU's cpu->dirty_pages then. */
  statRunning = false;
  periodStart = 0;
  readonly startPages: number[] = [];
  private nextAt = 0;
  /** Per vCPU: sleeps taken in the ring-full path and virtual ns slept (for the report and tests). */
  readonly sleeps: number[] = [];
  readonly sleptNs: number[] = [];

  constructor(private readonly vm: Vm, private readonly reaper: DirtyRingReaper, private readonly w: DirtyLimitWiring) {
    this.name = `${vm.name}/dirtyrate-stat`;
  }

  private get nvcpu(): number {
    return this.vm.vcpus.length;
  }

  private trace(name: string, args: Record<string, string | number | boolean>, text: string, vcpu?: number): void {
    this.vm.trace('vmm', name, args, text, vcpu === undefined ? {} : { vcpu });
  }

  readyAt(): number | null {
    return this.statRunning ? this.nextAt : null;
  }

  /**
   * qmp_set_vcpu_dirty_limit(false, -1, quota) as migration_dirty_limit_guest() calls it: the first
   * time, dirtylimit_init() (the state, the stat thread); then dirtylimit_set_all(quota, true).
   */
  setAll(quota: number, now: number, why: string): void {
    if (!this.reaper.enabled) throw new Error("dirty page limit feature requires KVM with accelerator property 'dirty-ring-size' set'");
    if (quota <= 0) return this.cancel(why);
    if (!this.inService) this.init(now);
    for (let i = 0; i < this.nvcpu; i++) this.setVcpu(i, quota, true);
    this.trace('dirtylimit_set_all', { quota, nvcpu: this.nvcpu, why },
      `QEMU sets a dirty page rate limit of ${quota} MB/s on each of the ${this.nvcpu} vCPU(s) (${why}): a vCPU that dirties faster will sleep each time its dirty ring fills.`);
  }

  /** dirtylimit_init(): dirtylimit_state_initialize(), dirtylimit_change(true), the stat thread starts. */
  private init(now: number): void {
    this.inService = true;
    this.limitedNvcpu = 0;
    for (let i = 0; i < this.nvcpu; i++) {
      this.enabled[i] = false;
      this.quota[i] = 0;
      this.rates[i] = 0;
      this.throttleUsPerFull[i] ??= 0;
      this.sleeps[i] ??= 0;
      this.sleptNs[i] ??= 0;
    }
    this.reaper.heldByDirtyLimit = true;
    this.trace('dirtylimit_state_initialize', { max_cpus: this.nvcpu },
      `Dirty limit is in service: a "dirtyrate-stat" thread measures each vCPU's dirty rate from its dirty ring every ${this.periodMs} ms, and the kvm-reaper thread keeps sleeping so that each vCPU reaps its own full ring (and takes its sleep there).`);
    this.startStat(now);
  }

  /** dirtylimit_set_vcpu() */
  private setVcpu(i: number, quota: number, enable: boolean): void {
    if (enable) {
      this.quota[i] = quota;
      if (!this.enabled[i]) this.limitedNvcpu++;
    } else {
      this.quota[i] = 0;
      if (this.enabled[i]) this.limitedNvcpu--;
    }
    this.enabled[i] = enable;
    this.trace('dirtylimit_set_vcpu', { cpu_index: i, quota: this.quota[i] },
      enable ? `vCPU ${i}'s dirty page rate quota is ${quota} MB/s.` : `vCPU ${i} has no dirty page rate limit any more.`, i);
  }

  /**
   * qmp_cancel_vcpu_dirty_limit(false, -1): every vCPU's limit off; with none left, dirtylimit_cleanup()
   * (the stat thread stops, the state goes). throttle_us_per_full keeps its value, as in QEMU, but
   * is slept only while the limit is in service.
   */
  cancel(why: string): void {
    if (!this.inService) return;
    for (let i = 0; i < this.nvcpu; i++) this.setVcpu(i, 0, false);
    if (this.limitedNvcpu) return;
    this.statRunning = false;
    this.inService = false;
    this.reaper.heldByDirtyLimit = false;
    this.rates.fill(0);
    this.trace('dirtylimit_state_finalize', { why },
      `Dirty limit is cancelled (${why}): the dirtyrate-stat thread stops, no vCPU sleeps on a full ring any more, and the kvm-reaper thread reaps again.`);
  }

  /** vcpu_dirty_rate_stat_start(): a period starts now (vcpu_calculate_dirtyrate() records cpu->dirty_pages). */
  private startStat(now: number): void {
    this.statRunning = true;
    this.beginPeriod(now);
  }

  private beginPeriod(now: number): void {
    this.periodStart = now;
    for (let i = 0; i < this.nvcpu; i++) this.startPages[i] = this.reaper.dirtyPages[i] ?? 0;
    this.nextAt = now + this.periodMs * 1e6;
  }

  /**
   * The end of a period (vcpu_dirty_rate_stat_collect()): global_dirty_log_sync() reaps every ring,
   * each vCPU's rate is computed from the entries collected meanwhile, then dirtylimit_process()
   * adjusts each limited vCPU's sleep; the next period starts at once.
   */
  act(now: number): void {
    const ms = Math.floor((now - this.periodStart) / 1e6);
    this.reaper.reap("the dirtyrate-stat thread's log sync (global_dirty_log_sync)");
    for (let i = 0; i < this.nvcpu; i++) {
      const pages = (this.reaper.dirtyPages[i] ?? 0) - (this.startPages[i] ?? 0);
      this.rates[i] = calculateDirtyrate(pages, ms);
      this.trace('dirtyrate_do_calculate_vcpu', { index: i, dirtyrate: this.rates[i], pages, ms },
        `vCPU ${i} dirtied ${pages} page(s) in ${ms} ms by its dirty ring's count: ${this.rates[i]} MB/s.`, i);
    }
    if (this.inService) this.process();
    this.beginPeriod(now);
  }

  /** dirtylimit_process() → dirtylimit_adjust_throttle() for each limited vCPU. */
  private process(): void {
    for (let i = 0; i < this.nvcpu; i++) {
      if (!this.enabled[i]) continue;
      const quota = this.quota[i];
      const current = this.rates[i];
      if (dirtylimitDone(quota, current)) {
        this.trace('dirtylimit_adjust_throttle', { cpu_index: i, quota, current, throttle_us_per_full: this.throttleUsPerFull[i] },
          `vCPU ${i} dirties ${current} MB/s, within ${DIRTYLIMIT_TOLERANCE_RANGE} MB/s of its quota of ${quota} MB/s: its sleep per full ring stays ${this.throttleUsPerFull[i]} µs.`, i);
        continue;
      }
      if (current > 0 && current > this.maxDirtyrate) this.maxDirtyrate = current;
      const s = setThrottle(this.throttleUsPerFull[i], quota, current, current ? ringFullTimeUs(this.reaper.size, this.maxDirtyrate) : 0);
      this.throttleUsPerFull[i] = s.throttleUs;
      const dir = quota < current ? 'longer' : 'shorter';
      if (s.linear) {
        this.trace('dirtylimit_throttle_pct', { cpu_index: i, pct: s.sleepPct, time_us: s.deltaUs, throttle_us_per_full: s.throttleUs, ring_full_us: s.ringFullUs },
          `vCPU ${i} dirties ${current} MB/s against a quota of ${quota} MB/s, more than ${DIRTYLIMIT_LINEAR_ADJUSTMENT_PCT} % off: it should sleep ${s.sleepPct} % of each cycle, so its sleep per full ring is ${s.deltaUs} µs ${dir}: ${s.throttleUs} µs (its ring fills in about ${s.ringFullUs} µs).`, i);
      } else {
        this.trace('dirtylimit_set_throttle', { cpu_index: i, quota, current, time_us: s.deltaUs, throttle_us_per_full: s.throttleUs, ring_full_us: s.ringFullUs },
          current === 0 ? `vCPU ${i} dirtied nothing: it no longer sleeps on a full ring.`
            : `vCPU ${i} dirties ${current} MB/s, near its quota of ${quota} MB/s: its sleep per full ring moves by a tenth of the ring-full time, ${s.deltaUs} µs ${dir}: ${s.throttleUs} µs.`, i);
      }
    }
  }

  /**
   * dirtylimit_vcpu_execute(), in vCPU `cpu`'s KVM_EXIT_DIRTY_RING_FULL path: the ns it must sleep
   * now (g_usleep(throttle_us_per_full)), 0 when it is not limited.
   */
  vcpuExecute(cpu: number): number {
    const us = this.throttleUsPerFull[cpu] ?? 0;
    if (!us || !this.inService || !this.enabled[cpu]) return 0;
    this.sleeps[cpu]++;
    this.sleptNs[cpu] += us * 1000;
    this.trace('dirtylimit_vcpu_execute', { cpu_index: cpu, sleep_time_us: us },
      `vCPU ${cpu}'s dirty ring was full and its dirty rate is limited: its thread sleeps ${(us / 1000).toFixed(1)} ms before it enters the guest again.`, cpu);
    return us * 1000;
  }

  /** dirtylimit_throttle_time_per_round(): the longest sleep per full ring of any vCPU, µs. */
  throttleTimePerRound(): number {
    let max = 0;
    for (let i = 0; i < this.nvcpu; i++) max = Math.max(max, this.throttleUsPerFull[i] ?? 0);
    return max;
  }

  /**
   * dirtylimit_ring_full_time(): µs for a running vCPU to fill its ring at the average rate (0 when
   * nothing is dirtied). QEMU also raises its max_dirtyrate here; the lab leaves it to the stat
   * thread, so that asking (query-migrate, the panel each frame) never changes the run.
   */
  ringFullTime(): number {
    let sum = 0;
    let n = 0;
    for (let i = 0; i < this.nvcpu; i++) {
      if (!this.w.running(i)) continue;
      n++;
      sum += this.rates[i] ?? 0;
    }
    if (!sum || !n) return 0;
    const avg = Math.floor(sum / n);
    return ringFullTimeUs(this.reaper.size, Math.max(this.maxDirtyrate, avg));
  }
}

/**
 * migration_dirty_limit_guest(), where migration_trigger_throttle() would throttle with
 * auto-converge: the quota `vcpu-dirty-limit` on every vCPU, unless it is in service with that
 * quota already. The stat thread measures over `x-vcpu-dirty-limit-period` while the migration runs.
 */
export function migrationDirtyLimitGuest(dl: DirtyLimit, quota: number, periodMs: number, now: number): boolean {
  dl.periodMs = periodMs;
  if (dl.inService && dl.migrationQuota === quota) return false;
  dl.migrationQuota = quota;
  dl.setAll(quota, now, `migration_dirty_limit_guest: vcpu-dirty-limit ${quota} MB/s`);
  return true;
}
