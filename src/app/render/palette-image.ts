/**
 * A palette image: one pixel per cell (a guest page of the page map, a host frame of the host map),
 * coloured by the cell's code through a palette, and put into a canvas band by band.
 *
 * The image keeps the codes it shows (to compare a new frame's codes with), and a scratch band of
 * pixel words, not a whole image of them. A repaint looks a band of rows up (WebAssembly SIMD, or a
 * JavaScript loop), puts it, and looks the next band up into the same scratch: the pixels written by
 * the lookup are still in the core's cache when putImageData reads them. With a whole-image buffer
 * (4 MB for a 4 GiB guest) the lookup's stores missed the cache, and the put read the pixels back
 * from memory: a full repaint cost 2.0–2.5 bare putImageData of the same size here, against 1.6–1.9
 * in bands of 64 K pixels (measured in Chromium in the same page, interleaved with the bare put).
 *
 * Memory (one ArrayBuffer, the WebAssembly module's memory where SIMD is there):
 *   [0, 64)           the palette as four 16-byte channel tables (R, G, B, A) for the SIMD lookup
 *   [64, codesAt)     the scratch band: BAND_PIXELS pixel words (more when a row is longer) + 16
 *   [codesAt, …)      the codes shown, one byte per cell, + 16 bytes the SIMD lookup may read past
 */
import { paletteModule } from './simd-palette';

/** Pixels per band: 256 KiB of pixel words, which stay in a core's cache from the lookup to the put. */
export const BAND_PIXELS = 65536;
const TABLES = 0;
const SCRATCH = 64;

export interface PaletteImage {
  /** Cells per row, rows, and cells. */
  readonly cols: number;
  readonly rows: number;
  readonly count: number;
  /** Whether full repaints use the WebAssembly SIMD lookup (when `fast` is passed). */
  readonly simd: boolean;
  /** The codes the image shows, cells [0, count) (a view: take it again after `layout`). */
  codes(): Uint8Array;
  /**
   * Lay out `count` cells, `cols` per row, in `rows` rows (cells past `count` are transparent), with
   * room for `reserve` cells (memory grows, and is touched, only when that grows). The codes shown are
   * undefined afterwards: paint all.
   */
  layout(cols: number, rows: number, count: number, reserve?: number): void;
  /**
   * Show `src` (codes of cells [0, count); a shorter `src` leaves the rest as they were): copy and
   * paint every row. `fast`: every code is below 16, so the SIMD lookup may be used.
   */
  paintAll(ctx: CanvasRenderingContext2D, src: Uint8Array, pal: Uint32Array, fast: boolean): void;
  /**
   * Show `src` where it differs in cells [from, to): copy what changed and paint the rows it is in.
   * Returns the first and last row painted, or null when nothing changed.
   */
  paintChanges(ctx: CanvasRenderingContext2D, src: Uint8Array, from: number, to: number, pal: Uint32Array, fast: boolean): [number, number] | null;
  /** ms spent in putImageData by the last paint. */
  readonly putMs: number;
}

type Lookup = (src: number, n16: number, dst: number, pal: number) => void;

export function createPaletteImage(): PaletteImage {
  const mod = paletteModule();
  let buf = new ArrayBuffer(0);
  let u8 = new Uint8Array(0);
  let run: Lookup | null = null;
  let codesAt = 0;
  let capacity = -1;
  let scratchPx = 0;
  let cols = 1;
  let rows = 0;
  let count = 0;
  let bandRows = 1;
  let scratch = new Uint32Array(0);
  let band: ImageData | null = null;
  let lastPal: Uint32Array | null = null;
  let putMs = 0;

  function allocate(cells: number, px: number): void {
    scratchPx = px;
    codesAt = Math.ceil((SCRATCH + 4 * (px + 16)) / 64) * 64;
    const bytes = codesAt + cells + 16;
    if (mod) {
      const pages = Math.ceil(bytes / 65536);
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
      run = new WebAssembly.Instance(mod, { e: { m: memory } }).exports.p as Lookup;
      buf = memory.buffer as ArrayBuffer;
    } else buf = new ArrayBuffer(bytes);
    u8 = new Uint8Array(buf);
    // Touch it now (at load, or when the host map's range first grows): a repaint that touches fresh
    // pages pays their first-touch faults, tens of milliseconds for a large map.
    u8.fill(0);
    capacity = cells;
    lastPal = null;
    band = null;
  }

  function setTables(pal: Uint32Array): void {
    if (pal === lastPal) return;
    lastPal = pal;
    for (let c = 0; c < 16; c++) {
      const w = pal[c] ?? 0;
      u8[TABLES + c] = w & 255;
      u8[TABLES + 16 + c] = (w >>> 8) & 255;
      u8[TABLES + 32 + c] = (w >>> 16) & 255;
      u8[TABLES + 48 + c] = w >>> 24;
    }
  }

  /** Look rows [r, r + h) up into the scratch band and put it; cells past `count` are transparent. */
  function putBand(ctx: CanvasRenderingContext2D, r: number, h: number, pal: Uint32Array, fast: boolean): void {
    const a = r * cols;
    const len = Math.max(0, Math.min(count, a + h * cols) - a);
    if (len > 0) {
      if (run && fast) {
        setTables(pal);
        run(codesAt + a, Math.ceil(len / 16), SCRATCH, TABLES);
      } else paintPixels(u8.subarray(codesAt + a, codesAt + a + len), len, pal, scratch);
    }
    if (len < h * cols) scratch.fill(0, len, h * cols);
    band ??= new ImageData(new Uint8ClampedArray(buf, SCRATCH, 4 * cols * bandRows), cols, bandRows);
    const t0 = performance.now();
    ctx.putImageData(band, 0, r, 0, 0, cols, h);
    putMs += performance.now() - t0;
  }

  return {
    get cols() {
      return cols;
    },
    get rows() {
      return rows;
    },
    get count() {
      return count;
    },
    get putMs() {
      return putMs;
    },
    simd: mod !== null,
    codes: () => u8.subarray(codesAt, codesAt + count),
    layout(c, r, n, reserve = n) {
      const px = Math.max(BAND_PIXELS, c);
      if (Math.max(n, reserve) > capacity || px > scratchPx) allocate(Math.max(n, reserve, capacity), px);
      cols = Math.max(1, c);
      rows = Math.max(0, r);
      count = Math.min(n, cols * rows);
      bandRows = Math.max(1, Math.floor(scratchPx / cols));
      scratch = new Uint32Array(buf, SCRATCH, cols * bandRows + 16);
      band = null;
    },
    paintAll(ctx, src, pal, fast) {
      putMs = 0;
      const n = Math.min(count, src.length);
      // Copy a band's codes just before its lookup, so that the lookup reads them from the cache.
      for (let r = 0; r < rows; r += bandRows) {
        const h = Math.min(bandRows, rows - r);
        const a = r * cols;
        const b = Math.min(n, a + h * cols);
        if (a < b) u8.set(src.subarray(a, b), codesAt + a);
        putBand(ctx, r, h, pal, fast);
      }
    },
    paintChanges(ctx, src, from, to, pal, fast) {
      putMs = 0;
      const changed = patchCodes(src, u8.subarray(codesAt, codesAt + count), Math.min(count, src.length, to), cols, from);
      if (!changed) return null;
      for (let r = changed[0]; r <= changed[1]; r += bandRows) putBand(ctx, r, Math.min(bandRows, changed[1] + 1 - r), pal, fast);
      return changed;
    },
  };
}

/**
 * px[i] = pal[src[i]] for i < n. Guest memory is mostly long runs of one state (a memslot never
 * touched, a range accepted at boot), so the states are scanned eight pages at a time (one 64-bit
 * word, read as a double: exact for the codes we compare, see below) and a run of equal words
 * becomes one `fill`; a mixed word is looked up page by page. A map of scattered states costs about
 * what the plain loop costs; a typical one, little more than a memset.
 */
export function paintPixels(src: Uint8Array, n: number, pal: Uint32Array, px: Uint32Array): void {
  let i = 0;
  if (src.byteOffset % 8 === 0) {
    const m = n >>> 3;
    const d = new Float64Array(src.buffer, src.byteOffset, m);
    const w = new Uint32Array(src.buffer, src.byteOffset, m * 2);
    let q = 0;
    while (q < m) {
      const lo = w[2 * q];
      const b = lo & 255;
      // Eight equal codes. As a double, eight copies of b < 0x80 are +0 (b = 0) or a finite non-zero
      // number, so === is a bitwise compare, except that +0 === -0: Object.is tells those apart.
      if (b < 0x80 && lo === b * 0x01010101 && w[2 * q + 1] === lo) {
        let e = q + 1;
        if (b === 0) while (e < m && Object.is(d[e], 0)) e++;
        else {
          const dv = d[q];
          while (e < m && d[e] === dv) e++;
        }
        px.fill(pal[b], q << 3, e << 3);
        q = e;
      } else {
        const j = q << 3;
        for (let k = j; k < j + 8; k++) px[k] = pal[src[k]];
        q++;
      }
    }
    i = m << 3;
  }
  for (; i < n; i++) px[i] = pal[src[i]];
}

/**
 * Copy into `codes` the cells in [from, n) where `src` differs from it, a word (four cells) at a
 * time. Returns the first and last row (of `cols` cells) that changed, or null when nothing did.
 */
export function patchCodes(src: Uint8Array, codes: Uint8Array, n: number, cols: number, from = 0): [number, number] | null {
  let lo = -1;
  let hi = -1;
  let i = Math.max(0, from);
  if (src.byteOffset % 4 === 0 && codes.byteOffset % 4 === 0) {
    const m = n >>> 2;
    const a = new Uint32Array(src.buffer, src.byteOffset, m);
    const b = new Uint32Array(codes.buffer, codes.byteOffset, m);
    for (let w = i >>> 2; w < m; w++) {
      if (a[w] === b[w]) continue;
      b[w] = a[w];
      if (lo < 0) lo = w << 2;
      hi = (w << 2) + 3;
    }
    i = Math.max(i, m << 2);
  }
  for (; i < n; i++) {
    if (src[i] === codes[i]) continue;
    codes[i] = src[i];
    if (lo < 0) lo = i;
    hi = i;
  }
  if (lo < 0) return null;
  return [Math.floor(lo / cols), Math.floor(Math.min(hi, n - 1) / cols)];
}
