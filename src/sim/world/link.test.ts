import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../test-properties';
import { Clock } from '../core/clock';
import { Link, type Transfer } from './link';
import { Scheduler } from './scheduler';
import { loadGraph, saveGraph } from '../core/state';


function setup(bandwidth = 125_000_000, latency = 50_000) {
  const clock = new Clock();
  const s = new Scheduler(clock);
  const events: { name: string; text: string }[] = [];
  const link = new Link({ name: 'wan', from: 'src', to: 'dst', bandwidth, latency }, clock, (name, _args, text) => events.push({ name, text }));
  s.add(link);
  return { clock, s, link, events };
}

describe('Link', () => {
  it('delivers at start + bytes / bandwidth + latency, one transfer after another', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1000, max: 10_000_000_000 }), fc.nat(10_000_000),
      fc.array(fc.tuple(fc.nat(1_000_000), fc.nat(50_000_000)), { minLength: 1, maxLength: 6 }),
      (bandwidth, latency, sends) => {
        const { clock, s, link } = setup(bandwidth, latency);
        const got: Transfer[] = [];
        link.handlers.set('got', (t) => got.push(t));
        let free = 0;
        const expected: number[] = [];
        for (const [gap, bytes] of sends) {
          s.runUntil(clock.now + gap);
          const start = Math.max(clock.now, free);
          const wire = Math.ceil((bytes * 1e9) / bandwidth);
          free = start + wire;
          expected.push(start + wire + latency);
          link.send(bytes, 'page', { kind: 'got', args: {} });
        }
        while (s.step()) { /* deliver everything */ }
        expect(got.map((t) => t.state)).toEqual(sends.map(() => 'delivered'));
        expect(got.map((t) => t.endedAt)).toEqual(expected);
        expect(link.stats.bytesDelivered).toBe(sends.reduce((n, [, b]) => n + b, 0));
      }), propertyRuns(0x11c0));
  });

  it('a cut fails every transfer in flight, and the sender learns it at the cut', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 10_000_000 }), { minLength: 1, maxLength: 8 }), fc.nat(200_000_000), (sizes, cutAt) => {
      const { clock, s, link } = setup();
      const ends: Transfer[] = [];
      link.handlers.set('end', (t) => ends.push(t));
      const ts = sizes.map((b) => link.send(b, 'page', { kind: 'end', args: {} }));
      s.at(cutAt, 'cut', () => link.cut('test'));
      while (s.step()) { /* to the end */ }
      for (const t of ts) {
        if (t.deliverAt <= cutAt) expect(t.state).toBe('delivered');
        else {
          expect(t.state).toBe('failed');
          expect(t.endedAt).toBe(cutAt);
        }
      }
      expect(ends).toHaveLength(ts.length);
      expect(clock.now).toBe(Math.max(cutAt, ...ts.filter((t) => t.state === 'delivered').map((t) => t.deliverAt)));
    }), propertyRuns(0x11c1));
  });

  it('a send on a cut link fails at once; after a restore sends go through again', () => {
    const { s, link, events } = setup(1_000_000_000, 1000);
    link.cut('cable pulled');
    const t = link.send(4096);
    expect(t.state).toBe('failed');
    link.restore();
    const u = link.send(4096);
    while (s.step()) { /* deliver */ }
    expect(u.state).toBe('delivered');
    expect(u.endedAt).toBe(4096 + 1000);
    expect(events.map((e) => e.name)).toEqual(['link_down', 'link_send', 'link_up', 'link_send', 'link_delivered']);
    expect(events[0].text).toContain('goes down (cable pulled)');
  });

  it('saves transfers in flight with who learns their end (data), and a loaded link ends them as the original would', () => {
    const build = () => {
      const w = setup(1_000_000_000, 1000);
      const ends: string[] = [];
      w.link.handlers.set('batch', (t, a) => ends.push(`${t.id}:${t.state}:${a.batch}`));
      return { ...w, ends };
    };
    const a = build();
    a.link.send(10_000, 'pages', { kind: 'batch', args: { batch: 7 } });
    a.link.send(20_000, 'pages', { kind: 'batch', args: { batch: 8 } });
    a.s.runUntil(12_000);
    expect(a.ends).toEqual(['1:delivered:7']);
    const state = structuredClone(saveGraph(a.link));
    const b = build();
    loadGraph(b.link, state);
    for (const w of [a, b]) {
      w.link.cut('test');
      while (w.s.step()) { /* nothing left */ }
    }
    expect(b.ends).toEqual(['2:failed:8']);
    expect(b.link.stats).toEqual(a.link.stats);
    expect(() => a.link.send(1, 'x', { kind: 'nobody', args: {} })).toThrow(/link "wan": no handler "nobody"/);
  });

  it('refuses a link without bandwidth, naming it', () => {
    expect(() => new Link({ name: 'x', from: 'a', to: 'b', bandwidth: 0, latency: 0 }, new Clock(), () => {})).toThrow(/link "x": bandwidth/);
  });
});
