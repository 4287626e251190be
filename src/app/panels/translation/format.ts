/** Numbers as the translation panel shows them. */
import type { VmView } from '../../../sim/lab';

export const PAGE_SIZE = 4096;

/** What the panel shows of a VM besides its pages: changes rarely (unlike VmView, new every frame). */
export interface VmFacts {
  name: string;
  /** The host the VM runs on (with the name, the VM's identity). */
  host: string;
  type: string;
  /** A TD's shared bit (GPAW − 1), or −1 for a VM that is not a TD. */
  sharedBit: number;
  memslots: VmView['memslots'];
}

/** Flags of struct kvm_userspace_memory_region2 (include/uapi/linux/kvm.h). */
const MEMSLOT_FLAGS: readonly [number, string][] = [
  [1, 'KVM_MEM_LOG_DIRTY_PAGES'],
  [2, 'KVM_MEM_READONLY'],
  [4, 'KVM_MEM_GUEST_MEMFD'],
];

export function memslotFlagNames(flags: number): string[] {
  const names = MEMSLOT_FLAGS.filter(([bit]) => flags & bit).map(([, n]) => n);
  const rest = flags & ~7;
  if (rest) names.push(hex(rest));
  return names;
}

/** 0x-prefixed hex of a non-negative integer (exact up to 2^53: a GPA with bit 51 set still fits). */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** "0x102000", "1056768", "0x8000_0010_2000" → a number; null when it is not an address. */
export function parseAddress(text: string): number | null {
  const s = text.trim().replace(/_/g, '');
  if (!s) return null;
  const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s.slice(2), 16) : /^[0-9]+$/.test(s) ? Number(s) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** The memslots of a VM as [first GFN, pages, slot id]. */
export function memslotRanges(vm: Pick<VmView, 'memslots'>): [number, number, number][] {
  return vm.memslots.map((m) => [parseInt(m.guest_phys_addr, 16) / PAGE_SIZE, parseInt(m.memory_size, 16) / PAGE_SIZE, m.slot]);
}

/** The memslot holding a GFN, or null (an MMIO hole). */
export function slotOf(ranges: readonly (readonly [number, number, number])[], gfn: number): number | null {
  for (const [first, n, id] of ranges) if (gfn >= first && gfn < first + n) return id;
  return null;
}
