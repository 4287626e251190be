/**
 * The initial vCPU state of an ordinary VM and of a TD (reset-state.ts): KVM's architectural reset
 * plus QEMU's x86_cpu_reset() against the TDX module's TDH.VP.INIT.
 */
import { describe, expect, it } from 'vitest';
import { RESET_ROW_NAMES, resetState } from './reset-state';
import type { RegRow } from './surface-view';

const value = (rows: RegRow[], name: string): string => {
  const row = rows.find((r) => r.name === name);
  if (!row) throw new Error(`no row ${name}`);
  return row.value;
};
const setBy = (rows: RegRow[], name: string): string => rows.find((r) => r.name === name)!.setBy;

const bsp = { gpaw: 52, vcpuIndex: 0 } as const;

describe('both kinds', () => {
  it('give the same real register names, in the same order, with hex values and a setter each', () => {
    for (const kind of ['default', 'tdx'] as const) {
      for (const mode of ['upstream', 'talk'] as const) {
        const rows = resetState(kind, mode, bsp);
        expect(rows.map((r) => r.name)).toEqual([...RESET_ROW_NAMES]);
        for (const r of rows) {
          expect(r.value).toMatch(/^0x[0-9a-f]+$/);
          expect(r.setBy.length).toBeGreaterThan(0);
        }
      }
    }
    expect(RESET_ROW_NAMES).toEqual(expect.arrayContaining(['cs.selector', 'cs.base', 'rip', 'rflags', 'cr0', 'cr4', 'efer', 'apic_base', 'rbx', 'rcx', 'rsi']));
  });

  it('are deterministic', () => {
    const o = { hobGpa: 0x809000, gpaw: 48, vcpuIndex: 2 } as const;
    expect(resetState('tdx', 'upstream', o)).toEqual(resetState('tdx', 'upstream', o));
    expect(resetState('default', 'talk', o)).toEqual(resetState('default', 'talk', o));
  });
});

describe('ordinary VM', () => {
  const rows = resetState('default', 'upstream', bsp);

  it('starts in real mode at 0xf000:0xfff0 (physical 0xfffffff0 through the CS base)', () => {
    expect(value(rows, 'cs.selector')).toBe('0xf000');
    expect(value(rows, 'cs.base')).toBe('0xffff0000');
    expect(value(rows, 'cs.limit')).toBe('0xffff');
    expect(value(rows, 'rip')).toBe('0xfff0');
    expect(value(rows, 'rflags')).toBe('0x2');
    expect(value(rows, 'cr0')).toBe('0x60000010');
    expect(value(rows, 'cr4')).toBe('0x0');
    expect(value(rows, 'efer')).toBe('0x0');
    expect(value(rows, 'dr6')).toBe('0xffff0ff0');
    expect(value(rows, 'dr7')).toBe('0x400');
  });

  it('puts the CPU signature in RDX and zeroes the other GPRs', () => {
    expect(value(rows, 'rdx')).toBe('0x806f8');
    for (const r of ['rax', 'rbx', 'rcx', 'rsi', 'r8']) expect(value(rows, r)).toBe('0x0');
  });

  it('names KVM and QEMU as the setters', () => {
    expect(setBy(rows, 'rip')).toContain('architectural reset (KVM: kvm_vcpu_reset())');
    expect(setBy(rows, 'rip')).toContain('KVM_SET_REGS');
    expect(setBy(rows, 'cs.selector')).toContain('QEMU: x86_cpu_reset() → KVM_SET_SREGS');
  });

  it('gives the BSP an xAPIC base with the BSP bit; an AP has none and waits for INIT/SIPI', () => {
    expect(value(rows, 'apic_base')).toBe('0xfee00900');
    expect(value(rows, 'mp_state')).toBe('0x0');
    const ap = resetState('default', 'upstream', { gpaw: 52, vcpuIndex: 1 });
    expect(value(ap, 'apic_base')).toBe('0xfee00800');
    expect(value(ap, 'mp_state')).toBe('0x1');
    expect(setBy(ap, 'mp_state')).toContain('KVM_MP_STATE_UNINITIALIZED');
  });

  it("in talk mode keeps the values but the VMM pins the entry state, labelled as the talk's proposal", () => {
    const talk = resetState('default', 'talk', bsp);
    expect(talk.map((r) => r.value)).toEqual(rows.map((r) => r.value));
    for (const name of ['rip', 'cs.selector', 'cr0', 'efer']) expect(setBy(talk, name)).toContain("talk's proposal, not merged");
    expect(setBy(talk, 'rdx')).toBe(setBy(rows, 'rdx'));
    expect(setBy(talk, 'apic_base')).toBe(setBy(rows, 'apic_base'));
  });
});

describe('TD', () => {
  const rows = resetState('tdx', 'upstream', { hobGpa: 0x809000, gpaw: 52, vcpuIndex: 0 });

  it('starts in 32-bit protected mode with flat segments at RIP 0xfffffff0', () => {
    expect(value(rows, 'rip')).toBe('0xfffffff0');
    expect(value(rows, 'cs.base')).toBe('0x0');
    expect(value(rows, 'cs.limit')).toBe('0xffffffff');
    expect(value(rows, 'cs.ar')).toBe('0xc09b');
    expect(value(rows, 'ds/es/fs/gs/ss.ar')).toBe('0xc093');
    expect(value(rows, 'cr0')).toBe('0x21');
    expect(value(rows, 'cr4')).toBe('0x40');
    expect(value(rows, 'efer')).toBe('0x901');
    expect(setBy(rows, 'rip')).toContain('TDH.VP.INIT');
  });

  it('passes GPAW in RBX, the KVM_TDX_INIT_VCPU value in RCX and R8, the vCPU index in RSI', () => {
    expect(value(rows, 'rbx')).toBe('0x34');
    expect(value(rows, 'rcx')).toBe('0x809000');
    expect(value(rows, 'r8')).toBe('0x809000');
    expect(value(rows, 'rsi')).toBe('0x0');
    expect(value(rows, 'rdx')).toBe('0x806f8');
    const ap = resetState('tdx', 'upstream', { gpaw: 48, vcpuIndex: 3 });
    expect(value(ap, 'rbx')).toBe('0x30');
    expect(value(ap, 'rsi')).toBe('0x3');
    expect(value(ap, 'rcx')).toBe('0x0');
  });

  it('is in x2APIC mode, the BSP bit only on vCPU 0, and every vCPU starts at the same RIP', () => {
    expect(value(rows, 'apic_base')).toBe('0xfee00d00');
    const ap = resetState('tdx', 'upstream', { gpaw: 52, vcpuIndex: 1 });
    expect(value(ap, 'apic_base')).toBe('0xfee00c00');
    expect(value(ap, 'rip')).toBe('0xfffffff0');
    expect(value(ap, 'mp_state')).toBe('0x0');
  });

  it('is the same in talk mode: the TDX module already owns the state', () => {
    const o = { hobGpa: 0x809000, gpaw: 52, vcpuIndex: 0 } as const;
    expect(resetState('tdx', 'talk', o)).toEqual(resetState('tdx', 'upstream', o));
  });

  it('marks what the sources did not confirm', () => {
    expect(setBy(rows, 'cs.selector')).toContain('(unverified');
    expect(setBy(rows, 'rbx')).not.toContain('unverified');
  });
});
