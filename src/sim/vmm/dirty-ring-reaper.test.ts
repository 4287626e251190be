/**
 * QEMU's side of the dirty ring (accel/kvm/kvm-all.c): `-accel kvm,dirty-ring-size=N` as the VM
 * spec's `dirty_ring_size`, kvm_dirty_ring_reap() from a full vCPU, from the kvm-reaper thread and
 * from a step, the VMM's own dirty bitmap, and snapshots of it all.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../test-properties';
import { ScenarioError } from '../scenario/fields';
import { ScenarioRun } from '../scenario/runner';
import { restoreRun, snapshotRun } from '../snapshot';
import { KVM_DIRTY_GFN_F_DIRTY } from '../kvm/uapi';

const PAGES = 600;
const DATA = 0x400000;

/** A loop that writes one byte to each of PAGES pages from DATA, then halts. */
const writer = ['_start: mov rax, 0x400000', `mov rcx, ${PAGES}`, '.next: mov byte [rax], 1', 'add rax, 4096', 'dec rcx', 'jnz .next', 'hlt'];

function doc(steps: unknown[], vm: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 2, title: 'dirty ring', seed: 1, hosts: [{ name: 'host0', memory: '256M' }],
    vms: [{ name: 'g', type: 'default', memory: '16M', dirty_ring_size: 1024, program: writer, ...vm }],
    steps,
  };
}

/**
 * The VMM's memory listener turning dirty logging on for its RAM memslot, as
 * memory_global_dirty_log_start() does when migration starts: KVM_SET_USER_MEMORY_REGION2 with
 * KVM_MEM_LOG_DIRTY_PAGES on the VMM's own slot (its address read from a first build).
 */
function logStart(vm: Record<string, unknown> = {}): Record<string, unknown> {
  const v = ScenarioRun.fromJson(doc([], vm)).vmms.get('g')!;
  const b = v.ram[0];
  return { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'g', slot: b.slot, flags: ['KVM_MEM_LOG_DIRTY_PAGES'], guest_phys_addr: b.gpa, memory_size: b.size, userspace_addr: b.hva };
}

const bitsSet = (bm: Uint32Array): number[] => {
  const out: number[] = [];
  bm.forEach((w, k) => {
    for (let b = 0; b < 32; b++) if ((w >>> b) & 1) out.push(k * 32 + b);
  });
  return out;
};

describe('dirty_ring_size (-accel kvm,dirty-ring-size=N)', () => {
  it('is checked as QEMU checks it, with the JSON path', () => {
    const issue = (size: unknown): string => {
      try {
        ScenarioRun.fromJson(doc([], { dirty_ring_size: size }));
      } catch (e) {
        if (e instanceof ScenarioError) return e.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
        throw e;
      }
      return 'accepted';
    };
    expect(issue(1000)).toBe('$.vms[0].dirty_ring_size: dirty-ring-size must be a power of two (got 1000)');
    expect(issue(131072)).toMatch(/^\$\.vms\[0\]\.dirty_ring_size: KVM dirty ring size 131072 too big \(maximum is 65536\)/);
    expect(issue(512)).toMatch(/^\$\.vms\[0\]\.dirty_ring_size: Enabling of KVM dirty ring failed: Invalid argument\. Suggested minimum value is 1024/);
    expect(issue(-1)).toMatch(/^\$\.vms\[0\]\.dirty_ring_size: /);
    expect(issue(65536)).toBe('accepted');
    expect(issue(0)).toBe('accepted');
  });

  it('makes the VMM enable KVM_CAP_DIRTY_LOG_RING with N × 16 bytes before it creates the vCPUs', () => {
    const run = ScenarioRun.fromJson(doc([], { vcpus: 2 }));
    const v = run.vmms.get('g')!;
    expect(v.vm.dirtyRingSize).toBe(1024 * 16);
    expect(v.vcpus.map((c) => c.dirtyRing.size)).toEqual([1024, 1024]);
    const names = run.trace.events.map((e) => e.name);
    expect(names.indexOf('KVM_ENABLE_CAP')).toBeGreaterThan(-1);
    expect(names.indexOf('KVM_ENABLE_CAP')).toBeLessThan(names.indexOf('KVM_CREATE_VCPU'));
    // Without it, the VM keeps the bitmap and no ring.
    const plain = ScenarioRun.fromJson(doc([], { dirty_ring_size: 0 })).vmms.get('g')!;
    expect(plain.vm.dirtyRingSize).toBe(0);
    expect(plain.vcpus[0].dirtyRing.enabled).toBe(false);
    expect(plain.dirtyRing.readyAt()).toBeNull();
  });
});

describe('kvm_dirty_ring_reap', () => {
  it('a full ring: the vCPU thread reaps every ring into the VMM\'s bitmap and the guest goes on to its halt', () => {
    const run = ScenarioRun.fromJson(doc([logStart(), { do: 'run', vm: 'g' }, { do: 'kvm_dirty_ring_reap', vm: 'g' }]));
    run.runAll();
    const r = run.results;
    expect(r[1].value).toMatchObject({ stop: 'halted' });
    const names = run.trace.events.map((e) => e.name);
    for (const n of ['kvm_dirty_ring_push', 'KVM_EXIT_DIRTY_RING_FULL', 'kvm_dirty_ring_full', 'kvm_dirty_ring_reap', 'KVM_RESET_DIRTY_RINGS']) expect(names).toContain(n);
    // 448 entries filled the ring; the rest (with the faulting page again) were reaped by the step.
    expect(r[2].ret).toBe(PAGES - 448 + 1);
    const v = run.vmms.get('g')!;
    expect(v.dirtyRing.dirtyPages[0]).toBe(PAGES + 1);
    expect(v.vcpus[0].dirtyRing.used).toBe(0);
    // Every page the guest wrote is in the VMM's bitmap, and nothing else.
    const bm = v.dirtyRing.syncSlot(0);
    expect(bitsSet(bm)).toEqual(Array.from({ length: PAGES }, (_, k) => DATA / 4096 + k));
    // The sync read and cleared it.
    expect(bitsSet(v.dirtyRing.syncSlot(0))).toEqual([]);
    expect(r[2].value).toMatchObject({ reaped: PAGES - 448 + 1, dirty_pages_per_slot: { 0: PAGES } });
  });

  it('one vCPU only, and nothing to reap is 0 with no reset', () => {
    const run = ScenarioRun.fromJson(doc([logStart(), { do: 'kvm_dirty_ring_reap', vm: 'g', vcpu: 0 }]));
    run.runAll();
    expect(run.results[1]).toMatchObject({ ret: 0 });
    expect(run.trace.events.map((e) => e.name)).not.toContain('KVM_RESET_DIRTY_RINGS');
  });

  it('is an error on a VM without a ring, or for a vCPU it does not have, naming where', () => {
    const bad = (step: Record<string, unknown>, vm: Record<string, unknown> = {}): string => {
      let err: unknown;
      try {
        // A vCPU the VM does not have is refused at load (scenario/check.ts); a missing ring when the step runs.
        ScenarioRun.fromJson(doc([step], vm)).runAll();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ScenarioError);
      return (err as ScenarioError).message;
    };
    expect(bad({ do: 'kvm_dirty_ring_reap', vm: 'g' }, { dirty_ring_size: 0 })).toMatch(/\$\.steps\[0\]\.vm.*dirty_ring_size/);
    expect(bad({ do: 'kvm_dirty_ring_reap', vm: 'g', vcpu: 3 })).toMatch(/\$\.steps\[0\]\.vcpu.*no vCPU 3/);
  });

  it('the kvm-reaper thread wakes once a virtual second and reaps what the guest dirtied', () => {
    const workload = ['_start: mov rdi, 0x800000', 'mov rsi, 0x100000', 'mov rdx, 409600', 'mov rcx, 0', 'mov r8, 3000000000', 'mov r9, 3', 'call dirty_memory', 'hlt'];
    const vmSpec = { program: workload, dirty_ring_size: 4096 };
    const run = ScenarioRun.fromJson(doc([logStart(vmSpec), { do: 'cont', vm: 'g' }, { do: 'run_until', time: '3500ms' }], vmSpec));
    run.runAll();
    const v = run.vmms.get('g')!;
    expect(v.dirtyRing.iterations).toBe(3);
    const reaps = run.trace.events.filter((e) => e.name === 'kvm_dirty_ring_reap');
    expect(reaps.length).toBe(3);
    for (const e of reaps) expect(String(e.args.why)).toMatch(/kvm-reaper/);
    // 100 page writes a second over 256 pages: the reaped bitmap holds what was written by 3 s.
    const reaped = bitsSet(v.dirtyRing.syncSlot(0));
    expect(reaped.length).toBeGreaterThan(100);
    for (const p of reaped) expect(p >= 0x800 && p < 0x900).toBe(true);
    // What the guest dirtied since the last wake-up still waits in the ring.
    const ring = v.vcpus[0].dirtyRing;
    let waiting = 0;
    for (let i = 0; i < ring.size; i++) if (ring.flagsAt(i) === KVM_DIRTY_GFN_F_DIRTY) waiting++;
    expect(waiting).toBe(ring.used);
  });
});

describe('snapshots of a VM with a dirty ring', () => {
  let built: Record<string, unknown> | null = null;
  const scenario = (): Record<string, unknown> =>
    structuredClone((built ??= doc([logStart(), { do: 'run', vm: 'g' }, { do: 'kvm_dirty_ring_reap', vm: 'g' }, { do: 'run', vm: 'g' }])));
  const text = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));

  it('snapshotted anywhere (a full ring included) and restored from a structured clone, it ends as the run whole', () => {
    const want = text(ScenarioRun.fromJson(scenario()).runAll());
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 800 }), { minLength: 1, maxLength: 6 }), (slices) => {
        const run = ScenarioRun.fromJson(scenario());
        for (const n of slices) if (!run.done) run.advance(n);
        const restored = restoreRun(scenario(), structuredClone(snapshotRun(run)));
        expect(text(restored.runAll())).toBe(want);
      }),
      propertyRuns(0x5ea9),
    );
  }, 120_000);
});
