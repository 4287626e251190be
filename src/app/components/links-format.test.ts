import { describe, expect, it } from 'vitest';
import { formatBandwidth, formatLatency } from './links-format';

describe('link figures', () => {
  it('bandwidth in binary units per second', () => {
    expect(formatBandwidth(2 ** 30)).toBe('1 GiB/s');
    expect(formatBandwidth(1.25 * 2 ** 30)).toBe('1.25 GiB/s');
    expect(formatBandwidth(10e9 / 8)).toBe('1.16 GiB/s');
    expect(formatBandwidth(3 * 2 ** 20)).toBe('3 MiB/s');
    expect(formatBandwidth(512)).toBe('512 B/s');
  });
  it('latency in the unit that reads best', () => {
    expect(formatLatency(800)).toBe('800 ns');
    expect(formatLatency(50_000)).toBe('50 µs');
    expect(formatLatency(1_500_000)).toBe('1.5 ms');
    expect(formatLatency(2e9)).toBe('2 s');
  });
});
