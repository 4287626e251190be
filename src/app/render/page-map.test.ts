import { describe, expect, it } from 'vitest';
import { defaultColumns, formatGpa, paintPixels, patchPixels } from './page-map';

const naive = (src: Uint8Array, pal: Uint32Array) => Uint32Array.from(src, (s) => pal[s]);

describe('paintPixels', () => {
  const pal = new Uint32Array(256).map((_, i) => (0xff000000 | (i * 0x010203)) >>> 0);

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

describe('patchPixels', () => {
  const pal = new Uint32Array(256).map((_, i) => (0xff000000 | (i * 0x010203)) >>> 0);
  it('repaints only what changed and reports the rows it changed', () => {
    const before = new Uint8Array(1024 + 2).fill(1);
    const px = new Uint32Array(before.length);
    paintPixels(before, before.length, pal, px);
    const painted = before.slice();
    expect(patchPixels(before, painted, before.length, pal, px, 64)).toBeNull();
    const after = before.slice();
    after[130] = 6; // row 2 of 64 pages per row
    after[1025] = 5; // the ragged tail, row 16
    expect(patchPixels(after, painted, after.length, pal, px, 64)).toEqual([2, 16]);
    expect(px).toEqual(Uint32Array.from(after, (s) => pal[s]));
    expect(painted).toEqual(after);
  });
  it('compares only from `from` on (the range the worker said may have changed), at any alignment', () => {
    const before = new Uint8Array(1000).fill(2);
    const px = new Uint32Array(before.length);
    paintPixels(before, before.length, pal, px);
    const painted = before.slice();
    const after = before.slice();
    after[10] = 7; // before the range: not looked at
    after[501] = 3;
    after[998] = 4; // in the tail past the last whole word
    expect(patchPixels(after, painted, 999, pal, px, 64, 501)).toEqual([7, 15]);
    expect(px[10]).toBe(pal[2]);
    expect(px[501]).toBe(pal[3]);
    expect(px[998]).toBe(pal[4]);
    expect(patchPixels(after, painted, 600, pal, px, 64, 599)).toBeNull();
  });
});

describe('layout and axis', () => {
  it('lays a 64 MiB guest out 128 pages (512 KiB) per row and a 4 GiB guest 1024 per row', () => {
    expect(defaultColumns(16384)).toBe(128);
    expect(defaultColumns(1_048_576)).toBe(1024);
    expect(defaultColumns(6 * 262_144)).toBe(1024);
    expect(defaultColumns(10)).toBe(64);
  });
  it('labels GPAs in binary units', () => {
    expect(formatGpa(0)).toBe('0');
    expect(formatGpa(512 * 1024)).toBe('512 KiB');
    expect(formatGpa(1.5 * 2 ** 20)).toBe('1.5 MiB');
    expect(formatGpa(4 * 2 ** 30)).toBe('4 GiB');
  });
});
