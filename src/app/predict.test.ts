import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import type { FramePacket } from '../worker/protocol';
import {
  ANSWERS_KEY, answeredQuestion, askFirst, createAnswerBook, createQuestionGate, givenText, isRight, rightAnswerText, upcomingQuestion,
  type AskT, type KeyValue,
} from './predict';

const choices: AskT = { question: 'What will the host read?', choices: ['the secret', 'zeros', 'ciphertext'], answer: 1, why: 'The frame is private.' };
const numeric: AskT = { question: 'How many entries?', number: 448, tolerance: 2, unit: 'entries', why: '512 less 64.' };
const steps = [{ do: 'run', note: 'a', ask: null }, { do: 'host_read', note: 'b', ask: choices }, { do: 'run', note: 'c', ask: numeric }];

function packet(stepIndex: number, o: { playing?: boolean; pace?: 'step' | 'free'; inside?: boolean } = {}): FramePacket {
  const frame = { stepIndex, stepCount: steps.length, steps, done: stepIndex >= steps.length, stepProgress: o.inside ? { step: stepIndex } : null };
  return { playing: o.playing ?? false, pace: o.pace ?? 'step', frame } as unknown as FramePacket;
}

function memory(): KeyValue & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v), removeItem: (k) => void data.delete(k) };
}

describe('answers', () => {
  test('a choice is right only when it is the answer; a number within the tolerance', () => {
    expect(isRight(choices, { choice: 1 })).toBe(true);
    expect(isRight(choices, { choice: 0 })).toBe(false);
    expect(isRight(choices, { number: 1 })).toBe(false);
    expect(isRight(numeric, { number: 450 })).toBe(true);
    expect(isRight(numeric, { number: 451 })).toBe(false);
    expect(isRight(numeric, { number: NaN })).toBe(false);
    expect(rightAnswerText(numeric)).toBe('448 entries (± 2)');
    expect(rightAnswerText(choices)).toBe('zeros');
    expect(givenText(numeric, { number: 1000 })).toBe('1,000 entries');
  });

  test('a numeric answer counts as right exactly when it is within the tolerance', () => {
    fc.assert(fc.property(fc.double({ noNaN: true, min: -1e9, max: 1e9 }), fc.double({ noNaN: true, min: 0, max: 1e6 }), fc.double({ noNaN: true, min: -1e9, max: 1e9 }), (n, tol, g) => {
      expect(isRight({ question: 'q', number: n, tolerance: tol, why: 'w' }, { number: g })).toBe(Math.abs(g - n) <= tol);
    }), { numRuns: Number(process.env.FUZZ_RUNS ?? 100) });
  });

  test('kept by lesson, step and question: a reload reads them back, an edited question is asked again, clear forgets all', () => {
    const storage = memory();
    const book = createAnswerBook(storage);
    expect(book.put('preset:a', 1, choices, { choice: 0 })).toEqual({ question: choices.question, given: { choice: 0 }, right: false });
    book.put('preset:b', 2, numeric, { number: 448 });
    const again = createAnswerBook(storage);
    expect(again.get('preset:a', 1, choices.question)).toMatchObject({ right: false });
    expect(again.get('preset:b', 2, numeric.question)).toMatchObject({ right: true });
    expect(again.get('preset:a', 1, 'Another question?')).toBeNull();
    expect(again.get('preset:a', 2, choices.question)).toBeNull();
    expect(again.count()).toBe(2);
    again.forget('preset:a', 1);
    expect(again.count()).toBe(1);
    again.clear();
    expect(again.count()).toBe(0);
    expect(storage.data.has(ANSWERS_KEY)).toBe(false);
    expect(createAnswerBook(storage).count()).toBe(0);
  });

  test('what storage holds that is not answers is dropped, not thrown; refused storage keeps them for the page', () => {
    const storage = memory();
    for (const junk of ['{', '[1]', 'null', '{"preset:a": {"1": {"question": 3}}, "preset:b": {"x": {}}}', JSON.stringify({ 'preset:c': { 0: { question: 'q', given: { choice: 0 }, right: true } } })]) {
      storage.data.set(ANSWERS_KEY, junk);
      expect(() => createAnswerBook(storage)).not.toThrow();
    }
    expect(createAnswerBook(storage).count()).toBe(1);
    const refusing: KeyValue = { getItem: () => { throw new Error('SecurityError'); }, setItem: () => { throw new Error('QuotaExceededError'); }, removeItem: () => {} };
    const book = createAnswerBook(refusing);
    book.put('preset:a', 1, choices, { choice: 1 });
    expect(book.get('preset:a', 1, choices.question)).toMatchObject({ right: true });
  });

  test('listeners hear every change', () => {
    const book = createAnswerBook(null);
    let heard = 0;
    const off = book.subscribe(() => heard++);
    book.put('l', 1, choices, { choice: 1 });
    book.clear();
    off();
    book.clear();
    expect(heard).toBe(2);
  });
});

describe('when a question is asked and shown', () => {
  const none = () => false;
  test('asked before a step that asks: ready or waiting at the end of the step before, and not yet answered', () => {
    expect(upcomingQuestion(packet(0), none)).toBeNull();
    expect(upcomingQuestion(packet(1), none)).toEqual({ step: 1, ask: choices });
    expect(upcomingQuestion(packet(2), none)).toEqual({ step: 2, ask: numeric });
    expect(upcomingQuestion(packet(1), () => true)).toBeNull();
    // Not while a step runs (at the lesson's pace or freely), nor inside a paused one, nor at the end.
    expect(upcomingQuestion(packet(1, { playing: true }), none)).toBeNull();
    expect(upcomingQuestion(packet(1, { playing: true, pace: 'free' }), none)).toBeNull();
    expect(upcomingQuestion(packet(1, { inside: true }), none)).toBeNull();
    expect(upcomingQuestion(packet(3), none)).toBeNull();
  });

  test('the answer is shown with the step it asked about: running at the lesson pace, paused, waiting at its end, finished; never running freely', () => {
    const book = createAnswerBook(null);
    book.put('l', 1, choices, { choice: 2 });
    book.put('l', 2, numeric, { number: 448 });
    const lookup = (step: number, ask: AskT) => book.get('l', step, ask.question);
    expect(answeredQuestion(packet(1), lookup)).toBeNull();
    expect(answeredQuestion(packet(1, { playing: true }), lookup)).toMatchObject({ step: 1, answer: { right: false } });
    expect(answeredQuestion(packet(1, { inside: true }), lookup)).toMatchObject({ step: 1 });
    expect(answeredQuestion(packet(2), lookup)).toMatchObject({ step: 1 });
    expect(answeredQuestion(packet(3), lookup)).toMatchObject({ step: 2, answer: { right: true } });
    expect(answeredQuestion(packet(2, { playing: true, pace: 'free' }), lookup)).toBeNull();
    expect(answeredQuestion(packet(0), lookup)).toBeNull();
  });

  test('lesson-next opens the question instead of running the step; an answered one lets it run', () => {
    const book = createAnswerBook(null);
    const gate = createQuestionGate();
    expect(askFirst(packet(0), 'l', book, gate)).toBe(false);
    expect(gate.get()).toBeNull();
    expect(askFirst(packet(1), 'l', book, gate)).toBe(true);
    expect(gate.get()).toMatchObject({ lesson: 'l', step: 1 });
    const focus = gate.get()!.focus;
    expect(askFirst(packet(1), 'l', book, gate)).toBe(true);
    expect(gate.get()!.focus).not.toBe(focus);
    book.put('l', 1, choices, { choice: 1 });
    expect(askFirst(packet(1), 'l', book, gate)).toBe(false);
    expect(askFirst(null, 'l', book, gate)).toBe(false);
  });
});
