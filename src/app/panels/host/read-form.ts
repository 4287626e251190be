/**
 * The "read as the host" form: parsing what the user typed into a scenario step, and the one
 * sentence that explains each outcome. Pure functions, tested in read-form.test.ts.
 */
import type { StepResult } from '../../../sim/scenario/runner';
import { PAGE_SIZE, hex } from './owners';

export type AddressMode = 'gpa' | 'hpa';
export type Via = 'vmm_mapping' | 'physical' | 'guest_memfd';

export const VIA_LABELS: Record<Via, string> = {
  vmm_mapping: "VMM's mapping",
  physical: 'physical memory',
  guest_memfd: 'guest_memfd read()',
};

export const MAX_LENGTH = 4096;

/** Parse "0x102000", "102000h" is not accepted; decimal "1056768" and "0x10_2000" are. */
export function parseNumber(text: string): number | null {
  const s = text.trim().replace(/_/g, '');
  if (/^0x[0-9a-f]+$/i.test(s)) {
    const n = Number.parseInt(s.slice(2), 16);
    return Number.isSafeInteger(n) ? n : null;
  }
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

export interface FormInput {
  mode: AddressMode;
  vm: string;
  address: string;
  length: string;
  via: Via;
  write: boolean;
  data: string;
}

export interface FormLimits {
  hostFrames: number;
  /** The VM's RAM span in bytes (end of its highest memslot). */
  vmBytes: number;
  /** For a TD: the shared bit's value (2^(GPAW-1)); a GPA with it set is the shared alias. */
  sharedBit: number | null;
  /** The host whose memory an HPA names (left out of the step when absent: the only host). */
  host?: string;
  /** Other hosts with a VM of the chosen VM's name: host_read and host_write name a VM by its name alone. */
  namesakesOn?: readonly string[];
}

export type FormCheck =
  | { ok: true; step: Record<string, unknown>; address: number; length: number }
  | { ok: false; field: 'address' | 'length' | 'data' | 'vm'; message: string };

/** Turn the form into a scenario step, or say which field is wrong and why (nothing is sent). */
export function checkForm(f: FormInput, lim: FormLimits): FormCheck {
  const address = parseNumber(f.address);
  if (address === null) return { ok: false, field: 'address', message: `"${f.address.trim() || '(empty)'}" is not a number: write hex as 0x102000, or decimal.` };
  let length = 0;
  if (!f.write) {
    const l = parseNumber(f.length);
    if (l === null || l < 1 || l > MAX_LENGTH) return { ok: false, field: 'length', message: `The length must be a number from 1 to ${MAX_LENGTH} (one page).` };
    length = l;
  } else {
    if (f.data.length === 0) return { ok: false, field: 'data', message: 'Type the bytes to write: text, or hex as "hex:de ad be ef".' };
    if (f.data.startsWith('hex:') && !/^([0-9a-f]{2})*$/i.test(f.data.slice(4).replace(/\s+/g, '')))
      return { ok: false, field: 'data', message: 'After "hex:" write whole bytes in hex, e.g. "hex:de ad be ef".' };
    length = f.data.startsWith('hex:') ? f.data.slice(4).replace(/\s+/g, '').length / 2 : new TextEncoder().encode(f.data).length;
  }
  if (f.mode === 'hpa') {
    const end = lim.hostFrames * PAGE_SIZE;
    if (address + length > end)
      return { ok: false, field: 'address', message: `${hex(address)}${length > 1 ? ` + ${length}` : ''} is beyond the end of host memory (${hex(end)}).` };
    const on = lim.host === undefined ? {} : { host: lim.host };
    return f.write
      ? { ok: true, step: { do: 'host_write_phys', ...on, hpa: hex(address), data: f.data }, address, length }
      : { ok: true, step: { do: 'host_read_phys', ...on, hpa: hex(address), length }, address, length };
  }
  if (!f.vm) return { ok: false, field: 'vm', message: 'Choose a VM.' };
  if (lim.namesakesOn?.length)
    return { ok: false, field: 'vm', message: `${f.write ? 'host_write' : 'host_read'} names a VM by its name alone, and a VM named "${f.vm}" also runs on ${lim.namesakesOn.join(', ')}: the step cannot tell them apart. Read by HPA instead.` };
  const gpa = lim.sharedBit !== null && address >= lim.sharedBit && address < 2 * lim.sharedBit ? address - lim.sharedBit : address;
  if (gpa + length > lim.vmBytes)
    return { ok: false, field: 'address', message: `${hex(address)} is beyond the end of ${f.vm}'s memory (its RAM ends at ${hex(lim.vmBytes)}).` };
  if (f.write) {
    const via = f.via === 'guest_memfd' ? 'vmm_mapping' : f.via;
    return { ok: true, step: { do: 'host_write', vm: f.vm, gpa: hex(address), data: f.data, via }, address, length };
  }
  return { ok: true, step: { do: 'host_read', vm: f.vm, gpa: hex(address), length, via: f.via }, address, length };
}

/** "de ad be ef" → bytes. */
export function bytesOf(hexText: string): Uint8Array {
  const parts = hexText.trim().split(/\s+/).filter(Boolean);
  return Uint8Array.from(parts, (x) => Number.parseInt(x, 16));
}

/** What a finished read or write means, in one sentence (the result's own `why` is shown beside it). */
export function explain(r: StepResult, ctx: { via: Via | 'hpa'; isTd: boolean; write: boolean }): string {
  if (r.ret === -1) {
    switch (r.errno) {
      case 'EINVAL':
      case 'ESPIPE':
        return ctx.via === 'guest_memfd'
          ? 'guest_memfd has no read(): private memory is reachable only by the guest through KVM, so user space — even the VMM that created the file — cannot copy it out.'
          : 'The kernel refused the request as invalid.';
      case 'EFAULT':
        return 'No mapping: nothing is mapped at that address, so the copy faults (EFAULT) instead of returning bytes.';
      case 'ENOENT':
        return 'Nothing backs this GPA yet: the guest has not touched the page, or the VMM discarded it after a conversion, so there is no frame to read.';
      case 'EBADF':
        return "This VM has no guest_memfd: all of its RAM lives in the VMM's own memory, so read it through the VMM's mapping instead.";
      default:
        return `The call failed with ${r.errno ?? 'an error'}.`;
    }
  }
  const v = (r.value ?? {}) as { td_owned_lines?: number; view?: string; poisoned_lines?: number; owner?: string };
  if (ctx.write) {
    if ((v.poisoned_lines ?? 0) > 0)
      return `Attack: the host wrote with its own key over ${v.poisoned_lines} TD-owned cache line(s). The data did not land, the lines are now poisoned, and the TD's next read there takes a machine check (#MC): its kernel panics and KVM reports KVM_EXIT_SHUTDOWN.`;
    if (ctx.via === 'vmm_mapping')
      return ctx.isTd
        ? "The VMM wrote through its own mapping, which holds only the shared view: if the GPA is private, the TD's page in guest_memfd is untouched."
        : "The VMM wrote through its own mapping: the guest sees these bytes at that GPA.";
    return 'The host wrote ordinary memory with its own key: the guest will see these bytes if this frame backs its page.';
  }
  if ((v.td_owned_lines ?? 0) > 0)
    return 'The line belongs to the TD; the host reads with its own key, so the memory controller returns zeros instead of the TD\'s data.';
  if (v.view === 'shared view of a private page')
    return "The VMM's mapping only holds the shared view of this GPA; the private page lives in guest_memfd, so these bytes are not what the guest wrote.";
  if (v.owner === 'free') return 'A free frame: the kernel zeroes frames before handing them out, so it reads as zeros.';
  return "Ordinary memory read with the host's own key: the host sees exactly what is stored.";
}
