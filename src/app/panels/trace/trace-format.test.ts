import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../../test-properties';
import { LINE, ROW, RowLayout, exactTime, formatTime, rowHeight, wrapLines } from './trace-format';

describe('trace times', () => {
  it('carry the unit that suits them and are exact to the ns below a millisecond', () => {
    expect(formatTime(0)).toBe('0 ns');
    expect(formatTime(950)).toBe('950 ns');
    expect(formatTime(12_345)).toBe('12.345 µs');
    expect(formatTime(4_567_000)).toBe('4.567 ms');
    expect(formatTime(16_003_705_928)).toBe('16.004 s');
    expect(exactTime(16_003_705_928)).toBe('16,003,705,928 ns of virtual time after the scenario started');
  });
});

describe('wrapping a sentence', () => {
  // A monospace font of 10 px a character.
  const mono = (s: string) => s.length * 10;

  it('breaks between words greedily, as the browser does', () => {
    expect(wrapLines('KVM exits', 200, mono)).toBe(1);
    // "aaaa bbbb" is 90 px: fits in 100 (98 with the margin), not in 80.
    expect(wrapLines('aaaa bbbb', 100, mono)).toBe(1);
    expect(wrapLines('aaaa bbbb', 80, mono)).toBe(2);
    expect(wrapLines('aaaa bbbb cccc dddd', 100, mono)).toBe(2);
    expect(wrapLines('', 100, mono)).toBe(1);
  });

  it('errs towards a line more at the edge: a sentence exactly as wide as the column gets two', () => {
    expect(wrapLines('aaaaa bbbb', 100, mono)).toBe(2);
  });

  it('breaks a word wider than the column anywhere', () => {
    expect(wrapLines('x'.repeat(25), 100, mono)).toBe(3);
    expect(wrapLines(`${'x'.repeat(25)} yy`, 100, mono)).toBe(3);
  });

  it('never gives fewer lines than the text\'s width needs, nor more than one per word', () => {
    fc.assert(fc.property(fc.array(fc.stringMatching(/^[a-z]{1,12}$/), { minLength: 1, maxLength: 30 }), fc.integer({ min: 130, max: 900 }), (words, width) => {
      const text = words.join(' ');
      const n = wrapLines(text, width, mono);
      expect(n).toBeGreaterThanOrEqual(Math.ceil(mono(text) / width));
      expect(n).toBeLessThanOrEqual(words.length);
    }), propertyRuns(2104));
  });
});

describe('row layout', () => {
  it('puts rows one under another and finds the row at a height', () => {
    const l = new RowLayout(4, (i) => (i === 1 ? rowHeight(3) : ROW));
    expect(rowHeight(1)).toBe(ROW);
    expect(Array.from(l.tops)).toEqual([0, ROW, 2 * ROW + 2 * LINE, 3 * ROW + 2 * LINE, 4 * ROW + 2 * LINE]);
    expect(l.total).toBe(4 * ROW + 2 * LINE);
    expect(l.indexAt(0)).toBe(0);
    expect(l.indexAt(ROW)).toBe(1);
    expect(l.indexAt(2 * ROW + 2 * LINE - 1)).toBe(1);
    expect(l.indexAt(1e9)).toBe(3);
    expect(l.indexAt(-5)).toBe(0);
    expect(new RowLayout(0, () => ROW).indexAt(10)).toBe(0);
  });
});
