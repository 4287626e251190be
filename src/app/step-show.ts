/**
 * A lesson step's `show` (docs/scenario-format.md, "What a step shows") brought forward when the
 * lesson reaches the step: the panel maximised (or the attack-surface view), the VM focused, its
 * page map zoomed to the pages, the trace's row selected. Applied once per step reached (a step
 * run again, or gone back to, is reached again); what the user does after is left alone.
 */
import type { FramePacket } from '../worker/protocol';
import { lessonPosition } from './lesson-pace';
import type { LabState, LabStore, PanelId } from './store';

type Show = NonNullable<FramePacket['frame']['steps'][number]['show']>;

/**
 * The step the lesson is at and what it shows, or null (no frame, or the step shows nothing, or the
 * lesson is not followed at its pace). A step is brought forward when the lesson reaches it at the
 * lesson's pace (Space / →: the last play's pace is 'step'), and the first step at the lesson's
 * start (so the platform lessons open in the attack-surface view); running freely, stepping by
 * instruction or event before any paced play, and time travel by themselves bring nothing forward.
 */
export function shownStep(p: FramePacket | null): { step: number; show: Show } | null {
  if (!p) return null;
  const { step, phase } = lessonPosition(p);
  if (phase !== 'ready' && p.pace !== 'step') return null;
  const show = p.frame.steps[step]?.show ?? null;
  return show ? { step, show } : null;
}

let nextKey = 1;

/** The store's change that brings `show` forward. */
export function showPatch(s: LabState, show: Show): Partial<LabState> {
  const patch: Partial<LabState> = {};
  const vms = s.packet?.frame.vms ?? [];
  if (show.panel === 'surface') Object.assign(patch, { view: 'surface', maximized: null, presentPanel: 'surface' });
  else if (show.panel) Object.assign(patch, { view: 'memory', maximized: show.panel as PanelId, presentPanel: show.panel as PanelId });
  const vm = show.vm !== undefined ? vms.find((v) => v.name === show.vm && (show.host === undefined || v.host === show.host)) : undefined;
  if (vm) patch.focusVm = { host: vm.host, vm: vm.name };
  if (show.pages) {
    const target = vm ?? (s.focusVm ? vms.find((v) => v.name === s.focusVm!.vm && v.host === s.focusVm!.host) : undefined) ?? vms[0];
    if (target) {
      patch.focusPages = { host: target.host, vm: target.name, first: show.pages.first, count: show.pages.count, key: nextKey++ };
      patch.selection = { host: target.host, vm: target.name, gfn: show.pages.first };
    }
  }
  if (show.row !== undefined) patch.selectedEvent = { seq: show.row, host: null, vm: null, gfns: null };
  return patch;
}

/** Follow the lesson: each step reached that has a `show` is brought forward. Returns the unsubscribe. */
export function followShow(store: LabStore): () => void {
  let last = '';
  const apply = (s: LabState) => {
    const at = shownStep(s.packet);
    const key = at ? `${s.packet!.run}:${s.source}:${at.step}` : '';
    if (key === last) return;
    last = key;
    if (at) store.setState(showPatch(s, at.show));
  };
  apply(store.getState());
  return store.subscribe((s, prev) => {
    if (s.packet !== prev.packet) apply(s);
  });
}
