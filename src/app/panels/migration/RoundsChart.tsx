import { layoutRounds, type RoundView } from './rounds-chart';

/**
 * The rounds of a pre-copy migration as bars (bytes sent per round), the threshold QEMU compares
 * the pending bytes with (bandwidth × downtime-limit, dashed) and the bytes left dirty after each
 * round's sync (a line). SVG with an accessible name per bar; the geometry is rounds-chart.ts.
 */
export function RoundsChart({ rounds, width = 520, height = 220 }: { rounds: readonly RoundView[]; width?: number; height?: number }) {
  const l = layoutRounds(rounds, width, height);
  const path = (pts: readonly [number, number][]) => pts.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
  return (
    <figure className="mig-chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={rounds.length ? `${rounds.length} rounds: ${l.bars.map((b) => b.label).join('; ')}` : 'No rounds yet'}>
        {l.yTicks.map((t, i) => (
          <g key={i}>
            <line x1={64} x2={width - 8} y1={t.y} y2={t.y} className="mig-grid" />
            <text x={60} y={t.y} className="mig-tick" textAnchor="end" dominantBaseline="middle">{t.label}</text>
          </g>
        ))}
        {l.bars.map((b) => (
          <rect key={b.round} x={b.x} y={b.y} width={b.width} height={Math.max(0, b.height)} className={b.final ? 'mig-bar final' : 'mig-bar'}>
            <title>{b.label}</title>
          </rect>
        ))}
        {l.bars.map((b) => (
          <text key={`n${b.round}`} x={b.x + b.width / 2} y={height - 8} className="mig-tick" textAnchor="middle">{b.round}</text>
        ))}
        {rounds.length > 0 && <path d={path(l.threshold)} className="mig-threshold" />}
        {rounds.length > 1 && <path d={path(l.remaining)} className="mig-remaining" />}
      </svg>
      <figcaption className="mig-legend">
        <span><i className="mig-key sent" /> bytes sent in the round</span>
        <span><i className="mig-key final" /> stop-and-copy (guest paused)</span>
        <span><i className="mig-key threshold" /> threshold: bandwidth × downtime-limit</span>
        <span><i className="mig-key remaining" /> left dirty after the round's sync</span>
      </figcaption>
    </figure>
  );
}
