/**
 * The isolation invariants as fast-check properties over random operation sequences (issue 14).
 * One definition, two runners: src/sim/scenario/properties.test.ts runs each at least 100 times from
 * its seed in CI; `npm run fuzz` (bench/fuzz.ts) runs each 10,000 times and prints the counts.
 *
 * 1. `vmm-never-maps-gmem`: no page table of the VMM ever points at a guest_memfd frame, and KVM's
 *    mappings follow the backing each GFN's attribute selects (DOMAIN.md §3);
 * 2. `content-rules`: what guest and host read after conversions (KVM_SET_MEMORY_ATTRIBUTES) and
 *    punched holes (fallocate PUNCH_HOLE) follows private_mem_conversions_test (DOMAIN.md §3);
 * 3. `no-host-read-of-private`: bytes a guest wrote to private memory never reach the host through
 *    the VMM's mapping or guest_memfd read(), and for a TD not through host physical memory either
 *    (the host's key reads zeros; DOMAIN.md §5) — while a software-protected VM, which encrypts
 *    nothing, shows them to a physical read (the control: the scan does find bytes that are there);
 * 4. `migration-stream`: a migration's stream carries an ordinary VM's plaintext (the destination
 *    holds the guest's secret once it completes) but never a TD's: on no host, in no view, before,
 *    during or after a migration. A TD's `migrate` refused (upstream: no dirty logging on
 *    guest_memfd) leaves the rest of the run to check; a TD design the `migrate` step offers (an enum
 *    field it grows) is drawn too, so a TD migration is covered as soon as one exists;
 * 5. `determinism`: the same scenario gives the same report, byte for byte.
 *
 * Checks throw plain Errors (no vitest here: bench/fuzz.ts runs these outside a test runner).
 */
import fc from 'fast-check';
import { TDG_MEM_PAGE_ACCEPT, TDX_PAGE_ALREADY_ACCEPTED, TDX_SUCCESS } from './abi/tdx';
import { SysError } from './core/errno';
import { PAGE_SIZE } from './core/units';
import { FrameOwner } from './host/physmem';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from './kvm/guest-memfd';
import { KvmExitSignal } from './kvm/run';
import { KVM_MEMORY_EXIT_FLAG_PRIVATE } from './kvm/uapi';
import { ScenarioError } from './scenario/fields';
import { ScenarioRun, type StepResult } from './scenario/runner';
import { STEP_BY_KIND } from './scenario/steps';
import { Sept, septFrame, septState } from './tdx/sept';
import { Regs, scenario, scenarioDoc, touch, type StepIn } from './test-helpers';
import type { VmmVm } from './vmm/vmm';

/** What the runs of an invariant covered, by name (printed by npm run fuzz, asserted by the tests). */
export type Tally = Map<string, number>;
const count = (t: Tally, what: string) => t.set(what, (t.get(what) ?? 0) + 1);

export interface Invariant {
  name: string;
  /** The claim, one line. */
  claim: string;
  /** The CI seed. */
  seed: number;
  /** The property; each run adds what it covered to `tally`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each invariant draws its own tuple
  property(tally: Tally): fc.IProperty<any>;
}

function check(ok: boolean, what: () => string): asserts ok {
  if (!ok) throw new Error(what());
}

// ---- a small VM driven by hand (the ops of private_mem_conversions_test) -----------------------

const PAGE = PAGE_SIZE;
const BASE = 0x200000; // the pages the ops play with: [BASE, BASE + NPAGES * PAGE)
const NPAGES = 8;
const PUNCH = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

export type Op =
  | { op: 'attr'; page: number; count: number; priv: boolean; how: 'ioctl' | 'vmm' }
  | { op: 'punch'; page: number; count: number }
  | { op: 'guestWrite'; page: number; priv: boolean; value: number }
  | { op: 'guestRead'; page: number; priv: boolean }
  | { op: 'hostWrite'; page: number; value: number }
  | { op: 'hostRead'; page: number };

const pageArb = fc.integer({ min: 0, max: NPAGES - 1 });
const countArb = fc.integer({ min: 1, max: 3 });
const byteArb = fc.integer({ min: 1, max: 255 });
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('attr' as const), page: pageArb, count: countArb, priv: fc.boolean(), how: fc.constantFrom('ioctl' as const, 'vmm' as const) }),
  fc.record({ op: fc.constant('punch' as const), page: pageArb, count: countArb }),
  fc.record({ op: fc.constant('guestWrite' as const), page: pageArb, priv: fc.boolean(), value: byteArb }),
  fc.record({ op: fc.constant('guestRead' as const), page: pageArb, priv: fc.boolean() }),
  fc.record({ op: fc.constant('hostWrite' as const), page: pageArb, value: byteArb }),
  fc.record({ op: fc.constant('hostRead' as const), page: pageArb }),
);

export function makeVm(type: 'sw-protected' | 'tdx', discard: boolean) {
  const sim = scenario([], {
    hostMemory: '256M',
    vms: [{ name: 'g', type, memory: '4M', program: '_start: hlt', discard_on_convert: discard, ...(type === 'tdx' ? { tdx: { firmware_accept: 0 } } : {}) }],
  });
  const v = sim.vmms.get('g')!;
  return { sim, v, vm: v.vm, vcpu: v.vcpus[0], mem: sim.host.memory };
}
export type HandVm = ReturnType<typeof makeVm>;

/**
 * A guest access of the given kind (private = shared bit clear in a TD). Exits are answered as the
 * VMM's loop does (implicit conversion on KVM_EXIT_MEMORY_FAULT); a TD accepts a private page
 * before using it, as Linux does. Returns the page's bytes as the guest sees them.
 */
export function guestPage(w: HandVm, gpa: number, priv: boolean, access: 'read' | 'write'): Uint8Array {
  const td = w.vm.td;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      if (td && priv) {
        const r = new Regs({ rax: TDG_MEM_PAGE_ACCEPT, rcx: gpa });
        w.vcpu.tdcall(r);
        const rax = r.get('rax');
        check(rax === TDX_SUCCESS || rax === TDX_PAGE_ALREADY_ACCEPTED, () => `TDG.MEM.PAGE.ACCEPT of ${gpa.toString(16)} returned ${rax.toString(16)}`);
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

function convertOnFault(w: HandVm, s: KvmExitSignal): void {
  check(s.errno === 'EFAULT', () => `KVM_RUN failed with ${s.errno}, not EFAULT`);
  if (s.exit.reason !== 'KVM_EXIT_MEMORY_FAULT') throw new Error(`unexpected exit ${s.exit.reason}`);
  const f = s.exit.memory_fault;
  check(w.v.convertMemory(f.gpa, f.size, (f.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE) !== 0, 'implicit') === 0, () => 'the implicit conversion failed');
}

export function apply(w: HandVm, o: Op): void {
  const gpa = BASE + o.page * PAGE;
  switch (o.op) {
    case 'attr': {
      const size = Math.min(o.count, NPAGES - o.page) * PAGE;
      const rc = o.how === 'ioctl' ? w.vm.setMemoryAttributes({ address: gpa, size, attributes: o.priv ? 8 : 0 }) : w.v.convertMemory(gpa, size, o.priv, 'property test');
      check(rc === 0, () => `${o.how === 'ioctl' ? 'KVM_SET_MEMORY_ATTRIBUTES' : 'kvm_convert_memory'} returned ${rc}`);
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
export function checkOwnership(w: HandVm): void {
  const { v, vm, mem } = w;
  for (const b of v.ram) {
    v.process.forEachPresent(b.hva, b.size, (hva, frame) => {
      check(mem.owner[frame] === FrameOwner.ProcessAnon, () => `the VMM's HVA ${hva.toString(16)} maps frame ${frame.toString(16)}, owned by ${mem.owner[frame]} (guest_memfd is ${FrameOwner.GuestMemfd}), not process memory`);
    });
  }
  const npages = v.ram[0].size / PAGE;
  for (let gfn = 0; gfn < npages; gfn++) {
    const ept = vm.mmu.eptFrame(gfn);
    const gmemFrame = v.gmem!.frameAt(gfn);
    if (ept >= 0) {
      if (!vm.td && vm.isPrivate(gfn)) {
        check(ept === gmemFrame, () => `private GFN ${gfn.toString(16)}: EPT frame ${ept} is not the guest_memfd page ${gmemFrame}`);
      } else {
        // A shared EPT entry points at the VMM's own page for that GFN.
        check(mem.owner[ept] === FrameOwner.ProcessAnon, () => `shared GFN ${gfn.toString(16)}: EPT frame ${ept} is not process memory`);
        check(ept === v.process.lookup(v.gpaToHva(gfn * PAGE)!), () => `shared GFN ${gfn.toString(16)}: EPT frame ${ept} is not the VMM's page`);
      }
    }
    if (vm.td) {
      const e = vm.td.sept.get(gfn);
      if (septState(e) !== Sept.FREE) {
        check(vm.isPrivate(gfn), () => `GFN ${gfn.toString(16)} is shared but has a Secure-EPT entry`);
        check(septFrame(e) === gmemFrame, () => `GFN ${gfn.toString(16)}: the Secure EPT maps ${septFrame(e)}, guest_memfd holds ${gmemFrame}`);
        check(mem.owner[septFrame(e)] === FrameOwner.GuestMemfd, () => `GFN ${gfn.toString(16)}: the Secure EPT maps a frame guest_memfd does not own`);
      }
    }
  }
}

// ---- finding a guest's bytes wherever the host can read ----------------------------------------

/** Every offset in `hay` where `needle` starts. */
function includesBytes(hay: Uint8Array, needle: Uint8Array): boolean {
  const first = needle[0];
  for (let i = hay.indexOf(first); i >= 0 && i + needle.length <= hay.length; i = hay.indexOf(first, i + 1)) {
    let k = 1;
    while (k < needle.length && hay[i + k] === needle[k]) k++;
    if (k === needle.length) return true;
  }
  return false;
}

/**
 * Every page a privileged host can read, as it reads it: each VMM's mapping of guest RAM (the pages
 * it has), host physical memory with the host's key (every frame with contents; the rest read as
 * zeros), and guest_memfd read(), which must fail. `fn` gets where and the bytes. Checks on the way
 * that no VMM maps a guest_memfd frame.
 */
export function forEachHostView(hosts: readonly { name: string; host: { memory: { storedFrames(): IterableIterator<number>; readonly owner: Uint8Array }; readPhys(hpa: number, len: number): { bytes: Uint8Array } }; vmms: ReadonlyMap<string, VmmVm> }[],
  fn: (where: string, bytes: Uint8Array) => void): void {
  for (const node of hosts) {
    for (const [name, v] of node.vmms) {
      for (const b of v.ram) {
        v.process.forEachPresent(b.hva, b.size, (hva, frame) => {
          // No VMM page table points at a guest_memfd frame (on any host, migrated or not).
          check(node.host.memory.owner[frame] !== FrameOwner.GuestMemfd, () => `${node.name}: the VMM of "${name}" maps guest_memfd frame 0x${frame.toString(16)} at HVA 0x${hva.toString(16)}`);
          fn(`${node.name}: the VMM's mapping of "${name}" at HVA 0x${hva.toString(16)}`, v.process.read(hva, PAGE));
        });
      }
      if (v.gmem) {
        try {
          v.gmem.readOrWrite('read');
          throw new Error(`${node.name}: read() on the guest_memfd of "${name}" succeeded`);
        } catch (e) {
          if (!(e instanceof SysError)) throw e;
        }
      }
    }
    for (const f of [...node.host.memory.storedFrames()]) fn(`${node.name}: host-physical 0x${(f * PAGE).toString(16)}`, node.host.readPhys(f * PAGE, PAGE).bytes);
  }
}

/** Guest writes of invariant 3 leave an 8-byte marker: "SeCr", the write's id, the page. */
const MARK = [0x53, 0x65, 0x43, 0x72];
const MARK_AT = 0x800;
function marker(id: number, page: number): Uint8Array {
  return Uint8Array.of(...MARK, id & 0xff, id >>> 8, page, 0xa5);
}
function markersIn(bytes: Uint8Array, into: Set<number>): void {
  for (let i = bytes.indexOf(MARK[0]); i >= 0 && i + 8 <= bytes.length; i = bytes.indexOf(MARK[0], i + 1))
    if (bytes[i + 1] === MARK[1] && bytes[i + 2] === MARK[2] && bytes[i + 3] === MARK[3] && bytes[i + 7] === 0xa5) into.add(bytes[i + 4] | (bytes[i + 5] << 8));
}

// ---- the invariants -----------------------------------------------------------------------------

const vmmNeverMapsGmem: Invariant = {
  name: 'vmm-never-maps-gmem',
  claim: "no VMM page table points at a guest_memfd frame; KVM maps the backing the GFN's attribute selects",
  seed: 0x5eed,
  property: (tally) => fc.property(fc.constantFrom('sw-protected' as const, 'tdx' as const), fc.boolean(), fc.array(opArb, { minLength: 1, maxLength: 25 }), (type, discard, ops) => {
    const w = makeVm(type, discard);
    checkOwnership(w);
    for (const o of ops) {
      apply(w, o);
      checkOwnership(w);
    }
    count(tally, `${type}${discard ? ', discard_on_convert' : ''}`);
  }),
};

const contentRules: Invariant = {
  name: 'content-rules',
  claim: 'shared by default; private writes invisible to the host; back to shared shows the old shared bytes; a punched private page reads zeros',
  seed: 0xc0ffee,
  property: (tally) => fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => {
    const w = makeVm('sw-protected', false);
    const isPriv = new Array<boolean>(NPAGES).fill(false);
    const shared = new Array<number>(NPAGES).fill(0);
    const priv = new Array<number>(NPAGES).fill(0);
    const hostSees = (p: number): number => w.v.process.read(w.v.gpaToHva(BASE + p * PAGE + p)!, 1)[0];
    // The guest's access kind follows the attribute, as in private_mem_conversions_test.
    const guestSees = (p: number): number => guestPage(w, BASE + p * PAGE, isPriv[p], 'read')[p];
    const expectRead = (who: string, p: number, got: number, want: number) =>
      check(got === want, () => `${who} read page ${p} (${isPriv[p] ? 'private' : 'shared'}) as ${got}, expected ${want}`);
    for (const o of ops) {
      switch (o.op) {
        case 'attr':
          apply(w, { ...o, how: 'ioctl' });
          for (let p = o.page; p < Math.min(o.page + o.count, NPAGES); p++) {
            if (isPriv[p] && !o.priv) count(tally, 'converted back to shared');
            isPriv[p] = o.priv;
          }
          break;
        case 'punch':
          apply(w, o);
          for (let p = o.page; p < Math.min(o.page + o.count, NPAGES); p++) {
            if (isPriv[p]) count(tally, 'punched a private page');
            priv[p] = 0;
          }
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
          expectRead('the guest', o.page, guestSees(o.page), isPriv[o.page] ? priv[o.page] : shared[o.page]);
          break;
        case 'hostRead':
          // Rules 1, 2, 3: the host's mapping only ever shows the shared view.
          expectRead('the host', o.page, hostSees(o.page), shared[o.page]);
          if (isPriv[o.page] && priv[o.page] !== shared[o.page]) count(tally, 'host read a private page whose private bytes differ');
          break;
      }
    }
    for (let p = 0; p < NPAGES; p++) {
      expectRead('the host', p, hostSees(p), shared[p]);
      expectRead('the guest', p, guestSees(p), isPriv[p] ? priv[p] : shared[p]);
    }
  }),
};

const noHostReadOfPrivate: Invariant = {
  name: 'no-host-read-of-private',
  claim: "a guest's private bytes never reach the VMM's mapping or guest_memfd read(); a TD's never reach host physical reads either",
  seed: 0x5ec2e7,
  property: (tally) => fc.property(fc.constantFrom('sw-protected' as const, 'tdx' as const), fc.boolean(), fc.array(opArb, { minLength: 1, maxLength: 25 }), (type, discard, ops) => {
    const w = makeVm(type, discard);
    const privateIds = new Set<number>();
    let id = 0;
    const node = { name: 'host0', host: w.sim.host, vmms: w.sim.vmms };
    let physicalShowedPrivate = false;
    const scan = (after: string) => {
      forEachHostView([node], (where, bytes) => {
        const seen = new Set<number>();
        markersIn(bytes, seen);
        for (const s of seen) {
          if (!privateIds.has(s)) continue;
          const physical = where.includes('host-physical');
          if (physical && type === 'sw-protected') {
            physicalShowedPrivate = true;
            continue;
          }
          throw new Error(`after ${after}: private write #${s} is readable by the host (${where})`);
        }
      });
    };
    ops.forEach((o, k) => {
      if (o.op === 'guestWrite') {
        const gpa = BASE + o.page * PAGE;
        const bytes = guestPage(w, gpa, o.priv, 'write');
        // Where the write went: a TD's by its shared bit, a software-protected VM's by the attribute.
        const priv = w.vm.td ? o.priv : w.vm.isPrivate(gpa / PAGE);
        bytes.set(marker(id, o.page), MARK_AT + 8 * (id % 200));
        if (priv) privateIds.add(id);
        id++;
      } else apply(w, o);
      scan(`op ${k} (${JSON.stringify(o)})`);
    });
    if (privateIds.size) count(tally, `${type}: private bytes written`);
    if (physicalShowedPrivate) count(tally, 'sw-protected: a physical read shows private bytes (it encrypts nothing)');
  }),
};

// ---- migration -------------------------------------------------------------------------------------

/** The migrate step's enum fields beyond QEMU's own (a TD design, say), with their values: drawn so a new design is covered. */
function migrateDesignFields(): [string, string[]][] {
  const known = new Set(['do', 'vm', 'to', 'link', 'as', 'parameters', 'capabilities', 'note']);
  type Def = { type: string; innerType?: { _zod: { def: Def } }; entries?: Record<string, string> };
  const out: [string, string[]][] = [];
  const shape = (STEP_BY_KIND.get('migrate')?.schema as unknown as { shape: Record<string, { _zod: { def: Def } }> } | undefined)?.shape ?? {};
  for (const [k, s] of Object.entries(shape)) {
    if (known.has(k)) continue;
    let d = s._zod.def;
    while ((d.type === 'optional' || d.type === 'default') && d.innerType) d = d.innerType._zod.def;
    if (d.type === 'enum' && d.entries) out.push([k, Object.values(d.entries)]);
  }
  return out;
}

/** A guest program that writes `secret` into each of `pages` and halts; the image holds it only xor-ed, so the secret exists only where the guest wrote it. */
function secretWriter(secret: Uint8Array, key: number, pages: number[]): string[] {
  const lines = ['_start:'];
  pages.forEach((gpa, k) => {
    lines.push(`    lea rsi, [enc]`, `    mov rdi, 0x${gpa.toString(16)}`, `    mov rcx, ${secret.length}`,
      `.l${k}:`, '    mov al, [rsi]', `    xor al, ${key}`, '    mov [rdi], al', '    inc rsi', '    inc rdi', `    loop .l${k}`);
  });
  lines.push('    hlt', `enc: db ${[...secret].map((b) => `0x${(b ^ key).toString(16)}`).join(', ')}`);
  return lines;
}

const SECRET_PAGES = [0x200000, 0x201000, 0x240000, 0x3ff000];

const migrationStream: Invariant = {
  name: 'migration-stream',
  claim: "a migration stream carries an ordinary VM's plaintext to the destination, never a TD's: no host, no view, at any step",
  seed: 0x316,
  property: (tally) => {
    const designs = migrateDesignFields();
    const stepArb: fc.Arbitrary<StepIn> = fc.oneof(
      fc.record({ do: fc.constant('convert'), vm: fc.constant('g'), gpa: fc.constantFrom(...SECRET_PAGES), size: fc.constant(PAGE), to: fc.constantFrom('private', 'shared') }),
      fc.record({ do: fc.constant('host_read'), vm: fc.constant('g'), gpa: fc.constantFrom(...SECRET_PAGES), length: fc.constant(16), via: fc.constantFrom('vmm_mapping', 'physical', 'guest_memfd') }),
      fc.record({ do: fc.constant('host_write'), vm: fc.constant('g'), gpa: fc.constantFrom(...SECRET_PAGES.map((p) => p + 0x800)), data: fc.constant('x'), via: fc.constant('vmm_mapping') }),
    );
    return fc.property(
      fc.constantFrom('default' as const, 'tdx' as const),
      fc.uint8Array({ minLength: 12, maxLength: 12, min: 0x21, max: 0x7e }),
      fc.integer({ min: 1, max: 255 }),
      fc.subarray(SECRET_PAGES, { minLength: 1 }),
      fc.array(stepArb, { maxLength: 4 }),
      fc.array(stepArb, { maxLength: 3 }),
      fc.constantFrom('64MiB', '512MiB', '4GiB'),
      fc.tuple(...designs.map(([, values]) => fc.constantFrom(...values))),
      (type, secret, key, pages, before, after, bandwidth, designValues) => {
        const migrate: StepIn = { do: 'migrate', vm: 'g', to: 'dst', link: 'wan', parameters: { 'max-bandwidth': bandwidth } };
        // A design field is for a VM with private memory: an ordinary VM has no design to choose.
        if (type === 'tdx') designs.forEach(([field], k) => { migrate[field] = designValues[k]; });
        const wait: StepIn = { do: 'run_until', vm: 'g', status: ['completed', 'failed', 'cancelled'], time: '20s' };
        const onDst = after.map((s) => ({ ...s, vm: 'g@dst' }));
        const doc = (withMigration: boolean): Record<string, unknown> => ({
          ...scenarioDoc([{ do: 'run', vm: 'g' }, ...before, ...(withMigration ? [migrate, wait, ...onDst] : [])], {
            vms: [{ name: 'g', host: 'src', type, memory: '8M', program: secretWriter(secret, key, pages), ...(type === 'tdx' ? { tdx: { firmware_accept: '8M' } } : {}) }],
          }),
          hosts: [{ name: 'src', memory: '128M' }, { name: 'dst', memory: '128M' }],
          links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '10Gbit', latency: '50us' }],
        });
        let run: ScenarioRun;
        try {
          run = ScenarioRun.fromJson(doc(true));
        } catch (e) {
          // Refused before it ran: only the migration may be (a TD's, upstream), and then the rest runs.
          const steps = doc(true).steps as StepIn[];
          const onMigrate = (path: string) => steps[Number(/^\$\.steps\[(\d+)\]/.exec(path)?.[1] ?? -1)]?.do === 'migrate';
          if (!(e instanceof ScenarioError) || type === 'default' || !e.issues.every((x) => onMigrate(x.path))) throw e;
          count(tally, `${type}: migrate refused before the run (${e.issues[0].message.slice(0, 60)}…)`);
          run = ScenarioRun.fromJson(doc(false));
        }
        const visible = (): string[] => {
          const out: string[] = [];
          forEachHostView(run.world.hosts, (where, bytes) => {
            if (includesBytes(bytes, secret)) out.push(where);
          });
          return out;
        };
        const results: StepResult[] = [];
        while (!run.done) {
          const r = run.step();
          results.push(r);
          const seen = visible();
          if (type === 'tdx') {
            check(seen.length === 0, () => `after step ${r.step} (${r.do}): the TD's secret is readable by the host: ${seen.join('; ')}`);
            const hex = [...secret].map((b) => b.toString(16).padStart(2, '0')).join(' ');
            check(!JSON.stringify(r.value ?? null).includes(hex), () => `step ${r.step} (${r.do}) returned the TD's secret: ${JSON.stringify(r.value)}`);
          } else if (r.step === 0) {
            // The control: the scan finds an ordinary guest's secret where it is (its VMM's mapping).
            check(seen.some((s) => s.startsWith('src: the VMM')), () => `the ordinary guest's secret is not in its VMM's mapping: ${seen.join('; ') || 'nowhere'}`);
          }
        }
        const m = run.world.migrationOf('g');
        if (m) {
          count(tally, `${type}: migration ${m.status}`);
          // An ordinary VM's stream carries plaintext: once it completed, the destination has the secret.
          if (type === 'default' && m.status === 'completed')
            check(visible().some((s) => s.startsWith('dst: the VMM')), () => "a completed migration of an ordinary VM did not bring its secret to the destination's mapping");
        }
      },
    );
  },
};

// ---- determinism -------------------------------------------------------------------------------------

const determinism: Invariant = {
  name: 'determinism',
  claim: 'the same scenario (steps, seed) gives the same report, byte for byte',
  seed: 42,
  property: (tally) => {
    const stepArb: fc.Arbitrary<StepIn> = fc.oneof(
      fc.record({ do: fc.constant('run'), vm: fc.constant('g'), max_instructions: fc.integer({ min: 1, max: 120 }) }),
      fc.record({ do: fc.constant('convert'), vm: fc.constant('g'), gpa: pageArb.map((p) => BASE + p * PAGE), size: countArb.map((c) => c * PAGE), to: fc.constantFrom('private', 'shared') }),
      fc.record({ do: fc.constant('host_read'), vm: fc.constant('g'), gpa: pageArb.map((p) => BASE + p * PAGE), length: fc.integer({ min: 1, max: 32 }), via: fc.constantFrom('vmm_mapping', 'physical', 'guest_memfd') }),
      fc.record({ do: fc.constant('host_write'), vm: fc.constant('g'), gpa: pageArb.map((p) => BASE + p * PAGE + 0x80), data: fc.constantFrom('x', 'hello', 'hex:de ad'), via: fc.constantFrom('vmm_mapping', 'physical') }),
      fc.record({ do: fc.constant('interrupt'), vm: fc.constant('g') }),
    );
    // A guest that keeps writing its pages, so that runs interleave with the host's steps.
    const program = ['_start: mov rdi, 0x200000', '.l: mov byte [rdi], 0x41', 'add rdi, 0x1000', 'cmp rdi, 0x208000', 'jb .l', 'jmp _start'];
    const outcome = (doc: unknown): string => {
      try {
        return JSON.stringify(ScenarioRun.fromJson(doc).runAll());
      } catch (e) {
        return `threw: ${String(e)}`;
      }
    };
    return fc.property(
      fc.constantFrom('default', 'sw-protected', 'tdx'), fc.boolean(), fc.integer({ min: 0, max: 1000 }), fc.array(stepArb, { minLength: 1, maxLength: 12 }),
      (type, discard, seed, steps) => {
        const doc = scenarioDoc(steps, {
          seed, hostMemory: '256M',
          vms: [{ name: 'g', type, memory: '4M', program, discard_on_convert: discard, ...(type === 'tdx' ? { tdx: { firmware_accept: '4M' } } : {}) }],
        });
        const a = outcome(doc);
        const b = outcome(JSON.parse(JSON.stringify(doc)));
        check(a === b, () => `two runs of the same scenario differ:\n${a.slice(0, 400)}\n${b.slice(0, 400)}`);
        count(tally, a.startsWith('threw') ? 'refused' : 'ran');
      },
    );
  },
};

/**
 * Post-copy (issue 12): workloads, link speeds, preempt, the switch point, and a link cut with its
 * recovery drawn at random. Every page reaches the destination exactly once after the switch (by a
 * fault or in the background) and is the source's page when it arrives (content token and bytes:
 * the destination's guest writes its pages afterwards, so that is where they are compared); no vCPU
 * stays blocked once its page has arrived; the counters add up (requests = faults that went to the
 * network; every request sent reached the source or was lost with the link).
 */
const postcopyExactlyOnce: Invariant = {
  name: 'postcopy-exactly-once',
  claim: 'after a post-copy switch every page arrives exactly once, as the source had it, and no vCPU waits for a page that has arrived',
  seed: 0x9c0,
  property: (tally) => fc.property(
    fc.constantFrom('uniform' as const, 'hot-set' as const, 'sequential' as const),
    fc.constantFrom('8M', '32M'),
    fc.constantFrom('50Mbit', '200Mbit'),
    fc.constantFrom('100us', '1ms'),
    fc.boolean(),
    fc.integer({ min: 1, max: 2 }),
    fc.integer({ min: 0, max: 200 }),
    fc.option(fc.tuple(fc.integer({ min: 1, max: 150 }), fc.integer({ min: 1, max: 100 })), { nil: undefined }),
    // An ordinary VM, or a TD through the TDX module's out-of-order phase (KVM Userfault on dst).
    fc.constantFrom('default' as const, 'default' as const, 'tdx' as const),
    (pattern, rate, bandwidth, latency, preempt, vcpus, switchMs, cut, kind) => {
      const td = kind === 'tdx';
      const t0 = 20;
      const sw = t0 + switchMs;
      const steps: Record<string, unknown>[] = [
        { do: 'cont', vm: 'g' },
        { do: 'run_until', time: `${t0}ms` },
        { do: 'migrate', vm: 'g', to: 'dst', link: 'wan', capabilities: ['postcopy-ram', 'postcopy-blocktime', ...(preempt ? ['postcopy-preempt'] : [])], ...(td ? { td_design: 'tdx-module' } : {}) },
        ...(switchMs ? [{ do: 'run_until', time: `${sw}ms` }] : []),
        { do: 'migrate_start_postcopy', vm: 'g' },
        { do: 'run_until', vm: 'g', status: ['postcopy-active', 'completed'], time: '30s' },
      ];
      if (cut) {
        steps.push({ do: 'link_down', link: 'wan', after: `${cut[0]}ms` }, { do: 'run_until', vm: 'g', status: ['postcopy-paused', 'completed'], time: '30s' });
        steps.push({ do: 'link_up', link: 'wan', after: `${cut[1]}ms` }, { do: 'run_until', vm: 'g', status: 'completed', time: '10s' });
        steps.push({ do: 'migrate_recover', vm: 'g@dst' }, { do: 'migrate', vm: 'g', to: 'dst', link: 'wan', resume: true });
      }
      steps.push({ do: 'run_until', vm: 'g', status: 'completed', time: '60s' });
      const run = ScenarioRun.fromJson({
        version: 2, title: 'post-copy property', seed: 7,
        hosts: [{ name: 'src', memory: '128M' }, { name: 'dst', memory: '128M', ...(td ? { kernel_series: ['kvm-userfault'] } : {}) }],
        links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth, latency }],
        vms: [td
          ? { name: 'g', host: 'src', type: 'tdx', memory: '16M', vcpus, tdx: { firmware_accept: '2M' }, workload: { rate, pattern, base: '4M', working_set: '6M', cpu_bound: true } }
          : { name: 'g', host: 'src', type: 'default', memory: '16M', vcpus, workload: { rate, pattern, working_set: '6M', cpu_bound: true } }],
        steps,
      });
      run.runAll();
      const m = run.world.migrations[0];
      const inc = m.incoming;
      if (m.status === 'failed' && cut && inc.phase !== 'running' && inc.phase !== 'end') {
        // Cut before the destination got the device state: the source's copy is whole, and it runs on.
        check(m.vmms.src.runState === 'running', () => `the post-copy failed before the switch reached the destination, and the source is ${m.vmms.src.runState}`);
        count(tally, 'cut before the destination ran: failed, the source runs on');
        return;
      }
      check(m.status === 'completed', () => `the migration ended ${m.status} (${m.error})`);
      if (inc.phase === 'none' || inc.phase === 'advise') {
        count(tally, 'completed as a pre-copy before the switch');
        return;
      }
      count(tally, cut ? 'post-copy with a link cut and a recovery' : 'post-copy');
      if (td) {
        count(tally, 'a TD through the TDX module');
        const dtd = m.vmms.dst.vm.td!;
        check(dtd.mig.phase === 'imported', () => `the destination TD's import is ${dtd.mig.phase}, not ended (TDH.IMPORT.END)`);
        check((dtd.mig.duplicates ?? 0) === 0, () => `the destination's module dropped ${dtd.mig.duplicates} import(s) of pages it had`);
        check(m.stats.duplicate === 0, () => `${m.stats.duplicate} page(s) of a TD went as zero pages: the host cannot see a TD's zeros`);
      }
      const c = inc.counts;
      if (c.faults > 0) count(tally, 'a vCPU faulted');
      if (c.reRequested > 0) count(tally, 'a page was asked for again after the recovery');
      check(inc.received === m.npages, () => `${m.npages - inc.received} page(s) never arrived`);
      check(c.duplicates === 0, () => `${c.duplicates} page(s) arrived twice`);
      check(c.differentOnArrival === 0, () => `${c.differentOnArrival} page(s) arrived different from the source's`);
      check(c.requests === c.faults - c.wokenWithoutRequest, () => `requests ${c.requests} ≠ faults ${c.faults} − woken without a request ${c.wokenWithoutRequest}`);
      check(m.pc.requests + m.pc.requestsLost === c.requests + c.reRequested,
        () => `the source got ${m.pc.requests} request(s) and ${m.pc.requestsLost} were lost, but the destination sent ${c.requests + c.reRequested}`);
      const blocked = m.vmms.dst.threads.filter((t) => t.state === 'blocked');
      check(blocked.length === 0, () => `vCPU(s) ${blocked.map((t) => t.index).join(', ')} still blocked after every page arrived`);
    },
  ),
};

export const INVARIANTS: readonly Invariant[] = [vmmNeverMapsGmem, contentRules, noHostReadOfPrivate, migrationStream, determinism, postcopyExactlyOnce];

export interface InvariantRun {
  name: string;
  runs: number;
  failed: boolean;
  /** fast-check's report of a failure: the shrunk counterexample, the seed and path that replay it. */
  failure?: string;
  seed: number;
  tally: Tally;
}

/** Run one invariant `numRuns` times from `seed` (fast-check's own when undefined). */
export function checkInvariant(inv: Invariant, params: { numRuns: number; seed?: number }): InvariantRun {
  const tally: Tally = new Map();
  const d = fc.check(inv.property(tally), params);
  return {
    name: inv.name, runs: d.numRuns, failed: d.failed, seed: d.seed, tally,
    failure: d.failed ? `${d.errorInstance instanceof Error ? d.errorInstance.message : String(d.errorInstance)}\n${fc.defaultReportMessage(d)}` : undefined,
  };
}
