/**
 * Small helpers shared by the benchmark sections: timing, statistics, formatting, and the error type
 * a section throws when the simulator did not do what the benchmark expected.
 */
import { performance } from 'node:perf_hooks';

/** A benchmark precondition failed: the simulator did something other than what was measured. */
export class BenchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchError';
  }
}

export function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new BenchError(message);
}

/** Wall-clock milliseconds (high resolution). */
export const now = (): number => performance.now();

/** Runs fn and returns [its result, elapsed ms]. */
export function timed<T>(fn: () => T): [T, number] {
  const t0 = now();
  const r = fn();
  return [r, now() - t0];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function min(xs: readonly number[]): number {
  return xs.length ? Math.min(...xs) : Number.NaN;
}

export function max(xs: readonly number[]): number {
  return xs.length ? Math.max(...xs) : Number.NaN;
}

/** "12.3 M/s", "456 k/s" */
export function fmtRate(perSecond: number, unit = '/s'): string {
  if (!Number.isFinite(perSecond)) return 'n/a';
  if (perSecond >= 1e9) return `${(perSecond / 1e9).toFixed(2)} G${unit}`;
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M${unit}`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k${unit}`;
  return `${perSecond.toFixed(1)} ${unit.replace(/^\//, '/')}`;
}

/** A ratio printed as "12.3x". */
export function fmtX(r: number): string {
  if (!Number.isFinite(r)) return 'n/a';
  return r >= 100 ? `${r.toFixed(0)}x` : r >= 10 ? `${r.toFixed(1)}x` : `${r.toFixed(2)}x`;
}

export function fmtBytes(n: number): string {
  const a = Math.abs(n);
  if (a >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (a >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (a >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}

export const fmtInt = (n: number): string => n.toLocaleString('en-US');

/** A plain-text table: the first row is the header; numeric-looking cells are right-aligned. */
export function table(rows: string[][], indent = '  '): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const numeric = (c: string): boolean => /^[-+~]?[\d.,]+( ?[kMG]?(\/s|x|B|iB| ms| us| B\/page| B\/frame)?| [KMG]iB)?$/.test(c);
  const line = (r: string[]): string =>
    indent + r.map((c, i) => (i > 0 && numeric(c) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const out = [line(rows[0]), indent + widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows.slice(1)) out.push(line(r));
  return out.join('\n');
}

export function errorMessage(e: unknown): string {
  if (e instanceof BenchError) return e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}${e.stack ? `\n${e.stack.split('\n').slice(1, 6).join('\n')}` : ''}`;
  if (e && typeof e === 'object' && 'why' in e) return `${(e as { errno?: string }).errno ?? 'error'}: ${(e as { why: string }).why}`;
  return String(e);
}

export type Gc = () => void;

export function getGc(): Gc | undefined {
  const g = (globalThis as { gc?: unknown }).gc;
  return typeof g === 'function' ? (g as Gc) : undefined;
}

/**
 * Collect garbage (when global.gc is available) before a timed sample, so that a sample does not pay
 * for the garbage an earlier one left. What the sample allocates itself is still charged to it.
 */
export function settle(): void {
  getGc()?.();
}
