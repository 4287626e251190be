/**
 * KVM's dirty ring (Documentation/virt/kvm/api.rst KVM_CAP_DIRTY_LOG_RING, virt/kvm/dirty_ring.c,
 * tools/testing/selftests/kvm/dirty_log_test.c): enabling it, the entry flags, the soft limit and
 * KVM_EXIT_DIRTY_RING_FULL, KVM_RESET_DIRTY_RINGS, and its exclusion of the dirty bitmap.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../test-properties';
import { PRESETS } from '../../scenarios';
import { ScenarioRun } from '../scenario/runner';
import { restoreRun, snapshotRun } from '../snapshot';
import { runSteps, scenario, touch, type StepIn } from '../test-helpers';
import { collectDirtyRing, dirtyRingRsvdEntries } from './dirty-ring';
import {
  KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, KVM_DIRTY_GFN_F_DIRTY, KVM_DIRTY_GFN_F_RESET,
  KVM_EXIT_DIRTY_RING_FULL, KVM_X86_DEFAULT_VM,
} from './uapi';
import type { Vcpu } from './vcpu';

const GPA = 0x100000;
const BASE_GFN = GPA / 0x1000;
/** The smallest ring x86 KVM takes: 1024 entries, soft limit 1024 - 576 = 448. */
const RING_BYTES = 1024 * 16;
const SOFT_LIMIT = 1024 - 576;

/** A hand-made VM with a 4 MiB logging memslot at GPA and `vcpus` vCPUs, the ring enabled first. */
function ringVm(opts: { vcpus?: number; ringBytes?: number; program?: string[] } = {}) {
  const steps: StepIn[] = [
    { do: 'KVM_CREATE_VM', as: 'vm', type: KVM_X86_DEFAULT_VM },
    { do: 'KVM_ENABLE_CAP', vm: 'vm', cap: 'KVM_CAP_DIRTY_LOG_RING', args: [opts.ringBytes ?? RING_BYTES] },
    { do: 'mmap', length: '4M', as: 'mem' },
    { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 1, flags: ['KVM_MEM_LOG_DIRTY_PAGES'], guest_phys_addr: GPA, memory_size: '4M', userspace_addr: 'mem' },
    ...Array.from({ length: opts.vcpus ?? 1 }, (_, id) => ({ do: 'KVM_CREATE_VCPU', vm: 'vm', id })),
  ];
  const run = scenario(steps);
  run.runAll();
  for (const x of run.results) expect(x.ret, x.why).toBeGreaterThanOrEqual(0);
  const vm = run.kvm.vms[0];
  /** A write by `vcpu` to page `page` of the slot: 'ok', or the exit it caused. */
  const write = (vcpu: Vcpu, page: number): 'ok' | string => {
    const t = touch(vcpu, GPA + page * 0x1000, 'write');
    if (t.kind === 'exit') return t.signal.exit.reason;
    if (t.kind !== 'ok') throw new Error(t.kind);
    t.page[0]++;
    return 'ok';
  };
  /** User space: collect every dirtied entry of one vCPU's ring, from the first dirtied one. */
  const collect = (vcpu: Vcpu): number[] => {
    const pages: number[] = [];
    const ring = vcpu.dirtyRing;
    let start = 0;
    while (start < ring.size && ring.flagsAt(start) !== KVM_DIRTY_GFN_F_DIRTY) start++;
    if (start === ring.size) return pages;
    while (ring.flagsAt((start + ring.size - 1) % ring.size) === KVM_DIRTY_GFN_F_DIRTY) start = (start + ring.size - 1) % ring.size;
    collectDirtyRing(ring, start, (slot, offset) => {
      expect(slot).toBe(1);
      pages.push(offset);
    });
    return pages;
  };
  return { run, vm, write, collect };
}

describe('KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING)', () => {
  it('KVM_CHECK_EXTENSION answers the largest ring in bytes (65536 entries of 16 bytes); x86 has no ring-with-bitmap', () => {
    const { vm } = ringVm();
    expect(vm.checkExtension(KVM_CAP_DIRTY_LOG_RING)).toBe(1048576);
    expect(vm.checkExtension(KVM_CAP_DIRTY_LOG_RING_ACQ_REL)).toBe(1048576);
    expect(vm.checkExtension(KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP)).toBe(0);
    expect(dirtyRingRsvdEntries()).toBe(576);
  });

  it('refuses what kvm_vm_ioctl_enable_dirty_log_ring() refuses, with its errno', () => {
    const enable = (bytes: number | string, cap = 'KVM_CAP_DIRTY_LOG_RING'): StepIn => ({ do: 'KVM_ENABLE_CAP', vm: 'vm', cap, args: [bytes] });
    const { r } = runSteps([
      { do: 'KVM_CREATE_VM', as: 'vm', type: KVM_X86_DEFAULT_VM },
      enable(0), // 1: not a power of two
      enable(12288), // 2: not a power of two
      enable(8192), // 3: a power of two, but below the 576 reserved entries (9216 bytes)
      enable(4096), // 4: a page, still below the reserved entries
      enable(2 * 1048576), // 5: above KVM_DIRTY_RING_MAX_ENTRIES
      enable(16384), // 6: the smallest that works
      enable(32768), // 7: only once
      { do: 'KVM_ENABLE_CAP', vm: 'vm', cap: 'KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP', args: [] }, // 8: not on x86
      { do: 'KVM_CREATE_VM', as: 'vm2', type: KVM_X86_DEFAULT_VM },
      { do: 'KVM_CREATE_VCPU', vm: 'vm2' },
      { do: 'KVM_ENABLE_CAP', vm: 'vm2', cap: 'KVM_CAP_DIRTY_LOG_RING_ACQ_REL', args: [65536] }, // 11: after a vCPU
      { do: 'KVM_CREATE_VM', as: 'vm3', type: KVM_X86_DEFAULT_VM },
      { do: 'KVM_ENABLE_CAP', vm: 'vm3', cap: 'KVM_CAP_DIRTY_LOG_RING_ACQ_REL', args: [1048576] }, // 13: the largest
    ]);
    for (const k of [1, 2, 3, 4, 7, 8, 11]) expect(r[k], `step ${k}`).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(r[5]).toMatchObject({ ret: -1, errno: 'E2BIG' });
    expect(r[6]).toMatchObject({ ret: 0 });
    expect(r[13]).toMatchObject({ ret: 0 });
    expect(r[3].why).toMatch(/576 reserved entries/);
    expect(r[7].why).toMatch(/only once/);
    expect(r[11].why).toMatch(/after KVM_CREATE_VCPU/);
  });

  it('takes args[0] as the u32 kvm_vm_ioctl_enable_dirty_log_ring() receives: the upper 32 bits are dropped', () => {
    const { r, run } = runSteps([
      { do: 'KVM_CREATE_VM', as: 'vm', type: KVM_X86_DEFAULT_VM },
      { do: 'KVM_ENABLE_CAP', vm: 'vm', cap: 'KVM_CAP_DIRTY_LOG_RING', args: [2 ** 32 + 16384] },
    ]);
    expect(r[1]).toMatchObject({ ret: 0 });
    expect(run.kvm.vms[0].dirtyRingSize).toBe(16384);
  });

  it('gives each vCPU made afterwards a ring of size/16 entries, soft limit size/16 - 576', () => {
    const { vm } = ringVm({ vcpus: 2, ringBytes: 65536 });
    for (const v of vm.vcpus) {
      expect(v.dirtyRing.size).toBe(4096);
      expect(v.dirtyRing.softLimit).toBe(4096 - 576);
      expect(v.dirtyRing.gfns).toHaveLength(4096 * 4);
    }
  });
});

describe('the dirty ring replaces the bitmap', () => {
  it('KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG fail with ENXIO; the logging slot has no bitmap', () => {
    const { r, run } = runSteps([
      { do: 'KVM_CREATE_VM', as: 'vm', type: KVM_X86_DEFAULT_VM },
      { do: 'KVM_ENABLE_CAP', vm: 'vm', cap: 'KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2', args: [1] },
      { do: 'KVM_ENABLE_CAP', vm: 'vm', cap: 'KVM_CAP_DIRTY_LOG_RING', args: [RING_BYTES] },
      { do: 'mmap', length: '1M', as: 'mem' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 1, flags: ['KVM_MEM_LOG_DIRTY_PAGES'], guest_phys_addr: GPA, memory_size: '1M', userspace_addr: 'mem' },
      { do: 'KVM_GET_DIRTY_LOG', vm: 'vm', slot: 1 },
      { do: 'KVM_CLEAR_DIRTY_LOG', vm: 'vm', slot: 1, first_page: 0, num_pages: 64 },
    ]);
    expect(r[5]).toMatchObject({ ret: -1, errno: 'ENXIO' });
    expect(r[6]).toMatchObject({ ret: -1, errno: 'ENXIO' });
    expect(run.kvm.vms[0].slots.get(1)!.dirtyBitmap).toBeUndefined();
  });

  it('a write pushes {slot, offset} with KVM_DIRTY_GFN_F_DIRTY instead of setting a bit; reads push nothing', () => {
    const { vm, write } = ringVm();
    const v = vm.vcpus[0];
    expect(touch(v, GPA + 7 * 0x1000, 'read').kind).toBe('ok');
    expect(v.dirtyRing.used).toBe(0);
    expect(vm.mmu.eptWritable(BASE_GFN + 7)).toBe(false);
    expect(write(v, 5)).toBe('ok');
    expect(v.dirtyRing.used).toBe(1);
    expect([v.dirtyRing.flagsAt(0), v.dirtyRing.slotAt(0), v.dirtyRing.offsetAt(0)]).toEqual([KVM_DIRTY_GFN_F_DIRTY, 1, 5]);
    // The page is writable now: a second write is not caught, so not pushed again.
    expect(write(v, 5)).toBe('ok');
    expect(v.dirtyRing.used).toBe(1);
    expect(() => vm.getDirtyLog(1)).toThrow(/ENXIO/);
  });
});

describe('entry flags and KVM_RESET_DIRTY_RINGS', () => {
  it('goes invalid (0) → dirtied (01) → harvested (1X) → invalid, and reset write-protects the page again', () => {
    const { vm, write, collect } = ringVm();
    const v = vm.vcpus[0];
    const ring = v.dirtyRing;
    expect(ring.flagsAt(0)).toBe(0);
    write(v, 9);
    expect(ring.flagsAt(0)).toBe(KVM_DIRTY_GFN_F_DIRTY);
    expect(vm.mmu.eptWritable(BASE_GFN + 9)).toBe(true);
    // KVM only recycles entries user space has marked harvested.
    expect(vm.resetDirtyRings()).toBe(0);
    expect(ring.flagsAt(0)).toBe(KVM_DIRTY_GFN_F_DIRTY);
    expect(collect(v)).toEqual([9]);
    expect(ring.flagsAt(0)).toBe(KVM_DIRTY_GFN_F_RESET);
    expect(vm.resetDirtyRings()).toBe(1);
    expect(ring.flagsAt(0)).toBe(0);
    expect(ring.used).toBe(0);
    expect(vm.mmu.eptWritable(BASE_GFN + 9)).toBe(false);
    // The next write is caught again and lands in the next entry.
    write(v, 9);
    expect([ring.flagsAt(1), ring.offsetAt(1)]).toEqual([KVM_DIRTY_GFN_F_DIRTY, 9]);
  });

  it('resets harvested entries in order and stops at the first one not harvested', () => {
    const { vm, write } = ringVm();
    const v = vm.vcpus[0];
    for (const p of [1, 2, 3]) write(v, p);
    v.dirtyRing.setFlagsAt(0, KVM_DIRTY_GFN_F_RESET);
    v.dirtyRing.setFlagsAt(2, KVM_DIRTY_GFN_F_RESET);
    expect(vm.resetDirtyRings()).toBe(1);
    expect(vm.mmu.eptWritable(BASE_GFN + 1)).toBe(false);
    expect(vm.mmu.eptWritable(BASE_GFN + 3)).toBe(true);
    expect(v.dirtyRing.used).toBe(2);
  });

  it('dirty_ring_collect on a VM without a ring is an error naming the step', () => {
    const run = scenario([{ do: 'KVM_CREATE_VM', as: 'plain', type: KVM_X86_DEFAULT_VM }, { do: 'KVM_CREATE_VCPU', vm: 'plain' }, { do: 'dirty_ring_collect', vm: 'plain' }]);
    expect(() => run.runAll()).toThrow(/\$\.steps\[2\]\.vm: VM "plain" has no dirty ring to collect/);
  });

  it('without a ring, KVM_RESET_DIRTY_RINGS is EINVAL; as steps it returns the count', () => {
    const { r } = runSteps([
      { do: 'KVM_CREATE_VM', as: 'plain', type: KVM_X86_DEFAULT_VM },
      { do: 'KVM_RESET_DIRTY_RINGS', vm: 'plain' },
      { do: 'KVM_CREATE_VM', as: 'vm', type: KVM_X86_DEFAULT_VM },
      { do: 'KVM_ENABLE_CAP', vm: 'vm', cap: 'KVM_CAP_DIRTY_LOG_RING', args: [RING_BYTES] },
      { do: 'mmap', length: '2M', as: 'mem' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, flags: ['KVM_MEM_LOG_DIRTY_PAGES'], guest_phys_addr: 0, memory_size: '2M', userspace_addr: 'mem' },
      { do: 'KVM_CREATE_VCPU', vm: 'vm' },
      { do: 'load_program', vm: 'vm', program: ['_start: mov byte [0x20000], 1', 'mov byte [0x22000], 1', 'mov byte [0x20000], 2', 'hlt'] },
      { do: 'KVM_RUN', vm: 'vm' },
      { do: 'dirty_ring_collect', vm: 'vm' },
      { do: 'KVM_RESET_DIRTY_RINGS', vm: 'vm' },
      { do: 'dirty_ring_collect', vm: 'vm' },
    ]);
    expect(r[1]).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(r[8].exit).toEqual({ reason: 'KVM_EXIT_HLT' });
    // load_program wrote through the VMM's mapping (not logged); the guest's second store to 0x20000
    // found the page writable, so only the first store to each page was caught.
    expect(r[9].value).toEqual({ collected: 2, gfns: [{ slot: 0, offset: 0x20 }, { slot: 0, offset: 0x22 }] });
    expect(r[10].ret).toBe(2);
    expect(r[11].value).toEqual({ collected: 0, gfns: [] });
  });
});

describe('the soft limit and KVM_EXIT_DIRTY_RING_FULL', () => {
  it('the write that fills the ring to size - 576 entries exits; the vCPU cannot run until a reset', () => {
    const { vm, write, collect } = ringVm();
    const v = vm.vcpus[0];
    for (let p = 0; p < SOFT_LIMIT - 1; p++) expect(write(v, p)).toBe('ok');
    expect(v.dirtyRing.used).toBe(SOFT_LIMIT - 1);
    // The 448th entry: pushed, the page made writable, and the vCPU exits before the write completes.
    expect(write(v, SOFT_LIMIT - 1)).toBe('KVM_EXIT_DIRTY_RING_FULL');
    expect(v.dirtyRing.used).toBe(SOFT_LIMIT);
    expect(vm.mmu.eptWritable(BASE_GFN + SOFT_LIMIT - 1)).toBe(true);
    expect(KVM_EXIT_DIRTY_RING_FULL).toBe(31);
    expect(collect(v)).toHaveLength(SOFT_LIMIT);
    expect(vm.resetDirtyRings()).toBe(SOFT_LIMIT);
    expect(v.dirtyRing.used).toBe(0);
    expect(write(v, SOFT_LIMIT - 1)).toBe('ok');
  });

  it('KVM_RUN exits with KVM_EXIT_DIRTY_RING_FULL, again at once while full, and the write runs again after the reset', () => {
    const pages = 500;
    const { r } = runSteps([
      { do: 'KVM_CREATE_VM', as: 'vm', type: KVM_X86_DEFAULT_VM },
      { do: 'KVM_ENABLE_CAP', vm: 'vm', cap: 'KVM_CAP_DIRTY_LOG_RING', args: [RING_BYTES] },
      { do: 'mmap', length: '1M', as: 'code' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, guest_phys_addr: 0, memory_size: '1M', userspace_addr: 'code' },
      { do: 'mmap', length: '4M', as: 'data' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 1, flags: ['KVM_MEM_LOG_DIRTY_PAGES'], guest_phys_addr: GPA, memory_size: '4M', userspace_addr: 'data' },
      { do: 'KVM_CREATE_VCPU', vm: 'vm' },
      { do: 'load_program', vm: 'vm', program: ['_start: mov rax, 0x100000', `mov rcx, ${pages}`, '.next: mov byte [rax], 1', 'add rax, 4096', 'dec rcx', 'jnz .next', 'hlt'] },
      { do: 'KVM_RUN', vm: 'vm' }, // 8: full
      { do: 'KVM_RUN', vm: 'vm' }, // 9: still full
      { do: 'dirty_ring_collect', vm: 'vm' }, // 10
      { do: 'KVM_RESET_DIRTY_RINGS', vm: 'vm' }, // 11
      { do: 'KVM_RUN', vm: 'vm' }, // 12: the rest
      { do: 'dirty_ring_collect', vm: 'vm' }, // 13
    ]);
    expect(r[8]).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_DIRTY_RING_FULL' } });
    // 2 setup instructions, then 4 per page for the 447 pages written before the 448th write exits.
    expect((r[8].value as { instructions: number }).instructions).toBe(2 + 4 * (SOFT_LIMIT - 1));
    expect(r[9]).toMatchObject({ ret: 0, exit: { reason: 'KVM_EXIT_DIRTY_RING_FULL' }, value: { instructions: 0 } });
    expect(r[10].value).toMatchObject({ collected: SOFT_LIMIT });
    expect(r[11].ret).toBe(SOFT_LIMIT);
    expect(r[12].exit).toEqual({ reason: 'KVM_EXIT_HLT' });
    // The reset write-protected page 447 again, so its re-executed write is logged once more.
    const rest = (r[13].value as { gfns: { offset: number }[] }).gfns.map((g) => g.offset);
    expect(rest).toEqual(Array.from({ length: pages - SOFT_LIMIT + 1 }, (_, k) => SOFT_LIMIT - 1 + k));
  });
});

describe('one ring per vCPU', () => {
  it('each vCPU pushes onto its own ring; the reset covers them all', () => {
    const { vm, write, collect } = ringVm({ vcpus: 2 });
    const [a, b] = vm.vcpus;
    write(a, 1);
    write(b, 2);
    write(a, 3);
    expect(a.dirtyRing.used).toBe(2);
    expect(b.dirtyRing.used).toBe(1);
    expect(collect(a)).toEqual([1, 3]);
    expect(collect(b)).toEqual([2]);
    expect(vm.resetDirtyRings()).toBe(3);
    expect(a.dirtyRing.used + b.dirtyRing.used).toBe(0);
  });

  it('a full ring stops only its own vCPU', () => {
    const { vm, write } = ringVm({ vcpus: 2 });
    const [a, b] = vm.vcpus;
    for (let p = 0; p < SOFT_LIMIT - 1; p++) write(a, p);
    expect(write(a, 600)).toBe('KVM_EXIT_DIRTY_RING_FULL');
    expect(write(b, 601)).toBe('ok');
    expect(b.dirtyRing.softFull()).toBe(false);
  });
});

describe('snapshots of a hand-made VM with a ring', () => {
  it('restored after each step of the dirty-ring preset (a full ring, collected entries, a reset), it ends as the run whole', () => {
    const text = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
    const want = text(ScenarioRun.fromJson(PRESETS['dirty-ring']).runAll());
    const steps = (PRESETS['dirty-ring'] as { steps: unknown[] }).steps.length;
    for (let k = 8; k < steps; k++) {
      const run = ScenarioRun.fromJson(PRESETS['dirty-ring']);
      for (let j = 0; j < k; j++) run.step();
      const snap = structuredClone(snapshotRun(run));
      expect(text(restoreRun(PRESETS['dirty-ring'], snap).runAll()), `restored after step ${k}`).toBe(want);
    }
  });
});

describe('no dirty page is lost (property)', () => {
  type Op = { k: 'write'; vcpu: number; page: number } | { k: 'collect'; vcpu: number } | { k: 'reap' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 30, arbitrary: fc.record({ k: fc.constant('write' as const), vcpu: fc.integer({ min: 0, max: 1 }), page: fc.integer({ min: 0, max: 1023 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('collect' as const), vcpu: fc.integer({ min: 0, max: 1 }) }) },
    { weight: 1, arbitrary: fc.constant({ k: 'reap' as const }) },
  );

  it('harvested entries since the last reset, plus those still dirtied in the rings, are exactly the pages written since it', () => {
    let fullExits = 0;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 700, size: 'max' }), fc.boolean(), (ops0, userRare) => {
        // Half the runs leave the rings alone for long stretches and write from vCPU 0 only, so that
        // its ring fills to the soft limit (about 500 distinct pages of 1024 in 700 writes).
        const ops = userRare ? ops0.filter((o, k) => o.k === 'write' || k % 200 === 0).map((o) => (o.k === 'write' ? { ...o, vcpu: 0 } : o)) : ops0;
        const { vm, write, collect } = ringVm({ vcpus: 2 });
        let written = new Set<number>();
        let harvested = new Set<number>();
        /** Entries collected since the last reset: what the reset must recycle. */
        let collected = 0;
        // QEMU's reap: collect every ring, then KVM_RESET_DIRTY_RINGS (nothing runs in between).
        const reap = (): void => {
          for (const v of vm.vcpus) collected += collect(v).length;
          expect(vm.resetDirtyRings()).toBe(collected);
          collected = 0;
          written = new Set();
          harvested = new Set();
        };
        const check = (): void => {
          for (const v of vm.vcpus) expect(v.dirtyRing.used).toBeLessThanOrEqual(v.dirtyRing.softLimit);
          const inRings = new Set<number>();
          for (const v of vm.vcpus) {
            const ring = v.dirtyRing;
            for (let i = 0; i < ring.size; i++) if (ring.flagsAt(i) === KVM_DIRTY_GFN_F_DIRTY) inRings.add(ring.offsetAt(i));
          }
          expect(new Set([...harvested, ...inRings])).toEqual(written);
        };
        ops.forEach((o, k) => {
          if (o.k === 'write') {
            let r = write(vm.vcpus[o.vcpu], o.page);
            if (r === 'KVM_EXIT_DIRTY_RING_FULL') {
              fullExits++;
              // What QEMU's vCPU thread does: reap, then run the write again.
              reap();
              r = write(vm.vcpus[o.vcpu], o.page);
            }
            expect(r).toBe('ok');
            written.add(o.page);
          } else if (o.k === 'collect') {
            const got = collect(vm.vcpus[o.vcpu]);
            collected += got.length;
            for (const p of got) harvested.add(p);
          } else reap();
          // After every user-space action, and every few writes (a full check per write is slow).
          if (o.k !== 'write' || k % 8 === 0) check();
        });
        check();
      }),
      {
        ...propertyRuns(0xd1a7),
        // Besides the drawn runs, one that surely fills vCPU 0's ring: 600 distinct pages, no reap.
        examples: [[Array.from({ length: 600 }, (_, page): Op => ({ k: 'write', vcpu: 0, page })), true]],
      },
    );
    // The runs did reach the soft limit (and went on after QEMU's reap).
    expect(fullExits).toBeGreaterThan(0);
  });
});
