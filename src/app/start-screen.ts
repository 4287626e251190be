/**
 * The start screen (issue 13): what the lab is and its lessons as cards, shown to a first-time
 * visitor who opened the lab without naming a lesson, until dismissed (remembered in localStorage);
 * the registry's `start-screen` action (H, and the toolbar) opens it again. A link naming a lesson or
 * a scenario (`?preset=`, `?scenario=`) never shows it: the visitor came for that.
 */
import { useSyncExternalStore } from 'react';
import { PRESETS } from '../scenarios';
import type { KeyValue } from './predict';

/** Set once the start screen was dismissed. The e2e specs set it (playwright.config.ts) unless they test the screen. */
export const START_SEEN_KEY = 'gml.start-screen.seen';

/** Whether a visit shows the start screen: not dismissed before, and the link names no lesson. */
export function shouldShowStart(search: string, storage: KeyValue | null): boolean {
  const q = new URLSearchParams(search);
  if (q.has('preset') || q.has('scenario')) return false;
  try {
    return storage?.getItem(START_SEEN_KEY) === null;
  } catch {
    return false;
  }
}

/** Remember that the visitor has seen it (storage refused: they see it again next time, nothing worse). */
export function rememberSeen(storage: KeyValue | null): void {
  try {
    storage?.setItem(START_SEEN_KEY, '1');
  } catch {
    // A private window may refuse storage.
  }
}

export interface LessonCard {
  id: string;
  title: string;
  /** The explanation's first sentence: what the lesson shows. */
  line: string;
  /** The question it asks first (predict, then see). */
  question: string | null;
}

/** The first sentence of a text (up to its first ". " / ": " followed by a capital, or all of it). */
export function firstSentence(text: string): string {
  const m = /^(.+?[.!?])(?=\s+[A-Z(])/s.exec(text.trim());
  return (m ? m[1] : text.trim()).replace(/\s+/g, ' ');
}

/** The lessons as the start screen lists them, in the registry's order. */
export function lessonCards(presets: Readonly<Record<string, unknown>> = PRESETS): LessonCard[] {
  return Object.keys(presets).map((id) => {
    const p = presets[id] as { title: string; explanation?: string; steps?: { ask?: { question?: unknown } }[] };
    const ask = p.steps?.find((s) => typeof s.ask?.question === 'string')?.ask;
    return { id, title: p.title, line: firstSentence(p.explanation ?? ''), question: ask ? String(ask.question) : null };
  });
}

export interface StartScreenState {
  get(): boolean;
  open(): void;
  close(): void;
  subscribe(listener: () => void): () => void;
}

export function createStartScreenState(initial: boolean): StartScreenState {
  let open = initial;
  const listeners = new Set<() => void>();
  const set = (v: boolean) => {
    if (v === open) return;
    open = v;
    for (const l of listeners) l();
  };
  return {
    get: () => open,
    open: () => set(true),
    close: () => set(false),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

function pageStorage(): KeyValue | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

export const startStorage = pageStorage();

/** The page's start screen: open at load when shouldShowStart says so. */
export const startScreen = createStartScreenState(typeof window !== 'undefined' && shouldShowStart(window.location.search, startStorage));

export function useStartScreenOpen(state: StartScreenState = startScreen): boolean {
  return useSyncExternalStore(state.subscribe, state.get, state.get);
}
