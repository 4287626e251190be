import { describe, expect, it } from 'vitest';
import type { FramePacket, WirePacket } from '../worker/protocol';
import { completePacket, mergeDirty } from './lab-client';

const packet = (dirty: Record<string, readonly [number, number] | undefined>): FramePacket =>
  ({ pages: Object.entries(dirty).map(([vm, d]) => ({ vm, states: new Uint8Array(0), version: '', dirty: d })) }) as unknown as FramePacket;

describe('mergeDirty', () => {
  it('a frame that replaces one never applied covers what that one said had changed', () => {
    const older = packet({ a: [100, 200], b: [0, 0], c: [5, 6], d: undefined });
    const newer = packet({ a: [150, 400], b: [7, 9], c: [0, 0], d: [1, 2] });
    mergeDirty(older, newer);
    expect(newer.pages.map((p) => p.dirty)).toEqual([[100, 400], [7, 9], [5, 6], undefined]);
  });
  it('a VM the older frame did not have: everything may have changed', () => {
    const newer = packet({ e: [3, 4] });
    mergeDirty(packet({}), newer);
    expect(newer.pages[0].dirty).toBeUndefined();
  });
});

describe('completePacket', () => {
  const wire = (pages: Record<string, Uint8Array | undefined>, hostOwners?: Uint8Array): WirePacket =>
    ({ n: 0, pages: Object.entries(pages).map(([vm, states]) => ({ vm, states, version: 'v' })), hostOwners }) as unknown as WirePacket;

  it('an array the worker left out is the one received last, the same object', () => {
    const kept = new Map<string, Uint8Array>();
    const a1 = new Uint8Array([1, 2]), b1 = new Uint8Array([3]), h1 = new Uint8Array([0, 1, 2]);
    const first = completePacket(wire({ a: a1, b: b1 }, h1), kept);
    expect(first.pages.map((p) => p.states)).toEqual([a1, b1]);
    expect(first.hostOwners).toBe(h1);
    const a2 = new Uint8Array([5, 6]);
    const second = completePacket(wire({ a: a2, b: undefined }), kept);
    expect(second.pages[0].states).toBe(a2);
    expect(second.pages[1].states).toBe(b1);
    expect(second.hostOwners).toBe(h1);
    const third = completePacket(wire({ a: undefined, b: undefined }), kept);
    expect(third.pages[0].states).toBe(a2);
  });

  it('a VM named "host" and the host map are kept apart', () => {
    const kept = new Map<string, Uint8Array>();
    const vm = new Uint8Array([9]), host = new Uint8Array([1, 1]);
    completePacket(wire({ host: vm }, host), kept);
    const next = completePacket(wire({ host: undefined }), kept);
    expect(next.pages[0].states).toBe(vm);
    expect(next.hostOwners).toBe(host);
  });
});
