import { useCallback, useEffect, useRef, useState } from 'react';
import type { AttackSurfaceView } from '../../../sim/vmm/surface-view';
import { useLabClient } from '../../client-context';
import { useLabStore, type LabState } from '../../store';

/** While the guest runs, the views are asked of the worker at most this often. */
const REFRESH_MS = 400;

export interface SurfaceViews {
  views: Record<string, AttackSurfaceView | null>;
  /** Each VM's figure before it last changed (to show the drop). */
  was: Record<string, number>;
}

const EMPTY: SurfaceViews = { views: {}, was: {} };

/** What the guest's accesses change: the counters and the boot log move with the trace and the steps. */
const progress = (s: LabState) => (s.packet ? `${s.packet.frame.eventCount}/${s.packet.frame.stepIndex}` : '');

/**
 * The attack-surface views of the named VMs, asked of the worker now, whenever a frame shows the
 * machine moved on (throttled), and on `refresh()` (after a command).
 */
export function useSurfaceViews(names: readonly string[]): SurfaceViews & { refresh: () => Promise<void> } {
  const client = useLabClient();
  const store = useLabStore();
  const key = names.join('\n');
  const [state, setState] = useState<SurfaceViews>(EMPTY);
  const fetchNow = useRef<() => Promise<void>>(() => Promise.resolve());

  useEffect(() => {
    const list = key ? key.split('\n') : [];
    let live = true;
    let busy: Promise<void> | null = null;
    let again = false;
    let timer = 0;
    let last = 0;
    setState(EMPTY);
    const fetchAll = async (): Promise<void> => {
      if (busy) {
        again = true;
        return busy;
      }
      last = performance.now();
      busy = (async () => {
        const answers = await Promise.all(list.map(async (n) => [n, await client.attackSurface(n)] as const));
        if (!live) return;
        setState((prev) => {
          // undefined: the call failed (the crash banner says so); keep what was shown.
          const entries = answers.map(([n, v]) => [n, v === undefined ? prev.views[n] : v] as const)
            .filter((e): e is readonly [string, AttackSurfaceView | null] => e[1] !== undefined);
          const views = Object.fromEntries(entries);
          if (JSON.stringify(prev.views) === JSON.stringify(views)) return prev;
          const was = { ...prev.was };
          for (const [n, v] of entries) {
            const old = prev.views[n];
            if (old && v && old.surface.total !== v.surface.total) was[n] = old.surface.total;
          }
          return { views, was };
        });
      })();
      await busy;
      busy = null;
      // A command asked while a fetch ran: its effect must show without waiting for the next frame.
      if (again) {
        again = false;
        void fetchAll();
      }
    };
    const schedule = () => {
      if (timer) return;
      timer = window.setTimeout(() => {
        timer = 0;
        void fetchAll();
      }, Math.max(0, REFRESH_MS - (performance.now() - last)));
    };
    fetchNow.current = fetchAll;
    void fetchAll();
    const unsubscribe = store.subscribe((s, prev) => {
      if (progress(s) !== progress(prev)) schedule();
    });
    return () => {
      live = false;
      unsubscribe();
      clearTimeout(timer);
    };
  }, [client, store, key]);

  const refresh = useCallback(() => fetchNow.current(), []);
  return { ...state, refresh };
}
