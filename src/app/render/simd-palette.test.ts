import { describe, expect, test } from 'vitest';
import { createSimdPainter, moduleBytes } from './simd-palette';

describe('createSimdPainter', () => {
  test('paints px[i] = pal[src[i]] like the plain loop, for every code and odd lengths', () => {
    const pal = new Uint32Array(256);
    for (let c = 0; c < 16; c++) pal[c] = (0xff000000 | (c * 0x0f0d0b + 0x102030)) >>> 0;
    for (const n of [1, 15, 16, 17, 1000, 4099]) {
      const p = createSimdPainter(n);
      expect(p).not.toBeNull();
      const src = new Uint8Array(n);
      for (let i = 0; i < n; i++) src[i] = (i * 7 + (i >> 5)) % 16;
      p!.paint(src, n, pal);
      const want = Uint32Array.from(src, (c) => pal[c]);
      expect(Array.from(p!.pixels)).toEqual(Array.from(want));
      expect(p!.bytes.length).toBe(4 * n);
    }
  });

  test('a palette change takes effect', () => {
    const p = createSimdPainter(32)!;
    const src = Uint8Array.from({ length: 32 }, (_, i) => (i < 16 ? 3 : 9));
    const a = new Uint32Array(256).fill(0xff0000ff);
    const b = new Uint32Array(256).fill(0xff00ff00);
    b[9] = 0xff123456;
    p.paint(src, 32, a);
    expect(p.pixels[0]).toBe(0xff0000ff);
    p.paint(src, 32, b);
    expect(p.pixels[0]).toBe(0xff00ff00);
    expect(p.pixels[20]).toBe(0xff123456);
  });

  test('both forms of the module are valid WebAssembly where the engine has them (node 20 lacks relaxed SIMD; Chromium has it)', () => {
    expect(WebAssembly.validate(moduleBytes(false))).toBe(true);
    const relaxed = moduleBytes(true);
    // Same module but for the four swizzle opcodes (0xfd 0x0e → 0xfd 0x80 0x02).
    expect(relaxed.length).toBe(moduleBytes(false).length + 4);
  });
});
