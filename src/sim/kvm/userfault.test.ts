/**
 * KVM Userfault (James Houghton's series "KVM: Introduce KVM Userfault", v3 June 2025, not merged):
 * KVM_MEM_USERFAULT and userfault_bitmap in kvm_userspace_memory_region2, the KVM_EXIT_MEMORY_FAULT
 * with KVM_MEMORY_EXIT_FLAG_USERFAULT, and the VMM's side done by hand: fetch, install, clear, re-enter.
 * Also KVM's own get_user_pages() of a page registered with a userfaultfd: the vCPU thread waits.
 */
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../core/units';
import { kvmSetup, named, runSteps, scenario, scenarioDoc, type StepIn } from '../test-helpers';
import { ScenarioError } from '../scenario/fields';
import { ScenarioRun } from '../scenario/runner';
import { restoreRun, snapshotRun } from '../snapshot';
import {
  KVM_EXIT_MEMORY_FAULT, KVM_MEMORY_EXIT_FLAG_PRIVATE, KVM_MEMORY_EXIT_FLAG_USERFAULT, KVM_MEM_USERFAULT, KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM,
} from './uapi';
import { gfnToGmemIndex } from './memslot';

const GPA = 0x100000;
const PAGE_NO = GPA / PAGE_SIZE;
/** A guest that reads a byte of GPA and reports it with OUT 0x80. */
const reader: StepIn = { do: 'load_program', vm: 'vm', program: [`_start: mov al, [${GPA + 5}]`, 'out 0x80, al', 'hlt'] };
const run: StepIn = { do: 'KVM_RUN', vm: 'vm' };
const bitmap: StepIn = { do: 'mmap', length: PAGE_SIZE, as: 'bm' };
const userfaultOn = (gmem: boolean): StepIn => ({
  do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, flags: gmem ? ['KVM_MEM_GUEST_MEMFD', 'KVM_MEM_USERFAULT'] : ['KVM_MEM_USERFAULT'],
  guest_phys_addr: 0, memory_size: '2M', userspace_addr: 'vm_mem', userfault_bitmap: 'bm',
});
const userfaultOff = (gmem: boolean): StepIn => ({
  do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, flags: gmem ? ['KVM_MEM_GUEST_MEMFD'] : 0, guest_phys_addr: 0, memory_size: '2M', userspace_addr: 'vm_mem',
});
/** Run the next n steps of a scenario. */
function go(sim: ReturnType<typeof scenario>, n: number): void {
  for (let k = 0; k < n; k++) sim.step();
}
const bit = (value: 'set' | 'clear', page = PAGE_NO): StepIn => ({ do: 'userfault_bitmap', bitmap: 'bm', first_page: page, num_pages: 1, value });

describe('constants of the posted series', () => {
  it('KVM_MEM_USERFAULT is 1 << 3, KVM_MEMORY_EXIT_FLAG_USERFAULT 1 << 4', () => {
    expect(KVM_MEM_USERFAULT).toBe(8);
    expect(KVM_MEMORY_EXIT_FLAG_USERFAULT).toBe(16);
  });
});

/** A host whose kernel has the series. */
const UF = { kernelSeries: ['kvm-userfault'] };

describe('KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_USERFAULT', () => {
  it('an upstream kernel refuses the flag with EINVAL and says the series is not merged', () => {
    const { r } = runSteps([...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }), bitmap, userfaultOn(false)]);
    expect(r.at(-1)).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(r.at(-1)!.why).toContain('not merged');
  });

  it('a bitmap that is not a user address range is EINVAL (access_ok())', () => {
    const { r } = runSteps([
      ...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }),
      { ...userfaultOn(false), userfault_bitmap: 0x7ffffffff000 },
    ], UF);
    expect(r.at(-1)).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });

  it('can be toggled on a guest_memfd memslot; any other flag change there is still EINVAL', () => {
    const { r } = runSteps([
      ...kvmSetup({ type: KVM_X86_SW_PROTECTED_VM }), bitmap, userfaultOn(true), userfaultOff(true),
      { ...userfaultOff(true), flags: ['KVM_MEM_GUEST_MEMFD', 'KVM_MEM_LOG_DIRTY_PAGES'] },
    ], UF);
    expect(r.slice(-3).map((x) => x.errno ?? x.ret)).toEqual([0, 0, 'EINVAL']);
  });
});

describe('a vCPU touching a page whose bit is set', () => {
  it('private (guest_memfd) page: KVM_RUN is -1/EFAULT with PRIVATE|USERFAULT; the VMM writes the page into guest_memfd, clears the bit, and the guest reads it', () => {
    const sim = scenario([
      ...kvmSetup({ type: KVM_X86_SW_PROTECTED_VM }), bitmap, userfaultOn(true),
      { do: 'KVM_SET_MEMORY_ATTRIBUTES', vm: 'vm', address: GPA, size: PAGE_SIZE, attributes: ['KVM_MEMORY_ATTRIBUTE_PRIVATE'] },
      bit('set'), reader, run, bit('clear'), run,
    ], UF);
    go(sim, 11);
    const res = sim.results.at(-1)!;
    expect(res).toMatchObject({
      ret: -1, errno: 'EFAULT',
      exit: { reason: 'KVM_EXIT_MEMORY_FAULT', memory_fault: { flags: KVM_MEMORY_EXIT_FLAG_PRIVATE | KVM_MEMORY_EXIT_FLAG_USERFAULT, gpa: GPA, size: PAGE_SIZE } },
    });
    expect(KVM_EXIT_MEMORY_FAULT).toBe(39);
    const vm = sim.kvm.vms[0];
    const slot = vm.slots.get(0)!;
    // No page was taken from guest_memfd for the faulting GFN.
    expect(slot.gmem!.frameAt(gfnToGmemIndex(slot, PAGE_NO))).toBe(-1);
    // The VMM's side, by hand: the page arrives, goes into the guest_memfd (the proposed write path), the bit is cleared.
    const [frame] = slot.gmem!.getPfn(gfnToGmemIndex(slot, PAGE_NO));
    const page = new Uint8Array(PAGE_SIZE);
    page[5] = 0x42;
    vm.kvm.host.memory.copyInto(frame, page);
    sim.runAll();
    expect(sim.results.at(-1)).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_IO', io: { port: 0x80, data: 0x42 } } });
    expect(named(sim, 'KVM_EXIT_MEMORY_FAULT').at(-1)!.text).toContain('not merged');
  });

  it('shared page: flags USERFAULT alone; nothing is faulted in from the VMM until the bit is clear', () => {
    const sim = scenario([...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }), bitmap, userfaultOn(false), bit('set'), reader, run,
      { do: 'host_write', vm: 'vm', gpa: GPA + 5, data: 'hex:7e', via: 'vmm_mapping' }, bit('clear'), run], UF);
    go(sim, 9);
    expect(sim.results.at(-1)).toMatchObject({ ret: -1, errno: 'EFAULT', exit: { memory_fault: { flags: KVM_MEMORY_EXIT_FLAG_USERFAULT, gpa: GPA } } });
    const vm = sim.kvm.vms[0];
    expect(vm.vmm.lookup(vm.gpaToHva(GPA)!)).toBe(-1);
    sim.runAll();
    expect(sim.results.at(-1)).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_IO', io: { data: 0x7e } } });
  });

  it('enabling the flag zaps the slot\'s mappings; a bit set later does not affect a mapped page until the flag is toggled', () => {
    const sim = scenario([...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }), bitmap, reader, run,
      userfaultOn(false), reader, run, bit('set'), reader, run, userfaultOff(false), userfaultOn(false), reader, run], UF);
    go(sim, 7);
    expect(sim.results.at(-1)).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_IO' } });
    const vm = sim.kvm.vms[0];
    expect(vm.mmu.eptFrame(PAGE_NO)).toBeGreaterThanOrEqual(0);
    // The flag with every bit clear: all mappings go, and come back on the next faults.
    go(sim, 1);
    expect(vm.mmu.countMapped(0, 512).shared).toBe(0);
    go(sim, 2);
    expect(sim.results.at(-1)).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_IO' } });
    // Set the bit now: the page is mapped, so the guest still reads it.
    go(sim, 3);
    expect(sim.results.at(-1)).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_IO' } });
    // Toggle the flag: the mapping is dropped and the bit now makes the access exit.
    go(sim, 4);
    expect(sim.results.at(-1)).toMatchObject({ ret: -1, errno: 'EFAULT', exit: { memory_fault: { flags: KVM_MEMORY_EXIT_FLAG_USERFAULT } } });
  });

  it('QEMU\'s vCPU loop does not know the flag: "KVM_EXIT_MEMORY_FAULT: Unknown flag"', () => {
    const sim = scenario([], { ...UF, vms: [{ name: 'g', type: 'default', memory: '8M', program: `_start: mov al, [${GPA}]\nhlt` }] });
    const v = sim.vmms.get('g')!;
    const slot = [...v.vm.slots.values()].find((s) => s.baseGfn <= PAGE_NO && PAGE_NO < s.baseGfn + s.npages)!;
    const bm = v.process.mmapAnon(PAGE_SIZE, 'bitmap');
    v.process.write(bm + Math.floor((PAGE_NO - slot.baseGfn) / 8), Uint8Array.of(1 << ((PAGE_NO - slot.baseGfn) % 8)));
    v.vm.setUserMemoryRegion2({ slot: slot.id, flags: slot.flags | KVM_MEM_USERFAULT, guest_phys_addr: slot.baseGfn * PAGE_SIZE, memory_size: slot.npages * PAGE_SIZE, userspace_addr: slot.userspaceAddr, userfault_bitmap: bm });
    const o = v.run(0, 'halt', 10_000);
    expect(o.stop).toBe('error');
    expect(o.message).toContain('KVM_EXIT_MEMORY_FAULT: Unknown flag 0x10');
  });
});

describe("KVM's get_user_pages() of a page registered with a userfaultfd", () => {
  it('the vCPU thread waits (KVM_RUN blocked on the userfault, no frame taken); UFFDIO_COPY installs the page and wakes it; the guest reads the bytes', () => {
    const sim = scenario([
      ...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }),
      reader,
      { do: 'userfaultfd', as: 'uffd' },
      { do: 'UFFDIO_API', uffd: 'uffd', features: ['UFFD_FEATURE_THREAD_ID'] },
      { do: 'UFFDIO_REGISTER', uffd: 'uffd', start: 'vm_mem', offset: GPA, len: PAGE_SIZE, mode: ['UFFDIO_REGISTER_MODE_MISSING'] },
      run,
      { do: 'uffd_read', uffd: 'uffd' },
      { do: 'UFFDIO_COPY', uffd: 'uffd', start: 'vm_mem', offset: GPA, len: PAGE_SIZE, data: 'hex:00 00 00 00 00 99' },
      run,
    ]);
    go(sim, 10);
    const [kvmRun, msgs] = sim.results.slice(-2);
    expect(kvmRun).toMatchObject({ ret: 0, value: { blocked: 'userfault' } });
    const vm = sim.kvm.vms[0];
    const hva = vm.gpaToHva(GPA)!;
    expect(vm.vmm.lookup(hva)).toBe(-1);
    expect(msgs.value).toEqual([{ event: '0x12', flags: 0, address: `0x${hva.toString(16)}`, ptid: vm.vmm.pid * 100 + 1 }]);
    sim.runAll();
    const [copy, again] = sim.results.slice(-2);
    expect(copy).toMatchObject({ ret: 0, value: { done: PAGE_SIZE, woken: [vm.vmm.pid * 100 + 1] } });
    expect(again).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_IO', io: { data: 0x99 } } });
  });

  it('private memory cannot be registered: the guest_memfd has no mapping to give UFFDIO_REGISTER', () => {
    const { r } = runSteps([
      ...kvmSetup({ type: KVM_X86_SW_PROTECTED_VM }),
      { do: 'userfaultfd', as: 'uffd' },
      { do: 'UFFDIO_API', uffd: 'uffd' },
      { do: 'UFFDIO_REGISTER', uffd: 'uffd', guest_memfd: 'vm_gmem' },
    ]);
    expect(r.at(-1)).toMatchObject({ ret: -1, errno: 'ENODEV' });
    expect(r.at(-1)!.why).toContain('GUEST_MEMFD_FLAG_MMAP');
  });
});

describe('a post-copy wait saved and restored', () => {
  it('a snapshot taken while a vCPU waits on the userfaultfd restores the registration, the message and the waiter; the rest runs the same', () => {
    const steps: StepIn[] = [
      ...kvmSetup({ type: KVM_X86_DEFAULT_VM, gmem: false }),
      reader,
      { do: 'userfaultfd', as: 'uffd' },
      { do: 'UFFDIO_API', uffd: 'uffd', features: ['UFFD_FEATURE_THREAD_ID'] },
      { do: 'UFFDIO_REGISTER', uffd: 'uffd', start: 'vm_mem', offset: GPA, len: PAGE_SIZE },
      run,
      { do: 'uffd_read', uffd: 'uffd' },
      { do: 'UFFDIO_COPY', uffd: 'uffd', start: 'vm_mem', offset: GPA, len: PAGE_SIZE, data: 'hex:00 00 00 00 00 31' },
      run,
    ];
    const whole = scenario(steps);
    whole.runAll();
    const part = scenario(steps);
    go(part, 9);
    const snap = structuredClone(snapshotRun(part));
    const restored = restoreRun(scenarioDoc(steps), snap);
    const u = restored.host.processes.find((p) => p.name === 'kvm-selftest')!.uffds[0];
    expect(u.waiting).toBe(1);
    expect(u.pending).toBe(1);
    restored.runAll();
    expect(restored.results.slice(-3)).toEqual(whole.results.slice(-3));
    expect(restored.results.at(-1)).toMatchObject({ exit: { io: { data: 0x31 } } });
  });
});

describe('scenario checks', () => {
  it('a step naming a userfaultfd no step made is refused at load, at its JSON path', () => {
    const doc = scenarioDoc([{ do: 'userfaultfd', as: 'uffd' }, { do: 'UFFDIO_API', uffd: 'ufd' }]);
    expect(() => ScenarioRun.fromJson(doc)).toThrow(ScenarioError);
    try {
      ScenarioRun.fromJson(doc);
    } catch (e) {
      expect((e as ScenarioError).issues[0]).toMatchObject({ path: '$.steps[1].uffd' });
      expect((e as ScenarioError).issues[0].message).toContain('no userfaultfd named "ufd"');
    }
  });

  it('an unknown flag name in a userfaultfd field is refused at load', () => {
    expect(() => ScenarioRun.fromJson(scenarioDoc([{ do: 'userfaultfd', flags: ['O_NONBLOKC'], as: 'u' }]))).toThrow(/unknown flag "O_NONBLOKC"/);
  });
});
