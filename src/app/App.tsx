import { useEffect, useState } from 'react';
import { PRESETS } from '../scenarios';
import { handleKey } from './actions';
import { LabClientContext } from './client-context';
import { Banners } from './components/Banners';
import { Header } from './components/Header';
import { HelpOverlay } from './components/HelpOverlay';
import { LessonBar } from './components/LessonBar';
import { PanelGrid, type PanelDef } from './components/PanelGrid';
import { LinksBar } from './components/LinksBar';
import { VmTabs } from './components/VmTabs';
import { LabClient } from './lab-client';
import { GuestPanel } from './panels/guest/GuestPanel';
import { HostPanel, HostTitle } from './panels/host/HostPanel';
import { SurfaceView } from './panels/surface/SurfaceView';
import { TracePanel } from './panels/trace/TracePanel';
import { TranslationPanel } from './panels/translation/TranslationPanel';
import { LabStoreContext, createLabStore, useLab } from './store';
import { readUrl, writeUrl } from './url';

const PANELS: readonly PanelDef[] = [
  { id: 'translation', title: 'Address translation (GPA → HPA)', render: () => <TranslationPanel /> },
  { id: 'host', title: 'Host view', subtitle: () => <HostTitle />, render: () => <HostPanel /> },
  { id: 'guest', title: 'Guest', render: () => <GuestPanel /> },
  { id: 'trace', title: 'Trace', render: () => <TracePanel /> },
];

export function App() {
  const [{ store, client }] = useState(() => {
    const prefersDark = typeof matchMedia !== 'undefined' && matchMedia('(prefers-color-scheme: dark)').matches;
    const store = createLabStore({ theme: prefersDark ? 'dark' : 'light' });
    return { store, client: new LabClient(store) };
  });

  useEffect(() => {
    client.start();
    const { preset, problem } = readUrl(window.location.search);
    void client.load(PRESETS[preset], preset).then(() => {
      if (!problem) return;
      // The address bar names the lesson shown, not the one that could not be.
      writeUrl(preset);
      store.setState({ loadIssues: [{ path: 'URL', message: problem }] });
    });
    // Test hooks, only with ?debug=1: crash the worker (recovery test), ask where the lab runs.
    if (new URLSearchParams(window.location.search).get('debug') === '1') {
      let applied = 0;
      store.subscribe((s, prev) => {
        if (s.live !== prev.live) applied++;
      });
      (window as unknown as { __gml: unknown }).__gml = {
        crashWorker: () => client.crashForTest(),
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
        bench: () => import('./bench-hooks'),
      };
    }
    const onKey = (e: KeyboardEvent) => void handleKey(e, { client, store });
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('keydown', onKey);
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
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  return (
    <div className="app">
      <Header />
      <Banners />
      <main>
        <LessonBar />
        <div className="world-bar">
          <VmTabs />
          <LinksBar />
        </div>
        {view === 'memory' ? <PanelGrid panels={PANELS} /> : <SurfaceView />}
      </main>
      <HelpOverlay />
    </div>
  );
}
