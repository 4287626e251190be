import { describe, expect, test } from 'vitest';
import { PRESETS } from '../scenarios';
import type { KeyValue } from './predict';
import { START_SEEN_KEY, createStartScreenState, firstSentence, lessonCards, rememberSeen, shouldShowStart } from './start-screen';

function memory(): KeyValue & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v), removeItem: (k) => void data.delete(k) };
}

describe('the start screen', () => {
  test('shown on a first visit to the lab itself, never when the link names a lesson or a scenario, nor once dismissed', () => {
    const s = memory();
    expect(shouldShowStart('', s)).toBe(true);
    expect(shouldShowStart('?debug=1', s)).toBe(true);
    expect(shouldShowStart('?v=2&preset=lazy-accept', s)).toBe(false);
    expect(shouldShowStart('?v=2&scenario=e30', s)).toBe(false);
    rememberSeen(s);
    expect(s.data.get(START_SEEN_KEY)).toBe('1');
    expect(shouldShowStart('', s)).toBe(false);
    // Storage refused (a private window): not shown, rather than shown at every visit with no way to remember.
    const refusing: KeyValue = { getItem: () => { throw new Error('SecurityError'); }, setItem: () => { throw new Error('SecurityError'); }, removeItem: () => {} };
    expect(shouldShowStart('', refusing)).toBe(false);
    expect(() => rememberSeen(refusing)).not.toThrow();
  });

  test('every lesson is a card with its title, a first sentence and the question it asks', () => {
    const cards = lessonCards();
    expect(cards.map((c) => c.id)).toEqual(Object.keys(PRESETS));
    for (const c of cards) {
      expect(c.title.length, c.id).toBeGreaterThan(0);
      expect(c.line, c.id).toMatch(/[.!?]$/);
      expect(c.line.length, c.id).toBeLessThan(400);
      expect(c.question, c.id).toMatch(/\?|…$/);
    }
  });

  test('a first sentence ends at a full stop before a capital; an abbreviation-free text is kept whole', () => {
    expect(firstSentence('Two hosts share one clock. Each runs a guest.')).toBe('Two hosts share one clock.');
    expect(firstSentence('It writes 0.8 MiB per s. Then it stops.')).toBe('It writes 0.8 MiB per s.');
    expect(firstSentence('One sentence only')).toBe('One sentence only');
  });

  test('opening and closing notify once per change', () => {
    const st = createStartScreenState(false);
    let n = 0;
    st.subscribe(() => n++);
    st.open();
    st.open();
    st.close();
    expect(n).toBe(2);
    expect(st.get()).toBe(false);
  });
});
