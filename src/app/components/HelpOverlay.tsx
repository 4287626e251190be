import { ACTIONS } from '../actions';
import { useLab, useLabStore } from '../store';

export function HelpOverlay() {
  const open = useLab((s) => s.helpOpen);
  const store = useLabStore();
  if (!open) return null;
  return (
    <div className="overlay" role="dialog" aria-modal="true" aria-labelledby="help-title" onClick={() => store.setState({ helpOpen: false })}>
      <div className="dialog" onClick={(e) => e.stopPropagation()}>
        <h2 id="help-title">Keyboard shortcuts</h2>
        <table>
          <tbody>
            {ACTIONS.map((a) => (
              <tr key={a.id}><td>{a.shortcut ? <kbd>{a.shortcut}</kbd> : <span title="No shortcut: a button in its panel">—</span>}</td><td>{a.label}</td></tr>
            ))}
          </tbody>
        </table>
        <button type="button" autoFocus onClick={() => store.setState({ helpOpen: false })}>Close</button>
      </div>
    </div>
  );
}
