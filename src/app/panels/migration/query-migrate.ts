/**
 * The rows of the migration panel's query-migrate table: QEMU's field names (qapi/migration.json,
 * MigrationInfo and MigrationStats), the unit each is reported in, and a line a student can read on
 * hover. Values come from the simulator's query-migrate answer as QEMU computes them
 * (src/sim/vmm/migration/); a field QEMU leaves out for the status (fill_source_migration_info) is
 * shown as absent, not as 0.
 */
import type { MigrationStatus } from '../../../sim/vmm/migration/migration';

export type FieldUnit = 'status' | 'ms' | 'µs' | 'bytes' | 'pages' | 'pages/s' | 'Mbit/s' | 'count' | '%';

export interface FieldRow {
  /** The field as query-migrate names it: top-level, or under `ram` as `ram.<name>`. */
  key: string;
  unit: FieldUnit;
  /** One line: what the number is and how QEMU gets it. */
  explain: string;
}

export const QUERY_MIGRATE_FIELDS: readonly FieldRow[] = [
  { key: 'status', unit: 'status', explain: 'Where the migration is: setup, active (pre-copy rounds), device (stop-and-copy of the last pages and the device state), postcopy-active (the guest runs on the destination; its missing pages follow), postcopy-paused (the link broke in post-copy: both sides wait, neither can go on alone), postcopy-recover-setup and postcopy-recover (migrate with resume after migrate-recover: the two sides reconnect and re-request what was in flight), completed, failed, cancelling or cancelled.' },
  { key: 'total-time', unit: 'ms', explain: 'Milliseconds since the migration started; once it has ended, how long it took.' },
  { key: 'setup-time', unit: 'ms', explain: 'Milliseconds from the migrate command to the start of the first round (the setup, with its first dirty-bitmap sync).' },
  { key: 'expected-downtime', unit: 'ms', explain: 'While active: the bytes found dirty at the last sync divided by the measured bandwidth, the pause the guest would see if it stopped now.' },
  { key: 'downtime', unit: 'ms', explain: 'Once completed: how long the guest was really paused (the last pages and the device state, sent without the rate limit).' },
  { key: 'cpu-throttle-percentage', unit: '%', explain: 'Only while auto-converge throttles the guest: the share of time each vCPU is made to sleep.' },
  { key: 'dirty-limit-throttle-time-per-round', unit: 'µs', explain: 'Only with dirty-limit at work: the longest a vCPU is made to sleep each time its dirty ring fills, in microseconds.' },
  { key: 'dirty-limit-ring-full-time', unit: 'µs', explain: 'Only with dirty-limit at work: how long a running vCPU takes to fill its dirty ring at their average dirty rate, in microseconds.' },
  { key: 'ram.transferred', unit: 'bytes', explain: 'Bytes put on the link so far: page data, page headers and zero-page markers.' },
  { key: 'ram.remaining', unit: 'bytes', explain: 'Bytes of dirty pages still to send (dirty pages × page size); 0 once completed.' },
  { key: 'ram.total', unit: 'bytes', explain: 'Bytes of guest RAM being migrated.' },
  { key: 'ram.duplicate', unit: 'pages', explain: 'Zero pages: sent as a header and one byte instead of 4 KiB.' },
  { key: 'ram.normal', unit: 'pages', explain: 'Pages sent whole (4 KiB of data each).' },
  { key: 'ram.normal-bytes', unit: 'bytes', explain: 'normal × page size: the page data sent, without headers.' },
  { key: 'ram.dirty-pages-rate', unit: 'pages/s', explain: 'Pages the guest dirtied per second, measured over at least a second between syncs.' },
  { key: 'ram.mbps', unit: 'Mbit/s', explain: 'Throughput of the last 100 ms bandwidth window, in megabits per second.' },
  { key: 'ram.dirty-sync-count', unit: 'count', explain: 'How many times the dirty bitmap was synced from KVM: the setup sync plus one per round.' },
  { key: 'ram.precopy-bytes', unit: 'bytes', explain: 'Bytes sent while the guest was running (the pre-copy rounds).' },
  { key: 'ram.downtime-bytes', unit: 'bytes', explain: 'Bytes sent while the guest was paused: the last pages and the device and vCPU state.' },
  { key: 'ram.pages-per-second', unit: 'pages/s', explain: 'Pages sent per second in the last bandwidth window.' },
  { key: 'ram.postcopy-requests', unit: 'count', explain: 'Post-copy: page requests the source received from the destination over the return path (MIG_RP_MSG_REQ_PAGES), one per fault that had to ask the network.' },
  { key: 'ram.postcopy-bytes', unit: 'bytes', explain: 'Post-copy: bytes sent after the switch, while the guest ran on the destination (requested pages and the background stream).' },
];

/** QEMU's migration statuses (MigrationStatus in qapi/migration.json), each in a sentence: the status cell's hover. */
export const STATUS_EXPLAIN: Readonly<Record<MigrationStatus | 'none', string>> = {
  none: 'No migration has started.',
  setup: 'Setting up: the connection, the capabilities, the first dirty-bitmap sync.',
  active: 'Pre-copy: the guest runs on the source while its pages are sent, round after round.',
  device: 'Stop-and-copy: the guest is paused; the last dirty pages and the device state go out.',
  'postcopy-active': 'Post-copy: the guest runs on the destination; a vCPU that touches a page still on the source waits while the destination requests it, and the rest follows in the background.',
  'postcopy-paused': "Post-copy, paused: the link broke. Neither side can go on alone (the guest's memory is split between the hosts); vCPUs that fault stay blocked until recovery.",
  'postcopy-recover-setup': 'Post-copy recovery: migrate-recover on the destination and migrate with resume on the source are reconnecting the two sides.',
  'postcopy-recover': 'Post-copy recovery: the sides compare what arrived (the received bitmap) and re-request what was in flight; then back to postcopy-active.',
  completed: 'Done: every page is on the destination and the guest runs there.',
  failed: 'Failed: see the error; in pre-copy the guest keeps running on the source.',
  cancelling: 'migrate_cancel was asked: the migration is stopping.',
  cancelled: 'Cancelled: the guest keeps running on the source.',
};

/** The sentence for a status value, or undefined for a value QEMU does not have. */
export function statusExplain(status: unknown): string | undefined {
  return typeof status === 'string' && Object.hasOwn(STATUS_EXPLAIN, status) ? STATUS_EXPLAIN[status as MigrationStatus] : undefined;
}

/** The value of `key` in a query-migrate answer, or undefined when the answer leaves it out. */
export function fieldValue(info: Record<string, unknown> | null | undefined, key: string): unknown {
  if (!info) return undefined;
  if (!key.startsWith('ram.')) return info[key];
  const ram = info.ram as Record<string, unknown> | undefined;
  return ram?.[key.slice(4)];
}

const MiB = 1024 * 1024;

/** A value in its unit, the way a lecturer would read it out: "1,536 ms", "12.0 MiB (12,582,912 bytes)". */
export function formatField(value: unknown, unit: FieldUnit): string {
  if (value === undefined || value === null) return '—';
  if (unit === 'status' || typeof value !== 'number') return String(value);
  const n = value;
  switch (unit) {
    case 'ms': return `${Math.round(n).toLocaleString('en')} ms`;
    case 'µs': return `${Math.round(n).toLocaleString('en')} µs`;
    case 'bytes': return n >= MiB ? `${(n / MiB).toFixed(1)} MiB (${Math.round(n).toLocaleString('en')} bytes)` : `${Math.round(n).toLocaleString('en')} bytes`;
    case 'pages': return `${Math.round(n).toLocaleString('en')} pages`;
    case 'pages/s': return `${Math.round(n).toLocaleString('en')} pages/s`;
    case 'Mbit/s': return `${n.toFixed(1)} Mbit/s`;
    case '%': return `${Math.round(n)} %`;
    default: return Math.round(n).toLocaleString('en');
  }
}

/** The share of RAM still to send, 0..1, for the progress bar (null when query-migrate has no `ram`). */
export function remainingShare(info: Record<string, unknown> | null | undefined): number | null {
  const total = fieldValue(info, 'ram.total');
  const remaining = fieldValue(info, 'ram.remaining');
  if (typeof total !== 'number' || typeof remaining !== 'number' || total <= 0) return null;
  return Math.min(1, Math.max(0, remaining / total));
}

/**
 * How long the dirty pages left would take to send at the rate of the last bandwidth window
 * (ram.mbps), as a sentence; null when there is nothing to estimate. Not a promise: the guest keeps
 * dirtying pages, so a migration that does not converge never gets there.
 */
export function remainingEstimate(info: Record<string, unknown> | null | undefined): string | null {
  const remaining = fieldValue(info, 'ram.remaining');
  const mbps = fieldValue(info, 'ram.mbps');
  const status = fieldValue(info, 'status');
  if (typeof remaining !== 'number' || typeof mbps !== 'number' || remaining <= 0 || (status !== 'active' && status !== 'device')) return null;
  if (mbps <= 0) return 'Nothing went out in the last 100 ms window: no estimate.';
  const s = (remaining * 8) / (mbps * 1e6);
  const rate = (mbps * 1e6) / 8 / MiB;
  return `At ${rate.toFixed(1)} MiB/s (the last window), the dirty pages left take about ${s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(1)} s`} to send — if the guest dirtied no more.`;
}
