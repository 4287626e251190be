import { z } from 'zod';
import { parseU64 } from '../core/u64';
import { parseBandwidth, parseDuration, parseSize } from '../core/units';

/** Field schemas shared by the scenario schema and the step registry. */

export const numeric = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    if (typeof v === 'string' && /^\s*0x[0-9a-f]+\s*$/i.test(v)) {
      const n = Number.parseInt(v, 16);
      if (Number.isSafeInteger(n)) return n;
    }
    const n = parseSize(v);
    if (n === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a number, a hex address (0x...) or a size (4K, 2M, 1G)` });
      return z.NEVER;
    }
    return n;
  })
  .describe('a non-negative integer, a hex string such as "0x1000", or a size such as "2M"');

export const bandwidth = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const n = parseBandwidth(v);
    if (n === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a bandwidth (bytes per second, "10Gbit", "100 Mbit/s", "1GiB")` });
      return z.NEVER;
    }
    return n;
  })
  .describe('bytes per virtual second: a number, a bit rate ("10Gbit", decimal prefixes) or a size per second ("1GiB")');

export const duration = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const n = parseDuration(v);
    if (n === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (nanoseconds, or "50us", "2ms", "1s")` });
      return z.NEVER;
    }
    return n;
  })
  .describe('virtual time: nanoseconds, or a duration such as "50us", "2ms", "1s"');

/** QEMU's largest ring: what KVM_CHECK_EXTENSION(KVM_CAP_DIRTY_LOG_RING) allows (KVM_DIRTY_RING_MAX_ENTRIES). */
const DIRTY_RING_MAX = 65536;
/** The smallest ring KVM accepts on x86: 576 reserved entries round up to 1024 (QEMU's suggested minimum). */
const DIRTY_RING_MIN = 1024;

/**
 * `-accel kvm,dirty-ring-size=N`: entries per vCPU ring, 0 for the dirty bitmap. QEMU's property
 * setter wants a power of two (kvm_set_dirty_ring_size()); kvm_dirty_ring_init() refuses more than
 * KVM allows and reports KVM's EINVAL below the minimum, with QEMU's messages.
 */
export const dirtyRingSize = z
  .number()
  .int()
  .nonnegative()
  .superRefine((v, ctx) => {
    if (v & (v - 1)) ctx.addIssue({ code: 'custom', message: `dirty-ring-size must be a power of two (got ${v})` });
    else if (v > DIRTY_RING_MAX) ctx.addIssue({ code: 'custom', message: `KVM dirty ring size ${v} too big (maximum is ${DIRTY_RING_MAX}).  Please use a smaller value.` });
    else if (v !== 0 && v < DIRTY_RING_MIN)
      ctx.addIssue({ code: 'custom', message: `Enabling of KVM dirty ring failed: Invalid argument. Suggested minimum value is ${DIRTY_RING_MIN}. (KVM needs room for its 576 reserved entries)` });
  })
  .describe('-accel kvm,dirty-ring-size: entries in each vCPU\'s dirty ring (a power of two, 1024 to 65536), or 0 (default) for the dirty bitmap');

export const vmName = z.string().min(1).describe('the name of a VM in this scenario');
export const hostName = z.string().min(1).describe('the name of a host in this scenario (default: the only host)');
export const msrIndex = numeric.refine((n) => n <= 0xffffffff, { message: 'an MSR index is 32 bits: 0 to 0xffffffff' }).describe('an MSR index (ECX of RDMSR/WRMSR), e.g. "0x1a0"');
/**
 * A 64-bit flags or attributes field: a JSON integer (exact only below 2^53, so larger values are
 * refused with a hint), a decimal or hex string up to 0xffffffffffffffff, or a list of flag names.
 * A value above 2^53 stays a canonical hex string; the runner turns it into a bigint.
 */
export const u64Flags = z
  .union([z.number(), z.string(), z.array(z.string())])
  .transform((v, ctx): number | string | string[] => {
    if (Array.isArray(v)) return v;
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && v >= 0) return v;
      ctx.addIssue({ code: 'custom', message: v >= 0 && Number.isInteger(v)
        ? `${v} is above 2^53, where a JSON number is not exact: write the 64-bit value as a hex string such as "0x8000000000000000"`
        : `${v} is not a 64-bit unsigned integer` });
      return z.NEVER;
    }
    const b = parseU64(v);
    if (b === null) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a 64-bit unsigned value: write a number, a hex string of at most 16 digits ("0x1"), or a list of flag names` });
      return z.NEVER;
    }
    return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : '0x' + b.toString(16);
  })
  .describe('64-bit flags: an integer, a hex string such as "0x8" (up to 0xffffffffffffffff), or a list of flag names');
export const flagsOrNames = u64Flags;
export const program = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v.join('\n') : v))
  .describe('guest program: x86-64 assembly in Intel syntax, a string or an array of lines');
export const ref = z.union([z.string(), z.number()]).describe('a name given with "as" earlier, or a number');

export const DEVICE_NAMES = [
  'pic', 'pit', 'i8042', 'rtc', 'com1', 'lpt1', 'floppy', 'isa-dma', 'apm', 'pci-host', 'reset', 'fw_cfg',
  'acpi-pm', 'hpet', 'ioapic', 'lapic', 'tpm', 'ecam', 'pflash', 'virtio-net', 'virtio-blk',
] as const;
export const deviceName = z.string().refine((d) => (DEVICE_NAMES as readonly string[]).includes(d), {
  error: (i) => `unknown device ${JSON.stringify(i.input)} (known: ${DEVICE_NAMES.join(', ')})`,
});

/** A problem in a scenario, with the JSON path where it is. */
export interface ScenarioIssue {
  path: string;
  message: string;
}

export class ScenarioError extends Error {
  constructor(readonly issues: ScenarioIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
    this.name = 'ScenarioError';
  }
}

/** The candidate nearest to a typo (edit distance at most a third of its length), or null. */
export function nearest(word: string, candidates: readonly string[]): string | null {
  const dist = (a: string, b: string) => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const cur = [i];
      for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = cur;
    }
    return prev[b.length];
  };
  let best: string | null = null;
  let bestD = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = dist(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}
