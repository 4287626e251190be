import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BAND_PIXELS, createPaletteImage, paintPixels, patchCodes } from './palette-image';

/** The first index where two pixel arrays differ, or -1 (toEqual on 200,000 words takes seconds). */
function firstDiff(a: Uint32Array | Uint8Array, b: Uint32Array | Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

const naive = (src: Uint8Array, pal: Uint32Array) => Uint32Array.from(src, (s) => pal[s]);
const palette = (k: number) => new Uint32Array(256).map((_, i) => (0xff000000 | (i * 0x010203 + k * 0x0a0b0c)) >>> 0);

describe('paintPixels', () => {
  const pal = palette(0);

  it('matches the one-lookup-per-page loop on runs, mixed words and a ragged tail', () => {
    const src = new Uint8Array(4096 + 3);
    src.fill(2);
    src.fill(5, 0, 1024); // a run of whole words
    src.fill(0, 2000, 3001); // a run that starts and ends inside words
    for (let i = 0; i < 300; i++) src[(i * 7919) % src.length] = i & 7; // scattered pages
    const px = new Uint32Array(src.length);
    paintPixels(src, src.length, pal, px);
    expect(px).toEqual(naive(src, pal));
  });

  it('tells a run of zeros from a word whose last page is 0x80 (-0 as a double) and handles NaN patterns', () => {
    const src = new Uint8Array(64);
    src[15] = 0x80; // bytes 8..15 read as a double are -0
    src.fill(0xff, 32, 48); // all-ones words read as NaN
    const px = new Uint32Array(src.length);
    paintPixels(src, src.length, pal, px);
    expect(px).toEqual(naive(src, pal));
  });

  it('handles a view that is not word-aligned', () => {
    const buf = new Uint8Array(1030).map((_, i) => (i >> 5) & 7);
    const src = buf.subarray(3);
    const px = new Uint32Array(src.length);
    paintPixels(src, src.length, pal, px);
    expect(px).toEqual(naive(src, pal));
  });
});

describe('patchCodes', () => {
  it('copies only what changed and reports the rows it changed', () => {
    const before = new Uint8Array(1024 + 2).fill(1);
    const codes = before.slice();
    expect(patchCodes(before, codes, before.length, 64)).toBeNull();
    const after = before.slice();
    after[130] = 6; // row 2 of 64 pages per row
    after[1025] = 5; // the ragged tail, row 16
    expect(patchCodes(after, codes, after.length, 64)).toEqual([2, 16]);
    expect(codes).toEqual(after);
  });

  it('compares only from `from` on (the range the worker said may have changed), at any alignment', () => {
    const before = new Uint8Array(1000).fill(2);
    const codes = before.slice();
    const after = before.slice();
    after[10] = 7; // before the range: not looked at
    after[501] = 3;
    after[998] = 4; // in the tail past the last whole word
    expect(patchCodes(after, codes, 999, 64, 501)).toEqual([7, 15]);
    expect(codes[10]).toBe(2);
    expect(codes[501]).toBe(3);
    expect(codes[998]).toBe(4);
    expect(patchCodes(after, codes, 600, 64, 599)).toBeNull();
  });
});

/** A 2D context that keeps what was put into a cols × rows image, and counts the puts. */
function fakeCanvas(cols: number, rows: number) {
  const image = new Uint32Array(cols * rows).fill(0xdeadbeef);
  const puts: [number, number][] = [];
  const ctx = {
    putImageData(img: ImageData, dx: number, dy: number, x: number, y: number, w: number, h: number) {
      const src = new Uint32Array(img.data.buffer, img.data.byteOffset, img.width * img.height);
      for (let r = y; r < y + h; r++) for (let c = x; c < x + w; c++) image[(dy + r) * cols + dx + c] = src[r * img.width + c];
      puts.push([dy + y, h]);
    },
  } as unknown as CanvasRenderingContext2D;
  return { ctx, image, puts };
}

describe('createPaletteImage', () => {
  const hadImageData = 'ImageData' in globalThis;
  beforeAll(() => {
    if (hadImageData) return;
    // The browser's ImageData, as far as the image uses it (node has none).
    (globalThis as { ImageData?: unknown }).ImageData = class {
      constructor(readonly data: Uint8ClampedArray, readonly width: number, readonly height: number) {
        if (data.length !== 4 * width * height) throw new Error('ImageData: wrong length');
      }
    };
  });
  afterAll(() => {
    if (!hadImageData) delete (globalThis as { ImageData?: unknown }).ImageData;
  });

  const expected = (codes: Uint8Array, count: number, cells: number, pal: Uint32Array) =>
    Uint32Array.from({ length: cells }, (_, i) => (i < count ? pal[codes[i]] : 0));

  it('paints every cell as pal[code], band by band, with the cells past the last one transparent', () => {
    for (const fast of [true, false]) {
      for (const [cols, n] of [[1024, 1024 * 200 + 77], [64, 1000], [37, 37 * 5], [4096, 4096 * 40 - 5]] as const) {
        const rows = Math.ceil(n / cols);
        const img = createPaletteImage();
        if (fast) expect(img.simd).toBe(true);
        img.layout(cols, rows, n);
        const src = Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 5)) % 16);
        const pal = palette(1);
        const { ctx, image, puts } = fakeCanvas(cols, rows);
        img.paintAll(ctx, src, pal, fast);
        expect(firstDiff(image, expected(src, n, cols * rows, pal))).toBe(-1);
        expect(firstDiff(img.codes(), src)).toBe(-1);
        // Bands of at most BAND_PIXELS pixels, covering every row once.
        const bandRows = Math.max(1, Math.floor(BAND_PIXELS / cols));
        expect(puts.length).toBe(Math.ceil(rows / bandRows));
        expect(puts.reduce((s, [, h]) => s + h, 0)).toBe(rows);
      }
    }
  });

  it('repaints only the rows whose codes changed, in the range given', () => {
    for (const fast of [true, false]) {
      const cols = 512, n = cols * 300;
      const img = createPaletteImage();
      img.layout(cols, 300, n);
      const pal = palette(2);
      const src = new Uint8Array(n).fill(3);
      const { ctx, image, puts } = fakeCanvas(cols, 300);
      img.paintAll(ctx, src, pal, fast);
      expect(img.paintChanges(ctx, src, 0, n, pal, fast)).toBeNull();
      puts.length = 0;
      const next = src.slice();
      next[cols * 10 + 5] = 7;
      next[cols * 12] = 1;
      next[cols * 250] = 9; // outside the range given: not looked at
      expect(img.paintChanges(ctx, next, 0, cols * 200, pal, fast)).toEqual([10, 12]);
      expect(puts).toEqual([[10, 3]]);
      expect(image[cols * 10 + 5]).toBe(pal[7]);
      expect(image[cols * 12]).toBe(pal[1]);
      expect(image[cols * 250]).toBe(pal[3]);
      expect(img.paintChanges(ctx, next, 0, n, pal, fast)).toEqual([250, 250]);
      expect(firstDiff(image, expected(next, n, n, pal))).toBe(-1);
    }
  });

  it('takes a new palette, and keeps working when the layout grows or shrinks', () => {
    const img = createPaletteImage();
    img.layout(64, 2, 100);
    const src = Uint8Array.from({ length: 5000 }, (_, i) => i % 11);
    const a = palette(3), b = palette(4);
    let canvas = fakeCanvas(64, 2);
    img.paintAll(canvas.ctx, src, a, true);
    expect(firstDiff(canvas.image, expected(src, 100, 128, a))).toBe(-1);
    img.paintAll(canvas.ctx, src, b, true);
    expect(firstDiff(canvas.image, expected(src, 100, 128, b))).toBe(-1);
    img.layout(128, 40, 5000, 8000);
    canvas = fakeCanvas(128, 40);
    img.paintAll(canvas.ctx, src, b, true);
    expect(firstDiff(canvas.image, expected(src, 5000, 128 * 40, b))).toBe(-1);
    img.layout(64, 3, 150);
    canvas = fakeCanvas(64, 3);
    img.paintAll(canvas.ctx, src, a, false);
    expect(firstDiff(canvas.image, expected(src, 150, 192, a))).toBe(-1);
  });
});
