/**
 * The page map's full repaint with WebAssembly SIMD: px[i] = pal[src[i]] sixteen pages at a time.
 *
 * A JavaScript loop costs about a nanosecond per page, several times a bare putImageData of the same
 * image; `i8x16.swizzle` looks sixteen state codes up in a 16-entry byte table at once, so one lookup
 * per colour channel and four shuffles that interleave the channels into RGBA give sixteen pixels.
 * The pixels are written into a band of the module's memory, which an ImageData shows
 * (palette-image.ts).
 *
 * The module is small enough to write out by hand (no toolchain at build time); its text form:
 *
 *   (func (export "p") (param $src i32) (param $n16 i32) (param $dst i32) (param $pal i32)
 *     tables R, G, B, A = v128.load pal+0, +16, +32, +48
 *     loop while n16 != 0:
 *       s = v128.load src
 *       r, g, b, a = i8x16.swizzle(R, s), ...  (relaxed_swizzle where the engine has it)
 *       rgLo = shuffle(r, g, 0,16,1,17,..7,23)   rgHi = shuffle(r, g, 8,24,..15,31)
 *       baLo, baHi likewise from b and a
 *       store dst+0  shuffle(rgLo, baLo, 0,1,16,17, 2,3,18,19, ...)  (pixels 0-3)
 *       store dst+16 shuffle(rgLo, baLo, 8,9,24,25, ...)               (pixels 4-7)
 *       store dst+32, dst+48 the same from rgHi, baHi                   (pixels 8-15)
 *       src += 16; dst += 64; n16 -= 1
 *
 * Where WebAssembly SIMD is missing, `paletteModule` returns null and palette-image.ts keeps its
 * JavaScript loop.
 */

const SIMD = 0xfd;
const V128 = 0x7b;
const I32 = 0x7f;

/** Unsigned LEB128. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** Signed LEB128 (i32.const), for small non-negative n: 64 needs two bytes, since bit 6 is the sign. */
function sleb(n: number): number[] {
  const out: number[] = [];
  while (n >= 64) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const str = (s: string): number[] => [...leb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

// Locals: params 0 src, 1 n16, 2 dst, 3 pal; v128 locals 4..7 tables R G B A, 8 s, 9..12 r g b a, 13..16 rgLo rgHi baLo baHi.
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const load = (offset: number) => [SIMD, ...leb(0x00), 0, ...leb(offset)];
const store = (offset: number) => [SIMD, ...leb(0x0b), 0, ...leb(offset)];
/**
 * i8x16.swizzle, or i8x16.relaxed_swizzle (relaxed SIMD): the same for indices below 16, which is
 * all this module looks up, and one instruction (pshufb) instead of two, since it need not force
 * the lanes of larger indices to zero.
 */
const swizzleOp = (relaxed: boolean) => [SIMD, ...leb(relaxed ? 0x100 : 0x0e)];
const shuffle = (lanes: number[]) => [SIMD, ...leb(0x0d), ...lanes];
const i32Add = (local: number, k: number) => [...get(local), 0x41, ...sleb(k), 0x6a, ...set(local)];

const range = (a: number, n: number, f: (i: number) => number[]): number[] => Array.from({ length: n }, (_, i) => f(a + i)).flat();
/** Bytes lo or hi half of a, interleaved with b: a0 b0 a1 b1 ... */
const interleave8 = (half: 0 | 1) => range(half * 8, 8, (i) => [i, 16 + i]);
/** 16-bit pairs of a and b interleaved: a01 b01 a23 b23 ... for pixel group half 0 or 1. */
const interleave16 = (half: 0 | 1) => range(half * 4, 4, (i) => [2 * i, 2 * i + 1, 16 + 2 * i, 17 + 2 * i]);

/** The module, with i8x16.relaxed_swizzle or i8x16.swizzle (exported for the tests). */
export function moduleBytes(relaxed: boolean): Uint8Array<ArrayBuffer> {
  const swizzle = swizzleOp(relaxed);
  const body: number[] = [
    ...vec([[13, V128]]),
    ...get(3), ...load(0), ...set(4),
    ...get(3), ...load(16), ...set(5),
    ...get(3), ...load(32), ...set(6),
    ...get(3), ...load(48), ...set(7),
    0x02, 0x40, // block
    0x03, 0x40, // loop
    ...get(1), 0x45, 0x0d, 1, // br_if (n16 == 0) out of the block
    ...get(0), ...load(0), ...set(8),
    ...get(4), ...get(8), ...swizzle, ...set(9),
    ...get(5), ...get(8), ...swizzle, ...set(10),
    ...get(6), ...get(8), ...swizzle, ...set(11),
    ...get(7), ...get(8), ...swizzle, ...set(12),
    ...get(9), ...get(10), ...shuffle(interleave8(0)), ...set(13),
    ...get(9), ...get(10), ...shuffle(interleave8(1)), ...set(14),
    ...get(11), ...get(12), ...shuffle(interleave8(0)), ...set(15),
    ...get(11), ...get(12), ...shuffle(interleave8(1)), ...set(16),
    ...get(2), ...get(13), ...get(15), ...shuffle(interleave16(0)), ...store(0),
    ...get(2), ...get(13), ...get(15), ...shuffle(interleave16(1)), ...store(16),
    ...get(2), ...get(14), ...get(16), ...shuffle(interleave16(0)), ...store(32),
    ...get(2), ...get(14), ...get(16), ...shuffle(interleave16(1)), ...store(48),
    ...i32Add(0, 16),
    ...i32Add(2, 64),
    ...get(1), 0x41, 1, 0x6b, ...set(1),
    0x0c, 0, // br to loop
    0x0b, // end loop
    0x0b, // end block
    0x0b, // end function
  ];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), 0]])),
    ...section(2, vec([[...str('e'), ...str('m'), 0x02, 0x00, 0x01]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...str('p'), 0x00, 0]])),
    ...section(10, vec([[...leb(body.length), ...body]])),
  ]);
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module (its one export `p(src, n16, dst, pal)` imports its memory as e.m), or null without WebAssembly SIMD. */
export function paletteModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    compiled = null;
    if (typeof WebAssembly !== 'undefined') {
      for (const relaxed of [true, false]) {
        const bytes = moduleBytes(relaxed);
        if (!WebAssembly.validate(bytes)) continue;
        compiled = new WebAssembly.Module(bytes);
        break;
      }
    }
    if (compiled) warmUp(compiled);
  } catch {
    compiled = null;
  }
  return compiled;
}

/**
 * V8 first runs WebAssembly from its baseline compiler and optimises a function only once it has
 * run enough; a map painted rarely (the host map, on a layout change) would always get the slow
 * code. A few hundred thousand lookups on a scratch instance at start make the optimised code
 * ready (it is shared by every instance of the module).
 */
function warmUp(mod: WebAssembly.Module): void {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 2 });
  const run = new WebAssembly.Instance(mod, { e: { m: memory } }).exports.p as (src: number, n16: number, dst: number, pal: number) => void;
  for (let i = 0; i < 64; i++) run(0x10000, 1024, 0, 0x14000);
}
