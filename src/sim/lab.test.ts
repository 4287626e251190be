import { describe, expect, test } from 'vitest';
import { PRESETS } from '../scenarios';
import { frameOwners, pageStates } from './inspect';
import { Lab, snapshotKeyframes } from './lab';
import TWO_HOSTS from '../../e2e/fixtures/two-hosts.json';

describe('Lab.hostFrameOwners', () => {
  test('patching only the changed frames keeps the map equal to a full rebuild, slice after slice', () => {
    const lab = new Lab(PRESETS['lazy-accept']);
    const kept = lab.hostFrameOwners('host0');
    let slices = 0;
    let patched = 0;
    while (!lab.done && slices++ < 400) {
      lab.advance(500);
      const before = kept.slice();
      lab.hostFrameOwners('host0', kept);
      if (Buffer.compare(Buffer.from(before), Buffer.from(kept)) !== 0) patched++;
      const full = frameOwners(lab.run.host, lab.run.kvm.vms, new Uint8Array(kept.length));
      expect(Buffer.compare(Buffer.from(kept), Buffer.from(full))).toBe(0);
    }
    expect(lab.done).toBe(true);
    expect(patched).toBeGreaterThan(0);
  });
});

describe('Lab.hostFrameOwners after seeks', () => {
  test.each(['lazy-accept', 'two-hosts', 'platform-talk'])('%s: a seek (a keyframe loaded in place) logs the frames whose owner it changed, and the patched map equals a full rebuild', (id) => {
    const lab = new Lab(PRESETS[id], { snapshot: snapshotKeyframes(PRESETS[id]), keyframeEvery: 500 });
    while (!lab.done) lab.advance(300);
    const kept = new Map(lab.run.world.hosts.map((h) => [h.name, lab.hostFrameOwners(h.name)]));
    const end = lab.run.trace.count;
    let seed = 99;
    let logged = 0;
    for (let i = 0; i < 30; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      lab.seek(Math.floor((seed / 2 ** 32) * end));
      for (const h of lab.run.world.hosts) {
        // What the seek logged (null: too many, a full rebuild), looked at before the lab takes it.
        const m = h.host.memory as unknown as { ownerLogOverflow: boolean };
        if (!m.ownerLogOverflow) logged++;
        const a = lab.hostFrameOwners(h.name, kept.get(h.name));
        const full = frameOwners(h.host, h.kvm.vms, new Uint8Array(a.length));
        expect(Buffer.compare(Buffer.from(a), Buffer.from(full)), `${h.name} after seek ${i}`).toBe(0);
      }
    }
    expect(logged).toBeGreaterThan(10);
  });
});

describe('Lab.pageStates', () => {
  test.each(['lazy-accept', 'shared-buffer', 'selftest-by-hand'])('%s: recomputing only the written chunks keeps every map equal to a full rebuild', (id) => {
    const lab = new Lab(PRESETS[id]);
    const kept = new Map<string, Uint8Array>();
    let slices = 0;
    let patched = 0;
    while (!lab.done && slices++ < 400) {
      lab.advance(300);
      for (const vm of lab.run.kvm.vms) {
        const before = kept.get(vm.name)?.slice();
        const { states: a, from, to } = lab.updatePageStates({ host: 'host0', vm: vm.name }, kept.get(vm.name));
        kept.set(vm.name, a);
        if (before && before.length === a.length && Buffer.compare(Buffer.from(before), Buffer.from(a)) !== 0) patched++;
        // Outside the range it reports, nothing changed (a viewer repaints only that range).
        if (before && before.length === a.length) {
          for (let g = 0; g < a.length; g++) if (g < from || g >= to) expect(a[g], `${vm.name} GFN ${g} outside [${from}, ${to})`).toBe(before[g]);
        } else expect([from, to]).toEqual([0, a.length]);
        const full = pageStates(vm, new Uint8Array(a.length), 0, a.length);
        expect(Buffer.compare(Buffer.from(a), Buffer.from(full)), `${vm.name} after slice ${slices}`).toBe(0);
      }
    }
    expect(lab.done).toBe(true);
    expect(patched).toBeGreaterThan(0);
  });
});

describe('Lab.pageStates after seeks', () => {
  test.each(['lazy-accept', 'shared-buffer', 'selftest-by-hand', 'two-hosts'])('%s: after each seek (a keyframe restored in place) the patched map equals a full rebuild, and nothing outside the range it reports changed', (id) => {
    const lab = new Lab(PRESETS[id], { snapshot: snapshotKeyframes(PRESETS[id]), keyframeEvery: 500 });
    while (!lab.done) lab.advance(300);
    const kept = new Map<string, Uint8Array>();
    const end = lab.run.trace.count;
    let seed = 12345;
    let partial = 0;
    for (let i = 0; i < 40; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      lab.seek(Math.floor((seed / 2 ** 32) * end));
      for (const h of lab.run.world.hosts) for (const vm of h.kvm.vms) {
        const key = `${h.name}/${vm.name}`;
        const before = kept.get(key)?.slice();
        const { states: a, from, to } = lab.updatePageStates({ host: h.name, vm: vm.name }, kept.get(key));
        kept.set(key, a);
        if (before && before.length === a.length) {
          for (let g = 0; g < a.length; g++) if (g < from || g >= to) expect(a[g], `${key} GFN ${g} outside [${from}, ${to})`).toBe(before[g]);
          if (to - from < a.length) partial++;
        }
        const full = pageStates(vm, new Uint8Array(a.length), 0, a.length);
        expect(Buffer.compare(Buffer.from(a), Buffer.from(full)), `${key} after seek ${i}`).toBe(0);
      }
    }
    // With maps of several chunks, most seeks patched part of the map, not all of it.
    if (id === 'lazy-accept' || id === 'two-hosts') expect(partial).toBeGreaterThan(10);
  });
});

describe('Lab.stateVersion', () => {
  test.each(['lazy-accept', 'shared-buffer', 'selftest-by-hand', 'platform-upstream'])('%s: an unchanged version means unchanged page states, and events that change no page leave it', (id) => {
    const lab = new Lab(PRESETS[id]);
    const last = new Map<string, { version: string; states: Uint8Array; events: number }>();
    let slices = 0;
    let quietWithEvents = 0;
    while (!lab.done && slices++ < 400) {
      lab.advance(300);
      for (const vm of lab.run.kvm.vms) {
        const version = lab.stateVersion({ host: 'host0', vm: vm.name });
        const states = pageStates(vm, new Uint8Array(lab.updatePageStates({ host: 'host0', vm: vm.name }).states.length));
        const events = lab.run.trace.count;
        const before = last.get(vm.name);
        if (before && before.version === version) {
          expect(Buffer.compare(Buffer.from(before.states), Buffer.from(states)), `${vm.name} after slice ${slices}`).toBe(0);
          if (events > before.events) quietWithEvents++;
        }
        last.set(vm.name, { version, states, events });
      }
    }
    expect(lab.done).toBe(true);
    // The version is finer than "any event happened" (what it was before): a VM's serial output or
    // port I/O, or the other VM's faults, need no new page states.
    expect(quietWithEvents).toBeGreaterThan(0);
  });
});

describe('the host\'s reads of a VM the scenario made by hand (no VMM)', () => {
  test('selftest-by-hand: through the test\'s own mapping, physical memory and the guest_memfd', () => {
    const lab = new Lab(PRESETS['selftest-by-hand']);
    while (!lab.done) lab.advance(10_000);
    // Slot 0 holds the guest code at GPA 0x1000, mapped by the test's "lowmem".
    const mapped = lab.command({ do: 'host_read', vm: 'vm', gpa: '0x1000', length: 16, via: 'vmm_mapping' });
    expect(mapped.ret).toBe(16);
    expect((mapped.value as { hex: string }).hex).not.toMatch(/^(00)+$/);
    const phys = lab.command({ do: 'host_read', vm: 'vm', gpa: '0x1000', length: 16, via: 'physical' });
    expect((phys.value as { hex: string }).hex).toBe((mapped.value as { hex: string }).hex);
    expect(lab.command({ do: 'host_read', vm: 'vm', gpa: '0x100000', length: 16, via: 'guest_memfd' })).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(lab.command({ do: 'host_read', vm: 'vm', gpa: '0x400000', length: 16, via: 'vmm_mapping' })).toMatchObject({ ret: -1, errno: 'EFAULT' });
    expect(() => lab.command({ do: 'host_read', vm: 'nobody', gpa: 0, length: 1, via: 'physical' })).toThrow(/no VM named "nobody" \(VMs: vm\)/);
  });
});

describe('lazy-accept', () => {
  test('the TD without SEPT_VE_DISABLE panics in its #VE handler and stops there, as the lesson says (no triple fault)', () => {
    const lab = new Lab(PRESETS['lazy-accept']);
    while (!lab.done) lab.advance(10_000);
    const last = lab.run.results.at(-1)!;
    expect(last.value).toMatchObject({ stop: 'panicked' });
    const events = lab.run.trace.events.filter((e) => e.vm === 'td-no-sept-ve-disable');
    expect(events.at(-1)).toMatchObject({ name: 'Kernel panic', text: 'Kernel panic - not syncing: Unexpected EPT-violation on private memory.' });
    expect(events.some((e) => e.name === 'KVM_EXIT_SHUTDOWN')).toBe(false);
  });
});

describe('Lab.stepExit', () => {
  test('host-reads-secret: each step to an exit stops at the next KVM exit to user space, one at a time', () => {
    const lab = new Lab(PRESETS['host-reads-secret']);
    const exits = () => lab.run.trace.events.filter((e) => e.name.startsWith('KVM_EXIT_')).length;
    let stops = 0;
    let guard = 0;
    while (!lab.done && guard++ < 500) {
      const before = exits();
      if (lab.stepExit()) {
        stops++;
        expect(exits()).toBe(before + 1);
        expect(lab.run.trace.last()!.name).toMatch(/^KVM_EXIT_/);
      }
    }
    expect(lab.done).toBe(true);
    // The ordinary VM's "secret stored" alone is 14 KVM_EXIT_IO: each was a stop of its own.
    expect(stops).toBe(exits());
    expect(stops).toBeGreaterThan(14);
  });
});

describe('a Lab over two hosts', () => {
  test("its frame lists every VM with its host, its events name theirs, and a walk ends in the VM's own host's frame", () => {
    const prog = ['_start:', '    mov byte [0x200000], 0x42', '    hlt'];
    const lab = new Lab({
      version: 2, title: 'two hosts',
      hosts: [{ name: 'src', memory: '512M' }, { name: 'dst', memory: '512M' }],
      vms: [{ name: 'a', host: 'src', type: 'default', memory: '16M', program: prog }, { name: 'b', host: 'dst', type: 'default', memory: '16M', program: prog }],
      steps: [{ do: 'run', vm: 'a' }, { do: 'run', vm: 'b' }],
    });
    while (!lab.done) lab.step();
    const f = lab.frame(-1, 10_000);
    expect(f.vms.map((v) => [v.name, v.host])).toEqual([['a', 'src'], ['b', 'dst']]);
    expect(new Set(f.events.filter((e) => e.vm === 'b').map((e) => e.host))).toEqual(new Set(['dst']));
    expect(new Set(f.events.filter((e) => e.vm === 'a').map((e) => e.host))).toEqual(new Set(['src']));
    const hop = lab.walk(lab.refOf('b'), 0x200000).find((h) => h.hop === 'frame')!;
    expect(hop.ok).toBe(true);
    const hpa = Number(hop.fields.hpa);
    expect(lab.run.world.host('dst').host.readPhys(hpa, 1).bytes[0]).toBe(0x42);
  });
});

describe('two hosts: {host, vm} is the identity', () => {
  // Two hosts, one VM each, a link, and a VM named "guest" made by hand on each host (names repeat).
  const done = () => {
    const lab = new Lab(TWO_HOSTS);
    while (!lab.done) lab.step();
    return lab;
  };

  test('the frame lists both hosts, the link, and each VM with its host', () => {
    const f = done().frame();
    expect(f.hosts.map((h) => [h.name, h.memory, h.frames])).toEqual([['host-a', 2 ** 30, 2 ** 18], ['host-b', 2 ** 31, 2 ** 19]]);
    expect(f.hosts.every((h) => h.framesUsed > 0 && h.framesUsed < h.frames)).toBe(true);
    expect(f.links).toEqual([{ name: 'wire', from: 'host-a', to: 'host-b', bandwidth: 2 ** 30, latency: 50000, state: 'up' }]);
    expect(f.vms.map((v) => [v.host, v.name, v.gfnCount])).toEqual([['host-a', 'web', 1024], ['host-a', 'guest', 256], ['host-b', 'db', 2048], ['host-b', 'guest', 512]]);
  });

  test('two VMs of one name on two hosts answer each for itself', () => {
    const lab = done();
    const a = { host: 'host-a', vm: 'guest' };
    const b = { host: 'host-b', vm: 'guest' };
    expect(lab.updatePageStates(a).states.length).toBe(256);
    expect(lab.updatePageStates(b).states.length).toBe(512);
    // Each host's KVM numbers its own fds: the two versions may be equal strings, which is why the
    // worker keys its arrays and versions by host and name.
    expect(lab.stateVersion(a)).toMatch(/^12:/);
    // The cache is per {host, vm}: asking about one never returns the other's array.
    const keptA = lab.updatePageStates(a).states;
    expect(lab.updatePageStates(b).states).not.toBe(keptA);
    expect(lab.walk(b, 0x1ff000).find((h) => h.hop === 'memslot')?.ok).toBe(true);
    expect(lab.walk(a, 0x1ff000).find((h) => h.hop === 'memslot')?.ok).toBe(false);
    expect(() => lab.refOf('guest')).toThrow(/several hosts \(host-a, host-b\)/);
    expect(lab.refOf('db')).toEqual({ host: 'host-b', vm: 'db' });
    expect(() => lab.walk({ host: 'host-a', vm: 'db' }, 0)).toThrow(/no VM named "db" on host "host-a"/);
    expect(() => lab.walk({ host: 'host-c', vm: 'db' }, 0)).toThrow(/no host named "host-c" \(hosts: host-a, host-b\)/);
  });

  test('each host has its own frame owners, version and frame info', () => {
    const lab = done();
    const [na, nb] = lab.run.world.hosts;
    const oa = lab.hostFrameOwners('host-a');
    const ob = lab.hostFrameOwners('host-b');
    expect(oa.length).toBe(2 ** 18);
    expect(ob.length).toBe(2 ** 19);
    expect(Buffer.compare(Buffer.from(oa), Buffer.from(frameOwners(na.host, na.kvm.vms, new Uint8Array(oa.length))))).toBe(0);
    expect(Buffer.compare(Buffer.from(ob), Buffer.from(frameOwners(nb.host, nb.kvm.vms, new Uint8Array(ob.length))))).toBe(0);
    // db's page at GPA 0x300000 is a frame of host-b, and only host-b says it backs db.
    const hpa = lab.walk({ host: 'host-b', vm: 'db' }, 0x300000).find((h) => h.hop === 'frame')!.fields.hpa as string;
    const frame = Number.parseInt(hpa.slice(2), 16) / 4096;
    expect(lab.frameInfo('host-b', frame)).toMatchObject({ vm: 'db', gpa: '0x300000' });
    expect(lab.frameInfo('host-a', frame).vm).not.toBe('db');
    expect(() => lab.frameInfo('host-a', 2 ** 18)).toThrow(/not in host "host-a"'s memory/);
    // Frames host-b allocates change host-b's version, and the array patched in place equals a rebuild.
    const vb = lab.hostVersion('host-b');
    lab.command({ do: 'mmap', host: 'host-b', length: '1M', as: 'more' });
    lab.command({ do: 'host_write', vm: 'db', gpa: '0x500000', data: 'x', via: 'vmm_mapping' });
    expect(lab.hostVersion('host-b')).not.toBe(vb);
    expect(lab.hostFrameOwners('host-b', ob)).toBe(ob);
    expect(Buffer.compare(Buffer.from(ob), Buffer.from(frameOwners(nb.host, nb.kvm.vms, new Uint8Array(ob.length))))).toBe(0);
  });

  test('per-VM queries of a VMM\'s VM name its host', () => {
    const lab = done();
    expect(lab.attackSurface({ host: 'host-b', vm: 'db' })).toMatchObject({ vm: 'db', host: 'host-b' });
    expect(lab.attackSurface({ host: 'host-b', vm: 'guest' })).toBeNull();
    expect(() => lab.attackSurface({ host: 'host-a', vm: 'db' })).toThrow(/no VM named "db" on host "host-a"/);
    const maps = lab.vmmMappings({ host: 'host-b', vm: 'db' });
    expect(maps.flatMap((m) => m.guest.map((g) => g.gpa))).toEqual(expect.arrayContaining(['0x300000']));
  });
});

describe('vmmMappings', () => {
  /** The mappings counted page by page (the first slot, in the VM's order, whose userspace range holds a page backs it). */
  function pageByPage(lab: Lab, ref: { host: string; vm: string }) {
    const h = lab.run.world.hosts.find((x) => x.name === ref.host)!;
    const vm = h.kvm.vms.findLast((x) => x.name === ref.vm)!;
    const slots = [...vm.slots.values()];
    return vm.vmm.vmas.map((v) => {
      let resident = 0;
      const runs: [number, number][] = [];
      vm.vmm.forEachPresent(v.start, v.end - v.start, (hva) => {
        resident++;
        const slot = slots.find((s) => hva >= s.userspaceAddr && hva < s.userspaceAddr + s.npages * 4096);
        if (!slot) return;
        const gfn = slot.baseGfn + (hva - slot.userspaceAddr) / 4096;
        const last = runs[runs.length - 1];
        if (last && last[0] + last[1] === gfn) last[1]++;
        else runs.push([gfn, 1]);
      });
      return { resident, runs: runs.length, first: runs.slice(0, 64).map(([g, n]) => `0x${(g * 4096).toString(16)}+${n}`) };
    });
  }

  test.each(Object.keys(PRESETS).filter((id) => id !== 'four-gigabytes'))('%s: counted by runs, the same as page by page, all along the lesson', (id) => {
    const lab = new Lab(PRESETS[id]);
    let checked = 0;
    for (;;) {
      for (const vm of lab.run.world.hosts.flatMap((h) => h.kvm.vms.map((v) => ({ host: h.name, vm: v.name })))) {
        const got = lab.vmmMappings(vm).map((m) => ({ resident: m.resident, runs: m.guest.length + m.guestMore, first: m.guest.map((g) => `${g.gpa}+${g.pages}`) }));
        expect(got, `${id} ${vm.vm} at event ${lab.run.trace.count}`).toEqual(pageByPage(lab, vm));
        checked++;
      }
      if (lab.done) break;
      lab.advance(3000);
    }
    expect(checked).toBeGreaterThan(0);
  });
});

describe('Lab.stepProgress', () => {
  test.each(['lazy-accept', 'two-hosts', 'precopy-converges'])('%s: a step in progress says how far it is, in what it counts, and nothing between steps', (id) => {
    const lab = new Lab(PRESETS[id]);
    const units = new Set<string>();
    let prev: { step: number; done: number } | null = null;
    let slices = 0;
    expect(lab.stepProgress()).toBeNull();
    while (!lab.done && slices++ < 1_000_000) {
      lab.advance(5);
      const p = lab.stepProgress();
      const at = lab.position;
      if (!p) {
        prev = null;
        continue;
      }
      units.add(p.unit);
      units.add(lab.scenario.steps[p.step].do);
      expect(p.step).toBe(at.step);
      expect(p.total).toBeGreaterThan(0);
      expect(p.done).toBeGreaterThanOrEqual(0);
      expect(p.done).toBeLessThanOrEqual(p.total);
      if (p.unit === 'instructions') expect(p.done).toBe(at.instr);
      if (prev && prev.step === p.step) expect(p.done).toBeGreaterThanOrEqual(prev.done);
      prev = { step: p.step, done: p.done };
      expect(lab.frame().stepProgress).toEqual(p);
    }
    expect(lab.done).toBe(true);
    expect(lab.stepProgress()).toBeNull();
    // Each lesson has a step of this kind that takes more than a slice: run, link_send with wait, run_until.
    expect(units.has(id === 'lazy-accept' ? 'instructions' : 'ns')).toBe(true);
    expect(units.has(id === 'lazy-accept' ? 'run' : id === 'two-hosts' ? 'link_send' : 'run_until')).toBe(true);
  });

  test('a raw KVM_RUN in progress counts its instructions out of its budget', () => {
    const lab = new Lab({
      version: 2, title: 'spin', hosts: [{ name: 'h', memory: '256M' }],
      steps: [
        { do: 'KVM_CREATE_VM', as: 'vm', type: 0 }, { do: 'mmap', length: '1M', as: 'mem' },
        { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, guest_phys_addr: 0, memory_size: '1M', userspace_addr: 'mem' },
        { do: 'KVM_CREATE_VCPU', vm: 'vm', id: 0 }, { do: 'load_program', vm: 'vm', gpa: '0x1000', program: ['_start:', '  add rax, 1', '  jmp _start'] },
        { do: 'KVM_RUN', vm: 'vm', max_instructions: 50_000 },
      ],
    });
    while (lab.position.step < 5) lab.advance(1_000);
    lab.advance(1_000);
    lab.advance(2_000);
    expect(lab.stepProgress()).toEqual({ step: 5, unit: 'instructions', done: 3_000, total: 50_000, bound: 'limit', what: 'instructions of vm vCPU 0 in one KVM_RUN' });
    while (!lab.done) lab.advance(7_000);
    expect(lab.stepProgress()).toBeNull();
    expect(lab.run.results[5]).toMatchObject({ ret: -1, errno: 'EINTR', value: { instructions: 50_000 } });
  });
});
