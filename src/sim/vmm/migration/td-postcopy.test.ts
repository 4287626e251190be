/**
 * A TD's post-copy through the TDX module (td-export.ts, private-postcopy.ts, tdx/export.ts): the
 * exported pages written since go again in the blackout (the module gives no start token while
 * DIRTY_COUNT > 0); TDH.IMPORT.COMMIT lets the TD run on the destination while the pages never
 * exported come out of order (TDH.IMPORT.MEM after the commit); a TD vCPU touching one waits (KVM
 * Userfault catches it) until the module has imported it; TDH.IMPORT.END closes the import.
 * Not upstream: the TD Migration specification allows it, Intel's QEMU does not implement it.
 */
import { describe, expect, it } from 'vitest';
import { ScenarioRun } from '../../scenario/runner';
import { ScenarioError } from '../../scenario/fields';
import { restoreRun, snapshotRun } from '../../snapshot';
import { Sept } from '../../tdx/sept';
import type { MigrationThread } from './migration';
import { PC_MISSING, PC_REQUESTED } from './postcopy';

function scenario(steps: unknown[], opts: { series?: boolean; design?: string } = {}) {
  return {
    version: 2, title: 'TD post-copy', seed: 5,
    hosts: [{ name: 'src', memory: '512M' }, { name: 'dst', memory: '512M', ...(opts.series === false ? {} : { kernel_series: ['kvm-userfault'] }) }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '100Mbit', latency: '500us' }],
    vms: [{
      name: 'td', host: 'src', type: 'tdx', memory: '16M', tdx: { firmware_accept: '2M' },
      workload: { rate: '8M', pattern: 'uniform', base: '4M', working_set: '4M', seed: 5 },
    }],
    steps: [
      { do: 'cont', vm: 'td' },
      { do: 'run_until', time: '100ms' },
      { do: 'migrate', vm: 'td', to: 'dst', link: 'wan', td_design: opts.design ?? 'tdx-module', capabilities: ['postcopy-ram', 'postcopy-blocktime'] },
      { do: 'run_until', time: '300ms' },
      { do: 'migrate_start_postcopy', vm: 'td' },
      ...steps,
    ],
  };
}

function names(r: ScenarioRun, vm: string): string[] {
  return r.trace.events.filter((e) => e.vm === vm).map((e) => e.name);
}

describe("a TD's post-copy through the TDX module's out-of-order phase", () => {
  const r = ScenarioRun.fromJson(scenario([
    { do: 'run_until', vm: 'td', status: 'completed', time: '30s' },
    { do: 'query_migrate', vm: 'td@dst' },
    { do: 'run_until', time: '2s' },
  ]));
  const report = r.runAll();
  const m = r.world.migrations[0] as MigrationThread;
  const srcTd = m.vmms.src.vm.td!;
  const dstTd = m.vmms.dst.vm.td!;

  it('completes, and every page that arrived after the switch was the source\'s exactly (Secure-EPT state, token and bytes)', () => {
    expect(m.status).toBe('completed');
    // The TD writes its pages on the destination as soon as they are there, so the proof is at arrival.
    expect(m.incoming.counts.differentOnArrival).toBe(0);
    expect(m.incoming.counts.duplicates).toBe(0);
    expect(dstTd.mig.duplicates ?? 0).toBe(0);
    expect(m.td!.pcCounts.outOfOrder).toBeGreaterThan(0);
    expect(m.priv!.counts.privatePlaced).toBe(m.td!.pcCounts.outOfOrder);
    expect([...m.incoming.page].filter((s) => s === PC_MISSING || s === PC_REQUESTED)).toEqual([]);
    expect(dstTd.mig.phase).toBe('imported');
    expect(srcTd.mig.phase).toBe('export-out-of-order');
  });

  it('the destination TD ran before its memory arrived: its vCPU faulted, asked, and waited for the import', () => {
    const c = m.incoming.counts;
    expect(c.faults).toBeGreaterThan(0);
    expect(m.pc.requests).toBe(c.requests);
    expect(c.requests).toBeGreaterThan(0);
    expect(m.priv?.counts.kvmUserfaultExits).toBeGreaterThan(0);
    const dst = report.results[6].value as Record<string, number>;
    expect(dst['postcopy-latency']).toBeGreaterThan(1_000_000); // a round trip of 2 × 500 µs at least
  });

  it('the module\'s order: blackout re-exports, start token, commit, imports while running, end', () => {
    const d = r.trace.events.filter((e) => e.vm === 'td@dst');
    const at = (n: string) => d.findIndex((e) => e.name === n);
    const commit = at('TDH.IMPORT.COMMIT');
    const start = d.findIndex((e) => e.name === 'vm_start');
    const ooo = d.findIndex((e, i) => i > commit && e.name === 'TDH.IMPORT.MEM' && e.args.epoch === 'out-of-order');
    const end = at('TDH.IMPORT.END');
    expect(commit).toBeGreaterThan(0);
    expect(start).toBeGreaterThan(commit);
    expect(ooo).toBeGreaterThan(start);
    expect(end).toBeGreaterThan(ooo);
    expect(names(r, 'td')).toContain('tdx_mig_postcopy_blackout');
    // The start token went out with DIRTY_COUNT 0.
    expect(srcTd.mig.dirtyCount).toBe(0);
    // No private mapping of the destination was dropped: KVM_MEM_USERFAULT went on before any import.
    expect(names(r, 'td@dst')).not.toContain('TDH.MEM.PAGE.REMOVE');
    expect(r.trace.events.filter((e) => e.name === 'TDH.EXPORT.MEM' && e.args.epoch === 'out-of-order').length).toBeGreaterThan(0);
  });

  it('no private page went as a zero page: the host sees ciphertext only', () => {
    expect(m.stats.duplicate).toBe(0);
  });

  it('the TD goes on running on the destination afterwards', () => {
    const after = r.trace.events.filter((e) => e.vm === 'td@dst' && e.t > m.endNs && e.name === 'apic_timer_expired');
    expect(after.length).toBeGreaterThan(5);
    expect(dstTd.stateOf(0x400)).toBe(Sept.MAPPED);
  });
});

describe("a link cut in a TD's post-copy: paused, recovered, nothing lost", () => {
  it('re-exports what was lost out of order and completes equal', () => {
    const r = ScenarioRun.fromJson(scenario([
      { do: 'run_until', vm: 'td', status: 'postcopy-active', time: '5s' },
      { do: 'run_until', time: '400ms' },
      { do: 'link_down', link: 'wan' },
      { do: 'run_until', time: '450ms' },
      { do: 'query_migrate', vm: 'td' },
      { do: 'link_up', link: 'wan' },
      { do: 'migrate_recover', vm: 'td@dst' },
      { do: 'migrate', vm: 'td', to: 'dst', link: 'wan', resume: true },
      { do: 'run_until', vm: 'td', status: 'completed', time: '30s' },
    ]));
    const report = r.runAll();
    const m = r.world.migrations[0] as MigrationThread;
    expect((report.results[9].value as { status: string }).status).toBe('postcopy-paused');
    expect(r.trace.events.filter((e) => e.vm === 'td@dst' && e.name === 'TDH.IMPORT.COMMIT').length).toBe(1);
    expect(m.status).toBe('completed');
    expect(m.incoming.counts.differentOnArrival).toBe(0);
    expect(m.incoming.counts.duplicates).toBe(0);
    expect(m.incoming.received).toBe(m.npages);
  });
});

describe('a snapshot in the middle of a TD post-copy restores and goes on exactly as the original', () => {
  it('before the run to completion', () => {
    const json = scenario([{ do: 'run_until', vm: 'td', status: 'completed', time: '30s' }]);
    const whole = JSON.stringify(ScenarioRun.fromJson(json).runAll());
    const run = ScenarioRun.fromJson(json);
    while (run.next < 5) run.step();
    run.advance(20_000);
    const restored = restoreRun(json, structuredClone(snapshotRun(run)));
    expect(JSON.stringify(restored.runAll())).toBe(whole);
  });
});

describe('load-time refusals for a TD with postcopy-ram', () => {
  it('the talk\'s design has no out-of-order import for a TD', () => {
    const err = (() => { try { ScenarioRun.fromJson(scenario([], { design: 'talk' })); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(ScenarioError);
    expect(String((err as Error).message)).toMatch(/\$\.steps\[2\]\.capabilities.*tdx-module/);
  });

  it('the destination needs KVM Userfault to stop a TD vCPU on a page not yet imported', () => {
    const err = (() => { try { ScenarioRun.fromJson(scenario([], { series: false })); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(ScenarioError);
    expect(String((err as Error).message)).toMatch(/\$\.steps\[2\]\.td_design.*kernel_series/);
  });
});

describe("a TD's blackout counts as downtime", () => {
  it('the pages re-exported with the TD paused are downtime-bytes, not precopy-bytes', () => {
    const r = ScenarioRun.fromJson(scenario([{ do: 'run_until', vm: 'td', status: 'postcopy-active', time: '5s' }, { do: 'query_migrate', vm: 'td' }]));
    const report = r.runAll();
    const m = r.world.migrations[0] as MigrationThread;
    expect(m.td!.pcCounts.inBlackout).toBeGreaterThan(0);
    const ram = (report.results[6].value as { ram: Record<string, number> }).ram;
    // At least the re-exported pages' ciphertext went while the TD was paused.
    expect(ram['downtime-bytes']).toBeGreaterThan(m.td!.pcCounts.inBlackout * 4096);
  });
});
