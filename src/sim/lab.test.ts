import { describe, expect, test } from 'vitest';
import { PRESETS } from '../scenarios';
import { frameOwners } from './inspect';
import { Lab } from './lab';

describe('Lab.hostFrameOwners', () => {
  test('patching only the changed frames keeps the map equal to a full rebuild, slice after slice', () => {
    const lab = new Lab(PRESETS['lazy-accept']);
    const kept = lab.hostFrameOwners();
    let slices = 0;
    let patched = 0;
    while (!lab.done && slices++ < 400) {
      lab.advance(500);
      const before = kept.slice();
      lab.hostFrameOwners(kept);
      if (Buffer.compare(Buffer.from(before), Buffer.from(kept)) !== 0) patched++;
      const full = frameOwners(lab.run.host, lab.run.kvm.vms, new Uint8Array(kept.length));
      expect(Buffer.compare(Buffer.from(kept), Buffer.from(full))).toBe(0);
    }
    expect(lab.done).toBe(true);
    expect(patched).toBeGreaterThan(0);
  });
});
