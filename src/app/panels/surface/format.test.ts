import { describe, expect, it } from 'vitest';
import { DIGESTS, checkMsrValue, countStates, isFlaggedLogLine, mergeReset, parseMsrIndex, rangeText } from './format';
import { ordinaryView, tdView } from './fixture.test-data';

describe('attack-surface helpers', () => {
  it('flags boot-log lines that report errors or missing hardware, and no others', () => {
    expect(isFlaggedLogLine('i8042: PNP: No PS/2 controller found.')).toBe(true);
    expect(isFlaggedLogLine('hpet: HPET not present, falling back to the TSC')).toBe(true);
    expect(isFlaggedLogLine('tpm_tis: probe of MSFT0101:00 failed with error -5')).toBe(true);
    expect(isFlaggedLogLine('00:04: ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a 16550A')).toBe(false);
    expect(isFlaggedLogLine('clocksource: Switched to clocksource tsc-early')).toBe(false);
    // "No " is Linux's capitalised probe failure, not any "no" inside a word or sentence.
    expect(isFlaggedLogLine('Nothing to do: node 0 online')).toBe(false);
  });

  it('reads MSR indexes and fixed values the way the command needs them', () => {
    expect(parseMsrIndex('0xc0000080')).toBe(0xc0000080);
    expect(parseMsrIndex('27')).toBe(0x1b);
    expect(parseMsrIndex('IA32_EFER')).toBeNull();
    expect(checkMsrValue(' 0xFEE00D00 ')).toBe('0xfee00d00');
    expect(checkMsrValue('42')).toBe('0x2a');
    expect(checkMsrValue('18446744073709551616')).toBeNull(); // 2^64 does not fit an MSR
    expect(checkMsrValue('0x10000000000000000')).toBeNull();
    expect(checkMsrValue('on')).toBeNull();
  });

  it('puts the reset state of two VMs side by side, one row per register', () => {
    const rows = mergeReset([ordinaryView(), tdView()]);
    expect(rows.map((r) => r.name)).toEqual(['RIP', 'CS', 'CR0', 'X2APIC']);
    expect(rows[0].cells.map((c) => c?.value)).toEqual(['0xfff0', '0xfffffff0']);
    expect(rows[1].cells[1]).toBeNull(); // the TD's reset state has no real-mode CS
    expect(rows[3].cells.map((c) => c?.setBy ?? null)).toEqual([null, 'KVM_TDX_INIT_VCPU']);
  });

  it('counts map states and writes the section digests', () => {
    const td = tdView();
    expect(countStates(td.ports)).toEqual({ present: 6, allowed: 0, frozen: 0, denied: 2, absent: 3 });
    expect(rangeText({ start: '0x64', end: '0x64' })).toBe('0x64');
    expect(rangeText({ start: '0x3f8', end: '0x3ff' })).toBe('0x3f8–0x3ff');
    expect(DIGESTS.devices(td)).toBe('7 of 8 on');
    expect(DIGESTS.ports(td)).toBe('6 ranges reach host code');
    expect(DIGESTS.cpuid(td)).toBe('2 leaves, 1 exit with #VE');
    expect(DIGESTS.boot(td)).toBe('6 lines, 2 flagged (boot 1)');
    const off = ordinaryView({ hpet: false });
    expect(DIGESTS.acpi(off)).toBe('3 tables, 3 changed since the last boot');
  });
});
