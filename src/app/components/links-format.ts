/** Link figures as the links bar shows them. Pure, tested in links-format.test.ts. */

const BINARY = [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const;

/** Bytes per (virtual) second: "1 GiB/s", "1.25 GiB/s", "512 B/s". */
export function formatBandwidth(bytesPerSecond: number): string {
  for (const [unit, size] of BINARY) {
    if (bytesPerSecond >= size) return `${(bytesPerSecond / size).toLocaleString('en', { maximumFractionDigits: 2 })} ${unit}/s`;
  }
  return `${bytesPerSecond.toLocaleString('en')} B/s`;
}

/** Virtual nanoseconds: "50 µs", "1.5 ms", "800 ns", "2 s". */
export function formatLatency(ns: number): string {
  const f = (v: number, unit: string) => `${v.toLocaleString('en', { maximumFractionDigits: 2 })} ${unit}`;
  if (ns >= 1e9) return f(ns / 1e9, 's');
  if (ns >= 1e6) return f(ns / 1e6, 'ms');
  if (ns >= 1e3) return f(ns / 1e3, 'µs');
  return f(ns, 'ns');
}
