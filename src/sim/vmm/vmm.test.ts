/**
 * The QEMU-like VMM (DOMAIN.md §4–§5): implicit conversion on KVM_EXIT_MEMORY_FAULT, explicit
 * conversion through MapGPA / KVM_HC_MAP_GPA_RANGE in 2 MiB chunks, RETRY with a pending interrupt,
 * and kvm_convert_memory()'s discard of the unused backing.
 */
import { describe, expect, it } from 'vitest';
import { KVM_HC_MAP_GPA_RANGE, KVM_MAP_GPA_RANGE_ENCRYPTED } from '../kvm/uapi';
import { Sept } from '../tdx/sept';
import { last, named, scenario, type StepIn } from '../test-helpers';

const SB = 2 ** 47;
const PAGE = 0x1000;

function vmm(type: 'tdx' | 'sw-protected', program: string[], steps: StepIn[], o: { discard?: boolean; memory?: string } = {}) {
  const sim = scenario(steps, {
    vms: [{
      name: 'g', type, memory: o.memory ?? '8M', program, discard_on_convert: o.discard ?? true,
      ...(type === 'tdx' ? { tdx: { firmware_accept: 0 } } : {}),
    }],
  });
  const v = sim.vmms.get('g')!;
  return { sim, v, vm: v.vm };
}

describe('implicit conversion on KVM_EXIT_MEMORY_FAULT', () => {
  it('a TD writing a private GFN through its shared alias: KVM exits, QEMU converts to shared, the write completes', () => {
    const { sim, v, vm } = vmm('tdx', [`_start: mov rax, ${SB + 0x600000}`, 'mov byte [rax + 5], 0x61', 'hlt'], [{ do: 'run', vm: 'g' }]);
    expect(vm.isPrivate(0x600)).toBe(true);
    sim.runAll();
    const res = last(sim);
    expect(res.value).toMatchObject({ stop: 'halted', exits: 1 });
    const conv = named(sim, 'kvm_convert_memory');
    expect(conv).toHaveLength(1);
    expect(conv[0].args).toMatchObject({ start: '0x600000', size: '0x1000', to: 'shared', why: 'implicit conversion on KVM_EXIT_MEMORY_FAULT' });
    expect(vm.isPrivate(0x600)).toBe(false);
    expect(v.process.read(v.gpaToHva(0x600005)!, 1)[0]).toBe(0x61);
  });

  it('one KVM_RUN shows the exit itself: -1/EFAULT with KVM_EXIT_MEMORY_FAULT, shared bit stripped', () => {
    const { sim } = vmm('tdx', [`_start: mov rax, ${SB + 0x600000}`, 'mov byte [rax], 1', 'hlt'], [{ do: 'KVM_RUN', vm: 'g' }]);
    sim.runAll();
    expect(last(sim)).toMatchObject({ ret: -1, errno: 'EFAULT', exit: { reason: 'KVM_EXIT_MEMORY_FAULT', memory_fault: { flags: 0, gpa: 0x600000, size: PAGE } } });
  });
});

describe('explicit conversion (MapGPA / KVM_HC_MAP_GPA_RANGE)', () => {
  const share4M = ['_start: mov rdi, 0x400000', 'mov rsi, 1024', 'call set_memory_decrypted', 'mov rbx, rax', 'hlt'];

  it('a TD sharing 4 MiB: KVM hands MapGPA to the VMM in two 2 MiB chunks (KVM_EXIT_HYPERCALL, nr 12)', () => {
    const { sim, vm } = vmm('tdx', share4M, [{ do: 'run', vm: 'g' }]);
    sim.runAll();
    expect(last(sim).value).toMatchObject({ stop: 'halted', exits: 2 });
    const hc = named(sim, 'KVM_EXIT_HYPERCALL');
    expect(hc.map((e) => e.args)).toEqual([
      { nr: 'KVM_HC_MAP_GPA_RANGE', gpa: '0x400000', npages: 512, attrs: 0 },
      { nr: 'KVM_HC_MAP_GPA_RANGE', gpa: '0x600000', npages: 512, attrs: 0 },
    ]);
    expect(KVM_HC_MAP_GPA_RANGE).toBe(12);
    expect(named(sim, 'kvm_convert_memory').map((e) => e.args.why)).toEqual([
      'explicit conversion requested by the guest (KVM_HC_MAP_GPA_RANGE)', 'explicit conversion requested by the guest (KVM_HC_MAP_GPA_RANGE)',
    ]);
    for (const gfn of [0x400, 0x5ff, 0x600, 0x7ff]) expect(vm.isPrivate(gfn)).toBe(false);
    expect(vm.isPrivate(0x3ff)).toBe(true);
  });

  it('one step at a time: the first KVM_RUN returns KVM_EXIT_HYPERCALL with args {gpa, npages, attrs}', () => {
    const { sim } = vmm('tdx', share4M, [{ do: 'KVM_RUN', vm: 'g' }]);
    sim.runAll();
    const r = last(sim);
    expect(r.ret).toBe(0);
    expect(r.exit).toMatchObject({ reason: 'KVM_EXIT_HYPERCALL', hypercall: { nr: 12, args: [0x400000, 512, 0, 0, 0, 0] } });
  });

  it('with an interrupt pending between chunks KVM answers RETRY with the resume GPA in R11; the guest calls again from there', () => {
    const { sim, vm } = vmm('tdx', share4M, [
      { do: 'run', vm: 'g', until: 'exit' },
      { do: 'interrupt', vm: 'g' },
      { do: 'run', vm: 'g' },
    ]);
    sim.runAll();
    expect(sim.results[0].value).toMatchObject({ stop: 'exit', exits: 1 });
    const retry = named(sim, 'TDG.VP.VMCALL<MapGPA>').filter((e) => e.args.status === 'TDVMCALL_STATUS_RETRY');
    expect(retry.map((e) => e.layer)).toEqual(['kvm', 'guest']);
    expect(retry[0].args).toMatchObject({ r11: '0x' + (SB + 0x600000).toString(16) });
    expect(retry[1].args).toMatchObject({ resume: '0x600000' });
    expect(last(sim).value).toMatchObject({ stop: 'halted' });
    expect(named(sim, 'KVM_EXIT_HYPERCALL').map((e) => e.args.gpa)).toEqual(['0x400000', '0x600000']);
    expect(vm.isPrivate(0x600)).toBe(false);
    expect(vm.vcpus[0].cpu!.get('rbx')).toBe(0n);
  });

  it('a software-protected guest making memory private uses the KVM_HC_MAP_GPA_RANGE hypercall (VMCALL)', () => {
    const { sim, vm } = vmm('sw-protected', ['_start: mov rdi, 0x300000', 'mov rsi, 4', 'call set_memory_encrypted', 'hlt'], [{ do: 'run', vm: 'g' }]);
    sim.runAll();
    const hc = named(sim, 'KVM_EXIT_HYPERCALL');
    expect(hc).toHaveLength(1);
    expect(hc[0].args).toMatchObject({ gpa: '0x300000', npages: 4, attrs: KVM_MAP_GPA_RANGE_ENCRYPTED });
    expect([0x300, 0x303].map((g) => vm.isPrivate(g))).toEqual([true, true]);
    expect(vm.isPrivate(0x304)).toBe(false);
  });

  it('a TD making shared memory private again: MapGPA, then ACCEPT of each page', () => {
    const { sim, vm } = vmm('tdx', [
      '_start: mov rdi, 0x400000', 'mov rsi, 2', 'call set_memory_decrypted',
      'mov rdi, 0x400000', 'mov rsi, 2', 'call set_memory_encrypted', 'hlt',
    ], [{ do: 'run', vm: 'g' }]);
    sim.runAll();
    expect(last(sim).value).toMatchObject({ stop: 'halted' });
    expect(vm.isPrivate(0x400)).toBe(true);
    expect(vm.td!.stateOf(0x400)).toBe(Sept.MAPPED);
    expect(vm.td!.stateOf(0x401)).toBe(Sept.MAPPED);
    const names = sim.trace.events.map((e) => e.name);
    const lastHc = names.lastIndexOf('KVM_EXIT_HYPERCALL');
    expect(names.indexOf('TDG.MEM.PAGE.ACCEPT', lastHc)).toBeGreaterThan(lastHc);
  });
});

describe("kvm_convert_memory() discards the unused backing ('to avoid doubling memory')", () => {
  it('to private: the shared pages are discarded (the old shared bytes are gone); to shared: the guest_memfd range is punched', () => {
    const { sim, v, vm } = vmm('sw-protected', ['_start: hlt'], [
      { do: 'host_write', vm: 'g', gpa: '0x300000', data: 'shared!', via: 'vmm_mapping' },
      { do: 'convert', vm: 'g', gpa: '0x300000', size: '0x1000', to: 'private' },
    ]);
    sim.runAll();
    expect(sim.results.map((r) => r.ret)).toEqual([7, 0]);
    expect(named(sim, 'ram_block_discard_range').at(-1)!.args).toMatchObject({ freed: 1 });
    expect(v.process.lookup(v.gpaToHva(0x300000)!)).toBe(-1);
    // A private page backed in guest_memfd, then converted back: the hole is punched.
    const t = vm.vcpus[0].page(0x300000, 'write');
    t[0] = 1;
    expect(v.gmem!.frameAt(0x300)).toBeGreaterThanOrEqual(0);
    expect(v.convertMemory(0x300000, PAGE, false, 'test')).toBe(0);
    expect(named(sim, 'ram_block_discard_guest_memfd_range')).toHaveLength(1);
    expect(v.gmem!.frameAt(0x300)).toBe(-1);
    expect(v.process.read(v.gpaToHva(0x300000)!, 7)).toEqual(new Uint8Array(7));
  });

  it('with discard_on_convert false (like the selftests) both backings are kept', () => {
    const { sim, v, vm } = vmm('sw-protected', ['_start: hlt'], [
      { do: 'host_write', vm: 'g', gpa: '0x300000', data: 'shared!', via: 'vmm_mapping' },
      { do: 'convert', vm: 'g', gpa: '0x300000', size: '0x1000', to: 'private' },
    ], { discard: false });
    sim.runAll();
    const t = vm.vcpus[0].page(0x300000, 'write');
    t[0] = 1;
    expect(v.convertMemory(0x300000, PAGE, false, 'test')).toBe(0);
    expect(named(sim, 'ram_block_discard_range')).toHaveLength(0);
    expect(named(sim, 'ram_block_discard_guest_memfd_range')).toHaveLength(0);
    expect(v.gmem!.frameAt(0x300)).toBeGreaterThanOrEqual(0);
    expect(new TextDecoder().decode(v.process.read(v.gpaToHva(0x300000)!, 7))).toBe('shared!');
  });

  it('refuses unaligned ranges and ranges that are not guest_memfd RAM', () => {
    const { sim } = vmm('sw-protected', ['_start: hlt'], [
      { do: 'convert', vm: 'g', gpa: '0x300800', size: '0x1000', to: 'private' },
      { do: 'convert', vm: 'g', gpa: '0x40000000', size: '0x1000', to: 'private' },
    ]);
    sim.runAll();
    expect(sim.results.map((r) => [r.ret, r.errno])).toEqual([[-1, 'EINVAL'], [-1, 'EINVAL']]);
  });
});
