import { describe, expect, it } from 'vitest';
import type { FramePacket } from '../worker/protocol';
import { findHostOwners, findPages, findVm, parseVmKey, sameVm, vmKey, vmLabel } from './vm-ref';

describe('VmRef helpers', () => {
  it('two VMs of one name on two hosts are two VMs', () => {
    expect(sameVm({ host: 'a', vm: 'x' }, { host: 'a', vm: 'x' })).toBe(true);
    expect(sameVm({ host: 'a', vm: 'x' }, { host: 'b', vm: 'x' })).toBe(false);
    expect(sameVm(null, { host: 'a', vm: 'x' })).toBe(false);
    expect(vmKey({ host: 'a', vm: 'x' })).not.toBe(vmKey({ host: 'b', vm: 'x' }));
  });

  it('a key cannot be forged by a name that holds the separator', () => {
    const odd = { host: 'a","b', vm: 'c' };
    expect(vmKey(odd)).not.toBe(vmKey({ host: 'a', vm: 'b","c' }));
    expect(parseVmKey(vmKey(odd))).toEqual(odd);
  });

  it('looks a VM, its pages and its host\'s owners up by host as well as name', () => {
    const p = {
      frame: { vms: [{ host: 'a', name: 'x', gfnCount: 1 }, { host: 'b', name: 'x', gfnCount: 2 }] },
      pages: [{ host: 'a', vm: 'x', states: new Uint8Array(1) }, { host: 'b', vm: 'x', states: new Uint8Array(2) }],
      hosts: [{ host: 'a', owners: new Uint8Array(3) }, { host: 'b', owners: new Uint8Array(4) }],
    } as unknown as FramePacket;
    expect(findVm(p.frame, { host: 'b', vm: 'x' })?.gfnCount).toBe(2);
    expect(findPages(p, { host: 'b', vm: 'x' })?.states.length).toBe(2);
    expect(findPages(p, { host: 'c', vm: 'x' })).toBeUndefined();
    expect(findHostOwners(p, 'b')?.owners.length).toBe(4);
    expect(vmLabel({ host: 'b', vm: 'x' }, 2)).toBe('x on b');
    expect(vmLabel({ host: 'b', vm: 'x' }, 1)).toBe('x');
  });
});
