import { useLabClient } from '../client-context';
import { offlineStatus, useOfflineStatus } from '../offline';
import { useLab, useLabStore } from '../store';

/**
 * The worker crashed, or a scenario could not be loaded: say so, and offer the way back. A new
 * version of the lab is offered, never forced (it would restart the lesson).
 */
export function Banners() {
  const client = useLabClient();
  const store = useLabStore();
  const status = useLab((s) => s.status);
  const crash = useLab((s) => s.crashMessage);
  const issues = useLab((s) => s.loadIssues);
  return (
    <>
      {status === 'crashed' && (
        <div role="alert" className="banner error">
          <strong>The simulation stopped:</strong> {crash}. Your scenario is kept.{' '}
          <button type="button" onClick={() => void client.restart()}>Restart the lab</button>
        </div>
      )}
      {issues && (
        <div role="alert" className="banner warning">
          {issues.every((i) => i.path === 'URL')
            ? <strong>That link could not be followed:</strong>
            : <><strong>That scenario was not loaded</strong> (nothing changed):</>}
          <ul>{issues.map((i, k) => <li key={k}><code>{i.path}</code>: {i.message}</li>)}</ul>
          <button type="button" onClick={() => store.setState({ loadIssues: null })}>Dismiss</button>
        </div>
      )}
      <UpdateBanner />
    </>
  );
}

/** A small note in the corner while a new version waits: Reload takes it (and restarts the lesson). */
function UpdateBanner() {
  const { updateWaiting } = useOfflineStatus();
  if (!updateWaiting) return null;
  return (
    <div role="status" className="banner update" data-testid="update-banner">
      A new version is available — <button type="button" className="primary" onClick={() => void offlineStatus.update()}>Reload</button>{' '}
      <button type="button" onClick={() => offlineStatus.dismiss()}>Later</button>
    </div>
  );
}
