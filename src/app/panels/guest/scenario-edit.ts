/**
 * Reading a VM's program out of the scenario JSON and writing edited programs back into a copy.
 * The scenario here is the raw JSON the user loaded (not yet validated), so every field is checked.
 */
import { parseSize } from '../../../sim/view-model';

interface VmJson {
  name?: unknown;
  program?: unknown;
  origin?: unknown;
}

const DEFAULT_ORIGIN = 0x100000;

function vmsOf(scenario: unknown): VmJson[] {
  const vms = (scenario as { vms?: unknown } | null)?.vms;
  return Array.isArray(vms) ? (vms as VmJson[]) : [];
}

/** The VM's program as one text (a scenario may give it as an array of lines), or null. */
export function programOf(scenario: unknown, vm: string): string | null {
  const p = vmsOf(scenario).find((v) => v.name === vm)?.program;
  if (typeof p === 'string') return p;
  if (Array.isArray(p)) return p.map(String).join('\n');
  return null;
}

/** Where the program is assembled (`origin`: a number, "0x..." or a size), 0x100000 by default. */
export function originOf(scenario: unknown, vm: string): number {
  const o = vmsOf(scenario).find((v) => v.name === vm)?.origin;
  if (typeof o === 'string' && /^\s*0x[0-9a-f]+\s*$/i.test(o)) return Number.parseInt(o, 16);
  if (typeof o === 'number' || typeof o === 'string') return parseSize(o) ?? DEFAULT_ORIGIN;
  return DEFAULT_ORIGIN;
}

/** The JSON path of the VM's program, as the scenario validator reports it (`$.vms[1].program`). */
export function programPath(scenario: unknown, vm: string): string {
  return `$.vms[${vmsOf(scenario).findIndex((v) => v.name === vm)}].program`;
}

/**
 * A copy of the scenario with the edited programs in place, in the form the original used (an array
 * of lines stays an array of lines, so an exported scenario diffs well).
 */
export function withPrograms(scenario: unknown, texts: Readonly<Record<string, string>>): unknown {
  const copy = structuredClone(scenario) as { vms?: VmJson[] };
  for (const v of copy.vms ?? []) {
    if (typeof v.name !== 'string' || !(v.name in texts)) continue;
    const text = texts[v.name];
    v.program = Array.isArray(v.program) ? text.split('\n') : text;
  }
  return copy;
}

/** "host-reads-secret" → "host-reads-secret (edited)", without piling up suffixes. */
export function editedSource(source: string): string {
  return source.endsWith(' (edited)') ? source : `${source || 'scenario'} (edited)`;
}
