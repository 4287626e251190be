import { useLabClient } from '../client-context';
import { exportAction } from '../export-actions';
import { useLab, useLabStore } from '../store';

/**
 * An export entry of the action registry (export-actions.ts) as a button in a panel's chrome: its
 * short word on the button, its full label (and the panel's subject) as its accessible name, the
 * shortcut or the reason it is disabled as its tooltip. `run` replaces the registry's perform when
 * the button knows exactly what to export (this map, this chart), and `name` then says what that is;
 * `after` runs once it is started.
 */
export function ExportButton({ id, subject, name: named, run, after }: { id: string; subject?: string; name?: string; run?: () => void; after?: () => void }) {
  const a = exportAction(id);
  const client = useLabClient();
  const store = useLabStore();
  const why = useLab((s) => a.why?.(s) ?? null);
  const name = named ?? (subject ? `${a.label}: ${subject}` : a.label);
  return (
    <button type="button" className="export-button" disabled={why !== null} aria-label={name}
      aria-keyshortcuts={a.shortcut || undefined} title={why ?? (a.shortcut ? `${name} (${a.shortcut})` : name)}
      data-testid={id} onClick={() => {
        if (run) run();
        else a.perform({ client, store });
        after?.();
      }}>
      <span aria-hidden="true">⤓ </span>{a.short}
    </button>
  );
}
