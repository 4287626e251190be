import { describe, expect, test } from 'vitest';
import { editedSource, originOf, programOf, programPath, withPrograms } from './scenario-edit';

const scenario = {
  version: 1,
  vms: [
    { name: 'ordinary', type: 'default', program: ['_start:', '    hlt'] },
    { name: 'td', type: 'tdx', program: '_start:\n    hlt', origin: '0x200000' },
  ],
};

describe('scenario editing', () => {
  test('a program given as lines or as one string reads as one text', () => {
    expect(programOf(scenario, 'ordinary')).toBe('_start:\n    hlt');
    expect(programOf(scenario, 'td')).toBe('_start:\n    hlt');
    expect(programOf(scenario, 'nope')).toBeNull();
  });

  test('origin: hex string, size, number, default', () => {
    expect(originOf(scenario, 'td')).toBe(0x200000);
    expect(originOf(scenario, 'ordinary')).toBe(0x100000);
    expect(originOf({ vms: [{ name: 'a', origin: '1M' }] }, 'a')).toBe(0x100000);
    expect(originOf({ vms: [{ name: 'a', origin: 4096 }] }, 'a')).toBe(4096);
  });

  test('edits go into a copy, keeping the original form', () => {
    const copy = withPrograms(scenario, { ordinary: '_start:\n    mov rax, 1\n    hlt', td: 'x' }) as typeof scenario;
    expect(copy.vms[0].program).toEqual(['_start:', '    mov rax, 1', '    hlt']);
    expect(copy.vms[1].program).toBe('x');
    expect(scenario.vms[0].program).toEqual(['_start:', '    hlt']);
    expect(programPath(scenario, 'td')).toBe('$.vms[1].program');
  });

  test('the source is marked edited once', () => {
    expect(editedSource('host-reads-secret')).toBe('host-reads-secret (edited)');
    expect(editedSource('host-reads-secret (edited)')).toBe('host-reads-secret (edited)');
  });
});
