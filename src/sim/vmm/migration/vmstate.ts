/**
 * The non-iterable part of the migration stream (qemu_savevm_state_complete_precopy_non_iterable):
 * each vCPU's state (registers, MSRs, the TSC, what KVM was in the middle of, the guest kernel's
 * progress) and the devices' state, saved through the parts' state contracts (core/state.ts) and
 * loaded into the destination's parts, which the same command line built. Its size is counted as a
 * stream's: it goes over the link while the guest is stopped, so it counts in `downtime-bytes`.
 */
import { loadGraph, saveGraph, type PartState } from '../../core/state';
import type { VmmVm } from '../vmm';

/** What one VM's devices and vCPUs carry. Plain, structured-clonable data. */
export interface VmState {
  cpus: PartState[];
  kernels: PartState[];
  vcpus: PartState[];
  platform: PartState;
  console: string;
  boots: number;
}

/** A plain object of `o`'s own fields but `omit` (and its class's stateSkip, applied by saveGraph's walk below). */
function view(o: object, omit: readonly string[]): Record<string, unknown> {
  const skip = new Set([...omit, ...((o.constructor as { stateSkip?: readonly string[] }).stateSkip ?? [])]);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) if (!skip.has(k)) out[k] = (o as Record<string, unknown>)[k];
  return out;
}

/**
 * Fields that are not the guest's state: wiring and identity (the VM, ids, fds, the trace, the
 * kernel's event context, which names this VM), the host's caches (a host frame number means
 * nothing on another host), and the program, which the destination was started with.
 */
const CPU_OMIT = ['kernel', 'source'];
const KERNEL_OMIT = ['trace', 'ctx', 'platform'];
const VCPU_OMIT = ['vm', 'id', 'fd', 'cpu', 'hostTlbGen', 'lastWriteFrame'];

export function saveVmState(vmm: VmmVm): VmState {
  return {
    cpus: vmm.cpus.map((c) => saveGraph(view(c, CPU_OMIT))),
    kernels: vmm.cpus.map((_c, i) => saveGraph(view(vmm.kernelOf(i), KERNEL_OMIT))),
    vcpus: vmm.vcpus.map((v) => saveGraph(view(v, VCPU_OMIT))),
    platform: devicesState(vmm),
    console: vmm.consoleBefore,
    boots: vmm.boots,
  };
}

/**
 * The devices' state. fw_cfg's items (the ACPI tables and the other files) are not in it: QEMU's
 * vmstate_fw_cfg carries only the selector, the offset and the DMA address, since the destination
 * generates the items from its own command line.
 */
function devicesState(vmm: VmmVm): PartState {
  const s = saveGraph(vmm.platform);
  const fw = (s.models as Map<string, PartState> | undefined)?.get('fw_cfg');
  if (fw) delete fw.items;
  return s;
}

/** Load a source's state into the destination VMM (same shape: the same machine description). */
export function loadVmState(dst: VmmVm, s: VmState): void {
  s.cpus.forEach((c, i) => loadGraph(dst.cpus[i], c));
  s.kernels.forEach((k, i) => loadGraph(dst.kernelOf(i), k));
  s.vcpus.forEach((v, i) => {
    loadGraph(dst.vcpus[i], v);
    dst.vcpus[i].flushTlb();
  });
  loadGraph(dst.platform, s.platform);
  dst.consoleBefore = s.console;
  dst.boots = s.boots;
}

/**
 * The bytes a state takes in the stream, as QEMU's vmstate writes fields: numbers as 8 bytes, strings
 * and typed arrays as their length plus a 4-byte length, booleans as one byte, each section (a part)
 * with a header of its name and ids (QEMU_VM_SECTION_FULL: 1 + 4 + 1 + name + 4 + 4), and a
 * QEMU_VM_EOF byte at the end.
 */
export function streamSize(v: unknown): number {
  const walk = (x: unknown): number => {
    if (x === null || x === undefined) return 1;
    switch (typeof x) {
      case 'number':
      case 'bigint':
        return 8;
      case 'boolean':
        return 1;
      case 'string':
        return 4 + x.length;
      case 'object':
        break;
      default:
        return 0;
    }
    if (ArrayBuffer.isView(x)) return 4 + x.byteLength;
    if (Array.isArray(x)) return 4 + x.reduce((n: number, y) => n + walk(y), 0);
    if (x instanceof Map) {
      let n = 4;
      for (const [k, y] of x) n += walk(k) + walk(y);
      return n;
    }
    if (x instanceof Set) return 4 + [...x].reduce((n: number, y) => n + walk(y), 0);
    const o = x as Record<string, unknown>;
    let n = typeof o.$class === 'string' ? 1 + 4 + 1 + o.$class.length + 4 + 4 : 0;
    for (const k of Object.keys(o)) if (k !== '$class') n += walk(o[k]);
    return n;
  };
  return walk(v) + 1;
}
