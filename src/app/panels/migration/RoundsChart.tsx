import { useLayoutEffect, useRef, useState } from 'react';
import type { MigrationInfo } from '../../../sim/vmm/migration/migration';
import { layoutDowntime, layoutRates, layoutRounds, type PanelLayout, type RoundView } from './rounds-chart';

const path = (pts: readonly [number, number][]) => pts.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');

/** The width the chart has, in CSS px (the SVG is drawn at that size, so its text stays at its font size). */
export function useWidth(fallback: number): [React.RefObject<HTMLElement | null>, number] {
  const ref = useRef<HTMLElement | null>(null);
  const [w, setW] = useState(fallback);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => setW(Math.max(240, Math.round(el.clientWidth))));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, w];
}

/**
 * The rounds of a pre-copy migration, in three panels over the same rounds: the bytes each round
 * sent (bars; the stop-and-copy in its own colour) against the threshold QEMU compares the pending
 * bytes with (bandwidth × downtime-limit, dashed) and the bytes left dirty after each sync; the dirty
 * rate against the rate pages went out at; and the downtime expected after each round against
 * downtime-limit. The throttle auto-converge set is written over the bars it applied to. SVG drawn
 * at the width it is given (so text keeps its size), with an accessible name per bar.
 */
export function RoundsChart({ rounds, roundCount = rounds.length, limitMs = 300, live, width: fixed }: {
  rounds: readonly RoundView[]; roundCount?: number; limitMs?: number; live?: MigrationInfo; width?: number;
}) {
  const [ref, measured] = useWidth(fixed ?? 520);
  const width = fixed ?? measured;
  const h = 200;
  const l = layoutRounds(rounds, width, h);
  const rates = layoutRates(rounds, width, 120);
  const down = layoutDowntime(rounds, limitMs, width, 120);
  const throttled = rounds.some((r) => r.throttle_pct > 0);
  const first = rounds[0]?.round ?? 0;
  const done = rounds.filter((r) => !r.current).length;
  const counted = (roundCount > done ? `rounds ${first}–${first + done - 1} of ${roundCount}` : `${roundCount} round${roundCount === 1 ? '' : 's'}`) + (done < rounds.length ? ` done, round ${rounds.at(-1)!.round} in progress` : '');
  return (
    <figure className="mig-chart" ref={ref as React.RefObject<HTMLElement>}>
      <figcaption className="mig-chart-title">
        <b data-testid="round-count">{counted}</b>
        {live?.['expected-downtime'] !== undefined && <> · expected-downtime now <b>{live['expected-downtime']} ms</b> (limit {limitMs} ms)</>}
        {live?.['cpu-throttle-percentage'] !== undefined && <> · throttle <b>{live['cpu-throttle-percentage']} %</b></>}
      </figcaption>
      <svg width={width} height={h} viewBox={`0 0 ${width} ${h}`} role="img" aria-label={rounds.length ? `${counted}: ${l.bars.map((b) => b.label).join('; ')}` : 'No rounds yet'}>
        {l.yTicks.map((t, i) => (
          <g key={i}>
            <line x1={64} x2={width - 8} y1={t.y} y2={t.y} className="mig-grid" />
            <text x={60} y={t.y} className="mig-tick" textAnchor="end" dominantBaseline="middle">{t.label}</text>
          </g>
        ))}
        {l.bars.map((b) => (
          <rect key={b.round} x={b.x} y={b.y} width={b.width} height={Math.max(0, b.height)} className={b.final ? 'mig-bar final' : b.current ? 'mig-bar current' : 'mig-bar'}>
            <title>{b.label}</title>
          </rect>
        ))}
        {rounds.map((r, i) => r.throttle_pct > 0 && (
          <text key={`t${r.round}`} x={l.bars[i].x + l.bars[i].width / 2} y={Math.max(14, l.bars[i].y - 4)} className="mig-throttle" textAnchor="middle">{r.throttle_pct}%</text>
        ))}
        {roundNumbers(l.bars.map((b) => ({ round: b.round, x: b.x + b.width / 2 })), h - 6)}
        {rounds.length > 0 && <path d={path(l.threshold)} className="mig-threshold" />}
        {rounds.length > 1 && <path d={path(l.remaining)} className="mig-remaining" />}
      </svg>
      <ul className="mig-legend">
        <li><i className="mig-key sent" /> bytes sent in the round</li>
        {rounds.some((r) => r.current) && <li><i className="mig-key current" /> the round in progress</li>}
        <li><i className="mig-key final" /> stop-and-copy (guest paused)</li>
        <li><i className="mig-key threshold" /> threshold: bandwidth × downtime-limit</li>
        <li><i className="mig-key remaining" /> left dirty after the sync</li>
        {throttled && <li><b className="mig-throttle-key">20%</b> auto-converge throttle</li>}
      </ul>
      {done > 0 ? (
        <>
          <LinePanel title="Dirty rate against the bandwidth (MiB/s)" l={rates} width={width} keys={[['dirty', 'dirty rate: pages dirtied per second × 4 KiB'], ['send', 'bandwidth: bytes sent per second']]} />
          <LinePanel title="expected-downtime against downtime-limit (ms)" l={down} width={width} keys={[['expected', 'expected-downtime after the round\'s sync']]} rule={`downtime-limit ${limitMs} ms`} />
        </>
      ) : <p className="mig-estimate">The dirty rate, the bandwidth and the expected downtime of each round appear once a bitmap sync has ended the first round.</p>}
    </figure>
  );
}

/** Round numbers under the bars, thinned so that they never overlap (every label is at least 24 px apart). */
function roundNumbers(centres: { round: number; x: number }[], y: number) {
  const gap = centres.length > 1 ? centres[1].x - centres[0].x : 100;
  const every = Math.max(1, Math.ceil(24 / Math.max(1, gap)));
  return centres.filter((_, i) => i % every === 0 || i === centres.length - 1).map((c) => (
    <text key={`n${c.round}`} x={c.x} y={y} className="mig-tick" textAnchor="middle">{c.round}</text>
  ));
}

function LinePanel({ title, l, width, keys, rule }: { title: string; l: PanelLayout; width: number; keys: [string, string][]; rule?: string }) {
  const h = 120;
  return (
    <div className="mig-line-panel">
      <svg width={width} height={h} viewBox={`0 0 ${width} ${h}`} role="img" aria-label={`${title}: ${keys.map(([k, name]) => `${name} ${l.series[k].values.map((v) => (v === null ? '—' : v.toFixed(1))).join(', ')}`).join('; ')}`}>
        {l.yTicks.map((t, i) => (
          <g key={i}>
            <line x1={64} x2={width - 8} y1={t.y} y2={t.y} className="mig-grid" />
            <text x={60} y={t.y} className="mig-tick" textAnchor="end" dominantBaseline="middle">{t.label}</text>
          </g>
        ))}
        {l.rule !== null && <line x1={64} x2={width - 8} y1={l.rule} y2={l.rule} className="mig-rule" />}
        {keys.map(([k]) => (
          <g key={k} className={`mig-series ${k}`}>
            <path d={path(l.series[k].points)} />
            {l.series[k].points.map(([x, y], i) => <circle key={i} cx={x} cy={y} r={3.5} />)}
          </g>
        ))}
        {roundNumbers(l.centres, h - 5)}
      </svg>
      <ul className="mig-legend">
        <li className="mig-panel-title">{title}:</li>
        {keys.map(([k, name]) => <li key={k}><i className={`mig-key line ${k}`} /> {name}</li>)}
        {rule && <li><i className="mig-key rule" /> {rule}</li>}
      </ul>
    </div>
  );
}
