import { describe, expect, test } from 'vitest';
import { moduleBytes, paletteModule } from './simd-palette';

describe('the SIMD palette module', () => {
  test('both forms of the module are valid WebAssembly where the engine has them (node 20 lacks relaxed SIMD; Chromium has it)', () => {
    expect(WebAssembly.validate(moduleBytes(false))).toBe(true);
    const relaxed = moduleBytes(true);
    // Same module but for the four swizzle opcodes (0xfd 0x0e → 0xfd 0x80 0x02).
    expect(relaxed.length).toBe(moduleBytes(false).length + 4);
    expect(paletteModule()).not.toBeNull();
  });
});
