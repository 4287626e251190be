import { z } from 'zod';
import { parseU64 } from '../core/u64';
import { GiB, KiB, MiB, formatSize, parseBandwidth, parseDuration, parseSize } from '../core/units';
import { ASM_LIMITS } from '../guest/asm';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../kvm/guest-memfd';
import * as uapi from '../kvm/uapi';
import { UFFD_FLAG_NAMES } from '../abi/userfaultfd';

/** Field schemas shared by the scenario schema and the step registry. */

/**
 * What a scenario may ask for (docs/scenario-format.md, "Limits"; `npm run sim -- --schema` reports
 * them as `x-limits`). Past them a scenario is refused when it is loaded, naming the JSON path,
 * before anything runs: each bounds the memory or the time one scenario can take in a browser tab.
 */
export const LIMITS = {
  /** Bytes of scenario JSON (a file, an import, a link), checked before it is parsed. */
  scenarioBytes: 1 * MiB,
  hosts: 8,
  /** One host's physical memory (its frame tables cost 11 bytes a 4 KiB frame, allocated at load). */
  hostMemory: 64 * GiB,
  /** ...and at least this much: its kernel keeps 64 MiB (Host), and a host needs some for its guests. */
  hostMemoryMin: 128 * MiB,
  /** All hosts' memory together. */
  worldMemory: 128 * GiB,
  links: 32,
  vms: 16,
  /** One VM's memory (from `vms`). */
  guestMemory: 64 * GiB,
  steps: 10_000,
  /** A `run` step's `max_instructions` (it runs in slices: the lab answers between them, Ctrl-C stops the CLI). */
  runInstructions: 100_000_000,
  /**
   * The work one step that runs the world may make it do (a `run_until`, a waiting `link_send`; a
   * `run` or `reboot` besides its own vCPU's instructions), in guest instructions' worth
   * (`worldWork` in steps/world.ts): each guest instruction 1, each run of a scheduler actor (a
   * vCPU's wake-up or quantum, a timer, a migration batch) `WORK_PER_ACTOR`, each unit of work an actor
   * reports (a migration page is 4) `WORK_PER_REPORTED`. Past it the step stops, `"stop": "budget"`:
   * a few seconds of CPU at most, however few instructions the guests run per wake-up.
   */
  runWork: 100_000_000,
  /** A `KVM_RUN` step's `max_instructions` (one call: it runs in slices, cut as a signal would cut it), and a `reboot`'s (in slices, and bounded by its exits too). */
  wholeStepInstructions: 10_000_000,
  /** ...and a reboot stops after this many exits to user space (a boot makes about 3,000; each costs the simulator tens of microseconds). */
  wholeStepExits: 20_000,
  /** Bytes one host read step (`host_read`, `host_read_phys`) reads: it shows them, in hex, in the trace and the report. */
  hostReadBytes: 64 * KiB,
  /** A guest program's source, its assembled image and its expressions' nesting (the assembler's ASM_LIMITS). */
  programChars: ASM_LIMITS.sourceChars,
  programImageBytes: ASM_LIMITS.imageBytes,
  expressionDepth: ASM_LIMITS.exprDepth,
} as const;

/**
 * What a run of a scheduler actor costs the simulator, in guest instructions' worth (LIMITS.runWork):
 * a vCPU woken by its timer that reads the TSC, arms the timer and halts again (three exits and their
 * trace) takes 25 to 80 µs of CPU, an instruction 15 ns. Slices count an actor as 1 (the app's play
 * speed is in those units); a step's budget counts what it costs.
 */
export const WORK_PER_ACTOR = 2000;
/**
 * ...and what a unit of work an actor reports costs (Actor.lastWork: a migration page is 4 units).
 * A page costs 0.3 µs (16 GiB of token-only pages in post-copy: bench/postcopy.ts) to about 20 µs
 * (stored bytes copied, faults and the guest's writes around it). At 40 instructions' worth a page,
 * one step migrates a 4 GiB guest (a million pages) with its workload's wake-ups and batches
 * (limits.test.ts), the sizes the lab is for; a migration that never converges still stops, after
 * some 2.5 million pages.
 */
export const WORK_PER_REPORTED = 10;

/** A size (numeric) of at most `max` bytes (and at least `min`). */
export function sizeAtMost(max: number, what: string, min = 0): z.ZodType<number, number | string> {
  return numeric
    .refine((n) => n >= min, { error: (i) => `${what} ${formatSize(i.input as number)} is below the minimum of ${formatSize(min)} (docs/scenario-format.md, "Limits")` })
    .refine((n) => n <= max, { error: (i) => `${what} ${formatSize(i.input as number)} is above the limit of ${formatSize(max)} (docs/scenario-format.md, "Limits")` })
    .describe(`${numeric.description}; at most ${formatSize(max)}${min ? `, at least ${formatSize(min)}` : ''}`);
}

/** A step's instruction budget: how many guest instructions it may run before it stops, at most `max`. */
export function instructionBudget(max: number, what = 'this step'): z.ZodDefault<z.ZodNumber> {
  return z.number().int().positive().max(max, {
    error: (i) => `max_instructions ${String(i.input)} is above the limit of ${max.toLocaleString('en')} instructions for ${what} (docs/scenario-format.md, "Limits")`,
  }).default(1_000_000).describe(`guest instructions the step may run before it stops (at most ${max.toLocaleString('en')})`);
}

/** Flag names a flags field may list (`["KVM_MEM_GUEST_MEMFD"]`), each with its value. */
export const FLAG_NAMES: ReadonlyMap<string, number> = new Map(Object.entries({
  KVM_MEM_LOG_DIRTY_PAGES: uapi.KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY: uapi.KVM_MEM_READONLY,
  KVM_MEM_GUEST_MEMFD: uapi.KVM_MEM_GUEST_MEMFD,
  KVM_MEM_USERFAULT: uapi.KVM_MEM_USERFAULT,
  KVM_MEMORY_ATTRIBUTE_PRIVATE: uapi.KVM_MEMORY_ATTRIBUTE_PRIVATE,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  GUEST_MEMFD_FLAG_MMAP: uapi.GUEST_MEMFD_FLAG_MMAP,
  GUEST_MEMFD_FLAG_INIT_SHARED: uapi.GUEST_MEMFD_FLAG_INIT_SHARED,
  KVM_MSR_FILTER_READ: uapi.KVM_MSR_FILTER_READ,
  KVM_MSR_FILTER_WRITE: uapi.KVM_MSR_FILTER_WRITE,
  KVM_MSR_EXIT_REASON_INVAL: uapi.KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN: uapi.KVM_MSR_EXIT_REASON_UNKNOWN,
  KVM_MSR_EXIT_REASON_FILTER: uapi.KVM_MSR_EXIT_REASON_FILTER,
  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE: uapi.KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
  KVM_DIRTY_LOG_INITIALLY_SET: uapi.KVM_DIRTY_LOG_INITIALLY_SET,
  ...UFFD_FLAG_NAMES,
}));

/** The number of a KVM_CAP_* name from include/uapi/linux/kvm.h, or undefined (an own export of uapi.ts only). */
export function capabilityNumber(name: string): number | undefined {
  if (!name.startsWith('KVM_CAP_') || !Object.hasOwn(uapi, name)) return undefined;
  const n = (uapi as unknown as Record<string, unknown>)[name];
  return typeof n === 'number' ? n : undefined;
}

/** A capability: its number, or its KVM_CAP_* name (checked when the scenario is loaded). */
export const capability = z.union([
  z.string().refine((v) => capabilityNumber(v) !== undefined, { error: (i) => `unknown capability ${JSON.stringify(i.input)}: give a KVM_CAP_* name from include/uapi/linux/kvm.h or a number` }),
  z.number().int(),
]).describe('a KVM_CAP_* name or its number');

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
    if (Array.isArray(v)) {
      v.forEach((n, k) => {
        if (!FLAG_NAMES.has(n)) ctx.addIssue({ code: 'custom', path: [k], input: n, message: `unknown flag ${JSON.stringify(n)} (known: ${[...FLAG_NAMES.keys()].join(', ')})` });
      });
      return v;
    }
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
  .refine((v) => v.length <= LIMITS.programChars, { error: (i) => `the program is ${(i.input as string).length.toLocaleString('en')} characters long; the limit is ${LIMITS.programChars.toLocaleString('en')} (${LIMITS.programChars / KiB} KiB)` })
  .describe(`guest program: x86-64 assembly in Intel syntax, a string or an array of lines (at most ${LIMITS.programChars / KiB} KiB of source)`);
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
