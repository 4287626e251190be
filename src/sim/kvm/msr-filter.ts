/**
 * KVM_X86_SET_MSR_FILTER and KVM_CAP_X86_USER_SPACE_MSR (Documentation/virt/kvm/api.rst), with the
 * checks of kvm_vm_ioctl_set_msr_filter()/kvm_add_msr_filter() and the lookup of kvm_msr_allowed()
 * (arch/x86/kvm/msrs.c, formerly x86.c), plus the per-VM MSR state the simulator keeps: the talk's
 * additional constraints (a proposal) and access counters.
 */
import { fail } from '../core/errno';
import { hex } from '../core/units';
import {
  KVM_MSR_EXIT_REASON_FILTER, KVM_MSR_EXIT_REASON_INVAL, KVM_MSR_EXIT_REASON_UNKNOWN, KVM_MSR_FILTER_DEFAULT_DENY,
  KVM_MSR_FILTER_MAX_BITMAP_SIZE, KVM_MSR_FILTER_MAX_RANGES, KVM_MSR_FILTER_READ, KVM_MSR_FILTER_WRITE,
} from './uapi';
import { u32Arg } from './u64-arg';
import type { Vm } from './vm';
import type { U64 } from '../core/u64';

/** struct kvm_msr_filter_range: a set bit in the bitmap allows the access, a clear bit denies it. */
export interface KvmMsrFilterRange {
  /** __u32 */
  flags: U64;
  nmsrs: number;
  base: number;
  /** Bit i (byte i / 8, bit i % 8) is MSR base + i. */
  bitmap: Uint8Array | readonly number[];
}

/** struct kvm_msr_filter { flags; ranges[KVM_MSR_FILTER_MAX_RANGES] }; unused ranges have nmsrs 0. */
export interface KvmMsrFilter {
  /** __u32 */
  flags: U64;
  ranges: readonly KvmMsrFilterRange[];
}

/** The filter as KVM keeps it (struct kvm_x86_msr_filter): only the ranges with nmsrs != 0. */
export interface MsrFilterState {
  defaultAllow: boolean;
  ranges: { flags: number; nmsrs: number; base: number; bitmap: Uint8Array }[];
}

/** Which kvm_msr_filter_range bits are defined (KVM_MSR_FILTER_RANGE_VALID_MASK). */
const RANGE_VALID = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
/** KVM_MSR_EXIT_REASON_VALID_MASK: the reasons KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR) accepts. */
export const KVM_MSR_EXIT_REASON_VALID_MASK = KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER;

/**
 * Validate and copy a filter the way KVM_X86_SET_MSR_FILTER does; throws EINVAL (or EFAULT when a
 * bitmap is shorter than nmsrs bits, where the kernel's memdup_user() would read past it).
 */
export function parseMsrFilter(f: KvmMsrFilter): MsrFilterState {
  // Both flags fields are __u32: a value past 32 bits cannot be passed; within them, `& ~` is exact.
  const flags = u32Arg(f.flags, 'kvm_msr_filter.flags');
  if (flags & ~KVM_MSR_FILTER_DEFAULT_DENY) fail('EINVAL', `kvm_msr_filter.flags ${hex(flags)} has bits other than KVM_MSR_FILTER_DEFAULT_DENY`);
  if (f.ranges.length > KVM_MSR_FILTER_MAX_RANGES) fail('EINVAL', `struct kvm_msr_filter holds at most KVM_MSR_FILTER_MAX_RANGES (${KVM_MSR_FILTER_MAX_RANGES}) ranges`);
  const defaultAllow = !(flags & KVM_MSR_FILTER_DEFAULT_DENY);
  const empty = f.ranges.every((r) => !r.nmsrs);
  if (empty && !defaultAllow) fail('EINVAL', 'KVM_MSR_FILTER_DEFAULT_DENY with no ranges would deny every MSR');
  const ranges: MsrFilterState['ranges'] = [];
  f.ranges.forEach((r, i) => {
    // kvm_add_msr_filter(): a range with nmsrs 0 is skipped, whatever its other fields say.
    if (!r.nmsrs) return;
    const rflags = u32Arg(r.flags, `range ${i}: flags`);
    if (rflags & ~RANGE_VALID) fail('EINVAL', `range ${i}: flags ${hex(rflags)} has bits other than KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE`);
    if (!rflags) fail('EINVAL', `range ${i}: flags is 0 (neither KVM_MSR_FILTER_READ nor KVM_MSR_FILTER_WRITE)`);
    const bitmapSize = Math.ceil(r.nmsrs / 64) * 8; // BITS_TO_LONGS(nmsrs) * sizeof(long)
    if (bitmapSize > KVM_MSR_FILTER_MAX_BITMAP_SIZE)
      fail('EINVAL', `range ${i}: ${r.nmsrs} MSRs need a ${bitmapSize}-byte bitmap; KVM_MSR_FILTER_MAX_BITMAP_SIZE is ${hex(KVM_MSR_FILTER_MAX_BITMAP_SIZE)}`);
    if (r.bitmap.length < Math.ceil(r.nmsrs / 8)) fail('EFAULT', `range ${i}: the bitmap is shorter than ${r.nmsrs} bits`);
    ranges.push({ flags: rflags, nmsrs: r.nmsrs >>> 0, base: r.base >>> 0, bitmap: Uint8Array.from(r.bitmap.slice(0, Math.ceil(r.nmsrs / 8))) });
  });
  return { defaultAllow, ranges };
}

/**
 * Why the filter cannot touch an MSR, or null. api.rst: "x2APIC MSRs are always allowed, independent
 * of the default_allow setting"; kvm_msr_allowed() returns true for 0x800-0x8ff before any lookup.
 */
export function msrFilterExempt(index: number): string | null {
  return index >= 0x800 && index <= 0x8ff ? 'x2APIC MSRs do not support filtering' : null;
}

/** kvm_msr_allowed(): the first range that covers the index for this kind of access decides. */
export function kvmMsrAllowed(filter: MsrFilterState | null, index: number, type: number): boolean {
  if (msrFilterExempt(index)) return true;
  if (!filter) return true;
  for (const r of filter.ranges) {
    if (index >= r.base && index < r.base + r.nmsrs && r.flags & type) {
      const bit = index - r.base;
      return ((r.bitmap[bit >> 3] >> (bit & 7)) & 1) === 1;
    }
  }
  return filter.defaultAllow;
}

/** The internal result of an MSR access KVM could not complete, as kvm_msr_reason() maps it. */
export type MsrFailure = 'filtered' | 'unsupported' | 'invalid';

export function msrExitReason(f: MsrFailure): number {
  return f === 'filtered' ? KVM_MSR_EXIT_REASON_FILTER : f === 'unsupported' ? KVM_MSR_EXIT_REASON_UNKNOWN : KVM_MSR_EXIT_REASON_INVAL;
}

export const MSR_EXIT_REASON_NAMES: Record<number, string> = {
  [KVM_MSR_EXIT_REASON_INVAL]: 'KVM_MSR_EXIT_REASON_INVAL',
  [KVM_MSR_EXIT_REASON_UNKNOWN]: 'KVM_MSR_EXIT_REASON_UNKNOWN',
  [KVM_MSR_EXIT_REASON_FILTER]: 'KVM_MSR_EXIT_REASON_FILTER',
};

/** The names of the reasons set in a KVM_CAP_X86_USER_SPACE_MSR mask. */
export function userSpaceMsrNames(mask: number): string[] {
  return [KVM_MSR_EXIT_REASON_INVAL, KVM_MSR_EXIT_REASON_UNKNOWN, KVM_MSR_EXIT_REASON_FILTER].filter((b) => mask & b).map((b) => MSR_EXIT_REASON_NAMES[b]);
}

/**
 * NOT UPSTREAM: the talk's "additional MSR constraints" (DOMAIN.md §1). The VMM gives KVM, per MSR,
 * either a fixed value (reads return it, writes are dropped) or read-only (writes #GP), and KVM
 * enforces it on the guest's path before the MSR filter. Upstream has no such table: the TDX module's
 * classes and KVM_X86_SET_MSR_FILTER are what exists.
 */
export type MsrConstraint = { kind: 'fixed'; value: bigint } | { kind: 'read-only' };

/** Per-VM MSR state: the filter (kvm->arch.msr_filter), the proposal's constraints, access counters. */
export class VmMsrPolicy {
  filter: MsrFilterState | null = null;
  readonly constraints = new Map<number, MsrConstraint>();
  /** Guest RDMSR/WRMSR instructions per MSR index (each instruction once, not its re-execution). */
  readonly accesses = new Map<number, number>();

  count(index: number): void {
    this.accesses.set(index, (this.accesses.get(index) ?? 0) + 1);
  }

  /** The filter as the attack-surface panel shows it. */
  filterView(userSpaceMsr: number): { defaultAllow: boolean; ranges: { flags: string; base: string; nmsrs: number }[]; userSpaceMsr: string[] } | null {
    if (!this.filter) return null;
    return {
      defaultAllow: this.filter.defaultAllow,
      ranges: this.filter.ranges.map((r) => ({
        flags: [r.flags & KVM_MSR_FILTER_READ ? 'KVM_MSR_FILTER_READ' : '', r.flags & KVM_MSR_FILTER_WRITE ? 'KVM_MSR_FILTER_WRITE' : ''].filter(Boolean).join(' | '),
        base: hex(r.base),
        nmsrs: r.nmsrs,
      })),
      userSpaceMsr: userSpaceMsrNames(userSpaceMsr),
    };
  }
}

/** A bitmap of `nmsrs` bits, all set (allow) except the listed indices (relative to base). */
export function allowBitmap(nmsrs: number, deny: readonly number[] = []): Uint8Array {
  const b = new Uint8Array(Math.ceil(nmsrs / 8)).fill(0xff);
  for (const i of deny) b[i >> 3] &= ~(1 << (i & 7));
  return b;
}

/**
 * NOT UPSTREAM: the VMM hands KVM one of the talk's MSR constraints (null removes it). Modelled as a
 * VM ioctl the talk proposed; no such ioctl exists in Linux.
 */
export function setMsrConstraint(vm: Vm, index: number, constraint: MsrConstraint | null): void {
  if (constraint) vm.msrPolicy.constraints.set(index >>> 0, constraint);
  else vm.msrPolicy.constraints.delete(index >>> 0);
  vm.trace('kvm', 'MSR constraint (proposal)', { msr: hex(index), constraint: constraint ? (constraint.kind === 'fixed' ? `fixed ${hex(constraint.value)}` : 'read-only') : 'none' },
    constraint?.kind === 'fixed' ? `The VMM pins MSR ${hex(index)} to ${hex(constraint.value)}: guest reads return it and writes are dropped (the talk's proposal, not upstream KVM).`
      : constraint ? `The VMM makes MSR ${hex(index)} read-only: guest writes get #GP (the talk's proposal, not upstream KVM).`
        : `The VMM lifts its constraint on MSR ${hex(index)}.`);
}
