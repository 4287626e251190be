/**
 * 64-bit flag and attribute arguments. JavaScript's bitwise operators work on 32 bits, so
 * `flags & ~known` silently drops bits 32..63 of a __u64 field and an invalid request would pass.
 * Every check of a 64-bit field goes through these helpers, which use BigInt.
 *
 * A u64 arrives as a JS number (exact only up to 2^53, but every single bit 2^0..2^63 is exact) or as
 * a bigint (a scenario's hex string above 2^53).
 */
export type U64 = number | bigint;

export const U64_MAX = (1n << 64n) - 1n;

/** The value as a bigint, or null when it is not an integer in 0..2^64-1. */
export function toU64(v: U64): bigint | null {
  if (typeof v === 'bigint') return v >= 0n && v <= U64_MAX ? v : null;
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** 64) return null;
  return BigInt(v);
}

/** The bits of `v` outside `known` (0n when every set bit is known). */
export function unknownBits(v: bigint, known: U64): bigint {
  return v & ~BigInt(known) & U64_MAX;
}

/** A u64 whose set bits are all known and all below 2^53, as a number (for storage after validation). */
export function narrow(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`u64 ${hexU64(v)} does not fit a number`);
  return Number(v);
}

export const hexU64 = (v: U64): string => '0x' + (typeof v === 'bigint' ? v : BigInt(v)).toString(16);

/**
 * Parses the text of a u64 written in a scenario: a decimal integer or a hex string "0x..." of at
 * most 16 digits. Returns null for anything else (the caller names the field).
 */
export function parseU64(text: string): bigint | null {
  const t = text.trim();
  if (/^0x[0-9a-f]{1,16}$/i.test(t)) return BigInt(t);
  if (/^[0-9]{1,20}$/.test(t)) {
    const v = BigInt(t);
    return v <= U64_MAX ? v : null;
  }
  return null;
}
