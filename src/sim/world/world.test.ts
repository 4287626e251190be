import { describe, expect, test } from 'vitest';
import { MiB } from '../core/units';
import { World } from './world';

const world = () => new World({
  seed: 7,
  hosts: [{ name: 'src', memoryBytes: 256 * MiB }, { name: 'dst', memoryBytes: 512 * MiB }],
  links: [{ name: 'wire', from: 'src', to: 'dst', bandwidth: 1_250_000_000, latency: 50_000 }],
});

describe('World', () => {
  test('each host has its own memory, KVM and selftest process; they share the clock and the trace', () => {
    const w = world();
    const [src, dst] = w.hosts;
    expect(w.host('dst')).toBe(dst);
    expect(src.host.memory.nframes).toBe(256 * MiB / 4096);
    expect(dst.host.memory.nframes).toBe(512 * MiB / 4096);
    expect(src.kvm).not.toBe(dst.kvm);
    expect(src.kvm.tdx).not.toBe(dst.kvm.tdx);
    expect(src.selftest.name).toBe('kvm-selftest');
    expect(src.host.clock).toBe(w.clock);
    src.kvm.createVm(0, 'a', src.selftest.pid);
    w.clock.advance(10);
    dst.kvm.createVm(0, 'b', dst.selftest.pid);
    expect(w.trace.events.map((e) => [e.t, e.host, e.vm, e.name])).toEqual([[0, 'src', 'a', 'KVM_CREATE_VM'], [10, 'dst', 'b', 'KVM_CREATE_VM']]);
  });

  test('asking for a host that does not exist names the hosts there are', () => {
    expect(() => world().host('dts')).toThrow('no host named "dts" (hosts: src, dst)');
  });

  test('links start up, as actors of the scheduler, and their events name the host they start from', () => {
    const w = world();
    expect(w.links.map(({ name, from, to, bandwidth, latency, state }) => ({ name, from, to, bandwidth, latency, state })))
      .toEqual([{ name: 'wire', from: 'src', to: 'dst', bandwidth: 1_250_000_000, latency: 50_000, state: 'up' }]);
    expect(w.scheduler.actors).toContain(w.link('wire'));
    const t = w.link('wire').send(1_250_000, 'page');
    w.runUntil(10_000_000);
    expect(t.state).toBe('delivered');
    expect(w.clock.now).toBe(10_000_000);
    expect(w.trace.events.map((e) => [e.host, e.name])).toEqual([['src', 'link_send'], ['src', 'link_delivered']]);
    expect(() => w.link('lan')).toThrow(/no link named "lan" \(links: wire\)/);
  });

  test('the same seed gives the same random numbers', () => {
    const a = world();
    const b = world();
    expect([a.rng.u32(), a.rng.u32()]).toEqual([b.rng.u32(), b.rng.u32()]);
  });
});
