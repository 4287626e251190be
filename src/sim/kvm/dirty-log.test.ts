/**
 * Dirty logging (DOMAIN.md §1, §3, §6): KVM_MEM_LOG_DIRTY_PAGES, KVM_GET_DIRTY_LOG, manual protect
 * with KVM_CLEAR_DIRTY_LOG, KVM_DIRTY_LOG_INITIALLY_SET; refused on guest_memfd slots upstream.
 */
import { describe, expect, it } from 'vitest';
import { kvmSetup, runSteps, scenario, touch, type StepIn } from '../test-helpers';
import { KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_DIRTY_LOG_INITIALLY_SET, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, KVM_X86_DEFAULT_VM } from './uapi';

const GPA = 0x100000;

function dirtyVm(enableCap?: number) {
  const steps: StepIn[] = [
    { do: 'KVM_CREATE_VM', as: 'vm', type: KVM_X86_DEFAULT_VM },
    ...(enableCap === undefined ? [] : [{ do: 'KVM_ENABLE_CAP', vm: 'vm', cap: 'KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2', args: [enableCap] }]),
    { do: 'mmap', length: '1M', as: 'mem' },
    { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 1, flags: ['KVM_MEM_LOG_DIRTY_PAGES'], guest_phys_addr: GPA, memory_size: '1M', userspace_addr: 'mem' },
    { do: 'KVM_CREATE_VCPU', vm: 'vm' },
  ];
  const run = scenario(steps);
  run.runAll();
  for (const x of run.results) expect(x.ret).toBeGreaterThanOrEqual(0);
  const vm = run.kvm.vms[0];
  const vcpu = vm.vcpus[0];
  const write = (page: number): void => {
    const t = touch(vcpu, GPA + page * 0x1000, 'write');
    if (t.kind !== 'ok') throw new Error(t.kind);
    t.page[0]++;
  };
  const dirty = (): number[] => {
    const out: number[] = [];
    vm.getDirtyLog(1).forEach((w, k) => {
      for (let b = 0; b < 32; b++) if ((w >>> b) & 1) out.push(k * 32 + b);
    });
    return out;
  };
  return { run, vm, vcpu, write, dirty };
}

describe('KVM_GET_DIRTY_LOG', () => {
  it('returns the pages written since the last call (slot-relative) and write-protects them again', () => {
    const { vm, write, dirty } = dirtyVm();
    write(3);
    write(5);
    write(3);
    expect(dirty()).toEqual([3, 5]);
    expect(dirty()).toEqual([]);
    expect(vm.mmu.eptWritable(GPA / 0x1000 + 3)).toBe(false);
    write(3);
    expect(dirty()).toEqual([3]);
    expect(vm.mmu.stats.writeProtectFaults).toBeGreaterThanOrEqual(1);
  });

  it('reads do not dirty a page', () => {
    const { vcpu, dirty } = dirtyVm();
    expect(touch(vcpu, GPA + 0x7000, 'read').kind).toBe('ok');
    expect(dirty()).toEqual([]);
  });

  it('as a scenario step, reports dirty_pages', () => {
    const { r } = runSteps([
      ...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }).slice(0, 2),
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, flags: ['KVM_MEM_LOG_DIRTY_PAGES'], guest_phys_addr: 0, memory_size: '2M', userspace_addr: 'vm_mem' },
      { do: 'KVM_CREATE_VCPU', vm: 'vm' },
      { do: 'load_program', vm: 'vm', program: ['_start: mov byte [0x20000], 1', 'mov byte [0x22000], 1', 'hlt'] },
      { do: 'KVM_GET_DIRTY_LOG', vm: 'vm', slot: 0 },
      { do: 'KVM_RUN', vm: 'vm' },
      { do: 'KVM_GET_DIRTY_LOG', vm: 'vm', slot: 0 },
    ]);
    expect(r[6].exit).toEqual({ reason: 'KVM_EXIT_HLT' });
    // load_program writes the image through the VMM's mapping: user space writes are not logged.
    expect(r[5].value).toEqual({ dirty_pages: [] });
    expect(r[7].value).toEqual({ dirty_pages: [0x20, 0x22] });
  });

  it('a slot without KVM_MEM_LOG_DIRTY_PAGES or that does not exist: ENOENT; an id beyond KVM_USER_MEM_SLOTS or as_id: EINVAL', () => {
    const { r } = runSteps([
      ...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }),
      { do: 'KVM_GET_DIRTY_LOG', vm: 'vm', slot: 0 },
      { do: 'KVM_GET_DIRTY_LOG', vm: 'vm', slot: 7 },
      { do: 'KVM_GET_DIRTY_LOG', vm: 'vm', slot: 32764 },
      { do: 'KVM_GET_DIRTY_LOG', vm: 'vm', slot: 2 << 16 },
    ]);
    // kvm_get_dirty_log_protect(): "if (!memslot || !memslot->dirty_bitmap) return -ENOENT".
    expect(r[4]).toMatchObject({ ret: -1, errno: 'ENOENT' });
    expect(r[5]).toMatchObject({ ret: -1, errno: 'ENOENT' });
    expect(r[6]).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(r[7]).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('is not available for guest_memfd slots: LOG_DIRTY_PAGES | GUEST_MEMFD is EINVAL', () => {
    const steps = kvmSetup();
    steps[3] = { ...steps[3], flags: ['KVM_MEM_GUEST_MEMFD', 'KVM_MEM_LOG_DIRTY_PAGES'] };
    const { r } = runSteps(steps);
    expect(r[3]).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });
});

describe('KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2', () => {
  it('GET no longer clears or re-protects; KVM_CLEAR_DIRTY_LOG does (64-page granularity)', () => {
    const { vm, write, dirty } = dirtyVm(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
    expect(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2).toBe(168);
    write(2);
    write(70);
    expect(dirty()).toEqual([2, 70]);
    expect(dirty()).toEqual([2, 70]);
    expect(vm.mmu.eptWritable(GPA / 0x1000 + 2)).toBe(true);
    expect(vm.clearDirtyLog(1, 0, 64)).toBe(0);
    expect(dirty()).toEqual([70]);
    expect(vm.mmu.eptWritable(GPA / 0x1000 + 2)).toBe(false);
  });

  it('KVM_CLEAR_DIRTY_LOG: first_page not a multiple of 64 is EINVAL; without the capability it is EINVAL', () => {
    const { r } = runSteps([
      { do: 'KVM_CREATE_VM', as: 'vm', type: 0 },
      { do: 'KVM_ENABLE_CAP', vm: 'vm', cap: 'KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2', args: [1] },
      { do: 'mmap', length: '1M', as: 'mem' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 1, flags: ['KVM_MEM_LOG_DIRTY_PAGES'], guest_phys_addr: GPA, memory_size: '1M', userspace_addr: 'mem' },
      { do: 'KVM_CLEAR_DIRTY_LOG', vm: 'vm', slot: 1, first_page: 3, num_pages: 64 },
      { do: 'KVM_CLEAR_DIRTY_LOG', vm: 'vm', slot: 1, first_page: 0, num_pages: 64 },
      { do: 'KVM_CREATE_VM', as: 'vm2', type: 0 },
      { do: 'KVM_CLEAR_DIRTY_LOG', vm: 'vm2', slot: 1, first_page: 0, num_pages: 64 },
    ]);
    expect(r[4]).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(r[5]).toMatchObject({ ret: 0 });
    expect(r[7]).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('KVM_DIRTY_LOG_INITIALLY_SET starts the bitmap all ones', () => {
    const { dirty } = dirtyVm(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
    const d = dirty();
    expect(d).toHaveLength(256);
    expect(d[0]).toBe(0);
    expect(d[255]).toBe(255);
  });

  it('unknown flags for the capability are EINVAL', () => {
    const { r } = runSteps([{ do: 'KVM_CREATE_VM', as: 'vm', type: 0 }, { do: 'KVM_ENABLE_CAP', vm: 'vm', cap: 'KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2', args: [4] }]);
    expect(r[1]).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });
});
