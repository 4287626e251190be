import { useSyncExternalStore } from 'react';

/**
 * The service worker's news for the page (vite.config.ts `offline()`): whether a new version of the
 * lab is waiting, and how to switch to it. The new version waits until the reader says so: a lecturer
 * mid-lesson is never reloaded under their feet. Kept apart from the lab's store: it is about the
 * page, not the lab, and it outlives a lab's restart.
 */
export interface OfflineState {
  /** A new version is installed and waiting for the reader's word. */
  updateWaiting: boolean;
  /** Every file of the lab is cached: it works from here on without a network. */
  offlineReady: boolean;
}

type Listener = () => void;

export interface OfflineStatus {
  get(): OfflineState;
  subscribe(listener: Listener): () => void;
  /** The service worker says a new version waits (`update` activates it, which reloads the page). */
  needRefresh(update: () => Promise<void>): void;
  offlineReady(): void;
  /** Switch to the waiting version: the page reloads once it controls the page. */
  update(): Promise<void>;
  /** Not now: the banner goes, the new version keeps waiting (the next visit gets it). */
  dismiss(): void;
}

export function createOfflineStatus(): OfflineStatus {
  let state: OfflineState = { updateWaiting: false, offlineReady: false };
  let activate: (() => Promise<void>) | null = null;
  const listeners = new Set<Listener>();
  const set = (next: Partial<OfflineState>) => {
    state = { ...state, ...next };
    for (const l of listeners) l();
  };
  return {
    get: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    needRefresh(update) {
      activate = update;
      set({ updateWaiting: true });
    },
    offlineReady: () => set({ offlineReady: true }),
    async update() {
      if (!activate) throw new Error('offline: no new version is waiting to be activated');
      await activate();
    },
    dismiss: () => set({ updateWaiting: false }),
  };
}

/** The page's one status, fed by src/app/register-sw.ts (the built page only). */
export const offlineStatus = createOfflineStatus();

export function useOfflineStatus(status: OfflineStatus = offlineStatus): OfflineState {
  return useSyncExternalStore(status.subscribe, status.get, status.get);
}
