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
