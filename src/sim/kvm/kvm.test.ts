/**
 * VM types and capabilities (DOMAIN.md §2): KVM_CREATE_VM(type), the KVM_CAP_VM_TYPES bitmap, and
 * per-VM KVM_CHECK_EXTENSION answers that differ between a default VM and a TD.
 */
import { describe, expect, it } from 'vitest';
import { runSteps, type StepIn } from '../test-helpers';
import {
  KVM_CAP_GUEST_MEMFD, KVM_CAP_IRQCHIP, KVM_CAP_MEMORY_ATTRIBUTES, KVM_CAP_READONLY_MEM, KVM_CAP_VM_TYPES,
  KVM_CAP_X86_USER_SPACE_MSR, KVM_MEMORY_ATTRIBUTE_PRIVATE, KVM_X86_DEFAULT_VM, KVM_X86_SEV_ES_VM, KVM_X86_SEV_VM,
  KVM_X86_SNP_VM, KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM,
} from './uapi';

const check = (cap: string, vm?: string): StepIn => ({ do: 'KVM_CHECK_EXTENSION', cap, ...(vm ? { vm } : {}) });
const three: StepIn[] = [
  { do: 'KVM_CREATE_VM', as: 'plain', type: KVM_X86_DEFAULT_VM },
  { do: 'KVM_CREATE_VM', as: 'sw', type: KVM_X86_SW_PROTECTED_VM },
  { do: 'KVM_CREATE_VM', as: 'td', type: KVM_X86_TDX_VM },
];

/** The answers of one capability on /dev/kvm and on each of the three VMs. */
function answers(cap: string): { system: number; plain: number; sw: number; td: number } {
  const { r } = runSteps([...three, check(cap), check(cap, 'plain'), check(cap, 'sw'), check(cap, 'td')]);
  return { system: r[3].ret, plain: r[4].ret, sw: r[5].ret, td: r[6].ret };
}

describe('VM types', () => {
  it('have the uapi numbers', () => {
    expect([KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM, KVM_X86_SEV_VM, KVM_X86_SEV_ES_VM, KVM_X86_SNP_VM, KVM_X86_TDX_VM]).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('KVM_CAP_VM_TYPES is a bitmap, bit n = type n: this (Intel) host has DEFAULT, SW_PROTECTED and TDX', () => {
    const { r } = runSteps([check('KVM_CAP_VM_TYPES')]);
    expect(r[0].ret).toBe((1 << 0) | (1 << 1) | (1 << 5));
    expect(KVM_CAP_VM_TYPES).toBe(235);
  });

  it('KVM_CREATE_VM accepts the types in the bitmap and returns a new fd each time', () => {
    const { run, r } = runSteps(three);
    expect(r.map((x) => x.errno)).toEqual([undefined, undefined, undefined]);
    expect(new Set(r.map((x) => x.ret)).size).toBe(3);
    expect(run.trace.events.filter((e) => e.name === 'KVM_CREATE_VM').map((e) => e.args.type_name))
      .toEqual(['KVM_X86_DEFAULT_VM', 'KVM_X86_SW_PROTECTED_VM', 'KVM_X86_TDX_VM']);
  });

  it.each([2, 3, 4, 6, 255])('KVM_CREATE_VM(%i) fails with EINVAL (not in KVM_CAP_VM_TYPES)', (type) => {
    const { r } = runSteps([{ do: 'KVM_CREATE_VM', as: 'x', type }]);
    expect(r[0]).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('only TDX creates a TD in the TDX module (TDH.MNG.CREATE)', () => {
    const { run } = runSteps(three);
    const ev = run.trace.events.filter((e) => e.name === 'TDH.MNG.CREATE');
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ vm: 'td', layer: 'tdx-module' });
  });
});

describe('KVM_CHECK_EXTENSION on the VM fd', () => {
  it('KVM_CAP_MEMORY_ATTRIBUTES: 0 for a default VM, KVM_MEMORY_ATTRIBUTE_PRIVATE for protected VMs', () => {
    expect(KVM_CAP_MEMORY_ATTRIBUTES).toBe(233);
    expect(answers('KVM_CAP_MEMORY_ATTRIBUTES')).toEqual({ system: KVM_MEMORY_ATTRIBUTE_PRIVATE, plain: 0, sw: 8, td: 8 });
  });

  it('KVM_CAP_GUEST_MEMFD: every VM type (kvm_gmem_create() does not look at the type); KVM_CAP_GUEST_MEMFD_FLAGS: INIT_SHARED only without private memory', () => {
    expect(KVM_CAP_GUEST_MEMFD).toBe(234);
    expect(answers('KVM_CAP_GUEST_MEMFD')).toEqual({ system: 1, plain: 1, sw: 1, td: 1 });
    expect(answers('KVM_CAP_GUEST_MEMFD_FLAGS')).toEqual({ system: 3, plain: 3, sw: 1, td: 1 });
  });

  it('KVM_CAP_READONLY_MEM: a TD cannot have read-only memslots', () => {
    expect(KVM_CAP_READONLY_MEM).toBe(81);
    expect(answers('KVM_CAP_READONLY_MEM')).toEqual({ system: 1, plain: 1, sw: 1, td: 0 });
  });

  it('KVM_CAP_IRQCHIP: a TD needs the split irqchip', () => {
    expect(KVM_CAP_IRQCHIP).toBe(0);
    expect(answers('KVM_CAP_IRQCHIP')).toMatchObject({ plain: 1, td: 0 });
    expect(answers('KVM_CAP_SPLIT_IRQCHIP')).toMatchObject({ plain: 1, td: 1 });
  });

  it('KVM_CAP_X86_USER_SPACE_MSR: for every VM type (a TD\'s forwarded MSRs go through kvm_emulate_rdmsr() too)', () => {
    expect(KVM_CAP_X86_USER_SPACE_MSR).toBe(188);
    expect(answers('KVM_CAP_X86_USER_SPACE_MSR')).toMatchObject({ plain: 1, td: 1 });
  });

  it('the VM-types bitmap is the same on every fd; unknown capabilities answer 0', () => {
    expect(answers('KVM_CAP_VM_TYPES')).toEqual({ system: 0x23, plain: 0x23, sw: 0x23, td: 0x23 });
    const { r } = runSteps([...three, { do: 'KVM_CHECK_EXTENSION', cap: 9999, vm: 'td' }]);
    expect(r[3].ret).toBe(0);
  });

  it('the check is traced with its answer', () => {
    const { run } = runSteps([...three, check('KVM_CAP_MEMORY_ATTRIBUTES', 'plain')]);
    expect(run.trace.events.at(-1)).toMatchObject({ name: 'KVM_CHECK_EXTENSION', layer: 'kvm', args: { cap: 'KVM_CAP_MEMORY_ATTRIBUTES', on: 'plain', ret: 0 } });
  });
});
