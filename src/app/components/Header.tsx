import { useRef } from 'react';
import { PRESETS, isPresetId } from '../../scenarios';
import { ACTIONS } from '../actions';
import { useLabClient } from '../client-context';
import { saveText } from '../export';
import { useLab, useLabStore, type ViewId } from '../store';
import { MAX_SCENARIO_BYTES } from '../url';

const title = (id: string) => (PRESETS[id] as { title: string }).title;

const VIEWS: readonly { id: ViewId; label: string }[] = [
  { id: 'memory', label: 'Memory' },
  { id: 'surface', label: 'Attack surface' },
];

export function Header() {
  const client = useLabClient();
  const store = useLabStore();
  const source = useLab((s) => s.source);
  const hasScenario = useLab((s) => s.scenario !== null);
  // Which toolbar actions are enabled, as one string: the header re-renders only when that changes
  // (not at every live frame while the guest runs).
  const enabledKey = useLab((s) => ACTIONS.filter((a) => a.toolbar).map((a) => (a.enabled ? a.enabled(s) : true) ? '1' : '0').join(''));
  const view = useLab((s) => s.view);
  const fileInput = useRef<HTMLInputElement>(null);
  const fileMenu = useRef<HTMLDetailsElement>(null);
  const closeMenu = () => fileMenu.current?.removeAttribute('open');

  const pick = async (id: string) => {
    if (!isPresetId(id)) return;
    await client.load(PRESETS[id], id);
  };

  const importFile = async (f: File) => {
    if (f.size > MAX_SCENARIO_BYTES) {
      store.setState({ loadIssues: [{ path: f.name, message: `the file is ${f.size.toLocaleString('en')} bytes; a scenario is at most ${MAX_SCENARIO_BYTES.toLocaleString('en')} bytes (1 MiB)` }] });
      return;
    }
    const text = await f.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      store.setState({ loadIssues: [{ path: f.name, message: `not valid JSON: ${(e as Error).message}` }] });
      return;
    }
    if (!(await client.load(json, `imported: ${f.name}`))) {
      const issues = store.getState().loadIssues ?? [];
      store.setState({ loadIssues: issues.map((i) => ({ path: `${f.name}: ${i.path}`, message: i.message })) });
    }
  };

  const exportFile = () => {
    const s = store.getState().scenario;
    // The URL outlives the click (export.ts saveBlob): revoked at once, a browser may not have read it yet.
    saveText(JSON.stringify(s, null, 2), `${source.startsWith('imported: ') ? source.slice(10).replace(/\.json$/, '') : source || 'scenario'}.json`, 'application/json');
  };

  return (
    <header className="header">
      <h1>Guest Memory Lab</h1>
      <label className="picker">
        <span className="sr-only">Lesson</span>
        <select aria-label="Lesson" value={isPresetId(source) ? source : ''} onChange={(e) => void pick(e.target.value)}>
          {!isPresetId(source) && <option value="">{source || 'choose a lesson'}</option>}
          {Object.keys(PRESETS).map((id) => <option key={id} value={id}>{title(id)}</option>)}
        </select>
      </label>
      {/* The scenario file's two commands under one word: the header keeps to one row at 1280 px. */}
      <details className="file-menu" ref={fileMenu}>
        <summary title="Import a scenario file or export this one">File</summary>
        <div className="file-menu-items">
          <button type="button" className="secondary" onClick={() => { closeMenu(); fileInput.current?.click(); }}>Import…</button>
          <button type="button" className="secondary" onClick={() => { closeMenu(); exportFile(); }} disabled={!hasScenario}
            title="Save the scenario as JSON, to import it later or share it (the trace, the report and figures are saved from their panels)">Export</button>
        </div>
      </details>
      <input ref={fileInput} type="file" accept=".json,application/json" hidden data-testid="import-file"
        onChange={(e) => { const f = e.target.files?.[0]; if (f) void importFile(f); e.target.value = ''; }} />
      <div className="view-switch" role="group" aria-label="View">
        {VIEWS.map((v) => (
          <button key={v.id} type="button" aria-pressed={view === v.id} aria-keyshortcuts="V" title={`${v.label} view (V switches)`}
            onClick={() => store.setState({ view: v.id })}>
            {v.label}
          </button>
        ))}
      </div>
      <nav className="toolbar" aria-label="Controls">
        {ACTIONS.filter((a) => a.toolbar).map((a, i) => {
          const label = a.label;
          // The label says what the button does and is its name. A step shows it whole, and only its
          // short word (a part of the label) where the header is narrow (150 % zoom); the others
          // show their short word (a step back its "◀", joined to the step it undoes).
          return (
            <button key={a.id} type="button" title={`${label} (${a.shortcut})`} aria-keyshortcuts={a.shortcut === 'Space' ? 'Space' : a.shortcut}
              aria-label={label}
              disabled={enabledKey[i] === '0'} onClick={() => a.perform({ client, store })}
              className={a.back ? 'step-back' : undefined}>
              {a.id.startsWith('step-') && a.short ? <><span className="label-long">{label}</span><span className="label-short">{a.short}</span></> : a.short ?? label}
            </button>
          );
        })}
      </nav>
    </header>
  );
}
