/**
 * Every path an MSR access can take: an ordinary VM (KVM emulates, #GP for unknown/read-only, the
 * MSR filter, user-space exits answered by the VMM), a TD (native, #VE → TDVMCALL → KVM emulates or
 * refuses, #GP from the module), and the talk's constraints. The filter scenario reproduces
 * tools/testing/selftests/kvm/x86/userspace_msr_exit_test.c (msr_filter_allow).
 */
import { describe, expect, it } from 'vitest';
import type { SimEvent } from '../core/trace';
import { scenario } from '../test-helpers';
import { answerMsrExit, VmmMsrPolicy, type MsrExit } from '../vmm/msr-exits';
import { allowBitmap, setMsrConstraint } from './msr-filter';
import {
  KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER, KVM_MSR_EXIT_REASON_INVAL, KVM_MSR_EXIT_REASON_UNKNOWN,
  KVM_MSR_FILTER_DEFAULT_ALLOW, KVM_MSR_FILTER_DEFAULT_DENY, KVM_MSR_FILTER_READ, KVM_MSR_FILTER_WRITE,
} from './uapi';
import type { Vm } from './vm';

const MSR_IA32_XSS = 0xda0;
const MSR_IA32_FLUSH_CMD = 0x10b;
const MSR_NON_EXISTENT = 0x474f4f00;
const PAT = 0x277;

function machine(type: 'default' | 'tdx', program: string[]) {
  const sim = scenario([], {
    vms: [{ name: 'g', type, memory: '8M', program, ...(type === 'tdx' ? { tdx: { firmware_accept: 0 } } : {}) }],
  });
  const v = sim.vmms.get('g')!;
  const vcpu = v.vcpus[0];
  const vm: Vm = v.vm;
  const events = (): SimEvent[] => sim.trace.events;
  /** Event names from `from` on, leaving out the #VE of the final HLT (it is not an MSR's). */
  const names = (from = 0): string[] => events().slice(from).filter((e) => e.vm === 'g' && !(e.name === '#VE' && e.args.msr === undefined)).map((e) => e.name);
  const reg = (r: 'rax' | 'rdx' | 'rbx' | 'rsi' | 'rdi'): bigint => vcpu.cpu!.get(r);
  /** KVM_RUN until the guest halts, answering MSR exits with `policy`; returns the exits seen. */
  const runAll = (policy = new VmmMsrPolicy()): MsrExit[] => {
    const exits: MsrExit[] = [];
    for (let i = 0; i < 50; i++) {
      const r = vcpu.run(10_000);
      if (r.blocked) return exits;
      const e = r.exit!;
      if (e.reason !== 'KVM_EXIT_X86_RDMSR' && e.reason !== 'KVM_EXIT_X86_WRMSR') throw new Error(`unexpected exit ${e.reason}: ${r.why}`);
      exits.push(structuredClone(e));
      answerMsrExit(e, policy);
    }
    throw new Error('the guest did not halt');
  };
  return { sim, vm, vcpu, names, events, reg, runAll };
}

const gpEvents = (evs: SimEvent[]): SimEvent[] => evs.filter((e) => e.name === '#GP');

describe('ordinary VM', () => {
  it('a known MSR: the guest RDMSR exits to KVM, which emulates it (IA32_PAT reset value)', () => {
    const m = machine('default', [`_start: mov rcx, ${PAT}`, 'rdmsr', 'hlt']);
    m.runAll();
    expect(m.reg('rax')).toBe(0x00070406n);
    expect(m.reg('rdx')).toBe(0x00070406n);
    const path = m.names().filter((n) => ['RDMSR', 'kvm_msr', '#GP'].includes(n));
    expect(path).toEqual(['RDMSR', 'kvm_msr']);
    expect(m.vm.msrPolicy.accesses.get(PAT)).toBe(1);
  });

  it('an unknown MSR: KVM injects #GP and Linux\'s fixup reads 0', () => {
    const m = machine('default', ['_start: mov rax, 7', 'mov rcx, 0x999', 'rdmsr', 'hlt']);
    m.runAll();
    expect(m.reg('rax')).toBe(0n);
    expect(gpEvents(m.events())[0]).toMatchObject({ layer: 'kvm', args: { msr: '0x999', op: 'RDMSR' } });
    expect(m.names()).toContain('unchecked MSR access error');
  });

  it('a write to a read-only MSR (IA32_ARCH_CAPABILITIES) gets #GP; a write to IA32_LSTAR sticks', () => {
    const m = machine('default', ['_start: mov rcx, 0x10a', 'mov rax, 1', 'mov rdx, 0', 'wrmsr',
      'mov rcx, 0xc0000082', 'mov rax, 0x1234', 'wrmsr', 'rdmsr', 'mov rbx, rax', 'hlt']);
    m.runAll();
    expect(gpEvents(m.events()).map((e) => e.args.msr)).toEqual(['0x10a']);
    expect(m.reg('rbx')).toBe(0x1234n);
  });
});

describe('KVM_X86_SET_MSR_FILTER and user-space MSR exits (userspace_msr_exit_test)', () => {
  const deny1 = (base: number) => ({ flags: KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE, nmsrs: 1, base, bitmap: [0] });

  it('msr_filter_allow: denied MSRs exit with KVM_MSR_EXIT_REASON_FILTER and the VMM answers, or sets error = 1 for #GP', () => {
    const m = machine('default', [
      '_start: mov rcx, 0xda0', 'rdmsr', 'mov rsi, rax', // XSS read → VMM returns 0
      'mov rax, 0', 'mov rdx, 0', 'wrmsr', // XSS = 0 accepted
      'mov rax, 1', 'wrmsr', // XSS = 1 refused → #GP
      'mov rcx, 0x10b', 'rdmsr', // FLUSH_CMD read → #GP
      'mov rax, 0', 'wrmsr', // FLUSH_CMD = 0 → #GP
      'mov rax, 1', 'wrmsr', // FLUSH_CMD = 1 accepted
      `mov rcx, ${MSR_NON_EXISTENT}`, 'mov rax, 2', 'wrmsr', 'mov rax, 0', 'rdmsr', 'mov rdi, rax', // stored and read back
      'hlt',
    ]);
    m.vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, [KVM_MSR_EXIT_REASON_FILTER]);
    m.vm.setMsrFilter({ flags: KVM_MSR_FILTER_DEFAULT_ALLOW, ranges: [deny1(MSR_IA32_XSS), deny1(MSR_IA32_FLUSH_CMD), deny1(MSR_NON_EXISTENT)] });
    const policy = new VmmMsrPolicy();
    policy.set(MSR_IA32_XSS, { read: 0n, write: { only: 0n } });
    policy.set(MSR_IA32_FLUSH_CMD, { read: 'gp', write: { only: 1n } });
    policy.set(MSR_NON_EXISTENT, { read: 'stored', write: 'store' });
    const exits = m.runAll(policy);
    expect(exits.map((e) => [e.reason, e.msr.index, e.msr.reason])).toEqual([
      ['KVM_EXIT_X86_RDMSR', MSR_IA32_XSS, KVM_MSR_EXIT_REASON_FILTER],
      ['KVM_EXIT_X86_WRMSR', MSR_IA32_XSS, KVM_MSR_EXIT_REASON_FILTER],
      ['KVM_EXIT_X86_WRMSR', MSR_IA32_XSS, KVM_MSR_EXIT_REASON_FILTER],
      ['KVM_EXIT_X86_RDMSR', MSR_IA32_FLUSH_CMD, KVM_MSR_EXIT_REASON_FILTER],
      ['KVM_EXIT_X86_WRMSR', MSR_IA32_FLUSH_CMD, KVM_MSR_EXIT_REASON_FILTER],
      ['KVM_EXIT_X86_WRMSR', MSR_IA32_FLUSH_CMD, KVM_MSR_EXIT_REASON_FILTER],
      ['KVM_EXIT_X86_WRMSR', MSR_NON_EXISTENT, KVM_MSR_EXIT_REASON_FILTER],
      ['KVM_EXIT_X86_RDMSR', MSR_NON_EXISTENT, KVM_MSR_EXIT_REASON_FILTER],
    ]);
    expect(exits[1].msr.data).toBe('0x0');
    expect(m.reg('rsi')).toBe(0n);
    expect(m.reg('rdi')).toBe(2n);
    // Three #GPs, as guest_exception_count counts them: XSS = 1, FLUSH_CMD read, FLUSH_CMD = 0.
    expect(gpEvents(m.events()).map((e) => [e.args.msr, e.args.op])).toEqual([['0xda0', 'WRMSR'], ['0x10b', 'RDMSR'], ['0x10b', 'WRMSR']]);
    expect(m.names()).toContain('kvm_msr_allowed');
    // Each instruction counts once, although it ran again after the exit.
    expect(m.vm.msrPolicy.accesses.get(MSR_IA32_XSS)).toBe(3);
  });

  it('without KVM_CAP_X86_USER_SPACE_MSR a filtered access injects #GP', () => {
    const m = machine('default', [`_start: mov rcx, ${PAT}`, 'rdmsr', 'hlt']);
    m.vm.setMsrFilter({ flags: KVM_MSR_FILTER_DEFAULT_ALLOW, ranges: [{ flags: KVM_MSR_FILTER_READ, nmsrs: 1, base: PAT, bitmap: [0] }] });
    expect(m.runAll()).toEqual([]);
    const n = m.names();
    expect(n.indexOf('kvm_msr_allowed')).toBeLessThan(n.indexOf('#GP'));
    expect(m.reg('rax')).toBe(0n);
  });

  it('filter_deny: KVM_MSR_FILTER_DEFAULT_DENY denies what no range allows; x2APIC MSRs are never filtered; an unknown MSR exits with UNKNOWN', () => {
    const m = machine('default', [
      `_start: mov rcx, ${PAT}`, 'rdmsr', 'mov rsi, rax', // allowed by the bitmap: in-kernel emulation
      'mov rcx, 0xc0000084', 'rdmsr', 'mov rdi, rax', // MSR_SYSCALL_MASK: denied → user space
      'mov rcx, 0x808', 'rdmsr', // x2APIC TPR: always allowed
      'mov rcx, 0xdeadbeef', 'rdmsr', 'mov rbx, rax', // allowed by its range, unknown to KVM
      'hlt',
    ]);
    m.vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, [KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_INVAL]);
    m.vm.setMsrFilter({
      flags: KVM_MSR_FILTER_DEFAULT_DENY,
      ranges: [
        { flags: KVM_MSR_FILTER_READ, base: 0, nmsrs: 0x1000, bitmap: allowBitmap(0x1000) },
        { flags: KVM_MSR_FILTER_READ, base: 0xc0000000, nmsrs: 0x1000, bitmap: allowBitmap(0x1000, [0x84]) },
        { flags: KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE, base: 0xdeadbeef, nmsrs: 1, bitmap: [1] },
      ],
    });
    const policy = new VmmMsrPolicy();
    policy.set(0xc0000084, { read: 0xc0000084n });
    policy.set(0xdeadbeef, { read: 0xdeadbeefn });
    const exits = m.runAll(policy);
    expect(exits.map((e) => [e.msr.index, e.msr.reason])).toEqual([[0xc0000084, KVM_MSR_EXIT_REASON_FILTER], [0xdeadbeef, KVM_MSR_EXIT_REASON_UNKNOWN]]);
    expect([m.reg('rsi'), m.reg('rdi'), m.reg('rbx')]).toEqual([0x00070406n, 0xc0000084n, 0xdeadbeefn]);
    expect(gpEvents(m.events())).toEqual([]);
  });
});

describe('TD', () => {
  it('native MSRs (IA32_SPEC_CTRL, IA32_LSTAR) never leave the TD, even when the filter denies them', () => {
    const m = machine('tdx', ['_start: mov rcx, 0x48', 'mov rax, 1', 'mov rdx, 0', 'wrmsr', 'rdmsr', 'mov rbx, rax',
      'mov rcx, 0xc0000082', 'rdmsr', 'hlt']);
    m.vm.setMsrFilter({ flags: KVM_MSR_FILTER_DEFAULT_DENY, ranges: [{ flags: KVM_MSR_FILTER_READ, nmsrs: 1, base: 0, bitmap: [1] }] });
    const from = m.events().length;
    m.runAll();
    expect(m.reg('rbx')).toBe(1n);
    const n = m.names(from);
    expect(n.filter((x) => ['#VE', '#GP', 'kvm_msr', 'kvm_msr_allowed'].includes(x))).toEqual([]);
    expect(n.filter((x) => x === 'RDMSR' || x === 'WRMSR')).toEqual(['WRMSR', 'RDMSR', 'RDMSR']);
  });

  it('a #VE MSR KVM emulates: RDMSR IA32_PAT → #VE → TDG.VP.VMCALL<Instruction.RDMSR> → KVM emulates', () => {
    const m = machine('tdx', [`_start: mov rcx, ${PAT}`, 'rdmsr', 'hlt']);
    const from = m.events().length;
    m.runAll();
    expect(m.reg('rax')).toBe(0x00070406n);
    expect(m.names(from).filter((x) => ['RDMSR', '#VE', 'TDG.VP.VMCALL<Instruction.RDMSR>', 'kvm_msr'].includes(x)))
      .toEqual(['RDMSR', '#VE', 'TDG.VP.VMCALL<Instruction.RDMSR>', 'kvm_msr']);
  });

  it('a #VE MSR KVM does not emulate for a TD (MSR_KVM_SYSTEM_TIME_NEW): INVALID_OPERAND, the guest treats it as #GP', () => {
    const m = machine('tdx', ['_start: mov rcx, 0x4b564d01', 'mov rax, 0x1000', 'mov rdx, 0', 'wrmsr', 'hlt']);
    m.runAll();
    const call = m.events().filter((e) => e.name === 'TDG.VP.VMCALL<Instruction.WRMSR>');
    expect(call.at(-1)!.args.status).toBe('TDVMCALL_STATUS_INVALID_OPERAND');
    expect(m.names()).toContain('unchecked MSR access error');
  });

  it('with KVM_CAP_X86_USER_SPACE_MSR the refused TD access exits with KVM_MSR_EXIT_REASON_INVAL and the VMM can answer', () => {
    const m = machine('tdx', ['_start: mov rcx, 0x4b564d01', 'rdmsr', 'hlt']);
    m.vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, [KVM_MSR_EXIT_REASON_INVAL]);
    const policy = new VmmMsrPolicy();
    policy.set(0x4b564d01, { read: 0x5000n });
    const exits = m.runAll(policy);
    expect(exits.map((e) => [e.reason, e.msr.reason])).toEqual([['KVM_EXIT_X86_RDMSR', KVM_MSR_EXIT_REASON_INVAL]]);
    expect(m.reg('rax')).toBe(0x5000n);
  });

  it('the filter applies to forwarded TD MSRs: a denied IA32_PAT read goes to the VMM, whose error = 1 fails the TDVMCALL', () => {
    const m = machine('tdx', [`_start: mov rcx, ${PAT}`, 'rdmsr', 'hlt']);
    m.vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, [KVM_MSR_EXIT_REASON_FILTER]);
    m.vm.setMsrFilter({ flags: KVM_MSR_FILTER_DEFAULT_ALLOW, ranges: [{ flags: KVM_MSR_FILTER_READ, nmsrs: 1, base: PAT, bitmap: [0] }] });
    const exits = m.runAll(new VmmMsrPolicy());
    expect(exits.map((e) => e.msr.reason)).toEqual([KVM_MSR_EXIT_REASON_FILTER]);
    expect(m.events().filter((e) => e.name === 'TDG.VP.VMCALL<Instruction.RDMSR>').at(-1)!.args.status).toBe('TDVMCALL_STATUS_INVALID_OPERAND');
    expect(m.reg('rax')).toBe(0n);
  });

  it('IA32_EFER: reads are native, writes #VE and KVM refuses them (tdx_is_read_only_msr)', () => {
    const m = machine('tdx', ['_start: mov rcx, 0xc0000080', 'rdmsr', 'mov rbx, rax', 'wrmsr', 'hlt']);
    m.runAll();
    expect(m.reg('rbx')).toBe(0xd01n);
    expect(m.events().filter((e) => e.name === 'TDG.VP.VMCALL<Instruction.WRMSR>').at(-1)!.args.status).toBe('TDVMCALL_STATUS_INVALID_OPERAND');
  });

  it('a #GP-class MSR (IA32_VMX_BASIC): the TDX module raises #GP, KVM never hears of it', () => {
    const m = machine('tdx', ['_start: mov rcx, 0x480', 'rdmsr', 'hlt']);
    m.runAll();
    expect(gpEvents(m.events())).toMatchObject([{ layer: 'tdx-module', args: { msr: '0x480' } }]);
    expect(m.names()).not.toContain('TDG.VP.VMCALL<Instruction.RDMSR>');
  });
});

describe('the talk\'s additional MSR constraints (a proposal)', () => {
  it('fixed: reads return the value, writes are dropped; read-only: writes #GP (ordinary VM)', () => {
    const m = machine('default', [`_start: mov rcx, ${PAT}`, 'mov rax, 6', 'mov rdx, 0', 'wrmsr', 'rdmsr', 'mov rbx, rax',
      'mov rcx, 0x1a0', 'rdmsr', 'mov rsi, rax', 'wrmsr', 'hlt']);
    setMsrConstraint(m.vm, PAT, { kind: 'fixed', value: 0x0007040600070406n });
    setMsrConstraint(m.vm, 0x1a0, { kind: 'read-only' });
    m.runAll();
    expect(m.reg('rbx')).toBe(0x00070406n);
    expect(m.reg('rsi')).toBe(1n);
    expect(gpEvents(m.events()).map((e) => e.args.msr)).toEqual(['0x1a0']);
    expect(m.events().filter((e) => e.name === 'MSR constraint (proposal)').length).toBeGreaterThanOrEqual(4);
  });

  it('in a TD the constraint applies to what the TDX module forwards', () => {
    const m = machine('tdx', ['_start: mov rcx, 0x6e0', 'rdmsr', 'hlt']);
    setMsrConstraint(m.vm, 0x6e0, { kind: 'fixed', value: 0x42n });
    m.runAll();
    expect(m.reg('rax')).toBe(0x42n);
  });
});
