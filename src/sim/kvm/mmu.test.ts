/**
 * The MMU (DOMAIN.md §3–§4): faults, KVM_EXIT_MEMORY_FAULT (KVM_RUN returns -1 / EFAULT with
 * memory_fault {flags, gpa, size}), KVM_MEMORY_EXIT_FLAG_PRIVATE, and zaps. After
 * private_mem_kvm_exits_test.c.
 */
import { describe, expect, it } from 'vitest';
import { Errno } from '../core/errno';
import { kvmSetup, last, named, runSteps, scenario, stepEvents, touch, type StepIn } from '../test-helpers';
import {
  KVM_EXIT_MEMORY_FAULT, KVM_MEMORY_EXIT_FLAG_PRIVATE, KVM_MEM_GUEST_MEMFD, KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM,
} from './uapi';

const EXITS_TEST_GPA = 0xc0000000;
const PAGE = 0x1000;
const readAt = (gpa: number): StepIn => ({ do: 'load_program', vm: 'vm', program: [`_start: mov al, [${gpa}]`, 'out 0x80, al', 'hlt'] });
const run: StepIn = { do: 'KVM_RUN', vm: 'vm' };

describe('constants', () => {
  it('KVM_EXIT_MEMORY_FAULT is 39, KVM_MEMORY_EXIT_FLAG_PRIVATE is 1 << 3, EFAULT is 14', () => {
    expect(KVM_EXIT_MEMORY_FAULT).toBe(39);
    expect(KVM_MEMORY_EXIT_FLAG_PRIVATE).toBe(8);
    expect(Errno.EFAULT).toBe(14);
  });
});

describe('KVM_EXIT_MEMORY_FAULT on a software-protected VM', () => {
  it('private access to a GFN whose memslot has no guest_memfd: -1/EFAULT, flags PRIVATE, gpa, size (test_private_access_memslot_not_private)', () => {
    const { run: sim, r } = runSteps([
      ...kvmSetup({ type: KVM_X86_SW_PROTECTED_VM }),
      { do: 'mmap', length: PAGE, as: 'test_mem' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 1, flags: 0, guest_phys_addr: EXITS_TEST_GPA, memory_size: PAGE, userspace_addr: 'test_mem' },
      { do: 'KVM_SET_MEMORY_ATTRIBUTES', vm: 'vm', address: EXITS_TEST_GPA, size: PAGE, attributes: ['KVM_MEMORY_ATTRIBUTE_PRIVATE'] },
      readAt(EXITS_TEST_GPA + 0x10),
      run,
    ]);
    const res = r[r.length - 1];
    expect(res.ret).toBe(-1);
    expect(res.errno).toBe('EFAULT');
    expect(res.exit).toEqual({ reason: 'KVM_EXIT_MEMORY_FAULT', memory_fault: { flags: KVM_MEMORY_EXIT_FLAG_PRIVATE, gpa: EXITS_TEST_GPA, size: PAGE } });
    const ev = stepEvents(sim, res);
    expect(ev.map((e) => e.name)).toContain('EPT violation');
    expect(ev.find((e) => e.name === 'EPT violation' && e.args.private)!.args).toMatchObject({ gpa: '0xc0000010', access: 'read', private: true });
    expect(ev.at(-1)).toMatchObject({ name: 'KVM_RUN', args: { errno: 'EFAULT', errno_value: 14 } });
  });

  it('private access after the guest_memfd memslot is deleted: -1/EFAULT, flags PRIVATE (test_private_access_memslot_deleted)', () => {
    const { r } = runSteps([
      ...kvmSetup({ type: KVM_X86_SW_PROTECTED_VM }),
      { do: 'mmap', length: PAGE, as: 'test_mem' },
      { do: 'KVM_CREATE_GUEST_MEMFD', vm: 'vm', size: PAGE, as: 'test_gmem' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 1, flags: KVM_MEM_GUEST_MEMFD, guest_phys_addr: EXITS_TEST_GPA, memory_size: PAGE, userspace_addr: 'test_mem', guest_memfd: 'test_gmem' },
      { do: 'KVM_SET_MEMORY_ATTRIBUTES', vm: 'vm', address: EXITS_TEST_GPA, size: PAGE, attributes: ['KVM_MEMORY_ATTRIBUTE_PRIVATE'] },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 1, guest_phys_addr: EXITS_TEST_GPA, memory_size: 0 },
      readAt(EXITS_TEST_GPA),
      run,
    ]);
    expect(r.slice(5, 10).every((x) => x.ret >= 0)).toBe(true);
    expect(r[11]).toMatchObject({
      ret: -1, errno: 'EFAULT',
      exit: { reason: 'KVM_EXIT_MEMORY_FAULT', memory_fault: { flags: KVM_MEMORY_EXIT_FLAG_PRIVATE, gpa: EXITS_TEST_GPA, size: PAGE } },
    });
  });

  it('a shared access where no memslot is goes to user space as KVM_EXIT_MMIO with ret 0, not as a memory fault', () => {
    const { r } = runSteps([...kvmSetup({ type: KVM_X86_SW_PROTECTED_VM }), readAt(EXITS_TEST_GPA), run]);
    expect(r[6]).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_MMIO', mmio: { phys_addr: EXITS_TEST_GPA, len: 1, is_write: false } } });
    expect(r[6].errno).toBeUndefined();
  });

  it('every other exit returns 0: KVM_EXIT_IO, KVM_EXIT_HLT', () => {
    const { r } = runSteps([...kvmSetup({ type: KVM_X86_SW_PROTECTED_VM }), readAt(0x20000), run, run]);
    expect(r[6]).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_IO', io: { direction: 'KVM_EXIT_IO_OUT', port: 0x80, size: 1, count: 1 } } });
    expect(r[7]).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_HLT' } });
  });

  it('get_user_pages() failing for a shared page (no VMA at userspace_addr) ends in -1/EFAULT with flags 0', () => {
    const { r } = runSteps([
      ...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }),
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 1, guest_phys_addr: EXITS_TEST_GPA, memory_size: PAGE, userspace_addr: 0x7f4000000000 },
      readAt(EXITS_TEST_GPA + 8),
      run,
    ]);
    expect(r[6]).toMatchObject({ ret: -1, errno: 'EFAULT', exit: { reason: 'KVM_EXIT_MEMORY_FAULT', memory_fault: { flags: 0, gpa: EXITS_TEST_GPA, size: PAGE } } });
  });
});

describe('KVM_EXIT_MEMORY_FAULT in a TD: the kind of access disagrees with the attribute', () => {
  function td(gpaw: 48 | 52 = 48) {
    const sim = scenario([], { vms: [{ name: 'td', type: 'tdx', memory: '8M', tdx: { firmware_accept: 0, gpaw }, program: '_start: hlt' }] });
    const v = sim.vmms.get('td')!;
    return { sim, v, vm: v.vm, vcpu: v.vcpus[0] };
  }

  it('a private access (shared bit clear) to a shared GFN: flags PRIVATE', () => {
    const { vm, vcpu } = td();
    vm.setMemoryAttributes({ address: 0x400000, size: 0x200000, attributes: 0 });
    const t = touch(vcpu, 0x401234, 'read');
    if (t.kind !== 'exit') throw new Error(`expected an exit, got ${t.kind}`);
    expect(t.signal.errno).toBe('EFAULT');
    expect(t.signal.exit).toEqual({ reason: 'KVM_EXIT_MEMORY_FAULT', memory_fault: { flags: KVM_MEMORY_EXIT_FLAG_PRIVATE, gpa: 0x401000, size: PAGE } });
  });

  it.each([48, 52] as const)('a shared access (bit %i - 1 set) to a private GFN: flags 0, and KVM strips the shared bit from the GPA', (gpaw) => {
    const { vm, vcpu } = td(gpaw);
    expect(vm.td!.sharedBit).toBe(2 ** (gpaw - 1));
    const t = touch(vcpu, 2 ** (gpaw - 1) + 0x300010, 'write');
    if (t.kind !== 'exit') throw new Error(`expected an exit, got ${t.kind}`);
    expect(t.signal.errno).toBe('EFAULT');
    expect(t.signal.exit).toEqual({ reason: 'KVM_EXIT_MEMORY_FAULT', memory_fault: { flags: 0, gpa: 0x300000, size: PAGE } });
  });

  it('the guest cannot execute shared memory (#PF on an instruction fetch with the shared bit)', () => {
    const { vcpu } = td();
    const t = touch(vcpu, 2 ** 47 + 0x1000, 'fetch');
    expect(t.kind).toBe('exception');
    if (t.kind === 'exception') expect(t.exc.vector).toBe('PF');
  });
});

describe('zaps', () => {
  function sw(extra: StepIn[] = []) {
    const sim = scenario([...kvmSetup(), ...extra]);
    sim.runAll();
    const vm = sim.kvm.vms[0];
    return { sim, vm, vcpu: vm.vcpus[0] };
  }

  it("the VMM discarding its pages zaps KVM's shared mapping through the MMU notifier", () => {
    const { sim, vm, vcpu } = sw();
    expect(touch(vcpu, 0x40000, 'write').kind).toBe('ok');
    expect(vm.mmu.eptFrame(0x40)).toBeGreaterThanOrEqual(0);
    const hva = vm.gpaToHva(0x40000)!;
    expect(vm.vmm.discard(hva, PAGE, 'madvise(MADV_DONTNEED)')).toBe(1);
    expect(vm.mmu.eptFrame(0x40)).toBe(-1);
    expect(named(sim, 'mmu_notifier_invalidate_range_start').at(-1)!.args).toMatchObject({ zapped: 1, why: 'madvise(MADV_DONTNEED)' });
  });

  it('deleting a memslot zaps its shared and private mappings', () => {
    const { sim, vm, vcpu } = sw([{ do: 'KVM_SET_MEMORY_ATTRIBUTES', vm: 'vm', address: 0x50000, size: PAGE, attributes: 8 }]);
    expect(touch(vcpu, 0x50000, 'write').kind).toBe('ok');
    expect(touch(vcpu, 0x60000, 'write').kind).toBe('ok');
    expect(vm.mmu.countMapped(0, 512)).toEqual({ shared: 2, private: 0 });
    vm.setUserMemoryRegion2({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: 0, userspace_addr: 0 });
    expect(vm.mmu.countMapped(0, 512)).toEqual({ shared: 0, private: 0 });
    expect(named(sim, 'KVM_SET_USER_MEMORY_REGION2').at(-1)!.args).toEqual({ slot: 0, memory_size: 0 });
  });

  it('a write-protected page (dirty logging) faults once on write and is then writable', () => {
    const s = scenario([
      ...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }).slice(0, 2),
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, flags: ['KVM_MEM_LOG_DIRTY_PAGES'], guest_phys_addr: 0, memory_size: '2M', userspace_addr: 'vm_mem' },
      { do: 'KVM_CREATE_VCPU', vm: 'vm' },
    ]);
    s.runAll();
    const vm = s.kvm.vms[0];
    const vcpu = vm.vcpus[0];
    expect(touch(vcpu, 0x70000, 'read').kind).toBe('ok');
    expect(vm.mmu.eptWritable(0x70)).toBe(false);
    expect(touch(vcpu, 0x70000, 'write').kind).toBe('ok');
    expect(vm.mmu.eptWritable(0x70)).toBe(true);
    expect(vm.mmu.stats.writeProtectFaults).toBe(1);
    expect(last(s).ret).toBeGreaterThan(0);
  });
});
