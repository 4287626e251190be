import { useRef, type ReactNode } from 'react';
import { useLab, useLabStore, type PanelId } from '../store';

export interface PanelDef {
  id: PanelId;
  title: string;
  /** What follows the title (the host view names its host), drawn from the store. */
  subtitle?: () => ReactNode;
  render: () => ReactNode;
}

/**
 * Four panels in a 2×2 grid with draggable splitters (keyboard: arrows on a focused splitter), and
 * a maximise toggle per panel for the projector.
 */
export function PanelGrid({ panels }: { panels: readonly PanelDef[] }) {
  const [col, row] = useLab((s) => s.split);
  // A panel maximised in another lesson (the migration panel, say) that this one does not show: none is.
  const wanted = useLab((s) => s.maximized);
  const maximized = wanted && panels.some((p) => p.id === wanted) ? wanted : null;
  const store = useLabStore();
  const grid = useRef<HTMLDivElement>(null);

  const drag = (axis: 0 | 1) => (e: React.PointerEvent) => {
    const el = grid.current;
    if (!el) return;
    const rect = el.getBoundingClientRect();
    (e.target as HTMLElement).setPointerCapture(e.pointerId);
    const move = (ev: PointerEvent) => {
      const f = axis === 0 ? (ev.clientX - rect.left) / rect.width : (ev.clientY - rect.top) / rect.height;
      const v = Math.min(0.85, Math.max(0.15, f));
      store.setState((s) => ({ split: axis === 0 ? [v, s.split[1]] : [s.split[0], v] }));
    };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  };
  const key = (axis: 0 | 1) => (e: React.KeyboardEvent) => {
    const d = e.key === 'ArrowLeft' || e.key === 'ArrowUp' ? -0.05 : e.key === 'ArrowRight' || e.key === 'ArrowDown' ? 0.05 : 0;
    if (!d) return;
    e.preventDefault();
    store.setState((s) => {
      const v = Math.min(0.85, Math.max(0.15, s.split[axis] + d));
      return { split: axis === 0 ? [v, s.split[1]] : [s.split[0], v] };
    });
  };

  const style = maximized
    ? { gridTemplateColumns: 'minmax(0, 1fr)', gridTemplateRows: 'minmax(0, 1fr)' }
    : { gridTemplateColumns: `minmax(0, ${col}fr) 8px minmax(0, ${1 - col}fr)`, gridTemplateRows: `minmax(0, ${row}fr) 8px minmax(0, ${1 - row}fr)` };
  const shown = maximized ? panels.filter((p) => p.id === maximized) : panels;
  const area = ['1 / 1', '1 / 3', '3 / 1', '3 / 3'];
  return (
    <div className="grid" ref={grid} style={style}>
      {shown.map((p, i) => (
        <section key={p.id} className="panel" data-panel={p.id} aria-label={p.title} tabIndex={-1}
          style={maximized ? undefined : { gridArea: area[i] }}>
          <div className="panel-head">
            <h2>{p.title}{p.subtitle?.()}</h2>
            <button type="button" className="link" onClick={() => store.setState({ maximized: maximized ? null : p.id })}
              aria-label={maximized ? `Restore ${p.title}` : `Maximise ${p.title}`}>{maximized ? 'Restore' : 'Maximise'}</button>
          </div>
          <div className="panel-body">{p.render()}</div>
        </section>
      ))}
      {!maximized && (
        <>
          <div className="splitter v" role="separator" aria-orientation="vertical" aria-label="Resize columns" tabIndex={0}
            aria-valuenow={Math.round(col * 100)} aria-valuemin={15} aria-valuemax={85}
            style={{ gridArea: '1 / 2 / 4 / 3' }} onPointerDown={drag(0)} onKeyDown={key(0)} />
          <div className="splitter h" role="separator" aria-orientation="horizontal" aria-label="Resize rows" tabIndex={0}
            aria-valuenow={Math.round(row * 100)} aria-valuemin={15} aria-valuemax={85}
            style={{ gridArea: '2 / 1 / 3 / 4' }} onPointerDown={drag(1)} onKeyDown={key(1)} />
        </>
      )}
    </div>
  );
}
