import { describe, expect, it } from 'vitest';
import { defaultColumns, formatGpa } from './page-map';

describe('layout and axis', () => {
  it('lays a 64 MiB guest out 128 pages (512 KiB) per row and a 4 GiB guest 1024 per row', () => {
    expect(defaultColumns(16384)).toBe(128);
    expect(defaultColumns(1_048_576)).toBe(1024);
    expect(defaultColumns(6 * 262_144)).toBe(1024);
    expect(defaultColumns(10)).toBe(64);
  });
  it('labels GPAs in binary units', () => {
    expect(formatGpa(0)).toBe('0');
    expect(formatGpa(512 * 1024)).toBe('512 KiB');
    expect(formatGpa(1.5 * 2 ** 20)).toBe('1.5 MiB');
    expect(formatGpa(4 * 2 ** 30)).toBe('4 GiB');
  });
});
