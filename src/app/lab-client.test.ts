import { describe, expect, it } from 'vitest';
import type { FramePacket } from '../worker/protocol';
import { mergeDirty } from './lab-client';

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
