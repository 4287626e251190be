/**
 * Migrating a TD, the three designs (td-export.ts): upstream refuses (KVM will not log dirty pages
 * on a guest_memfd slot; the migration fails in setup and the source keeps running), the talk's
 * backend-kept log and the TDX module's export both complete with the destination equal to the
 * source page by page; the host sees ciphertext on the wire; a snapshot in the middle goes on
 * exactly; bad input is refused with its JSON path.
 */
import { describe, expect, it } from 'vitest';
import { ScenarioError } from '../../scenario/fields';
import { ScenarioRun } from '../../scenario/runner';
import { restoreRun, snapshotRun } from '../../snapshot';
import type { MigrationThread } from './migration';

interface TdSetup {
  design?: string;
  type?: string;
  memory?: string;
  ring?: number;
  after?: unknown[];
  extraMigrate?: Record<string, unknown>;
  mode?: 'upstream' | 'talk';
}

export function tdScenario({ design, type = 'tdx', memory = '16M', ring = 0, after = [], extraMigrate = {}, mode }: TdSetup) {
  return {
    version: 2, title: 'td migration', seed: 3,
    hosts: [{ name: 'src', memory: '512M' }, { name: 'dst', memory: '512M' }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '1Gbit', latency: '50us' }],
    vms: [{
      name: 'td', host: 'src', type, memory, ...(type === 'tdx' ? { tdx: { firmware_accept: '2M' } } : {}),
      workload: { rate: '2M', pattern: 'uniform', base: '4M', working_set: '4M' },
      ...(ring ? { dirty_ring_size: ring } : {}), ...(mode ? { platform: { mode } } : {}),
    }],
    steps: [
      { do: 'cont', vm: 'td' },
      { do: 'run_until', time: '100ms' },
      { do: 'migrate', vm: 'td', to: 'dst', link: 'wan', ...(design ? { td_design: design } : {}), parameters: { 'max-bandwidth': '8MiB', 'downtime-limit': 100 }, ...extraMigrate },
      { do: 'run_until', vm: 'td', status: ['completed', 'failed'], time: '30s' },
      ...after,
    ],
  };
}

function run(s: TdSetup) {
  const r = ScenarioRun.fromJson(tdScenario(s));
  const report = r.runAll();
  return { r, report, m: r.world.migrations[0] as MigrationThread, names: r.trace.events.map((e) => `${e.host}:${e.name}`) };
}

describe('upstream: KVM refuses dirty logging on guest_memfd, so the migration fails in setup', () => {
  const { r, m, report, names } = run({ design: 'upstream', after: [{ do: 'query_migrate', vm: 'td' }, { do: 'run_until', time: '1s' }] });

  it("fails at once, with QEMU's error_report text as error-desc", () => {
    expect(m.status).toBe('failed');
    expect(report.results[4].value).toEqual({
      status: 'failed', rounds: 0,
      'error-desc': expect.stringMatching(/^kvm_set_user_memory_region: KVM_SET_USER_MEMORY_REGION2 failed, slot=0, start=0x0, size=0x1000000, flags=0x5, guest_memfd=\d+, guest_memfd_offset=0x0: Invalid argument$/),
    });
  });

  it('shows the refusal where it happens: KVM_SET_USER_MEMORY_REGION2, EINVAL, check_memory_region_flags()', () => {
    const refusal = r.trace.events.find((e) => e.host === 'src' && e.name === 'KVM_SET_USER_MEMORY_REGION2' && e.args.errno === 'EINVAL');
    expect(refusal?.layer).toBe('kvm');
    expect(refusal?.text).toMatch(/check_memory_region_flags\(\)/);
    expect(names).not.toContain('src:KVM_GET_DIRTY_LOG');
    expect(names).not.toContain('src:TDH.EXPORT.BLOCKW');
  });

  it('the source keeps running and the destination never starts', () => {
    const { src, dst } = m.vmms;
    expect(src.runState).toBe('running');
    expect(src.kernelOf(0).timed.stats.writes).toBeGreaterThan(1000);
    expect(dst.runState).toBe('inmigrate');
    expect(dst.vm.td!.lifecycle).toBe('initialized');
  });

  it('a TD in the talk platform mode takes the talk design unless the step says otherwise', () => {
    expect(run({ mode: 'talk' }).m.tdDesign).toBe('talk');
    expect(run({}).m.tdDesign).toBe('upstream');
  });
});

for (const design of ['tdx-module', 'talk'] as const) {
  describe(`${design}: the TD migrates`, () => {
    const { r, m, names, report } = run({ design, after: [{ do: 'query_migrate', vm: 'td' }, { do: 'read_migration_stream', vm: 'td', gpa: '0x400000', length: 16 }] });

    it('completes with every page equal on both hosts (private pages in the Secure EPT, shared ones in the VMM\'s memory)', () => {
      expect(m.status).toBe('completed');
      expect(m.mismatchedPages()).toEqual([]);
      const { src, dst } = m.vmms;
      expect(dst.vm.td!.lifecycle).toBe('runnable');
      expect(dst.vm.td!.mappedPages).toBe(src.vm.td!.mappedPages);
    });

    it("query-migrate counts the exported pages as normal; no page is a zero page (the host cannot tell)", () => {
      const q = report.results[4].value as { ram: { duplicate: number; normal: number } };
      expect(q.ram.duplicate).toBe(0);
      expect(q.ram.normal).toBe(m.td!.counts.exported + m.td!.counts.stateOnly);
      expect(m.td!.counts.exported).toBeGreaterThan(m.vmms.src.vm.td!.mappedPages);
    });

    it('the trace has the session, BLOCKW, bundles, UNBLOCKW on guest writes, epochs, PAUSE, the in-order TRACK refused then done, the import and the commit', () => {
      for (const n of ['src:TDH.SERVTD.BIND', 'dst:TDH.SERVTD.BIND', 'src:TDH.EXPORT.BLOCKW', 'src:TDH.MEM.TRACK', 'src:TDH.EXPORT.MEM', 'src:TDH.EXPORT.UNBLOCKW',
        'src:TDH.EXPORT.TRACK', 'src:TDH.EXPORT.PAUSE', 'dst:TDH.IMPORT.MEM', 'dst:TDH.IMPORT.TRACK', 'dst:TDH.IMPORT.COMMIT', 'dst:vm_start']) expect(names).toContain(n);
      const tracks = r.trace.events.filter((e) => e.name === 'TDH.EXPORT.TRACK' && e.args.inorder_done === 1);
      expect(tracks.map((e) => e.args.status ?? 'ok')).toEqual(['TDX_EXPORTED_DIRTY_PAGES_REMAIN', 'ok']);
      expect(r.trace.events.filter((e) => e.layer === 'tdx-module' && e.name.startsWith('TDH.EXPORT')).every((e) => /not upstream/.test(e.text))).toBe(true);
      expect(names.indexOf('src:TDH.EXPORT.PAUSE')).toBeLessThan(names.indexOf('dst:TDH.IMPORT.COMMIT'));
      expect(names.indexOf('dst:TDH.IMPORT.COMMIT')).toBeLessThan(names.indexOf('dst:vm_start'));
    });

    it(design === 'talk' ? "the host learns which private GPAs were written from guest_memfd's log" : 'the private dirty pages come through the slot\'s bitmap (Intel\'s KVM)', () => {
      if (design === 'talk') {
        const logs = r.trace.events.filter((e) => e.name === 'kvm_gmem_get_dirty_log');
        expect(logs.length).toBeGreaterThan(0);
        expect(String(logs[0].args.first)).toMatch(/^0x4/);
      } else expect(names).not.toContain('src:kvm_gmem_get_dirty_log');
    });

    it('a host reading the stream sees ciphertext and a MAC, never the guest\'s bytes', () => {
      const v = report.results[5].value as { view: string; hex: string; mac: string };
      expect(v.view).toBe('ciphertext');
      expect(v.mac).toMatch(/^[0-9a-f]{32}$/);
      // The guest's page at 0x400000 holds the workload's write numbers: small little-endian counters.
      const td = m.vmms.src.vm.td!;
      const plain = m.vmms.src.host.memory.bytesForRead(td.frameOf(0x400)).subarray(0, 16);
      expect(v.hex).not.toBe([...plain].map((x) => x.toString(16).padStart(2, '0')).join(' '));
    });

    it('the guest goes on writing on the destination', () => {
      const after = ScenarioRun.fromJson(tdScenario({ design, after: [{ do: 'run_until', time: '2s' }] }));
      after.runAll();
      const mm = after.world.migrations[0];
      expect(mm.vmms.dst.runState).toBe('running');
      expect(mm.vmms.dst.kernelOf(0).timed.stats.writes).toBeGreaterThan(mm.vmms.src.kernelOf(0).timed.stats.writes);
    });
  });
}

describe('a TD migration cancelled or cut in the middle', () => {
  it('aborts the export: the source TD is writable again and keeps running; the destination never runs', () => {
    const sc = tdScenario({ design: 'tdx-module' });
    sc.steps.splice(3, 1, { do: 'run_until', time: '300ms' }, { do: 'migrate_cancel', vm: 'td' }, { do: 'run_until', time: '1s' });
    const r = ScenarioRun.fromJson(sc);
    r.runAll();
    const m = r.world.migrations[0];
    expect(m.status).toBe('cancelled');
    const { src, dst } = m.vmms;
    expect(src.vm.td!.mig.phase).toBe('none');
    expect(src.vm.privateDirtyLog).toBe('none');
    expect(src.runState).toBe('running');
    expect(dst.vm.td!.lifecycle).toBe('initialized');
    expect(r.trace.events.map((e) => e.name)).toContain('TDH.EXPORT.ABORT');
  });
});

describe.each(['tdx-module', 'talk'])('a snapshot in the middle of a TD migration (%s)', (design) => {
  it('restores and goes on with the same report as the run whole', () => {
    const sc = tdScenario({ design, after: [{ do: 'run_until', time: '1500ms' }] });
    const text = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
    const whole = text(ScenarioRun.fromJson(sc).runAll());
    const r = ScenarioRun.fromJson(sc);
    while (!r.done && !((r.world.migrations[0]?.stats.transferred ?? 0) > 2 * 1024 * 1024)) r.advance(9);
    expect(r.world.migrations[0].status).toBe('active');
    const restored = restoreRun(sc, structuredClone(snapshotRun(r)));
    expect(text(restored.runAll())).toBe(whole);
  });
});

describe('bad input is refused with its JSON path, before anything runs', () => {
  const refuse = (s: TdSetup) => {
    try {
      ScenarioRun.fromJson(tdScenario(s));
    } catch (e) {
      expect(e).toBeInstanceOf(ScenarioError);
      return (e as ScenarioError).message;
    }
    throw new Error('accepted');
  };
  it('a design on an ordinary VM, the module on a software-protected VM, an unknown design, a TD design with the dirty ring', () => {
    expect(refuse({ type: 'default', design: 'talk' })).toMatch(/^\$\.steps\[2\]\.td_design: VM "td" is an ordinary VM/);
    expect(refuse({ type: 'sw-protected', design: 'tdx-module' })).toMatch(/^\$\.steps\[2\]\.td_design: "tdx-module" migrates a TD through the TDX module/);
    expect(refuse({ design: 'magic' })).toMatch(/\$\.steps\[2\]\.td_design/);
    expect(refuse({ design: 'talk', ring: 4096 })).toMatch(/^\$\.steps\[2\]\.td_design: .*dirty ring/);
  });
});
