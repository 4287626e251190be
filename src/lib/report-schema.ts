/**
 * The report's schema (docs/scenario-format.md, "The report"): a zod schema written to match
 * src/sim/scenario/report.ts, from which the published JSON Schema (`guest-memory-lab
 * --report-schema`) is generated, so the two cannot differ. The objects are strict: a field the
 * simulator adds to the report without adding it here fails src/lib/report-schema.test.ts, which
 * validates every preset's report. Trace event `args` and step `value`s are open (each step and
 * event has its own; the step tables in docs/scenario-format.md describe them).
 */
import { z } from 'zod';
import { Errno } from '../sim/core/errno';
import { LAYERS } from '../sim/core/trace-layers';
import { MIGRATION_STATUSES } from '../sim/vmm/migration/migration';
import { TD_DESIGNS } from '../sim/vmm/migration/td-export';
import type { Report, StepResult } from '../sim/scenario/report';
import { jsonPath } from '../sim/scenario/schema';
import { REPORT_FORMAT, REPORT_VERSION } from '../sim/scenario/report-json';

const int = z.number().int();
const count = z.number().int().nonnegative();
const errnoName = z.enum(Object.keys(Errno) as [keyof typeof Errno, ...(keyof typeof Errno)[]]).describe('an errno name, as Linux spells it');
const json: z.ZodType<unknown> = z.unknown().describe('any JSON value');

const ArgValue = z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.union([z.string(), z.number()])).readonly()]);

/** One trace event (src/sim/core/trace.ts SimEvent). */
export const EventSchema = z.strictObject({
  seq: count.describe('the event number, from 0'),
  t: z.number().nonnegative().describe('virtual time, ns'),
  host: z.string().nullable().describe('the host, or null for a world-wide event'),
  vm: z.string().nullable(),
  vcpu: int.nullable(),
  layer: z.enum(LAYERS as [string, ...string[]]),
  name: z.string().describe('the real name: an ioctl, an exit reason, a SEAMCALL leaf, a QEMU function'),
  args: z.record(z.string(), ArgValue),
  text: z.string().describe('one sentence'),
  gfns: z.tuple([z.number().int().nonnegative(), count]).readonly().optional().describe('the first guest frame number touched, and how many'),
});

const bits = z.array(z.number());
/** KVM_RUN's exit (src/sim/kvm/run.ts RunExit): struct kvm_run's fields for the reason. */
export const RunExitSchema = z.discriminatedUnion('reason', [
  z.strictObject({ reason: z.literal('KVM_EXIT_IO'), io: z.strictObject({ direction: z.enum(['KVM_EXIT_IO_IN', 'KVM_EXIT_IO_OUT']), size: int, port: int, count: int, data: int }) }),
  z.strictObject({ reason: z.literal('KVM_EXIT_MMIO'), mmio: z.strictObject({ phys_addr: z.number(), data: z.number(), len: int, is_write: z.boolean() }) }),
  z.strictObject({ reason: z.literal('KVM_EXIT_HYPERCALL'), hypercall: z.strictObject({ nr: z.number(), args: bits, ret: z.number(), flags: z.number() }) }),
  z.strictObject({ reason: z.literal('KVM_EXIT_MEMORY_FAULT'), memory_fault: z.strictObject({ flags: z.number(), gpa: z.number(), size: z.number() }) }),
  z.strictObject({ reason: z.literal('KVM_EXIT_HLT') }),
  z.strictObject({ reason: z.literal('KVM_EXIT_SHUTDOWN') }),
  z.strictObject({ reason: z.literal('KVM_EXIT_INTR') }),
  z.strictObject({ reason: z.literal('KVM_EXIT_INTERNAL_ERROR'), internal: z.strictObject({ suberror: int, ndata: int, data: bits }) }),
  z.strictObject({ reason: z.literal('KVM_EXIT_SYSTEM_EVENT'), system_event: z.strictObject({ type: int, ndata: int, data: bits }) }),
  z.strictObject({ reason: z.literal('KVM_EXIT_DIRTY_RING_FULL') }),
  z.strictObject({ reason: z.enum(['KVM_EXIT_X86_RDMSR', 'KVM_EXIT_X86_WRMSR']), msr: z.strictObject({ error: int, reason: int, index: int, data: z.string() }) }),
]);

/** One step's result (src/sim/scenario/report.ts StepResult). */
export const StepResultSchema = z.strictObject({
  step: count,
  do: z.string().describe('the step kind'),
  ret: z.number().describe('what the call returned: the value, or -1 with errno'),
  errno: errnoName.optional(),
  why: z.string().optional().describe('one sentence: why it failed, or what happened'),
  value: json.optional(),
  exit: RunExitSchema.optional(),
  events: z.tuple([count, count]).describe('the events the step recorded: [first, end)'),
});

const SurfaceCountSchema = z.strictObject({ ports: count, mmio: count, msrs: count, total: count });

const VcpuSummarySchema = z.strictObject({
  index: count,
  state: z.string(),
  instructions: count,
  exits: count,
  time: z.record(z.string(), z.number()).describe('virtual ns spent in each state'),
});

export const VmSummarySchema = z.strictObject({
  name: z.string(),
  host: z.string(),
  type: z.string().describe('the KVM VM type, e.g. KVM_X86_TDX_VM'),
  memory: z.string(),
  vcpus: z.array(VcpuSummarySchema),
  console: z.string(),
  memslots: z.array(z.strictObject({ slot: int, guest_phys_addr: z.string(), memory_size: z.string(), flags: int, userspace_addr: z.string(), guest_memfd: int })),
  privateGfns: count,
  mapped: z.strictObject({ shared: count, private: count }),
  td: z.strictObject({ hkid: int, attributes: z.string(), gpaw: int, mrtd: z.string(), pending: count, mapped: count, lifecycle: z.string() }).optional(),
  dead: z.string().nullable(),
  instructions: count,
  platform: z.strictObject({ mode: z.string(), boots: count, devices: z.array(z.string()), acpi_tables: z.array(z.string()), attack_surface: SurfaceCountSchema }).optional(),
});

export const HostSummarySchema = z.strictObject({
  name: z.string(),
  memory: z.string(),
  frames_used: count,
  frames_by_owner: z.record(z.string(), count),
});

export const LinkSummarySchema = z.strictObject({
  name: z.string(),
  from: z.string(),
  to: z.string(),
  bandwidth: z.number().describe('bytes per virtual second'),
  latency: z.number().describe('virtual ns'),
  state: z.enum(['up', 'down']),
  stats: z.strictObject({ delivered: count, failed: count, bytesDelivered: count, cuts: count }),
});

const num = z.number();
/** query-migrate's MigrationInfo, with QEMU's names. */
export const MigrationInfoSchema = z.strictObject({
  status: z.enum(MIGRATION_STATUSES as [string, ...string[]]),
  'total-time': num.optional(),
  'setup-time': num.optional(),
  'expected-downtime': num.optional(),
  downtime: num.optional(),
  'cpu-throttle-percentage': num.optional(),
  'dirty-limit-throttle-time-per-round': num.optional(),
  'dirty-limit-ring-full-time': num.optional(),
  ram: z.strictObject({
    transferred: num, remaining: num, total: num, duplicate: num, normal: num, 'normal-bytes': num,
    'dirty-pages-rate': num, mbps: num, 'dirty-sync-count': num, 'precopy-bytes': num, 'downtime-bytes': num,
    'pages-per-second': num, 'page-size': num, 'postcopy-bytes': num, 'postcopy-requests': num,
  }).optional(),
  'error-desc': z.string().optional(),
});

export const MigrationRoundSchema = z.strictObject({
  round: count, start_ns: num, duration_ns: num, bytes: num, pages: num, dirty_pages: num,
  remaining: num, threshold: num, throttle_pct: num, final: z.boolean(),
});

export const MigrationParametersSchema = z.strictObject({
  'max-bandwidth': num, 'downtime-limit': num, 'avail-switchover-bandwidth': num, 'throttle-trigger-threshold': num,
  'cpu-throttle-initial': num, 'cpu-throttle-increment': num, 'max-cpu-throttle': num, 'vcpu-dirty-limit': num,
  'x-vcpu-dirty-limit-period': num, 'max-postcopy-bandwidth': num,
});

export const PostcopySummarySchema = z.strictObject({
  destination: z.strictObject({
    status: z.enum(['none', 'active', 'postcopy-active', 'postcopy-paused', 'postcopy-recover', 'completed', 'failed']),
    'postcopy-blocktime': num.optional(),
    'postcopy-vcpu-blocktime': z.array(num).optional(),
    'postcopy-latency': num.optional(),
    'postcopy-vcpu-latency': z.array(num).optional(),
  }),
  phase: z.string(),
  counts: z.record(z.string(), num),
  received: count,
  npages: count,
});

export const MigrationSummarySchema = z.strictObject({
  vm: z.string(),
  to: z.string(),
  link: z.string(),
  parameters: MigrationParametersSchema,
  capabilities: z.array(z.string()),
  info: MigrationInfoSchema,
  rounds: z.array(MigrationRoundSchema),
  td_design: z.enum(TD_DESIGNS).optional().describe("a VM with private memory: the design its migration follows (the migrate step's td_design)"),
  postcopy: PostcopySummarySchema.optional(),
});

/** The whole report a scenario run produces (`npm run sim`, `guest-memory-lab run`, `runScenario()`). */
export const ReportSchema = z.strictObject({
  format: z.literal(REPORT_FORMAT),
  version: z.literal(REPORT_VERSION),
  title: z.string(),
  seed: int,
  notes: z.array(z.string()).describe('what the lab did to the scenario before running it'),
  results: z.array(StepResultSchema),
  events: z.array(EventSchema),
  summary: z.strictObject({
    time_ns: z.number().nonnegative(),
    host: HostSummarySchema,
    hosts: z.array(HostSummarySchema),
    links: z.array(LinkSummarySchema),
    vms: z.array(VmSummarySchema),
    migrations: z.array(MigrationSummarySchema).optional(),
  }),
}).describe('A Guest Memory Lab scenario report (docs/scenario-format.md, "The report")');

/**
 * The schema and the simulator's type agree: every Report the simulator can build is one the schema
 * describes (the report types errno as a string; the schema names the errnos Linux has, src/sim/core/errno.ts).
 */
type ReportWithErrnoNames = Omit<Report, 'results'> & { results: (Omit<StepResult, 'errno'> & { errno?: keyof typeof Errno })[] };
type Agrees = ReportWithErrnoNames extends z.input<typeof ReportSchema> ? true : false;
const agrees: Agrees = true;
void agrees;

/** The report's JSON Schema (draft 2020-12), generated from ReportSchema. */
export function reportJsonSchema(): Record<string, unknown> {
  return {
    title: 'Guest Memory Lab report',
    ...z.toJSONSchema(ReportSchema, { io: 'output', unrepresentable: 'any' }),
  };
}

export interface ReportIssue {
  /** JSON path of the value, e.g. `$.results[3].exit.reason`. */
  path: string;
  message: string;
}

/** Checks that `value` is a report; the problems found, each with its JSON path (empty: it is one). */
export function validateReport(value: unknown): ReportIssue[] {
  const r = ReportSchema.safeParse(value);
  if (r.success) return [];
  return r.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message }));
}
