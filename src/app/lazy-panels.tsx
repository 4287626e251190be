import { lazy, Suspense, type ReactNode } from 'react';
import type { PanelDef } from './components/PanelGrid';

/*
 * The panels not every lesson shows, each in a chunk of its own fetched when it is first shown: the
 * guest (whose program editor, CodeMirror, is a further chunk: asm-editor.ts), the migration panel
 * (only in lessons that migrate) and the attack-surface view (V). The page's first JavaScript stays
 * within DESIGN.md's 250 KB budget. Presenter mode (with its QR code library) is a chunk too (scripts/bundle-check.mjs checks it).
 */
const GuestPanel = lazy(() => import('./panels/guest/GuestPanel').then((m) => ({ default: m.GuestPanel })));
const MigrationPanel = lazy(() => import('./panels/migration/MigrationPanel').then((m) => ({ default: m.MigrationPanel })));
const Presenter = lazy(() => import('./components/Presenter'));
const SurfaceView = lazy(() => import('./panels/surface/SurfaceView').then((m) => ({ default: m.SurfaceView })));

/** What a lazily loaded panel shows while its chunk arrives (from the server or the offline cache). */
export function PanelLoading({ what }: { what: string }): ReactNode {
  return <p className="note" role="status">Loading the {what}…</p>;
}

export function LazyGuestPanel() {
  return <Suspense fallback={<PanelLoading what="guest panel" />}><GuestPanel /></Suspense>;
}

export function LazyMigrationPanel() {
  return <Suspense fallback={<PanelLoading what="migration panel" />}><MigrationPanel /></Suspense>;
}

export function LazySurfaceView() {
  return <Suspense fallback={<PanelLoading what="attack-surface view" />}><SurfaceView /></Suspense>;
}

export function LazyPresenter({ panels }: { panels: readonly PanelDef[] }) {
  return <Suspense fallback={<PanelLoading what="presenter mode" />}><Presenter panels={panels} surface={<LazySurfaceView />} /></Suspense>;
}
