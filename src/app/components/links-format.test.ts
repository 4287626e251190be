import { describe, expect, it } from 'vitest';
import { formatBandwidth, formatLatency } from './links-format';

describe('link figures', () => {
  it('bandwidth in bits per second, as links are quoted', () => {
    expect(formatBandwidth(10e9 / 8)).toBe('10 Gbit/s');
    expect(formatBandwidth(2 ** 30)).toBe('8.59 Gbit/s');
    expect(formatBandwidth(100e6 / 8)).toBe('100 Mbit/s');
    expect(formatBandwidth(1.5e12 / 8)).toBe('1.5 Tbit/s');
    expect(formatBandwidth(64)).toBe('512 bit/s');
  });
  it('latency in the unit that reads best', () => {
    expect(formatLatency(800)).toBe('800 ns');
    expect(formatLatency(50_000)).toBe('50 µs');
    expect(formatLatency(1_500_000)).toBe('1.5 ms');
    expect(formatLatency(2e9)).toBe('2 s');
  });
});
