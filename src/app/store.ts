/**
 * The UI store (zustand, one per Lab instance, reached through context). It mirrors the latest frame
 * from the worker and holds UI state: selection, layout, theme, presenter mode. Panels read it through
 * selectors; they never change the machine except through the lab client.
 */
import { createContext, useContext } from 'react';
import { createStore, type StoreApi } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { FramePacket, VmRef } from '../worker/protocol';
import type { ScenarioIssue } from '../sim/scenario/schema';

export type Theme = 'light' | 'dark';
export type PanelId = 'translation' | 'host' | 'guest' | 'trace' | 'migration';
/** The top-level view: the 2×2 memory panels, or the attack-surface view (full width). */
export type ViewId = 'memory' | 'surface';

/** A page of one VM: the VM by host and name (names may repeat across hosts), and its GFN. */
export interface Selection extends VmRef {
  gfn: number;
}

export interface LabState {
  /**
   * The latest frame as the panels show it; null before the first scenario loads. While the guest
   * runs it is refreshed a few times a second (text panels cannot be read faster, and each refresh
   * re-renders them); otherwise at once.
   */
  packet: FramePacket | null;
  /** The newest frame, every display frame: the page maps repaint from it at display rate. */
  live: FramePacket | null;
  status: 'starting' | 'ready' | 'crashed';
  crashMessage: string | null;
  /** Problems with the last scenario the user tried to load (import, URL, preset). */
  loadIssues: ScenarioIssue[] | null;
  /** Where the current scenario came from: a preset id, or "imported: name". */
  source: string;
  /** The current scenario as JSON (kept on the main thread so a crash loses nothing). */
  scenario: unknown;
  speed: number;
  /** The VM whose panels are shown; all VMs are shown side by side where a panel supports it. */
  focusVm: VmRef | null;
  /** The host the host view is about (null: the focused VM's host, else the first). */
  focusHost: string | null;
  /** The host shown beside it in the host view's side-by-side mode (null: one host). */
  compareHost: string | null;
  selection: Selection | null;
  hover: Selection | null;
  /** The selected trace event; the pages it touched (gfns [first, count] in its VM) are highlighted in the page maps. */
  selectedEvent: { seq: number; host: string | null; vm: string | null; gfns: readonly [number, number] | null } | null;
  /** A host frame selected in the host view, on its host. */
  selectedFrame: { host: string; frame: number } | null;
  theme: Theme;
  helpOpen: boolean;
  /** Panel sizes (fractions) for the 2×2 grid: [column split, row split]. */
  split: [number, number];
  maximized: PanelId | null;
  view: ViewId;
  /** What the last migration control did: the command and QEMU's answer (an error when it was refused). */
  migrationNotice: { text: string; error: boolean } | null;
  /**
   * Pages a lesson step is about (its `show.pages`): the VM's page map zooms to them. `key` changes
   * each time a step asks, so the same pages asked again are brought back into view.
   */
  focusPages: { host: string | null; vm: string; first: number; count: number; key: number } | null;
  /** Presenter mode: large type (the root font size), one panel at a time, the narration under it. */
  presenting: boolean;
  /** The panel presenter mode shows (null: the maximised one, else the lesson's first). */
  presentPanel: PanelId | 'surface' | null;
}

export type LabStore = StoreApi<LabState>;

export function createLabStore(initial: Partial<LabState> = {}): LabStore {
  return createStore<LabState>()(() => ({
    packet: null,
    live: null,
    status: 'starting',
    crashMessage: null,
    loadIssues: null,
    source: '',
    scenario: null,
    speed: 5000,
    focusVm: null,
    focusHost: null,
    compareHost: null,
    selection: null,
    hover: null,
    selectedEvent: null,
    selectedFrame: null,
    theme: 'light',
    helpOpen: false,
    split: [0.5, 0.55],
    maximized: null,
    view: 'memory',
    migrationNotice: null,
    focusPages: null,
    presenting: false,
    presentPanel: null,
    ...initial,
  }));
}

/**
 * The host the host view is about: the chosen one if the frame has it, else the focused VM's host,
 * else the first host ('' before a frame).
 */
export function primaryHost(s: LabState): string {
  const hosts = s.packet?.frame.hosts ?? [];
  if (s.focusHost && hosts.some((h) => h.name === s.focusHost)) return s.focusHost;
  if (s.focusVm && hosts.some((h) => h.name === s.focusVm!.host)) return s.focusVm.host;
  return hosts[0]?.name ?? '';
}

/** The host shown beside the primary one, or '' in single mode (or when the frame has no such other host). */
export function secondHost(s: LabState): string {
  const c = s.compareHost;
  return c && c !== primaryHost(s) && s.packet?.frame.hosts.some((h) => h.name === c) ? c : '';
}

/** Select a page of a VM (the translation walk follows it); its host becomes the host view's host. */
export function selectPage(store: LabStore, sel: Selection): void {
  store.setState((s) => ({ selection: sel, focusHost: secondHost(s) === sel.host ? s.focusHost : sel.host }));
}

/** Focus a VM: the single-VM panels show it and the host view shows its host (unless it is already shown beside). */
export function focusVm(store: LabStore, ref: VmRef): void {
  store.setState((s) => ({ focusVm: ref, focusHost: secondHost(s) === ref.host ? s.focusHost : ref.host }));
}

/** Side by side on: the chosen other host, else the first host that is not the primary one. Off: one host. */
export function setSideBySide(store: LabStore, on: boolean, other?: string): void {
  store.setState((s) => {
    if (!on) return { compareHost: null };
    const primary = primaryHost(s);
    const pick = other ?? s.packet?.frame.hosts.find((h) => h.name !== primary)?.name ?? null;
    return { focusHost: primary || null, compareHost: pick && pick !== primary ? pick : null };
  });
}

export const LabStoreContext = createContext<LabStore | null>(null);

/** Read the store with a selector. */
export function useLab<T>(selector: (s: LabState) => T): T {
  const store = useContext(LabStoreContext);
  if (!store) throw new Error('useLab outside LabStoreContext');
  return useStore(store, selector);
}

export function useLabStore(): LabStore {
  const store = useContext(LabStoreContext);
  if (!store) throw new Error('useLabStore outside LabStoreContext');
  return store;
}
