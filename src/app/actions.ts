/**
 * Every user command is one entry here, with its label and keyboard shortcut. The toolbar, the
 * keyboard handler and the help overlay are all drawn from this table (as excalidraw's actions are).
 */
import type { StepKind } from '../worker/protocol';
import type { LabState, PanelId } from './store';

export type { Action, ActionContext } from './action-types';
import type { Action, ActionContext } from './action-types';

const plain = (e: KeyboardEvent) => !e.ctrlKey && !e.metaKey && !e.altKey;
const ready = (s: LabState) => s.status === 'ready' && s.packet !== null;
const notDone = (s: LabState) => ready(s) && !s.packet!.frame.done;
const notAtStart = (s: LabState) => ready(s) && !s.packet!.frame.timeline.atStart;

/**
 * A forward step and its step back: the same key, with Shift going back. The back button comes first
 * in the toolbar, a narrow "◀" next to the step it undoes (its name is the full label). `short` is
 * the forward button's text where the header is narrow (150 % zoom); the label is its name everywhere.
 */
function stepPair(kind: StepKind, key: string, label: string, short: string, backLabel: string): Action[] {
  const k = key.toLowerCase();
  return [
    {
      id: `back-${kind}`, label: backLabel, short: '◀', shortcut: `Shift+${key}`, group: 'run', toolbar: true, back: true,
      keyTest: (e) => plain(e) && e.shiftKey && e.key.toLowerCase() === k,
      perform: ({ client }) => void client.stepBack(kind), enabled: notAtStart,
    },
    {
      id: `step-${kind}`, label, short, shortcut: key, group: 'run', toolbar: true,
      keyTest: (e) => plain(e) && !e.shiftKey && e.key.toLowerCase() === k, perform: ({ client }) => void client.step(kind), enabled: notDone,
    },
  ];
}

import { MIGRATION_ACTIONS } from './migration-actions';
import { EXPORT_ACTIONS } from './export-actions';
import { answerBook, askFirst, lessonOf, questionGate } from './predict';
import { startScreen } from './start-screen';

export const SPEEDS = [1, 10, 100, 1000, 5000, 20000, 100000, 500000];

/**
 * What presenter mode's number keys pick, in order: the memory panels of this lesson (the migration
 * panel in the guest's place when it migrates), then the attack-surface view.
 */
export function presentTargets(s: LabState): readonly PresentTarget[] {
  const migrates = (s.packet?.frame.steps ?? []).some((st) => st.do === 'migrate');
  return migrates ? MIGRATING_TARGETS : PLAIN_TARGETS;
}
export type PresentTarget = PanelId | 'surface';
const PLAIN_TARGETS: readonly PresentTarget[] = ['translation', 'host', 'guest', 'trace', 'surface'];
const MIGRATING_TARGETS: readonly PresentTarget[] = ['translation', 'host', 'migration', 'trace', 'surface'];

export const ACTIONS: readonly Action[] = [
  // The lesson's pace: Space or → runs the next scenario step and waits at its end, ← goes back to
  // the end of the step before (time travel), F runs freely. The lesson bar draws these three.
  {
    id: 'lesson-next', label: 'Next lesson step', short: 'Next step', shortcut: 'Space / →', group: 'lesson',
    keyTest: (e) => plain(e) && !e.shiftKey && (e.key === ' ' || e.key === 'ArrowRight'),
    perform: ({ client, store }) => {
      const s = store.getState();
      if (s.packet?.playing) void client.pause();
      // A step that asks a question runs once it is answered (predict.ts): the question opens instead.
      else if (!askFirst(s.packet, lessonOf(s))) void client.playStep();
    },
    enabled: notDone, now: (s) => (s.packet?.playing ? 'Pause' : 'Next lesson step'),
  },
  {
    id: 'lesson-back', label: 'Back one lesson step', short: 'Back', shortcut: '← / Shift+S', group: 'lesson',
    keyTest: (e) => plain(e) && ((!e.shiftKey && e.key === 'ArrowLeft') || (e.shiftKey && e.key.toLowerCase() === 's')),
    perform: ({ client }) => void client.stepBack('step'), enabled: notAtStart,
  },
  {
    id: 'run-freely', label: 'Run freely', short: 'Run freely', shortcut: 'F', group: 'lesson',
    keyTest: (e) => plain(e) && !e.shiftKey && e.key.toLowerCase() === 'f',
    // A toggle (aria-pressed while it runs freely): from a step running at the lesson's pace it goes on freely.
    perform: ({ client, store }) => {
      const p = store.getState().packet;
      void (p?.playing && p.pace === 'free' ? client.pause() : client.play());
    },
    enabled: notDone,
  },
  ...stepPair('instruction', 'I', 'Next instruction', 'Instruction', 'Previous instruction'),
  ...stepPair('exit', 'E', 'Run to next VM exit', 'VM exit', 'Back to previous VM exit'),
  ...stepPair('event', 'N', 'Next event', 'Event', 'Previous event'),
  // The lesson bar's Next lesson step (Space) runs a step at the lesson's pace; S runs it at once.
  // Not in the toolbar (one set of controls: the lesson bar's); its step back is ← (Shift+S too).
  {
    id: 'step-step', label: 'Run the next lesson step at once', shortcut: 'S', group: 'run',
    keyTest: (e) => plain(e) && !e.shiftKey && e.key.toLowerCase() === 's', perform: ({ client }) => void client.step('step'), enabled: notDone,
  },
  {
    id: 'seek-selected', label: 'Go to the selected event\'s moment', shortcut: 'G', group: 'run',
    keyTest: (e) => plain(e) && !e.shiftKey && e.key.toLowerCase() === 'g',
    perform: ({ client, store }) => {
      const sel = store.getState().selectedEvent;
      if (sel) void client.seek(sel.seq);
    },
    enabled: (s) => ready(s) && s.selectedEvent !== null,
  },
  {
    id: 'restart', label: 'Restart the scenario', short: 'Restart', shortcut: 'R', group: 'run', toolbar: true,
    keyTest: (e) => plain(e) && !e.shiftKey && e.key.toLowerCase() === 'r', perform: ({ client }) => void client.reset(), enabled: ready,
  },
  {
    id: 'faster', label: 'Faster', shortcut: '+', group: 'run',
    keyTest: (e) => plain(e) && (e.key === '+' || e.key === '='),
    perform: ({ client, store }) => {
      const i = SPEEDS.findIndex((s) => s >= store.getState().speed);
      void client.setSpeed(SPEEDS[Math.min(SPEEDS.length - 1, i + 1)]);
    },
  },
  {
    id: 'slower', label: 'Slower', shortcut: '−', group: 'run',
    keyTest: (e) => plain(e) && (e.key === '-' || e.key === '_'),
    perform: ({ client, store }) => {
      const i = SPEEDS.findIndex((s) => s >= store.getState().speed);
      void client.setSpeed(SPEEDS[Math.max(0, i - 1)]);
    },
  },
  {
    id: 'theme', label: 'Light / dark theme', short: '◐', shortcut: 'T', group: 'view', toolbar: true,
    keyTest: (e) => plain(e) && e.key.toLowerCase() === 't',
    perform: ({ store }) => store.setState((s) => ({ theme: s.theme === 'light' ? 'dark' : 'light' })),
  },
  {
    id: 'view', label: 'Memory / attack-surface view', shortcut: 'V', group: 'view',
    keyTest: (e) => plain(e) && e.key.toLowerCase() === 'v',
    perform: ({ store }) => store.setState((s) => ({ view: s.view === 'memory' ? 'surface' : 'memory' })),
  },
  {
    id: 'maximize', label: 'Maximise the focused panel / restore', shortcut: 'M', group: 'view',
    keyTest: (e) => plain(e) && !e.shiftKey && e.key.toLowerCase() === 'm', enabled: (s) => s.view === 'memory',
    perform: ({ store }) => {
      const focused = (document.activeElement as HTMLElement | null)?.closest('[data-panel]')?.getAttribute('data-panel') as LabState['maximized'];
      store.setState((s) => ({ maximized: s.maximized ? null : focused ?? 'translation' }));
    },
  },
  // Presenter mode (components/Presenter.tsx): large type, one panel at a time with the narration
  // under it, the lesson's link and its QR code; the lesson's keys pace it, number keys pick the panel.
  {
    id: 'present', label: 'Presenter mode (large type, one panel)', short: 'Present', shortcut: 'Z', group: 'view', toolbar: true,
    keyTest: (e) => plain(e) && !e.shiftKey && e.key.toLowerCase() === 'z',
    perform: ({ store }) => store.setState((s) => ({ presenting: !s.presenting, helpOpen: false })),
  },
  {
    id: 'present-panel', label: 'Presenter mode: show panel 1, 2, 3…', shortcut: '1–9', group: 'view',
    keyTest: (e) => plain(e) && /^[1-9]$/.test(e.key),
    enabled: (s) => s.presenting,
    perform: ({ store, key }) => store.setState((s) => ({ presentPanel: presentTargets(s)[Number(key ?? '1') - 1] ?? s.presentPanel })),
  },
  ...MIGRATION_ACTIONS,
  ...EXPORT_ACTIONS,
  {
    id: 'clear-answers', label: 'Clear my answers to the lessons\' questions', short: 'Clear my answers', shortcut: '', group: 'help',
    keyTest: () => false,
    perform: () => {
      answerBook.clear();
      questionGate.close();
    },
    enabled: () => answerBook.count() > 0,
    why: () => (answerBook.count() > 0 ? null : 'No answers are kept'),
  },
  {
    id: 'start-screen', label: 'Start screen: what this lab is, and its lessons', short: '⌂', shortcut: 'H', group: 'help', toolbar: true,
    keyTest: (e) => plain(e) && !e.shiftKey && e.key.toLowerCase() === 'h',
    perform: () => startScreen.open(),
  },
  {
    id: 'help', label: 'Keyboard shortcuts', short: '?', shortcut: '?', group: 'help', toolbar: true,
    keyTest: (e) => e.key === '?' || (plain(e) && e.key === 'F1'),
    perform: ({ store }) => store.setState((s) => ({ helpOpen: !s.helpOpen })),
  },
  {
    id: 'close', label: 'Close the overlay', shortcut: 'Esc', group: 'help',
    keyTest: (e) => e.key === 'Escape',
    // One thing at a time: the overlay, else presenter mode, else the maximised panel.
    perform: ({ store }) => store.setState((s) => (s.helpOpen ? { helpOpen: false } : s.presenting ? { presenting: false } : { maximized: null })),
  },
];

/** Route a key press to its action, unless the user is typing in a field or an editor. */
export function handleKey(e: KeyboardEvent, ctx: ActionContext): boolean {
  // A control that used the key itself (a page map's arrows, a splitter's) has said so.
  if (e.defaultPrevented) return false;
  const t = e.target as HTMLElement | null;
  if (t && (t.closest('input, textarea, select, [contenteditable="true"], .cm-editor') !== null) && e.key !== 'Escape') return false;
  const a = ACTIONS.find((x) => x.keyTest(e));
  if (!a) return false;
  if (a.enabled && !a.enabled(ctx.store.getState())) return true;
  e.preventDefault();
  a.perform({ ...ctx, key: e.key });
  return true;
}
