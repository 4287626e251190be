/**
 * Post-copy (postcopy.ts, migration.ts): a hot-set guest that pre-copy cannot converge is switched
 * to post-copy; the destination runs before its memory has arrived, its vCPUs fault, the fault
 * thread requests pages over the return path, and the destination ends with every page equal to the
 * source's. QEMU's errors for bad requests; a link cut pauses both sides and a recovery goes on.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../scenarios';
import { ScenarioRun } from '../../scenario/runner';
import { restoreRun, snapshotRun } from '../../snapshot';
import type { MigrationThread } from './migration';
import { PC_FAULT, PC_MISSING, PC_REQUESTED } from './postcopy';

function scenario(steps: unknown[], opts: { bandwidth?: string; latency?: string; vcpus?: number } = {}) {
  return {
    version: 2, title: 'post-copy', seed: 1,
    hosts: [{ name: 'src', memory: '1G' }, { name: 'dst', memory: '1G' }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: opts.bandwidth ?? '16MiB', latency: opts.latency ?? '200us' }],
    vms: [{ name: 'guest', host: 'src', type: 'default', memory: '32M', vcpus: opts.vcpus ?? 1, workload: { rate: '64MiB', pattern: 'uniform', working_set: '8M' } }],
    steps,
  };
}

const START = [
  { do: 'cont', vm: 'guest' },
  { do: 'run_until', time: '50ms' },
  { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', capabilities: ['postcopy-ram', 'postcopy-blocktime'] },
  { do: 'run_until', time: '600ms' },
  { do: 'migrate_start_postcopy', vm: 'guest' },
];

function run(steps: unknown[], opts?: Parameters<typeof scenario>[1]) {
  const r = ScenarioRun.fromJson(scenario(steps, opts));
  const report = r.runAll();
  return { r, report, m: r.world.migrations[0] as MigrationThread };
}

describe('post-copy of an ordinary VM', () => {
  const { r, m, report } = run([...START,
    { do: 'run_until', vm: 'guest', status: 'completed', time: '60s' },
    { do: 'query_migrate', vm: 'guest' },
    { do: 'query_migrate', vm: 'guest@dst' },
  ]);

  it('switches, runs the guest on the destination, and completes with every page equal', () => {
    expect(report.results[4]).toMatchObject({ ret: 0 });
    expect(m.status).toBe('completed');
    // The guest writes on the destination after its pages arrive, so the proof is at arrival: each page
    // placed was the source's page exactly, and none came twice.
    expect(m.incoming.counts.differentOnArrival).toBe(0);
    expect(m.incoming.counts.duplicates).toBe(0);
    expect(m.incoming.status).toBe('completed');
    expect(m.incoming.phase).toBe('end');
    expect(m.vmms.dst.runState).toBe('running');
    expect(m.vmms.src.runState).toBe('postmigrate');
  });

  it('the guest faulted: requests went over the return path and the counters add up', () => {
    const c = m.incoming.counts;
    expect(c.faults).toBeGreaterThan(0);
    expect(c.requests).toBeGreaterThan(0);
    // Every request the destination sent reached the source (the link stayed up).
    expect(m.pc.requests).toBe(c.requests);
    // Every page arrived exactly once after the switch: precopied ones were kept, the rest placed.
    expect(m.incoming.received).toBe(m.npages);
    expect(c.placedFault + c.placedBackground).toBe(m.npages - [...m.incoming.page].filter((s) => s === 1).length);
    expect([...m.incoming.page].filter((s) => s === PC_MISSING || s === PC_REQUESTED)).toEqual([]);
    expect([...m.incoming.page].filter((s) => s === PC_FAULT).length).toBeGreaterThan(0);
  });

  it('query-migrate: postcopy-requests on the source, blocktime and latency on the destination', () => {
    const src = report.results[6].value as { ram: Record<string, number>; status: string };
    expect(src.status).toBe('completed');
    expect(src.ram['postcopy-requests']).toBe(m.pc.requests);
    expect(src.ram['postcopy-bytes']).toBeGreaterThan(0);
    const dst = report.results[7].value as Record<string, unknown>;
    expect(dst.status).toBe('completed');
    expect(dst['postcopy-latency'] as number).toBeGreaterThan(400_000); // at least a round trip (2 × 200 µs)
    expect((dst['postcopy-vcpu-blocktime'] as number[]).length).toBe(1);
  });

  it('the trace names the steps', () => {
    const names = new Set(r.trace.events.filter((e) => e.host === 'dst').map((e) => e.name));
    for (const n of ['loadvm_postcopy_handle_advise', 'loadvm_postcopy_ram_handle_discard', 'loadvm_postcopy_handle_listen', 'UFFD_EVENT_PAGEFAULT', 'MIG_RP_MSG_REQ_PAGES', 'UFFDIO_COPY', 'postcopy_ram_incoming_cleanup'])
      expect(names, n).toContain(n);
  });
});

describe("post-copy's bad requests get QEMU's errors", () => {
  it('without the capability, and before a migration', () => {
    const { report } = run([
      { do: 'migrate_start_postcopy', vm: 'guest' },
      { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan' },
      { do: 'migrate_start_postcopy', vm: 'guest' },
      { do: 'migrate_recover', vm: 'guest@dst' },
      { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', resume: true },
    ]);
    expect(report.results[0]).toMatchObject({ ret: -1, why: 'Enable postcopy with migrate_set_capability before the start of migration' });
    expect(report.results[2]).toMatchObject({ ret: -1, why: 'Enable postcopy with migrate_set_capability before the start of migration' });
    expect(report.results[3]).toMatchObject({ ret: -1, why: 'Migrate recover can only be run when postcopy is paused.' });
    expect(report.results[4]).toMatchObject({ ret: -1, why: 'Cannot resume if there is no paused migration' });
  });
});

describe('a link cut during post-copy pauses both sides; recovery goes on and nothing is lost', () => {
  const { r, m, report } = run([...START,
    { do: 'run_until', vm: 'guest', status: 'postcopy-active', time: '5s' },
    { do: 'run_until', time: '700ms' },
    { do: 'link_down', link: 'wan' },
    { do: 'run_until', time: '750ms' },
    { do: 'query_migrate', vm: 'guest' },
    { do: 'query_migrate', vm: 'guest@dst' },
    { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', resume: true },
    { do: 'link_up', link: 'wan' },
    { do: 'migrate_recover', vm: 'guest@dst' },
    { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', resume: true },
    { do: 'run_until', vm: 'guest', status: 'completed', time: '60s' },
  ]);

  it('both sides are postcopy-paused after the cut', () => {
    expect((report.results[9].value as { status: string }).status).toBe('postcopy-paused');
    expect((report.results[10].value as { status: string }).status).toBe('postcopy-paused');
  });

  it('a resume before migrate-recover cannot connect and stays paused', () => {
    expect(report.results[11]).toMatchObject({ ret: 0, value: { status: 'postcopy-paused' } });
  });

  it('after recovery the migration completes with every page equal', () => {
    expect(report.results[14]).toMatchObject({ ret: 0 });
    expect(m.status).toBe('completed');
    expect(m.incoming.counts.differentOnArrival).toBe(0);
    expect(m.incoming.counts.duplicates).toBe(0);
    expect(m.incoming.received).toBe(m.npages);
    const names = r.trace.events.map((e) => e.name);
    expect(names).toContain('ram_dirty_bitmap_reload');
  });
});

describe('a snapshot in the middle of a post-copy restores and goes on exactly as the original', () => {
  it.each([
    ['postcopy-link-failure', [12, 14, 16, 20]],
    ['postcopy-private-memory', [16, 17, 18, 20]],
  ] as const)('%s, snapshotted before steps %j', (id, at) => {
    const whole = JSON.stringify(ScenarioRun.fromJson(PRESETS[id]).runAll());
    for (const n of at) {
      const run = ScenarioRun.fromJson(PRESETS[id]);
      while (run.next < n) run.step();
      // Into a run step: post-copy in progress, vCPUs blocked on faults, transfers in flight.
      run.advance(20_000);
      const restored = restoreRun(PRESETS[id], structuredClone(snapshotRun(run)));
      expect(JSON.stringify(restored.runAll()), `${id} restored before step ${n}`).toBe(whole);
    }
  });
});
