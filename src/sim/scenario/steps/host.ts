import { z } from 'zod';
import { PAGE_SIZE, hex } from '../../core/units';
import { FRAME_OWNER_NAMES } from '../../host/physmem';
import { hostName, numeric, vmName } from '../fields';
import { defineStep, type HostSide, type StepOutcome } from './define';
import { decodeData, describeBytes, printable, toHex } from './util';

/** Host-level steps: the privileged host (its kernel, /dev/mem, a DMA engine, the VMM process) touching memory. */

/** A privileged host reads guest memory, the three ways an attacker on the host could try. */
export function hostRead(v: HostSide, gpa: number, len: number, via: 'vmm_mapping' | 'physical' | 'guest_memfd'): StepOutcome {
  const gfn = Math.floor(gpa / PAGE_SIZE);
  const priv = v.vm.isPrivate(gfn);
  const ctx = { vm: v.name, gfns: [gfn, 1] as const };
  const trace = v.node.host.trace;
  if (via === 'guest_memfd') {
    if (!v.gmem) return { ret: -1, errno: 'EBADF', why: `VM "${v.name}" has no guest_memfd` };
    v.gmem.readOrWrite('read');
  }
  if (via === 'vmm_mapping') {
    const hva = v.gpaToHva(gpa);
    if (hva === undefined) return { ret: -1, errno: 'EFAULT', why: `GPA ${hex(gpa)} is not in a memslot, so the VMM has no mapping of it` };
    const bytes = v.process.read(hva, len);
    const text = priv
      ? `The VMM reads ${hex(gpa)} through its mapping (HVA ${hex(hva)}), but the page is private: its mapping only ever holds the shared view, so it sees ${describeBytes(bytes)}, not what the guest wrote.`
      : `The VMM reads ${hex(gpa)} through its mapping (HVA ${hex(hva)}) and sees ${describeBytes(bytes)}.`;
    trace.emit('host', 'read', { via, gpa: hex(gpa), hva: hex(hva), length: len, private: priv, data: toHex(bytes) }, text, ctx);
    return { ret: len, value: { hex: toHex(bytes), text: printable(bytes), view: priv ? 'shared view of a private page' : 'shared' } };
  }
  const where = v.hostFrameOf(gpa);
  if (!where) return { ret: -1, errno: 'ENOENT', why: `no host frame backs GPA ${hex(gpa)} yet (never touched, or discarded)` };
  const hpa = where.frame * PAGE_SIZE + (gpa % PAGE_SIZE);
  const r = v.node.host.readPhys(hpa, len);
  const text = r.tdOwnedLines > 0
    ? `The host reads host-physical ${hex(hpa)} directly: the line belongs to the TD and the host uses its own key, so the memory controller returns zeros.`
    : `The host reads host-physical ${hex(hpa)} (the ${where.view} page of GPA ${hex(gpa)}) directly and sees ${describeBytes(r.bytes)}.`;
  trace.emit('host', 'read', { via, gpa: hex(gpa), hpa: hex(hpa), length: len, td_owned_lines: r.tdOwnedLines, data: toHex(r.bytes) }, text, ctx);
  return { ret: len, value: { hex: toHex(r.bytes), text: printable(r.bytes), hpa: hex(hpa), td_owned_lines: r.tdOwnedLines, view: where.view } };
}

/** A privileged host writes guest memory: through the VMM's mapping, or to the host frame with its own key. */
export function hostWrite(v: HostSide, gpa: number, data: Uint8Array, via: 'vmm_mapping' | 'physical'): StepOutcome {
  const gfn = Math.floor(gpa / PAGE_SIZE);
  const ctx = { vm: v.name, gfns: [gfn, 1] as const };
  const trace = v.node.host.trace;
  if (via === 'vmm_mapping') {
    const hva = v.gpaToHva(gpa);
    if (hva === undefined) return { ret: -1, errno: 'EFAULT', why: `GPA ${hex(gpa)} is not RAM` };
    v.process.write(hva, data);
    trace.emit('host', 'write', { via, gpa: hex(gpa), hva: hex(hva), length: data.length },
      `The VMM writes ${data.length} byte(s) at ${hex(gpa)} through its mapping${v.vm.isPrivate(gfn) ? ' — into the shared view; the private page is untouched' : ''}.`, ctx);
    return { ret: data.length };
  }
  const where = v.hostFrameOf(gpa);
  if (!where) return { ret: -1, errno: 'ENOENT', why: `no host frame backs GPA ${hex(gpa)}` };
  const hpa = where.frame * PAGE_SIZE + (gpa % PAGE_SIZE);
  const r = v.node.host.writePhys(hpa, data);
  for (const vc of v.vcpus) vc.flushTlb();
  trace.emit('host', 'write', { via, gpa: hex(gpa), hpa: hex(hpa), length: data.length, poisoned_lines: r.poisonedLines },
    r.poisonedLines > 0
      ? `The host writes host-physical ${hex(hpa)} with its own key: ${r.poisonedLines} cache line(s) of the TD's page are now poisoned; the TD's next read there takes a machine check.`
      : `The host writes ${data.length} byte(s) at host-physical ${hex(hpa)}.`, ctx);
  return { ret: data.length, value: { hpa: hex(hpa), poisoned_lines: r.poisonedLines } };
}

/** The bytes a write step writes (decodeData reads them). */
const bytesData = z.string().describe('text, or hex bytes written as "hex:de ad be ef"');

export const HOST_STEPS = [
  defineStep('host_read', 'host', {
    vm: vmName,
    gpa: numeric,
    length: numeric.default(16),
    via: z.enum(['vmm_mapping', 'physical', 'guest_memfd']),
  }, { summary: "the host reads guest memory through the VMM's mapping, from host physical memory, or with read() on the guest_memfd" },
  (ctx, st, i) => hostRead(ctx.hostSide(st.vm, i), st.gpa, st.length, st.via)),

  defineStep('host_write', 'host', {
    vm: vmName,
    gpa: numeric,
    data: bytesData,
    via: z.enum(['vmm_mapping', 'physical']),
  }, { summary: "the host writes guest memory through the VMM's mapping or to host physical memory" },
  (ctx, st, i) => hostWrite(ctx.hostSide(st.vm, i), st.gpa, decodeData(st.data), st.via)),

  defineStep('host_read_phys', 'host', { host: hostName.optional(), hpa: numeric, length: numeric.default(64) },
    { summary: 'the host reads host physical memory at an address directly (the kernel direct map, /dev/mem, a DMA engine)' },
    (ctx, st, i) => {
      const { host } = ctx.hostNode(st.host, i);
      if (st.hpa + st.length > host.memory.nframes * PAGE_SIZE) return { ret: -1, errno: 'EFAULT', why: `${hex(st.hpa)} is beyond the end of host memory` };
      const r = host.readPhys(st.hpa, st.length);
      const owner = FRAME_OWNER_NAMES[host.memory.owner[Math.floor(st.hpa / PAGE_SIZE)]];
      host.trace.emit('host', 'read', { via: 'physical', hpa: hex(st.hpa), length: st.length, td_owned_lines: r.tdOwnedLines, data: toHex(r.bytes) },
        r.tdOwnedLines > 0 ? `The host reads host-physical ${hex(st.hpa)}: the line belongs to a TD and the host uses its own key, so it reads zeros.`
          : `The host reads host-physical ${hex(st.hpa)} (${owner}) and sees ${describeBytes(r.bytes)}.`);
      return { ret: st.length, value: { hex: toHex(r.bytes), text: printable(r.bytes), hpa: hex(st.hpa), td_owned_lines: r.tdOwnedLines, owner } };
    }),

  defineStep('host_write_phys', 'host', { host: hostName.optional(), hpa: numeric, data: bytesData },
    { summary: 'the host writes host physical memory at an address directly' },
    (ctx, st, i) => {
      const node = ctx.hostNode(st.host, i);
      const { host } = node;
      const data = decodeData(st.data);
      if (st.hpa + data.length > host.memory.nframes * PAGE_SIZE) return { ret: -1, errno: 'EFAULT', why: `${hex(st.hpa)} is beyond the end of host memory` };
      const r = host.writePhys(st.hpa, data);
      for (const vm of node.kvm.vms) for (const vc of vm.vcpus) vc.flushTlb();
      host.trace.emit('host', 'write', { via: 'physical', hpa: hex(st.hpa), length: data.length, poisoned_lines: r.poisonedLines },
        r.poisonedLines > 0 ? `The host writes host-physical ${hex(st.hpa)} with its own key: ${r.poisonedLines} line(s) of TD-private memory are poisoned.`
          : `The host writes ${data.length} byte(s) at host-physical ${hex(st.hpa)}.`);
      return { ret: data.length, value: { poisoned_lines: r.poisonedLines } };
    }),

  defineStep('mmap', 'host', { host: hostName.optional(), length: numeric, as: z.string(), shared: z.boolean().default(false).describe('MAP_SHARED memory of a memfd (shmem) instead of anonymous memory') },
    { summary: 'the test process maps anonymous memory (the shared backing of a memslot), or with `shared` a memfd' },
    (ctx, st, i) => {
      const node = ctx.hostNode(st.host, i);
      const addr = st.shared ? node.selftest.mmapShared(st.length, st.as) : node.selftest.mmapAnon(st.length, st.as);
      ctx.named.set(st.as, { node, addr });
      return { ret: 0, value: hex(addr) };
    }),
] as const;
