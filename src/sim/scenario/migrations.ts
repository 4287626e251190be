import { formatSize } from '../core/units';
import { checkCapabilities, checkParameters } from '../vmm/migration/params';
import type { VmmVm } from '../vmm/vmm';
import { startIncoming } from '../world/migrate';
import { ScenarioError, type ScenarioIssue } from './fields';
import type { World } from '../world/world';
import type { ScenarioT } from './schema';
import { capabilitiesOf, givenParameters, incomingName, tdDesignOf } from './steps/migration';

/**
 * Before anything runs: every `migrate` and `migrate_set_parameters` step is checked against the
 * world (the VM, the destination host and its room, the link between the hosts, QEMU's parameter
 * ranges and capability rules), each problem with its JSON path; then each migration's destination
 * QEMU is started, as with -incoming, so that the world a scenario builds always has it (a snapshot
 * restores into a world of the same VMs).
 */
export function prepareMigrations(run: { readonly scenario: ScenarioT; readonly world: World; readonly vmms: Map<string, VmmVm> }): void {
  const issues: ScenarioIssue[] = [];
  const world = run.world;
  /** Each VM's capabilities as the steps turn them on (QEMU keeps them between migrations). */
  const caps = new Map<string, ReturnType<typeof capabilitiesOf>>();
  run.scenario.steps.forEach((st, i) => {
    const at = (f: string) => `$.steps[${i}]${f}`;
    if (st.do === 'migrate_set_parameters') {
      const bad = checkParameters(givenParameters(st.parameters));
      if (bad) issues.push({ path: at(`.parameters["${bad.param}"]`), message: bad.message });
      return;
    }
    if (st.do !== 'migrate') return;
    const src = run.vmms.get(st.vm);
    if (!src) {
      issues.push({ path: at('.vm'), message: `no VM named "${st.vm}" (VMs: ${[...run.vmms.keys()].join(', ') || 'none'})` });
      return;
    }
    if (src.desc.kind === 'default' && st.td_design !== undefined)
      issues.push({ path: at('.td_design'), message: `VM "${st.vm}" is an ordinary VM (type "default"): it has no private memory, so there is no TD design to choose` });
    const design = tdDesignOf(src, st.td_design);
    if (design === 'tdx-module' && src.desc.kind !== 'tdx')
      issues.push({ path: at('.td_design'), message: `"tdx-module" migrates a TD through the TDX module, but VM "${st.vm}" is a software-protected VM: use "upstream", "talk" or "kvm-userfault" (or make it type "tdx")` });
    if (design === 'kvm-userfault' && src.desc.kind === 'tdx')
      issues.push({ path: at('.td_design'), message: `"kvm-userfault" is simulated for a software-protected VM, whose private pages the host kernel can copy into guest_memfd; a TD's private pages can only be imported by the TDX module: use "talk" or "tdx-module" for VM "${st.vm}"` });
    if (design && design !== 'upstream' && src.dirtyRing.enabled)
      issues.push({ path: at('.td_design'), message: `a TD's private pages are logged in a dirty bitmap in this design; with the dirty ring (dirty_ring_size) it is not simulated: remove dirty_ring_size from VM "${st.vm}"` });
    const from = world.hosts.find((h) => h.vmms.get(st.vm) === src)!;
    const node = world.hosts.find((h) => h.name === st.to);
    if (!node) {
      issues.push({ path: at('.to'), message: `no host named "${st.to}" (hosts: ${world.hosts.map((h) => `"${h.name}"`).join(', ')})` });
      return;
    }
    const postcopy = (caps.get(st.vm)?.['postcopy-ram'] ?? false) || (st.capabilities ?? []).includes('postcopy-ram');
    if (postcopy && src.desc.kind === 'tdx' && design === 'talk')
      issues.push({ path: at('.capabilities'), message: `post-copy of TD "${st.vm}" is simulated with the TDX module's out-of-order import (td_design "tdx-module"); the talk did not say how a TD's private pages would reach the destination after it starts running: use "tdx-module", or drop postcopy-ram` });
    if (postcopy && src.desc.kind === 'tdx' && design === 'tdx-module' && !node.kvm.userfaultSeries)
      issues.push({ path: at('.td_design'), message: `post-copy of TD "${st.vm}": the lab stops a TD vCPU on a private page not yet imported with KVM Userfault (a posted series, not merged), which host "${st.to}" lacks: give it kernel_series: ["kvm-userfault"], or drop postcopy-ram` });
    if (design === 'kvm-userfault' && !node.kvm.userfaultSeries)
      issues.push({ path: at('.td_design'), message: `"kvm-userfault" needs the KVM Userfault series (not merged) on the destination: give host "${st.to}" kernel_series: ["kvm-userfault"]` });
    if (node === from) issues.push({ path: at('.to'), message: `VM "${st.vm}" already runs on host "${st.to}": migrate it to another host` });
    const link = world.links.find((l) => l.name === st.link);
    if (!link) issues.push({ path: at('.link'), message: `no link named "${st.link}" (links: ${world.links.map((l) => l.name).join(', ') || 'none'})` });
    else if (link.from !== from.name || link.to !== node.name)
      issues.push({ path: at('.link'), message: `link "${st.link}" goes from "${link.from}" to "${link.to}", not from "${from.name}" to "${node.name}"` });
    const bad = checkParameters(givenParameters(st.parameters));
    if (bad) issues.push({ path: at(`.parameters["${bad.param}"]`), message: bad.message });
    const c = caps.get(st.vm) ?? capabilitiesOf([]);
    for (const x of st.capabilities ?? []) c[x] = true;
    caps.set(st.vm, c);
    const badCap = checkCapabilities(c, src.dirtyRing.enabled);
    if (badCap) issues.push({ path: at('.capabilities'), message: badCap.message });
    const name = incomingName(st.vm, st.to, st.as);
    const existing = run.vmms.get(name);
    if (existing) {
      if (existing.incoming !== st.vm || world.hosts.find((h) => h.vmms.get(name) === existing) !== node)
        issues.push({ path: at(st.as === undefined ? '.to' : '.as'), message: `a VM named "${name}" already exists: name the destination VM with "as"` });
      return;
    }
    const used = [...node.vmms.values()].reduce((n: number, v: VmmVm) => n + v.desc.memoryBytes, 0);
    const room = node.host.config.memoryBytes;
    if (used + src.desc.memoryBytes > room) {
      issues.push({ path: at('.to'), message: `host "${st.to}" is too small: it has ${formatSize(room)}, its VMs take ${formatSize(used)}, and "${st.vm}" needs ${formatSize(src.desc.memoryBytes)} more` });
      return;
    }
    if (issues.length) return;
    run.vmms.set(name, startIncoming(world, node, src, name));
  });
  if (issues.length) throw new ScenarioError(issues);
}
