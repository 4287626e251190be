import { z } from 'zod';
import { PAGE_SIZE, hex } from '../../core/units';
import { Cpu } from '../../cpu';
import { KERNEL_SERVICES, LinuxGuestKernel } from '../../guest/kernel/kernel';
import { allowBitmap } from '../../kvm/msr-filter';
import * as uapi from '../../kvm/uapi';
import type { Vcpu } from '../../kvm/vcpu';
import type { Vm } from '../../kvm/vm';
import { collectDirtyRing, firstDirtied } from '../../kvm/dirty-ring';
import { LIMITS, ScenarioError, capability, flagsOrNames, instructionBudget, hostName, msrIndex, numeric, program, ref, u64Flags } from '../fields';
import { defineStep, type StepContext, type StepOutcome } from './define';
import { assembleAt } from './util';

/** KVM-level steps: the ioctls and syscalls a kernel selftest makes by hand, with their real argument names. */

const vmRef = z.string().describe('a VM made with KVM_CREATE_VM ("as"), or one from `vms`');

/** The vCPU `id` of a VM, or a scenario error at `$.steps[i].vcpu`. */
function vcpuOf(vm: Vm, id: number, i: number): Vcpu {
  const vcpu = vm.vcpus.find((v) => v.id === id);
  if (!vcpu) throw new ScenarioError([{ path: `$.steps[${i}].vcpu`, message: `VM "${vm.name}" has no vCPU ${id}` }]);
  return vcpu;
}

/** A KVM_RUN step's fields (its schema's output). */
export interface KvmRunStep {
  vm: string;
  vcpu: number;
  max_instructions: number;
  complete?: { data?: number; ret?: number };
}

/**
 * Part of a KVM_RUN step: at most `slice` of the instructions left of its budget, `done` of them
 * having run in the step's earlier slices (0: the step begins, and what user space wrote into
 * kvm_run for the last exit is applied). Returns the step's outcome once the call returns to user
 * space, or null (paused) when the slice ran out first.
 *
 * A slice is a KVM_RUN cut short as a signal would cut it (-EINTR with no exit to report, the guest
 * left exactly where it stood); the next slice enters again, and the call whole is those entries
 * together. Virtual time inside a KVM_RUN is exact (Clock.now counts the instructions retired), and
 * a cut call traces nothing, so the step gives the same events at the same times, and the same
 * result, however it is sliced — the VMM's vCPU threads cut their KVM_RUNs the same way (VcpuThread.cap).
 */
export function kvmRunSlice(ctx: StepContext, st: KvmRunStep, i: number, done: number, slice: number): { outcome: StepOutcome | null; instructions: number } {
  const vm = ctx.vm(st.vm, i);
  const vcpu = vcpuOf(vm, st.vcpu, i);
  if (done === 0) {
    const last = vcpu.lastExit;
    if (st.complete && last) {
      if (last.reason === 'KVM_EXIT_IO' && st.complete.data !== undefined) last.io.data = st.complete.data;
      if (last.reason === 'KVM_EXIT_MMIO' && st.complete.data !== undefined) last.mmio.data = st.complete.data;
      if (last.reason === 'KVM_EXIT_HYPERCALL' && st.complete.ret !== undefined) last.hypercall.ret = st.complete.ret;
    }
  }
  const left = st.max_instructions - done;
  const n = Math.min(left, Math.max(1, slice));
  const r = vcpu.run(n);
  const total = done + r.instructions;
  // Cut by the slice, not by the step's budget: the call goes on in the next slice.
  if (n < left && r.errno === 'EINTR' && r.instructions === n) return { outcome: null, instructions: r.instructions };
  // The budget used up: the sentence names the step's budget, not the last slice's.
  const why = r.errno === 'EINTR' && r.exit?.reason === 'KVM_EXIT_INTR' ? `the guest ran ${st.max_instructions} instructions without exiting` : r.why;
  // A copy: user space may later write its answer into kvm_run, which must not rewrite this result.
  return { outcome: { ret: r.ret, errno: r.errno, why, exit: r.exit && structuredClone(r.exit), value: { instructions: total, blocked: r.blocked ?? null } }, instructions: r.instructions };
}

export const KVM_STEPS = [
  defineStep('KVM_CREATE_VM', 'kvm', { host: hostName.optional(), as: z.string(), type: z.number().int().nonnegative() },
    { summary: 'ioctl(/dev/kvm, KVM_CREATE_VM, type) on a host, by its selftest process' },
    (ctx, st, i) => {
      const node = ctx.hostNode(st.host, i);
      const vm = node.kvm.createVm(st.type, st.as, node.selftest.pid);
      ctx.named.set(st.as, { node, vm });
      return { ret: vm.fd };
    }),

  defineStep('KVM_CHECK_EXTENSION', 'kvm', { host: hostName.optional(), vm: z.string().optional(), cap: capability },
    { summary: 'ioctl(KVM_CHECK_EXTENSION) on the VM fd, or on a host\'s /dev/kvm without "vm"' },
    (ctx, st, i) => {
      const cap = ctx.cap(st.cap, i);
      const node = st.vm ? ctx.hostOfVm(st.vm, i) : ctx.hostNode(st.host, i);
      const v = st.vm ? ctx.vm(st.vm, i).checkExtension(cap) : node.kvm.checkExtension(cap);
      node.host.trace.emit('kvm', 'KVM_CHECK_EXTENSION', { cap: st.cap, on: st.vm ?? '/dev/kvm', ret: v },
        `KVM_CHECK_EXTENSION(${st.cap}) on ${st.vm ? `VM "${st.vm}"` : '/dev/kvm'} returns ${hex(v)}.`, { vm: st.vm ?? null });
      return { ret: v };
    }),

  defineStep('KVM_ENABLE_CAP', 'kvm', { vm: vmRef, cap: capability, args: z.array(flagsOrNames).default([]) },
    { summary: 'ioctl(vm, KVM_ENABLE_CAP); an argument may be a list of flag names (e.g. ["KVM_MSR_EXIT_REASON_FILTER"])' },
    (ctx, st, i) => ({ ret: ctx.vm(st.vm, i).enableCap(ctx.cap(st.cap, i), st.args.map((a, k) => ctx.flags(a, i, `args[${k}]`))) })),

  defineStep('KVM_X86_SET_MSR_FILTER', 'kvm', {
    vm: vmRef,
    flags: z.union([z.enum(['KVM_MSR_FILTER_DEFAULT_ALLOW', 'KVM_MSR_FILTER_DEFAULT_DENY']), z.number().int()]).default('KVM_MSR_FILTER_DEFAULT_ALLOW'),
    ranges: z.array(z.strictObject({
      flags: flagsOrNames.describe('KVM_MSR_FILTER_READ and/or KVM_MSR_FILTER_WRITE'),
      base: msrIndex,
      nmsrs: numeric,
      deny: z.array(z.number().int().nonnegative()).optional().describe('offsets from base whose bit is clear (denied); all others allowed'),
      bitmap: z.array(z.number().int().min(0).max(255)).optional().describe('the bitmap bytes themselves (a set bit allows)'),
    })).default([]),
  }, { summary: 'ioctl(vm, KVM_X86_SET_MSR_FILTER, {flags, ranges})' },
  (ctx, st, i) => {
    const flags = typeof st.flags === 'number' ? st.flags : st.flags === 'KVM_MSR_FILTER_DEFAULT_DENY' ? uapi.KVM_MSR_FILTER_DEFAULT_DENY : uapi.KVM_MSR_FILTER_DEFAULT_ALLOW;
    const ranges = st.ranges.map((r, k) => ({
      flags: ctx.flags(r.flags, i, `ranges[${k}].flags`), base: r.base, nmsrs: r.nmsrs,
      bitmap: r.bitmap ?? allowBitmap(r.nmsrs, r.deny),
    }));
    return { ret: ctx.vm(st.vm, i).setMsrFilter({ flags, ranges }) };
  }),

  defineStep('KVM_CREATE_GUEST_MEMFD', 'kvm', { vm: vmRef, size: numeric, flags: u64Flags.default(0), as: z.string() },
    { summary: 'ioctl(vm, KVM_CREATE_GUEST_MEMFD, {size, flags})' },
    (ctx, st, i) => {
      const g = ctx.vm(st.vm, i).createGuestMemfd(st.size, ctx.flags(st.flags, i, 'flags'));
      ctx.named.set(st.as, { node: ctx.hostOfVm(st.vm, i), gmem: g });
      return { ret: g.fd };
    }),

  defineStep('KVM_SET_USER_MEMORY_REGION2', 'kvm', {
    vm: vmRef, slot: z.number().int(), flags: u64Flags.default(0),
    guest_phys_addr: numeric, memory_size: numeric, userspace_addr: ref.default(0),
    guest_memfd: ref.optional(), guest_memfd_offset: numeric.default(0),
    userfault_bitmap: ref.optional().describe('KVM Userfault (posted series, not merged): the bitmap\'s address, or the name of an mmap holding it'),
  }, { summary: 'ioctl(vm, KVM_SET_USER_MEMORY_REGION2, {...}); userspace_addr and userfault_bitmap may name an mmap; KVM_MEM_USERFAULT is from the unmerged KVM Userfault series' },
  (ctx, st, i) => {
    const vm = ctx.vm(st.vm, i);
    let ua: number | undefined;
    if (typeof st.userspace_addr === 'string') {
      const m = ctx.named.get(st.userspace_addr);
      ua = m?.addr;
      if (ua === undefined) throw new ScenarioError([{ path: `$.steps[${i}].userspace_addr`, message: `no mmap named "${st.userspace_addr}"` }]);
      const node = ctx.hostOfVm(st.vm, i);
      if (m!.node !== node) throw new ScenarioError([{ path: `$.steps[${i}].userspace_addr`, message: `mmap "${st.userspace_addr}" is on host "${m!.node.name}", VM "${st.vm}" on host "${node.name}": a memslot maps memory of its own host` }]);
    } else ua = st.userspace_addr;
    const node = ctx.hostOfVm(st.vm, i);
    const fd = st.guest_memfd === undefined ? undefined : typeof st.guest_memfd === 'number' ? st.guest_memfd : ctx.gmem(st.guest_memfd, i, 'guest_memfd', node.name).fd;
    let bitmap: number | undefined;
    if (typeof st.userfault_bitmap === 'string') {
      bitmap = ctx.named.get(st.userfault_bitmap)?.addr;
      if (bitmap === undefined) throw new ScenarioError([{ path: `$.steps[${i}].userfault_bitmap`, message: `no mmap named "${st.userfault_bitmap}"` }]);
    } else bitmap = st.userfault_bitmap;
    return {
      ret: vm.setUserMemoryRegion2({
        slot: st.slot, flags: ctx.flags(st.flags, i, 'flags'), guest_phys_addr: st.guest_phys_addr, memory_size: st.memory_size,
        userspace_addr: ua, guest_memfd: fd, guest_memfd_offset: st.guest_memfd_offset, userfault_bitmap: bitmap,
      }),
    };
  }),

  defineStep('KVM_SET_MEMORY_ATTRIBUTES', 'kvm', { vm: vmRef, address: numeric, size: numeric, attributes: u64Flags, flags: u64Flags.default(0) },
    { summary: 'ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, {address, size, attributes, flags})' },
    (ctx, st, i) => ({ ret: ctx.vm(st.vm, i).setMemoryAttributes({ address: st.address, size: st.size, attributes: ctx.flags(st.attributes, i, 'attributes'), flags: ctx.flags(st.flags, i, 'flags') }) })),

  defineStep('fallocate', 'kvm', { host: hostName.optional(), fd: ref, mode: u64Flags, offset: numeric, len: numeric },
    { summary: 'fallocate(fd, mode, offset, len) on a guest_memfd' },
    (ctx, st, i) => {
      ctx.gmem(st.fd, i, 'fd', st.host).fallocate(ctx.flags(st.mode, i, 'mode'), st.offset, st.len);
      return { ret: 0 };
    }),

  defineStep('read', 'kvm', { host: hostName.optional(), fd: ref, op: z.enum(['read', 'write', 'pread', 'pwrite', 'mmap']).default('read') },
    { summary: 'read()/write()/pread()/pwrite()/mmap() on a guest_memfd' },
    (ctx, st, i) => {
      const g = ctx.gmem(st.fd, i, 'fd', st.host);
      if (st.op === 'mmap') g.mmap();
      else g.readOrWrite(st.op);
      return { ret: 0 };
    }),

  defineStep('KVM_CREATE_VCPU', 'kvm', { vm: vmRef, id: z.number().int().default(0) },
    { summary: 'ioctl(vm, KVM_CREATE_VCPU, id)' },
    (ctx, st, i) => ({ ret: ctx.vm(st.vm, i).createVcpu(st.id).fd })),

  defineStep('load_program', 'kvm', { vm: vmRef, vcpu: z.number().int().default(0), program, gpa: numeric.default(0x1000) },
    { summary: "assemble a program and copy it into guest memory through the memslot's userspace_addr, like kvm_vm_elf_load()" },
    (ctx, st, i) => {
      const vm = ctx.vm(st.vm, i);
      const vcpu = vcpuOf(vm, st.vcpu, i);
      const prog = assembleAt(st.program, st.gpa, `$.steps[${i}].program`, KERNEL_SERVICES);
      const hva = vm.gpaToHva(st.gpa);
      if (hva === undefined) return { ret: -1, errno: 'EFAULT', why: `no memslot covers ${hex(st.gpa)}` };
      vm.vmm.write(hva, prog.image);
      const platform = vm.isTd ? 'tdx' : vm.hasPrivateMemory ? 'sw-protected' : 'none';
      const trace = vm.kvm.host.trace;
      const cpu = new Cpu(prog, vcpu, new LinuxGuestKernel(platform, trace, { vm: vm.name, vcpu: vcpu.id }));
      cpu.set('rsp', BigInt(Math.ceil((st.gpa + prog.image.length) / PAGE_SIZE) * PAGE_SIZE + PAGE_SIZE));
      vcpu.cpu = cpu;
      // A new program: whatever the last exit was, it is not completed by this code.
      vcpu.lastExit = null;
      trace.emit('vmm', 'load_program', { gpa: hex(st.gpa), bytes: prog.image.length },
        `The test copies a ${prog.image.length}-byte guest program into guest memory at ${hex(st.gpa)} through its mapping.`, { vm: vm.name });
      return { ret: 0 };
    }),

  defineStep('KVM_RUN', 'kvm', {
    vm: vmRef, vcpu: z.number().int().default(0), max_instructions: instructionBudget(LIMITS.wholeStepInstructions, 'a KVM_RUN (one call; it runs in slices)'),
    complete: z.strictObject({ data: numeric.optional(), ret: z.number().int().optional() }).optional().describe('what user space writes into kvm_run before re-entering'),
  }, { summary: 'ioctl(vcpu, KVM_RUN): one entry, returning at the first exit to user space' },
  (ctx, st, i) => kvmRunSlice(ctx, st, i, 0, Infinity).outcome!),

  defineStep('KVM_GET_DIRTY_LOG', 'kvm', { vm: vmRef, slot: z.number().int() },
    { summary: 'ioctl(vm, KVM_GET_DIRTY_LOG, {slot})' },
    (ctx, st, i) => {
      const bm = ctx.vm(st.vm, i).getDirtyLog(st.slot);
      const pages: number[] = [];
      bm.forEach((w, k) => {
        for (let b = 0; b < 32; b++) if ((w >>> b) & 1) pages.push(k * 32 + b);
      });
      return { ret: 0, value: { dirty_pages: pages } };
    }),

  defineStep('KVM_CLEAR_DIRTY_LOG', 'kvm', { vm: vmRef, slot: z.number().int(), first_page: numeric, num_pages: numeric },
    { summary: 'ioctl(vm, KVM_CLEAR_DIRTY_LOG, {...}) with all bits set' },
    (ctx, st, i) => ({ ret: ctx.vm(st.vm, i).clearDirtyLog(st.slot, st.first_page, st.num_pages) })),

  defineStep('dirty_ring_collect', 'kvm', { vm: vmRef, vcpu: z.number().int().default(0) },
    { summary: "read a vCPU's dirty ring through its mmap (KVM_DIRTY_LOG_PAGE_OFFSET) and mark each dirtied entry collected (flags 01 → 1X), as dirty_log_test.c's dirty_ring_collect_one()" },
    (ctx, st, i) => {
      const vm = ctx.vm(st.vm, i);
      const vcpu = vcpuOf(vm, st.vcpu, i);
      const ring = vcpu.dirtyRing;
      // Without a ring the vCPU fd has no pages at KVM_DIRTY_LOG_PAGE_OFFSET: a test reading there gets SIGBUS.
      if (!ring.enabled)
        throw new ScenarioError([{ path: `$.steps[${i}].vm`, message: `VM "${vm.name}" has no dirty ring to collect: KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING) must come before KVM_CREATE_VCPU (reading the unmapped ring would be a SIGBUS)` }]);
      // The test keeps no fetch index across steps: it finds the first dirtied entry in the mapping.
      const gfns: { slot: number; offset: number }[] = [];
      const start = firstDirtied(ring);
      const r = collectDirtyRing(ring, start, (slot, offset) => gfns.push({ slot, offset }));
      vm.kvm.host.trace.emit('vmm', 'dirty_ring_collect_one', { vcpu: vcpu.id, collected: r.count, from: start },
        r.count ? `The test reads vCPU ${vcpu.id}'s dirty ring through its mapping and collects ${r.count} dirtied entr${r.count === 1 ? 'y' : 'ies'}, setting KVM_DIRTY_GFN_F_RESET on each; KVM_RESET_DIRTY_RINGS will recycle them.`
          : `The test reads vCPU ${vcpu.id}'s dirty ring through its mapping: no entry is dirtied.`, { vm: vm.name, vcpu: vcpu.id });
      return { ret: 0, value: { collected: r.count, gfns } };
    }),

  defineStep('KVM_RESET_DIRTY_RINGS', 'kvm', { vm: vmRef },
    { summary: 'ioctl(vm, KVM_RESET_DIRTY_RINGS): recycle every collected ring entry and write-protect its page again; returns the count' },
    (ctx, st, i) => ({ ret: ctx.vm(st.vm, i).resetDirtyRings() })),

  defineStep('KVM_GET_REGS', 'kvm', { vm: vmRef, vcpu: z.number().int().default(0) },
    { summary: 'ioctl(vcpu, KVM_GET_REGS)' },
    (ctx, st, i) => {
      const vm = ctx.vm(st.vm, i);
      const regs = vcpuOf(vm, st.vcpu, i).getRegs();
      vm.kvm.host.trace.emit('kvm', 'KVM_GET_REGS', { rip: regs.rip }, `The VMM reads vCPU ${st.vcpu}'s registers: rip is ${regs.rip}.`, { vm: vm.name });
      return { ret: 0, value: regs };
    }),
] as const;
