/**
 * Pure helpers for the attack-surface view: the commands it sends, the words it shows for a state,
 * and the one-line digests in the section headings. No React here, so they are tested on their own.
 */
import type { DesignMode, DeviceId } from '../../../sim/vmm/devices/types';
import type { AttackSurfaceView, MapRange, RegRow } from '../../../sim/vmm/surface-view';
import { plural } from '../../format';

/** The scenario steps this view sends through `client.command` (the worker validates them). */
export type SurfaceStep =
  | { do: 'set_device'; vm: string; device: DeviceId; enabled: boolean }
  | { do: 'set_design_mode'; vm: string; mode: DesignMode }
  | { do: 'reboot'; vm: string }
  | { do: 'freeze_devices'; vm: string }
  | {
    do: 'set_msr_policy'; vm: string; msr: number;
    read?: 'allow' | 'deny'; write?: 'allow' | 'deny'; constraint?: 'none' | 'read-only' | 'fixed'; value?: string;
  };

export type RangeState = MapRange['state'];

/** In the order of the legend: from "reaches host code" to "nothing answers". */
export const RANGE_STATES: readonly RangeState[] = ['present', 'allowed', 'frozen', 'denied', 'absent'];

export const STATE_TEXT: Record<RangeState, { label: string; meaning: string }> = {
  present: { label: 'present', meaning: 'a device answers (host code runs)' },
  allowed: { label: 'allowed', meaning: 'on the allow-list: forwarded to the device' },
  frozen: { label: 'frozen', meaning: 'present, state frozen: writes are dropped' },
  denied: { label: 'denied', meaning: 'not on the allow-list: refused before any device code' },
  absent: { label: 'absent', meaning: 'nothing answers: reads return all ones' },
};

export const DESIGN_TEXT: Record<DesignMode, string> = {
  upstream: 'upstream today',
  talk: "the talk's proposal",
};

/** "0x3f8" or "0x3f8–0x3ff". */
export function rangeText(r: { start: string; end: string }): string {
  return r.start === r.end ? r.start : `${r.start}–${r.end}`;
}

/** How many ranges are in each state. */
export function countStates(ranges: readonly MapRange[]): Record<RangeState, number> {
  const n: Record<RangeState, number> = { present: 0, allowed: 0, frozen: 0, denied: 0, absent: 0 };
  for (const r of ranges) n[r.state]++;
  return n;
}

/**
 * Boot-log lines worth a second look: errors, failures and probes that found nothing
 * (Linux prints e.g. "i8042: PNP: No PS/2 controller found." or "… not present").
 */
export function isFlaggedLogLine(line: string): boolean {
  return /error|fail|not present/i.test(line) || /\bNo /.test(line);
}

/** Parse "0x1b" or "27" as an MSR index; null when it is neither. */
export function parseMsrIndex(index: string): number | null {
  const s = index.trim().toLowerCase();
  if (/^0x[0-9a-f]+$/.test(s)) return Number.parseInt(s.slice(2), 16);
  if (/^[0-9]+$/.test(s)) return Number.parseInt(s, 10);
  return null;
}

/** A value the user typed for a fixed MSR: hexadecimal with 0x, or decimal; null when it is neither. */
export function checkMsrValue(text: string): string | null {
  const s = text.trim().toLowerCase();
  if (/^0x[0-9a-f]{1,16}$/.test(s)) return s;
  if (/^[0-9]+$/.test(s) && BigInt(s) < 2n ** 64n) return `0x${BigInt(s).toString(16)}`;
  return null;
}

/** The reset-state rows of several VMs side by side: one row per register, in first-seen order. */
export function mergeReset(views: readonly AttackSurfaceView[]): { name: string; cells: (RegRow | null)[] }[] {
  const order: string[] = [];
  const byVm = views.map((v) => new Map(v.reset.map((r) => [r.name, r])));
  for (const v of views) for (const r of v.reset) if (!order.includes(r.name)) order.push(r.name);
  return order.map((name) => ({ name, cells: byVm.map((m) => m.get(name) ?? null) }));
}

const reach = (what: string, n: number) => `${what} ${n === 1 ? 'reaches' : 'reach'} host code`;

/** The one-line digest of each section for one VM (shown in the section's heading). */
export const DIGESTS = {
  devices: (v: AttackSurfaceView) => `${v.devices.filter((d) => d.enabled).length} of ${v.devices.length} on`,
  ports: (v: AttackSurfaceView) => reach(plural(v.surface.ports, 'range'), v.surface.ports),
  mmio: (v: AttackSurfaceView) => reach(plural(v.surface.mmio, 'range'), v.surface.mmio),
  acpi: (v: AttackSurfaceView) => {
    const changed = v.acpi.filter((t) => t.change !== 'same').length;
    const tables = plural(v.acpi.filter((t) => t.change !== 'removed').length, 'table');
    return changed ? `${tables}, ${changed} changed since the last boot` : tables;
  },
  reset: (v: AttackSurfaceView) => plural(v.reset.length, 'register'),
  msrs: (v: AttackSurfaceView) => `${plural(v.msrs.length, 'MSR')}, ${reach(String(v.surface.msrs), v.surface.msrs)}`,
  cpuid: (v: AttackSurfaceView) => {
    const ve = v.cpuid.filter((c) => c.ve).length;
    return v.isTd ? `${plural(v.cpuid.length, 'leaf', 'leaves')}, ${ve} exit with #VE` : plural(v.cpuid.length, 'leaf', 'leaves');
  },
  caps: (v: AttackSurfaceView) => plural(v.caps.length, 'capability', 'capabilities'),
  boot: (v: AttackSurfaceView) => {
    const lines = v.bootLog ? v.bootLog.split('\n').filter((l) => l !== '') : [];
    const flagged = lines.filter(isFlaggedLogLine).length;
    return `${plural(lines.length, 'line')}${flagged ? `, ${flagged} flagged` : ''} (boot ${v.boots})`;
  },
} satisfies Record<string, (v: AttackSurfaceView) => string>;

export type SectionId = keyof typeof DIGESTS;
