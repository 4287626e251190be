import { useEffect, useId, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { PAGE_STATE_INFO } from '../../../sim/view-model';
import { ExportButton } from '../../components/ExportButton';
import { exportMapPng, offerMap, slug, type MapSource } from '../../export';
import { createPageMap, defaultColumns, type PageMap } from '../../render/page-map';
import { MAP_COLORS, pagePalette } from '../../render/page-palette';
import { selectPage, useLab, useLabStore, type LabState } from '../../store';
import { findPages, findVm, sameVm, vmLabel, type VmRef } from '../../vm-ref';
import { PAGE_SIZE, hex, memslotRanges, parseAddress, slotOf, type VmFacts } from './format';

interface Tip {
  gfn: number;
  x: number;
  y: number;
}

/**
 * One VM's page map: the canvas renderer (src/app/render/page-map.ts) bound to the store in one
 * effect. Frames reach the renderer through a store subscription, not through React renders; React
 * only draws the tooltip, the caption and the controls.
 */
export function PageMapView({ vm }: { vm: VmFacts }) {
  const name = vm.name;
  const host = vm.host;
  const store = useLabStore();
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const overlayRef = useRef<HTMLCanvasElement>(null);
  const mapRef = useRef<PageMap | null>(null);
  const tipRef = useRef<HTMLDivElement>(null);
  const [tip, setTip] = useState<Tip | null>(null);
  const [goto, setGoto] = useState('');
  const [gotoError, setGotoError] = useState<string | null>(null);
  const helpId = useId();
  const sharedBit = vm.sharedBit;
  const ranges = useMemo(() => memslotRanges(vm), [vm]);
  const hostCount = useLab((s) => s.packet?.frame.hosts.length ?? 0);
  const label = vmLabel({ host, vm: name }, hostCount);

  // The export (export.ts) saves the map as drawn: its picture and its overlay, at the zoom shown.
  const figure = useMemo<MapSource>(() => ({
    ref: { host, vm: name }, name: `${slug(label)}-page-map`,
    canvases: () => [canvasRef.current, overlayRef.current].filter((c): c is HTMLCanvasElement => c !== null),
  }), [host, name, label]);
  useEffect(() => offerMap(store, figure), [store, figure]);

  useEffect(() => {
    const canvas = canvasRef.current, overlay = overlayRef.current;
    if (!canvas || !overlay) return;
    let hoverGfn: number | null = null;
    const ref: VmRef = { host, vm: name };
    const map = createPageMap(canvas, overlay, {
      onHover: (gfn, x, y) => {
        setTip(gfn === null ? null : { gfn, x, y });
        if (gfn === hoverGfn) return;
        hoverGfn = gfn;
        store.setState({ hover: gfn === null ? null : { host, vm: name, gfn } });
      },
      onSelect: (gfn) => selectPage(store, { host, vm: name, gfn }),
    });
    mapRef.current = map;

    let packet: LabState['packet'] = null;
    let theme: LabState['theme'] | null = null;
    let slotsKey = '';
    let slots: [number, number, number][] = [];
    let eventSeq: number | null = null;
    let pagesKey = -1;
    const push = (s: LabState) => {
      const latest = s.live ?? s.packet;
      if (latest !== packet || s.theme !== theme) {
        packet = latest;
        theme = s.theme;
        const page = findPages(packet, ref);
        const view = findVm(packet?.frame, ref);
        if (page && view) {
          const key = view.memslots.map((m) => `${m.slot}:${m.guest_phys_addr}:${m.memory_size}`).join(',');
          if (key !== slotsKey) {
            slotsKey = key;
            slots = memslotRanges(view);
          }
          map.update(page.states, { palette: pagePalette(s.theme), colors: MAP_COLORS[s.theme], memslots: slots, version: page.version, dirty: page.dirty });
        }
      }
      map.setSelection(sameVm(s.selection, ref) ? s.selection!.gfn : null);
      map.setHover(sameVm(s.hover, ref) ? s.hover!.gfn : null);
      const outline = outlineOf(s, ref);
      map.setHighlight(outline ? [outline.first, outline.count] : null);
      // A newly selected event's pages are brought into view (the latest event's are outlined where they are).
      const selected = outline && !outline.latest ? outline : null;
      const seq = selected ? selected.seq : null;
      if (seq !== eventSeq) {
        eventSeq = seq;
        if (selected) map.reveal(selected.first);
      }
      // The pages a lesson step is about (step-show.ts): zoomed so that they fill about a quarter of the map.
      const fp = s.focusPages;
      if (fp && fp.key !== pagesKey) {
        pagesKey = fp.key;
        if (fp.vm === name && (fp.host === null || fp.host === host)) {
          const area = canvas.clientWidth * canvas.clientHeight;
          map.reveal(fp.first, Math.max(2, Math.min(32, Math.floor(Math.sqrt(area / 4 / Math.max(1, fp.count))))));
        }
      }
    };
    push(store.getState());
    const unsubscribe = store.subscribe(push);
    return () => {
      unsubscribe();
      map.destroy();
      mapRef.current = null;
    };
  }, [store, name, host]);

  const count = useLab((s) => findPages(s.packet, { host, vm: name })?.states.length ?? 0);
  const selectedGfn = useLab((s) => selectedGfnOf(s, host, name));
  const selectedState = useLab((s) => {
    const g = selectedGfnOf(s, host, name);
    const p = g >= 0 ? findPages(s.packet, { host, vm: name }) : undefined;
    return p && g < p.states.length ? p.states[g] : -1;
  });
  const outlineKey = useLab((s) => {
    const o = outlineOf(s, { host, vm: name });
    return o ? JSON.stringify(o) : '';
  });
  const outline = outlineKey ? (JSON.parse(outlineKey) as Outline) : null;
  const tipState = useLab((s) => {
    if (!tip) return -1;
    const p = findPages(s.packet, { host, vm: name });
    return p && tip.gfn < p.states.length ? p.states[tip.gfn] : -1;
  });

  // Keep the tooltip beside the pointer and inside the map, on whichever side has room.
  useLayoutEffect(() => {
    const el = tipRef.current, stage = el?.parentElement;
    if (!el || !stage || !tip) return;
    const w = el.offsetWidth, h = el.offsetHeight, W = stage.clientWidth, H = stage.clientHeight;
    const left = tip.x + 16 + w <= W ? tip.x + 16 : tip.x - 16 - w;
    const top = tip.y + 12 + h <= H ? tip.y + 12 : tip.y - 12 - h;
    el.style.left = `${Math.max(0, Math.min(W - w, left))}px`;
    el.style.top = `${Math.max(0, Math.min(H - h, top))}px`;
  }, [tip, tipState]);

  const select = (gfn: number, minCellPx = 0) => {
    if (count === 0) return;
    const g = Math.max(0, Math.min(count - 1, gfn));
    selectPage(store, { host, vm: name, gfn: g });
    mapRef.current?.reveal(g, minCellPx);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const map = mapRef.current;
    if (!map || e.ctrlKey || e.metaKey || e.altKey) return;
    const cols = map.columns();
    const from = selectedGfn >= 0 ? selectedGfn : null;
    const move = (d: number) => select(from === null ? (ranges[0]?.[0] ?? 0) : from + d);
    const big = e.shiftKey ? 16 : 1;
    switch (e.key) {
      case 'ArrowLeft': move(-big); break;
      case 'ArrowRight': move(big); break;
      case 'ArrowUp': move(-cols * big); break;
      case 'ArrowDown': move(cols * big); break;
      case 'PageUp': move(-cols * 16); break;
      case 'PageDown': move(cols * 16); break;
      case 'Home': select(0); break;
      case 'End': select(count - 1); break;
      case '+': case '=': map.zoomBy(2); break;
      case '-': case '_': map.zoomBy(0.5); break;
      case '0': map.resetZoom(); break;
      default: return;
    }
    // The map's keys must not also play, step or change the speed (the global shortcuts).
    e.preventDefault();
    e.stopPropagation();
  };

  const onGoto = (e: React.FormEvent) => {
    e.preventDefault();
    const a = parseAddress(goto);
    if (a === null) {
      setGotoError('Type a GPA such as 0x102000.');
      return;
    }
    // A TD's shared alias names the same GFN with the shared bit set.
    const gpa = sharedBit >= 0 && Math.floor(a / 2 ** sharedBit) % 2 === 1 ? a - 2 ** sharedBit : a;
    const gfn = Math.floor(gpa / PAGE_SIZE);
    if (gfn >= count) {
      setGotoError(`${hex(a)} is past the end of the map (${hex(count * PAGE_SIZE)}).`);
      return;
    }
    setGotoError(null);
    select(gfn, 16);
  };

  const cols = count > 0 ? defaultColumns(count) : 0;
  const rowBytes = cols * PAGE_SIZE;

  return (
    <div className="pm">
      <div className="pm-tools">
        <button type="button" onClick={() => mapRef.current?.zoomBy(2)} aria-label={`Zoom in on ${label}'s page map`} title="Zoom in (+)">+</button>
        <button type="button" onClick={() => mapRef.current?.zoomBy(0.5)} aria-label={`Zoom out of ${label}'s page map`} title="Zoom out (−)">−</button>
        <button type="button" onClick={() => mapRef.current?.resetZoom()} aria-label={`Fit ${label}'s whole page map`} title="Fit (0)">Fit</button>
        <ExportButton id="export-map-png" name={`Save ${label}'s page map as PNG (as shown, at its zoom)`} run={() => void exportMapPng(store, figure)} />
        <form className="pm-goto" onSubmit={onGoto}>
          <label>
            <span>Go to GPA</span>
            <input className="mono" value={goto} size={11} placeholder="0x102000" spellCheck={false}
              onChange={(e) => setGoto(e.target.value)} aria-invalid={gotoError ? true : undefined}
              aria-describedby={gotoError ? `${helpId}-goto` : undefined} data-testid={`goto-${name}`} />
          </label>
        </form>
      </div>
      {gotoError && <p className="pm-error" id={`${helpId}-goto`} role="alert">{gotoError}</p>}
      <div className="pm-stage" tabIndex={0} role="application" aria-roledescription="page map"
        aria-label={`Page map of ${label}: ${count.toLocaleString('en')} guest pages`} aria-describedby={`${helpId}-help`}
        onKeyDown={onKeyDown} data-testid={`page-map-${name}`} data-host={host}>
        <canvas ref={canvasRef} className="pm-static" aria-hidden="true" />
        <canvas ref={overlayRef} className="pm-overlay" aria-hidden="true" data-testid={`page-map-overlay-${name}`} />
        {tip && (
          <div className="pm-tip" aria-hidden="true" ref={tipRef}>
            <PageFacts gfn={tip.gfn} state={tipState} sharedBit={sharedBit} slot={slotOf(ranges, tip.gfn)} />
          </div>
        )}
      </div>
      <p className="tx-sr-only" id={`${helpId}-help`}>
        Arrow keys move the selected page (Shift: 16 at a time), Page Up and Page Down 16 rows, Home and End the first and last page;
        plus and minus zoom, 0 fits the whole map. The selected page&apos;s translation walk is listed below the maps.
      </p>
      <p className="pm-caption" aria-live="polite">
        {selectedGfn >= 0 ? (
          <span className="pm-selected">
            Selected: <PageFacts gfn={selectedGfn} state={selectedState} sharedBit={sharedBit} slot={slotOf(ranges, selectedGfn)} inline />
          </span>
        ) : (
          <span>Click a page (or focus the map and use the arrow keys) to see its walk.</span>
        )}
        {outline && (
          <span className="pm-event"> {outline.latest ? `The latest event on pages, #${outline.seq} ${outline.name},` : `Event #${outline.seq}`} touched {outline.count === 1 ? `GFN ${hex(outline.first)}` : `GFNs ${hex(outline.first)}–${hex(outline.first + outline.count - 1)}`} (dashed outline).</span>
        )}
      </p>
      {cols > 0 && (
        <p className="pm-note">
          {cols} pages per row ({formatBytes(rowBytes)}); wheel or +/− to zoom, drag to pan.
        </p>
      )}
    </div>
  );
}

/** A page's numbers: GFN, GPA (and a TD's shared alias), state, memslot. */
function PageFacts({ gfn, state, sharedBit, slot, inline }: { gfn: number; state: number; sharedBit: number; slot: number | null; inline?: boolean }) {
  const gpa = gfn * PAGE_SIZE;
  const label = PAGE_STATE_INFO[state]?.label ?? '—';
  const items: [string, string][] = [
    ['GFN', hex(gfn)],
    ['GPA', hex(gpa)],
    ...(sharedBit >= 0 ? [[`shared alias (bit ${sharedBit})`, hex(gpa + 2 ** sharedBit)] as [string, string]] : []),
    ['state', label],
    ['memslot', slot === null ? 'none' : String(slot)],
  ];
  if (inline) {
    return <>{items.map(([k, v], i) => <span key={k}>{i > 0 && ' · '}{k} <b className={k === 'state' ? undefined : 'mono'}>{v}</b></span>)}</>;
  }
  return (
    <dl>
      {items.map(([k, v]) => (
        <div key={k}><dt>{k}</dt><dd className={k === 'state' ? undefined : 'mono'}>{v}</dd></div>
      ))}
    </dl>
  );
}

function formatBytes(n: number): string {
  if (n >= 2 ** 20 && n % 2 ** 20 === 0) return `${n / 2 ** 20} MiB`;
  return `${n / 1024} KiB`;
}

interface Outline {
  seq: number;
  first: number;
  count: number;
  /** The frame's latest event on pages (no event is selected), not a selected one. */
  latest: boolean;
  name: string;
}

/**
 * The pages outlined on a VM's map: the selected trace event's; with none selected and the guest not
 * running, the latest event that touched pages (the lesson's page, which at the overview is a few
 * pixels: the outline is at least 8 px).
 */
function outlineOf(s: LabState, vm: VmRef): Outline | null {
  const ev = s.selectedEvent;
  if (ev) return ev.vm === vm.vm && ev.host === vm.host && ev.gfns ? { seq: ev.seq, first: ev.gfns[0], count: ev.gfns[1], latest: false, name: '' } : null;
  const p = s.live ?? s.packet;
  const f = p && !p.playing ? p.frame.focus : null;
  return f && sameVm(f, vm) ? { seq: f.seq, first: f.gfns[0], count: f.gfns[1], latest: true, name: f.name } : null;
}

/** The selected GFN if the selection is in this VM, else −1. */
function selectedGfnOf(s: LabState, host: string, vm: string): number {
  return s.selection && s.selection.host === host && s.selection.vm === vm ? s.selection.gfn : -1;
}
