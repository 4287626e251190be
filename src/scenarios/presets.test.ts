import { beforeAll, describe, expect, test } from 'vitest';
import type { SimEvent } from '../sim/core/trace';
import { ScenarioRun, type Report, type StepResult } from '../sim/scenario/runner';
import { HEAVY_PRESETS, PRESETS, withInstructionCap } from './index';

/**
 * Each preset is a lesson; these tests check that the simulator still tells the story the lesson's
 * explanation and notes promise (results, errnos, exit reasons, what the host reads, the console,
 * the trace), and that a preset runs the same way every time.
 */

/** Heavy presets (gigabytes touched page by page) run with a capped instruction budget. */
function runPreset(id: string): { run: ScenarioRun; report: Report } {
  const run = ScenarioRun.fromJson(HEAVY_PRESETS.has(id) ? withInstructionCap(PRESETS[id], 200_000) : PRESETS[id]);
  return { run, report: run.runAll() };
}

/** The result of step i, checking that it is the kind of step the test expects. */
function step(r: Report, i: number, kind: string): StepResult {
  const s = r.results[i];
  expect(s, `step ${i}`).toBeDefined();
  expect(s.do, `step ${i}`).toBe(kind);
  return s;
}

function value(s: StepResult): Record<string, unknown> {
  expect(s.value).toBeTypeOf('object');
  return s.value as Record<string, unknown>;
}

/** The events a step emitted. */
function eventsOf(r: Report, s: StepResult): SimEvent[] {
  return r.events.filter((e) => e.seq >= s.events[0] && e.seq < s.events[1]);
}

function names(events: SimEvent[], vm?: string): string[] {
  return events.filter((e) => vm === undefined || e.vm === vm).map((e) => e.name);
}

function consoleOf(r: Report, vm: string): string {
  const v = r.summary.vms.find((x) => x.name === vm);
  expect(v, `VM ${vm} in the summary`).toBeDefined();
  return v!.console;
}

const ZEROS16 = Array(16).fill('00').join(' ');

test('the preset registry lists the lessons', () => {
  expect(Object.keys(PRESETS).sort()).toEqual(['dirty-ring', 'four-gigabytes', 'host-reads-secret', 'lazy-accept', 'msr-filter', 'platform-talk', 'platform-upstream', 'postcopy-faults', 'postcopy-link-failure', 'postcopy-private-memory', 'precopy-converges', 'precopy-dirty-limit', 'precopy-hot-set', 'selftest-by-hand', 'shared-buffer', 'td-migration', 'two-hosts']);
});

describe.each(Object.keys(PRESETS))('preset %s', (id) => {
  test('is a complete lesson: title, explanation and a note on every step', () => {
    const p = PRESETS[id] as { title: string; explanation: string; steps: { note?: string }[] };
    expect(p.title.length).toBeGreaterThan(0);
    expect(p.explanation.length).toBeGreaterThan(100);
    expect(p.steps.length).toBeGreaterThan(0);
    p.steps.forEach((s, i) => expect(s.note, `step ${i} has a note`).toBeTruthy());
  });

  test('asks at least one question before a step (predict, then see), each loaded as valid with its why', () => {
    const parsed = ScenarioRun.fromJson(HEAVY_PRESETS.has(id) ? withInstructionCap(PRESETS[id], 1) : PRESETS[id]).scenario;
    const asks = parsed.steps.flatMap((s, i) => (s.ask ? [{ i, ask: s.ask }] : []));
    expect(asks.length, 'questions').toBeGreaterThan(0);
    for (const { i, ask } of asks) {
      expect(ask.question, `step ${i}`).toMatch(/\?|…$/);
      expect(ask.why.length, `step ${i}'s why`).toBeGreaterThan(40);
      // The answer is not the question's own words: a choice question has at least two real choices.
      if (ask.choices) expect(new Set(ask.choices).size, `step ${i}`).toBeGreaterThan(1);
    }
  });

  test('gives byte-identical reports twice', () => {
    const a = JSON.stringify(runPreset(id).report);
    const b = JSON.stringify(runPreset(id).report);
    expect(b).toBe(a);
  });
});

describe('host-reads-secret', () => {
  let r: Report;
  beforeAll(() => {
    r = runPreset('host-reads-secret').report;
  });

  test('the ordinary VM leaks the secret, the TD does not', () => {
    expect(value(step(r, 2, 'host_read')).text).toBe('TOP-SECRET-KEY=42');
    expect(value(step(r, 3, 'host_read')).text).toBe('TOP-SECRET-KEY=42');
    expect(step(r, 4, 'host_read')).toMatchObject({ ret: -1, errno: 'EINVAL' });
    const viaMapping = value(step(r, 5, 'host_read'));
    expect(viaMapping.hex).toBe(Array(17).fill('00').join(' '));
    const phys = value(step(r, 6, 'host_read'));
    expect(phys.hex).toBe(Array(17).fill('00').join(' '));
    expect(phys.td_owned_lines).toBeGreaterThan(0);
    expect(consoleOf(r, 'ordinary')).toBe('secret stored\n');
    expect(consoleOf(r, 'td')).toBe('secret stored\n');
  });
});

describe('shared-buffer', () => {
  const K = 'td-keep';
  const D = 'td-discard';
  const MESSAGE = 'HELLO, HOST (TD)';
  const SECRET = 'td-only secret!!';
  let r: Report;
  beforeAll(() => {
    r = runPreset('shared-buffer').report;
  });

  test('the two TDs differ only in discard_on_convert', () => {
    const vms = (PRESETS['shared-buffer'] as { vms: { name: string; discard_on_convert: boolean; program: string[] }[] }).vms;
    expect(vms.map((v) => [v.name, v.discard_on_convert])).toEqual([[K, false], [D, true]]);
    expect(vms[0].program).toEqual(vms[1].program);
  });

  test('stage 1: the guest shares the page (MapGPA) and the host reads its message (rule 1)', () => {
    for (const [i, vm] of [[0, K], [1, D]] as const) {
      const s = step(r, i, 'run');
      expect(value(s).stop).toBe('budget'); // spinning on the doorbell
      const ev = names(eventsOf(r, s), vm);
      for (const n of ['TDG.VP.INFO', 'set_memory_decrypted', 'TDG.VP.VMCALL<MapGPA>', 'KVM_EXIT_HYPERCALL', 'kvm_convert_memory', 'KVM_SET_MEMORY_ATTRIBUTES', 'TDH.MEM.PAGE.REMOVE'])
        expect(ev, `${vm}: ${n}`).toContain(n);
      const hc = eventsOf(r, s).find((e) => e.name === 'KVM_EXIT_HYPERCALL')!;
      expect(hc.args).toMatchObject({ nr: 'KVM_HC_MAP_GPA_RANGE', gpa: '0x200000', npages: 2 });
    }
    expect(value(step(r, 2, 'host_read'))).toMatchObject({ text: MESSAGE, view: 'shared' });
    expect(value(step(r, 3, 'host_read'))).toMatchObject({ text: MESSAGE, view: 'shared' });
  });

  test('stage 2: set_memory_encrypted MapGPAs and accepts; the host still sees the old shared bytes (rule 2)', () => {
    for (const [i, vm] of [[6, K], [7, D]] as const) {
      const s = step(r, i, 'run');
      const ev = names(eventsOf(r, s), vm);
      for (const n of ['set_memory_encrypted', 'TDG.VP.VMCALL<MapGPA>', 'KVM_EXIT_HYPERCALL', 'TDH.MEM.PAGE.AUG', 'TDG.MEM.PAGE.ACCEPT'])
        expect(ev, `${vm}: ${n}`).toContain(n);
      expect(ev.indexOf('TDH.MEM.PAGE.AUG')).toBeLessThan(ev.indexOf('TDG.MEM.PAGE.ACCEPT'));
      // Only QEMU's default discards the shared page that is no longer used.
      expect(ev.includes('ram_block_discard_range'), vm).toBe(vm === D);
      // The accepted page is zeroed.
      expect(value(s).console).toBe('private view after accept: ................\n');
    }
    expect(value(step(r, 8, 'host_read'))).toMatchObject({ text: MESSAGE, view: 'shared view of a private page' });
    expect(value(step(r, 9, 'host_read'))).toMatchObject({ hex: ZEROS16, view: 'shared view of a private page' });
    const phys = value(step(r, 10, 'host_read'));
    expect(phys).toMatchObject({ hex: ZEROS16, view: 'private' });
    expect(phys.td_owned_lines).toBeGreaterThan(0);
  });

  test('stage 3: shared again, the page shows the old shared bytes, not the private secret (rule 3)', () => {
    const keep = step(r, 13, 'run');
    const discard = step(r, 14, 'run');
    expect(value(keep).stop).toBe('halted');
    expect(value(discard).stop).toBe('halted');
    expect(consoleOf(r, K)).toBe(`private view after accept: ................\nshared view after sharing again: ${MESSAGE}\n`);
    expect(consoleOf(r, D)).toBe('private view after accept: ................\nshared view after sharing again: ................\n');
    expect(names(eventsOf(r, keep), K)).not.toContain('ram_block_discard_guest_memfd_range');
    expect(names(eventsOf(r, discard), D)).toContain('ram_block_discard_guest_memfd_range');
    expect(value(step(r, 15, 'host_read'))).toMatchObject({ text: MESSAGE, view: 'shared' });
    expect(value(step(r, 16, 'host_read'))).toMatchObject({ hex: ZEROS16, view: 'shared' });
  });

  test('the private secret never reaches the host', () => {
    for (const s of r.results.filter((x) => x.do === 'host_read')) expect(JSON.stringify(s.value)).not.toContain(SECRET);
    expect(consoleOf(r, K)).not.toContain(SECRET);
    for (const v of r.summary.vms) expect(v.dead).toBeNull();
  });
});

describe('lazy-accept', () => {
  const A = 'td-careless';
  const C = 'td-careful';
  const V = 'td-no-sept-ve-disable';
  let run: ScenarioRun;
  let r: Report;
  beforeAll(() => {
    ({ run, report: r } = runPreset('lazy-accept'));
  });

  test('the firmware accepted only 1 MiB in every TD', () => {
    const vms = (PRESETS['lazy-accept'] as { vms: { name: string; tdx: { firmware_accept: string; sept_ve_disable: boolean } }[] }).vms;
    expect(vms.map((v) => [v.name, v.tdx.firmware_accept, v.tdx.sept_ve_disable])).toEqual([[A, '1M', true], [C, '1M', true], [V, '1M', false]]);
  });

  test('with SEPT_VE_DISABLE, touching a PENDING page gets the TD killed: KVM_RUN fails with EIO', () => {
    const s = step(r, 0, 'run');
    expect(value(s).stop).toBe('vm-dead');
    expect(s.why).toMatch(/-EIO: Guest access before accepting/);
    expect(value(s).console).toBe('writing 0x400000\n'); // and never "survived"
    const ev = eventsOf(r, s);
    const seq = names(ev, A);
    expect(seq).toContain('EPT violation');
    expect(seq).toContain('TDH.MEM.PAGE.AUG');
    expect(seq).toContain('kvm_vm_dead');
    expect(seq.indexOf('TDH.MEM.PAGE.AUG')).toBeLessThan(seq.indexOf('kvm_vm_dead'));
    expect(seq).not.toContain('TDG.MEM.PAGE.ACCEPT');
    expect(ev.find((e) => e.name === 'TDH.MEM.PAGE.AUG')!.text).toContain('0x400000');
    expect(run.septState(A, 0x400)).toBe('PENDING');
    expect(step(r, 1, 'KVM_RUN')).toMatchObject({ ret: -1, errno: 'EIO' });
    expect(r.summary.vms.find((v) => v.name === A)!.dead).toMatch(/Guest access before accepting/);
  });

  test('accepting first works: AUG, PENDING, ACCEPT (zeroes), MAPPED; accepting again is "already accepted"', () => {
    const s = step(r, 2, 'run');
    expect(value(s).stop).toBe('halted');
    expect(consoleOf(r, C)).toBe('accepted 0x400000\naccept_memory returned 0 both times\n');
    const ev = eventsOf(r, s).filter((e) => e.vm === C);
    const seq = ev.map((e) => e.name);
    const i = seq.indexOf('accept_memory');
    expect(i).toBeGreaterThanOrEqual(0);
    const violation = seq.indexOf('EPT violation', i);
    const aug = seq.indexOf('TDH.MEM.PAGE.AUG', i);
    const accept = seq.indexOf('TDG.MEM.PAGE.ACCEPT', i);
    expect(i < violation && violation < aug && aug < accept, seq.join(', ')).toBe(true);
    const accepts = ev.filter((e) => e.name === 'TDG.MEM.PAGE.ACCEPT').map((e) => e.args.status);
    expect(accepts).toEqual(['TDX_SUCCESS', 'TDX_PAGE_ALREADY_ACCEPTED']);
    expect(seq.filter((n) => n === 'TDH.MEM.PAGE.AUG')).toHaveLength(1);
    expect(run.septState(C, 0x400)).toBe('MAPPED');
    const phys = value(step(r, 3, 'host_read'));
    expect(phys).toMatchObject({ view: 'private', hex: Array(17).fill('00').join(' ') });
    expect(r.summary.vms.find((v) => v.name === C)!.dead).toBeNull();
  });

  test('without SEPT_VE_DISABLE the guest gets a #VE instead, and the Linux guest kernel panics', () => {
    const s = step(r, 4, 'run');
    const ev = eventsOf(r, s).filter((e) => e.vm === V);
    const seq = ev.map((e) => e.name);
    expect(seq).toContain('TDH.MEM.PAGE.AUG');
    const ve = ev.find((e) => e.name === '#VE' && e.args.gpa === '0x400000');
    expect(ve, 'a #VE for the unaccepted page').toBeDefined();
    expect(ve!.layer).toBe('tdx-module');
    const panic = ev.find((e) => e.name === 'Kernel panic');
    expect(panic?.args.message).toBe('Unexpected EPT-violation on private memory.');
    expect(seq.indexOf('TDH.MEM.PAGE.AUG')).toBeLessThan(ev.indexOf(ve!));
    expect(ev.indexOf(ve!)).toBeLessThan(ev.indexOf(panic!));
    expect(seq).not.toContain('kvm_vm_dead'); // KVM does not kill this TD; its own kernel gives up
    expect(value(s).stop).not.toBe('vm-dead');
    expect(value(s).stop).not.toBe('halted');
    expect(consoleOf(r, V)).toBe('writing 0x400000\n');
    expect(r.summary.vms.find((v) => v.name === V)!.dead).toBeNull();
  });
});

describe('selftest-by-hand', () => {
  let r: Report;
  beforeAll(() => {
    r = runPreset('selftest-by-hand').report;
  });

  test('capabilities: VM types, and per-VM memory attributes and guest_memfd', () => {
    expect(step(r, 0, 'KVM_CHECK_EXTENSION').ret).toBe(0x23); // DEFAULT, SW_PROTECTED, TDX
    expect(step(r, 1, 'KVM_CREATE_VM').ret).toBeGreaterThan(2);
    expect(step(r, 2, 'KVM_CHECK_EXTENSION').ret).toBe(8); // KVM_MEMORY_ATTRIBUTE_PRIVATE
    expect(step(r, 3, 'KVM_CHECK_EXTENSION').ret).toBe(1);
    expect(r.summary.vms[0].type).toBe('KVM_X86_SW_PROTECTED_VM');
  });

  test('memslots and guest_memfd, and the calls that fail with the real errno', () => {
    expect(step(r, 6, 'KVM_SET_USER_MEMORY_REGION2').ret).toBe(0);
    const gmemFd = step(r, 7, 'KVM_CREATE_GUEST_MEMFD').ret;
    expect(gmemFd).toBeGreaterThan(2);
    expect(step(r, 8, 'KVM_SET_USER_MEMORY_REGION2')).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(step(r, 9, 'KVM_SET_USER_MEMORY_REGION2').ret).toBe(0);
    expect(step(r, 10, 'read')).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(step(r, 11, 'fallocate')).toMatchObject({ ret: -1, errno: 'EOPNOTSUPP' });
    expect(step(r, 12, 'KVM_CREATE_VCPU').ret).toBeGreaterThan(gmemFd);
    expect(step(r, 13, 'load_program').ret).toBe(0);
    expect(step(r, 14, 'KVM_SET_MEMORY_ATTRIBUTES').ret).toBe(0);
    const slots = r.summary.vms[0].memslots;
    expect(slots.map((s) => [s.slot, s.guest_phys_addr, s.flags, s.guest_memfd])).toEqual([[0, '0x0', 0, -1], [1, '0x100000', 4, gmemFd]]);
  });

  test('the private marker reads back, and reads as zero after PUNCH_HOLE (rule 4)', () => {
    const first = step(r, 15, 'KVM_RUN');
    expect(first.ret).toBe(0);
    expect(first.exit).toMatchObject({ reason: 'KVM_EXIT_IO', io: { direction: 'KVM_EXIT_IO_OUT', port: 0x3f8, size: 1, data: 0xab } });
    expect(names(eventsOf(r, first))).toContain('kvm_gmem_get_pfn');
    const punch = step(r, 16, 'fallocate');
    expect(punch.ret).toBe(0);
    expect(names(eventsOf(r, punch))).toContain('fallocate(PUNCH_HOLE)');
    const second = step(r, 17, 'KVM_RUN');
    expect(second.exit).toMatchObject({ reason: 'KVM_EXIT_IO', io: { port: 0x3f8, data: 0 } });
    const fresh = eventsOf(r, second).find((e) => e.name === 'kvm_gmem_get_pfn');
    expect(fresh?.args.fresh).toBe(true);
  });

  test('a private access with the memslot deleted exits with KVM_EXIT_MEMORY_FAULT (-1, EFAULT)', () => {
    expect(step(r, 18, 'KVM_SET_USER_MEMORY_REGION2').ret).toBe(0);
    const s = step(r, 19, 'KVM_RUN');
    expect(s).toMatchObject({ ret: -1, errno: 'EFAULT' });
    expect(s.exit).toEqual({ reason: 'KVM_EXIT_MEMORY_FAULT', memory_fault: { flags: 8, gpa: 0x100000, size: 0x1000 } });
  });

  test('after user space restores the slot the guest goes on, and HLT exits with KVM_EXIT_HLT', () => {
    expect(step(r, 20, 'KVM_SET_USER_MEMORY_REGION2').ret).toBe(0);
    expect(step(r, 21, 'KVM_RUN').exit).toMatchObject({ reason: 'KVM_EXIT_IO', io: { data: 0 } });
    const last = step(r, 22, 'KVM_RUN');
    expect(last.ret).toBe(0);
    expect(last.exit).toEqual({ reason: 'KVM_EXIT_HLT' });
    expect(r.results).toHaveLength(23);
  });
});

describe('four-gigabytes (first 200,000 instructions of each guest)', () => {
  let r: Report;
  let run: ScenarioRun;
  beforeAll(() => {
    ({ run, report: r } = runPreset('four-gigabytes'));
  });

  test('both guests are 4 GiB with the q35 hole between 2 GiB and 4 GiB', () => {
    for (const vm of r.summary.vms) {
      expect(vm.memslots.map((m) => [m.guest_phys_addr, m.memory_size])).toEqual([['0x0', '0x80000000'], ['0x100000000', '0x80000000']]);
    }
  });

  test('the ordinary VM faults its pages in from the VMM one by one', () => {
    const ordinary = r.summary.vms.find((v) => v.name === 'ordinary')!;
    expect(ordinary.mapped.shared).toBeGreaterThan(30_000); // 6 instructions per page
    const ev = eventsOf(r, step(r, 0, 'run'));
    // The trace keeps the newest events; look at one whole fault among them.
    const n = names(ev);
    const i = n.indexOf('EPT violation');
    expect(n.slice(i, i + 3)).toEqual(['EPT violation', 'get_user_pages', 'EPT entry installed']);
  });

  test('the TD accepts memory beyond what its firmware accepted, 2 MiB at a time', () => {
    const td = r.summary.vms.find((v) => v.name === 'td')!;
    expect(td.td!.mapped).toBeGreaterThan(131_072); // more than the 512 MiB TDVF accepted
    const ev = eventsOf(r, step(r, 1, 'run'));
    expect(names(ev)).toContain('TDH.MEM.PAGE.AUG');
    expect(names(ev)).toContain('TDG.MEM.PAGE.ACCEPT');
    expect(run.septState('td', 0x20000)).toBe('MAPPED');
  });
});

describe('msr-filter (modelled on userspace_msr_exit_test)', () => {
  let report: Report;
  beforeAll(() => {
    report = runPreset('msr-filter').report;
  });

  test('phase 1, ordinary VM: a denied read exits to the VMM, a denied write without a handler gets #GP, an unknown MSR exits as UNKNOWN', () => {
    const regs = value(step(report, 9, 'KVM_GET_REGS'));
    expect(regs).toMatchObject({ r8: '0x0', r9: '0x1', r10: '0x4242' });
    const ev = eventsOf(report, step(report, 8, 'run'));
    const exits = ev.filter((e) => e.name === 'KVM_EXIT_X86_RDMSR' || e.name === 'KVM_EXIT_X86_WRMSR');
    expect(exits.map((e) => [e.name, e.args.index ?? e.args.msr])).toHaveLength(3);
    expect(names(ev)).toContain('unchecked MSR access error');
    expect(ev.find((e) => e.name === 'kvm_handle_wrmsr')?.args.error).toBe(1);
  });

  test('phase 1, TD: MSRs the TDX module handles never reach the filter; the others go #VE → TDVMCALL → KVM → the VMM', () => {
    const ev = eventsOf(report, step(report, 10, 'run'));
    expect(names(ev)).not.toContain('unchecked MSR access error');
    const made = ev.findIndex((e) => e.name === 'RDMSR' && String(e.text).includes('0x474f4f00'));
    expect(names(ev.slice(made, made + 5))).toEqual(['RDMSR', '#VE', 'TDG.VP.VMCALL<Instruction.RDMSR>', 'KVM_EXIT_X86_RDMSR', 'kvm_handle_rdmsr']);
    expect(value(step(report, 11, 'KVM_GET_REGS'))).toMatchObject({ r9: '0x1', r10: '0x4242' });
  });

  test('phase 2: the default-deny filter refuses IA32_PAT (#GP, read as 0) and allows IA32_MISC_ENABLE, on both VM types', () => {
    for (const [run, regs] of [[14, 15], [16, 17]]) {
      expect(names(eventsOf(report, step(report, run, 'run')))).toContain('KVM_EXIT_X86_RDMSR');
      expect(value(step(report, regs, 'KVM_GET_REGS'))).toMatchObject({ r11: '0x0', r12: '0x1' });
    }
  });
});

describe('dirty-ring', () => {
  let r: Report;
  beforeAll(() => {
    r = runPreset('dirty-ring').report;
  });

  test('the ring is sized as KVM checks it, only before the vCPU, and replaces the bitmap', () => {
    expect(step(r, 0, 'KVM_CHECK_EXTENSION').ret).toBe(65536 * 16);
    expect(step(r, 2, 'KVM_ENABLE_CAP')).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(step(r, 3, 'KVM_ENABLE_CAP')).toMatchObject({ ret: 0 });
    expect(step(r, 9, 'KVM_ENABLE_CAP')).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(step(r, 11, 'KVM_GET_DIRTY_LOG')).toMatchObject({ ret: -1, errno: 'ENXIO' });
  });

  test('the ring fills at 448 entries, stays full until the reset, and the faulting page is logged twice', () => {
    const full = step(r, 12, 'KVM_RUN');
    expect(full.exit).toEqual({ reason: 'KVM_EXIT_DIRTY_RING_FULL' });
    expect(names(eventsOf(r, full))).toContain('KVM_EXIT_DIRTY_RING_FULL');
    expect(step(r, 13, 'KVM_RUN')).toMatchObject({ exit: { reason: 'KVM_EXIT_DIRTY_RING_FULL' }, value: { instructions: 0 } });
    const first = value(step(r, 14, 'dirty_ring_collect')) as { collected: number; gfns: { slot: number; offset: number }[] };
    expect(first.collected).toBe(448);
    expect(first.gfns.map((g) => g.offset)).toEqual(Array.from({ length: 448 }, (_, k) => k));
    expect(first.gfns.every((g) => g.slot === 1)).toBe(true);
    expect(step(r, 15, 'KVM_RESET_DIRTY_RINGS').ret).toBe(448);
    expect(step(r, 16, 'KVM_RUN').exit).toEqual({ reason: 'KVM_EXIT_HLT' });
    const rest = value(step(r, 17, 'dirty_ring_collect')) as { gfns: { offset: number }[] };
    expect(rest.gfns.map((g) => g.offset)).toEqual(Array.from({ length: 53 }, (_, k) => 447 + k));
    expect(step(r, 18, 'KVM_RESET_DIRTY_RINGS').ret).toBe(53);
  });
});

describe('preset precopy-converges', () => {
  let report: Report;
  beforeAll(() => {
    report = runPreset('precopy-converges').report;
  });

  test('while round 0 runs, query-migrate is active with one sync; then the migration completes', () => {
    // Before a sync has measured a dirty rate, expected-downtime is still the downtime limit (migrate_fd_connect).
    expect(value(step(report, 4, 'query_migrate'))).toMatchObject({ status: 'active', 'expected-downtime': 100, ram: { 'dirty-sync-count': 1 } });
    expect(value(step(report, 5, 'run_until'))).toMatchObject({ status: 'completed', reached: true });
    expect(value(step(report, 6, 'query_migrate'))).toMatchObject({ status: 'completed' });
  });

  test('the rounds shrink by about λ = 1/4, and the stop-and-copy fits in the downtime limit', () => {
    const m = report.summary.migrations![0];
    const [r0, r1, r2] = m.rounds;
    expect(r0.bytes / (24 * 1024 * 1024)).toBeCloseTo(1, 1);
    expect((r1.bytes + r2.bytes) / r0.bytes).toBeCloseTo(0.25, 1);
    expect(m.info.downtime).toBeLessThan(100);
    expect(m.rounds[m.rounds.length - 1].final).toBe(true);
  });

  test('the guest runs on at the destination; the source is postmigrate', () => {
    const dst = report.summary.vms.find((v) => v.name === 'guest@dst')!;
    expect(dst.host).toBe('dst');
    expect(dst.vcpus[0].state).not.toBe('paused');
    const src = report.summary.vms.find((v) => v.name === 'guest')!;
    expect(src.vcpus[0].state).toBe('paused');
  });
});

describe('preset precopy-hot-set', () => {
  let report: Report;
  beforeAll(() => {
    report = runPreset('precopy-hot-set').report;
  });

  test('without auto-converge it does not converge: still active after 5 s, syncing round after round', () => {
    expect(value(step(report, 3, 'run_until'))).toMatchObject({ status: 'active', reached: false });
    const q = value(step(report, 4, 'query_migrate')) as { ram: { 'dirty-sync-count': number } };
    expect(q.ram['dirty-sync-count']).toBeGreaterThan(15);
    expect(value(step(report, 6, 'run_until'))).toMatchObject({ status: 'cancelled' });
  });

  test('with auto-converge the throttle climbs from 20 % by 10 % and the migration completes', () => {
    const [first, second] = report.summary.migrations!;
    expect(first.info.status).toBe('cancelled');
    expect(second.info.status).toBe('completed');
    expect(second.capabilities).toEqual(['auto-converge']);
    const pcts = [...new Set(second.rounds.map((r) => r.throttle_pct))];
    expect(pcts.slice(0, 3)).toEqual([0, 20, 30]);
    expect(names(report.events)).toContain('cpu_throttle_set');
    const done = value(step(report, 9, 'query_migrate'));
    expect(done).toMatchObject({ status: 'completed' });
    // The throttle stopped with the migration: query-migrate shows the percentage only while it is on.
    expect(done).not.toHaveProperty('cpu-throttle-percentage');
  });
});

describe('preset td-migration', () => {
  let report: Report;
  beforeAll(() => {
    report = runPreset('td-migration').report;
  });

  test('the ordinary VM migrates in the clear; the TD upstream fails in setup, where KVM refuses dirty logging on guest_memfd', () => {
    expect(value(step(report, 4, 'run_until'))).toMatchObject({ status: 'completed', reached: true });
    expect(value(step(report, 5, 'read_migration_stream'))).toMatchObject({ view: 'plaintext' });
    expect(value(step(report, 7, 'run_until'))).toMatchObject({ status: 'failed', reached: true });
    expect(value(step(report, 8, 'query_migrate'))).toMatchObject({ status: 'failed', 'error-desc': expect.stringMatching(/KVM_SET_USER_MEMORY_REGION2 failed.*Invalid argument$/) });
    expect(eventsOf(report, step(report, 7, 'run_until')).some((e) => e.name === 'KVM_SET_USER_MEMORY_REGION2' && e.args.errno === 'EINVAL')).toBe(true);
  });

  test("the talk's backend-kept log tells the host GPAs, the bytes go as ciphertext; the module's export brings the TD back with epochs, BLOCKW and the in-order TRACK", () => {
    expect(value(step(report, 10, 'run_until'))).toMatchObject({ status: 'completed', reached: true });
    expect(names(eventsOf(report, step(report, 10, 'run_until')))).toContain('kvm_gmem_get_dirty_log');
    expect(value(step(report, 11, 'read_migration_stream'))).toMatchObject({ view: 'ciphertext', mac: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(value(step(report, 12, 'query_migrate'))).toMatchObject({ status: 'completed', ram: { duplicate: 0 } });
    expect(value(step(report, 14, 'run_until'))).toMatchObject({ status: 'completed', reached: true });
    const back = names(eventsOf(report, step(report, 14, 'run_until')));
    for (const n of ['TDH.EXPORT.BLOCKW', 'TDH.EXPORT.MEM', 'TDH.EXPORT.UNBLOCKW', 'TDH.EXPORT.TRACK', 'TDH.EXPORT.PAUSE', 'TDH.IMPORT.MEM', 'TDH.IMPORT.COMMIT']) expect(back).toContain(n);
    expect(back).not.toContain('kvm_gmem_get_dirty_log');
    const home = report.summary.vms.find((v) => v.name === 'td-home')!;
    expect(home.host).toBe('src');
    expect(home.vcpus[0].state).not.toBe('paused');
  });
});

describe('preset precopy-dirty-limit', () => {
  let report: Report;
  beforeAll(() => {
    report = runPreset('precopy-dirty-limit').report;
  });

  test('without a throttle the hot set does not converge; the dirty ring is what each sync reaps', () => {
    expect(value(step(report, 3, 'run_until'))).toMatchObject({ status: 'active', reached: false });
    expect(value(step(report, 4, 'query_migrate'))).toMatchObject({ status: 'active' });
    const first = eventsOf(report, step(report, 3, 'run_until'));
    expect(names(first)).toContain('kvm_dirty_ring_reap');
    expect(names(first)).not.toContain('KVM_GET_DIRTY_LOG');
    expect(value(step(report, 6, 'run_until'))).toMatchObject({ status: 'cancelled' });
  });

  test('with dirty-limit, vCPU 0 is limited and sleeps on its full ring while vCPU 1 is left alone; query-migrate shows the two fields', () => {
    const limited = eventsOf(report, step(report, 8, 'run_until'));
    const n = names(limited);
    for (const x of ['migration_dirty_limit_guest', 'dirtylimit_set_vcpu', 'dirtyrate_do_calculate_vcpu', 'dirtylimit_throttle_pct', 'dirtylimit_vcpu_execute']) expect(n).toContain(x);
    expect(limited.filter((e) => e.name === 'dirtylimit_vcpu_execute').every((e) => e.vcpu === 0)).toBe(true);
    const q = value(step(report, 9, 'query_migrate'));
    expect(q.status).toBe('active');
    expect(q['dirty-limit-throttle-time-per-round']).toBeGreaterThan(0);
    expect(q['dirty-limit-ring-full-time']).toBeGreaterThan(0);
    expect(q).not.toHaveProperty('cpu-throttle-percentage');
  });

  test("the migration completes, vCPU 0's last measured rate within 25 MB/s of its 4 MB/s quota, and the limit ends with it", () => {
    const [first, second] = report.summary.migrations!;
    expect(first.info.status).toBe('cancelled');
    expect(second.info.status).toBe('completed');
    expect(second.capabilities).toEqual(['dirty-limit']);
    const rates = report.events.filter((e) => e.name === 'dirtyrate_do_calculate_vcpu' && e.vcpu === 0).map((e) => Number(e.args.dirtyrate));
    expect(rates[0]).toBeGreaterThan(4 + 25);
    expect(Math.abs(rates[rates.length - 1] - 4)).toBeLessThanOrEqual(25);
    expect(names(report.events)).toContain('dirtylimit_state_finalize');
    const done = value(step(report, 11, 'query_migrate'));
    expect(done).toMatchObject({ status: 'completed' });
    expect(done).not.toHaveProperty('dirty-limit-throttle-time-per-round');
  });
});

describe('preset postcopy-faults', () => {
  let report: Report;
  beforeAll(() => {
    report = runPreset('postcopy-faults').report;
  });

  test('both guests switch to post-copy and complete; every page came once, as the source had it', () => {
    // At the end of step 9 (700 ms) guest-a runs on dst, and has already faulted there.
    expect(value(step(report, 8, 'run_until'))).toMatchObject({ time_ns: 700_000_000 });
    const at9 = report.events.filter((e) => e.seq < step(report, 8, 'run_until').events[1]);
    expect(at9.some((e) => e.name === 'migrate_set_state' && e.args.side === 'destination' && e.args.to === 'postcopy-active' && e.host === 'dst')).toBe(true);
    expect(at9.some((e) => e.name === 'UFFD_EVENT_PAGEFAULT')).toBe(true);
    for (const i of [9, 10]) expect(value(step(report, i, 'run_until'))).toMatchObject({ status: 'completed', reached: true });
    for (const m of report.summary.migrations!) {
      const pc = m.postcopy!;
      expect(pc.received).toBe(pc.npages);
      expect(pc.counts.duplicates).toBe(0);
      expect(pc.counts.differentOnArrival).toBe(0);
      expect(pc.counts.requests).toBe(m.info.ram!['postcopy-requests']);
    }
  });

  test('with postcopy-preempt a fault waits far less, and the guest gets further (more faults served)', () => {
    const a = value(step(report, 11, 'query_migrate'));
    const b = value(step(report, 12, 'query_migrate'));
    expect(b['postcopy-latency'] as number).toBeLessThan((a['postcopy-latency'] as number) / 3);
    const [ma, mb] = report.summary.migrations!;
    expect(mb.postcopy!.counts.faults).toBeGreaterThan(ma.postcopy!.counts.faults * 2);
    const n = names(report.events);
    for (const x of ['postcopy_start', 'loadvm_postcopy_handle_advise', 'loadvm_postcopy_ram_handle_discard', 'loadvm_postcopy_handle_listen', 'UFFD_EVENT_PAGEFAULT', 'read(userfaultfd)', 'MIG_RP_MSG_REQ_PAGES', 'ram_save_queue_pages', 'UFFDIO_COPY', 'ram_load_postcopy', 'postcopy_ram_incoming_cleanup'])
      expect(n).toContain(x);
  });
});

describe('preset postcopy-link-failure', () => {
  let report: Report;
  beforeAll(() => {
    report = runPreset('postcopy-link-failure').report;
  });

  test('a cut in pre-copy fails the migration and the source runs on', () => {
    expect(value(step(report, 7, 'run_until'))).toMatchObject({ status: 'failed', reached: true });
    expect(value(step(report, 8, 'query_migrate'))).toMatchObject({ status: 'failed' });
  });

  test('a cut in post-copy pauses both sides; a resume before migrate-recover cannot connect', () => {
    expect(value(step(report, 15, 'query_migrate'))).toMatchObject({ status: 'postcopy-paused' });
    expect(value(step(report, 16, 'query_migrate'))).toMatchObject({ status: 'postcopy-paused' });
    expect(value(step(report, 17, 'migrate'))).toMatchObject({ status: 'postcopy-paused' });
  });

  test('the recovery goes through postcopy-recover and completes with nothing lost and nothing twice', () => {
    expect(value(step(report, 21, 'run_until'))).toMatchObject({ status: 'completed', reached: true });
    const m = report.summary.migrations!.find((x) => x.vm === 'guest')!;
    expect(m.postcopy!.received).toBe(m.postcopy!.npages);
    expect(m.postcopy!.counts.duplicates).toBe(0);
    expect(m.postcopy!.counts.differentOnArrival).toBe(0);
    const states = report.events.filter((e) => e.name === 'migrate_set_state' && e.args.side === undefined).map((e) => e.args.to);
    for (const s of ['postcopy-active', 'postcopy-paused', 'postcopy-recover-setup', 'postcopy-recover', 'completed']) expect(states).toContain(s);
    expect(names(report.events)).toContain('ram_dirty_bitmap_reload');
  });
});

describe('preset postcopy-private-memory', () => {
  let report: Report;
  beforeAll(() => {
    report = runPreset('postcopy-private-memory').report;
  });

  test('upstream fails in setup, saying why post-copy would not help', () => {
    expect(value(step(report, 12, 'run_until'))).toMatchObject({ status: 'failed', reached: true });
    const q = value(step(report, 13, 'query_migrate'));
    expect(q.status).toBe('failed');
    const end = report.events.find((e) => e.name === 'migrate_set_state' && e.args.to === 'failed' && e.vm === 'upstream');
    expect(end?.text).toContain('userfaultfd');
  });

  test("the talk's backend fd and KVM Userfault both complete, every private page arriving once as the source had it", () => {
    for (const i of [18, 19]) expect(value(step(report, i, 'run_until'))).toMatchObject({ status: 'completed', reached: true });
    for (const vm of ['talk', 'kvm-uf']) {
      const m = report.summary.migrations!.find((x) => x.vm === vm)!;
      expect(m.postcopy!.received).toBe(m.postcopy!.npages);
      expect(m.postcopy!.counts.duplicates).toBe(0);
      expect(m.postcopy!.counts.differentOnArrival).toBe(0);
      expect(m.postcopy!.counts.faults).toBeGreaterThan(0);
    }
    const n = names(report.events);
    for (const x of ['gmem_userfault_register', 'read(gmem userfault fd)', 'kvm_userfault_enable', 'kvm_userfault_exit', 'KVM_EXIT_MEMORY_FAULT', 'private_dirty_log'])
      expect(n).toContain(x);
    expect((value(step(report, 21, 'query_migrate'))['postcopy-latency'] as number)).toBeGreaterThan(0);
  });

  test("the TD: exported pages written since go again in the blackout, the rest is imported out of order after TDH.IMPORT.COMMIT", () => {
    expect(value(step(report, 20, 'run_until'))).toMatchObject({ status: 'completed', reached: true });
    const m = report.summary.migrations!.find((x) => x.vm === 'td')!;
    expect(m.postcopy!.received).toBe(m.postcopy!.npages);
    expect(m.postcopy!.counts.differentOnArrival).toBe(0);
    expect(m.postcopy!.counts.faults).toBeGreaterThan(0);
    expect(m.info.ram!.duplicate).toBe(0);
    const td = report.events.filter((e) => e.vm === 'td@dst').map((e) => e.name);
    const commit = td.indexOf('TDH.IMPORT.COMMIT');
    expect(commit).toBeGreaterThan(0);
    expect(td.indexOf('TDH.IMPORT.END')).toBeGreaterThan(commit);
    expect(td).not.toContain('TDH.MEM.PAGE.REMOVE');
    expect(names(report.events)).toContain('tdx_mig_postcopy_blackout');
    expect((value(step(report, 23, 'query_migrate'))['postcopy-latency'] as number)).toBeGreaterThan(1_000_000);
  });
});
