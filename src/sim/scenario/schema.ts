import { z } from 'zod';
import { parseU64 } from '../core/u64';
import { parseSize } from '../core/units';

/**
 * The scenario format, version 1 (docs/scenario-format.md). Numbers that are addresses or sizes may
 * be written as JSON numbers, hex strings ("0x1000") or sizes ("2M", "4 GiB").
 */
export const SCENARIO_VERSION = 1;

const numeric = z
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

const vmName = z.string().min(1).describe('the name of a VM in this scenario');
const msrIndex = numeric.refine((n) => n <= 0xffffffff, { message: 'an MSR index is 32 bits: 0 to 0xffffffff' }).describe('an MSR index (ECX of RDMSR/WRMSR), e.g. "0x1a0"');
/**
 * A 64-bit flags or attributes field: a JSON integer (exact only below 2^53, so larger values are
 * refused with a hint), a decimal or hex string up to 0xffffffffffffffff, or a list of flag names.
 * A value above 2^53 stays a canonical hex string; the runner turns it into a bigint.
 */
const u64Flags = z
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
const flagsOrNames = u64Flags;
const program = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v.join('\n') : v))
  .describe('guest program: x86-64 assembly in Intel syntax, a string or an array of lines');

export const TdxConfig = z.strictObject({
  sept_ve_disable: z.boolean().default(true).describe('TD attribute SEPT_VE_DISABLE (QEMU default on)'),
  debug: z.boolean().default(false).describe('TD attribute DEBUG: lets the host read registers'),
  gpaw: z.union([z.literal(48), z.literal(52)]).default(48).describe('guest physical address width; the shared bit is bit gpaw-1'),
  firmware_accept: numeric.default(512 * 1024 * 1024).describe('bytes of memory the firmware (TDVF) accepts at boot'),
});

const DEVICE_NAMES = [
  'pic', 'pit', 'i8042', 'rtc', 'com1', 'lpt1', 'floppy', 'isa-dma', 'apm', 'pci-host', 'reset', 'fw_cfg',
  'acpi-pm', 'hpet', 'ioapic', 'lapic', 'tpm', 'ecam', 'pflash', 'virtio-net', 'virtio-blk',
] as const;
const deviceName = z.string().refine((d) => (DEVICE_NAMES as readonly string[]).includes(d), {
  error: (i) => `unknown device ${JSON.stringify(i.input)} (known: ${DEVICE_NAMES.join(', ')})`,
});

export const PlatformSpec = z.strictObject({
  mode: z.enum(['upstream', 'talk']).default('upstream')
    .describe("upstream: QEMU and KVM today; talk: the talk's proposal (an allow-list of port and MMIO ranges fixed at start, device state frozen after init)"),
  devices: z.record(deviceName, z.boolean()).default({})
    .describe('device switches on top of the defaults for the VM type (q35; a TD has no PIC and no pflash)'),
  allow: z.array(z.strictObject({
    space: z.enum(['port', 'mmio']),
    start: numeric,
    end: numeric.describe('inclusive'),
    name: z.string().default('allowed range'),
  })).default([]).describe("talk mode: ranges allowed on top of the enabled devices' own"),
});

export const VmSpec = z.strictObject({
  name: vmName,
  type: z.enum(['default', 'sw-protected', 'tdx']).describe('KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM or KVM_X86_TDX_VM'),
  memory: numeric.default(256 * 1024 * 1024),
  vcpus: z.literal(1).default(1).describe('vCPUs (one for now)'),
  program,
  origin: numeric.default(0x100000).describe('guest-physical address the program is assembled for and loaded at'),
  tdx: TdxConfig.optional(),
  discard_on_convert: z.boolean().default(true).describe("QEMU's kvm_convert_memory() discards the unused backing; false behaves like the kernel selftests"),
  platform: PlatformSpec.optional().describe('the devices the guest sees and the design mode (default: upstream, the VM type\'s default devices)'),
});

const ref = z.union([z.string(), z.number()]).describe('a name given with "as" earlier, or a number');

const s = <O extends string, T extends z.ZodRawShape>(op: O, shape: T, doc: string) =>
  z.strictObject({ do: z.literal(op), note: z.string().optional(), ...shape }).describe(doc);

export const Step = z.discriminatedUnion('do', [
  // ---- VMM level -------------------------------------------------------------------------
  s('run', {
    vm: vmName,
    vcpu: z.number().int().nonnegative().default(0),
    until: z.enum(['halt', 'exit']).default('halt'),
    max_instructions: z.number().int().positive().default(1_000_000),
  }, 'VMM: run the vCPU loop, answering exits, until the guest halts (or one exit with until "exit")'),
  s('host_read', {
    vm: vmName,
    gpa: numeric,
    length: numeric.default(16),
    via: z.enum(['vmm_mapping', 'physical', 'guest_memfd']),
  }, "host: read guest memory through the VMM's mapping, from host physical memory, or with read() on the guest_memfd"),
  s('host_write', {
    vm: vmName,
    gpa: numeric,
    data: z.string().describe('text, or hex bytes written as "hex:de ad be ef"'),
    via: z.enum(['vmm_mapping', 'physical']),
  }, "host: write guest memory through the VMM's mapping or to host physical memory"),
  s('host_read_phys', { hpa: numeric, length: numeric.default(64) },
    'host: read host physical memory at an address directly (the kernel direct map, /dev/mem, a DMA engine)'),
  s('host_write_phys', { hpa: numeric, data: z.string() }, 'host: write host physical memory at an address directly'),
  s('convert', { vm: vmName, gpa: numeric, size: numeric, to: z.enum(['private', 'shared']) },
    "VMM: convert a range as QEMU's kvm_convert_memory() does"),
  s('interrupt', { vm: vmName, vcpu: z.number().int().nonnegative().default(0) }, 'VMM: make an interrupt pending on a vCPU'),
  s('set_device', { vm: vmName, device: deviceName, enabled: z.boolean() }, 'VMM: switch a device on or off for the next boot'),
  s('set_design_mode', { vm: vmName, mode: z.enum(['upstream', 'talk']) }, "VMM: upstream or the talk's proposal, for the next boot"),
  s('reboot', { vm: vmName, max_instructions: z.number().int().positive().default(1_000_000) },
    'VMM: restart the VM with the pending platform and run the guest until it halts (its boot)'),
  s('freeze_devices', { vm: vmName }, "VMM (the talk's proposal): the guest's init phase is over, freeze device state"),
  s('vmm_msr_handler', {
    vm: vmName,
    msr: msrIndex,
    read: z.union([numeric, z.enum(['stored', 'gp'])]).optional().describe('RDMSR: a value, the value last stored by a write, or "gp" (msr.error = 1)'),
    write: z.union([z.enum(['accept', 'store', 'gp']), z.strictObject({ only: numeric })]).optional().describe('WRMSR: drop it, store it, "gp", or accept only one value'),
  }, 'VMM: how QEMU answers KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR for one MSR (kvm_handle_rdmsr/wrmsr)'),
  s('set_msr_policy', {
    vm: vmName,
    msr: msrIndex,
    read: z.enum(['allow', 'deny']).optional(),
    write: z.enum(['allow', 'deny']).optional(),
    constraint: z.enum(['none', 'read-only', 'fixed']).optional().describe("the talk's proposal (not upstream): KVM pins the MSR or makes it read-only"),
    value: numeric.optional().describe('for constraint "fixed": the value (default: the reset value)'),
  }, "VMM: one MSR's policy: its bits in the VMM's KVM_X86_SET_MSR_FILTER (denied accesses exit to the VMM with KVM_MSR_EXIT_REASON_FILTER) and the talk's constraint"),
  // ---- KVM level -------------------------------------------------------------------------
  s('mmap', { length: numeric, as: z.string() }, 'the test process maps anonymous memory (the shared backing of a memslot)'),
  s('KVM_CREATE_VM', { as: z.string(), type: z.number().int().nonnegative() }, 'ioctl(/dev/kvm, KVM_CREATE_VM, type)'),
  s('KVM_CHECK_EXTENSION', { vm: z.string().optional(), cap: z.union([z.string(), z.number()]) },
    'ioctl(KVM_CHECK_EXTENSION) on the VM fd, or on /dev/kvm without "vm"'),
  s('KVM_ENABLE_CAP', { vm: z.string(), cap: z.union([z.string(), z.number()]), args: z.array(flagsOrNames).default([]) },
    'ioctl(vm, KVM_ENABLE_CAP); an argument may be a list of flag names (e.g. ["KVM_MSR_EXIT_REASON_FILTER"])'),
  s('KVM_X86_SET_MSR_FILTER', {
    vm: z.string(),
    flags: z.union([z.enum(['KVM_MSR_FILTER_DEFAULT_ALLOW', 'KVM_MSR_FILTER_DEFAULT_DENY']), z.number().int()]).default('KVM_MSR_FILTER_DEFAULT_ALLOW'),
    ranges: z.array(z.strictObject({
      flags: flagsOrNames.describe('KVM_MSR_FILTER_READ and/or KVM_MSR_FILTER_WRITE'),
      base: msrIndex,
      nmsrs: numeric,
      deny: z.array(z.number().int().nonnegative()).optional().describe('offsets from base whose bit is clear (denied); all others allowed'),
      bitmap: z.array(z.number().int().min(0).max(255)).optional().describe('the bitmap bytes themselves (a set bit allows)'),
    })).default([]),
  }, 'ioctl(vm, KVM_X86_SET_MSR_FILTER, {flags, ranges})'),
  s('KVM_CREATE_GUEST_MEMFD', { vm: z.string(), size: numeric, flags: u64Flags.default(0), as: z.string() }, 'ioctl(vm, KVM_CREATE_GUEST_MEMFD, {size, flags})'),
  s('KVM_SET_USER_MEMORY_REGION2', {
    vm: z.string(), slot: z.number().int(), flags: u64Flags.default(0),
    guest_phys_addr: numeric, memory_size: numeric, userspace_addr: ref.default(0),
    guest_memfd: ref.optional(), guest_memfd_offset: numeric.default(0),
  }, 'ioctl(vm, KVM_SET_USER_MEMORY_REGION2, {...}); userspace_addr may name an mmap'),
  s('KVM_SET_MEMORY_ATTRIBUTES', { vm: z.string(), address: numeric, size: numeric, attributes: u64Flags, flags: u64Flags.default(0) },
    'ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, {address, size, attributes, flags})'),
  s('fallocate', { fd: ref, mode: u64Flags, offset: numeric, len: numeric }, 'fallocate(fd, mode, offset, len) on a guest_memfd'),
  s('read', { fd: ref, op: z.enum(['read', 'write', 'pread', 'pwrite', 'mmap']).default('read') }, 'read()/write()/pread()/pwrite()/mmap() on a guest_memfd'),
  s('KVM_CREATE_VCPU', { vm: z.string(), id: z.number().int().default(0) }, 'ioctl(vm, KVM_CREATE_VCPU, id)'),
  s('load_program', { vm: z.string(), vcpu: z.number().int().default(0), program, gpa: numeric.default(0x1000) },
    "assemble a program and copy it into guest memory through the memslot's userspace_addr, like kvm_vm_elf_load()"),
  s('KVM_RUN', { vm: z.string(), vcpu: z.number().int().default(0), max_instructions: z.number().int().positive().default(1_000_000),
    complete: z.strictObject({ data: numeric.optional(), ret: z.number().int().optional() }).optional().describe('what user space writes into kvm_run before re-entering') },
  'ioctl(vcpu, KVM_RUN): one entry, returning at the first exit to user space'),
  s('KVM_GET_DIRTY_LOG', { vm: z.string(), slot: z.number().int() }, 'ioctl(vm, KVM_GET_DIRTY_LOG, {slot})'),
  s('KVM_CLEAR_DIRTY_LOG', { vm: z.string(), slot: z.number().int(), first_page: numeric, num_pages: numeric }, 'ioctl(vm, KVM_CLEAR_DIRTY_LOG, {...}) with all bits set'),
  s('KVM_GET_REGS', { vm: z.string(), vcpu: z.number().int().default(0) }, 'ioctl(vcpu, KVM_GET_REGS)'),
]);

export const Scenario = z.strictObject({
  version: z.literal(SCENARIO_VERSION).describe('format version; this reader knows version 1'),
  title: z.string().min(1),
  explanation: z.string().default(''),
  seed: z.number().int().nonnegative().default(1),
  host: z.strictObject({ name: z.string().default('host0'), memory: numeric.default(16 * 1024 * 1024 * 1024) }).default({ name: 'host0', memory: 16 * 1024 * 1024 * 1024 }),
  vms: z.array(VmSpec).default([]),
  steps: z.array(Step).default([]),
});

export type ScenarioInput = z.input<typeof Scenario>;
export type ScenarioT = z.output<typeof Scenario>;
export type StepT = z.output<typeof Step>;
export type VmSpecT = z.output<typeof VmSpec>;

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

export function jsonPath(path: readonly PropertyKey[]): string {
  let out = '$';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(String(p)) ? `.${String(p)}` : `[${JSON.stringify(String(p))}]`;
  return out;
}

/** The step kinds, as "do" names them. */
export const STEP_KINDS: readonly string[] = Step.options.map((o) => o.shape.do.value);

const valueAt = (input: unknown, path: readonly PropertyKey[]): unknown =>
  path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), input);

/** The types a union's alternatives expected at its own place (nested unions included). */
function expectedTypes(i: z.core.$ZodIssue): string[] {
  if (i.code === 'invalid_type') return [i.expected];
  if (i.code === 'invalid_union') return i.errors.flatMap((b) => b.filter((e) => e.path.length === 0).flatMap(expectedTypes));
  return [];
}

const aType = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${aType(typeof v)} (${JSON.stringify(v)})`;
}

/** The candidate nearest to a typo (edit distance at most a third of its length), or null. */
function nearest(word: string, candidates: readonly string[]): string | null {
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

/** Validate untrusted input; throws ScenarioError naming every problem by JSON path. */
export function parseScenario(input: unknown): ScenarioT {
  if (input && typeof input === 'object' && 'version' in input && (input as { version: unknown }).version !== SCENARIO_VERSION)
    throw new ScenarioError([{ path: '$.version', message: `unknown scenario version ${JSON.stringify((input as { version: unknown }).version)}; this lab reads version ${SCENARIO_VERSION}` }]);
  const r = Scenario.safeParse(input);
  if (!r.success) {
    throw new ScenarioError(r.error.issues.map((i) => {
      let message = i.message;
      const value = valueAt(input, i.path);
      if (i.code === 'invalid_union' && i.path.includes('steps') && i.path[i.path.length - 1] === 'do') {
        const near = nearest(String(value), STEP_KINDS);
        message = `unknown step ${JSON.stringify(value)}${near ? ` (did you mean "${near}"?)` : ''}: "do" must be one of ${STEP_KINDS.join(', ')} (docs/scenario-format.md describes each)`;
      } else if (i.code === 'invalid_union') {
        // "Invalid input" says nothing: name what each alternative expected, and what was there.
        const expected = [...new Set(expectedTypes(i))];
        if (expected.length) message = `expected ${expected.map(aType).join(' or ')}, not ${describeValue(value)}`;
      }
      return { path: jsonPath(i.path), message };
    }));
  }
  const names = new Set<string>();
  r.data.vms.forEach((v, i) => {
    if (names.has(v.name)) throw new ScenarioError([{ path: `$.vms[${i}].name`, message: `duplicate VM name "${v.name}"` }]);
    names.add(v.name);
  });
  return r.data;
}

export function scenarioJsonSchema(): unknown {
  return z.toJSONSchema(Scenario, { io: 'input', unrepresentable: 'any' });
}
