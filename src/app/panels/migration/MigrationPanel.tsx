import { useEffect, useMemo, useRef } from 'react';
import type { MigrationView } from '../../../sim/lab';
import { ExportButton } from '../../components/ExportButton';
import { exportChartPng, exportChartSvg, offerChart, slug, type ChartSource } from '../../export';
import { MIGRATION_ACTIONS } from '../../migration-actions';
import { useLabClient } from '../../client-context';
import { useLab, useLabStore } from '../../store';
import { MECHANISM, PostcopySection } from './FaultTimeline';
import { formatBlocktimeMs, formatLatencyNs } from './fault-timeline';
import { MigrationMaps } from './MigrationMaps';
import { QueryMigrateTable } from './QueryMigrateTable';
import { RoundsChart } from './RoundsChart';
import type { RoundView } from './rounds-chart';
import './migration.css';

/**
 * The migration panel: the controls (the action registry's migration entries, with their
 * shortcuts), then the newest migration: the two hosts' page maps side by side, the chart of its
 * rounds and query-migrate as QEMU answers it now; once the destination heard of post-copy, its
 * side: the fault timeline with blocktime, latency and the fault thread's counters. The lesson's
 * earlier migrations follow, a line each.
 */
export function MigrationPanel() {
  // A string (compared by value): a frame with the same migrations renders nothing new.
  const json = useLab((s) => JSON.stringify(s.packet?.frame.migrations ?? []));
  const migrations = JSON.parse(json) as MigrationView[];
  // Every migration has its card, newest first; the newest and every other one still running (two
  // VMs may migrate at once) in full — maps, chart, query-migrate — the others as one line.
  const full = new Set(migrations.filter((m, i) => i === migrations.length - 1 || ACTIVE.has(m.info.status)).map((m) => m.id));
  // The focused VM's migration (its tab, or the step's `show`) leads: with two at once, the card the
  // lesson talks about is the one in view.
  const focus = useLab((s) => s.focusVm);
  const mine = (m: MigrationView) => full.has(m.id) && focus !== null && ((m.vm === focus.vm && m.host === focus.host) || m.to === focus.vm);
  const ordered = migrations.slice().reverse().sort((a, b) => Number(mine(b)) - Number(mine(a)));
  let first = true;
  return (
    <div className="mig" data-testid="migration-panel" role="region" aria-label="Migrations" tabIndex={0}>
      {ordered.length === 0 && (
        <>
          <p className="mig-none">No migration yet: the lesson starts one with its <code>migrate</code> step (or press Shift+M).</p>
          <MigrationControls />
        </>
      )}
      {ordered.map((m) => {
        if (!full.has(m.id)) return <MigrationSummary key={m.id} m={m} />;
        const controls = first;
        first = false;
        return <MigrationCard key={m.id} m={m} controls={controls} />;
      })}
    </div>
  );
}

const ACTIVE = new Set(['setup', 'active', 'device', 'cancelling', 'postcopy-active', 'postcopy-paused', 'postcopy-recover-setup', 'postcopy-recover']);

/** The registry's migration controls as buttons; a disabled one says why in its tooltip. */
function MigrationControls() {
  const client = useLabClient();
  const store = useLabStore();
  // One string: re-render only when an enabled state, a reason or a label changes.
  const key = useLab((s) => MIGRATION_ACTIONS.map((a) => `${a.why?.(s) ?? ''}|${a.now?.(s) ?? ''}`).join('\n'));
  const notice = useLab((s) => s.migrationNotice);
  const lines = key.split('\n');
  return (
    <div className="mig-controls" role="toolbar" aria-label="Migration controls">
      {MIGRATION_ACTIONS.map((a, i) => {
        const [why, now] = lines[i].split('|');
        const text = now || a.short || a.label;
        return (
          <button key={a.id} type="button" className={a.id === 'migrate-cancel' ? 'danger' : undefined} disabled={why !== ''}
            title={why || `${a.label} (${a.shortcut})`} aria-label={now ? `${a.label}, ${now}` : a.label} aria-keyshortcuts={a.shortcut.replace('Shift+', 'Shift+')}
            onClick={() => a.perform({ client, store })}>
            {text}
          </button>
        );
      })}
      {notice && <p className={notice.error ? 'mig-problem' : 'mig-done'} role={notice.error ? 'alert' : 'status'} data-testid="migration-notice">{notice.text}</p>}
    </div>
  );
}

/** One migration; `controls`: the registry's controls go under its maps (the first card only). */
function MigrationCard({ m, controls }: { m: MigrationView; controls: boolean }) {
  const p = m.parameters as unknown as Record<string, number>;
  const store = useLabStore();
  // The export (export.ts) saves the chart as the page lays it out: as SVG, or drawn as PNG.
  const chartBox = useRef<HTMLDivElement>(null);
  const chart = useMemo<ChartSource>(() => ({ name: `migration-${slug(m.vm)}-rounds`, figure: () => chartBox.current?.querySelector('figure') ?? null }), [m.vm]);
  useEffect(() => offerChart(store, chart), [store, chart]);
  return (
    <section className="mig-card" aria-label={`Migration of ${m.vm} to ${m.to}`}>
      <h3>
        <span className="mono">{m.vm}</span> → <span className="mono">{m.to}</span> over <span className="mono">{m.link}</span>:{' '}
        <span className={`mig-status ${m.info.status}`} data-testid="migration-status">{m.info.status}</span>
        {m.info['error-desc'] && <span className="mig-error"> — {m.info['error-desc']}</span>}
      </h3>
      <p className="mig-params" data-testid="migration-params">
        <span title="QEMU's query-migrate-parameters: the parameters the running migration uses now">query-migrate-parameters:</span> downtime-limit <b>{p['downtime-limit']} ms</b> · max-bandwidth <b>{(p['max-bandwidth'] / 1024 / 1024).toFixed(p['max-bandwidth'] < 1024 * 1024 ? 2 : 0)} MiB/s</b> · dirty pages from KVM&apos;s {m.dirtyLog === 'ring' ? 'dirty ring' : 'dirty bitmap'}
        {m.capabilities.length > 0 && <> · {m.capabilities.join(', ')}</>}
      </p>
      <MigrationMaps m={m} />
      {controls && <MigrationControls />}
      {m.postcopy && <Postcopy pc={m.postcopy} />}
      <div className="mig-body">
        <div className="mig-chart-box" ref={chartBox}>
          <div className="mig-chart-export" role="group" aria-label="Save the chart">
            <ExportButton id="export-chart-svg" subject={`the rounds of ${m.vm}`} run={() => void exportChartSvg(store, chart)} />
            <ExportButton id="export-chart-png" subject={`the rounds of ${m.vm}`} run={() => void exportChartPng(store, chart)} />
          </div>
          <RoundsChart rounds={withCurrent(m)} roundCount={m.roundCount} limitMs={p['downtime-limit']} live={m.info} />
        </div>
        <QueryMigrateTable info={m.info as unknown as Record<string, unknown>} />
      </div>
    </section>
  );
}

/** The post-copy section at the frame's virtual time (the packet's: the timeline's open bars reach it). */
function Postcopy({ pc }: { pc: NonNullable<MigrationView['postcopy']> }) {
  const now = useLab((s) => s.packet?.frame.timeNs ?? 0);
  const theme = useLab((s) => s.theme);
  return <PostcopySection pc={pc} now={now} theme={theme} />;
}

/**
 * The finished rounds and, while it runs, the round in progress: its bytes so far, the dirty bytes
 * left (ram.remaining) and the threshold QEMU would compute from the last window's rate
 * (bandwidth × downtime-limit).
 */
function withCurrent(m: MigrationView): RoundView[] {
  const c = m.current;
  const ram = m.info.ram;
  // After the switch to post-copy the source sends in the background (and on request), in no round.
  if (!c || !ram || m.info.status.startsWith('postcopy')) return m.rounds;
  const bandwidth = (ram.mbps * 1e6) / 8;
  const threshold = m.rounds.at(-1)?.threshold ?? Math.floor(bandwidth * (m.parameters['downtime-limit'] / 1000));
  return [...m.rounds, {
    round: c.round, bytes: c.bytes, pages: 0, dirty_pages: 0, remaining: ram.remaining, threshold,
    throttle_pct: m.info['cpu-throttle-percentage'] ?? 0, final: false, duration_ns: 0, current: true,
  }];
}

/** A finished post-copy in a few words, to compare with the migration above it: faults, requests, blocktime, latency. */
function postcopyFacts(pc: NonNullable<MigrationView['postcopy']>): string {
  const d = pc.destination;
  const times = pc.blocktime ? `, postcopy-blocktime ${formatBlocktimeMs(d['postcopy-blocktime'])}, postcopy-latency ${formatLatencyNs(d['postcopy-latency'])}` : '';
  return `; post-copy${pc.preempt ? ' with postcopy-preempt' : ''}, faults caught by ${MECHANISM[pc.mechanism].label}: ${pc.faultCount.toLocaleString('en')} faults, ${(pc.counts.requests ?? 0).toLocaleString('en')} requests${times}`;
}

/** An earlier migration, in one line: its card's heading and what it sent. */
function MigrationSummary({ m }: { m: MigrationView }) {
  const ram = m.info.ram;
  const pc = m.postcopy;
  return (
    <section className="mig-card mig-summary" aria-label={`Migration of ${m.vm} to ${m.to}`}>
      <h3>
        <span className="mono">{m.vm}</span> → <span className="mono">{m.to}</span> over <span className="mono">{m.link}</span>:{' '}
        <span className={`mig-status ${m.info.status}`} data-testid="migration-status">{m.info.status}</span>
        <span className="mig-summary-facts">
          {' '}after {m.roundCount} round(s){ram ? `, ${(ram.transferred / 1024 / 1024).toFixed(1)} MiB sent` : ''}{m.capabilities.length ? ` (${m.capabilities.join(', ')})` : ''}
          {pc && <span data-testid="postcopy-summary">{postcopyFacts(pc)}</span>}
          {m.info['error-desc'] && <span className="mig-error"> — {m.info['error-desc']}</span>}
        </span>
      </h3>
    </section>
  );
}
