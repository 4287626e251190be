/** Link figures as the links bar shows them. Pure, tested in links-format.test.ts. */

const BITS = [['Tbit/s', 1e12], ['Gbit/s', 1e9], ['Mbit/s', 1e6], ['kbit/s', 1e3]] as const;

/** Bytes per (virtual) second as a network link is quoted, in bits (decimal units): "10 Gbit/s", "8.59 Gbit/s". */
export function formatBandwidth(bytesPerSecond: number): string {
  const bits = bytesPerSecond * 8;
  for (const [unit, size] of BITS) {
    if (bits >= size) return `${(bits / size).toLocaleString('en', { maximumSignificantDigits: 3 })} ${unit}`;
  }
  return `${bits.toLocaleString('en')} bit/s`;
}

/** Virtual nanoseconds: "50 µs", "1.5 ms", "800 ns", "2 s". */
export function formatLatency(ns: number): string {
  const f = (v: number, unit: string) => `${v.toLocaleString('en', { maximumFractionDigits: 2 })} ${unit}`;
  if (ns >= 1e9) return f(ns / 1e9, 's');
  if (ns >= 1e6) return f(ns / 1e6, 'ms');
  if (ns >= 1e3) return f(ns / 1e3, 'µs');
  return f(ns, 'ns');
}
