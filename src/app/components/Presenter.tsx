import qrcode from 'qrcode-generator';
import { useMemo, type ReactNode } from 'react';
import { isPresetId } from '../../scenarios';
import { presentTargets, type PresentTarget } from '../actions';
import { lessonPosition, type LessonPhase } from '../lesson-pace';
import { useLab, useLabStore, type LabState } from '../store';
import type { PanelDef } from './PanelGrid';
import { Question } from './Question';

/**
 * Presenter mode (its own chunk, fetched when first entered; qrcode-generator comes with it): the
 * lesson for a room. Large type (app.css `html[data-present]` sets the root font size; ui-scale.ts),
 * one panel at a time filling the screen with the step's narration large beneath it, no editing
 * chrome (no header, toolbar or lesson picker), and the lesson's link as text and as a QR code drawn
 * here from the link. The keyboard runs it: → / Space next step, ← back, 1–5 the panel, Z or Esc
 * leaves (the action registry's `present`, `present-panel`, `close`).
 */
/** `surface`: the attack-surface view as its lazy wrapper renders it (passed in: lazy-panels.tsx imports this file). */
export default function Presenter({ panels, surface }: { panels: readonly PanelDef[]; surface: ReactNode }) {
  const store = useLabStore();
  const packet = useLab((s) => s.packet);
  const targets = useLab(presentTargets);
  const current = useLab((s) => currentTarget(s, targets));
  if (!packet) return <p className="note" role="status">Loading the lab…</p>;
  const frame = packet.frame;
  const at = lessonPosition(packet);
  const result = at.phase === 'waiting' || at.phase === 'finished' ? frame.results.find((r) => r.step === at.step) : undefined;
  const titleOf = (t: PresentTarget) => (t === 'surface' ? 'Attack surface' : panels.find((p) => p.id === t)?.title ?? t);
  const def = current === 'surface' ? null : panels.find((p) => p.id === current) ?? null;
  const narration = at.note ?? frame.explanation;
  return (
    <div className="presenter" data-testid="presenter">
      <header className="presenter-bar">
        <h1 className="presenter-title" title={frame.title}>{frame.title}</h1>
        <span className="presenter-progress" data-testid="progress">Step {at.step + 1} of {at.count} · {PHASE_TEXT[at.phase]}</span>
        <nav className="presenter-tabs" aria-label="Panels (number keys)">
          {targets.map((t, i) => (
            <button key={t} type="button" aria-pressed={t === current} aria-keyshortcuts={String(i + 1)} title={titleOf(t)}
              onClick={() => store.setState({ presentPanel: t })}>
              <kbd aria-hidden="true">{i + 1}</kbd> <span className="presenter-tab-word">{TAB_WORDS[t]}</span>
            </button>
          ))}
        </nav>
        <button type="button" className="presenter-leave" aria-keyshortcuts="Escape Z" onClick={() => store.setState({ presenting: false })}>Leave (Esc)</button>
      </header>
      <main className="presenter-main">
        <section className="panel presenter-panel" data-panel={current} aria-label={titleOf(current)}>
          {def && <div className="panel-head"><h2>{def.title}{def.subtitle?.()}</h2></div>}
          <div className="panel-body">{def ? def.render() : surface}</div>
        </section>
      </main>
      <footer className="presenter-foot">
        <div className="presenter-words">
          <p className={narration.length > LONG_NARRATION ? 'presenter-narration long' : 'presenter-narration'} role="status" aria-live="polite" data-testid="narration">
            {narration}
          </p>
          <p className="presenter-result">
            {result ? <><code>{result.do}</code> → {result.ret === -1 ? `-1 ${result.errno}` : String(result.ret)}{result.why ? ` (${result.why})` : ''}</>
              : at.phase === 'ready' ? 'Space or → runs step 1.' : at.phase === 'running' ? 'Running…' : ' '}
          </p>
          {/* Predict, then see: the step's question, asked of the whole room before it runs. */}
          <Question />
        </div>
        <LessonLink />
      </footer>
    </div>
  );
}

/** Narration longer than this (characters) is set a size smaller (1rem, still 21 px) so that it shows whole in fewer lines. */
const LONG_NARRATION = 150;

const PHASE_TEXT: Record<LessonPhase, string> = { ready: 'ready', running: 'running', paused: 'paused', waiting: 'done', finished: 'finished' };

/** The panel shown: the one picked, else the maximised one (or the surface view), else the first. */
function currentTarget(s: LabState, targets: readonly PresentTarget[]): PresentTarget {
  const wanted = s.presentPanel ?? (s.view === 'surface' ? 'surface' : s.maximized);
  return wanted && targets.includes(wanted) ? wanted : targets[0];
}

/** The tabs' words (one row beside the title); the panel's whole title is over it. */
const TAB_WORDS: Record<PresentTarget, string> = { translation: 'Translation', host: 'Host', guest: 'Guest', trace: 'Trace', migration: 'Migration', surface: 'Attack surface' };

/** The lesson's link (its start, for a lesson; the moment's link for a scenario of one's own) as text and as a QR code. */
function LessonLink() {
  const source = useLab((s) => s.source);
  // Re-read at each new frame stopped at: the address bar follows the lesson (App's writeUrl).
  useLab((s) => s.packet);
  const u = new URL(window.location.href);
  if (isPresetId(source)) u.search = `?v=2&preset=${source}`;
  else for (const f of ['debug', 'present']) u.searchParams.delete(f);
  const link = u.href;
  const qr = useMemo(() => qrPath(link), [link]);
  return (
    <div className="presenter-link">
      {qr ? (
        <svg className="presenter-qr" role="img" aria-label="QR code of the lesson's link" viewBox={`-2 -2 ${qr.size + 4} ${qr.size + 4}`} data-testid="lesson-qr">
          <rect x={-2} y={-2} width={qr.size + 4} height={qr.size + 4} fill="#fff" />
          <path d={qr.d} fill="#000" shapeRendering="crispEdges" />
        </svg>
      ) : <span className="note">The link is too long for a QR code.</span>}
      <a href={link} className="presenter-url" data-testid="lesson-link">{link.replace(/^https?:\/\//, '')}</a>
    </div>
  );
}

/** A QR code (error correction M, the smallest version that holds the link) as one SVG path of its dark modules, or null when the link is too long. */
export function qrPath(text: string): { size: number; d: string } | null {
  try {
    const q = qrcode(0, 'M');
    q.addData(text, 'Byte');
    q.make();
    const n = q.getModuleCount();
    let d = '';
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) if (q.isDark(r, c)) d += `M${c} ${r}h1v1h-1z`;
    }
    return { size: n, d };
  } catch {
    return null;
  }
}
