import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../test-properties';
import fc from 'fast-check';
import { U64_MAX, hexU64, narrow, parseU64, toU64, unknownBits } from './u64';


describe('u64 helpers', () => {
  it('sees every bit 0..63 of a number, where `&` would drop bits 32..63', () => {
    for (let b = 0; b < 64; b++) {
      const v = toU64(2 ** b);
      expect(v).toBe(1n << BigInt(b));
      expect(unknownBits(v!, 0b11)).toBe(b < 2 ? 0n : 1n << BigInt(b));
    }
    // The bug this replaces: JS `&` on 2^32 gives 0.
    expect(2 ** 32 & ~0b11).toBe(0);
  });

  it('refuses what is not a u64', () => {
    for (const v of [-1, 0.5, 2 ** 64, Number.NaN, Infinity]) expect(toU64(v)).toBeNull();
    expect(toU64(-1n)).toBeNull();
    expect(toU64(U64_MAX + 1n)).toBeNull();
    expect(toU64(U64_MAX)).toBe(U64_MAX);
  });

  it('parses decimal and hex up to 2^64-1, exactly', () => {
    expect(parseU64('0xffffffffffffffff')).toBe(U64_MAX);
    expect(parseU64('0x8000000000000001')).toBe((1n << 63n) + 1n);
    expect(parseU64('18446744073709551615')).toBe(U64_MAX);
    for (const bad of ['0x10000000000000000', '18446744073709551616', '-1', '0x', '1.5', 'twelve']) expect(parseU64(bad)).toBeNull();
  });

  it('round-trips any u64 through hex and keeps the unknown bits exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), fc.bigInt({ min: 0n, max: U64_MAX }), (v, known) => {
        expect(parseU64(hexU64(v))).toBe(v);
        const u = unknownBits(v, known);
        expect(u & known).toBe(0n);
        expect(u | (v & known)).toBe(v);
      }),
      propertyRuns(0x64),
    );
  });

  it('narrows only values a number holds exactly', () => {
    expect(narrow(0b1011n)).toBe(11);
    expect(() => narrow(1n << 60n)).toThrow(/does not fit/);
  });
});
