import { useEffect, useId, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { ArgValue, SimEvent } from '../../../sim/core/trace';
import { LAYERS, type Layer } from '../../../sim/view-model';
import { useLabClient } from '../../client-context';
import { ExportButton } from '../../components/ExportButton';
import { offerTrace } from '../../export';
import { useLab, useLabStore } from '../../store';
import type { FramePacket } from '../../../worker/protocol';
import { FilteredView, HISTORY_CAP, TraceHistory, indexBySeq } from './trace-history';
import { ROW, RowLayout, exactTime, formatTime, rowHeight, wrapLines } from './trace-format';
import { uiScale } from '../../ui-scale';
import './trace-panel.css';

/** Events fetched per request when filling what the frames of a fast run did not carry. */
const FILL_BATCH = 2000;
/** Rows drawn above and below the visible ones, so fast scrolling shows no gaps. */
const OVERSCAN = 8;
/**
 * Rows are keyed by position modulo this (more than a screenful ever shows): a row that stays on
 * screen keeps its element, and one that comes into view takes the element of one that left, so
 * new events while following change text in place instead of building rows anew.
 */
const ROW_SLOTS = 512;
/** Below this sentence-column width (px), a wrapped sentence goes under the row's other cells. */
const STACK_BELOW = 260;

const LAYER_LABEL: Record<Layer, string> = {
  guest: 'guest', 'tdx-module': 'TDX module', kvm: 'KVM', vmm: 'VMM', host: 'host', link: 'link',
};

/** The columns' headings, with what each holds as a tooltip. */
const COLUMNS: readonly { cls: string; label: string; tip: string }[] = [
  { cls: 'trace-badge-col', label: 'Layer', tip: 'Where in the stack the event happened: the guest, the TDX module, KVM, the VMM (QEMU), the host kernel, or a link between hosts.' },
  { cls: 'trace-seq', label: 'Event', tip: 'The event\'s number (seq), counted from 0 when the scenario started.' },
  { cls: 'trace-time', label: 'Time', tip: 'Virtual time since the scenario started, from the lab\'s cost table (not a measurement). Hover a time for the exact nanoseconds.' },
  { cls: 'trace-vm', label: 'VM', tip: 'The VM the event is about; "host" for an event of the host as a whole.' },
  { cls: 'trace-name', label: 'Name', tip: 'The real identifier: an ioctl, an exit reason, a SEAMCALL or TDCALL leaf, an exception, a kernel or QEMU function.' },
  { cls: 'trace-text', label: 'What happened', tip: 'One sentence to read aloud. Select a row, or maximise the panel, to read every sentence whole.' },
];

/**
 * The trace: every event in a virtualised list (frames carry the newest events; when the guest
 * pauses, the ones a fast run skipped are fetched from the worker) (only the visible rows are in the DOM), coloured by
 * layer, filterable by layer and by name; selecting an event highlights the pages it touched.
 * Columns have headings; the selected row's sentence wraps, and every row's does while the panel is
 * maximised (rows are then as tall as their sentence, still placed by arithmetic: trace-format.ts).
 * The rows listed can be saved as CSV or as JSON in the report's shape (export.ts).
 */
export function TracePanel() {
  const store = useLabStore();
  const client = useLabClient();
  const history = useHistory();
  const selected = useLab((s) => s.selectedEvent);

  const [layers, setLayers] = useState<ReadonlySet<Layer>>(() => new Set(LAYERS));
  const [query, setQuery] = useState('');
  const [inText, setInText] = useState(false);
  const view = useMemo(() => new FilteredView(), []);
  // The rows are taken when the history is shown (its version), not at every render: the history
  // takes events at every live frame, and a render for another reason (the scroll event after
  // following) would show newer rows, scroll again, and so redraw the list at every display frame.
  // The counts are taken with them, so that "N of M events", "in all" and "skipped" describe the same moment.
  const { rows, kept, holes, eventCount } = useMemo(() => ({
    rows: view.get(history.h, { layers, query, inText }),
    kept: history.h.events.length,
    holes: history.h.holes(),
    eventCount: history.h.total,
  }), [view, history.h, history.version, layers, query, inText]);

  const list = useRef<HTMLDivElement>(null);
  const textHead = useRef<HTMLSpanElement>(null);
  const firstHead = useRef<HTMLSpanElement>(null);
  const saveMenu = useRef<HTMLDetailsElement>(null);
  const closeSave = () => saveMenu.current?.removeAttribute('open');
  const wrapAll = useLab((s) => s.maximized === 'trace' || s.presenting);
  // Rows are sized in rem (trace-panel.css): in CSS px they scale with the root font size.
  const k = useLab((s) => uiScale(s.presenting));
  const row = ROW * k;
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(300);
  const [follow, setFollow] = useState(true);
  const lastTop = useRef(0);
  const listId = useId();

  // Track the viewport's height (the panel is resized by the splitters and by maximising).
  useEffect(() => {
    const el = list.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);

  // The sentence column's width (and the whole row's), and the list's font, for wrapping sentences by
  // arithmetic. Where the column is narrow (the 2×2 grid), a wrapped sentence goes under its row's
  // other cells, across the whole row ("stacked").
  const [widths, setWidths] = useState({ text: 0, row: 0 });
  const [font, setFont] = useState('');
  useEffect(() => {
    const head = textHead.current, start = firstHead.current, el = list.current;
    if (!head || !start || !el) return;
    const ro = new ResizeObserver(() => {
      setWidths({ text: head.clientWidth, row: Math.round(head.getBoundingClientRect().right - start.getBoundingClientRect().left) });
      const cs = getComputedStyle(el);
      setFont(`${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`);
    });
    ro.observe(head);
    return () => ro.disconnect();
  }, []);
  const stacked = widths.text < STACK_BELOW;
  const linesOf = useMemo(() => sentenceLines(font, stacked ? widths.row : widths.text), [font, stacked, widths]);
  const selIndex = selected ? indexBySeq(rows, selected.seq) : -1;
  const layout = useMemo(() => new RowLayout(rows.length, (i) => (wrapAll || i === selIndex ? rowHeight(linesOf(rows[i]) + (stacked ? 1 : 0)) * k : row)),
    [rows, wrapAll, selIndex, linesOf, stacked, k, row]);
  const layoutRef = useRef(layout);
  useLayoutEffect(() => {
    layoutRef.current = layout;
  }, [layout]);

  // Follow the newest event unless the reader scrolled up. Scrolled in the commit: its layout is the
  // one the new rows need anyway (the panel is contained, so it is the panel's alone), and the scroll
  // event that follows then reads a clean layout. Deferred to a later animation frame, the scroll
  // made a second layout, and the scroll event a third.
  useLayoutEffect(() => {
    const el = list.current;
    if (el && follow) el.scrollTop = layout.total;
  }, [follow, layout, height]);

  // The export (export.ts) saves the rows listed, with notes saying which they are.
  const listed = useRef({ rows, kept, eventCount, layers, query, inText });
  useLayoutEffect(() => {
    listed.current = { rows, kept, eventCount, layers, query, inText };
  });
  useEffect(() => offerTrace(store, () => {
    const x = listed.current;
    const notes = [`The trace panel's ${x.rows.length.toLocaleString('en')} listed events, of the ${x.kept.toLocaleString('en')} it kept${x.eventCount > x.kept ? ` (the run recorded ${x.eventCount.toLocaleString('en')}: the panel keeps the newest ${HISTORY_CAP.toLocaleString('en')})` : ''}; the whole report has every event.`];
    if (x.layers.size < LAYERS.length) notes.push(`Layers listed: ${LAYERS.filter((l) => x.layers.has(l)).join(', ') || 'none'}.`);
    if (x.query) notes.push(`Only events whose name${x.inText ? ' or sentence' : ''} contains "${x.query}".`);
    return { events: x.rows, notes };
  }), [store]);

  const pendingReveal = useRef<number | null>(null);
  const revealedSel = useRef<number | null>(null);
  // A row the reader picks in the list is where the reader is: it is not revealed again as rows arrive.
  const select = (e: SimEvent) => {
    revealedSel.current = e.seq;
    pendingReveal.current = null;
    store.setState({ selectedEvent: { seq: e.seq, host: e.host, vm: e.vm, gfns: e.gfns ?? null } });
  };

  // Following, the list is drawn where the scroll below will put it (at the end), so new events
  // are one render and one layout, not a second pair when the scroll event reports the new position.
  const top = follow ? Math.max(0, layout.total - height) : scrollTop;
  const first = Math.max(0, layout.indexAt(top) - OVERSCAN);
  const last = Math.min(rows.length, layout.indexAt(top + height) + 1 + OVERSCAN);
  const rowId = (seq: number) => `${listId}-ev-${seq}`;

  const reveal = (i: number) => {
    const el = list.current;
    if (!el) return;
    const l = layoutRef.current;
    if (l.top(i) < el.scrollTop) el.scrollTop = l.top(i);
    else if (l.bottom(i) > el.scrollTop + el.clientHeight) el.scrollTop = Math.min(l.top(i), l.bottom(i) - el.clientHeight);
  };

  // The selected row grows to its whole sentence: keep all of it in view (its top first, if it is taller than the list).
  const selBottom = selIndex >= 0 ? layout.bottom(selIndex) : -1;
  useLayoutEffect(() => {
    const el = list.current;
    if (!el || selBottom < 0 || follow) return;
    const l = layoutRef.current;
    if (selIndex < l.count && l.top(selIndex) >= el.scrollTop && selBottom > el.scrollTop + el.clientHeight) {
      el.scrollTop = Math.min(l.top(selIndex), selBottom - el.clientHeight);
    }
  }, [selIndex, selBottom, follow]);

  // An event selected elsewhere (another panel, a lesson) is brought into view.
  const selSeq = selected?.seq ?? null;
  // A lesson step selects its row while the run skips rows (a frame carries only the newest few
  // dozen), and the rest arrive when the run pauses, in more than one batch: the row is brought into
  // view when it arrives, and kept there while rows before it keep arriving, until the reader
  // scrolls, clicks or types in the list, or another event is selected.
  useLayoutEffect(() => {
    if (revealedSel.current !== selSeq) {
      revealedSel.current = selSeq;
      pendingReveal.current = selSeq;
    }
    const el = list.current;
    const seq = pendingReveal.current;
    if (seq === null || !el) return;
    const i = indexBySeq(rows, seq);
    if (i < 0 || i >= layout.count) return;
    if (layout.top(i) >= el.scrollTop && layout.bottom(i) <= el.scrollTop + el.clientHeight) return;
    setFollow(false);
    el.scrollTop = Math.max(0, layout.top(i) - el.clientHeight / 2);
  }, [rows, layout, height, selSeq]);
  const stopRevealing = () => {
    pendingReveal.current = null;
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (!rows.length) return;
    const page = Math.max(1, Math.floor(height / row) - 1);
    // The first and the last row wholly in view.
    const t = layout.indexAt(scrollTop);
    const top = Math.min(rows.length - 1, layout.top(t) < scrollTop ? t + 1 : t);
    const b = layout.indexAt(scrollTop + height - 1);
    const bottom = Math.max(0, Math.min(rows.length - 1, layout.bottom(b) > scrollTop + height ? b - 1 : b));
    const from = selIndex;
    let to: number | null = null;
    switch (e.key) {
      case 'ArrowDown': to = from < 0 ? top : from + 1; break;
      case 'ArrowUp': to = from < 0 ? bottom : from - 1; break;
      case 'PageDown': to = (from < 0 ? top : from) + page; break;
      case 'PageUp': to = (from < 0 ? bottom : from) - page; break;
      case 'Home': to = 0; break;
      case 'End': to = rows.length - 1; break;
      case 'Enter': to = from < 0 ? bottom : from; break;
      default: return;
    }
    e.preventDefault();
    e.stopPropagation();
    const i = Math.max(0, Math.min(rows.length - 1, to));
    select(rows[i]);
    if (i < rows.length - 1) setFollow(false);
    reveal(i);
  };

  const visible: SimEvent[] = rows.slice(first, last);
  const dropped = Math.max(0, eventCount - kept - holes);
  const selectedEvent = selected ? history.h.find(selected.seq) : undefined;

  return (
    <div className="trace-panel" data-testid="trace-panel">
      <div className="trace-filters">
        <fieldset className="trace-layers">
          <legend className="sr-only">Layers</legend>
          {LAYERS.map((l) => (
            <label key={l} className={`trace-layer-toggle layer-${l}`}>
              <input type="checkbox" checked={layers.has(l)} onChange={(ev) => {
                const next = new Set(layers);
                if (ev.target.checked) next.add(l);
                else next.delete(l);
                setLayers(next);
              }} />
              <span className="trace-swatch" aria-hidden="true" />{LAYER_LABEL[l]}
            </label>
          ))}
        </fieldset>
        <label className="trace-search">
          <span>Name</span>
          <input type="search" value={query} placeholder="e.g. KVM_EXIT" spellCheck={false}
            onChange={(ev) => setQuery(ev.target.value)}
            onKeyDown={(ev) => {
              // Typing here must not trigger the global shortcuts; Escape clears the filter first.
              if (ev.key === 'Escape' && query) setQuery('');
              else if (ev.key === 'Escape') return;
              ev.stopPropagation();
            }} />
        </label>
        <label className="trace-intext">
          <input type="checkbox" checked={inText} onChange={(ev) => setInText(ev.target.checked)} /> in sentences too
        </label>
        <span className="trace-count" data-testid="trace-count"
          title={`${rows.length} events match the filter; the panel keeps the newest ${HISTORY_CAP.toLocaleString('en')}.`}>
          {rows.length.toLocaleString('en')} of {kept.toLocaleString('en')} events
          {eventCount > kept && ` (${eventCount.toLocaleString('en')} in all)`}
        </span>
        {holes > 0 && (
          <span className="trace-gap" data-testid="trace-skipped" title="While the guest runs, a frame carries only the newest few dozen events; when it pauses, the ones in between are fetched.">
            {holes.toLocaleString('en')} skipped while running
          </span>
        )}
        {dropped > 0 && (
          <span className="trace-gap" data-testid="trace-gap" title={`The history keeps the newest ${HISTORY_CAP.toLocaleString('en')} events.`}>
            {dropped.toLocaleString('en')} older not kept
          </span>
        )}
        {!follow && (
          <button type="button" className="trace-jump" onClick={() => setFollow(true)}>Jump to newest ↓</button>
        )}
        {/* One small button in the filter bar (the 2×2 grid's panel has no room for three): the saves open under it. */}
        <details className="trace-export" ref={saveMenu} data-testid="trace-save">
          <summary title="Save the rows listed (CSV or JSON, keys O and Shift+O) or the whole report (W)">⤓ Save…</summary>
          <div className="trace-export-menu" role="group" aria-label="Save the trace">
            <ExportButton id="export-trace-csv" after={closeSave} />
            <ExportButton id="export-trace-json" after={closeSave} />
            <ExportButton id="export-report" after={closeSave} />
          </div>
        </details>
      </div>

      <div className="trace-body">
        <div className="trace-table">
        <div className="trace-cols trace-head" aria-hidden="true" data-testid="trace-head">
          {COLUMNS.map((c) => (
            <span key={c.cls} className={c.cls} title={c.tip} ref={c.cls === 'trace-text' ? textHead : c.cls === 'trace-badge-col' ? firstHead : undefined}>{c.label}</span>
          ))}
        </div>
        <div ref={list} className={stacked ? 'trace-list stacked' : 'trace-list'} role="listbox" tabIndex={0} aria-label="Trace events, newest last"
          aria-activedescendant={selIndex >= first && selIndex < last ? rowId(rows[selIndex].seq) : undefined}
          data-testid="trace-list" onKeyDown={(e) => { stopRevealing(); onKeyDown(e); }} onWheel={stopRevealing} onPointerDown={stopRevealing}
          onScroll={(ev) => {
            const el = ev.currentTarget;
            const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 2;
            // Only the reader scrolling up stops following (the list growing, or a resize, does not).
            if (atEnd) setFollow(true);
            else if (el.scrollTop < lastTop.current - 1) setFollow(false);
            lastTop.current = el.scrollTop;
            setScrollTop(el.scrollTop);
          }}>
          <div className="trace-spacer" role="presentation" style={{ height: layout.total }}>
            {visible.map((e, k) => {
              const i = first + k;
              const sel = i === selIndex;
              const h = layout.bottom(i) - layout.top(i);
              return (
                <div key={i % ROW_SLOTS} id={rowId(e.seq)} role="option" aria-selected={sel} aria-posinset={i + 1} aria-setsize={rows.length}
                  className={`trace-cols trace-row layer-${e.layer}${sel ? ' selected' : ''}${wrapAll || sel ? ' wrap' : ''}`}
                  style={h === row ? { top: layout.top(i) } : { top: layout.top(i), height: h }} title={e.host ? `${e.host}: ${e.text}` : e.text}
                  data-testid="trace-row" data-seq={e.seq}
                  onClick={() => {
                    select(e);
                    // As with the keyboard: a row chosen above the newest stops the list following, so a
                    // resize (maximising the panel) or new events keep it in view.
                    if (e.seq !== rows[rows.length - 1]?.seq) setFollow(false);
                    list.current?.focus({ preventScroll: true });
                  }}>
                  <span className="trace-badge">{LAYER_LABEL[e.layer]}</span>
                  <span className="trace-seq">#{e.seq}</span>
                  <span className="trace-time" title={exactTime(e.t)}>{formatTime(e.t)}</span>
                  <span className="trace-vm">{e.vm ?? 'host'}</span>
                  <code className="trace-name">{e.name}</code>
                  <span className="trace-text">{e.text}</span>
                </div>
              );
            })}
          </div>
          {rows.length === 0 && <p className="trace-empty">{history.h.events.length ? 'No event matches the filter.' : 'No events yet.'}</p>}
        </div>
        </div>
        <EventDetails event={selectedEvent} seq={selected?.seq ?? null} onSeek={(seq) => void client.seek(seq)} />
      </div>
    </div>
  );
}

/**
 * Events from every frame (the live ones, at display rate), appended to a bounded history; started
 * again for each new run (a load, a restart). The list re-renders only when the panels' frame changes (a few times
 * a second while the guest runs).
 */
function useHistory(): { h: TraceHistory; version: number } {
  const store = useLabStore();
  const client = useLabClient();
  const [h] = useState(() => new TraceHistory());
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let dirty = false;
    let fetching = false;
    const take = (packet: FramePacket | null) => {
      if (packet && h.ingest(packet.frame.events, packet.frame.eventCount, packet.run)) dirty = true;
    };
    const show = () => {
      if (!dirty) return;
      dirty = false;
      setVersion((v) => v + 1);
    };
    // While the guest is paused, fetch what the frames of a fast run did not carry (newest first).
    const fill = async () => {
      if (fetching || store.getState().packet?.playing) return;
      // Gaps the worker could not fill (its trace had already dropped them) are marked lost and not listed.
      const gap = h.gaps(16)[0];
      if (!gap) return;
      fetching = true;
      const epoch = h.epoch;
      const got = await client.events(Math.max(gap[0], gap[1] - FILL_BATCH), gap[1]);
      fetching = false;
      // A new scenario (or a restart) while the request was out: its answer belongs to the old one.
      if (h.epoch !== epoch) return;
      if (got && h.fill(got)) {
        dirty = true;
        show();
        void fill();
      } else {
        h.markLost(gap[0], gap[1]);
        dirty = true;
        show();
      }
    };
    take(store.getState().live ?? store.getState().packet);
    show();
    void fill();
    return store.subscribe((s, prev) => {
      // A new scenario or a restart is a new run: the frame that shows it starts the history again
      // (ingest). Resetting on the store's scenario lost the events of a load frame that came first.
      if (s.live !== prev.live) take(s.live);
      // The panels' packet is always a frame already taken as `live`.
      if (s.packet !== prev.packet) {
        show();
        void fill();
      }
    });
  }, [store, client, h]);
  return { h, version };
}

/**
 * A sentence's lines in the sentence column (`width` px, `font`), remembered per event while the
 * column keeps its width: a maximised list of twenty thousand rows measures each sentence once.
 */
function sentenceLines(font: string, width: number): (e: SimEvent) => number {
  if (!font || width <= 0 || typeof document === 'undefined') return () => 1;
  const g = document.createElement('canvas').getContext('2d');
  if (!g) return () => 1;
  g.font = font;
  const words = new Map<string, number>();
  const measure = (s: string) => {
    let w = words.get(s);
    if (w === undefined) {
      w = g.measureText(s).width;
      if (words.size < 50_000) words.set(s, w);
    }
    return w;
  };
  const lines = new WeakMap<SimEvent, number>();
  return (e) => {
    let n = lines.get(e);
    if (n === undefined) lines.set(e, (n = wrapLines(e.text, width, measure)));
    return n;
  };
}

function formatArg(v: ArgValue): string {
  if (Array.isArray(v)) return v.join(', ');
  return String(v);
}

function EventDetails({ event, seq, onSeek }: { event: SimEvent | undefined; seq: number | null; onSeek: (seq: number) => void }) {
  if (seq === null) {
    return <section className="trace-details muted" aria-label="Selected event" tabIndex={0}>Select an event (click, or the arrow keys in the list) to see its arguments and the pages it touched.</section>;
  }
  if (!event) return <section className="trace-details" aria-label="Selected event" tabIndex={0}>Event #{seq} is no longer in the kept history.</section>;
  const args = Object.entries(event.args);
  return (
    <section className={`trace-details layer-${event.layer}`} aria-label="Selected event" data-testid="trace-details" tabIndex={0}>
      <p className="trace-details-head">
        <span className="trace-badge">{LAYER_LABEL[event.layer]}</span> <code className="trace-name">{event.name}</code>
      </p>
      <p className="trace-details-text">{event.text}</p>
      <p>
        <button type="button" onClick={() => onSeek(event.seq)} aria-keyshortcuts="G"
          title="Put the machine back (or forward) to right after this event: every panel shows it as it was then (G)">
          Go to this moment
        </button>
      </p>
      <dl className="trace-meta">
        <dt>seq</dt><dd>{event.seq}</dd>
        <dt>time</dt><dd>{formatTime(event.t)}</dd>
        <dt>host</dt><dd>{event.host ?? '— (world-wide)'}</dd>
        <dt>VM</dt><dd>{event.vm ?? '— (host-wide)'}</dd>
        {event.vcpu !== null && <><dt>vCPU</dt><dd>{event.vcpu}</dd></>}
        {event.gfns && <><dt>pages</dt><dd>gfn 0x{event.gfns[0].toString(16)}{event.gfns[1] > 1 ? `–0x${(event.gfns[0] + event.gfns[1] - 1).toString(16)}` : ''} ({event.gfns[1]} page{event.gfns[1] === 1 ? '' : 's'}, highlighted in the page maps)</dd></>}
      </dl>
      {args.length > 0 ? (
        <table className="trace-args" aria-label={`Arguments of ${event.name}`}>
          <thead><tr><th scope="col">argument</th><th scope="col">value</th></tr></thead>
          <tbody>
            {args.map(([k, v]) => <tr key={k}><th scope="row"><code>{k}</code></th><td><code>{formatArg(v)}</code></td></tr>)}
          </tbody>
        </table>
      ) : <p className="muted">No arguments.</p>}
    </section>
  );
}
