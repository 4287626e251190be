import { formatSize } from '../core/units';
import type { MigrationCapabilities, MigrationParameters } from '../vmm/migration/params';
import { CAPABILITY_NAMES } from '../vmm/migration/params';
import type { MigrationThread } from '../vmm/migration/migration';
import { VmmVm } from '../vmm/vmm';
import type { TdDesign } from '../vmm/migration/td-export';
import type { HostNode, World } from './world';
import { migrationThread } from './state';

/**
 * The destination's VMM, started as with `-incoming`: the same machine description (QEMU's command
 * line on the destination must build the same machine) under its own name, on `node`. Its RAM is
 * empty but for the firmware image the VMM loads at start; its vCPU threads wait (inmigrate).
 */
export function startIncoming(world: World, node: HostNode, src: VmmVm, name: string): VmmVm {
  const v = new VmmVm(node.host, node.kvm, { ...src.desc, name, incoming: true });
  world.addVmm(node, v);
  v.runState = 'inmigrate';
  v.incoming = src.desc.name;
  node.host.trace.emit('vmm', 'migrate_incoming', { from: src.desc.name, memory: v.desc.memoryBytes },
    `QEMU starts on ${node.name} with -incoming: an empty VM "${name}" of the same shape as "${src.desc.name}" (${formatSize(v.desc.memoryBytes)}, ${v.nvcpus} vCPU(s)) waits for the migration stream.`,
    { vm: name });
  return v;
}

const TD_DESIGN_WORDS: Record<TdDesign, string> = {
  upstream: 'upstream KVM and QEMU',
  talk: "the talk's proposal (a dirty log kept in guest_memfd; not upstream)",
  'tdx-module': "the TDX module's TD migration (Intel's trees; not upstream)",
  'kvm-userfault': "KVM Userfault for its post-copy (a posted series, not merged) and the talk's dirty log in guest_memfd for its pre-copy (not upstream)",
};

/** `migrate`: the source's migration thread starts (status setup) and joins the world's scheduler. */
export function startMigration(world: World, src: VmmVm, dst: VmmVm, link: string, parameters: MigrationParameters, capabilities: MigrationCapabilities, tdDesign?: TdDesign): MigrationThread {
  const now = world.clock.now;
  const t = migrationThread(world, { id: world.migrations.length, src: src.desc.name, dst: dst.desc.name, link, parameters, capabilities, startNs: now, ...(tdDesign ? { tdDesign } : {}) });
  world.migrations.push(t);
  world.addActor(t);
  const caps = CAPABILITY_NAMES.filter((c) => capabilities[c]);
  src.host.trace.emit('vmm', 'migrate', { to: dst.desc.name, link, 'max-bandwidth': parameters['max-bandwidth'], 'downtime-limit': parameters['downtime-limit'], capabilities: caps.join(',') || 'none', ...(tdDesign ? { td_design: tdDesign } : {}) },
    `QEMU starts migrating "${src.desc.name}" to "${dst.desc.name}" over link ${link} (max-bandwidth ${formatSize(parameters['max-bandwidth'])}/s, downtime-limit ${parameters['downtime-limit']} ms${caps.length ? `, ${caps.join(', ')}` : ''}): status setup.${tdDesign ? ` Its private memory follows ${TD_DESIGN_WORDS[tdDesign]}.` : ''}`,
    { vm: src.desc.name });
  return t;
}
