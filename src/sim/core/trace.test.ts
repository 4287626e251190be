import { describe, expect, it } from 'vitest';
import { Trace, eventKind } from './trace';

const PAGE_IN = eventKind('kvm', 'EPT entry installed', (gfn, frame, writable) => ({
  args: { gfn: `0x${gfn.toString(16)}`, hpa: `0x${(frame * 4096).toString(16)}`, writable: writable === 1 },
  text: `KVM maps GFN 0x${gfn.toString(16)} to host frame 0x${(frame * 4096).toString(16)}.`,
}));

function clockTrace(limit?: number): { trace: Trace; tick: () => void } {
  let t = 0;
  const trace = new Trace(() => t, limit);
  return { trace, tick: () => (t += 100) };
}

describe('Trace', () => {
  it('gives back a recorded hot event as a plain SimEvent made from its numbers', () => {
    const { trace, tick } = clockTrace();
    trace.emitFor('vm0', 'kvm', 'KVM_RUN', { vcpu: 0 }, 'The VMM enters the guest.', { vcpu: 0 });
    tick();
    trace.port('src').record(PAGE_IN, 'vm0', 0, 0x123, 1, 0x123, 0x4567, 1);
    const [a, b] = trace.events;
    expect(a).toEqual({ seq: 0, t: 0, host: null, vm: 'vm0', vcpu: 0, layer: 'kvm', name: 'KVM_RUN', args: { vcpu: 0 }, text: 'The VMM enters the guest.' });
    expect(b).toEqual({
      seq: 1, t: 100, host: 'src', vm: 'vm0', vcpu: 0, layer: 'kvm', name: 'EPT entry installed',
      args: { gfn: '0x123', hpa: '0x4567000', writable: true }, text: 'KVM maps GFN 0x123 to host frame 0x4567000.', gfns: [0x123, 1],
    });
    // Plain objects: what the worker posts and the CLI prints.
    expect(structuredClone(b)).toEqual(b);
    expect(JSON.parse(JSON.stringify(trace.events))).toEqual(trace.events);
    expect(Object.getPrototypeOf(b)).toBe(Object.prototype);
  });

  it('gives a byte range as the whole pages it touches (a table not page-aligned)', () => {
    const { trace } = clockTrace();
    // A page's worth of bytes from 0x820040: it touches pages 0x820 and 0x821.
    trace.emitFor('td', 'guest', 'AlterAcpiTable', {}, 'A table.', { gfns: [0x820040 / 4096, 1] });
    trace.emitFor('td', 'guest', 'tiny', {}, 'A few bytes.', { gfns: [0x1010 / 4096, 16 / 4096] });
    expect(trace.events.map((e) => e.gfns)).toEqual([[0x820, 2], [1, 1]]);
  });

  it("stamps each host's events through its port, in one sequence with the world's", () => {
    const { trace } = clockTrace();
    const src = trace.port('src');
    const dst = trace.port('dst');
    expect(trace.port('src')).toBe(src);
    src.emit('host', 'read', {}, 'one', { vm: 'g' });
    dst.record(PAGE_IN, 'g', 0, 1, 1, 1, 2, 0);
    trace.emit('link', 'cut', {}, 'two');
    src.emitFor('g', 'kvm', 'KVM_RUN', {}, 'three');
    expect(trace.events.map((e) => [e.seq, e.host, e.vm])).toEqual([[0, 'src', 'g'], [1, 'dst', 'g'], [2, null, null], [3, 'src', 'g']]);
    expect(src.count).toBe(4);
    src.quietly(() => dst.emit('host', 'read', {}, 'muted'));
    expect(trace.count).toBe(4);
  });

  it('finds the newest event that touched pages, within a window, without reading the others', () => {
    const { trace } = clockTrace();
    expect(trace.lastTouching()).toBeUndefined();
    trace.emit('kvm', 'touch', {}, 'one page', { vm: 'a', gfns: [0x102, 1] });
    let made = 0;
    for (let i = 0; i < 10; i++) trace.emit('vmm', 'no pages', {}, () => `sentence ${made++}`, { vm: 'a' });
    expect(trace.lastTouching()).toMatchObject({ seq: 0, name: 'touch', vm: 'a', gfns: [0x102, 1] });
    expect(made).toBe(0);
    expect(trace.lastTouching(10)).toBeUndefined();
  });

  it('makes a lazy sentence only when the event is read, once', () => {
    const { trace } = clockTrace();
    let made = 0;
    trace.emit('host', 'get_user_pages', () => ({ hva: '0x7f0000000000' }), () => {
      made++;
      return 'made';
    }, { vm: 'vm0' });
    expect(made).toBe(0);
    expect(trace.last()!.text).toBe('made');
    expect(trace.at(0)!.text).toBe('made');
    expect(made).toBe(1);
  });

  it('keeps at least the newest `limit` events, dropping the oldest in chunks', () => {
    const { trace } = clockTrace(5000);
    for (let i = 0; i < 30_000; i++) trace.record(PAGE_IN, i % 2 ? 'a' : 'b', 0, i, 1, i, i, 0);
    expect(trace.count).toBe(30_000);
    expect(trace.size).toBeGreaterThanOrEqual(5000);
    expect(trace.size).toBeLessThanOrEqual(5000 + 2 * 4096);
    expect(trace.first).toBe(30_000 - trace.size);
    expect(trace.at(trace.first - 1)).toBeUndefined();
    expect(trace.at(trace.first)!.seq).toBe(trace.first);
    expect(trace.at(29_999)!.args.gfn).toBe(`0x${(29_999).toString(16)}`);
    expect(trace.at(30_000)).toBeUndefined();
    // A range is clamped to what is kept, oldest first.
    const r = trace.range(0, trace.first + 3);
    expect(r.map((e) => e.seq)).toEqual([trace.first, trace.first + 1, trace.first + 2]);
    expect(trace.range(29_998, 40_000).map((e) => e.seq)).toEqual([29_998, 29_999]);
  });

  it('an object event in a reused chunk does not come back as an older one', () => {
    const { trace } = clockTrace(4096);
    for (let i = 0; i < 4096 * 3; i++) {
      if (i % 3 === 0) trace.emit('vmm', 'KVM_EXIT_IO', { port: i }, `exit ${i}`);
      else trace.record(PAGE_IN, null, -1, i, 1, i, i, 1);
    }
    for (const e of trace.events) {
      if (e.seq % 3 === 0) expect(e.text).toBe(`exit ${e.seq}`);
      else expect(e.name).toBe('EPT entry installed');
      expect(e.vcpu).toBeNull();
    }
  });

  it('records nothing while muted, hot events included', () => {
    const { trace } = clockTrace();
    trace.quietly(() => {
      trace.record(PAGE_IN, 'vm0', 0, 1, 1, 1, 1, 1);
      trace.emit('kvm', 'KVM_RUN', {}, 'x');
    });
    trace.setMuted(true);
    trace.record(PAGE_IN, 'vm0', 0, 1, 1, 1, 1, 1);
    trace.setMuted(false);
    expect(trace.count).toBe(0);
    expect(trace.events).toEqual([]);
    expect(trace.last()).toBeUndefined();
  });

  it('tells subscribers about each event as a plain object', () => {
    const { trace } = clockTrace();
    const seen: string[] = [];
    const off = trace.subscribe((e) => seen.push(`${e.seq}:${e.name}:${e.text}`));
    trace.record(PAGE_IN, 'vm0', 0, 2, 1, 2, 3, 1);
    off();
    trace.emit('kvm', 'KVM_RUN', {}, 'not seen');
    expect(seen).toEqual(['0:EPT entry installed:KVM maps GFN 0x2 to host frame 0x3000.']);
  });
});
