import { useEffect, useId, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { ArgValue, SimEvent } from '../../../sim/core/trace';
import { LAYERS, type Layer } from '../../../sim/view-model';
import { useLabClient } from '../../client-context';
import { useLab, useLabStore } from '../../store';
import type { FramePacket } from '../../../worker/protocol';
import { FilteredView, HISTORY_CAP, TraceHistory, indexBySeq } from './trace-history';
import './trace-panel.css';

/** Row height in px: rows are positioned by arithmetic, so it is fixed (and matches the CSS). */
const ROW = 30;
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

const LAYER_LABEL: Record<Layer, string> = {
  guest: 'guest', 'tdx-module': 'TDX module', kvm: 'KVM', vmm: 'VMM', host: 'host', link: 'link',
};

/**
 * The trace: every event in a virtualised list (frames carry the newest events; when the guest
 * pauses, the ones a fast run skipped are fetched from the worker) (only the visible rows are in the DOM), coloured by
 * layer, filterable by layer and by name; selecting an event highlights the pages it touched.
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

  // Follow the newest event unless the reader scrolled up. Scrolled in the commit: its layout is the
  // one the new rows need anyway (the panel is contained, so it is the panel's alone), and the scroll
  // event that follows then reads a clean layout. Deferred to a later animation frame, the scroll
  // made a second layout, and the scroll event a third.
  useLayoutEffect(() => {
    const el = list.current;
    if (el && follow) el.scrollTop = rows.length * ROW;
  }, [follow, rows, height]);

  const select = (e: SimEvent) => store.setState({ selectedEvent: { seq: e.seq, host: e.host, vm: e.vm, gfns: e.gfns ?? null } });

  const selIndex = selected ? indexBySeq(rows, selected.seq) : -1;
  // Following, the list is drawn where the scroll below will put it (at the end), so new events
  // are one render and one layout, not a second pair when the scroll event reports the new position.
  const top = follow ? Math.max(0, rows.length * ROW - height) : scrollTop;
  const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((top + height) / ROW) + OVERSCAN);
  const rowId = (seq: number) => `${listId}-ev-${seq}`;

  const reveal = (i: number) => {
    const el = list.current;
    if (!el) return;
    if (i * ROW < el.scrollTop) el.scrollTop = i * ROW;
    else if ((i + 1) * ROW > el.scrollTop + el.clientHeight) el.scrollTop = (i + 1) * ROW - el.clientHeight;
  };

  // An event selected elsewhere (another panel, a lesson) is brought into view.
  const selSeq = selected?.seq ?? null;
  const rowsRef = useRef(rows);
  useLayoutEffect(() => {
    rowsRef.current = rows;
  }, [rows]);
  useEffect(() => {
    const el = list.current;
    if (selSeq === null || !el) return;
    const i = indexBySeq(rowsRef.current, selSeq);
    if (i < 0 || (i * ROW >= el.scrollTop && (i + 1) * ROW <= el.scrollTop + el.clientHeight)) return;
    setFollow(false);
    el.scrollTop = Math.max(0, i * ROW - el.clientHeight / 2);
  }, [selSeq]);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (!rows.length) return;
    const page = Math.max(1, Math.floor(height / ROW) - 1);
    const top = Math.min(rows.length - 1, Math.ceil(scrollTop / ROW));
    const bottom = Math.max(0, Math.min(rows.length - 1, Math.floor((scrollTop + height) / ROW) - 1));
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
      </div>

      <div className="trace-body">
        <div ref={list} className="trace-list" role="listbox" tabIndex={0} aria-label="Trace events, newest last"
          aria-activedescendant={selIndex >= first && selIndex < last ? rowId(rows[selIndex].seq) : undefined}
          data-testid="trace-list" onKeyDown={onKeyDown}
          onScroll={(ev) => {
            const el = ev.currentTarget;
            const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 2;
            // Only the reader scrolling up stops following (the list growing, or a resize, does not).
            if (atEnd) setFollow(true);
            else if (el.scrollTop < lastTop.current - 1) setFollow(false);
            lastTop.current = el.scrollTop;
            setScrollTop(el.scrollTop);
          }}>
          <div className="trace-spacer" role="presentation" style={{ height: rows.length * ROW }}>
            {visible.map((e, k) => {
              const i = first + k;
              const sel = i === selIndex;
              return (
                <div key={i % ROW_SLOTS} id={rowId(e.seq)} role="option" aria-selected={sel} aria-posinset={i + 1} aria-setsize={rows.length}
                  className={`trace-row layer-${e.layer}${sel ? ' selected' : ''}`} style={{ top: i * ROW }} title={e.host ? `${e.host}: ${e.text}` : e.text}
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
                  <span className="trace-time">{formatTime(e.t)}</span>
                  <span className="trace-vm">{e.vm ?? 'host'}</span>
                  <code className="trace-name">{e.name}</code>
                  <span className="trace-text">{e.text}</span>
                </div>
              );
            })}
          </div>
          {rows.length === 0 && <p className="trace-empty">{history.h.events.length ? 'No event matches the filter.' : 'No events yet.'}</p>}
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

/** Virtual time: ns in the trace, µs on screen. */
function formatTime(ns: number): string {
  return `${(ns / 1000).toLocaleString('en', { minimumFractionDigits: 1, maximumFractionDigits: 1 })} µs`;
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
