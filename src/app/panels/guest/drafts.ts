/**
 * Unsaved edits of the guest programs, by VM name, for the scenario they were made against. They
 * live beside the lab's store (one draft store per lab store, never a global) so that re-renders,
 * switching VM tabs or maximising the panel never drop them; loading another scenario does.
 */
import { useStore } from 'zustand';
import { createStore, type StoreApi } from 'zustand/vanilla';
import { useLabStore, type LabStore } from '../../store';

export interface DraftState {
  /** The scenario object the drafts were written against. */
  scenario: unknown;
  texts: Readonly<Record<string, string>>;
}

export type DraftStore = StoreApi<DraftState>;

const stores = new WeakMap<LabStore, DraftStore>();

export function useDraftStore(): DraftStore {
  const lab = useLabStore();
  let d = stores.get(lab);
  if (!d) {
    d = createStore<DraftState>()(() => ({ scenario: null, texts: {} }));
    stores.set(lab, d);
  }
  return d;
}

/** The draft of one VM's program for the current scenario, or undefined when there is none. */
export function useDraft(drafts: DraftStore, scenario: unknown, vm: string): string | undefined {
  return useStore(drafts, (s) => (s.scenario === scenario ? s.texts[vm] : undefined));
}

export function setDraft(drafts: DraftStore, scenario: unknown, vm: string, text: string | undefined): void {
  drafts.setState((s) => {
    const texts = { ...(s.scenario === scenario ? s.texts : {}) };
    if (text === undefined) delete texts[vm];
    else texts[vm] = text;
    return { scenario, texts };
  });
}

/** All drafts for the current scenario. */
export function draftsFor(drafts: DraftStore, scenario: unknown): Readonly<Record<string, string>> {
  const s = drafts.getState();
  return s.scenario === scenario ? s.texts : {};
}
