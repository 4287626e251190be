/**
 * The shape of an action-registry entry (actions.ts): a user command with its label, shortcut and
 * when it applies. Its own module so that groups of entries kept in other files (migration-actions.ts)
 * need not import the registry that lists them.
 */
import type { LabClient } from './lab-client';
import type { LabState, LabStore } from './store';

export interface ActionContext {
  client: LabClient;
  store: LabStore;
  /** The key that performs the action (KeyboardEvent.key), when a key does: one action for 1–9 reads its digit. */
  key?: string;
}

export interface Action {
  id: string;
  label: string;
  /** What the toolbar button shows, a word of the label (the button's accessible name stays the label). */
  short?: string;
  /** The shortcut as shown to the user ('' for none: a button in its panel only). */
  shortcut: string;
  keyTest: (e: KeyboardEvent) => boolean;
  perform: (ctx: ActionContext) => void;
  /** When false the control is disabled. */
  enabled?: (s: LabState) => boolean;
  /** Why the control is disabled now (shown as its tooltip), or null. */
  why?: (s: LabState) => string | null;
  /** The label as the control shows it now (a toggle says what it will do). */
  now?: (s: LabState) => string;
  /** Shown in the toolbar (others only through shortcuts and the help overlay). */
  toolbar?: boolean;
  /** A step back: drawn joined to the forward step after it. */
  back?: boolean;
  group: 'lesson' | 'run' | 'view' | 'help' | 'migration' | 'export';
}

