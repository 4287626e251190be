import { useState } from 'react';
import type { AttackSurfaceView } from '../../../sim/vmm/surface-view';
import { useLabClient } from '../../client-context';
import type { LabState } from '../../store';
import { useWorkerQuery } from '../../use-worker-query';
import { parseVmKey } from '../../vm-ref';

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
 * The attack-surface views of the VMs with these keys (vm-ref.ts vmKey: host and name), asked of the worker now, whenever a frame shows the
 * machine moved on (throttled), and on `refresh()` (after a command).
 */
export function useSurfaceViews(names: readonly string[]): SurfaceViews & { refresh: () => Promise<void> } {
  const client = useLabClient();
  const key = names.join('\n');
  const [state, setState] = useState<SurfaceViews>(EMPTY);
  // A new set of VMs starts empty.
  const [shownKey, setShownKey] = useState(key);
  if (shownKey !== key) {
    setShownKey(key);
    setState(EMPTY);
  }
  const refresh = useWorkerQuery(key, async (live) => {
    const list = key ? key.split('\n') : [];
    const answers = await Promise.all(list.map(async (n) => [n, await client.attackSurface(parseVmKey(n))] as const));
    if (!live()) return;
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
  }, (s, prev) => progress(s) !== progress(prev), REFRESH_MS);
  return { ...state, refresh };
}
