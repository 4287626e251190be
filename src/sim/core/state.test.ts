import { describe, expect, it } from 'vitest';
import { type PartState, StateError, loadGraph, saveGraph, stateClass, wiring } from './state';
import { PagedU32 } from './paged-array';

class Leaf {
  n = 0;
  readonly bytes = new Uint8Array(4);
}
class Part {
  static readonly stateSkip = ['cache', 'onChange'];
  readonly leaves: Leaf[] = [];
  shared: Leaf | null = null;
  readonly byKey = new Map<number, Leaf>();
  readonly flags = new Set<string>();
  cache = 'rebuilt';
  reloaded = 0;
  readonly table = new PagedU32(2 ** 40);
  onChange = (): number => 1;
  afterLoadState(): void {
    this.reloaded++;
  }
}
stateClass('Leaf', Leaf);

function sample(): Part {
  const p = new Part();
  const a = new Leaf();
  a.n = 7;
  a.bytes.set([1, 2, 3, 4]);
  p.leaves.push(a, new Leaf());
  p.shared = a;
  p.byKey.set(5, a);
  p.flags.add('x');
  p.cache = 'stale';
  p.table.set(2 ** 24 + 3, 9); // a sparse, far entry: saved as one chunk
  return p;
}

describe('saved state (core/state.ts)', () => {
  it('is plain data: it survives structuredClone, and typed arrays are copies', () => {
    const p = sample();
    const s = structuredClone(saveGraph(p));
    p.leaves[0].bytes[0] = 99;
    const q = new Part();
    loadGraph(q, s, { Leaf: () => new Leaf() });
    expect(q.leaves[0].bytes[0]).toBe(1);
    expect(q.leaves[0].n).toBe(7);
    expect(q.leaves).toHaveLength(2);
    expect(q.flags.has('x')).toBe(true);
    expect(q.table.get(2 ** 24 + 3)).toBe(9);
    expect(q.table.get(3)).toBe(0);
  });

  it('keeps shared parts shared and keeps what is not state', () => {
    const q = new Part();
    const onChange = q.onChange;
    loadGraph(q, structuredClone(saveGraph(sample())), { Leaf: () => new Leaf() });
    expect(q.shared).toBe(q.leaves[0]);
    expect(q.byKey.get(5)).toBe(q.leaves[0]);
    expect(q.cache).toBe('rebuilt');
    expect(q.onChange).toBe(onChange);
    expect(q.reloaded).toBe(1);
  });

  it('loads in place: arrays, Maps and typed arrays keep their identity', () => {
    const q = new Part();
    const leaves = q.leaves;
    const map = q.byKey;
    q.leaves.push(new Leaf());
    const bytes = q.leaves[0].bytes;
    loadGraph(q, saveGraph(sample()), { Leaf: () => new Leaf() });
    expect(q.leaves).toBe(leaves);
    expect(q.byKey).toBe(map);
    expect(q.leaves[0].bytes).toBe(bytes);
  });

  it('says what it cannot save or make, and where', () => {
    const p = sample() as Part & { gen?: unknown };
    p.gen = (function* g() {
      yield 1;
    })();
    expect(() => saveGraph(p)).toThrow(StateError);
    expect(() => saveGraph(p)).toThrow(/\.gen is a suspended generator/);
    // A function the class does not list as wiring: saving fails naming where it is (never dropped).
    const f = sample();
    (f.leaves[1] as unknown as { then: unknown }).then = () => 'progress in a closure';
    expect(() => saveGraph(f)).toThrow(/state: \.leaves\[1\]\.then is a function/);
    const g = sample();
    (g as unknown as { plain: unknown }).plain = { n: 1, done: () => 0 };
    expect(() => saveGraph(g)).toThrow(/state: \.plain\.done is a function/);
    // …unless the object holding it is marked as wiring: then it is not saved, and a load keeps the fresh one's.
    const h = sample();
    const env = wiring({ emit: () => 0 });
    (h as unknown as { env: unknown }).env = env;
    const hs = saveGraph(h);
    expect('env' in hs).toBe(false);
    const k = new Part();
    (k as unknown as { env: unknown }).env = env;
    loadGraph(k, hs, { Leaf: () => new Leaf() });
    expect((k as unknown as { env: unknown }).env).toBe(env);
    const s = saveGraph(sample());
    expect(() => loadGraph(new Part(), s)).toThrow(/has no Leaf at \.leaves\[0\], and nothing is registered to make one/);
    const broken = structuredClone(s) as PartState & { shared: unknown };
    broken.shared = { $ref: ['leaves', 9] };
    expect(() => loadGraph(new Part(), broken, { Leaf: () => new Leaf() })).toThrow(/\.shared refers to \.leaves\[9\]/);
  });
});
