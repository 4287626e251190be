/**
 * Migration parameters and capabilities, with QEMU's names, defaults and checks
 * (migration/options.c: migrate_params_check(), migrate_caps_check(); docs/abi-sources.md).
 */
import { MiB } from '../../core/units';

/** The parameters this lab's pre-copy uses, by QEMU's QAPI names (MigrationParameters). */
export interface MigrationParameters {
  /** Bytes per second; the rate limiter allows a tenth per 100 ms period. Default 128 MiB/s (QEMU 5.2+). */
  'max-bandwidth': number;
  /** Milliseconds the guest may be stopped at switchover. Default 300. */
  'downtime-limit': number;
  /** Bytes per second the switchover can count on (0: use the measured bandwidth). */
  'avail-switchover-bandwidth': number;
  /** auto-converge: throttle when the dirtied bytes exceed this percentage of the bytes sent. */
  'throttle-trigger-threshold': number;
  'cpu-throttle-initial': number;
  'cpu-throttle-increment': number;
  'max-cpu-throttle': number;
  /** dirty-limit: MB/s per vCPU (QEMU default 1). */
  'vcpu-dirty-limit': number;
  /** dirty-limit: the period over which each vCPU's dirty rate is measured, ms (QEMU default 1000). */
  'x-vcpu-dirty-limit-period': number;
  /** Post-copy's rate limit, bytes per second; 0 (QEMU's default): none, the link's own speed. */
  'max-postcopy-bandwidth': number;
}

export const DEFAULT_PARAMETERS: Readonly<MigrationParameters> = {
  'max-bandwidth': 128 * MiB,
  'downtime-limit': 300,
  'avail-switchover-bandwidth': 0,
  'throttle-trigger-threshold': 50,
  'cpu-throttle-initial': 20,
  'cpu-throttle-increment': 10,
  'max-cpu-throttle': 99,
  'vcpu-dirty-limit': 1,
  'x-vcpu-dirty-limit-period': 1000,
  'max-postcopy-bandwidth': 0,
};

export const PARAMETER_NAMES = Object.keys(DEFAULT_PARAMETERS) as (keyof MigrationParameters)[];

/**
 * The capabilities the lab knows (MigrationCapability): `postcopy-ram` lets migrate-start-postcopy
 * switch a running migration to post-copy (postcopy.ts); `postcopy-preempt` sends requested pages on
 * a channel of their own; `postcopy-blocktime` makes the destination count how long its vCPUs wait.
 */
export const CAPABILITY_NAMES = ['auto-converge', 'dirty-limit', 'postcopy-ram', 'postcopy-preempt', 'postcopy-blocktime'] as const;
export type MigrationCapability = (typeof CAPABILITY_NAMES)[number];
export type MigrationCapabilities = Record<MigrationCapability, boolean>;

export const DEFAULT_CAPABILITIES: Readonly<MigrationCapabilities> = {
  'auto-converge': false, 'dirty-limit': false, 'postcopy-ram': false, 'postcopy-preempt': false, 'postcopy-blocktime': false,
};

/** QEMU's MAX_MIGRATE_DOWNTIME_SECONDS. */
const MAX_MIGRATE_DOWNTIME_SECONDS = 2000;

/** A check failed: `param` is the QAPI name the problem is about, `message` QEMU's error text. */
export interface MigrationParamError {
  param: string;
  message: string;
}

/** QERR_INVALID_PARAMETER_VALUE: "Parameter '%s' expects %s" (QEMU names the C field: max_bandwidth). */
const invalid = (param: keyof MigrationParameters, expects: string): MigrationParamError => ({
  param, message: `Parameter '${param.replace(/-/g, '_')}' expects ${expects}`,
});

/** migrate_params_check(): the ranges QEMU enforces. */
export function checkParameters(p: Partial<MigrationParameters>): MigrationParamError | null {
  const int = (v: number | undefined) => v === undefined || Number.isInteger(v);
  const inRange = (v: number | undefined, lo: number, hi: number) => v === undefined || (int(v) && v >= lo && v <= hi);
  if (!inRange(p['max-bandwidth'], 0, Number.MAX_SAFE_INTEGER)) return invalid('max-bandwidth', 'an integer in the range of 0 to SIZE_MAX bytes/second');
  if (!inRange(p['max-postcopy-bandwidth'], 0, Number.MAX_SAFE_INTEGER)) return invalid('max-postcopy-bandwidth', 'an integer in the range of 0 to SIZE_MAX bytes/second');
  if (!inRange(p['avail-switchover-bandwidth'], 0, Number.MAX_SAFE_INTEGER)) return invalid('avail-switchover-bandwidth', 'an integer in the range of 0 to SIZE_MAX bytes/second');
  if (!inRange(p['downtime-limit'], 0, MAX_MIGRATE_DOWNTIME_SECONDS * 1000))
    return invalid('downtime-limit', `an integer in the range of 0 to ${MAX_MIGRATE_DOWNTIME_SECONDS} seconds`);
  if (!inRange(p['throttle-trigger-threshold'], 1, 100)) return invalid('throttle-trigger-threshold', 'an integer in the range of 1 to 100');
  if (!inRange(p['cpu-throttle-initial'], 1, 99)) return invalid('cpu-throttle-initial', 'an integer in the range of 1 to 99');
  if (!inRange(p['cpu-throttle-increment'], 1, 99)) return invalid('cpu-throttle-increment', 'an integer in the range of 1 to 99');
  if (!inRange(p['max-cpu-throttle'], 1, 99)) return invalid('max-cpu-throttle', 'an integer in the range of 1 to 99');
  if (p['vcpu-dirty-limit'] !== undefined && !(int(p['vcpu-dirty-limit']) && p['vcpu-dirty-limit'] >= 1))
    return { param: 'vcpu-dirty-limit', message: "Parameter 'vcpu_dirty_limit' must be greater than 1 MB/s" };
  if (!inRange(p['x-vcpu-dirty-limit-period'], 1, 1000))
    return { param: 'x-vcpu-dirty-limit-period', message: 'Option x-vcpu-dirty-limit-period expects a value between 1 and 1000' };
  return null;
}

/**
 * migrate_caps_check(), the rules that concern the capabilities the lab knows. `dirtyRing` says
 * whether the VM's KVM was set up with a dirty ring (-accel kvm,dirty-ring-size=N).
 */
export function checkCapabilities(c: MigrationCapabilities, dirtyRing: boolean): MigrationParamError | null {
  // migrate_caps_check(): "Postcopy preempt requires postcopy-ram".
  if (c['postcopy-preempt'] && !c['postcopy-ram']) return { param: 'postcopy-preempt', message: 'Postcopy preempt requires postcopy-ram' };
  if (c['dirty-limit']) {
    if (c['auto-converge']) return { param: 'dirty-limit', message: 'dirty-limit conflicts with auto-converge either of then available currently' };
    if (!dirtyRing) return { param: 'dirty-limit', message: "dirty-limit requires KVM with accelerator property 'dirty-ring-size' set" };
  }
  return null;
}
