import { NO_EVENTS } from '../../empty';
import { useLab } from '../../store';

/** The trace: the newest events, coloured by layer. */
export function TracePanel() {
  const events = useLab((s) => s.packet?.frame.events ?? NO_EVENTS);
  return (
    <ol className="trace">
      {events.slice(-200).map((e) => (
        <li key={e.seq} className={`layer-${e.layer}`}><span className="layer">{e.layer}</span> <code>{e.name}</code> {e.vm && <em>{e.vm}</em>} — {e.text}</li>
      ))}
    </ol>
  );
}
