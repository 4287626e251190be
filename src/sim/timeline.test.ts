import { describe, expect, it } from 'vitest';
import { Marks } from './timeline';

const at = (step: number, instr: number, cmds = 0) => ({ step, instr, cmds });

describe('Marks', () => {
  it('inserts a point a seek passed behind the newest, in order, once, and finds it by its event count', () => {
    const m = new Marks();
    m.push(at(0, 0), 10);
    m.push(at(1, 0), 900);
    m.push(at(2, 0), 1000);
    expect(m.insert(at(0, 2), 600)).toBe(true);
    expect(m.insert(at(0, 1), 200)).toBe(true);
    expect(m.insert(at(0, 1), 200)).toBe(false);
    expect([0, 1, 2, 3, 4].map((i) => [m.position(i), m.count(i)])).toEqual([
      [at(0, 0), 10], [at(0, 1), 200], [at(0, 2), 600], [at(1, 0), 900], [at(2, 0), 1000],
    ]);
    // The last mark that had not yet recorded event 599 is the one after instruction 1.
    expect(m.position(m.lastAtMost(599))).toEqual(at(0, 1));
    expect(m.count(m.lastAtMost(599) + 1)).toBe(600);
    // At the newest, insert is a push.
    expect(m.insert(at(3, 0), 1200)).toBe(true);
    expect(m.last()).toEqual(at(3, 0));
  });

  it('grows its array when an insert fills it', () => {
    const m = new Marks();
    for (let i = 0; i < 5000; i++) m.push(at(0, 2 * i + 2), i + 1);
    for (let i = 0; i < 3000; i++) m.insert(at(0, 2 * i + 1), i + 0.5);
    expect(m.length).toBe(8000);
    for (let i = 1; i < m.length; i++) expect(m.position(i).instr).toBeGreaterThan(m.position(i - 1).instr);
  });
});
