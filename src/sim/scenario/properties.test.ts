/**
 * Property tests (fast-check) over random sequences of conversions, punched holes, guest writes and
 * host accesses:
 * 1. the VMM process never maps a frame owned by a guest_memfd (and KVM's mappings agree with the
 *    backing each GFN's attribute selects);
 * 2. what the guest and the host read follows the content rules of DOMAIN.md §3
 *    (private_mem_conversions_test);
 * 3. the same scenario gives the same report, byte for byte.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HEAVY_PRESETS, PRESETS, withInstructionCap } from '../../scenarios';
import { FrameOwner } from '../host/physmem';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../kvm/guest-memfd';
import { KvmExitSignal } from '../kvm/run';
import { KVM_MEMORY_EXIT_FLAG_PRIVATE } from '../kvm/uapi';
import { TDG_MEM_PAGE_ACCEPT, TDX_PAGE_ALREADY_ACCEPTED, TDX_SUCCESS } from '../abi/tdx';
import { Sept, septFrame, septState } from '../tdx/sept';
import { Regs, scenario, scenarioDoc, touch, type StepIn } from '../test-helpers';
import { ScenarioRun } from './runner';

const PAGE = 0x1000;
const BASE = 0x200000; // the pages the properties play with: [BASE, BASE + NPAGES * PAGE)
const NPAGES = 8;
const PUNCH = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
// Page p's interesting byte is at offset p, for guest and host alike.

type Op =
  | { op: 'attr'; page: number; count: number; priv: boolean; how: 'ioctl' | 'vmm' }
  | { op: 'punch'; page: number; count: number }
  | { op: 'guestWrite'; page: number; priv: boolean; value: number }
  | { op: 'guestRead'; page: number; priv: boolean }
  | { op: 'hostWrite'; page: number; value: number }
  | { op: 'hostRead'; page: number };

const page = fc.integer({ min: 0, max: NPAGES - 1 });
const count = fc.integer({ min: 1, max: 3 });
const byte = fc.integer({ min: 1, max: 255 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('attr' as const), page, count, priv: fc.boolean(), how: fc.constantFrom('ioctl' as const, 'vmm' as const) }),
  fc.record({ op: fc.constant('punch' as const), page, count }),
  fc.record({ op: fc.constant('guestWrite' as const), page, priv: fc.boolean(), value: byte }),
  fc.record({ op: fc.constant('guestRead' as const), page, priv: fc.boolean() }),
  fc.record({ op: fc.constant('hostWrite' as const), page, value: byte }),
  fc.record({ op: fc.constant('hostRead' as const), page }),
);

function makeVm(type: 'sw-protected' | 'tdx', discard: boolean) {
  const sim = scenario([], {
    hostMemory: '256M',
    vms: [{ name: 'g', type, memory: '4M', program: '_start: hlt', discard_on_convert: discard, ...(type === 'tdx' ? { tdx: { firmware_accept: 0 } } : {}) }],
  });
  const v = sim.vmms.get('g')!;
  return { sim, v, vm: v.vm, vcpu: v.vcpus[0], mem: sim.host.memory };
}
type World = ReturnType<typeof makeVm>;

/**
 * A guest access of the given kind (private = shared bit clear in a TD). Exits are answered as the
 * VMM's loop does (implicit conversion on KVM_EXIT_MEMORY_FAULT); a TD accepts a private page
 * before using it, as Linux does.
 */
function guestPage(w: World, gpa: number, priv: boolean, access: 'read' | 'write'): Uint8Array {
  const td = w.vm.td;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      if (td && priv) {
        const r = new Regs({ rax: TDG_MEM_PAGE_ACCEPT, rcx: gpa });
        w.vcpu.tdcall(r);
        expect([TDX_SUCCESS, TDX_PAGE_ALREADY_ACCEPTED]).toContain(r.get('rax'));
      }
    } catch (e) {
      if (!(e instanceof KvmExitSignal)) throw e;
      convertOnFault(w, e);
      continue;
    }
    const t = touch(w.vcpu, td && !priv ? gpa + td.sharedBit : gpa, access);
    if (t.kind === 'ok') return t.page;
    if (t.kind !== 'exit') throw new Error(`guest access ended in ${t.kind}`);
    convertOnFault(w, t.signal);
  }
  throw new Error('the access did not settle after conversions');
}

function convertOnFault(w: World, s: KvmExitSignal): void {
  expect(s.errno).toBe('EFAULT');
  if (s.exit.reason !== 'KVM_EXIT_MEMORY_FAULT') throw new Error(`unexpected exit ${s.exit.reason}`);
  const f = s.exit.memory_fault;
  expect(w.v.convertMemory(f.gpa, f.size, (f.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE) !== 0, 'implicit')).toBe(0);
}

function apply(w: World, o: Op): void {
  const gpa = BASE + o.page * PAGE;
  switch (o.op) {
    case 'attr': {
      const size = Math.min(o.count, NPAGES - o.page) * PAGE;
      if (o.how === 'ioctl') expect(w.vm.setMemoryAttributes({ address: gpa, size, attributes: o.priv ? 8 : 0 })).toBe(0);
      else expect(w.v.convertMemory(gpa, size, o.priv, 'property test')).toBe(0);
      return;
    }
    case 'punch':
      w.v.gmem!.fallocate(PUNCH, gpa, Math.min(o.count, NPAGES - o.page) * PAGE);
      return;
    case 'guestWrite':
      guestPage(w, gpa, o.priv, 'write')[o.page] = o.value;
      return;
    case 'guestRead':
      guestPage(w, gpa, o.priv, 'read');
      return;
    case 'hostWrite':
      w.v.process.write(w.v.gpaToHva(gpa + o.page)!, Uint8Array.of(o.value));
      return;
    case 'hostRead':
      w.v.process.read(w.v.gpaToHva(gpa)!, 1);
      return;
  }
}

/** The VMM never has a page-table entry to a guest_memfd frame; KVM maps what the attribute selects. */
function checkOwnership(w: World): void {
  const { v, vm, mem } = w;
  for (const b of v.ram) {
    v.process.forEachPresent(b.hva, b.size, (_hva, frame) => {
      expect(mem.owner[frame]).not.toBe(FrameOwner.GuestMemfd);
      expect(mem.owner[frame]).toBe(FrameOwner.ProcessAnon);
    });
  }
  const npages = v.ram[0].size / PAGE;
  for (let gfn = 0; gfn < npages; gfn++) {
    const ept = vm.mmu.eptFrame(gfn);
    const gmemFrame = v.gmem!.frameAt(gfn);
    if (ept >= 0) {
      if (!vm.td && vm.isPrivate(gfn)) {
        expect(ept).toBe(gmemFrame);
      } else {
        // A shared EPT entry points at the VMM's own page for that GFN.
        expect(mem.owner[ept]).toBe(FrameOwner.ProcessAnon);
        expect(ept).toBe(v.process.lookup(v.gpaToHva(gfn * PAGE)!));
      }
    }
    if (vm.td) {
      const e = vm.td.sept.get(gfn);
      if (septState(e) !== Sept.FREE) {
        expect(vm.isPrivate(gfn)).toBe(true);
        expect(septFrame(e)).toBe(gmemFrame);
        expect(mem.owner[septFrame(e)]).toBe(FrameOwner.GuestMemfd);
      }
    }
  }
}

describe('property 1: the VMM never maps guest_memfd memory', () => {
  for (const type of ['sw-protected', 'tdx'] as const) {
    for (const discard of [true, false]) {
      it(`${type}, discard_on_convert ${discard}`, () => {
        fc.assert(
          fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
            const w = makeVm(type, discard);
            checkOwnership(w);
            for (const o of ops) {
              apply(w, o);
              checkOwnership(w);
            }
          }),
          { numRuns: 25, seed: 0x5eed + (type === 'tdx' ? 1 : 0) + (discard ? 2 : 0) },
        );
      });
    }
  }
});

describe('property 2: the content rules of DOMAIN.md §3 (software-protected VM, no discard)', () => {
  it('shared by default; private writes invisible to the host; back to shared shows old shared bytes; punched private reads zeros', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => {
        const w = makeVm('sw-protected', false);
        const isPriv = new Array<boolean>(NPAGES).fill(false);
        const shared = new Array<number>(NPAGES).fill(0);
        const priv = new Array<number>(NPAGES).fill(0);
        const hostSees = (p: number): number => w.v.process.read(w.v.gpaToHva(BASE + p * PAGE + p)!, 1)[0];
        // The guest's access kind follows the attribute, as in private_mem_conversions_test.
        const guestSees = (p: number): number => guestPage(w, BASE + p * PAGE, isPriv[p], 'read')[p];
        for (const o of ops) {
          switch (o.op) {
            case 'attr':
              apply(w, { ...o, how: 'ioctl' });
              for (let p = o.page; p < Math.min(o.page + o.count, NPAGES); p++) isPriv[p] = o.priv;
              break;
            case 'punch':
              apply(w, o);
              for (let p = o.page; p < Math.min(o.page + o.count, NPAGES); p++) priv[p] = 0;
              break;
            case 'guestWrite':
              guestPage(w, BASE + o.page * PAGE, isPriv[o.page], 'write')[o.page] = o.value;
              if (isPriv[o.page]) priv[o.page] = o.value;
              else shared[o.page] = o.value;
              break;
            case 'hostWrite':
              apply(w, o);
              shared[o.page] = o.value;
              break;
            case 'guestRead':
              // Rules 1, 3, 4: the guest sees the view its attribute selects.
              expect(guestSees(o.page)).toBe(isPriv[o.page] ? priv[o.page] : shared[o.page]);
              break;
            case 'hostRead':
              // Rules 1, 2, 3: the host's mapping only ever shows the shared view.
              expect(hostSees(o.page)).toBe(shared[o.page]);
              break;
          }
        }
        for (let p = 0; p < NPAGES; p++) {
          expect(hostSees(p)).toBe(shared[p]);
          expect(guestSees(p)).toBe(isPriv[p] ? priv[p] : shared[p]);
        }
      }),
      { numRuns: 60, seed: 0xc0ffee },
    );
  });
});

describe('property 3: determinism', () => {
  const outcome = (doc: unknown): string => {
    try {
      return JSON.stringify(ScenarioRun.fromJson(doc).runAll());
    } catch (e) {
      return `threw: ${String(e)}`;
    }
  };

  it.each(Object.keys(PRESETS))('preset %s gives the same report twice', (id) => {
    const input = HEAVY_PRESETS.has(id) ? withInstructionCap(PRESETS[id], 200_000) : PRESETS[id];
    const a = JSON.stringify(ScenarioRun.fromJson(input).runAll());
    const b = JSON.stringify(ScenarioRun.fromJson(input).runAll());
    expect(a).toBe(b);
    expect(a.length).toBeGreaterThan(1000);
  });

  const stepArb: fc.Arbitrary<StepIn> = fc.oneof(
    fc.record({ do: fc.constant('run'), vm: fc.constant('g'), max_instructions: fc.integer({ min: 1, max: 120 }) }),
    fc.record({ do: fc.constant('convert'), vm: fc.constant('g'), gpa: page.map((p) => BASE + p * PAGE), size: count.map((c) => c * PAGE), to: fc.constantFrom('private', 'shared') }),
    fc.record({ do: fc.constant('host_read'), vm: fc.constant('g'), gpa: page.map((p) => BASE + p * PAGE), length: fc.integer({ min: 1, max: 32 }), via: fc.constantFrom('vmm_mapping', 'physical', 'guest_memfd') }),
    fc.record({ do: fc.constant('host_write'), vm: fc.constant('g'), gpa: page.map((p) => BASE + p * PAGE + 0x80), data: fc.constantFrom('x', 'hello', 'hex:de ad'), via: fc.constantFrom('vmm_mapping', 'physical') }),
    fc.record({ do: fc.constant('interrupt'), vm: fc.constant('g') }),
  );
  // A guest that keeps writing its pages, so that runs interleave with the host's steps.
  const program = ['_start: mov rdi, 0x200000', '.l: mov byte [rdi], 0x41', 'add rdi, 0x1000', 'cmp rdi, 0x208000', 'jb .l', 'jmp _start'];

  it('a random scenario gives the same report twice', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('default', 'sw-protected', 'tdx'), fc.boolean(), fc.integer({ min: 0, max: 1000 }), fc.array(stepArb, { minLength: 1, maxLength: 12 }),
        (type, discard, seed, steps) => {
          const doc = scenarioDoc(steps, {
            seed, hostMemory: '256M',
            vms: [{ name: 'g', type, memory: '4M', program, discard_on_convert: discard, ...(type === 'tdx' ? { tdx: { firmware_accept: '4M' } } : {}) }],
          });
          expect(outcome(doc)).toBe(outcome(JSON.parse(JSON.stringify(doc))));
        },
      ),
      { numRuns: 20, seed: 42 },
    );
  });
});
