/**
 * Intel TDX (DOMAIN.md §5): SEAMCALL/TDCALL numbers, the build sequence, Secure-EPT states
 * (AUG → PENDING → ACCEPT → MAPPED), "already accepted", SEPT_VE_DISABLE (KVM kills the VM) vs #VE,
 * removal (BLOCK → TRACK → REMOVE), the shared bit, host access to private memory, KVM_GET_REGS.
 */
import { describe, expect, it } from 'vitest';
import { FrameOwner } from '../host/physmem';
import { PRESETS } from '../../scenarios';
import { tdxInitMemRegion } from '../kvm/tdx-ops';
import { Regs, last, named, runSteps, scenario, touch, type StepIn } from '../test-helpers';
import * as abi from '../abi/tdx';
import { TdxStatus } from './module';
import { Sept } from './sept';

const PAGE = 0x1000;

function td(o: { septVeDisable?: boolean; debug?: boolean; gpaw?: 48 | 52; accept?: string | number; program?: string[] } = {}, steps: StepIn[] = []) {
  const sim = scenario(steps, {
    vms: [{
      name: 'td', type: 'tdx', memory: '8M',
      tdx: { sept_ve_disable: o.septVeDisable ?? true, debug: o.debug ?? false, gpaw: o.gpaw ?? 48, firmware_accept: o.accept ?? 0 },
      program: o.program ?? ['_start: hlt'],
    }],
  });
  const v = sim.vmms.get('td')!;
  return { sim, v, vm: v.vm, tdObj: v.vm.td!, vcpu: v.vcpus[0], tdx: sim.kvm.tdx };
}

/** Names of the events in order, keeping only those in `keep`. */
const seq = (names: string[], keep: string[]): string[] => names.filter((n) => keep.includes(n));

describe('ABI numbers', () => {
  it('SEAMCALL leaves', () => {
    expect([abi.TDH_MEM_PAGE_ADD, abi.TDH_MEM_SEPT_ADD, abi.TDH_MEM_PAGE_AUG, abi.TDH_MEM_RANGE_BLOCK, abi.TDH_MR_EXTEND,
      abi.TDH_MR_FINALIZE, abi.TDH_MEM_PAGE_REMOVE, abi.TDH_MEM_TRACK]).toEqual([2, 3, 6, 7, 16, 17, 29, 38]);
  });
  it('TDCALL leaves and TDG.VP.VMCALL sub-functions', () => {
    expect([abi.TDG_VP_VMCALL, abi.TDG_VP_INFO, abi.TDG_MEM_PAGE_ACCEPT]).toEqual([0, 1, 6]);
    expect([abi.TDVMCALL_MAP_GPA, abi.TDVMCALL_GET_QUOTE]).toEqual([0x10001, 0x10002]);
    expect([abi.EXIT_REASON_CPUID, abi.EXIT_REASON_HLT, abi.EXIT_REASON_IO_INSTRUCTION, abi.EXIT_REASON_MSR_READ, abi.EXIT_REASON_MSR_WRITE, abi.EXIT_REASON_EPT_VIOLATION])
      .toEqual([10, 12, 30, 31, 32, 48]);
  });
  it('TD attributes: DEBUG is bit 0, SEPT_VE_DISABLE bit 28', () => {
    expect(abi.TDX_TD_ATTR_DEBUG).toBe(1n);
    expect(abi.TDX_TD_ATTR_SEPT_VE_DISABLE).toBe(1n << 28n);
  });
});

describe('build time', () => {
  it('runs the build sequence in order and seals the measurement', () => {
    const { sim, tdObj } = td();
    const names = sim.trace.events.map((e) => e.name);
    expect(seq(names, ['KVM_CREATE_VM', 'TDH.MNG.CREATE', 'TDH.MNG.KEY.CONFIG', 'TDH.MNG.ADDCX', 'KVM_TDX_INIT_VM', 'TDH.MNG.INIT',
      'KVM_CREATE_VCPU', 'KVM_TDX_INIT_VCPU', 'TDH.VP.CREATE', 'TDH.VP.INIT', 'KVM_TDX_INIT_MEM_REGION', 'KVM_TDX_FINALIZE_VM', 'TDH.MR.FINALIZE'])).toEqual([
      'KVM_CREATE_VM', 'TDH.MNG.CREATE', 'TDH.MNG.KEY.CONFIG', 'TDH.MNG.ADDCX', 'KVM_TDX_INIT_VM', 'TDH.MNG.INIT',
      'KVM_CREATE_VCPU', 'KVM_TDX_INIT_VCPU', 'TDH.VP.CREATE', 'TDH.VP.INIT', 'KVM_TDX_INIT_MEM_REGION', 'KVM_TDX_FINALIZE_VM', 'TDH.MR.FINALIZE',
    ]);
    // Each added page: SEPT pages first, then PAGE.ADD, then MR.EXTEND; all before FINALIZE.
    const add = names.indexOf('TDH.MEM.PAGE.ADD');
    expect(names.indexOf('TDH.MEM.SEPT.ADD')).toBeLessThan(add);
    expect(names.indexOf('TDH.MR.EXTEND')).toBeGreaterThan(add);
    expect(names.lastIndexOf('TDH.MR.EXTEND')).toBeLessThan(names.indexOf('TDH.MR.FINALIZE'));
    expect(named(sim, 'TDH.MR.EXTEND')[0].args).toMatchObject({ chunks: 16 });
    expect(tdObj.lifecycle).toBe('runnable');
    expect(named(sim, 'TDH.MNG.INIT')[0].args).toMatchObject({ gpaw: 48, attributes: '0x10000000' });
  });

  it('pages added before finalize (TDH.MEM.PAGE.ADD) are MAPPED at once, no accept needed', () => {
    const { sim, tdObj, vcpu } = td();
    const gfn = 0x100000 / PAGE; // the program's origin
    expect(tdObj.stateOf(gfn)).toBe(Sept.MAPPED);
    expect(sim.septState('td', gfn)).toBe('MAPPED');
    expect(touch(vcpu, 0x100000, 'fetch').kind).toBe('ok');
    expect(named(sim, 'TDH.MEM.PAGE.AUG')).toHaveLength(0);
  });

  it('after finalize no page can be added: PAGE.ADD is TDX_OP_STATE_INCORRECT, KVM_TDX_INIT_MEM_REGION is EINVAL', () => {
    const { vm, tdObj, tdx, sim } = td();
    expect(tdx.memPageAdd(tdObj, 0x300, 123, undefined)).toBe(TdxStatus.TDX_OP_STATE_INCORRECT);
    expect(TdxStatus.TDX_OP_STATE_INCORRECT).toBe(0xc000060800000000n);
    expect(() => tdxInitMemRegion(vm, 0x7f0000000000, 0x300000, 1, 0)).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
    expect(tdx.mrFinalize(tdObj)).toBe(TdxStatus.TDX_OP_STATE_INCORRECT);
    expect(named(sim, 'TDH.MEM.PAGE.ADD').length).toBeGreaterThan(0);
  });
});

describe('run time: AUG → PENDING → ACCEPT', () => {
  it('a private fault makes KVM call TDH.MEM.PAGE.AUG: the page is PENDING', () => {
    const { sim, vm, tdObj } = td();
    const gfn = 0x300;
    expect(tdObj.stateOf(gfn)).toBe(Sept.FREE);
    vm.mmu.tdPrivateFault(gfn, gfn * PAGE, 0);
    expect(tdObj.stateOf(gfn)).toBe(Sept.PENDING);
    expect(named(sim, 'TDH.MEM.PAGE.AUG').at(-1)).toMatchObject({ layer: 'tdx-module', args: { gpa: '0x300000' } });
    expect(tdObj.pendingPages).toBe(1);
  });

  it('TDG.MEM.PAGE.ACCEPT zeroes the page and maps it; accepting again answers TDX_PAGE_ALREADY_ACCEPTED', () => {
    const { sim, vm, tdObj, vcpu } = td();
    const gfn = 0x301;
    vm.mmu.tdPrivateFault(gfn, gfn * PAGE, 0);
    const frame = tdObj.frameOf(gfn);
    expect(sim.host.memory.owner[frame]).toBe(FrameOwner.GuestMemfd);
    sim.host.memory.bytes(frame).fill(0xee); // stale bytes in the frame
    const r = new Regs({ rax: abi.TDG_MEM_PAGE_ACCEPT, rcx: gfn * PAGE });
    vcpu.tdcall(r);
    expect(r.get('rax')).toBe(abi.TDX_SUCCESS);
    expect(tdObj.stateOf(gfn)).toBe(Sept.MAPPED);
    expect(sim.host.memory.peek(frame)).toBeUndefined(); // zeroed
    expect(named(sim, 'TDG.MEM.PAGE.ACCEPT').at(-1)!.args).toMatchObject({ gpa: '0x301000', status: 'TDX_SUCCESS' });
    const again = new Regs({ rax: abi.TDG_MEM_PAGE_ACCEPT, rcx: gfn * PAGE });
    vcpu.tdcall(again);
    expect(again.get('rax')).toBe(abi.TDX_PAGE_ALREADY_ACCEPTED);
    expect(abi.TDX_PAGE_ALREADY_ACCEPTED).toBe(0x00000b0a00000000n);
    expect(named(sim, 'TDG.MEM.PAGE.ACCEPT').at(-1)!.args).toMatchObject({ status: 'TDX_PAGE_ALREADY_ACCEPTED' });
  });

  it('accepting a page with no Secure-EPT entry takes an EPT violation, KVM AUGs it, the accept completes', () => {
    const { sim, tdObj, vcpu } = td();
    const from = sim.trace.count;
    const r = new Regs({ rax: abi.TDG_MEM_PAGE_ACCEPT, rcx: 0x302000 });
    vcpu.tdcall(r);
    expect(r.get('rax')).toBe(0n);
    expect(tdObj.stateOf(0x302)).toBe(Sept.MAPPED);
    const names = sim.trace.events.filter((e) => e.seq >= from).map((e) => e.name);
    expect(seq(names, ['EPT violation', 'TDH.MEM.PAGE.AUG', 'TDG.MEM.PAGE.ACCEPT'])).toEqual(['EPT violation', 'TDH.MEM.PAGE.AUG', 'TDG.MEM.PAGE.ACCEPT']);
  });

  it('a guest program accepting memory with accept_memory, then using it', () => {
    const { sim, tdObj } = td({ program: ['_start: mov rdi, 0x400000', 'mov rsi, 0x2000', 'call accept_memory', 'mov byte [0x401000], 9', 'mov al, [0x401000]', 'hlt'] },
      [{ do: 'run', vm: 'td' }]);
    sim.runAll();
    expect(last(sim).value).toMatchObject({ stop: 'halted' });
    expect(tdObj.stateOf(0x400)).toBe(Sept.MAPPED);
    expect(tdObj.stateOf(0x401)).toBe(Sept.MAPPED);
    expect(named(sim, 'TDG.MEM.PAGE.ACCEPT').filter((e) => e.args.status === 'TDX_SUCCESS')).toHaveLength(2);
  });

  it('the firmware accepts the first firmware_accept bytes; the rest stays FREE until touched', () => {
    const { tdObj } = td({ accept: '1M' });
    expect(tdObj.stateOf(0)).toBe(Sept.MAPPED);
    expect(tdObj.stateOf(0xff)).toBe(Sept.MAPPED);
    expect(tdObj.stateOf(0x100)).toBe(Sept.MAPPED); // the program, added at build time
    expect(tdObj.stateOf(0x300)).toBe(Sept.FREE);
  });
});

describe('touching a PENDING page', () => {
  it('with SEPT_VE_DISABLE: KVM kills the VM ("Guest access before accepting"); KVM_RUN then fails with EIO', () => {
    const { sim, vm, vcpu } = td({ septVeDisable: true }, [{ do: 'KVM_RUN', vm: 'td' }]);
    vm.mmu.tdPrivateFault(0x303, 0x303000, 0);
    const t = touch(vcpu, 0x303000, 'read');
    expect(t.kind).toBe('dead');
    expect(vm.dead).toBe('Guest access before accepting 0x303000 on vCPU 0');
    expect(named(sim, 'kvm_vm_dead').at(-1)).toMatchObject({ layer: 'kvm', args: { message: 'Guest access before accepting 0x303000 on vCPU 0' } });
    sim.runAll();
    expect(last(sim)).toMatchObject({ ret: -1, errno: 'EIO' });
  });

  it('with SEPT_VE_DISABLE, a guest program touching unaccepted memory: the run stops with vm-dead', () => {
    const { sim } = td({ septVeDisable: true, program: ['_start: mov al, [0x500000]', 'hlt'] }, [{ do: 'run', vm: 'td' }]);
    sim.runAll();
    expect(last(sim).value).toMatchObject({ stop: 'vm-dead' });
    expect(sim.report().summary.vms[0].dead).toBe('Guest access before accepting 0x500000 on vCPU 0');
    expect(seq(sim.trace.events.map((e) => e.name), ['EPT violation', 'TDH.MEM.PAGE.AUG', 'kvm_vm_dead'])).toEqual(['EPT violation', 'TDH.MEM.PAGE.AUG', 'kvm_vm_dead']);
  });

  it('without SEPT_VE_DISABLE: the guest gets a #VE (EPT violation, exit reason 48)', () => {
    const { sim, vm, vcpu } = td({ septVeDisable: false });
    expect(vm.td!.septVeDisable).toBe(false);
    vm.mmu.tdPrivateFault(0x304, 0x304000, 0);
    const t = touch(vcpu, 0x304008, 'write');
    if (t.kind !== 'exception') throw new Error(t.kind);
    expect(t.exc.vector).toBe('VE');
    expect(t.exc.ve).toMatchObject({ exitReason: 48, gpa: 0x304008 });
    expect(vm.dead).toBeNull();
    expect(named(sim, '#VE').at(-1)).toMatchObject({ layer: 'tdx-module', args: { exit_reason: 48 } });
  });
});

describe('removal: BLOCK → TRACK → REMOVE', () => {
  const REMOVE = ['TDH.MEM.RANGE.BLOCK', 'TDH.MEM.TRACK', 'TDH.MEM.PAGE.REMOVE'];

  it('converting a mapped private page to shared removes it from the Secure EPT in that order and clears the frame', () => {
    const { sim, vm, tdObj, vcpu } = td();
    vcpu.tdcall(new Regs({ rax: abi.TDG_MEM_PAGE_ACCEPT, rcx: 0x305000 }));
    const frame = tdObj.frameOf(0x305);
    expect(sim.host.memory.hkid[frame]).toBe(tdObj.hkid);
    const from = sim.trace.count;
    vm.setMemoryAttributes({ address: 0x305000, size: PAGE, attributes: 0 });
    const names = sim.trace.events.filter((e) => e.seq >= from).map((e) => e.name);
    expect(seq(names, REMOVE)).toEqual(REMOVE);
    expect(tdObj.stateOf(0x305)).toBe(Sept.FREE);
    expect(sim.host.memory.hkid[frame]).toBe(0);
    expect(tdObj.mappedPages).toBeGreaterThan(0);
  });

  it('punching a hole removes pending pages the same way', () => {
    const { sim, v, vm, tdObj } = td();
    vm.mmu.tdPrivateFault(0x306, 0x306000, 0);
    const from = sim.trace.count;
    v.gmem!.fallocate(3, 0x306000, PAGE);
    expect(seq(sim.trace.events.filter((e) => e.seq >= from).map((e) => e.name), [...REMOVE, 'fallocate(PUNCH_HOLE)']))
      .toEqual([...REMOVE, 'fallocate(PUNCH_HOLE)']);
    expect(tdObj.stateOf(0x306)).toBe(Sept.FREE);
    expect(tdObj.pendingPages).toBe(0);
  });

  it('REMOVE without BLOCK is refused (TDX_EPT_ENTRY_STATE_INCORRECT)', () => {
    const { vm, tdObj, tdx } = td();
    vm.mmu.tdPrivateFault(0x307, 0x307000, 0);
    expect(tdx.memPageRemove(tdObj, 0x307).status).toBe(TdxStatus.TDX_EPT_ENTRY_STATE_INCORRECT);
    expect(tdx.memRangeBlock(tdObj, 0x307)).toBe(0n);
    expect(tdObj.stateOf(0x307)).toBe(Sept.PENDING_BLOCKED);
    expect(tdx.memTrack(tdObj)).toBe(0n);
    expect(tdx.memPageRemove(tdObj, 0x307).status).toBe(0n);
  });
});

describe('the shared bit', () => {
  it.each([[48, 47], [52, 51]] as const)('GPAW %i: the shared bit is bit %i; TDG.VP.INFO tells the guest the width', (gpaw, bit) => {
    const { sim, vm, vcpu, v } = td({ gpaw });
    expect(vm.td!.sharedBit).toBe(2 ** bit);
    const info = new Regs({ rax: abi.TDG_VP_INFO });
    vcpu.tdcall(info);
    expect(info.get('rax')).toBe(0n);
    expect(info.get('rcx')).toBe(BigInt(gpaw));
    expect(named(sim, 'TDG.VP.INFO').at(-1)!.args).toMatchObject({ gpaw });
    // A shared access (bit set) to a shared GFN reaches the VMM's page.
    vm.setMemoryAttributes({ address: 0x600000, size: PAGE, attributes: 0 });
    const t = touch(vcpu, 2 ** bit + 0x600010, 'write');
    if (t.kind !== 'ok') throw new Error(t.kind);
    t.page[0x10] = 0x5c;
    expect(v.process.read(v.gpaToHva(0x600010)!, 1)[0]).toBe(0x5c);
  });

  it('with GPAW 52, bit 47 is an ordinary address bit: the access is private', () => {
    const { vcpu } = td({ gpaw: 52 });
    const t = touch(vcpu, 2 ** 47 + 0x1000, 'read');
    if (t.kind !== 'exit') throw new Error(t.kind);
    expect(t.signal.exit).toMatchObject({ reason: 'KVM_EXIT_MEMORY_FAULT', memory_fault: { flags: 8, gpa: 2 ** 47 + 0x1000 } });
  });
});

describe('host access to private memory', () => {
  it('host-reads-secret: the ordinary guest leaks, the TD does not (read() EINVAL, shared view, zeros physically)', () => {
    const preset = PRESETS['host-reads-secret'] as { steps: StepIn[]; vms: Record<string, unknown>[] };
    const res = runSteps(preset.steps, { vms: preset.vms, hostMemory: '2G' }).r;
    expect(res[2].value).toMatchObject({ text: 'TOP-SECRET-KEY=42', view: 'shared' });
    expect(res[3].value).toMatchObject({ text: 'TOP-SECRET-KEY=42', td_owned_lines: 0 });
    expect(res[4]).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(res[5].value).toMatchObject({ hex: Array(17).fill('00').join(' '), view: 'shared view of a private page' });
    expect(res[6].value).toMatchObject({ hex: Array(17).fill('00').join(' '), view: 'private' });
    expect((res[6].value as { td_owned_lines: number }).td_owned_lines).toBeGreaterThan(0);
  });

  it('a host write to a private page poisons the line; the TD reading it takes a machine check', () => {
    const { sim, vcpu, tdObj } = td({ program: ['_start: mov byte [0x700000], 0x41', 'hlt'] }, [
      { do: 'host_write', vm: 'td', gpa: '0x700000', data: 'hex:ff', via: 'physical' },
      { do: 'host_read', vm: 'td', gpa: '0x700000', length: 1, via: 'physical' },
    ]);
    vcpu.tdcall(new Regs({ rax: abi.TDG_MEM_PAGE_ACCEPT, rcx: 0x700000 }));
    const w = touch(vcpu, 0x700000, 'write');
    if (w.kind !== 'ok') throw new Error(w.kind);
    w.page[0] = 0x41;
    sim.runAll();
    expect(sim.results[0]).toMatchObject({ ret: 1, value: { poisoned_lines: 1 } });
    expect(sim.results[1].value).toMatchObject({ hex: '00', td_owned_lines: 1 });
    expect(sim.host.memory.poisonedLines(tdObj.frameOf(0x700))).toBe(1);
    const t = touch(vcpu, 0x700000, 'read');
    if (t.kind !== 'exception') throw new Error(t.kind);
    expect(t.exc.vector).toBe('MC');
    expect(named(sim, 'machine check').at(-1)).toMatchObject({ layer: 'host', args: { gpa: '0x700000' } });
    // Other lines of the page are still readable.
    expect(touch(vcpu, 0x700040, 'read').kind).toBe('ok');
  });

  it('KVM_GET_REGS: EINVAL for a TD without DEBUG, allowed with DEBUG', () => {
    const a = td({}, [{ do: 'KVM_GET_REGS', vm: 'td' }]);
    a.sim.runAll();
    expect(last(a.sim)).toMatchObject({ ret: -1, errno: 'EINVAL' });
    const b = td({ debug: true }, [{ do: 'KVM_GET_REGS', vm: 'td' }]);
    b.sim.runAll();
    expect(last(b.sim)).toMatchObject({ ret: 0, value: { rip: '0x100000' } });
    expect(named(b.sim, 'TDH.MNG.INIT')[0].args.attributes).toBe('0x10000001');
  });
});

// End to end: the TD's read of a poisoned line takes #MC and the guest kernel panics; it then spins in
// panic(), so nothing more exits to KVM (no triple fault, no KVM_EXIT_SHUTDOWN).
it('a TD program reading a poisoned line: the guest kernel panics with a machine check and the run stops there', () => {
  const { sim } = td({ accept: '8M', program: ['_start: mov byte [0x200000], 0x41', '.l: mov al, [0x200000]', 'jmp .l'] }, [
    { do: 'run', vm: 'td', max_instructions: 10 },
    { do: 'host_write', vm: 'td', gpa: '0x200000', data: 'hex:ff', via: 'physical' },
    { do: 'run', vm: 'td', max_instructions: 10 },
  ]);
  sim.runAll();
  expect(last(sim).value).toMatchObject({ stop: 'panicked' });
  expect(last(sim).why).toMatch(/^the guest kernel panicked \(Machine check: .*\) and its vCPU spins in panic\(\)/);
  const events = sim.trace.events;
  expect(events.at(-1)).toMatchObject({ layer: 'guest', name: 'Kernel panic' });
  expect(events.some((e) => e.name === 'KVM_EXIT_SHUTDOWN')).toBe(false);
  // Running it again changes nothing: the vCPU still spins.
  const again = sim.kvm.vms[0].vcpus[0].run(1000);
  expect(again).toMatchObject({ ret: 0, blocked: 'panicked', instructions: 0 });
});
