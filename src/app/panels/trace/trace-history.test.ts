import { describe, expect, test } from 'vitest';
import type { Layer, SimEvent } from '../../../sim/core/trace';
import { FilteredView, TraceHistory } from './trace-history';

const ev = (seq: number, layer: Layer = 'kvm', name = 'KVM_RUN'): SimEvent =>
  ({ seq, t: seq * 10, host: 'host0', vm: 'td', vcpu: 0, layer, name, args: {}, text: `event ${seq}` });
const range = (a: number, b: number, f = (i: number) => ev(i)) => Array.from({ length: b - a }, (_, i) => f(a + i));

describe('TraceHistory', () => {
  test('appends each event once, by seq, across overlapping frames', () => {
    const h = new TraceHistory();
    h.ingest(range(0, 300), 300);
    expect(h.ingest(range(0, 300), 300)).toBe(false);
    h.ingest(range(100, 400), 400);
    expect(h.events.map((e) => e.seq)).toEqual(range(0, 400).map((e) => e.seq));
    expect(h.holes()).toBe(0);
  });

  test('counts the events that fell between two frames', () => {
    const h = new TraceHistory();
    h.ingest(range(0, 300), 300);
    h.ingest(range(700, 1000), 1000);
    expect(h.holes()).toBe(400);
    expect(h.events).toHaveLength(600);
  });

  test('names the missing ranges, newest first, and fills them in order from fetched events', () => {
    const h = new TraceHistory();
    h.ingest(range(0, 100), 100);
    h.ingest(range(300, 400), 400);
    h.ingest(range(500, 600), 600);
    expect(h.gaps()).toEqual([[400, 500], [100, 300]]);
    const epoch = h.epoch;
    expect(h.fill(range(400, 500))).toBe(true);
    expect(h.epoch).toBe(epoch + 1);
    expect(h.gaps()).toEqual([[100, 300]]);
    expect(h.holes()).toBe(200);
    expect(h.fill(range(400, 500))).toBe(false);
    h.fill(range(100, 300));
    expect(h.gaps()).toEqual([]);
    expect(h.holes()).toBe(0);
    expect(h.events.map((e) => e.seq)).toEqual(range(0, 600).map((e) => e.seq));
  });

  test('a range the worker no longer has stops counting as a hole', () => {
    const h = new TraceHistory();
    h.ingest(range(0, 100), 100);
    h.ingest(range(300, 400), 400);
    expect(h.holes()).toBe(200);
    h.markLost(100, 300);
    expect(h.holes()).toBe(0);
  });

  test('a new run (a load or a restart) starts the history again; frames of the same run keep it', () => {
    const h = new TraceHistory();
    expect(h.ingest(range(0, 35), 35, 1)).toBe(true);
    expect(h.ingest([], 35, 1)).toBe(false);
    expect(h.events).toHaveLength(35);
    // The same first events (a scenario that starts the same way) in a new run still start again.
    expect(h.ingest(range(0, 10), 10, 2)).toBe(true);
    expect(h.events.map((e) => e.seq)).toEqual([...Array(10).keys()]);
    h.ingest(range(10, 40), 40, 2);
    expect(h.ingest(range(0, 40), 40, 3)).toBe(true);
    expect(h.events).toHaveLength(40);
    expect(h.gaps()).toEqual([]);
  });

  test('the first events, when the first frame came late, are a gap too', () => {
    const h = new TraceHistory();
    h.ingest(range(35, 104), 104);
    expect(h.gaps()).toEqual([[0, 35]]);
    h.fill(range(0, 35));
    expect(h.gaps()).toEqual([]);
    expect(h.events[0].seq).toBe(0);
  });

  test('stays within its cap, dropping the oldest', () => {
    const h = new TraceHistory(1000);
    for (let i = 0; i < 30; i++) h.ingest(range(i * 100, i * 100 + 100), i * 100 + 100);
    expect(h.events.length).toBeLessThanOrEqual(1000);
    expect(h.events[h.events.length - 1].seq).toBe(2999);
    expect(h.trimmed + h.events.length).toBe(3000);
  });

  test('a restart (the total goes down, or seq 0 is a different event) starts again', () => {
    const h = new TraceHistory();
    h.ingest(range(0, 300), 300);
    h.ingest(range(0, 5, (i) => ev(i, 'vmm', 'KVM_CREATE_VM')), 5);
    expect(h.events.map((e) => e.name)).toEqual(Array(5).fill('KVM_CREATE_VM'));
    expect(h.epoch).toBe(1);
  });
});

describe('FilteredView', () => {
  test('filters by layer and by name (case-insensitive), extending as events arrive', () => {
    const h = new TraceHistory();
    const names = ['KVM_EXIT_IO', 'TDH.MEM.PAGE.AUG', 'KVM_RUN', 'TDG.MEM.PAGE.ACCEPT'];
    const layer = (n: string): Layer => (n.startsWith('TD') ? 'tdx-module' : 'kvm');
    h.ingest(range(0, 8, (i) => ev(i, layer(names[i % 4]), names[i % 4])), 8);
    const v = new FilteredView();
    const tdx = { layers: new Set<Layer>(['tdx-module']), query: '', inText: false };
    expect(v.get(h, tdx).map((e) => e.name)).toEqual(['TDH.MEM.PAGE.AUG', 'TDG.MEM.PAGE.ACCEPT', 'TDH.MEM.PAGE.AUG', 'TDG.MEM.PAGE.ACCEPT']);
    const exits = { layers: new Set<Layer>(['kvm', 'tdx-module']), query: 'kvm_exit', inText: false };
    const before = v.get(h, exits);
    expect(before.map((e) => e.seq)).toEqual([0, 4]);
    h.ingest(range(8, 10, (i) => ev(i, 'kvm', 'KVM_EXIT_HLT')), 10);
    const after = v.get(h, exits);
    expect(after.map((e) => e.seq)).toEqual([0, 4, 8, 9]);
    expect(before.map((e) => e.seq)).toEqual([0, 4]);
    expect(v.get(h, exits)).toBe(after);
  });
});
