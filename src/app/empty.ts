import type { SimEvent } from '../sim/core/trace';
import type { VmView } from '../sim/lab';

/**
 * Stable empty values for selectors: a selector that returns a fresh `[]` each time makes React
 * re-render forever (useSyncExternalStore sees a new snapshot on every read).
 */
export const NO_VMS: readonly VmView[] = [];
export const NO_EVENTS: readonly SimEvent[] = [];
