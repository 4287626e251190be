/**
 * KVM_SET_USER_MEMORY_REGION2 validation (DOMAIN.md §3), after set_memory_region_test.c and
 * check_memory_region_flags().
 */
import { describe, expect, it } from 'vitest';
import { kvmSetup, runSteps, stepEvents, type StepIn } from '../test-helpers';
import {
  KVM_INTERNAL_ERROR_EMULATION, KVM_MEM_GUEST_MEMFD, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KVM_USER_MEM_SLOTS,
  KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM,
} from './uapi';

const SIZE = 0x200000;
const GPA = 0xc0000000; // MEM_REGION_GPA in set_memory_region_test.c

const base = (type = KVM_X86_SW_PROTECTED_VM, gmemSize = SIZE * 4): StepIn[] => [
  { do: 'KVM_CREATE_VM', as: 'vm', type },
  { do: 'mmap', length: SIZE * 4, as: 'mem' },
  ...(type === KVM_X86_DEFAULT_VM ? [] : [{ do: 'KVM_CREATE_GUEST_MEMFD', vm: 'vm', size: gmemSize, as: 'g' }]),
];

const region = (o: Partial<{ slot: number; flags: number; gpa: number; size: number; gmem: string | number; offset: number; ua: string | number }>): StepIn => ({
  do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: o.slot ?? 0, flags: o.flags ?? KVM_MEM_GUEST_MEMFD, guest_phys_addr: o.gpa ?? GPA,
  memory_size: o.size ?? SIZE, userspace_addr: o.ua ?? 'mem', guest_memfd_offset: o.offset ?? 0,
  ...(o.gmem === undefined ? { guest_memfd: 'g' } : o.gmem === '' ? {} : { guest_memfd: o.gmem }),
});

/** Run base + steps; return the result of the last step. */
function lastOf(steps: StepIn[], type = KVM_X86_SW_PROTECTED_VM) {
  const { r } = runSteps([...base(type), ...steps]);
  return r[r.length - 1];
}

describe('KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_GUEST_MEMFD (1 << 2)', () => {
  it('KVM_MEM_GUEST_MEMFD is 1 << 2', () => expect(KVM_MEM_GUEST_MEMFD).toBe(4));

  it('binds a guest_memfd and a userspace_addr on a protected VM', () => {
    for (const type of [KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM]) {
      const { run, r } = runSteps([...base(type), region({})]);
      expect(r[3]).toMatchObject({ ret: 0 });
      const ev = stepEvents(run, r[3]).find((e) => e.name === 'KVM_SET_USER_MEMORY_REGION2')!;
      expect(ev.args).toMatchObject({ slot: 0, flags: KVM_MEM_GUEST_MEMFD, guest_phys_addr: '0xc0000000', memory_size: '0x200000', guest_memfd: r[2].ret });
    }
  });

  it('is invalid (EINVAL) on a KVM_X86_DEFAULT_VM', () => {
    expect(lastOf([region({ gmem: 99 })], KVM_X86_DEFAULT_VM)).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('cannot be combined with KVM_MEM_LOG_DIRTY_PAGES (EINVAL): no dirty logging of private memory upstream', () => {
    expect(lastOf([region({ flags: KVM_MEM_GUEST_MEMFD | KVM_MEM_LOG_DIRTY_PAGES })])).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('cannot be combined with KVM_MEM_READONLY (EINVAL)', () => {
    expect(lastOf([region({ flags: KVM_MEM_GUEST_MEMFD | KVM_MEM_READONLY })])).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('refuses unknown flags with EINVAL', () => {
    for (const bad of [1 << 3, 1 << 4, 1 << 16]) {
      expect(lastOf([region({ flags: KVM_MEM_GUEST_MEMFD | bad })])).toMatchObject({ ret: -1, errno: 'EINVAL' });
      expect(lastOf([region({ flags: bad, gmem: '' })], KVM_X86_DEFAULT_VM)).toMatchObject({ ret: -1, errno: 'EINVAL' });
    }
  });

  it('refuses an fd that is not a guest_memfd (EINVAL)', () => {
    // fd 10 is the VM's own fd.
    expect(lastOf([region({ gmem: 10 })])).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it("refuses another VM's guest_memfd (EINVAL)", () => {
    const r = lastOf([
      { do: 'KVM_CREATE_VM', as: 'other', type: KVM_X86_SW_PROTECTED_VM },
      { do: 'KVM_CREATE_GUEST_MEMFD', vm: 'other', size: SIZE, as: 'og' },
      region({ gmem: 'og' }),
    ]);
    expect(r).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('refuses a guest_memfd_offset that is not page aligned (EINVAL)', () => {
    expect(lastOf([region({ offset: 0x800 })])).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('refuses a binding that goes beyond the end of the guest_memfd (EINVAL)', () => {
    expect(lastOf([region({ offset: SIZE * 3 + 0x1000 })])).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(lastOf([region({ size: SIZE * 5, ua: 0x7f0000000000 })])).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('overlapping guest_memfd bindings fail with EEXIST (set_memory_region_test, test_add_overlapping_private_memory_regions)', () => {
    const { r } = runSteps([
      ...base(),
      region({ slot: 0, gpa: GPA, size: SIZE * 2, offset: 0 }),
      region({ slot: 1, gpa: GPA * 2, size: SIZE * 2, offset: SIZE * 2 }),
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, flags: KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: 0 },
      region({ slot: 0, gpa: GPA * 2 - SIZE, size: SIZE * 2, offset: 0 }),
      region({ slot: 0, gpa: GPA * 2 + SIZE, size: SIZE * 2, offset: 0 }),
    ]);
    expect(r.slice(3, 6).map((x) => x.ret)).toEqual([0, 0, 0]);
    expect(r[6]).toMatchObject({ ret: -1, errno: 'EEXIST' });
    expect(r[7]).toMatchObject({ ret: -1, errno: 'EEXIST' });
  });

  it('binding a file range that is already bound to another slot at a disjoint GPA is refused (kvm_gmem_bind: EINVAL)', () => {
    const r = lastOf([region({ slot: 0, gpa: GPA, offset: 0 }), region({ slot: 1, gpa: GPA * 2, offset: 0x1000 })]);
    expect(r).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('a guest_memfd slot can only be created or deleted: changing its flags is EINVAL; deleting then re-creating works', () => {
    const { r } = runSteps([
      ...base(),
      region({}),
      region({ flags: KVM_MEM_GUEST_MEMFD | KVM_MEM_LOG_DIRTY_PAGES }),
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, flags: 0, guest_phys_addr: GPA, memory_size: SIZE, userspace_addr: 'mem' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, flags: KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: 0 },
      region({}),
    ]);
    expect(r[3].ret).toBe(0);
    expect(r[4]).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(r[5]).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(r[6].ret).toBe(0);
    expect(r[7].ret).toBe(0);
  });

  it('overlapping GPA ranges fail with EEXIST', () => {
    const r = lastOf([region({ slot: 0, size: SIZE }), region({ slot: 1, gpa: GPA + 0x1000, size: 0x1000, offset: SIZE })]);
    expect(r).toMatchObject({ ret: -1, errno: 'EEXIST' });
  });
});

describe('KVM_SET_USER_MEMORY_REGION2, general checks', () => {
  it(`accepts slot ${KVM_USER_MEM_SLOTS - 1} and refuses slot ${KVM_USER_MEM_SLOTS} (too many slots: EINVAL)`, () => {
    expect(KVM_USER_MEM_SLOTS).toBe(32764);
    expect(lastOf([region({ slot: KVM_USER_MEM_SLOTS - 1, flags: 0, gmem: '' })], KVM_X86_DEFAULT_VM)).toMatchObject({ ret: 0 });
    expect(lastOf([region({ slot: KVM_USER_MEM_SLOTS, flags: 0, gmem: '' })], KVM_X86_DEFAULT_VM)).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('refuses unaligned guest_phys_addr, memory_size and userspace_addr (EINVAL)', () => {
    for (const o of [{ gpa: GPA + 0x800 }, { size: SIZE + 0x800 }, { ua: 0x7f0000000800 }])
      expect(lastOf([region({ ...o, flags: 0, gmem: '' })], KVM_X86_DEFAULT_VM)).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('deleting a slot that does not exist is EINVAL', () => {
    expect(lastOf([{ do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 3, guest_phys_addr: 0, memory_size: 0 }], KVM_X86_DEFAULT_VM))
      .toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('KVM_MEM_READONLY is fine for a default VM but not for a TD (no pflash for a TD)', () => {
    expect(lastOf([region({ flags: KVM_MEM_READONLY, gmem: '' })], KVM_X86_DEFAULT_VM)).toMatchObject({ ret: 0 });
    expect(lastOf([region({ flags: KVM_MEM_READONLY, gmem: '' })], KVM_X86_TDX_VM)).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });
});

describe('KVM_RUN without memory (DOMAIN.md §4)', () => {
  it('with no memslots at all, KVM_RUN returns 0 with KVM_EXIT_INTERNAL_ERROR (KVM_INTERNAL_ERROR_EMULATION)', () => {
    const { r } = runSteps([{ do: 'KVM_CREATE_VM', as: 'vm', type: KVM_X86_DEFAULT_VM }, { do: 'KVM_CREATE_VCPU', vm: 'vm' }, { do: 'KVM_RUN', vm: 'vm' }]);
    expect(r[2]).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_INTERNAL_ERROR', internal: { suberror: KVM_INTERNAL_ERROR_EMULATION } } });
    expect(r[2].errno).toBeUndefined();
  });

  it('deleting slot 0 under the guest: the next fetch finds no memory → KVM_EXIT_INTERNAL_ERROR', () => {
    const { run, r } = runSteps([
      ...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }),
      { do: 'mmap', length: '2M', as: 'mem1' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 1, guest_phys_addr: '0x40000000', memory_size: '2M', userspace_addr: 'mem1' },
      { do: 'load_program', vm: 'vm', program: ['_start: out 0x80, al', 'hlt'] },
      { do: 'KVM_RUN', vm: 'vm' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, guest_phys_addr: 0, memory_size: 0 },
      { do: 'KVM_RUN', vm: 'vm' },
    ]);
    expect(r[7].exit).toMatchObject({ reason: 'KVM_EXIT_IO' });
    expect(r[8].ret).toBe(0);
    expect(stepEvents(run, r[8]).map((e) => e.name)).toContain('KVM_SET_USER_MEMORY_REGION2');
    expect(r[9]).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_INTERNAL_ERROR', internal: { suberror: KVM_INTERNAL_ERROR_EMULATION } } });
  });
});
