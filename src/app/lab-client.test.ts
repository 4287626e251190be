import { describe, expect, it } from 'vitest';
import type { FramePacket, WirePacket } from '../worker/protocol';
import { completePacket, focusFor, mergeDirty } from './lab-client';

const packet = (dirty: Record<string, readonly [number, number] | undefined>, host = 'host0'): FramePacket =>
  ({ pages: Object.entries(dirty).map(([vm, d]) => ({ host, vm, states: new Uint8Array(0), version: '', dirty: d })) }) as unknown as FramePacket;

describe('mergeDirty', () => {
  it('a frame that replaces one never applied covers what that one said had changed', () => {
    const older = packet({ a: [100, 200], b: [0, 0], c: [5, 6], d: undefined });
    const newer = packet({ a: [150, 400], b: [7, 9], c: [0, 0], d: [1, 2] });
    mergeDirty(older, newer);
    expect(newer.pages.map((p) => p.dirty)).toEqual([[100, 400], [7, 9], [5, 6], undefined]);
  });
  it('a VM of the same name on another host is another VM: its range is not merged into this one', () => {
    const newer = packet({ a: [3, 4] }, 'host1');
    mergeDirty(packet({ a: [100, 200] }, 'host0'), newer);
    expect(newer.pages[0].dirty).toBeUndefined();
  });
  it('a VM the older frame did not have: everything may have changed', () => {
    const newer = packet({ e: [3, 4] });
    mergeDirty(packet({}), newer);
    expect(newer.pages[0].dirty).toBeUndefined();
  });
});

describe('completePacket', () => {
  const wire = (pages: Record<string, Uint8Array | undefined>, hostOwners?: Uint8Array, host = 'host0'): WirePacket =>
    ({ n: 0, pages: Object.entries(pages).map(([vm, states]) => ({ host, vm, states, version: 'v' })), hosts: [{ host, owners: hostOwners, version: 'h' }] }) as unknown as WirePacket;

  it('an array the worker left out is the one received last, the same object', () => {
    const kept = new Map<string, Uint8Array>();
    const a1 = new Uint8Array([1, 2]), b1 = new Uint8Array([3]), h1 = new Uint8Array([0, 1, 2]);
    const first = completePacket(wire({ a: a1, b: b1 }, h1), kept);
    expect(first.pages.map((p) => p.states)).toEqual([a1, b1]);
    expect(first.hosts[0].owners).toBe(h1);
    const a2 = new Uint8Array([5, 6]);
    const second = completePacket(wire({ a: a2, b: undefined }), kept);
    expect(second.pages[0].states).toBe(a2);
    expect(second.pages[1].states).toBe(b1);
    expect(second.hosts[0].owners).toBe(h1);
    const third = completePacket(wire({ a: undefined, b: undefined }), kept);
    expect(third.pages[0].states).toBe(a2);
  });

  it('a VM named "host" and the host map are kept apart', () => {
    const kept = new Map<string, Uint8Array>();
    const vm = new Uint8Array([9]), host = new Uint8Array([1, 1]);
    completePacket(wire({ host: vm }, host), kept);
    const next = completePacket(wire({ host: undefined }), kept);
    expect(next.pages[0].states).toBe(vm);
    expect(next.hosts[0].owners).toBe(host);
  });

  it('two VMs of the same name on two hosts, and the two hosts\' maps, keep their own arrays', () => {
    const kept = new Map<string, Uint8Array>();
    const onA = new Uint8Array([1]), onB = new Uint8Array([2, 2]), ownA = new Uint8Array([7]), ownB = new Uint8Array([8]);
    const both = (a?: Uint8Array, b?: Uint8Array, oa?: Uint8Array, ob?: Uint8Array): WirePacket => ({
      n: 0,
      pages: [{ host: 'a', vm: 'guest', states: a, version: '1' }, { host: 'b', vm: 'guest', states: b, version: '1' }],
      hosts: [{ host: 'a', owners: oa, version: '1' }, { host: 'b', owners: ob, version: '1' }],
    }) as unknown as WirePacket;
    completePacket(both(onA, onB, ownA, ownB), kept);
    const next = completePacket(both(), kept);
    expect(next.pages.map((p) => [p.host, p.states])).toEqual([['a', onA], ['b', onB]]);
    expect(next.pages[0].states).toBe(onA);
    expect(next.pages[1].states).toBe(onB);
    expect(next.hosts[0].owners).toBe(ownA);
    expect(next.hosts[1].owners).toBe(ownB);
  });
});

describe('focusFor', () => {
  const frame = (vms: [string, string][]) => ({ frame: { vms: vms.map(([host, name]) => ({ host, name })) } }) as unknown as FramePacket;
  it('a new scenario focuses its first VM, with its host', () => {
    expect(focusFor({ focusVm: null }, frame([['b', 'x'], ['a', 'x']]))).toEqual({ focusVm: { host: 'b', vm: 'x' } });
  });
  it('the focused VM stays while the frame has it, told apart from a VM of the same name on another host', () => {
    expect(focusFor({ focusVm: { host: 'a', vm: 'x' } }, frame([['b', 'x'], ['a', 'x']]))).toEqual({});
    expect(focusFor({ focusVm: { host: 'c', vm: 'x' } }, frame([['b', 'x'], ['a', 'x']]))).toEqual({ focusVm: { host: 'b', vm: 'x' } });
  });
});
