/**
 * `{host, vm}` is a VM's identity in the app: VM names may repeat across hosts, so the store's
 * selection, the frame's arrays and every per-VM query name both. Pure helpers, no React.
 */
import type { FramePacket, LabFrame, VmRef, VmView } from '../worker/protocol';

export type { VmRef };

/** Whether `a` and `b` name the same VM (false when either is missing). */
export function sameVm(a: VmRef | null | undefined, b: VmRef | null | undefined): boolean {
  return !!a && !!b && a.host === b.host && a.vm === b.vm;
}

/** A string that tells VMs apart (for React keys, maps and test ids): unambiguous whatever the names hold. */
export function vmKey(r: VmRef): string {
  return JSON.stringify([r.host, r.vm]);
}

/** The inverse of vmKey. */
export function parseVmKey(key: string): VmRef {
  const [host, vm] = JSON.parse(key) as [string, string];
  return { host, vm };
}

/** A frame's VM view as a reference. */
export function refOf(v: Pick<VmView, 'host' | 'name'>): VmRef {
  return { host: v.host, vm: v.name };
}

/** The VM `r` names in a frame. */
export function findVm(frame: LabFrame | null | undefined, r: VmRef | null | undefined): VmView | undefined {
  return r ? frame?.vms.find((v) => v.host === r.host && v.name === r.vm) : undefined;
}

/** The page-state array of the VM `r` names in a packet. */
export function findPages(p: FramePacket | null | undefined, r: VmRef | null | undefined): FramePacket['pages'][number] | undefined {
  return r ? p?.pages.find((x) => x.host === r.host && x.vm === r.vm) : undefined;
}

/** The frame-owner array of host `host` in a packet. */
export function findHostOwners(p: FramePacket | null | undefined, host: string | null | undefined): FramePacket['hosts'][number] | undefined {
  return host == null ? undefined : p?.hosts.find((h) => h.host === host);
}

/** A short label for a VM where several hosts could hold one of its name: "vm0 on host-a". */
export function vmLabel(r: VmRef, hostCount: number): string {
  return hostCount > 1 ? `${r.vm} on ${r.host}` : r.vm;
}
