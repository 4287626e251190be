import { useState } from 'react';
import { useLabClient } from '../client-context';
import { useLab } from '../store';
import { formatBandwidth, formatLatency } from './links-format';

/**
 * The world's links (only when the scenario has some): each with its ends, state, bandwidth and
 * latency, and a button that cuts or restores it now, as the scenario steps link_down and link_up
 * do (sent through the lab's command path, so the cut is in the trace and the command log).
 */
export function LinksBar() {
  const client = useLabClient();
  // A string (compared by value): a new frame with the same links renders nothing.
  const json = useLab((s) => JSON.stringify(s.packet?.frame.links ?? []));
  const links = JSON.parse(json) as { name: string; from: string; to: string; bandwidth: number; latency: number; state: 'up' | 'down' }[];
  const [problem, setProblem] = useState<{ link: string; message: string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  if (links.length === 0) return null;

  const toggle = async (link: string, up: boolean) => {
    const step = { do: up ? 'link_down' : 'link_up', link };
    setBusy(link);
    try {
      const r = await client.command(step);
      if (!r) return;
      if (!r.ok) setProblem({ link, message: `${step.do} refused: ${r.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}` });
      else if (r.result.ret < 0) setProblem({ link, message: `${step.do} failed${r.result.errno ? ` (${r.result.errno})` : ''}${r.result.why ? `: ${r.result.why}` : ''}` });
      else setProblem(null);
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="links-bar" aria-label="Links between hosts" data-testid="links-bar">
      <span className="links-title">Links</span>
      <ul>
        {links.map((l) => {
          const up = l.state === 'up';
          return (
            <li key={l.name} className={up ? 'link-up' : 'link-down'} data-testid={`link-${l.name}`} data-state={l.state}>
              <strong>{l.name}</strong> <span className="link-ends">{l.from} ↔ {l.to}</span>{' '}
              <span className="link-state" aria-label={`state: ${l.state}`}>{up ? '● up' : '✕ down'}</span>{' '}
              <span className="link-figures">{formatBandwidth(l.bandwidth)} · {formatLatency(l.latency)}</span>{' '}
              <button type="button" className={up ? 'danger' : 'primary'} disabled={busy === l.name}
                onClick={() => void toggle(l.name, up)} aria-label={`${up ? 'Cut' : 'Restore'} link ${l.name}`}>
                {up ? 'Cut' : 'Restore'}
              </button>
            </li>
          );
        })}
      </ul>
      {problem && <p className="links-problem" role="alert">{problem.link}: {problem.message}</p>}
    </section>
  );
}
