import { z } from 'zod';
import { GiB, formatSize } from '../core/units';
import { LIMITS, ScenarioError, bandwidth, deviceName, dirtyRingSize, duration, hostName, nearest, numeric, program, sizeAtMost, vmName, type ScenarioIssue } from './fields';
import { checkReferences } from './check';
import { LEVEL_TITLES, STEPS, STEP_KINDS, Step, type StepT } from './steps';
import { WorkloadSpec } from './workload';

export { LIMITS, ScenarioError, Step, STEP_KINDS, type ScenarioIssue, type StepT };

/**
 * The scenario format, version 2 (docs/scenario-format.md): a world of hosts, the links between
 * them, the VMs (each on a host) and the steps. Version 1 (one `host`) still loads, upgraded to one
 * host with a note. Numbers that are addresses or sizes may be written as JSON numbers, hex strings
 * ("0x1000") or sizes ("2M", "4 GiB").
 */
export const SCENARIO_VERSION = 2;
/** The versions this lab reads. */
export const SCENARIO_VERSIONS: readonly number[] = [1, 2];

const DEFAULT_HOST_MEMORY = 16 * GiB;

/** An array of at most `max` items, refused with the count and the limit. */
function atMost<T extends z.ZodType>(a: z.ZodArray<T>, max: number, what: string): z.ZodArray<T> {
  return a.max(max, { error: (i) => `${(i.input as unknown[]).length.toLocaleString('en')} ${what}: the limit is ${max.toLocaleString('en')} (docs/scenario-format.md, "Limits")` });
}

export const TdxConfig = z.strictObject({
  sept_ve_disable: z.boolean().default(true).describe('TD attribute SEPT_VE_DISABLE (QEMU default on)'),
  debug: z.boolean().default(false).describe('TD attribute DEBUG: lets the host read registers'),
  gpaw: z.union([z.literal(48), z.literal(52)]).default(48).describe('guest physical address width; the shared bit is bit gpaw-1'),
  firmware_accept: numeric.default(512 * 1024 * 1024).describe('bytes of memory the firmware (TDVF) accepts at boot'),
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
  name: vmName.describe('the VM\'s name, unique in the whole world (steps name VMs by it)'),
  host: hostName.optional().describe('the host the VM runs on (required when there are several hosts)'),
  type: z.enum(['default', 'sw-protected', 'tdx']).describe('KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM or KVM_X86_TDX_VM'),
  memory: sizeAtMost(LIMITS.guestMemory, 'guest memory').default(256 * 1024 * 1024).describe(`the guest's RAM (at most ${formatSize(LIMITS.guestMemory)})`),
  vcpus: z.number().int().min(1).max(8).default(1).describe("vCPUs, 1 to 8: each starts at the program's entry with its index in rdi and its own stack page"),
  program: program.optional().describe('guest program: x86-64 assembly in Intel syntax, a string or an array of lines (or give a workload)'),
  workload: WorkloadSpec.optional().describe('instead of a program: a guest that dirties memory at a rate (the dirty_memory service)'),
  origin: numeric.default(0x100000).describe('guest-physical address the program is assembled for and loaded at'),
  tdx: TdxConfig.optional(),
  discard_on_convert: z.boolean().default(true).describe("QEMU's kvm_convert_memory() discards the unused backing; false behaves like the kernel selftests"),
  platform: PlatformSpec.optional().describe('the devices the guest sees and the design mode (default: upstream, the VM type\'s default devices)'),
  dirty_ring_size: dirtyRingSize.default(0),
});

export const HostSpec = z.strictObject({
  name: z.string().min(1).describe("the host's name, unique in the world"),
  memory: sizeAtMost(LIMITS.hostMemory, 'host memory', LIMITS.hostMemoryMin).default(DEFAULT_HOST_MEMORY).describe(`the host's physical memory (${formatSize(LIMITS.hostMemoryMin)} to ${formatSize(LIMITS.hostMemory)}; all hosts together at most ${formatSize(LIMITS.worldMemory)})`),
  kernel_series: z.array(z.enum(['kvm-userfault'])).optional().describe('posted kernel patch series applied to this host\'s kernel (not upstream): "kvm-userfault" is James Houghton\'s KVM Userfault (v3, June 2025): KVM_MEM_USERFAULT and its userfault_bitmap'),
});

/**
 * A link between two hosts. Parsed, checked and reported; transfers over it and cutting it come with
 * the world's scheduler.
 */
export const LinkSpec = z.strictObject({
  name: z.string().min(1).describe("the link's name, unique in the world"),
  from: z.string().min(1).describe('a host'),
  to: z.string().min(1).describe('another host'),
  bandwidth,
  latency: duration,
});

export const Scenario = z.strictObject({
  version: z.literal(SCENARIO_VERSION).describe('format version; this reader knows versions 1 and 2 (version 1 is upgraded)'),
  title: z.string().min(1),
  explanation: z.string().default(''),
  seed: z.number().int().nonnegative().default(1),
  hosts: atMost(z.array(HostSpec).min(1), LIMITS.hosts, 'hosts').default([{ name: 'host0', memory: DEFAULT_HOST_MEMORY }]).describe('the physical machines of the world'),
  links: atMost(z.array(LinkSpec), LIMITS.links, 'links').default([]).describe('network links between hosts'),
  vms: atMost(z.array(VmSpec), LIMITS.vms, 'VMs').default([]),
  steps: atMost(z.array(Step), LIMITS.steps, 'steps').default([]),
});

/** Version 1: one host, one vCPU per VM, no links. Read and upgraded (upgradeV1). */
export const ScenarioV1 = z.strictObject({
  version: z.literal(1),
  title: z.string().min(1),
  explanation: z.string().default(''),
  seed: z.number().int().nonnegative().default(1),
  host: z.strictObject({ name: z.string().default('host0'), memory: sizeAtMost(LIMITS.hostMemory, 'host memory', LIMITS.hostMemoryMin).default(DEFAULT_HOST_MEMORY) }).default({ name: 'host0', memory: DEFAULT_HOST_MEMORY }),
  vms: atMost(z.array(VmSpec.omit({ host: true }).extend({ vcpus: z.literal(1).default(1) })), LIMITS.vms, 'VMs').default([]),
  steps: atMost(z.array(Step), LIMITS.steps, 'steps').default([]),
});

export type ScenarioInput = z.input<typeof Scenario>;
export type HostSpecT = z.output<typeof HostSpec>;
export type LinkSpecT = z.output<typeof LinkSpec>;
/** A VM spec once its host is resolved. */
export type VmSpecT = z.output<typeof VmSpec> & { host: string };
/** A parsed scenario (version 2; a version-1 file upgraded), with what the lab did to it in `notes`. */
export type ScenarioT = Omit<z.output<typeof Scenario>, 'vms'> & { vms: VmSpecT[]; notes: string[] };

export function jsonPath(path: readonly PropertyKey[]): string {
  let out = '$';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(String(p)) ? `.${String(p)}` : `[${JSON.stringify(String(p))}]`;
  return out;
}

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

/** "do" must be one of ..., grouped by level. */
function kindsByLevel(): string {
  const levels = [...new Set(STEPS.map((d) => d.level))];
  return levels.map((l) => `${LEVEL_TITLES[l]}: ${STEPS.filter((d) => d.level === l).map((d) => d.kind).join(', ')}`).join('; ');
}

/** zod's issues as ScenarioIssues, with messages that say what was expected and what was there. */
function issuesOf(error: z.ZodError, input: unknown): ScenarioIssue[] {
  return error.issues.map((i) => {
    let message = i.message;
    const value = valueAt(input, i.path);
    if (i.code === 'invalid_union' && i.path.includes('steps') && i.path[i.path.length - 1] === 'do') {
      const near = nearest(String(value), STEP_KINDS);
      message = `unknown step ${JSON.stringify(value)}${near ? ` (did you mean "${near}"?)` : ''}: "do" must be one of ${kindsByLevel()} (docs/scenario-format.md describes each)`;
    } else if (i.code === 'invalid_union') {
      // "Invalid input" says nothing: name what each alternative expected, and what was there.
      const expected = [...new Set(expectedTypes(i))];
      if (expected.length) message = `expected ${expected.map(aType).join(' or ')}, not ${describeValue(value)}`;
    }
    return { path: jsonPath(i.path), message };
  });
}

/** Version 1 as version 2: its one host becomes the world's only host, every VM on it. */
function upgradeV1(v1: z.output<typeof ScenarioV1>): ScenarioT {
  const host = { name: v1.host.name, memory: v1.host.memory };
  return {
    version: SCENARIO_VERSION,
    title: v1.title,
    explanation: v1.explanation,
    seed: v1.seed,
    hosts: [host],
    links: [],
    vms: v1.vms.map((v) => ({ ...v, host: host.name })),
    steps: v1.steps,
    notes: [`version 1 scenario upgraded to version 2: its host "${host.name}" (${formatSize(host.memory)}) is the world's only host, every VM runs on it, and there are no links`],
  };
}

/** Names must be unique; hosts named by links and VMs must exist. */
function checkWorld(s: z.output<typeof Scenario>): ScenarioT {
  const issues: ScenarioIssue[] = [];
  const hostNames = s.hosts.map((h) => h.name);
  const list = hostNames.map((n) => `"${n}"`).join(', ');
  const unique = (names: string[], what: string, path: (i: number) => string) => {
    const seen = new Set<string>();
    names.forEach((n, i) => {
      if (seen.has(n)) issues.push({ path: path(i), message: `duplicate ${what} name "${n}"` });
      seen.add(n);
    });
  };
  unique(hostNames, 'host', (i) => `$.hosts[${i}].name`);
  const total = s.hosts.reduce((n, h) => n + h.memory, 0);
  if (total > LIMITS.worldMemory)
    issues.push({ path: '$.hosts', message: `the hosts have ${formatSize(total)} of memory together, above the limit of ${formatSize(LIMITS.worldMemory)} (docs/scenario-format.md, "Limits")` });
  unique(s.links.map((l) => l.name), 'link', (i) => `$.links[${i}].name`);
  unique(s.vms.map((v) => v.name), 'VM', (i) => `$.vms[${i}].name`);
  s.links.forEach((l, i) => {
    for (const end of ['from', 'to'] as const)
      if (!hostNames.includes(l[end])) issues.push({ path: `$.links[${i}].${end}`, message: `no host named "${l[end]}" (hosts: ${list})` });
    if (l.from === l.to) issues.push({ path: `$.links[${i}].to`, message: `link "${l.name}" goes from host "${l.from}" to itself: a link joins two different hosts` });
  });
  const vms = s.vms.map((v, i) => {
    if (v.program === undefined && v.workload === undefined) issues.push({ path: `$.vms[${i}].program`, message: `VM "${v.name}" needs a program (assembly) or a workload` });
    if (v.program !== undefined && v.workload !== undefined) issues.push({ path: `$.vms[${i}].workload`, message: `VM "${v.name}" has a program and a workload: give one (a workload makes its own program)` });
    if (v.host === undefined) {
      if (hostNames.length > 1) issues.push({ path: `$.vms[${i}].host`, message: `VM "${v.name}" must name its host: there are several (hosts: ${list})` });
      return { ...v, host: hostNames[0] };
    }
    if (!hostNames.includes(v.host)) issues.push({ path: `$.vms[${i}].host`, message: `no host named "${v.host}" (hosts: ${list})` });
    return { ...v, host: v.host };
  });
  if (issues.length) throw new ScenarioError(issues);
  const out = { ...s, vms, notes: [] };
  checkReferences(out);
  return out;
}

/** Validate untrusted input (version 2, or version 1 upgraded); throws ScenarioError naming every problem by JSON path. */
export function parseScenario(input: unknown): ScenarioT {
  const version = input && typeof input === 'object' && 'version' in input ? (input as { version: unknown }).version : undefined;
  if (version !== undefined && !SCENARIO_VERSIONS.includes(version as number))
    throw new ScenarioError([{ path: '$.version', message: `unknown scenario version ${JSON.stringify(version)}; this lab reads versions ${SCENARIO_VERSIONS.join(' and ')}` }]);
  if (version === 1) {
    const r = ScenarioV1.safeParse(input);
    if (!r.success) throw new ScenarioError(issuesOf(r.error, input));
    const seen = new Set<string>();
    r.data.vms.forEach((v, i) => {
      if (seen.has(v.name)) throw new ScenarioError([{ path: `$.vms[${i}].name`, message: `duplicate VM name "${v.name}"` }]);
      seen.add(v.name);
    });
    const up = upgradeV1(r.data);
    checkReferences(up);
    return up;
  }
  const r = Scenario.safeParse(input);
  if (!r.success) throw new ScenarioError(issuesOf(r.error, input));
  return checkWorld(r.data);
}

/** The scenario JSON Schema (version 2), with the limits (LIMITS) as `x-limits`. */
export function scenarioJsonSchema(): unknown {
  return { ...z.toJSONSchema(Scenario, { io: 'input', unrepresentable: 'any' }), 'x-limits': { ...LIMITS } };
}
