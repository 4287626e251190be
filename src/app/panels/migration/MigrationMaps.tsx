import { useEffect, useMemo, useRef, useState } from 'react';
import type { MigrationView } from '../../../sim/lab';
import { MIGRATION_PAGE_STATE_INFO } from '../../../sim/view-model';
import { ExportButton } from '../../components/ExportButton';
import { exportMapPng, offerMap, slug, type MapSource } from '../../export';
import { createPageMap, type PageMap } from '../../render/page-map';
import { MIGRATION_STATE_COLORS, migrationPalette } from '../../render/migration-palette';
import { MAP_COLORS } from '../../render/page-palette';
import { useLab, useLabStore, type LabState } from '../../store';
import { FAULT_FLASH_NS, recentFaultPages } from './fault-timeline';

type Side = 'src' | 'dst';

/** The packet's page maps of migration `id`, or undefined. */
function pagesOf(s: LabState, id: number) {
  return (s.live ?? s.packet)?.migrationPages?.find((m) => m.id === id);
}

/** Destination codes shown once post-copy's discard made the map post-copy's: missing, requested, background, by fault, zero, and pre-copied pages kept. */
const POSTCOPY_DST = [11, 12, 13, 14, 15, 8];
const PRECOPY_DST = [7, 8, 9, 10];

/** The pages of migration `id`'s faults that are waiting, or woke within FAULT_FLASH_NS of the frame's virtual time. */
function flashingPages(s: LabState, id: number): readonly number[] {
  const f = (s.live ?? s.packet)?.frame;
  const pc = f?.migrations?.find((m) => m.id === id)?.postcopy;
  return pc && f ? recentFaultPages(pc, f.timeNs, FAULT_FLASH_NS) : NONE;
}
const NONE: readonly number[] = [];

/**
 * The two hosts side by side: the source's RAM coloured by where each page is in the migration, and
 * the destination's filling as pages arrive. Both are the page-map renderer the translation panel
 * uses (canvas, d3-zoom), fed with the migration page states the simulator derives
 * (src/sim/vmm/migration/page-states.ts); the legends count the pages in each state.
 */
export function MigrationMaps({ m }: { m: MigrationView }) {
  return (
    <div className="mig-maps">
      <MigrationPageMap m={m} side="src" title={`Source: ${m.vm} on ${m.host}`} />
      <MigrationPageMap m={m} side="dst" title={`Destination: ${m.to}`} />
    </div>
  );
}

function MigrationPageMap({ m, side, title }: { m: MigrationView; side: Side; title: string }) {
  const store = useLabStore();
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const overlayRef = useRef<HTMLCanvasElement>(null);
  const mapRef = useRef<PageMap | null>(null);
  const [hover, setHover] = useState<number | null>(null);
  const id = m.id;

  useEffect(() => {
    const canvas = canvasRef.current, overlay = overlayRef.current;
    if (!canvas || !overlay) return;
    const map = createPageMap(canvas, overlay, { onHover: (p) => setHover(p) });
    mapRef.current = map;
    let states: Uint8Array | null = null;
    let version = '';
    let theme: LabState['theme'] | null = null;
    const push = (s: LabState) => {
      const mp = pagesOf(s, id);
      if (!mp) return;
      if (side === 'dst') map.setMarks(flashingPages(s, id));
      const a = side === 'src' ? mp.src : mp.dst;
      if (a === states && mp.version === version && s.theme === theme) return;
      states = a;
      version = mp.version;
      theme = s.theme;
      map.update(a, { palette: migrationPalette(s.theme), colors: MAP_COLORS[s.theme], memslots: [], version: mp.version, dirty: mp.dirty });
    };
    push(store.getState());
    const unsubscribe = store.subscribe(push);
    return () => {
      unsubscribe();
      map.destroy();
      mapRef.current = null;
    };
  }, [store, id, side]);

  const counts = useLab((s) => (pagesOf(s, id)?.counts ?? []).join(','));
  const hoverState = useLab((s) => {
    const mp = pagesOf(s, id);
    const a = mp ? (side === 'src' ? mp.src : mp.dst) : undefined;
    return hover !== null && a && hover < a.length ? a[hover] : -1;
  });
  const theme = useLab((s) => s.theme);
  const n = counts ? counts.split(',').map(Number) : [];
  // The destination's map is post-copy's once a post-copy state has a page (the discard bitmap applied).
  const postcopy = side === 'dst' && [11, 12, 13, 14, 15].some((c) => (n[c] ?? 0) > 0);
  const rows = side === 'src' ? MIGRATION_PAGE_STATE_INFO.filter((x) => x.side === 'src')
    : (postcopy ? POSTCOPY_DST : PRECOPY_DST).map((c) => MIGRATION_PAGE_STATE_INFO.find((x) => x.code === c)!)
      .map((r) => (postcopy && r.code === 8 ? { ...r, label: 'arrived in pre-copy, kept' } : r));
  const flashing = useLab((s) => (side === 'dst' ? flashingPages(s, id).length : 0));
  const hoverInfo = MIGRATION_PAGE_STATE_INFO.find((x) => x.code === hoverState);
  const label = `${side === 'src' ? 'Source' : 'Destination'} page map of the migration of ${m.vm}`;
  const figure = useMemo<MapSource>(() => ({
    ref: null, name: `migration-${slug(m.vm)}-${side === 'src' ? 'source' : 'destination'}`,
    canvases: () => [canvasRef.current, overlayRef.current].filter((c): c is HTMLCanvasElement => c !== null),
  }), [m.vm, side]);
  useEffect(() => offerMap(store, figure), [store, figure]);

  return (
    <section className="mig-map" aria-label={title} data-testid={`mig-map-${side}`}>
      <h4>{title}</h4>
      <div className="pm-tools">
        <button type="button" onClick={() => mapRef.current?.zoomBy(2)} aria-label={`Zoom in on the ${label}`} title="Zoom in">+</button>
        <button type="button" onClick={() => mapRef.current?.zoomBy(0.5)} aria-label={`Zoom out of the ${label}`} title="Zoom out">−</button>
        <button type="button" onClick={() => mapRef.current?.resetZoom()} aria-label={`Fit the whole ${label}`} title="Fit">Fit</button>
        <ExportButton id="export-map-png" name={`Save the ${label} as PNG (as shown, at its zoom)`} run={() => void exportMapPng(store, figure)} />
        <span className="mig-hover" aria-live="off">
          {hoverInfo && hover !== null ? <>page <span className="mono">{hover.toString(16)}</span>: {hoverInfo.label}</> : `${m.npages.toLocaleString('en')} pages of pc.ram`}
        </span>
      </div>
      <div className="pm-stage mig-stage" role="img" aria-label={`${label}: ${rows.map((r) => `${n[r.code] ?? 0} ${r.label}`).join(', ')}`}>
        <canvas ref={canvasRef} className="pm-static" aria-hidden="true" />
        <canvas ref={overlayRef} className="pm-overlay" aria-hidden="true" />
      </div>
      <ul className="mig-map-legend" aria-label={`${side === 'src' ? 'Source' : 'Destination'} legend`}>
        {rows.map((r) => (
          <li key={r.code} title={r.description} data-state={r.code}>
            <i className="mig-swatch" style={{ background: MIGRATION_STATE_COLORS[theme][r.code] }} aria-hidden="true" />
            <span>{r.label}</span> <b className="mono" data-testid={`mig-count-${side}-${r.code}`}>{(n[r.code] ?? 0).toLocaleString('en')}</b>
          </li>
        ))}
        {postcopy && (
          <li title={`A ring marks each page a vCPU is waiting for now, or waited for in the last ${FAULT_FLASH_NS / 1e6} ms of virtual time.`} data-testid="mig-flash-legend">
            <i className="mig-ring" aria-hidden="true" /><span>fault now or in the last {FAULT_FLASH_NS / 1e6} ms</span> <b className="mono">{flashing}</b>
          </li>
        )}
      </ul>
    </section>
  );
}
