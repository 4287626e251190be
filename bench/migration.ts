/**
 * Section 6 of the benchmark: a pre-copy migration of a 16 GiB guest (src/sim/vmm/migration/) whose
 * memory is all in use, run headless with a hot-set workload, at QEMU's default max-bandwidth
 * (128 MiB/s: about 128 virtual seconds of pre-copy). Reports simulated seconds per wall second
 * (budget: at least 100) and the heap the migration's per-page state takes per guest page (its
 * bitmap and the dirty source's copy of KVM's log, typed arrays; budget within the 8 bytes per page).
 *
 * The guest's 16 GiB are "in use" without 16 GiB of stored bytes: each page gets a content token and
 * no stored contents (DESIGN.md principle 4), so each is sent as a normal page and the destination
 * proves it arrived by its token.
 */
import { GiB, PAGE_SIZE } from '../src/sim/core/units';
import { ScenarioRun } from '../src/sim/scenario/runner';
import { newMigrationPageView, updateMigrationPageView } from '../src/sim/vmm/migration/page-states';
import { check, fmtBytes, table, timed } from './util';

export interface MigrationBenchOptions {
  guestBytes: number;
  /** Without the workload (an idle guest): what the migration itself costs. */
  idle?: boolean;
}

export interface MigrationBenchResult {
  guestBytes: number;
  virtualSeconds: number;
  wallSeconds: number;
  simSecondsPerWallSecond: number;
  rounds: number;
  transferred: number;
  perPageStateBytes: number;
  perPageStateBytesPerPage: number;
  setupWallSeconds: number;
  /** The migration panel's page maps (vmm/migration/page-states.ts): bytes per page the viewer's arrays take. */
  pageViewBytesPerPage: number;
  /** Computing both maps of every page, and again with nothing changed (only the chunk hashes), ms. */
  pageViewFullMs: number;
  pageViewUnchangedMs: number;
}

/** The migration with the workload (the budget's case) and with an idle guest (the migration's own cost). */
export function runMigrationBenches(guestBytes: number, progress: (s: string) => void): { result: { workload: MigrationBenchResult; idle: MigrationBenchResult }; text: string } {
  const w = runMigrationBench({ guestBytes }, progress);
  const i = runMigrationBench({ guestBytes, idle: true }, progress);
  const text = [w.text, table([
    ['same guest, idle (the migration alone)', 'value'],
    ['wall time', `${i.result.wallSeconds.toFixed(2)} s for ${i.result.virtualSeconds.toFixed(1)} virtual s`],
    ['simulated s per wall s', i.result.simSecondsPerWallSecond.toFixed(1)],
    ['wall time per page sent', `${((i.result.wallSeconds * 1e6) / (i.result.transferred / 4104)).toFixed(2)} us`],
  ])].join('\n');
  return { result: { workload: w.result, idle: i.result }, text };
}

export function runMigrationBench(o: MigrationBenchOptions, progress: (s: string) => void): { result: MigrationBenchResult; text: string } {
  const hostBytes = o.guestBytes + 4 * GiB;
  const run = ScenarioRun.fromJson({
    version: 2, title: 'bench: migrate a 16 GiB guest', seed: 1,
    hosts: [{ name: 'src', memory: hostBytes }, { name: 'dst', memory: hostBytes }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '10Gbit', latency: '50us' }],
    vms: [{ name: 'guest', host: 'src', type: 'default', memory: o.guestBytes,
      ...(o.idle ? { program: ['_start:', '    hlt', '    jmp _start'] }
        : { workload: { rate: '256K', pattern: 'hot-set', base: '4M', working_set: '64M', prefill: false, cpu_bound: true } }) }],
    steps: [
      { do: 'cont', vm: 'guest' },
      { do: 'run_until', time: '10ms' },
      { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan' },
      { do: 'run_until', vm: 'guest', status: ['completed', 'failed'], time: '600s' },
    ],
  });
  progress(`migration${o.idle ? ' (idle guest)' : ''}: filling ${fmtBytes(o.guestBytes)} of guest memory with tokens`);
  const [, setupMs] = timed(() => {
    run.step();
    run.step();
    const v = run.vmms.get('guest')!;
    const mem = v.host.memory;
    const base = v.ram[0].hva - v.ram[0].gmemOffset;
    for (let p = 0; p < o.guestBytes / PAGE_SIZE; p++) {
      const hva = base + p * PAGE_SIZE;
      const f = v.process.lookup(hva);
      if (f >= 0 && mem.hasData(f)) continue;
      mem.writeToken(f >= 0 ? f : v.process.fault(hva, 'process', 0));
    }
    v.vcpus[0].flushTlb();
  });
  run.step();
  const t0 = run.clock.now;
  progress('migration: pre-copy at 128 MiB/s');
  const [, wallMs] = timed(() => run.step());
  const m = run.world.migrations[0];
  check(m.status === 'completed', `the migration did not complete (status ${m.status})`);
  const virtualSeconds = (run.clock.now - t0) / 1e9;
  const dirty = m.dirty as unknown as { lastLog: Uint32Array[]; clearBmap: Uint8Array };
  const perPage = m.bmap.byteLength + dirty.lastLog.reduce((n, a) => n + a.byteLength, 0) + dirty.clearBmap.byteLength;
  const view = newMigrationPageView(m.npages);
  const [, pageViewFullMs] = timed(() => updateMigrationPageView(m, view, 0));
  const [, pageViewUnchangedMs] = timed(() => updateMigrationPageView(m, view, 0));
  const viewBytes = view.src.byteLength + view.dst.byteLength + view.logged.byteLength + view.sigs.byteLength + view.counts.byteLength;
  const result: MigrationBenchResult = {
    guestBytes: o.guestBytes, virtualSeconds, wallSeconds: wallMs / 1000, simSecondsPerWallSecond: virtualSeconds / (wallMs / 1000),
    rounds: m.rounds.length, transferred: m.stats.transferred, perPageStateBytes: perPage, perPageStateBytesPerPage: perPage / m.npages,
    setupWallSeconds: setupMs / 1000,
    pageViewBytesPerPage: viewBytes / m.npages, pageViewFullMs, pageViewUnchangedMs,
  };
  const text = [
    `6. Pre-copy migration of a ${fmtBytes(o.guestBytes)} guest in use, hot-set workload, default max-bandwidth`,
    '   (budgets: at least 100 simulated seconds per wall second; per-page state within the 8 B/page heap budget)',
    table([
      ['figure', 'value'],
      ['virtual time of the migration', `${virtualSeconds.toFixed(1)} s (${m.rounds.length} rounds, ${fmtBytes(m.stats.transferred)} sent)`],
      ['wall time', `${(wallMs / 1000).toFixed(2)} s`],
      ['simulated s per wall s', result.simSecondsPerWallSecond.toFixed(1)],
      ["migration's per-page state", `${result.perPageStateBytesPerPage.toFixed(3)} B/page`],
      ["the panel's two page maps (the viewer's arrays)", `${result.pageViewBytesPerPage.toFixed(3)} B/page`],
      ['both maps computed whole / again unchanged', `${pageViewFullMs.toFixed(1)} ms / ${pageViewUnchangedMs.toFixed(2)} ms for ${m.npages.toLocaleString('en')} pages`],
    ]),
  ].join('\n');
  return { result, text };
}
