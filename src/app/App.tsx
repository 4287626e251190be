import { useEffect, useState } from 'react';
import { PRESETS, isPresetId } from '../scenarios';
import { handleKey } from './actions';
import { LabClientContext } from './client-context';
import { Banners } from './components/Banners';
import { Header } from './components/Header';
import { HelpOverlay } from './components/HelpOverlay';
import { StartScreenHost } from './components/StartScreenHost';
import { LessonBar } from './components/LessonBar';
import { PanelGrid, type PanelDef } from './components/PanelGrid';
import { LinksBar } from './components/LinksBar';
import { VmTabs } from './components/VmTabs';
import { LabClient } from './lab-client';
import { LazyGuestPanel, LazyMigrationPanel, LazyPresenter, LazySurfaceView } from './lazy-panels';
import { HostPanel, HostTitle } from './panels/host/HostPanel';
import { TracePanel } from './panels/trace/TracePanel';
import { TranslationPanel } from './panels/translation/TranslationPanel';
import { LabStoreContext, createLabStore, useLab } from './store';
import { DEFAULT_PRESET, readUrl, writeUrl } from './url';
import { followShow } from './step-show';

const PANELS: readonly PanelDef[] = [
  { id: 'translation', title: 'Address translation (GPA → HPA)', render: () => <TranslationPanel /> },
  { id: 'host', title: 'Host view', subtitle: () => <HostTitle />, render: () => <HostPanel /> },
  { id: 'guest', title: 'Guest', render: () => <LazyGuestPanel /> },
  { id: 'trace', title: 'Trace', render: () => <TracePanel /> },
];

/** A lesson that migrates a guest shows the migration where the guest's program is otherwise. */
const MIGRATION_PANELS: readonly PanelDef[] = PANELS.map((p) =>
  p.id === 'guest' ? { id: 'migration', title: 'Migration (query-migrate)', render: () => <LazyMigrationPanel /> } : p);

export function App() {
  const [{ store, client }] = useState(() => {
    const prefersDark = typeof matchMedia !== 'undefined' && matchMedia('(prefers-color-scheme: dark)').matches;
    const presenting = new URLSearchParams(window.location.search).get('present') === '1';
    const store = createLabStore({ theme: prefersDark ? 'dark' : 'light', presenting });
    return { store, client: new LabClient(store) };
  });

  useEffect(() => {
    client.start();
    const link = readUrl(window.location.search);
    const moment = link.commands.length || link.event !== null ? { commands: link.commands, event: link.event } : undefined;
    const scenario = link.preset !== null ? PRESETS[link.preset] : link.scenario;
    void client.load(scenario, link.preset ?? 'imported: link', moment).then(async (ok) => {
      if (!ok) {
        // A scenario in the link that does not load: the first lesson, and what was wrong with it.
        const issues = store.getState().loadIssues ?? [];
        await client.load(PRESETS[DEFAULT_PRESET], DEFAULT_PRESET);
        store.setState({ loadIssues: issues.map((i) => ({ path: 'URL', message: `the link's scenario ${i.path}: ${i.message}; showing the start of the first lesson instead` })) });
      }
      if (link.problem) store.setState({ loadIssues: [{ path: 'URL', message: link.problem }] });
    });
    // The address bar names the moment shown (when the guest is not running): a link to it.
    const unfollow = store.subscribe((s, prev) => {
      const same = s.packet === prev.packet && s.selectedEvent === prev.selectedEvent && s.scenario === prev.scenario && s.source === prev.source;
      if (same || !s.packet || s.packet.playing || s.scenario === null) return;
      const f = s.packet.frame;
      const preset = isPresetId(s.source) && PRESETS[s.source] === s.scenario ? s.source : null;
      // The moment's event: the selected one when this moment is its (a seek to it comes here), else the newest.
      const sel = s.selectedEvent?.seq ?? -1;
      const first = f.timeline.firstEvent;
      const event = f.timeline.atStart ? null : first !== null && sel >= first && sel < f.eventCount ? sel : f.eventCount - 1;
      writeUrl({ preset, scenario: preset === null ? s.scenario : null, commands: f.timeline.commands, event });
    });
    // Test hooks, only with ?debug=1: crash the worker (recovery test), ask where the lab runs.
    if (new URLSearchParams(window.location.search).get('debug') === '1') {
      let applied = 0;
      store.subscribe((s, prev) => {
        if (s.live !== prev.live) applied++;
      });
      (window as unknown as { __gml: unknown }).__gml = {
        crashWorker: () => client.crashForTest(),
        closeWorker: () => client.closeForTest(),
        info: () => client.info(),
        play: () => client.play(),
        setSpeed: (n: number) => client.setSpeed(n),
        framesApplied: () => applied,
        /** A copy of the newest page states of the first VM. */
        pageStates: () => store.getState().live?.pages[0]?.states.slice() ?? null,
        /** Whether the guest is running, and the instructions and events so far (the newest frame's). */
        progress: () => {
          const p = store.getState().live;
          return { playing: p?.playing ?? false, instructions: p ? p.frame.vms.reduce((n, v) => n + v.instructions, 0) : 0, events: p?.frame.eventCount ?? 0 };
        },
        /** Each migration's query-migrate status (the newest frame's). */
        migrationStatus: () => store.getState().live?.frame.migrations.map((m) => m.info.status) ?? [],
        bench: () => import('./bench-hooks'),
        /** Time travel for the bench: seek, and the keyframes the worker holds (the newest frame's). */
        seek: (n: number) => client.seek(n),
        timeline: () => store.getState().live?.frame.timeline ?? null,
      };
    }
    // A lesson step's `show`: what it is about comes forward when the lesson reaches it.
    const unshow = followShow(store);
    const onKey = (e: KeyboardEvent) => void handleKey(e, { client, store });
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('keydown', onKey);
      unfollow();
      unshow();
      client.stop();
    };
  }, [client, store]);

  return (
    <LabStoreContext.Provider value={store}>
      <LabClientContext.Provider value={client}>
        <Shell />
      </LabClientContext.Provider>
    </LabStoreContext.Provider>
  );
}

function Shell() {
  const theme = useLab((s) => s.theme);
  const view = useLab((s) => s.view);
  const presenting = useLab((s) => s.presenting);
  const migrates = useLab((s) => (s.packet?.frame.steps ?? []).some((st) => st.do === 'migrate'));
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  // Presenter mode: the root font size (app.css html[data-present]) scales the whole UI; the link says so.
  useEffect(() => {
    document.documentElement.toggleAttribute('data-present', presenting);
    const url = new URL(window.location.href);
    if (presenting) url.searchParams.set('present', '1');
    else url.searchParams.delete('present');
    if (url.href !== window.location.href) window.history.replaceState(null, '', url);
  }, [presenting]);
  if (presenting) {
    return (
      <div className="app">
        <Banners />
        <LazyPresenter panels={migrates ? MIGRATION_PANELS : PANELS} />
        <HelpOverlay />
      </div>
    );
  }
  return (
    <div className="app">
      <Header />
      <Banners />
      <main>
        <LessonBar aside={<><VmTabs /><LinksBar /></>} />
        {view === 'memory' ? <PanelGrid panels={migrates ? MIGRATION_PANELS : PANELS} /> : <LazySurfaceView />}
      </main>
      <HelpOverlay />
      <StartScreenHost />
    </div>
  );
}
