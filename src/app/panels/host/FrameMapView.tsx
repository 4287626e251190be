import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { FrameInfo } from '../../../sim/inspect';
import { useLabClient } from '../../client-context';
import { ExportButton } from '../../components/ExportButton';
import { exportMapPng, offerMap, slug, type MapSource } from '../../export';
import { createFrameMap, type FrameMap } from '../../render/frame-map';
import { useLab, useLabStore } from '../../store';
import { findHostOwners } from '../../vm-ref';
import { PAGE_SIZE, formatBytes, hex, ownerKinds, ownerLabel, ownerStats, paletteOf, mapRange, type MapRange, type OwnerStats, type OwnerVm } from './owners';
import { plural } from '../../format';

/**
 * Map and legend refresh at most this often while the guest runs (a 16 GiB host is 4 M frames a
 * pass), from the live frames, so the pass does not land in the same display frame as the text
 * panels' refresh; at once when the guest stops.
 */
const REFRESH_MS = 400;

export interface FrameMapViewProps {
  /** The host whose frames this map shows (each map is its own renderer). */
  host: string;
  /** The host's VMs, in its KVM's order (the owner codes' order). */
  vms: readonly OwnerVm[];
  /** A frame of this host was chosen (click, keyboard, legend): select it, fill the read form's HPA. */
  onPick: (host: string, frame: number) => void;
  /** "Use this GPA" from the frame's info: a VM of this host. */
  onUseGpa: (host: string, vm: string, gpa: string) => void;
}

/** A host's physical frames, one pixel each, coloured by owner; hover and click to inspect one. */
export function FrameMapView({ host, vms, onPick, onUseGpa }: FrameMapViewProps) {
  const store = useLabStore();
  const client = useLabClient();
  const theme = useLab((s) => s.theme);
  const selected = useLab((s) => (s.selectedFrame?.host === host ? s.selectedFrame.frame : null));
  const eventCount = useLab((s) => s.packet?.frame.eventCount ?? 0);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const mapRef = useRef<FrameMap | null>(null);
  // The export (export.ts) saves the host's map as drawn, at its zoom.
  const figure = useMemo<MapSource>(() => ({
    ref: null, name: `${slug(host)}-frames`, canvases: () => (canvasRef.current ? [canvasRef.current] : []),
  }), [host]);
  useEffect(() => offerMap(store, figure), [store, figure]);
  const ownersRef = useRef<Uint8Array>(new Uint8Array(0));
  const [stats, setStats] = useState<OwnerStats | null>(null);
  const [range, setRange] = useState<MapRange>('guests');
  const [hover, setHover] = useState<number | null>(null);
  const [info, setInfo] = useState<FrameInfo | null>(null);

  const kinds = useMemo(() => ownerKinds(vms, theme), [vms, theme]);
  const palette = useMemo(() => paletteOf(kinds), [kinds]);
  const total = stats?.total ?? 0;
  const { first, count } = stats ? mapRange(stats, range) : { first: 0, count: 0 };

  const pickRef = useRef((f: number) => onPick(host, f));
  useEffect(() => {
    pickRef.current = (f: number) => onPick(host, f);
  }, [onPick, host]);

  // The renderer: created once, fed from the store's packets (throttled), destroyed on unmount.
  useEffect(() => {
    const canvas = canvasRef.current!;
    const map = createFrameMap(canvas, {
      onHover: (f) => setHover(f),
      onSelect: (f) => pickRef.current(f),
    });
    mapRef.current = map;
    let last = 0;
    let timer = 0;
    let statsKey = '';
    let version = '';
    const refresh = () => {
      timer = 0;
      last = performance.now();
      const p = store.getState().live ?? store.getState().packet;
      const h = findHostOwners(p, host);
      if (!h) return;
      const owners = h.owners;
      // Same owners as last time (and the same array): nothing to count or repaint.
      if (h.version === version && owners === ownersRef.current) return;
      version = h.version;
      ownersRef.current = owners;
      const s = ownerStats(owners);
      const key = `${owners.length}:${s.lastUsed}:${Array.from(s.counts).join(',')}`;
      if (key !== statsKey) {
        statsKey = key;
        setStats(s);
      }
      let maxCode = 0;
      for (let c = 255; c > 0 && !maxCode; c--) if (s.counts[c]) maxCode = c;
      map.update({ owners, maxCode }, true);
    };
    const onPacket = (playing: boolean) => {
      if (timer) return;
      const wait = playing ? REFRESH_MS - (performance.now() - last) : 0;
      timer = window.setTimeout(refresh, Math.max(0, wait));
    };
    refresh();
    const unsubscribe = store.subscribe((s, prev) => {
      if (s.live !== prev.live || s.packet !== prev.packet) onPacket((s.live ?? s.packet)?.playing ?? false);
    });
    return () => {
      unsubscribe();
      clearTimeout(timer);
      map.destroy();
      mapRef.current = null;
    };
  }, [store, host]);

  useEffect(() => {
    mapRef.current?.update({ palette, markOuter: theme === 'dark' ? '#000' : '#fff', markInner: theme === 'dark' ? '#fff' : '#000' });
  }, [palette, theme]);
  useEffect(() => {
    mapRef.current?.update({ first, count });
  }, [first, count]);
  useEffect(() => {
    mapRef.current?.update({ selected });
  }, [selected]);

  // What the selected frame is: asked of the worker when the selection changes (after a short
  // pause, so holding an arrow key sends few requests) and, while the machine runs, twice a second.
  const infoReq = useRef({ frame: null as number | null, timer: 0, last: 0, seq: 0 });
  useEffect(() => {
    const q = infoReq.current;
    const fetchInfo = () => {
      q.timer = 0;
      q.last = performance.now();
      const frame = q.frame;
      const seq = ++q.seq;
      if (frame === null) return;
      void client.frameInfo(host, frame).then((i) => {
        if (seq === q.seq) setInfo(i ?? null);
      });
    };
    if (selected !== q.frame) {
      q.frame = selected;
      q.seq++;
      clearTimeout(q.timer);
      setInfo(null);
      q.timer = selected === null ? 0 : window.setTimeout(fetchInfo, 80);
    } else if (selected !== null && !q.timer) {
      q.timer = window.setTimeout(fetchInfo, Math.max(0, 500 - (performance.now() - q.last)));
    }
  }, [client, host, selected, eventCount]);
  useEffect(() => () => clearTimeout(infoReq.current.timer), []);

  const choose = (f: number) => {
    pickRef.current(f);
    mapRef.current?.reveal(f);
  };

  const onKey = (e: KeyboardEvent<HTMLCanvasElement>) => {
    const map = mapRef.current;
    if (!map || count === 0) return;
    const cols = map.columns();
    const cur = selected !== null && selected >= first && selected < first + count ? selected : first;
    const steps: Record<string, number> = {
      ArrowLeft: -1, ArrowRight: 1, ArrowUp: -cols, ArrowDown: cols, PageUp: -cols * 16, PageDown: cols * 16,
    };
    if (e.key in steps) {
      choose(Math.min(first + count - 1, Math.max(first, cur + steps[e.key] * (e.shiftKey ? 16 : 1))));
    } else if (e.key === 'Home') choose(first);
    else if (e.key === 'End') choose(first + count - 1);
    else if (e.key === '+' || e.key === '=') map.zoomBy(2);
    else if (e.key === '-') map.zoomBy(0.5);
    else if (e.key === '0') map.resetZoom();
    else return;
    e.preventDefault();
  };

  const owners = ownersRef.current;
  const describe = (f: number) => `frame ${hex(f)}, HPA ${hex(f * PAGE_SIZE)}: ${ownerLabel(owners[f] ?? 0, vms)}`;
  const rowBytes = (mapRef.current?.columns() ?? 0) * PAGE_SIZE;

  return (
    <div className="frame-map">
      <div className="frame-map-controls">
        <label>
          Show{' '}
          <select value={range} onChange={(e) => setRange(e.target.value as MapRange)}>
            <option value="guests">used, without the kernel</option>
            <option value="used">used, from frame 0</option>
            <option value="all">all of memory</option>
          </select>
        </label>
        <button type="button" onClick={() => mapRef.current?.zoomBy(2)} aria-label={`Zoom in on ${host}'s frame map`}>Zoom in</button>
        <button type="button" onClick={() => mapRef.current?.zoomBy(0.5)} aria-label={`Zoom out of ${host}'s frame map`}>Zoom out</button>
        <button type="button" onClick={() => mapRef.current?.resetZoom()} aria-label={`Fit ${host}'s frame map`}>Fit</button>
        <ExportButton id="export-map-png" name={`Save ${host}'s frame map as PNG (as shown, at its zoom)`} run={() => void exportMapPng(store, figure)} />
      </div>
      <canvas
        ref={canvasRef}
        className="frame-canvas"
        data-testid="frame-map"
        data-host={host}
        tabIndex={0}
        role="slider"
        aria-label={`Frame map of ${host}: arrow keys choose a frame, + and − zoom`}
        aria-valuemin={first}
        aria-valuemax={first + Math.max(0, count - 1)}
        aria-valuenow={selected ?? first}
        aria-valuetext={selected === null ? 'no frame selected' : describe(selected)}
        onKeyDown={onKey}
      />
      <p className="hover-line mono" data-testid="frame-hover">
        {hover !== null ? describe(hover) : stats ? 'Point at a frame to see its address and owner; click (or use the arrow keys) to select it.' : 'Waiting for the lab…'}
      </p>
      {stats && (
        <div className="legend">
          <p className="note">
            {range === 'all'
              ? `All ${total.toLocaleString('en')} frames (${formatBytes(total * PAGE_SIZE)}), one pixel each, scaled to fit: the used frames are the thin band at the top — zoom in, or show fewer frames.`
              : `Frames ${hex(first)}–${hex(first + count - 1)} (${formatBytes(count * PAGE_SIZE)} of ${formatBytes(total * PAGE_SIZE)}): every used frame is here, because the allocator hands out the lowest free frames${first > 0 ? `; the host kernel's first ${formatBytes(first * PAGE_SIZE)} are left out` : ''}. The rest is free.`}
            {rowBytes > 0 && ` One pixel per frame; a row is ${formatBytes(rowBytes)}.`}
          </p>
          <ul aria-label={`Frame owners on ${host} (select the first frame of one)`}>
            {kinds.map((k) => {
              const n = stats.counts[k.code];
              return (
                <li key={k.code}>
                  <button type="button" className="legend-item" disabled={n === 0 || stats.firstOf[k.code] < 0}
                    title={`${k.description}. Select its first frame.`}
                    onClick={() => choose(stats.firstOf[k.code])}>
                    <span className="swatch" style={{ background: k.colour }} aria-hidden="true" />
                    <span className="legend-label">{k.label}</span>
                    <span className="legend-count">{plural(n, 'frame')} ({formatBytes(n * PAGE_SIZE)})</span>
                  </button>
                </li>
              );
            })}
          </ul>
        </div>
      )}
      <section className="frame-info" aria-label={`Selected frame of ${host}`} aria-live="polite" data-testid="frame-info" data-host={host}>
        {selected === null ? (
          <p className="note">No frame selected.</p>
        ) : info ? (
          <>
            <h4>Frame {hex(selected)} <span className="mono">(HPA {info.hpa})</span></h4>
            <dl>
              <dt>owner</dt><dd>{info.owner}{info.vm ? ` — VM ${info.vm}` : ''}</dd>
              <dt>what</dt><dd>{info.detail}</dd>
              <dt>backs GPA</dt><dd className="mono">{info.gpa ?? '—'}</dd>
              <dt>HKID</dt><dd>{info.hkid === 0 ? '0 (host key)' : `${info.hkid} (the TD's private key: the host reads zeros)`}</dd>
              <dt>poisoned lines</dt><dd className={info.poisonedLines > 0 ? 'danger-text' : undefined}>{info.poisonedLines}{info.poisonedLines > 0 ? ' — the TD takes a machine check when it reads them' : ''}</dd>
            </dl>
            {info.gpa && info.vm && (
              <button type="button" onClick={() => onUseGpa(host, info.vm!, info.gpa!)}>Read GPA {info.gpa} of {info.vm} instead</button>
            )}
          </>
        ) : (
          <p className="note">Frame {hex(selected)}: asking the lab…</p>
        )}
      </section>
    </div>
  );
}
