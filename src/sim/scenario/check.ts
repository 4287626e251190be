import { AsmError, assemble } from '../guest/asm';
import { KERNEL_SERVICES } from '../guest/kernel/kernel';
import { LIMITS, ScenarioError, type ScenarioIssue } from './fields';
import { STEP_BY_KIND, type StepT } from './steps';
import { incomingName } from './steps/migration';
import { decodeData } from './steps/util';

/** The parts of a parsed scenario (schema.ts's ScenarioT) that steps refer to. */
interface World {
  hosts: readonly { name: string }[];
  links: readonly { name: string }[];
  vms: readonly { name: string; vcpus: number }[];
  steps: readonly StepT[];
}

/**
 * What a scenario's steps refer to, checked when it is loaded, before anything runs, so that a
 * mistake in its last step is not found an hour of guest time later (and in the browser, not by a
 * worker dying mid-run). By field, for every step kind, so new kinds are checked too:
 *
 * - `vm`: a VM of `vms`, a name some step gives with "as" (KVM_CREATE_VM, migrate), or a migrated VM's "<vm>@<to>";
 *   for a VMM-level step (and run_until, read_migration_stream), one the VMM built: of `vms` or a destination;
 * - query_migrate, migrate_cancel, read_migration_stream: a `migrate` step of the VM before them
 *   (for query_migrate, or one to it); what they would act on otherwise is not there;
 * - run_until: "time", or "vm" with "status";
 * - `uffd`: a name some step gives with "as" (a `userfaultfd` step);
 * - `vcpu` of a VMM-level step on a VM of `vms`: below its `vcpus`;
 * - `host`, `link`: a host or link of the world (they are fixed at load);
 * - `show.vm`, `show.host`: as `vm` and `host`;
 * - `at` and `after`: not both;
 * - a host read's `length`: at most LIMITS.hostReadBytes;
 * - `program`: assembles (at the step's `gpa`);
 * - `data`: "hex:" bytes that are hex.
 *
 * Capability and flag names are checked by their field schemas (fields.ts). What a scenario itself
 * creates with its steps (slots, fds, vCPUs made with KVM_CREATE_VCPU) is not known before it runs:
 * those fail when used as Linux fails them, with an errno.
 */
export function checkReferences(s: World): void {
  const issues: ScenarioIssue[] = [];
  const vms = new Map(s.vms.map((v) => [v.name, v]));
  const hosts = new Set(s.hosts.map((h) => h.name));
  const links = new Set(s.links.map((l) => l.name));
  const made = new Set<string>();
  /** Destination VMs (the VMM builds them) and VMs migrated away, each with the index of the first migrate step that names it. */
  const destinations = new Map<string, number>();
  const migrated = new Map<string, number>();
  s.steps.forEach((st, j) => {
    // A migration's destination VM ("<vm>@<to>" unless named with "as") exists from the load on (-incoming).
    if (st.do === 'migrate') {
      const d = incomingName(st.vm, st.to, st.as);
      made.add(d);
      if (!destinations.has(d)) destinations.set(d, j);
      if (!migrated.has(st.vm)) migrated.set(st.vm, j);
    } else if ('as' in st && typeof st.as === 'string') made.add(st.as);
  });
  /** VMs the VMM built: those of `vms` and migrations' destinations. */
  const vmmVms = [...vms.keys(), ...destinations.keys()];
  const list = (names: Iterable<string>) => [...names].map((n) => JSON.stringify(n)).join(', ') || 'none';

  s.steps.forEach((st, i) => {
    const def = STEP_BY_KIND.get(st.do);
    if (!def) return;
    const f = st as unknown as Record<string, unknown>;
    const at = (field: string) => `$.steps[${i}].${field}`;
    if (typeof f.vm === 'string' && !vms.has(f.vm) && !made.has(f.vm))
      issues.push({ path: at('vm'), message: `no VM named ${JSON.stringify(f.vm)} (VMs: ${list([...vms.keys(), ...made])})` });
    // A VMM-level step (and a run_until waiting for a migration, and a read of a migration's stream)
    // acts on a VM the VMM built, not on one the scenario made by hand with KVM_CREATE_VM.
    const needsVmm = def.level === 'vmm' || st.do === 'run_until' || st.do === 'read_migration_stream';
    if (needsVmm && typeof f.vm === 'string' && !vms.has(f.vm) && !destinations.has(f.vm) && made.has(f.vm))
      issues.push({ path: at('vm'), message: `${st.do} acts on a VM the VMM built, and ${JSON.stringify(f.vm)} is not one (it is made by a step with "as"; VMs the VMM built: ${list(vmmVms)})` });
    // What acts on a migration needs a migrate step before it (a destination's query-migrate too).
    if ((st.do === 'query_migrate' || st.do === 'migrate_cancel' || st.do === 'read_migration_stream') && typeof f.vm === 'string' && (vms.has(f.vm) || destinations.has(f.vm))) {
      const first = Math.min(migrated.get(f.vm) ?? Infinity, st.do === 'query_migrate' ? destinations.get(f.vm) ?? Infinity : Infinity);
      if (!(first < i))
        issues.push({ path: at('vm'), message: `VM ${JSON.stringify(f.vm)} is not migrated by an earlier step: ${st.do} needs a migration to act on (a "migrate" step before it${st.do === 'query_migrate' ? ', of this VM or to it' : ' of this VM'})` });
    }
    if (st.do === 'run_until') {
      if (st.status === undefined && st.time === undefined) issues.push({ path: `$.steps[${i}]`, message: 'run_until needs "time", or "vm" and "status" (a migration status)' });
      else if (st.status === undefined && st.vm !== undefined) issues.push({ path: at('vm'), message: '"vm" goes with "status": the migration status to wait for' });
      else if (st.status !== undefined && st.vm === undefined) issues.push({ path: at('vm'), message: 'run_until with a "status" names the VM whose migration it waits for' });
    }
    const spec = typeof f.vm === 'string' ? vms.get(f.vm) : undefined;
    if (def.level === 'vmm' && spec && typeof f.vcpu === 'number' && f.vcpu >= spec.vcpus)
      issues.push({ path: at('vcpu'), message: `VM ${JSON.stringify(spec.name)} has ${spec.vcpus} vCPU(s): there is no vCPU ${f.vcpu}` });
    if (typeof f.uffd === 'string' && !made.has(f.uffd))
      issues.push({ path: at('uffd'), message: `no userfaultfd named ${JSON.stringify(f.uffd)}: a \`userfaultfd\` step must make it with "as" (names made: ${list(made)})` });
    if (typeof f.host === 'string' && !hosts.has(f.host))
      issues.push({ path: at('host'), message: `no host named ${JSON.stringify(f.host)} (hosts: ${list(hosts)})` });
    if (typeof f.link === 'string' && !links.has(f.link))
      issues.push({ path: at('link'), message: `no link named ${JSON.stringify(f.link)} (links: ${list(links)})` });
    // `show` (what the lab brings forward) names a VM and host as the steps do.
    const show = f.show as { vm?: string; host?: string } | undefined;
    if (show?.vm !== undefined && !vms.has(show.vm) && !made.has(show.vm))
      issues.push({ path: at('show.vm'), message: `no VM named ${JSON.stringify(show.vm)} (VMs: ${list([...vms.keys(), ...made])})` });
    if (show?.host !== undefined && !hosts.has(show.host))
      issues.push({ path: at('show.host'), message: `no host named ${JSON.stringify(show.host)} (hosts: ${list(hosts)})` });
    if (def.level === 'host' && st.do.includes('read') && typeof f.length === 'number' && f.length > LIMITS.hostReadBytes)
      issues.push({ path: at('length'), message: `a host read shows what it read: at most ${LIMITS.hostReadBytes.toLocaleString('en')} bytes (docs/scenario-format.md, "Limits"), not ${f.length.toLocaleString('en')}` });
    if (f.at !== undefined && f.after !== undefined) issues.push({ path: `$.steps[${i}]`, message: 'give "at" or "after", not both' });
    if (typeof f.program === 'string') {
      try {
        assemble(f.program, { origin: typeof f.gpa === 'number' ? f.gpa : 0, services: KERNEL_SERVICES });
      } catch (e) {
        if (!(e instanceof AsmError)) throw e;
        issues.push({ path: at('program'), message: `assembler: ${e.toString()}` });
      }
    }
    if (typeof f.data === 'string') {
      try {
        decodeData(f.data);
      } catch (e) {
        if (!(e instanceof ScenarioError)) throw e;
        issues.push({ path: at('data'), message: e.issues[0].message });
      }
    }
  });
  if (issues.length) throw new ScenarioError(issues);
}
