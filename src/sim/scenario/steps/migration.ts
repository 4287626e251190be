import { z } from 'zod';
import { parseBandwidth } from '../../core/units';
import { MIGRATION_STATUSES, type MigrationThread } from '../../vmm/migration/migration';
import {
  CAPABILITY_NAMES, DEFAULT_CAPABILITIES, checkCapabilities, checkParameters, type MigrationCapabilities, type MigrationParameters,
} from '../../vmm/migration/params';
import { startMigration } from '../../world/migrate';
import { TD_DESIGNS, type TdDesign } from '../../vmm/migration/td-export';
import type { VmmVm } from '../../vmm/vmm';
import { ScenarioError, hostName, numeric, vmName } from '../fields';
import { PAGE_SIZE, hex } from '../../core/units';
import { describeBytes, printable, toHex } from './util';
import { defineStep, type StepContext } from './define';

/**
 * Migration steps (VMM level): what an operator asks QEMU's monitor — migrate, migrate-set-parameters,
 * migrate_cancel, query-migrate — with QEMU's parameter and capability names. The scenario is checked
 * before anything runs (runner.ts checkMigrations): hosts, links, the destination's room, parameter
 * ranges and capability rules, each with its JSON path.
 */

/** Bytes per second ≥ 0: a number, a bit rate ("1Gbit") or a size per second ("128MiB"). */
const rate = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return v;
    ctx.addIssue({ code: 'custom', message: `${v} is not a rate: bytes per second must be an integer ≥ 0` });
    return z.NEVER;
  }
  if (/^\s*0+\s*$/.test(v)) return 0;
  const n = parseBandwidth(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a rate ≥ 0 (bytes per second, "1Gbit", "128MiB")` });
    return z.NEVER;
  }
  return n;
}).describe('bytes per second: a number, a bit rate ("1Gbit") or a size per second ("128MiB")');

const int = (what: string) => z.number().int().describe(what);

/** migrate-set-parameters' arguments, by QEMU's names (unknown names are refused). */
export const MigrationParametersSpec = z.strictObject({
  'max-bandwidth': rate.optional().describe('the rate limit (default 128 MiB/s; 0: no limit)'),
  'downtime-limit': int('ms the guest may be stopped at switchover (default 300)').optional(),
  'avail-switchover-bandwidth': rate.optional().describe('the bandwidth to expect at switchover (default 0: the measured one)'),
  'throttle-trigger-threshold': int('auto-converge: dirtied/sent percentage that triggers throttling (default 50)').optional(),
  'cpu-throttle-initial': int('auto-converge: the first throttle, % (default 20)').optional(),
  'cpu-throttle-increment': int('auto-converge: added each time after, % (default 10)').optional(),
  'max-cpu-throttle': int('auto-converge: the most, % (default 99)').optional(),
  'vcpu-dirty-limit': int('dirty-limit: MB/s per vCPU (default 1)').optional(),
  'x-vcpu-dirty-limit-period': int('dirty-limit: ms (default 1000)').optional(),
  'max-postcopy-bandwidth': rate.optional().describe('post-copy\'s rate limit (default 0: none, the link\'s speed)'),
}).describe("migration parameters with QEMU's names");

export const CapabilitiesSpec = z.array(z.enum(CAPABILITY_NAMES)).describe(`capabilities to turn on: ${CAPABILITY_NAMES.join(', ')}`);

export type MigrationParametersIn = z.output<typeof MigrationParametersSpec>;

/** The parameters as given, minus the absent ones. */
export function givenParameters(p: MigrationParametersIn | undefined): Partial<MigrationParameters> {
  const out: Partial<MigrationParameters> = {};
  for (const [k, v] of Object.entries(p ?? {})) if (v !== undefined) (out as Record<string, number>)[k] = v;
  return out;
}

export function capabilitiesOf(list: readonly string[] | undefined): MigrationCapabilities {
  const c = { ...DEFAULT_CAPABILITIES };
  for (const x of list ?? []) c[x as keyof MigrationCapabilities] = true;
  return c;
}

/**
 * The design a migration of a VM with private memory follows: the step's `td_design`, else the
 * VM's platform mode ('upstream' → upstream, 'talk' → the talk's proposal). An ordinary VM has none.
 */
export function tdDesignOf(vm: VmmVm, given: TdDesign | undefined): TdDesign | undefined {
  if (vm.desc.kind === 'default') return undefined;
  return given ?? (vm.running.mode === 'talk' ? 'talk' : 'upstream');
}

/** The default name of the VM a migrate step starts on the destination. */
export function incomingName(vm: string, to: string, as?: string): string {
  return as ?? `${vm}@${to}`;
}

/** The VM's current (latest) migration, or a ScenarioError at `$.steps[i].vm`. */
function migrationOf(ctx: StepContext, vm: string, i: number): MigrationThread {
  ctx.vmm(vm, i);
  const m = ctx.world.migrationOf(vm);
  if (!m) throw new ScenarioError([{ path: `$.steps[${i}].vm`, message: `VM "${vm}" has not been migrated: no migration to act on (start one with "migrate")` }]);
  return m;
}

export const MIGRATION_STEPS = [
  defineStep('migrate', 'vmm', {
    vm: vmName.describe('the VM to migrate (the source)'),
    to: hostName.describe('the destination host: a QEMU started there with -incoming waits for the stream'),
    link: z.string().min(1).describe('the link the stream goes over (it must join the two hosts)'),
    as: z.string().min(1).optional().describe('the name of the VM on the destination (default "<vm>@<to>")'),
    resume: z.boolean().optional().describe('resume a post-copy paused by a broken link (postcopy-recover-setup, postcopy-recover, postcopy-active); run migrate_recover on the destination first'),
    parameters: MigrationParametersSpec.optional(),
    capabilities: CapabilitiesSpec.optional(),
    td_design: z.enum(TD_DESIGNS).optional().describe("a VM with private memory: upstream (KVM refuses dirty logging on guest_memfd, the migration fails), talk (the talk's proposal: the dirty log kept in guest_memfd and, for post-copy, a userfault fd on guest_memfd), tdx-module (a TD: the TDX module's TD migration, Intel's trees), or kvm-userfault (a software-protected VM: KVM Userfault catches its post-copy faults, a posted series); default: the VM's platform mode"),
  }, { summary: "QEMU's migrate: pre-copy the VM's RAM over a link to a VM started with -incoming on another host, then stop, send the rest and the device state, and run the guest there" },
  (ctx, st, i) => {
    const src = ctx.vmm(st.vm, i);
    const dst = ctx.vmm(incomingName(st.vm, st.to, st.as), i);
    const last = ctx.world.migrationOf(st.vm);
    if (st.resume) {
      // migrate_prepare(): resume only a post-copy that is paused.
      const why = last ? last.resume() : 'Cannot resume if there is no paused migration';
      if (why) {
        ctx.hostOfVm(st.vm, i).host.trace.emit('vmm', 'migrate', { resume: true, error: why }, `QEMU refuses migrate with resume: ${why}.`, { vm: st.vm });
        return { ret: -1, errno: 'EINVAL', why };
      }
      return { ret: 0, value: { status: last!.status, ...(last!.error ? { error: last!.error } : {}) } };
    }
    if (last && !last.finished) return { ret: -1, errno: 'EBUSY', why: `There's a migration process in progress (status ${last.status})` };
    if (src.runState === 'postmigrate' || src.runState === 'inmigrate') return { ret: -1, errno: 'EINVAL', why: `VM "${st.vm}" is ${src.runState}: its guest does not run here` };
    if (dst.runState !== 'inmigrate') return { ret: -1, errno: 'EINVAL', why: `the destination VM "${dst.desc.name}" already runs a guest` };
    const params = { ...src.migrationParameters, ...givenParameters(st.parameters) };
    src.migrationParameters = params;
    for (const c of st.capabilities ?? []) src.migrationCapabilities[c] = true;
    const t = startMigration(ctx.world, src, dst, st.link, params, { ...src.migrationCapabilities }, tdDesignOf(src, st.td_design));
    return { ret: 0, value: { status: t.status, to: dst.desc.name, host: st.to, link: st.link } };
  }),

  defineStep('migrate_set_parameters', 'vmm', {
    vm: vmName,
    parameters: MigrationParametersSpec,
  }, { summary: 'migrate-set-parameters: change the parameters, also while a migration runs (the next 100 ms window uses them)' },
  (ctx, st, i) => {
    const v = ctx.vmm(st.vm, i);
    const p = givenParameters(st.parameters);
    const bad = checkParameters(p);
    if (bad) throw new ScenarioError([{ path: `$.steps[${i}].parameters["${bad.param}"]`, message: bad.message }]);
    Object.assign(v.migrationParameters, p);
    const m = ctx.world.migrationOf(st.vm);
    if (m && !m.finished) m.setParameters(p);
    ctx.hostOfVm(st.vm, i).host.trace.emit('vmm', 'migrate-set-parameters', p as Record<string, number>,
      `QEMU sets ${Object.entries(p).map(([k, x]) => `${k} = ${x}`).join(', ') || 'nothing'}${m && !m.finished ? ': the running migration uses them from its next window' : ''}.`, { vm: st.vm });
    return { ret: 0, value: { ...v.migrationParameters } };
  }),

  defineStep('migrate_set_capabilities', 'vmm', {
    vm: vmName,
    capabilities: z.array(z.strictObject({ capability: z.enum(CAPABILITY_NAMES), state: z.boolean() })).min(1)
      .describe('QEMU\'s MigrationCapabilityStatus list: [{"capability": "auto-converge", "state": true}]'),
  }, { summary: 'migrate-set-capabilities: turn capabilities on or off for the next migrate (QEMU refuses while a migration runs)' },
  (ctx, st, i) => {
    const v = ctx.vmm(st.vm, i);
    const m = ctx.world.migrationOf(st.vm);
    const emit = (text: string, args: Record<string, string | number | boolean>) => ctx.hostOfVm(st.vm, i).host.trace.emit('vmm', 'migrate-set-capabilities', args, text, { vm: st.vm });
    const asked = Object.fromEntries(st.capabilities.map((c) => [c.capability, c.state]));
    // qmp_migrate_set_capabilities(): migration_is_running() → QERR_MIGRATION_ACTIVE.
    if (m && !m.finished) {
      const why = "There's a migration process in progress";
      emit(`QEMU refuses migrate-set-capabilities: ${why} (status ${m.status}). Capabilities are fixed for the whole migration; cancel it, change them, and migrate again.`, { ...asked, error: why });
      return { ret: -1, errno: 'EBUSY', why };
    }
    const next = { ...v.migrationCapabilities, ...asked };
    // migrate_caps_check(), QEMU's text.
    const bad = checkCapabilities(next, v.dirtyRing.enabled);
    if (bad) {
      emit(`QEMU refuses migrate-set-capabilities: ${bad.message}.`, { ...asked, error: bad.message });
      return { ret: -1, errno: 'EINVAL', why: bad.message };
    }
    v.migrationCapabilities = next;
    emit(`QEMU sets ${st.capabilities.map((c) => `${c.capability} ${c.state ? 'on' : 'off'}`).join(', ')}: the next migrate of "${st.vm}" uses them.`, asked);
    return { ret: 0, value: { ...next } };
  }),

  defineStep('migrate_cancel', 'vmm', { vm: vmName },
    { summary: 'migrate_cancel: stop the VM\'s migration (cancelling, then cancelled); the source guest keeps running' },
    (ctx, st, i) => {
      const m = migrationOf(ctx, st.vm, i);
      if (m.inPostcopy) return { ret: -1, errno: 'EINVAL', why: `the migration is ${m.status}: the guest already runs on the destination with part of its memory on the source, so cancelling would lose it (the lab refuses)` };
      if (!m.cancel(ctx.world.clock.now)) return { ret: -1, errno: 'EINVAL', why: `the migration is ${m.status}: there is nothing to cancel` };
      return { ret: 0, value: { status: m.status } };
    }),

  defineStep('migrate_start_postcopy', 'vmm', { vm: vmName },
    { summary: 'migrate-start-postcopy: switch the running migration to post-copy at its next pass (needs the postcopy-ram capability): the guest moves to the destination and its missing pages follow on demand' },
    (ctx, st, i) => {
      ctx.vmm(st.vm, i);
      const m = ctx.world.migrationOf(st.vm);
      const emit = (text: string, args: Record<string, string | number | boolean>) => ctx.hostOfVm(st.vm, i).host.trace.emit('vmm', 'migrate-start-postcopy', args, text, { vm: st.vm });
      // qmp_migrate_start_postcopy(), QEMU's errors.
      const caps = m ? m.capabilities : ctx.vmm(st.vm, i).migrationCapabilities;
      let why = '';
      if (!caps['postcopy-ram']) why = 'Enable postcopy with migrate_set_capability before the start of migration';
      else if (!m) why = 'Postcopy must be started after migration has been started';
      if (why) {
        emit(`QEMU refuses migrate-start-postcopy: ${why}.`, { error: why });
        return { ret: -1, errno: 'EINVAL', why };
      }
      m!.startPostcopy = true;
      emit(m!.finished || m!.inPostcopy ? `migrate-start-postcopy: the migration is ${m!.status} already; nothing changes (QEMU does not treat this as an error).`
        : `migrate-start-postcopy: at its next pass, unless what is left is below the threshold, the migration thread stops the guest here and starts it on the destination.`, { status: m!.status });
      return { ret: 0, value: { status: m!.status } };
    }),

  defineStep('migrate_recover', 'vmm', { vm: vmName.describe('the destination VM (the incoming side)') },
    { summary: 'migrate-recover on the destination: after a broken link paused post-copy, listen for the source again (then migrate with resume on the source)' },
    (ctx, st, i) => {
      ctx.vmm(st.vm, i);
      const m = ctx.world.migrations.findLast((x) => x.dst === st.vm);
      const why = m ? m.recover() : 'Migrate recover can only be run when postcopy is paused.';
      if (why) {
        ctx.hostOfVm(st.vm, i).host.trace.emit('vmm', 'migrate-recover', { error: why }, `QEMU refuses migrate-recover on "${st.vm}": ${why}${m ? '' : ' (it is not the destination of a migration)'}`, { vm: st.vm });
        return { ret: -1, errno: 'EINVAL', why };
      }
      return { ret: 0, value: { status: m!.incoming.status } };
    }),

  defineStep('query_migrate', 'vmm', { vm: vmName },
    { summary: "query-migrate: the migration's status and counters, with QEMU's names (ram.transferred, remaining, dirty-sync-count, postcopy-requests, ...); on a destination VM, the incoming side's status and, with postcopy-blocktime, postcopy-blocktime and postcopy-latency" },
    (ctx, st, i) => {
      ctx.vmm(st.vm, i);
      const incoming = ctx.world.migrations.findLast((x) => x.dst === st.vm);
      if (incoming && !ctx.world.migrationOf(st.vm)) return { ret: 0, value: { ...incoming.incoming.info(incoming.capabilities['postcopy-blocktime'], ctx.world.clock.now) } };
      const m = migrationOf(ctx, st.vm, i);
      return { ret: 0, value: { ...m.info(ctx.world.clock.now), rounds: m.rounds.length } };
    }),
] as const;

/** Host-level migration steps (listed after the other host steps). */
export const MIGRATION_HOST_STEPS = [
  defineStep('read_migration_stream', 'host', { vm: vmName, gpa: numeric, length: numeric.default(16) },
    { summary: "the host reads what the VM's latest migration put on the link for a GPA: an ordinary page's bytes, or a TD's private page as the TDX module sealed it (ciphertext and a MAC)" },
    (ctx, st, i) => {
      const m = migrationOf(ctx, st.vm, i);
      const src = m.vmms.src;
      const gfn = Math.floor(st.gpa / PAGE_SIZE);
      const len = Math.min(st.length, PAGE_SIZE - (st.gpa % PAGE_SIZE));
      const trace = src.host.trace;
      const ctxv = { vm: st.vm, gfns: [gfn, 1] as const };
      if (m.td && src.vm.isPrivate(gfn)) {
        const w = m.td.wireView(st.gpa, len);
        if (!w) return { ret: -1, errno: 'ENOENT', why: `private GPA ${hex(st.gpa)} has not gone on the link (yet)` };
        if (w.stateOnly) {
          trace.emit('host', 'read', { via: 'migration_stream', gpa: hex(st.gpa), state_only: true },
            `The host looks for ${hex(st.gpa)} in the migration stream and finds only its GPA entry: the page was never accepted (PENDING), so it travels as state, without contents.`, ctxv);
          return { ret: 0, value: { view: 'state only', hex: '', mac: '' } };
        }
        trace.emit('host', 'read', { via: 'migration_stream', gpa: hex(st.gpa), length: len, data: toHex(w.bytes), mac: w.mac },
          `The host reads ${hex(st.gpa)} in the migration stream: ${describeBytes(w.bytes)} — ciphertext under the migration key, with MAC ${w.mac}. It cannot read the guest's bytes, nor tell a page of zeros from any other (${m.tdDesign === 'talk' ? "the talk's proposal" : "the TDX module's TD migration, Intel's trees"}; not upstream).`, ctxv);
        return { ret: len, value: { view: 'ciphertext', hex: toHex(w.bytes), mac: w.mac } };
      }
      const hva = src.gpaToHva(st.gpa);
      if (hva === undefined) return { ret: -1, errno: 'EFAULT', why: `GPA ${hex(st.gpa)} is not RAM of "${st.vm}"` };
      const bytes = src.process.read(hva, len);
      trace.emit('host', 'read', { via: 'migration_stream', gpa: hex(st.gpa), length: len, data: toHex(bytes) },
        `The host reads ${hex(st.gpa)} in the migration stream: a ${src.vm.hasPrivateMemory ? 'shared' : 'ordinary'} page goes in the clear, so it sees ${describeBytes(bytes)}, the guest's own bytes.`, ctxv);
      return { ret: len, value: { view: 'plaintext', hex: toHex(bytes), text: printable(bytes) } };
    }),
] as const;

/** A run_until's migration condition: the VM's latest migration has one of these statuses. */
export const RUN_UNTIL_STATUSES = z.union([z.enum(MIGRATION_STATUSES), z.array(z.enum(MIGRATION_STATUSES)).min(1)]);
