import type { PostcopyView } from '../../../sim/lab';
import { POSTCOPY_FAULT_INFO } from '../../../sim/view-model';
import { FAULT_HOW_COLORS } from '../../render/migration-palette';
import type { PaletteTheme } from '../../render/page-palette';
import { formatBlocktimeMs, formatLatencyNs, layoutFaultTimeline } from './fault-timeline';
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

/**
 * The faults of the frame, a row per vCPU: each a bar from the touch to the wake (a fault still
 * waiting reaches "now", drawn open), coloured by how it was served; the vCPU's blocked time shaded
 * behind its bars, and over the rows the time every vCPU was blocked at once (postcopy-blocktime).
 */
export function FaultTimeline({ pc, now, theme, width: fixed }: { pc: PostcopyView; now: number; theme: PaletteTheme; width?: number }) {
  const [ref, measured] = useWidth(fixed ?? 560);
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
  return (
    <figure className="mig-chart pc-timeline" ref={ref as React.RefObject<HTMLElement>} data-testid="fault-timeline">
      <figcaption className="mig-chart-title"><b>Fault timeline</b> · <span data-testid="fault-caption">{caption}</span></figcaption>
      <svg width={width} height={l.height} viewBox={`0 0 ${width} ${l.height}`} role="img"
        aria-label={`Fault timeline, ${caption}${shown ? `: ${byHow}` : ''}`}>
        {l.ticks.map((t, i) => (
          <g key={i}>
            <line x1={t.x} x2={t.x} y1={l.allBlockedY} y2={l.height - 22} className="mig-grid" />
            <text x={t.x} y={l.height - 6} className="mig-tick" textAnchor="middle">{t.label}</text>
          </g>
        ))}
        <text x={60} y={l.allBlockedY + 7} className="mig-tick" textAnchor="end" dominantBaseline="middle">all</text>
        <rect x={64} y={l.allBlockedY} width={Math.max(0, width - 76)} height={14} className="pc-strip" />
        {l.allBlocked.map((s, i) => <rect key={i} x={s.x} y={l.allBlockedY} width={s.width} height={14} className="pc-all-blocked"><title>every vCPU blocked</title></rect>)}
        {l.rows.map((r) => (
          <g key={r.vcpu}>
            <text x={60} y={r.y + r.height / 2} className="pc-row-label" textAnchor="end" dominantBaseline="middle">{r.label}</text>
            <line x1={64} x2={width - 12} y1={r.y + r.height} y2={r.y + r.height} className="mig-grid" />
            {r.blocked.map((s, i) => <rect key={i} x={s.x} y={r.y + 1} width={s.width} height={r.height - 2} className="pc-blocked" />)}
          </g>
        ))}
        {l.bars.map((b) => (
          <rect key={b.n} x={b.x} y={b.y} width={b.width} height={b.height} fill={colors[b.how] ?? colors[0]} className={`pc-bar${b.waiting ? ' waiting' : ''}${b.width >= SEP_MIN_PX ? ' sep' : ''}`} data-how={b.how}>
            <title>{`Fault ${b.n + 1}: vCPU ${b.vcpu} touched page ${hex(b.page)}; ${b.waiting ? `waiting for ${dur(b.end - b.start)} so far` : `woke after ${dur(b.end - b.start)}`}; ${POSTCOPY_FAULT_INFO[b.how]?.label ?? `how ${b.how}`}`}</title>
          </rect>
        ))}
      </svg>
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
