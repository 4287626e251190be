import { useCallback, useEffect, useLayoutEffect, useRef } from 'react';
import { useLabStore, type LabState } from './store';

/**
 * Keep something asked of the worker up to date: `load` runs now, again (at most every `ms`) whenever
 * `moved(state, prev)` says a frame moved the machine on, and on the returned `refresh()` (after a
 * command; it resolves when that answer is applied). One request at a time; one asked meanwhile
 * runs as soon as it ends, so a command's effect shows without waiting for the next frame. `load`
 * gets `live()`, false once the component unmounted or `key` changed: it must not set state then.
 */
export function useWorkerQuery(key: string, load: (live: () => boolean) => Promise<void>, moved: (s: LabState, prev: LabState) => boolean, ms: number): () => Promise<void> {
  const store = useLabStore();
  const loadRef = useRef(load);
  const movedRef = useRef(moved);
  useLayoutEffect(() => {
    loadRef.current = load;
    movedRef.current = moved;
  });
  const fetchNow = useRef<() => Promise<void>>(() => Promise.resolve());

  useEffect(() => {
    let live = true;
    let busy: Promise<void> | null = null;
    let again = false;
    let timer = 0;
    let last = 0;
    const fetchAll = async (): Promise<void> => {
      if (busy) {
        again = true;
        return busy;
      }
      last = performance.now();
      busy = loadRef.current(() => live);
      await busy;
      busy = null;
      if (again && live) {
        again = false;
        void fetchAll();
      }
    };
    const schedule = () => {
      if (timer) return;
      timer = window.setTimeout(() => {
        timer = 0;
        void fetchAll();
      }, Math.max(0, ms - (performance.now() - last)));
    };
    fetchNow.current = fetchAll;
    void fetchAll();
    const unsubscribe = store.subscribe((s, prev) => {
      if (movedRef.current(s, prev)) schedule();
    });
    return () => {
      live = false;
      unsubscribe();
      clearTimeout(timer);
    };
  }, [store, key, ms]);

  return useCallback(() => fetchNow.current(), []);
}
