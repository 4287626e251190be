import type { MapRange } from '../../../sim/vmm/surface-view';
import { RANGE_STATES, STATE_TEXT, countStates, rangeText, type RangeState } from './format';

/** A swatch that carries the state by pattern as well as colour. */
export function StateSwatch({ state }: { state: RangeState }) {
  return <span className={`st-swatch state-${state}`} aria-hidden="true" />;
}

/** The legend for the port and MMIO maps: each state and what it means. */
export function RangeLegend() {
  return (
    <ul className="range-legend" aria-label="States">
      {RANGE_STATES.map((s) => (
        <li key={s}>
          <StateSwatch state={s} /> <b>{STATE_TEXT[s].label}</b>
          <span className="note"> — {STATE_TEXT[s].meaning}</span>
        </li>
      ))}
    </ul>
  );
}

/**
 * The port or MMIO map of one VM: a strip with one cell per range in address order (not to scale:
 * a 2-port PIC and 256 MiB of ECAM would not both be visible otherwise), then the ranges as a table
 * with their state in words and the guest's access counters.
 */
export function RangeMap({ vm, kind, ranges }: { vm: string; kind: 'Port' | 'MMIO'; ranges: readonly MapRange[] }) {
  if (ranges.length === 0) return <p className="note">No {kind === 'Port' ? 'port' : 'MMIO'} ranges.</p>;
  const counts = countStates(ranges);
  const summary = RANGE_STATES.filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${STATE_TEXT[s].label}`).join(', ');
  return (
    <div className="range-map">
      <div className="range-strip" role="img" aria-label={`${kind} map of ${vm}, in address order: ${summary}`}>
        {ranges.map((r) => (
          <span key={r.start} className={`cell state-${r.state}`} title={`${rangeText(r)} ${r.name}: ${STATE_TEXT[r.state].label}, ${r.accesses} accesses`} />
        ))}
      </div>
      <p className="note strip-caption">{summary} · one cell per range, in address order, not to scale</p>
      <div className="table-scroll" tabIndex={0} role="region" aria-label={`${kind} ranges of ${vm}`}>
        <table className="data surface-table ranges">
          <thead>
            <tr><th scope="col">Range</th><th scope="col">What</th><th scope="col">State</th><th scope="col">Accesses</th></tr>
          </thead>
          <tbody>
            {ranges.map((r) => (
              <tr key={r.start} className={`row-${r.state}`}>
                <td className="mono">{rangeText(r)}</td>
                <td>{r.name}{r.device && <span className="note mono"> {r.device}</span>}</td>
                <td><span className="state-cell"><StateSwatch state={r.state} /> {STATE_TEXT[r.state].label}</span></td>
                <td className="num">{r.accesses.toLocaleString('en')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
