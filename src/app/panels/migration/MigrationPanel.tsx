import { useState } from 'react';
import type { MigrationView } from '../../../sim/lab';
import { useLabClient } from '../../client-context';
import { useLab } from '../../store';
import { QueryMigrateTable } from './QueryMigrateTable';
import { RoundsChart } from './RoundsChart';
import './migration.css';

/**
 * The scenario's migrations (the newest first): query-migrate as QEMU answers it now, the rounds so
 * far as a chart, and the controls QEMU's monitor has while one runs — cancel (migrate_cancel) and
 * new downtime-limit / max-bandwidth (migrate-set-parameters) — sent through the lab's command path,
 * so they are in the trace and in a link to the moment.
 */
export function MigrationPanel() {
  // A string (compared by value): a frame with the same migrations renders nothing new.
  const json = useLab((s) => JSON.stringify(s.packet?.frame.migrations ?? []));
  const migrations = (JSON.parse(json) as MigrationView[]).slice().reverse();
  // Focusable, so a keyboard can scroll the panel (nothing in it is focusable once a migration ended).
  if (migrations.length === 0) return <p className="mig-none" role="region" aria-label="Migrations" tabIndex={0}>No migration yet: the lesson starts one with its <code>migrate</code> step.</p>;
  return (
    <div className="mig" data-testid="migration-panel" role="region" aria-label="Migrations" tabIndex={0}>
      {migrations.map((m) => <MigrationCard key={m.id} m={m} />)}
    </div>
  );
}

const ACTIVE = new Set(['setup', 'active', 'device']);

function MigrationCard({ m }: { m: MigrationView }) {
  const client = useLabClient();
  const [problem, setProblem] = useState<string | null>(null);
  const [limit, setLimit] = useState('');
  const [bandwidth, setBandwidth] = useState('');
  const running = ACTIVE.has(m.info.status);
  const send = async (step: Record<string, unknown>) => {
    const r = await client.command(step);
    if (!r) return;
    if (!r.ok) setProblem(`${String(step.do)} refused: ${r.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    else if (r.result.ret < 0) setProblem(`${String(step.do)} failed${r.result.why ? `: ${r.result.why}` : ''}`);
    else setProblem(null);
  };
  const setParameters = (e: React.FormEvent) => {
    e.preventDefault();
    const parameters: Record<string, number> = {};
    if (limit.trim()) parameters['downtime-limit'] = Number(limit);
    if (bandwidth.trim()) parameters['max-bandwidth'] = Math.round(Number(bandwidth) * 1024 * 1024);
    void send({ do: 'migrate_set_parameters', vm: m.vm, parameters });
  };
  const p = m.parameters as unknown as Record<string, number>;
  return (
    <section className="mig-card" aria-label={`Migration of ${m.vm} to ${m.to}`}>
      <h3>
        <span className="mono">{m.vm}</span> → <span className="mono">{m.to}</span> over <span className="mono">{m.link}</span>:{' '}
        <span className={`mig-status ${m.info.status}`} data-testid="migration-status">{m.info.status}</span>
      </h3>
      <p className="mig-params">
        downtime-limit {p['downtime-limit']} ms · max-bandwidth {(p['max-bandwidth'] / 1024 / 1024).toFixed(0)} MiB/s
        {m.capabilities.length > 0 && <> · {m.capabilities.join(', ')}</>}
      </p>
      {running && (
        <form className="mig-controls" onSubmit={setParameters}>
          <button type="button" className="danger" onClick={() => void send({ do: 'migrate_cancel', vm: m.vm })}>Cancel migration</button>
          <label>downtime-limit (ms) <input inputMode="numeric" value={limit} onChange={(e) => setLimit(e.target.value)} placeholder={String(p['downtime-limit'])} size={6} /></label>
          <label>max-bandwidth (MiB/s) <input inputMode="numeric" value={bandwidth} onChange={(e) => setBandwidth(e.target.value)} placeholder={(p['max-bandwidth'] / 1024 / 1024).toFixed(0)} size={6} /></label>
          <button type="submit">Set parameters</button>
        </form>
      )}
      {problem && <p className="mig-problem" role="alert">{problem}</p>}
      <div className="mig-body">
        <RoundsChart rounds={m.rounds} />
        <QueryMigrateTable info={m.info as unknown as Record<string, unknown>} />
      </div>
    </section>
  );
}
