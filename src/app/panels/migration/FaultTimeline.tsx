import type { PostcopyView } from '../../../sim/lab';
import { POSTCOPY_FAULT_INFO } from '../../../sim/view-model';
import { FAULT_HOW_COLORS } from '../../render/migration-palette';
import type { PaletteTheme } from '../../render/page-palette';
import { useState } from 'react';
import { formatBlocktimeMs, formatLatencyNs, layoutFaultTimeline, type FaultBar } from './fault-timeline';
import { useWidth } from './RoundsChart';

/** Adjacent faults (a vCPU that faults again at once) are told apart by a hairline, on bars wide enough to keep their colour under it. */
const SEP_MIN_PX = 6;
const hex = (p: number) => `0x${p.toString(16)}`;
const dur = (ns: number) => formatLatencyNs(ns);

/**
 * The destination's side of a post-copy: its status and phase, the fault timeline, and beside it
 * what QEMU counts — postcopy-blocktime and postcopy-latency (query-migrate on the destination, with
 * the postcopy-blocktime capability) and the fault thread's counters.
 */
/** What catches the destination's faults (PostcopyView.mechanism), named as the UI says it: the proposals marked as such. */
export const MECHANISM: Record<PostcopyView['mechanism'], { label: string; title: string }> = {
  userfaultfd: { label: 'userfaultfd', title: "QEMU's post-copy: the destination's RAM is registered with a userfaultfd in missing mode (upstream)." },
  talk: { label: "a userfault fd on guest_memfd (the talk's proposal, not upstream)", title: 'Private pages: a new fd on the memory backend with the same interface as userfaultfd, as the talk proposed; shared pages: userfaultfd.' },
  'kvm-userfault': { label: 'KVM Userfault (posted, not merged)', title: 'Private pages: KVM_MEM_USERFAULT and its bitmap; a vCPU exits with KVM_EXIT_MEMORY_FAULT and KVM_MEMORY_EXIT_FLAG_USERFAULT. Shared pages: userfaultfd.' },
  'tdx-module': { label: "KVM Userfault, pages imported by the TDX module out of order (neither upstream)", title: "A TD: after TDH.IMPORT.COMMIT the TD runs while the pages never exported come out of order (TDH.IMPORT.MEM); a vCPU touching one exits through KVM Userfault (posted, not merged) and waits for the import. The TDX module's TD migration is in Intel's trees; Intel's QEMU has no TD post-copy. Shared pages: userfaultfd." },
};

export function PostcopySection({ pc, now, theme, width }: { pc: PostcopyView; now: number; theme: PaletteTheme; width?: number }) {
  return (
    <section className="pc" aria-label="Post-copy on the destination" data-testid="postcopy">
      <h4>
        Post-copy on the destination: <span className="mig-status" data-testid="postcopy-status">{pc.destination.status}</span>
        <span className="pc-facts"> · phase {pc.phase} · {pc.received.toLocaleString('en')} of {pc.npages.toLocaleString('en')} pages here · postcopy-preempt {pc.preempt ? 'on' : 'off'}</span>
        <span className="pc-facts" data-testid="postcopy-mechanism" title={MECHANISM[pc.mechanism].title}> · faults caught by {MECHANISM[pc.mechanism].label}</span>
      </h4>
      <div className="pc-body">
        <FaultTimeline pc={pc} now={now} theme={theme} width={width} />
        <PostcopyFigures pc={pc} />
      </div>
    </section>
  );
}

/** Blocktime, latency and the counters, with units and what each means on hover. */
export function PostcopyFigures({ pc }: { pc: PostcopyView }) {
  const d = pc.destination;
  const c = pc.counts;
  const rows: [string, string, string, string?][] = [
    ['faults', (c.faults ?? 0).toLocaleString('en'), 'Touches of a missing page: each blocked a vCPU until the page was placed.', 'pc-faults'],
    ['requests', (c.requests ?? 0).toLocaleString('en'), 'Pages the fault thread asked the source for over the return path (MIG_RP_MSG_REQ_PAGES).', 'pc-requests'],
    ['placed by a fault', (c.placedFault ?? 0).toLocaleString('en'), 'Pages placed (UFFDIO_COPY) while a vCPU waited for them.'],
    ['placed in the background', (c.placedBackground ?? 0).toLocaleString('en'), 'Pages placed from the background stream before anything touched them.'],
    ['placed as zero', (c.zero ?? 0).toLocaleString('en'), 'Zero pages placed with UFFDIO_ZEROPAGE.'],
  ];
  return (
    <div className="pc-figures">
      {pc.blocktime ? (
        <dl className="pc-times" data-testid="postcopy-times">
          <div title="postcopy-blocktime: the time during which every vCPU was blocked on a page at once (the guest made no progress), in ms.">
            <dt className="mono">postcopy-blocktime</dt><dd>{formatBlocktimeMs(d['postcopy-blocktime'])}</dd>
          </div>
          <div title="postcopy-vcpu-blocktime: per vCPU, the time it spent blocked on missing pages, in ms (accrued when its fault is resolved).">
            <dt className="mono">postcopy-vcpu-blocktime</dt><dd>{(d['postcopy-vcpu-blocktime'] ?? []).map((b) => formatBlocktimeMs(b)).join(' · ') || '—'}</dd>
          </div>
          <div title="postcopy-latency: the average time from a fault to its page being placed (QEMU reports ns): a round trip, the page's time on the wire and any queue ahead of it.">
            <dt className="mono">postcopy-latency</dt><dd>{formatLatencyNs(d['postcopy-latency'])}</dd>
          </div>
          <div title="postcopy-vcpu-latency: the same average, per vCPU.">
            <dt className="mono">postcopy-vcpu-latency</dt><dd>{(d['postcopy-vcpu-latency'] ?? []).map((b) => formatLatencyNs(b)).join(' · ') || '—'}</dd>
          </div>
        </dl>
      ) : (
        <p className="pc-note" data-testid="postcopy-blocktime-off">
          QEMU measures no blocktime or latency for this migration: turn on <span className="mono">postcopy-blocktime</span> (migrate-set-capabilities) before the migration starts.
        </p>
      )}
      <table className="mig-table pc-counts">
        <caption className="tx-sr-only">The destination&apos;s post-copy counters</caption>
        <tbody>
          {rows.map(([k, v, explain, id]) => (
            <tr key={k} title={explain}>
              <th scope="row">{k}<span className="tx-sr-only">: {explain}</span></th>
              <td className="mono" data-testid={id}>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Spans as one SVG path of rectangles (rounded to 0.1 px): a few path elements per frame, not one per fault. */
function rectsPath(rects: readonly { x: number; y: number; width: number; height: number }[]): string {
  const r = (v: number) => Math.round(v * 10) / 10;
  let d = '';
  for (const b of rects) d += `M${r(b.x)} ${r(b.y)}h${r(b.width)}v${r(b.height)}h${r(-b.width)}z`;
  return d;
}

/** What a fault was, in a sentence (the hover tooltip and the newest fault's line). */
export function describeFault(b: FaultBar): string {
  return `Fault ${(b.n + 1).toLocaleString('en')}: vCPU ${b.vcpu} touched page ${hex(b.page)}; ${b.waiting ? `waiting for ${dur(b.end - b.start)} so far` : `woke after ${dur(b.end - b.start)}`}; ${POSTCOPY_FAULT_INFO[b.how]?.label ?? `how ${b.how}`}`;
}

/** The bar under a point of the chart (the newest first, with a pixel of slack: bars are 2 px at least). */
function barAt(bars: readonly FaultBar[], px: number, py: number): FaultBar | null {
  for (let i = bars.length - 1; i >= 0; i--) {
    const b = bars[i];
    if (py >= b.y - 2 && py <= b.y + b.height + 2 && px >= b.x - 1 && px <= b.x + b.width + 1) return b;
  }
  return null;
}

/**
 * The faults of the frame, a row per vCPU: each a bar from the touch to the wake (a fault still
 * waiting reaches "now", drawn open), coloured by how it was served; the vCPU's blocked time shaded
 * behind its bars, and over the rows the time every vCPU was blocked at once (postcopy-blocktime).
 *
 * A 4 GiB guest in post-copy brings hundreds of faults a frame. The bars of one kind are one path
 * (and the blocked time another), so a frame changes a few attributes rather than re-creating a
 * thousand elements and their layout; the fault under the pointer is found from the layout and told
 * in a tooltip, and the newest fault is told in a line under the chart.
 */
export function FaultTimeline({ pc, now, theme, width: fixed }: { pc: PostcopyView; now: number; theme: PaletteTheme; width?: number }) {
  const [ref, measured] = useWidth(fixed ?? 560);
  const [pointer, setPointer] = useState<{ x: number; y: number } | null>(null);
  const width = fixed ?? measured;
  // Few vCPUs: tall rows, to be seen from the back of a room; many: rows that still fit the panel.
  const rowHeight = pc.nvcpus <= 2 ? 40 : pc.nvcpus <= 8 ? 28 : 18;
  const l = layoutFaultTimeline(pc, now, { width, rowHeight });
  const colors = FAULT_HOW_COLORS[theme];
  const waiting = l.bars.filter((b) => b.waiting).length;
  const shown = l.bars.length;
  const caption = pc.faultCount === 0
    ? (pc.runNs > 0 ? 'No fault yet: the guest has touched no missing page on the destination.' : 'The guest has not started on the destination yet.')
    : `${pc.faultCount.toLocaleString('en')} fault${pc.faultCount === 1 ? '' : 's'}${l.omitted > 0 ? ` (the newest ${shown} drawn)` : ''}, ${waiting} waiting now`;
  const byHow = POSTCOPY_FAULT_INFO.map((h) => `${l.bars.filter((b) => b.how === h.code).length} ${h.label}`).join(', ');
  // Bars grouped by what draws them alike: how the fault was served, still waiting, wide enough for a hairline.
  const groups = new Map<string, { how: number; waiting: boolean; sep: boolean; bars: FaultBar[] }>();
  for (const b of l.bars) {
    const sep = b.width >= SEP_MIN_PX;
    const k = `${b.how}:${b.waiting ? 1 : 0}:${sep ? 1 : 0}`;
    let g = groups.get(k);
    if (!g) groups.set(k, g = { how: b.how, waiting: b.waiting, sep, bars: [] });
    g.bars.push(b);
  }
  const blocked = l.rows.flatMap((r) => r.blocked.map((s) => ({ x: s.x, y: r.y + 1, width: s.width, height: r.height - 2 })));
  const hovered = pointer ? barAt(l.bars, pointer.x, pointer.y) : null;
  const newest = l.bars.at(-1);
  const newestText = newest ? describeFault(newest) : '';
  const onMove = (e: React.PointerEvent<SVGSVGElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    const sx = box.width > 0 ? width / box.width : 1;
    setPointer({ x: (e.clientX - box.left) * sx, y: (e.clientY - box.top) * sx });
  };
  return (
    <figure className="mig-chart pc-timeline" ref={ref as React.RefObject<HTMLElement>} data-testid="fault-timeline" data-bars={shown} data-waiting={waiting}>
      <figcaption className="mig-chart-title pc-caption">
        <span><b>Fault timeline</b> · <span data-testid="fault-caption">{caption}</span></span>
        {/* The newest fault, on the caption's line (cut short there; whole on hover): no line of its own below the chart. */}
        {newest && <span className="pc-newest" data-testid="fault-newest" title={newestText}>Newest: {newestText}</span>}
      </figcaption>
      <div className="pc-plot">
        <svg width={width} height={l.height} viewBox={`0 0 ${width} ${l.height}`} role="img"
          aria-label={`Fault timeline, ${caption}${shown ? `: ${byHow}` : ''}`}
          onPointerMove={onMove} onPointerLeave={() => setPointer(null)}>
          {l.ticks.map((t, i) => (
            <g key={i}>
              <line x1={t.x} x2={t.x} y1={l.allBlockedY} y2={l.height - 22} className="mig-grid" />
              <text x={t.x} y={l.height - 6} className="mig-tick" textAnchor="middle">{t.label}</text>
            </g>
          ))}
          <text x={60} y={l.allBlockedY + 7} className="mig-tick" textAnchor="end" dominantBaseline="middle">all</text>
          <rect x={64} y={l.allBlockedY} width={Math.max(0, width - 76)} height={14} className="pc-strip" />
          {l.allBlocked.length > 0 && (
            <path className="pc-all-blocked" d={rectsPath(l.allBlocked.map((s) => ({ ...s, y: l.allBlockedY, height: 14 })))} data-count={l.allBlocked.length}>
              <title>every vCPU blocked</title>
            </path>
          )}
          {l.rows.map((r) => (
            <g key={r.vcpu}>
              <text x={60} y={r.y + r.height / 2} className="pc-row-label" textAnchor="end" dominantBaseline="middle">{r.label}</text>
              <line x1={64} x2={width - 12} y1={r.y + r.height} y2={r.y + r.height} className="mig-grid" />
            </g>
          ))}
          {blocked.length > 0 && <path className="pc-blocked" d={rectsPath(blocked)} data-count={blocked.length} />}
          {[...groups.values()].map((g) => (
            <path key={`${g.how}:${g.waiting}:${g.sep}`} d={rectsPath(g.bars)} fill={colors[g.how] ?? colors[0]}
              className={`pc-bar${g.waiting ? ' waiting' : ''}${g.sep ? ' sep' : ''}`} data-how={g.how} data-count={g.bars.length} />
          ))}
          {hovered && <rect x={hovered.x - 1} y={hovered.y - 1} width={hovered.width + 2} height={hovered.height + 2} className="pc-hover" />}
        </svg>
        {hovered && pointer && (
          <div className="pc-tip" role="tooltip" data-testid="fault-tip"
            style={{ left: `${Math.min(pointer.x, Math.max(0, width - 320))}px`, top: `${hovered.y + hovered.height + 6}px` }}>
            {describeFault(hovered)}
          </div>
        )}
      </div>
      <ul className="mig-legend" aria-label="Fault timeline legend">
        {POSTCOPY_FAULT_INFO.map((h) => (
          <li key={h.code} title={h.description}><i className="mig-key" style={{ background: colors[h.code] }} /> {h.label}</li>
        ))}
        <li title="While a vCPU waits for a page it runs nothing: its row is shaded."><i className="mig-key pc-blocked-key" /> vCPU blocked</li>
        <li title="Every vCPU blocked at once: the guest makes no progress. QEMU adds these intervals up as postcopy-blocktime."><i className="mig-key pc-all-key" /> all vCPUs blocked</li>
        <li title="A fault still waiting: its bar reaches now."><i className="mig-key pc-waiting-key" /> still waiting</li>
      </ul>
    </figure>
  );
}
