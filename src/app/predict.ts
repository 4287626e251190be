/**
 * Predict, then see (issue 13): a lesson step's question (`ask`, src/sim/scenario/ask.ts), asked when
 * the student presses Space or → (lesson-next) to run that step, before it runs; the step runs once
 * they answer or skip, and the lesson bar then says whether the answer was right and why. The
 * answers stay in the browser (localStorage), by lesson, step and question, so a later visit shows
 * them again; "Clear my answers" forgets them. Run freely and the toolbar's step controls never stop
 * at a question.
 *
 * Kept apart from the lab's store (like offline.ts): answers outlive a lab's restart and a reload.
 */
import { useSyncExternalStore } from 'react';
import type { AskT } from '../sim/scenario/ask';
import type { FramePacket } from '../worker/protocol';
import { isPresetId } from '../scenarios';
import { lessonPosition } from './lesson-pace';
import type { LabState } from './store';

export type { AskT };

/** What the student answered: a choice's index, or a number. */
export type Given = { choice: number } | { number: number };

export interface StoredAnswer {
  /** The question as it was asked: an edited question is asked again. */
  question: string;
  given: Given;
  right: boolean;
}

/** The localStorage key of every answer, by lesson then step. */
export const ANSWERS_KEY = 'gml.answers.v1';

/** Whether `given` answers `ask` rightly (a number within its tolerance). */
export function isRight(ask: AskT, given: Given): boolean {
  if ('choice' in given) return ask.choices !== undefined && given.choice === ask.answer;
  return ask.number !== undefined && Number.isFinite(given.number) && Math.abs(given.number - ask.number) <= (ask.tolerance ?? 0);
}

/** The right answer as a sentence's words: the choice's text, or "448 entries" (± tolerance). */
export function rightAnswerText(ask: AskT): string {
  if (ask.choices !== undefined && ask.answer !== undefined) return ask.choices[ask.answer];
  const n = (ask.number ?? 0).toLocaleString('en');
  const tol = ask.tolerance ? ` (± ${ask.tolerance.toLocaleString('en')})` : '';
  return `${n}${ask.unit ? ` ${ask.unit}` : ''}${tol}`;
}

/** What the student gave, in words. */
export function givenText(ask: AskT, given: Given): string {
  if ('choice' in given) return ask.choices?.[given.choice] ?? `choice ${given.choice + 1}`;
  return `${given.number.toLocaleString('en')}${ask.unit ? ` ${ask.unit}` : ''}`;
}

/** A lesson's key: its preset id, else its title (an imported or linked scenario). */
export function lessonKey(source: string, title: string, isPreset: boolean): string {
  return isPreset ? `preset:${source}` : `scenario:${title}`;
}

/** The key of the lesson loaded in a lab. */
export function lessonOf(s: Pick<LabState, 'source' | 'packet'>): string {
  return lessonKey(s.source, s.packet?.frame.title ?? '', isPresetId(s.source));
}

type Book = Record<string, Record<string, StoredAnswer>>;

/** Where the answers are kept: localStorage in the page, a Map in tests; null when storage is refused. */
export interface KeyValue {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface AnswerBook {
  get(lesson: string, step: number, question: string): StoredAnswer | null;
  put(lesson: string, step: number, ask: AskT, given: Given): StoredAnswer;
  /** Forget one answer (Try again). */
  forget(lesson: string, step: number): void;
  /** Forget every answer (every lesson). */
  clear(): void;
  /** How many answers are kept (the clear control is disabled with none). */
  count(): number;
  subscribe(listener: () => void): () => void;
  /** Changes at every put, forget and clear (for useSyncExternalStore). */
  version(): number;
}

function isStored(v: unknown): v is StoredAnswer {
  if (!v || typeof v !== 'object') return false;
  const a = v as Record<string, unknown>;
  const g = a.given as Record<string, unknown> | undefined;
  return typeof a.question === 'string' && typeof a.right === 'boolean' && !!g && typeof g === 'object'
    && (Number.isInteger(g.choice) || typeof g.number === 'number');
}

/** Read what was kept; anything unreadable (another version's, edited by hand) is dropped, never thrown. */
function readBook(storage: KeyValue | null): Book {
  let raw: string | null = null;
  try {
    raw = storage?.getItem(ANSWERS_KEY) ?? null;
  } catch {
    return {};
  }
  if (!raw) return {};
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    const book: Book = Object.create(null) as Book;
    for (const [lesson, steps] of Object.entries(parsed as Record<string, unknown>)) {
      if (!steps || typeof steps !== 'object') continue;
      const kept = Object.entries(steps as Record<string, unknown>).filter(([k, v]) => /^\d+$/.test(k) && isStored(v));
      if (kept.length) book[lesson] = Object.fromEntries(kept) as Record<string, StoredAnswer>;
    }
    return book;
  } catch {
    return {};
  }
}

export function createAnswerBook(storage: KeyValue | null): AnswerBook {
  let book = readBook(storage);
  let version = 0;
  const listeners = new Set<() => void>();
  const save = () => {
    version++;
    try {
      if (Object.keys(book).length) storage?.setItem(ANSWERS_KEY, JSON.stringify(book));
      else storage?.removeItem(ANSWERS_KEY);
    } catch {
      // Storage full or refused (a private window): the answers last as long as the page.
    }
    for (const l of listeners) l();
  };
  return {
    get(lesson, step, question) {
      const a = Object.hasOwn(book, lesson) ? book[lesson][String(step)] : undefined;
      return a && a.question === question ? a : null;
    },
    put(lesson, step, ask, given) {
      const a: StoredAnswer = { question: ask.question, given, right: isRight(ask, given) };
      book = { ...book, [lesson]: { ...(Object.hasOwn(book, lesson) ? book[lesson] : {}), [String(step)]: a } };
      save();
      return a;
    },
    forget(lesson, step) {
      if (!Object.hasOwn(book, lesson)) return;
      const rest = { ...book[lesson] };
      delete rest[String(step)];
      book = { ...book };
      if (Object.keys(rest).length) book[lesson] = rest;
      else delete book[lesson];
      save();
    },
    clear() {
      book = {};
      save();
    },
    count: () => Object.values(book).reduce((n, steps) => n + Object.keys(steps).length, 0),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    version: () => version,
  };
}

function pageStorage(): KeyValue | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

/** The page's answers. */
export const answerBook = createAnswerBook(pageStorage());

/** Re-render when the answers change. */
export function useAnswers(book: AnswerBook = answerBook): number {
  return useSyncExternalStore(book.subscribe, book.version, book.version);
}

/**
 * The question of the step the lesson would run next, when the student is about to run it at the
 * lesson's pace: ready (step 1) or waiting at a step's end, the next step asking and not yet
 * answered. Null otherwise (no question, answered before, running, paused inside a step, finished).
 */
export function upcomingQuestion(p: FramePacket, answered: (step: number, ask: AskT) => boolean): { step: number; ask: AskT } | null {
  const at = lessonPosition(p);
  if (at.phase !== 'ready' && at.phase !== 'waiting') return null;
  const step = p.frame.stepIndex;
  const ask = p.frame.steps[step]?.ask;
  if (!ask || answered(step, ask)) return null;
  return { step, ask };
}

/**
 * The answered question to show beside the narration: the step the narration is about (running at
 * the lesson's pace, paused in it, waiting at its end, or the last one finished), when it asks and
 * was answered. Nothing while the lesson runs freely, nor before its first step.
 */
export function answeredQuestion(p: FramePacket, lookup: (step: number, ask: AskT) => StoredAnswer | null): { step: number; ask: AskT; answer: StoredAnswer } | null {
  const at = lessonPosition(p);
  if (at.phase === 'ready' || (at.phase === 'running' && at.free)) return null;
  const ask = p.frame.steps[at.step]?.ask;
  const answer = ask ? lookup(at.step, ask) : null;
  return ask && answer ? { step: at.step, ask, answer } : null;
}

/**
 * Which question is open: the step the student asked to run (lesson-next) while it asks. `focus`
 * changes at every press, so a second Space or → brings the keyboard back to the question.
 */
export interface OpenQuestion {
  lesson: string;
  step: number;
  focus: number;
}

export interface QuestionGate {
  get(): OpenQuestion | null;
  open(lesson: string, step: number): void;
  close(): void;
  subscribe(listener: () => void): () => void;
}

export function createQuestionGate(): QuestionGate {
  let state: OpenQuestion | null = null;
  let focus = 0;
  const listeners = new Set<() => void>();
  const set = (next: OpenQuestion | null) => {
    state = next;
    for (const l of listeners) l();
  };
  return {
    get: () => state,
    open: (lesson, step) => set({ lesson, step, focus: ++focus }),
    close: () => {
      if (state) set(null);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export const questionGate = createQuestionGate();

export function useOpenQuestion(gate: QuestionGate = questionGate): OpenQuestion | null {
  return useSyncExternalStore(gate.subscribe, gate.get, gate.get);
}

/**
 * lesson-next's question check: when the step it would run asks and was not answered, open the
 * question (or bring the keyboard back to it) and say so; the step runs once it is answered.
 */
export function askFirst(packet: FramePacket | null, lesson: string, book: AnswerBook = answerBook, gate: QuestionGate = questionGate): boolean {
  if (!packet) return false;
  const q = upcomingQuestion(packet, (step, ask) => book.get(lesson, step, ask.question) !== null);
  if (!q) return false;
  gate.open(lesson, q.step);
  return true;
}
