/**
 * KVM_SET_MEMORY_ATTRIBUTES (DOMAIN.md §3): validation, "all memory starts shared", zapping on change,
 * no copying, and KVM picking the backing by the attribute.
 */
import { describe, expect, it } from 'vitest';
import { FrameOwner } from '../host/physmem';
import { kvmSetup, runSteps, scenario, stepEvents, touch, type StepIn } from '../test-helpers';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE, KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM } from './uapi';

const setAttr = (address: number, size: number, attributes: number | string[], flags = 0): StepIn =>
  ({ do: 'KVM_SET_MEMORY_ATTRIBUTES', vm: 'vm', address, size, attributes, flags });

function lastOf(steps: StepIn[]) {
  const { r } = runSteps(steps);
  return r[r.length - 1];
}

describe('KVM_SET_MEMORY_ATTRIBUTES validation', () => {
  it('KVM_MEMORY_ATTRIBUTE_PRIVATE is 1 << 3', () => expect(KVM_MEMORY_ATTRIBUTE_PRIVATE).toBe(8));

  it('succeeds on page-aligned ranges of protected VMs', () => {
    for (const type of [KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM]) {
      expect(lastOf([...kvmSetup({ type }), setAttr(0x10000, 0x4000, ['KVM_MEMORY_ATTRIBUTE_PRIVATE'])])).toMatchObject({ ret: 0 });
      expect(lastOf([...kvmSetup({ type }), setAttr(0x10000, 0x4000, 0)])).toMatchObject({ ret: 0 });
    }
  });

  it.each([
    ['an unaligned address', 0x10800, 0x1000, 8, 0],
    ['an unaligned size', 0x10000, 0x1800, 8, 0],
    ['size 0', 0x10000, 0, 8, 0],
    ['non-zero flags', 0x10000, 0x1000, 8, 1],
    ['an unsupported attribute bit', 0x10000, 0x1000, 1 << 0, 0],
    ['an unsupported attribute bit next to PRIVATE', 0x10000, 0x1000, 8 | (1 << 4), 0],
  ])('refuses %s with EINVAL', (_w, address, size, attrs, flags) => {
    expect(lastOf([...kvmSetup(), setAttr(address, size, attrs, flags)])).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('a KVM_X86_DEFAULT_VM supports no attributes: PRIVATE is EINVAL', () => {
    expect(lastOf([...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }), setAttr(0, 0x1000, 8)])).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });
});

describe('attributes and the backing KVM maps', () => {
  function setup(extra: StepIn[] = []) {
    const run = scenario([...kvmSetup(), ...extra]);
    run.runAll();
    const vm = run.kvm.vms[0];
    return { run, vm, vcpu: vm.vcpus[0], proc: vm.vmm, gmem: [...vm.gmems.values()][0] };
  }

  it('all memory starts shared: a guest write lands in the page behind userspace_addr, which the host sees', () => {
    const { run, vm, vcpu, proc } = setup();
    expect(vm.attributes.size).toBe(0);
    const t = touch(vcpu, 0x20000, 'write');
    if (t.kind !== 'ok') throw new Error(t.kind);
    t.page[5] = 0xab;
    const hva = vm.gpaToHva(0x20000)!;
    const frame = proc.lookup(hva);
    expect(frame).toBe(vm.mmu.eptFrame(0x20));
    expect(run.host.memory.owner[frame]).toBe(FrameOwner.ProcessAnon);
    expect(proc.read(hva + 5, 1)[0]).toBe(0xab);
    expect(run.trace.events.map((e) => e.name)).toContain('get_user_pages');
  });

  it('converting to private zaps the shared mapping; private accesses then get a guest_memfd page, a different frame', () => {
    const { run, vm, vcpu, proc, gmem } = setup();
    const w = touch(vcpu, 0x20000, 'write');
    if (w.kind !== 'ok') throw new Error(w.kind);
    w.page[0] = 0x11;
    const sharedFrame = vm.mmu.eptFrame(0x20);
    const res = vm.setMemoryAttributes({ address: 0x20000, size: 0x1000, attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE });
    expect(res).toBe(0);
    const ev = run.trace.events[run.trace.events.length - 1];
    expect(ev).toMatchObject({ name: 'KVM_SET_MEMORY_ATTRIBUTES', args: { address: '0x20000', size: '0x1000', attributes: 8, zapped: 1 } });
    expect(vm.mmu.eptFrame(0x20)).toBe(-1);
    const r = touch(vcpu, 0x20000, 'read');
    if (r.kind !== 'ok') throw new Error(r.kind);
    // No data is copied: the private view is a fresh zero page.
    expect(r.page[0]).toBe(0);
    const privFrame = vm.mmu.eptFrame(0x20);
    expect(privFrame).not.toBe(sharedFrame);
    expect(privFrame).toBe(gmem.frameAt(0x20));
    expect(run.host.memory.owner[privFrame]).toBe(FrameOwner.GuestMemfd);
    // The shared page is untouched and still mapped by the VMM.
    expect(proc.lookup(vm.gpaToHva(0x20000)!)).toBe(sharedFrame);
    expect(proc.read(vm.gpaToHva(0x20000)!, 1)[0]).toBe(0x11);
  });

  it('only ranges whose attribute changes are zapped: setting PRIVATE twice zaps nothing the second time', () => {
    const { run, vm, vcpu } = setup();
    for (const gpa of [0x20000, 0x21000, 0x22000]) expect(touch(vcpu, gpa, 'write').kind).toBe('ok');
    vm.setMemoryAttributes({ address: 0x21000, size: 0x1000, attributes: 8 });
    expect(run.trace.events.at(-1)!.args.zapped).toBe(1);
    expect(touch(vcpu, 0x21000, 'write').kind).toBe('ok');
    vm.setMemoryAttributes({ address: 0x20000, size: 0x3000, attributes: 8 });
    // 0x21000 is already private: its (private) mapping stays; 0x20000 and 0x22000 are zapped.
    expect(run.trace.events.at(-1)!.args.zapped).toBe(2);
    expect(vm.mmu.eptFrame(0x21)).toBeGreaterThanOrEqual(0);
    vm.setMemoryAttributes({ address: 0x20000, size: 0x3000, attributes: 8 });
    expect(run.trace.events.at(-1)!.args.zapped).toBe(0);
  });

  it('converting back to shared zaps the private mapping and maps the old shared page again', () => {
    const { run, vm, vcpu, proc } = setup([setAttr(0x30000, 0x1000, 8)]);
    const w = touch(vcpu, 0x30000, 'write');
    if (w.kind !== 'ok') throw new Error(w.kind);
    w.page[0] = 0x77;
    proc.write(vm.gpaToHva(0x30000)!, Uint8Array.of(0x42));
    vm.setMemoryAttributes({ address: 0x30000, size: 0x1000, attributes: 0 });
    expect(run.trace.events.some((e) => e.name === 'kvm_mmu_unmap_gfn_range' && e.args.why === 'the range becomes shared')).toBe(true);
    const r = touch(vcpu, 0x30000, 'read');
    if (r.kind !== 'ok') throw new Error(r.kind);
    expect(r.page[0]).toBe(0x42);
    expect(run.host.memory.owner[vm.mmu.eptFrame(0x30)]).toBe(FrameOwner.ProcessAnon);
  });

  it('the trace of a conversion says no data is copied', () => {
    const { run, r } = runSteps([...kvmSetup(), setAttr(0, 0x2000, ['KVM_MEMORY_ATTRIBUTE_PRIVATE'])]);
    const ev = stepEvents(run, r[5]).find((e) => e.name === 'KVM_SET_MEMORY_ATTRIBUTES')!;
    expect(ev.layer).toBe('kvm');
    expect(ev.text).toMatch(/No data is copied/);
    expect(ev.gfns).toEqual([0, 2]);
  });
});
