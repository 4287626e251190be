/**
 * guest_memfd (DOMAIN.md §3): KVM_CREATE_GUEST_MEMFD, what user space may do with the file, fallocate,
 * zero-on-first-use, punching holes, the file-offset of a GFN. Mirrors guest_memfd_test.c.
 */
import { describe, expect, it } from 'vitest';
import { FrameOwner } from '../host/physmem';
import { kvmSetup, last, runSteps, stepEvents, type StepIn } from '../test-helpers';
import {
  GUEST_MEMFD_FLAG_INIT_SHARED, GUEST_MEMFD_FLAG_MMAP, KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM,
} from './uapi';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from './guest-memfd';

const vmOf = (type: number): StepIn[] => [{ do: 'KVM_CREATE_VM', as: 'vm', type }];
const create = (size: number | string, flags = 0): StepIn => ({ do: 'KVM_CREATE_GUEST_MEMFD', vm: 'vm', size, flags, as: 'g' });

describe('KVM_CREATE_GUEST_MEMFD', () => {
  it('returns a new fd on a KVM_X86_SW_PROTECTED_VM and on a KVM_X86_TDX_VM', () => {
    for (const type of [KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM]) {
      const { run, r } = runSteps([...vmOf(type), create('2M')]);
      expect(r[1].ret).toBeGreaterThan(r[0].ret);
      expect(r[1].errno).toBeUndefined();
      expect(stepEvents(run, r[1]).map((e) => e.name)).toContain('KVM_CREATE_GUEST_MEMFD');
    }
  });

  it.each([
    ['size 0', 0],
    ['a size that is not page aligned', 0x1001],
    ['a size smaller than a page', 0x800],
  ])('refuses %s with EINVAL', (_what, size) => {
    const { r } = runSteps([...vmOf(KVM_X86_SW_PROTECTED_VM), create(size)]);
    expect(r[1]).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('refuses unknown flags with EINVAL', () => {
    for (const flags of [1 << 2, 2 ** 31]) {
      const { r } = runSteps([...vmOf(KVM_X86_SW_PROTECTED_VM), create('1M', flags)]);
      expect(r[1]).toMatchObject({ ret: -1, errno: 'EINVAL' });
    }
  });

  it('refuses GUEST_MEMFD_FLAG_INIT_SHARED for VM types with private memory (x86)', () => {
    for (const type of [KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM]) {
      const { r } = runSteps([...vmOf(type), create('1M', GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)]);
      expect(r[1]).toMatchObject({ ret: -1, errno: 'EINVAL' });
    }
  });

  it('creates a guest_memfd on a KVM_X86_DEFAULT_VM with any subset of MMAP | INIT_SHARED (kvm_gmem_create() checks only the flags)', () => {
    for (const flags of [0, GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED, GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED]) {
      const { r } = runSteps([...vmOf(KVM_X86_DEFAULT_VM), create('1M', flags)]);
      expect(r[1], `flags ${flags}`).toMatchObject({ ret: expect.any(Number) });
      expect(r[1]!.ret).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('user space cannot read, write or map guest_memfd', () => {
  it.each([
    ['read', 'EINVAL'],
    ['write', 'EINVAL'],
    ['pread', 'ESPIPE'],
    ['pwrite', 'ESPIPE'],
    ['mmap', 'ENODEV'],
  ])('%s() fails with %s', (op, errno) => {
    const { r } = runSteps([...vmOf(KVM_X86_SW_PROTECTED_VM), create('1M'), { do: 'read', fd: 'g', op }]);
    expect(r[2]).toMatchObject({ ret: -1, errno });
  });

  it('host_read via guest_memfd on a TD is refused with EINVAL', () => {
    const { r } = runSteps([{ do: 'host_read', vm: 'td', gpa: '0x1000', length: 8, via: 'guest_memfd' }], {
      vms: [{ name: 'td', type: 'tdx', memory: '4M', tdx: { firmware_accept: 0 }, program: '_start: hlt' }],
    });
    expect(r[0]).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });
});

describe('fallocate on guest_memfd', () => {
  const KEEP = FALLOC_FL_KEEP_SIZE;
  const PUNCH = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
  const fa = (mode: number, offset: number, len: number): StepIn => ({ do: 'fallocate', fd: 'g', mode, offset, len });
  const SIZE = 0x40000; // 64 pages

  it('allocates with FALLOC_FL_KEEP_SIZE inside the file', () => {
    const { run, r } = runSteps([...vmOf(KVM_X86_SW_PROTECTED_VM), create(SIZE), fa(KEEP, 0, SIZE)]);
    expect(r[2]).toMatchObject({ ret: 0 });
    expect(run.kvm.vms[0].gmems.values().next().value!.allocatedPages).toBe(64);
    expect(run.report().summary.host.frames_by_owner['guest_memfd']).toBe(64);
  });

  it('refuses modes other than KEEP_SIZE and PUNCH_HOLE with EOPNOTSUPP', () => {
    for (const mode of [KEEP | 0x04 /* NO_HIDE_STALE */, KEEP | 0x08 /* COLLAPSE_RANGE */, KEEP | 0x10 /* ZERO_RANGE */, KEEP | 0x20 /* INSERT_RANGE */]) {
      const { r } = runSteps([...vmOf(KVM_X86_SW_PROTECTED_VM), create(SIZE), fa(mode, 0, 0x1000)]);
      expect(r[2]).toMatchObject({ ret: -1, errno: 'EOPNOTSUPP' });
    }
  });

  it.each([
    ['an unaligned offset', 0x800, 0x1000],
    ['an unaligned length', 0, 0x800],
    ['offset page_size - 1', 0xfff, 0x1000],
  ])('refuses %s with EINVAL (allocate and punch)', (_w, offset, len) => {
    for (const mode of [KEEP, PUNCH]) {
      const { r } = runSteps([...vmOf(KVM_X86_SW_PROTECTED_VM), create(SIZE), fa(mode, offset, len)]);
      expect(r[2]).toMatchObject({ ret: -1, errno: 'EINVAL' });
    }
  });

  it('refuses to allocate at or beyond the end of the file (it cannot grow)', () => {
    for (const [offset, len] of [[SIZE, 0x1000], [SIZE + 0x1000, 0x1000], [SIZE - 0x1000, 0x2000]]) {
      const { r } = runSteps([...vmOf(KVM_X86_SW_PROTECTED_VM), create(SIZE), fa(KEEP, offset, len)]);
      expect(r[2]).toMatchObject({ ret: -1, errno: 'EINVAL' });
    }
  });

  it('punching at or beyond the end of the file succeeds', () => {
    const { r } = runSteps([...vmOf(KVM_X86_SW_PROTECTED_VM), create(SIZE), fa(PUNCH, SIZE, 0x1000), fa(PUNCH, SIZE - 0x1000, 0x10000)]);
    expect(r[2]).toMatchObject({ ret: 0 });
    expect(r[3]).toMatchObject({ ret: 0 });
  });

  it('punching frees the pages of the range, and only those', () => {
    const { run, r } = runSteps([...vmOf(KVM_X86_SW_PROTECTED_VM), create(SIZE), fa(KEEP, 0, SIZE), fa(PUNCH, 0x4000, 0x8000)]);
    expect(r[3]).toMatchObject({ ret: 0 });
    const ev = stepEvents(run, r[3]).find((e) => e.name === 'fallocate(PUNCH_HOLE)')!;
    expect(ev.args).toMatchObject({ offset: '0x4000', len: '0x8000', freed: 8 });
    const g = run.kvm.vms[0].gmems.values().next().value!;
    expect(g.allocatedPages).toBe(56);
    expect(g.frameAt(3)).toBeGreaterThanOrEqual(0);
    expect(g.frameAt(4)).toBe(-1);
    expect(g.frameAt(11)).toBe(-1);
    expect(g.frameAt(12)).toBeGreaterThanOrEqual(0);
    expect(run.report().summary.host.frames_by_owner['guest_memfd']).toBe(56);
  });

  // kvm_gmem_fallocate() starts with: if (!(mode & FALLOC_FL_KEEP_SIZE)) return -EOPNOTSUPP;
  it('requires FALLOC_FL_KEEP_SIZE (EOPNOTSUPP without it)', () => {
    for (const mode of [0, FALLOC_FL_PUNCH_HOLE]) {
      const { r } = runSteps([...vmOf(KVM_X86_SW_PROTECTED_VM), create(SIZE), fa(mode, 0, 0x1000)]);
      expect(r[2]).toMatchObject({ ret: -1, errno: 'EOPNOTSUPP' });
    }
  });
});

/** A guest program for vCPU 0 loaded at 0x1000: write `val` at `gpa`, read it back, report it on port 0x80, halt. */
const writeReadOut = (gpa: number, val: number): StepIn => ({
  do: 'load_program', vm: 'vm', program: [`_start: mov byte [${gpa}], ${val}`, `mov al, [${gpa}]`, 'out 0x80, al', 'hlt'],
});
const readOut = (gpa: number): StepIn => ({ do: 'load_program', vm: 'vm', program: [`_start: mov al, [${gpa}]`, 'out 0x80, al', 'hlt'] });
const toPrivate = (gpa: number, size = 0x1000): StepIn => ({ do: 'KVM_SET_MEMORY_ATTRIBUTES', vm: 'vm', address: gpa, size, attributes: ['KVM_MEMORY_ATTRIBUTE_PRIVATE'] });
const runVm: StepIn = { do: 'KVM_RUN', vm: 'vm' };

describe('private pages come from guest_memfd', () => {
  it('a page is zeroed on first use: a private page the guest never wrote reads 0', () => {
    const { run, r } = runSteps([...kvmSetup(), toPrivate(0x10000), readOut(0x10000), runVm]);
    const res = last(run);
    expect(res.exit).toMatchObject({ reason: 'KVM_EXIT_IO', io: { port: 0x80, data: 0 } });
    const pfn = stepEvents(run, r[r.length - 1]).find((e) => e.name === 'kvm_gmem_get_pfn')!;
    expect(pfn.args).toMatchObject({ gfn: '0x10', index: 16, fresh: true });
  });

  it('finds the page at index gfn - base_gfn + guest_memfd_offset/PAGE_SIZE', () => {
    const steps: StepIn[] = [
      { do: 'KVM_CREATE_VM', as: 'vm', type: KVM_X86_SW_PROTECTED_VM },
      { do: 'mmap', length: '1M', as: 'mem' },
      create('2M'),
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, flags: ['KVM_MEM_GUEST_MEMFD'], guest_phys_addr: '0x100000', memory_size: '1M', userspace_addr: 'mem', guest_memfd: 'g', guest_memfd_offset: '0x3000' },
      { do: 'KVM_CREATE_VCPU', vm: 'vm' },
      { do: 'load_program', vm: 'vm', gpa: '0x100000', program: ['_start: mov byte [0x105000], 7', 'hlt'] },
      toPrivate(0x105000),
      runVm,
    ];
    const { run, r } = runSteps(steps);
    expect(r[7].exit).toEqual({ reason: 'KVM_EXIT_HLT' });
    const pfn = stepEvents(run, r[7]).find((e) => e.name === 'kvm_gmem_get_pfn')!;
    expect(pfn.args).toMatchObject({ gfn: '0x105', index: 5 + 3 });
    const g = run.kvm.vms[0].gmems.values().next().value!;
    const f = g.frameAt(8);
    expect(run.host.memory.owner[f]).toBe(FrameOwner.GuestMemfd);
    expect(run.host.memory.peek(f)![0]).toBe(7);
  });

  it('punching a hole zaps the guest mapping; the next fault gets a fresh zeroed page (rule 4)', () => {
    const { run, r } = runSteps([
      ...kvmSetup(), toPrivate(0x10000), writeReadOut(0x10000, 0x5a), runVm, runVm,
      { do: 'fallocate', fd: 'vm_gmem', mode: ['FALLOC_FL_PUNCH_HOLE', 'FALLOC_FL_KEEP_SIZE'], offset: 0x10000, len: 0x1000 },
      readOut(0x10000), runVm,
    ]);
    expect(r[7].exit).toMatchObject({ reason: 'KVM_EXIT_IO', io: { data: 0x5a } });
    expect(r[8].exit).toEqual({ reason: 'KVM_EXIT_HLT' });
    const punch = stepEvents(run, r[9]);
    expect(punch.find((e) => e.name === 'kvm_mmu_unmap_gfn_range')!.args).toMatchObject({ zapped: 1, why: 'fallocate(PUNCH_HOLE)' });
    expect(punch.find((e) => e.name === 'fallocate(PUNCH_HOLE)')!.args).toMatchObject({ freed: 1 });
    expect(r[11].exit).toMatchObject({ reason: 'KVM_EXIT_IO', io: { data: 0 } });
    const ev = stepEvents(run, r[11]);
    expect(ev.map((e) => e.name)).toContain('EPT violation');
    expect(ev.find((e) => e.name === 'kvm_gmem_get_pfn')!.args).toMatchObject({ fresh: true });
  });
});

