/**
 * The migration panel's page states (page-states.ts), through the Lab the worker uses: what the maps
 * show agrees with the migration's own counters at every point, a view patched chunk by chunk equals
 * one computed afresh, and the dirty ring's pending entries count as dirtied again.
 */
import { describe, expect, it } from 'vitest';
import { MigrationPageState as S } from '../../core/migration-page-state';
import { PAGE_SIZE } from '../../core/units';
import { Lab, MAX_FRAME_ROUNDS } from '../../lab';
import { presetById } from '../../../scenarios';
import { newMigrationPageView, updateMigrationPageView } from './page-states';
import type { MigrationThread } from './migration';

const count = (a: Uint8Array, code: number) => a.reduce((n, x) => n + (x === code ? 1 : 0), 0);

/** A Lab of the preset, advanced `slices` times by `n` instructions' worth (or whole steps when n = 0). */
function labAt(preset: string, steps: number): Lab {
  const lab = new Lab(presetById(preset));
  for (let i = 0; i < steps; i++) lab.step();
  return lab;
}

/** The facts every point of a migration must show: the maps agree with bmap, query-migrate and each other. */
function checkAgainstMigration(lab: Lab, id = 0) {
  const m = lab.run.world.migrations[id] as MigrationThread;
  const { src, dst, counts } = lab.migrationPageStates(id);
  expect(src.length).toBe(m.npages);
  // The pages still to send (bits in bmap) are exactly the unsent and the dirty-since-sync ones.
  let inBmap = 0;
  for (let p = 0; p < m.npages; p++) inBmap += (m.bmap[p >>> 5] >>> (p & 31)) & 1;
  if (m.status !== 'setup') expect(count(src, S.SRC_UNSENT) + count(src, S.SRC_DIRTY)).toBe(inBmap);
  const info = m.info(lab.run.clock.now);
  if (info.ram && m.status !== 'completed') expect(inBmap * PAGE_SIZE).toBe(info.ram.remaining);
  // Every source state has its destination counterpart.
  const want: Record<number, number> = { [S.SRC_UNSENT]: S.DST_AWAITING, [S.SRC_DIRTY]: S.DST_STALE, [S.SRC_REDIRTIED]: S.DST_STALE, [S.SRC_CLEAN]: S.DST_ARRIVED };
  const wrong: number[] = [];
  for (let p = 0; p < m.npages; p++) if (want[src[p]] !== undefined && dst[p] !== want[src[p]]) wrong.push(p);
  expect(wrong).toEqual([]);
  // The counts the legend prints are the arrays' own.
  for (let code = 1; code <= 10; code++) expect(counts[code]).toBe(count(code < 7 ? src : dst, code));
  return { m, src, dst, counts };
}

describe('the migration page maps (precopy-converges)', () => {
  it('before the migration starts: nothing sent, nothing arrived', () => {
    const lab = labAt('precopy-converges', 3); // cont, run_until 100ms, migrate
    const { src, dst, m } = checkAgainstMigration(lab);
    // The migration thread has not run yet (setup is its first act).
    expect(m.status).toBe('setup');
    expect(count(src, S.SRC_UNSENT)).toBe(m.npages);
    expect(count(dst, S.DST_AWAITING)).toBe(m.npages);
  });

  it('mid round 0: sent pages behind the scan, unsent ahead of it, zero pages where the guest never wrote', () => {
    const lab = labAt('precopy-converges', 4); // ... run_until 600ms
    const { src, dst, m } = checkAgainstMigration(lab);
    expect(m.rounds.length).toBe(0);
    const sent = m.npages - count(src, S.SRC_UNSENT);
    expect(sent).toBeGreaterThan(1000);
    for (let p = m.scan; p < m.npages; p++) expect(src[p]).toBe(S.SRC_UNSENT);
    // The guest's working set is 4..28 MiB: below 4 MiB nothing was written, so those pages went out as zero pages.
    const lowZero = Array.from(src.subarray(0, 1024)).filter((x) => x === S.SRC_ZERO).length;
    expect(lowZero).toBeGreaterThan(900);
    // A zero page allocates nothing on the destination (unless the source page had been written with zeros).
    expect(count(dst, S.DST_ZERO)).toBeGreaterThan(900);
    expect(count(dst, S.DST_ARRIVED) + count(dst, S.DST_ZERO) + count(dst, S.DST_STALE)).toBe(sent);
    // The sequential writer dirties pages it already sent: some are dirtied again this pass.
    expect(count(src, S.SRC_REDIRTIED)).toBeGreaterThan(0);
    // The batch on the link shows as being sent, just behind the scan.
    const sending = count(src, S.SRC_SENDING);
    if (sending > 0) expect(src[m.scan - 1]).toBe(S.SRC_SENDING);
  });

  it('completed: every page arrived, nothing left to send', () => {
    const lab = labAt('precopy-converges', 6);
    const { src, dst, m } = checkAgainstMigration(lab);
    expect(m.status).toBe('completed');
    expect(count(src, S.SRC_UNSENT) + count(src, S.SRC_DIRTY) + count(src, S.SRC_REDIRTIED)).toBe(0);
    expect(count(dst, S.DST_AWAITING) + count(dst, S.DST_STALE)).toBe(0);
    expect(count(dst, S.DST_ARRIVED) + count(dst, S.DST_ZERO)).toBe(m.npages);
    expect(count(dst, S.DST_ZERO)).toBeLessThanOrEqual(count(src, S.SRC_ZERO));
  });

  it('a view patched chunk by chunk along the run equals one computed afresh at each point', () => {
    // The lesson with a stop every 50 ms of virtual time from the migrate step on (its writes are timed).
    const preset = structuredClone(presetById('precopy-converges')) as { steps: unknown[] };
    preset.steps.splice(3, 0, ...Array.from({ length: 45 }, (_, k) => ({ do: 'run_until', time: 150_000_000 + k * 50_000_000 })));
    const lab = new Lab(preset);
    for (let i = 0; i < 3; i++) lab.step();
    const m = lab.run.world.migrations[0] as MigrationThread;
    const seen = new Set<number>();
    for (let i = 0; i < 50 && !m.finished; i++) {
      lab.step();
      const { src, dst } = lab.migrationPageStates(0);
      for (const x of src) seen.add(x);
      const fresh = newMigrationPageView(m.npages);
      updateMigrationPageView(m, fresh, 0);
      // Only "being sent" depends on the link; everything else is the same page for page.
      const differ: number[] = [];
      for (let p = 0; p < m.npages; p++) if ((src[p] !== S.SRC_SENDING && src[p] !== fresh.src[p]) || dst[p] !== fresh.dst[p]) differ.push(p);
      expect(differ).toEqual([]);
    }
    // The run went through every source state.
    for (const code of [S.SRC_UNSENT, S.SRC_DIRTY, S.SRC_CLEAN, S.SRC_REDIRTIED, S.SRC_ZERO]) expect(seen).toContain(code);
  });

  it('after a seek back the maps are those of the earlier moment', () => {
    const lab = new Lab(presetById('precopy-converges'));
    for (let i = 0; i < 4; i++) lab.step();
    const at = lab.run.trace.count - 1;
    const before = Array.from(lab.migrationPageStates(0).src);
    lab.step();
    lab.step();
    expect(Array.from(lab.migrationPageStates(0).src)).not.toEqual(before);
    lab.seek(at);
    expect(Array.from(lab.migrationPageStates(0).src)).toEqual(before);
  });
});

describe('with the KVM dirty ring (dirty_ring_size)', () => {
  it('pages on the rings or in the reaper\'s bitmap count as dirtied again, and the maps agree with bmap', () => {
    const lab = new Lab({
      version: 2, title: 'ring', seed: 1,
      hosts: [{ name: 'src', memory: '256M' }, { name: 'dst', memory: '256M' }],
      links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '16MiB', latency: '50us' }],
      vms: [{ name: 'guest', host: 'src', type: 'default', memory: '16M', dirty_ring_size: 4096, workload: { rate: '2M', pattern: 'uniform', working_set: '8M' } }],
      steps: [
        { do: 'cont', vm: 'guest' },
        { do: 'run_until', time: '50ms' },
        { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', parameters: { 'downtime-limit': 50 } },
        // Stop every 25 ms of virtual time to look (the guest's writes are timed, not instruction-bound).
        ...Array.from({ length: 40 }, (_, k) => ({ do: 'run_until', time: 75_000_000 + k * 25_000_000 })),
        { do: 'run_until', vm: 'guest', status: 'completed', time: '30s' },
      ],
    });
    let redirtied = 0;
    let checked = 0;
    while (!lab.done) {
      lab.step();
      const m = lab.run.world.migrations[0] as MigrationThread | undefined;
      if (!m || m.finished || m.status === 'setup') continue;
      expect(m.dirty.kind).toBe('ring');
      redirtied += checkAgainstMigration(lab).counts[S.SRC_REDIRTIED];
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
    expect(redirtied).toBeGreaterThan(0);
  });
});

describe('what a frame carries of migrations', () => {
  it('a capped tail of the rounds and their total, and the routes the controls use', () => {
    const lab = labAt('precopy-hot-set', 4); // the first migration, five seconds that never converge
    const f = lab.frame();
    const v = f.migrations[0];
    const m = lab.run.world.migrations[0] as MigrationThread;
    expect(v.roundCount).toBe(m.rounds.length);
    expect(v.rounds.length).toBe(Math.min(m.rounds.length, MAX_FRAME_ROUNDS));
    expect(v.rounds.at(-1)).toEqual(m.rounds.at(-1));
    expect(v.roundsFrom + v.rounds.length).toBe(v.roundCount);
    expect(v.rounds[0].round).toBe(v.roundsFrom);
    expect(v.npages).toBe(m.npages);
    // The round in progress holds every byte the finished rounds do not.
    expect(v.current!.round).toBe(m.rounds.length);
    expect(v.current!.bytes + m.rounds.reduce((n, r) => n + r.bytes, 0)).toBe(m.stats.transferred);
    expect(f.migrationRoutes).toEqual([expect.objectContaining({ vm: 'guest', host: 'src', to: 'dst', link: 'wan', runState: 'running', dirtyRing: false })]);
  });
});

describe('migrate_set_capabilities', () => {
  it('is refused with QEMU\'s message while a migration runs, and sets the next migration\'s capabilities otherwise', () => {
    const lab = labAt('precopy-hot-set', 4);
    const on = { do: 'migrate_set_capabilities', vm: 'guest', capabilities: [{ capability: 'auto-converge', state: true }] };
    const r = lab.command(on);
    expect(r).toMatchObject({ ret: -1, errno: 'EBUSY', why: "There's a migration process in progress" });
    const tr = lab.run.trace;
    expect(tr.range(tr.count - 3, tr.count).map((e) => e.name)).toContain('migrate-set-capabilities');
    lab.command({ do: 'migrate_cancel', vm: 'guest' });
    lab.command({ do: 'run_until', vm: 'guest', status: 'cancelled', time: '10s' });
    expect(lab.command(on)).toMatchObject({ ret: 0, value: { 'auto-converge': true } });
    expect(lab.frame().migrationRoutes[0].capabilities['auto-converge']).toBe(true);
    // dirty-limit needs the dirty ring, with QEMU's text.
    const dl = lab.command({ do: 'migrate_set_capabilities', vm: 'guest', capabilities: [{ capability: 'auto-converge', state: false }, { capability: 'dirty-limit', state: true }] });
    expect(dl).toMatchObject({ ret: -1, errno: 'EINVAL', why: "dirty-limit requires KVM with accelerator property 'dirty-ring-size' set" });
    // The next migrate uses auto-converge.
    lab.command({ do: 'migrate', vm: 'guest', to: 'dst', link: 'wan' });
    expect(lab.run.world.migrations[1].capabilities['auto-converge']).toBe(true);
  });

  it('turns dirty-limit on for a VM with a dirty ring, and refuses it beside auto-converge with QEMU\'s text', () => {
    const lab = new Lab(presetById('precopy-dirty-limit'));
    const set = (capability: string, state: boolean) => lab.command({ do: 'migrate_set_capabilities', vm: 'guest', capabilities: [{ capability, state }] });
    expect(set('dirty-limit', true)).toMatchObject({ ret: 0, value: { 'dirty-limit': true } });
    expect(set('auto-converge', true)).toMatchObject({ ret: -1, errno: 'EINVAL', why: 'dirty-limit conflicts with auto-converge either of then available currently' });
    expect(lab.frame().migrationRoutes[0]).toMatchObject({ dirtyRing: true, capabilities: { 'dirty-limit': true, 'auto-converge': false } });
  });
});

describe('a TD (the td-migration lesson)', () => {
  it('a migration refused in its setup sent nothing; the TDX module\'s sends private pages as ciphertext, never as zero pages', () => {
    const lab = new Lab(presetById('td-migration'));
    while (!lab.done) lab.step();
    const ms = lab.run.world.migrations as MigrationThread[];
    const failed = ms.findIndex((m) => m.status === 'failed' && m.stats.dirtySyncCount === 0);
    expect(failed).toBeGreaterThanOrEqual(0);
    const f = lab.migrationPageStates(failed).counts;
    expect(f[S.SRC_UNSENT]).toBe(ms[failed].npages);
    expect(f[S.DST_AWAITING]).toBe(ms[failed].npages);
    const td = ms.findIndex((m) => m.td !== null && m.status === 'completed');
    expect(td).toBeGreaterThanOrEqual(0);
    const { src, counts } = lab.migrationPageStates(td);
    const m = ms[td];
    let privateZero = 0;
    let privatePages = 0;
    for (let p = 0; p < m.npages; p++) {
      if (!m.td!.owns(p)) continue;
      privatePages++;
      if (src[p] === S.SRC_ZERO) privateZero++;
    }
    expect(privatePages).toBeGreaterThan(0);
    expect(privateZero).toBe(0);
    expect(counts[S.DST_AWAITING] + counts[S.DST_STALE]).toBe(0);
  });
});

describe('a software-protected VM (the postcopy-private-memory lesson)', () => {
  it('its private pages are read from guest_memfd: the ones the guest wrote are not "sent as zero page"', () => {
    // Up to the switch to post-copy: the talk's design has pre-copied its private working set.
    const lab = labAt('postcopy-private-memory', 15);
    const ms = lab.run.world.migrations as MigrationThread[];
    const id = ms.findIndex((m) => m.vmms.src.desc.name === 'talk');
    const m = ms[id];
    expect(m.status).toBe('active');
    const { src } = lab.migrationPageStates(id);
    let written = 0;
    let shownZero = 0;
    for (let p = 0; p < m.npages; p++) {
      if (!m.priv!.owns(p) || (m.bmap[p >>> 5] >>> (p & 31)) & 1) continue;
      const f = m.priv!.srcFrame(p);
      if (f < 0 || m.vmms.src.host.memory.pageToken(f) === 0) continue;
      written++;
      if (src[p] === S.SRC_ZERO) shownZero++;
    }
    expect(written).toBeGreaterThan(100);
    expect(shownZero).toBe(0);
  });
});

describe('after the switch to post-copy (the postcopy-faults lesson)', () => {
  it("the source's map shows what is only on the source, not pre-copy's dirty states", () => {
    // Through step 8: guest-a is postcopy-active, its guest stopped on src and running on dst.
    const lab = labAt('postcopy-faults', 9);
    const m = lab.run.world.migrations[0] as MigrationThread;
    expect(m.status).toBe('postcopy-active');
    const { src, counts } = lab.migrationPageStates(0);
    let inBmap = 0;
    for (let p = 0; p < m.npages; p++) {
      const bit = (m.bmap[p >>> 5] >>> (p & 31)) & 1;
      inBmap += bit;
      if (bit) expect(src[p]).toBe(S.SRC_UNSENT);
    }
    expect(inBmap).toBeGreaterThan(0);
    expect(counts[S.SRC_UNSENT]).toBe(inBmap);
    expect(counts[S.SRC_DIRTY] + counts[S.SRC_REDIRTIED]).toBe(0);
  });
});
