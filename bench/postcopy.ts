/**
 * Section 7 of the benchmark: post-copy (src/sim/vmm/migration/postcopy.ts).
 *
 *   a. A 16 GiB guest in use with a hot-set workload, switched to post-copy after 1 s of pre-copy,
 *      with max-postcopy-bandwidth 128 MiB/s (the pre-copy bench's rate, so the two compare): the
 *      destination places about four million pages, most in the background, some for a faulting vCPU.
 *      Simulated seconds per wall second from the switch to completion (budget: at least 100).
 *   b. Faults served per wall second: a 1 GiB guest writing 256 MiB/s at random over 768 MiB,
 *      switched as soon as its working set is in use, with postcopy-preempt and max-postcopy-bandwidth
 *      64 MiB/s, so that most touches are faults served over the link.
 *
 * As in section 6 the guest's memory is "in use" through content tokens, without stored bytes.
 */
import { GiB, PAGE_SIZE } from '../src/sim/core/units';
import { ScenarioRun } from '../src/sim/scenario/runner';
import { check, fmtBytes, table, timed } from './util';

export interface PostcopyBenchResult {
  guestBytes: number;
  virtualSeconds: number;
  wallSeconds: number;
  simSecondsPerWallSecond: number;
  /** CPU seconds the process used meanwhile (a loaded machine stretches wall time, much less CPU time). */
  cpuSeconds: number;
  faults: number;
  placed: number;
  faultBench: { faults: number; wallSeconds: number; faultsPerWallSecond: number; virtualSeconds: number; latencyNs: number };
}

function fillTokens(run: ScenarioRun, guestBytes: number): void {
  const v = run.vmms.get('guest')!;
  const mem = v.host.memory;
  const base = v.ram[0].hva - v.ram[0].gmemOffset;
  for (let p = 0; p < guestBytes / PAGE_SIZE; p++) {
    const hva = base + p * PAGE_SIZE;
    const f = v.process.lookup(hva);
    if (f >= 0 && mem.hasData(f)) continue;
    mem.writeToken(f >= 0 ? f : v.process.fault(hva, 'process', 0));
  }
  v.vcpus[0].flushTlb();
}

export function runPostcopyBench(guestBytes: number, progress: (s: string) => void): { result: PostcopyBenchResult; text: string } {
  const hostBytes = guestBytes + 4 * GiB;
  const run = ScenarioRun.fromJson({
    version: 2, title: 'bench: post-copy of a 16 GiB guest', seed: 1,
    hosts: [{ name: 'src', memory: hostBytes }, { name: 'dst', memory: hostBytes }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '10Gbit', latency: '50us' }],
    vms: [{ name: 'guest', host: 'src', type: 'default', memory: guestBytes,
      workload: { rate: '256K', pattern: 'hot-set', base: '4M', working_set: '64M', prefill: false, cpu_bound: true } }],
    steps: [
      { do: 'cont', vm: 'guest' },
      { do: 'run_until', time: '10ms' },
      { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', capabilities: ['postcopy-ram', 'postcopy-blocktime'], parameters: { 'max-postcopy-bandwidth': '128MiB' } },
      { do: 'run_until', time: '1010ms' },
      { do: 'migrate_start_postcopy', vm: 'guest' },
      { do: 'run_until', vm: 'guest', status: 'postcopy-active', time: '10s' },
      // A run_until stops at the world's work budget (about a million pages a step): the next goes on.
      ...Array.from({ length: 8 }, () => ({ do: 'run_until', vm: 'guest', status: ['completed', 'failed'], time: '600s' })),
    ],
  });
  progress(`post-copy: filling ${fmtBytes(guestBytes)} of guest memory with tokens`);
  run.step();
  run.step();
  fillTokens(run, guestBytes);
  for (let i = 0; i < 4; i++) run.step();
  const m = run.world.migrations[0];
  check(m.status === 'postcopy-active', `the switch did not happen (status ${m.status})`);
  const t0 = run.clock.now;
  progress('post-copy: the destination runs while 16 GiB arrive at 128 MiB/s');
  const cpu0 = process.cpuUsage();
  const [, wallMs] = timed(() => {
    while (!run.done && (m.status as string) !== 'completed' && (m.status as string) !== 'failed') run.step();
  });
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  check((m.status as string) === 'completed', `the post-copy did not complete (status ${m.status}: ${m.error})`);
  const virtualSeconds = (run.clock.now - t0) / 1e9;
  const c = m.incoming.counts;

  // b. faults per wall second
  const fr = ScenarioRun.fromJson({
    version: 2, title: 'bench: post-copy faults', seed: 2,
    hosts: [{ name: 'src', memory: '2G' }, { name: 'dst', memory: '2G' }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '10Gbit', latency: '20us' }],
    vms: [{ name: 'guest', host: 'src', type: 'default', memory: '1G', workload: { rate: '256M', pattern: 'uniform', working_set: '768M', cpu_bound: true } }],
    steps: [
      { do: 'cont', vm: 'guest' },
      { do: 'run_until', time: '900ms' },
      { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', capabilities: ['postcopy-ram', 'postcopy-blocktime', 'postcopy-preempt'], parameters: { 'max-postcopy-bandwidth': '64MiB' } },
      { do: 'migrate_start_postcopy', vm: 'guest' },
      { do: 'run_until', vm: 'guest', status: 'postcopy-active', time: '10s' },
      { do: 'run_until', time: '4s' },
    ],
  });
  progress('post-copy faults: a guest writing at random while its memory is still on the source');
  for (let i = 0; i < 5; i++) fr.step();
  const fm = fr.world.migrations[0];
  const f0 = fm.incoming.counts.faults;
  const v0 = fr.clock.now;
  if (process.env.GML_BENCH_POSTCOPY_ONLY_A) return { result: { guestBytes, virtualSeconds, wallSeconds: wallMs / 1000, simSecondsPerWallSecond: virtualSeconds / (wallMs / 1000), cpuSeconds, faults: 0, placed: 0, faultBench: { faults: 0, wallSeconds: 0, faultsPerWallSecond: 0, virtualSeconds: 0, latencyNs: 0 } }, text: `${virtualSeconds} virtual s in ${wallMs} ms wall, ${cpuSeconds} s CPU` };
  const [, fWallMs] = timed(() => fr.step());
  const faults = fm.incoming.counts.faults - f0;
  const info = fm.incoming.info(true, fr.clock.now);
  const faultBench = { faults, wallSeconds: fWallMs / 1000, faultsPerWallSecond: faults / (fWallMs / 1000), virtualSeconds: (fr.clock.now - v0) / 1e9, latencyNs: info['postcopy-latency'] ?? 0 };

  const result: PostcopyBenchResult = {
    guestBytes, virtualSeconds, wallSeconds: wallMs / 1000, simSecondsPerWallSecond: virtualSeconds / (wallMs / 1000), cpuSeconds,
    faults: c.faults, placed: c.placedBackground + c.placedFault, faultBench,
  };
  const text = [
    `7. Post-copy: a ${fmtBytes(guestBytes)} guest in use, hot-set workload, switched after 1 s, max-postcopy-bandwidth 128 MiB/s`,
    '   (budget: at least 100 simulated seconds per wall second); and faults served per wall second',
    table([
      ['figure', 'value'],
      ['virtual time from the switch to completion', `${virtualSeconds.toFixed(1)} s (${result.placed.toLocaleString('en')} pages placed, ${c.faults} faults, ${c.zero.toLocaleString('en')} zero)`],
      ['wall time (CPU time)', `${(wallMs / 1000).toFixed(2)} s (${cpuSeconds.toFixed(2)} s)`],
      ['simulated s per wall s', result.simSecondsPerWallSecond.toFixed(1)],
      ['faults served (1 GiB guest, random writes, preempt)', `${faults.toLocaleString('en')} in ${faultBench.virtualSeconds.toFixed(2)} virtual s, ${faultBench.wallSeconds.toFixed(2)} wall s`],
      ['faults served per wall second', faultBench.faultsPerWallSecond.toFixed(0)],
      ['mean fault latency (postcopy-latency)', `${(faultBench.latencyNs / 1000).toFixed(1)} us`],
    ]),
  ].join('\n');
  return { result, text };
}
