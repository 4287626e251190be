/** Sizes and units. x86 base pages are 4 KiB; a Secure-EPT / EPT leaf at level 2 covers 2 MiB. */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const PAGE_MASK = PAGE_SIZE - 1;
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;
export const HUGE_2M = 2 * MiB;

export const gfnOf = (gpa: number): number => Math.floor(gpa / PAGE_SIZE);
export const isPageAligned = (x: number): boolean => x % PAGE_SIZE === 0;
export const pageAlignDown = (x: number): number => x - (x % PAGE_SIZE);
export const pageAlignUp = (x: number): number => Math.ceil(x / PAGE_SIZE) * PAGE_SIZE;

const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$/i;

/**
 * Parse "4G", "512MiB", "16 GiB", "4096" or a number into bytes (binary units, as QEMU's -m does).
 * Returns undefined when the text is not a size.
 */
export function parseSize(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  const m = SIZE_RE.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'B').toUpperCase()[0];
  const mult = unit === 'K' ? KiB : unit === 'M' ? MiB : unit === 'G' ? GiB : unit === 'T' ? TiB : 1;
  const bytes = n * mult;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** "4 GiB", "2 MiB", "12 KiB", "100 B" — the largest unit that divides exactly, else one decimal. */
export function formatSize(bytes: number): string {
  const units: [number, string][] = [[TiB, 'TiB'], [GiB, 'GiB'], [MiB, 'MiB'], [KiB, 'KiB']];
  for (const [u, name] of units) if (bytes >= u && bytes % u === 0) return `${bytes / u} ${name}`;
  for (const [u, name] of units) if (bytes >= u) return `${(bytes / u).toFixed(1)} ${name}`;
  return `${bytes} B`;
}

/** 0x-prefixed lower-case hex, as the kernel prints addresses. */
export const hex = (n: number | bigint): string => '0x' + n.toString(16);

const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)\s*$/i;
const DURATION_NS: Record<string, number> = { ns: 1, us: 1_000, 'µs': 1_000, ms: 1_000_000, s: 1_000_000_000 };

/**
 * Parse a virtual duration into nanoseconds: a number (ns) or "500us", "2 ms", "1.5s".
 * Returns undefined when the text is not a duration or is not a whole number of nanoseconds.
 */
export function parseDuration(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  const m = DURATION_RE.exec(v);
  if (!m) return undefined;
  const ns = Number(m[1]) * DURATION_NS[m[2].toLowerCase()];
  return Number.isSafeInteger(ns) ? ns : undefined;
}

const BITRATE_RE = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)bit(?:\/s|ps)?\s*$/i;
const DECIMAL: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/**
 * Parse a bandwidth into bytes per (virtual) second: a number, a bit rate with decimal prefixes as
 * network links are rated ("10Gbit", "100 Mbit/s", "25Gbps": 10 Gbit is 1,250,000,000 bytes a
 * second), or a byte size per second with binary units ("1GiB", "512M/s"). Undefined when not one.
 */
export function parseBandwidth(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : undefined;
  const bits = BITRATE_RE.exec(v);
  if (bits) {
    const bytes = (Number(bits[1]) * DECIMAL[bits[2].toUpperCase()]) / 8;
    return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
  }
  const n = parseSize(v.replace(/\s*\/\s*s\s*$/i, ''));
  return n !== undefined && n > 0 ? n : undefined;
}
