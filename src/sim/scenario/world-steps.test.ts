/**
 * World-level steps through the scenario: run_until, links cut and restored at virtual times,
 * transfers, stop/cont and the throttle, and the wall-cost claim of rate workloads.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../scenarios';
import { ScenarioError } from './fields';
import { ScenarioRun } from './runner';

const SEC = 1_000_000_000;

function world(steps: unknown[], vms: unknown[] = [], extra: Record<string, unknown> = {}) {
  return ScenarioRun.fromJson({
    version: 2, title: 'world steps', seed: 1,
    hosts: [{ name: 'a', memory: '256M' }, { name: 'b', memory: '256M' }],
    links: [{ name: 'wan', from: 'a', to: 'b', bandwidth: 1_000_000_000, latency: 1000 }],
    vms, steps, ...extra,
  });
}

const dirtyVm = (rate: number, duration: number) => ({
  name: 'g', host: 'a', type: 'default', memory: '16M',
  program: ['_start: mov rdi, 0x800000', 'mov rsi, 0x100000', `mov rdx, ${rate}`, 'mov rcx, 0', `mov r8, ${duration}`, 'mov r9, 3', 'call dirty_memory', 'hlt'],
});

describe('rate workloads cost their writes, not their waiting', () => {
  it('the same 200 page writes over 1 s and over 100 s of virtual time: the same instructions, actors run and events', () => {
    const run = (seconds: number) => {
      const r = world([{ do: 'cont', vm: 'g' }, { do: 'run_until', time: `${seconds + 1}s` }], [dirtyVm((200 * 4096) / seconds, seconds * SEC)]);
      r.runAll();
      const vcpu = r.report().summary.vms[0].vcpus[0];
      return { vcpu, steps: r.world.scheduler.steps, events: r.trace.count, now: r.clock.now };
    };
    const fast = run(1);
    const slow = run(100);
    expect(slow.now).toBe(101 * SEC);
    expect(slow.vcpu.instructions).toBe(fast.vcpu.instructions);
    expect(slow.steps).toBe(fast.steps);
    expect(slow.events).toBe(fast.events);
    expect(slow.vcpu.state).toBe('halted');
    expect(slow.vcpu.time.halted).toBeGreaterThan(100 * SEC - 0.1 * SEC);
  });
});

describe('links through steps', () => {
  it('a send on a cut link fails with ENETDOWN; one cut in flight fails with ECONNRESET at the cut; after link_up it arrives', () => {
    const r = world([
      { do: 'link_down', link: 'wan' },
      { do: 'link_send', link: 'wan', bytes: 4096 },
      { do: 'link_up', link: 'wan' },
      { do: 'link_down', link: 'wan', after: '1ms' },
      { do: 'link_send', link: 'wan', bytes: '4M', wait: true },
      { do: 'link_up', link: 'wan', at: '10ms' },
      { do: 'run_until', time: '10ms' },
      { do: 'link_send', link: 'wan', bytes: 1_000_000, wait: true },
      { do: 'run_until', time: '1ms' },
    ]);
    r.runAll();
    const res = r.results;
    expect(res[1]).toMatchObject({ ret: -1, errno: 'ENETDOWN' });
    expect(res[4]).toMatchObject({ ret: -1, errno: 'ECONNRESET', value: { state: 'failed', ended_at: 1_000_000 } });
    expect(res[7]).toMatchObject({ ret: 1_000_000, value: { state: 'delivered', sent_at: 10_000_000, ended_at: 10_000_000 + 1_000_000 + 1000 } });
    expect(res[8]).toMatchObject({ ret: -1, errno: 'EINVAL' });
    // The link's own events (a step's failure is reported apart, by the world, with its errno).
    const link = r.trace.events.filter((e) => e.layer === 'link' && e.args.errno === undefined);
    expect(link.every((e) => e.host === 'a')).toBe(true);
    expect(link.map((e) => e.name)).toEqual(['link_down', 'link_send', 'link_up', 'link_send', 'link_down', 'link_transfer_failed', 'link_up', 'link_send', 'link_delivered']);
  });

  it('a step naming a link that does not exist is a scenario error naming the links, when the scenario is loaded', () => {
    expect(() => world([{ do: 'link_down', link: 'lan' }])).toThrow(ScenarioError);
    expect(() => world([{ do: 'link_up', link: 'lan' }])).toThrow(/^\$\.steps\[0\]\.link: no link named "lan" \(links: "wan"\)$/);
  });
});

describe('stop, cont and the throttle through steps', () => {
  it('a stopped VM does not run in run_until; cont resumes it; the throttle is clamped as cpu_throttle_set clamps it', () => {
    const r = world([
      { do: 'cont', vm: 'g' },
      { do: 'stop', vm: 'g' },
      { do: 'run_until', time: '100ms' },
      { do: 'run', vm: 'g' },
      { do: 'cont', vm: 'g' },
      { do: 'set_cpu_throttle', vm: 'g', pct: 100 },
      { do: 'run_until', time: '200ms' },
    ], [dirtyVm(1_000_000, SEC)]);
    r.runAll();
    expect(r.results[3].value).toMatchObject({ stop: 'paused', instructions: 0 });
    expect(r.results[5].value).toEqual({ pct: 99 });
    const v = r.report().summary.vms[0].vcpus[0];
    expect(v.time.paused).toBeGreaterThanOrEqual(100_000_000 - 100_000);
    expect(v.time.sleeping).toBeGreaterThan(0);
    expect(r.trace.events.map((e) => e.name)).toContain('cpu_throttle_thread');
  });
});

describe('the two-hosts preset', () => {
  it('runs both guests to the end of their workload, fails the transfer the cut caught, and reports each vCPU', () => {
    const r = ScenarioRun.fromJson(PRESETS['two-hosts']);
    const report = r.runAll();
    expect(report.results.find((x) => x.do === 'run_until')?.ret).toBe(0);
    expect(report.summary.links[0]).toMatchObject({ state: 'up', stats: { delivered: 2, failed: 1, cuts: 1 } });
    const done = report.events.filter((e) => e.name === 'dirty_memory' && e.args.status === 'done');
    expect(done.map((e) => [e.host, e.vm])).toEqual([['src', 'guest-src'], ['dst', 'guest-dst']]);
    expect(report.summary.vms.map((v) => v.vcpus.map((c) => c.state))).toEqual([['halted'], ['halted']]);
    expect(report.summary.vms[0].vcpus[0].time.sleeping).toBeGreaterThan(0);
    expect(report.summary.time_ns).toBe(2_500_000_000);
  });
});
