import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../test-properties';
import { Clock } from '../core/clock';
import type { Actor, ActorKind } from '../core/actor';
import { Scheduler } from './scheduler';


/** An actor that works `work` ns each time it runs, `times` times, starting at `start`. */
class Worker implements Actor {
  private next: number;
  private left: number;
  constructor(readonly name: string, readonly kind: ActorKind, readonly order: number[], start: number, private readonly work: number, times: number, private readonly clock: Clock, private readonly log: string[]) {
    this.next = start;
    this.left = times;
  }
  readyAt(): number | null {
    return this.left > 0 ? this.next : null;
  }
  act(now: number): void {
    this.log.push(`${now} ${this.name}`);
    this.clock.advance(this.work);
    this.next = this.clock.now;
    this.left--;
  }
  done(): boolean {
    return this.left === 0;
  }
}

const KINDS: ActorKind[] = ['timer', 'link', 'vmm-thread', 'vcpu'];
const actorArb = fc.record({
  kind: fc.constantFrom(...KINDS),
  order: fc.array(fc.nat(3), { maxLength: 3 }),
  start: fc.nat(50),
  work: fc.nat(20),
  times: fc.integer({ min: 1, max: 5 }),
});

interface Spec {
  kind: ActorKind;
  order: number[];
  start: number;
  work: number;
  times: number;
}

function runAll(specs: Spec[], reverse = false): string[] {
  const clock = new Clock();
  const s = new Scheduler(clock);
  const log: string[] = [];
  const actors = specs.map((a, i) => new Worker(`a${i}`, a.kind, a.order, a.start, a.work, a.times, clock, log));
  // Equal keys fall back to the order of adding, so only a fully keyed set may be added in reverse.
  for (const a of reverse ? [...actors].reverse() : actors) s.add(a);
  while (s.step()) { /* run to the end */ }
  return log;
}

describe('Scheduler', () => {
  it('is deterministic: the same actors give the same run, step for step', () => {
    fc.assert(fc.property(fc.array(actorArb, { maxLength: 8 }), (specs) => {
      expect(runAll(specs)).toEqual(runAll(specs));
    }), propertyRuns(0x5c0));
  });

  it('always runs the earliest ready actor, and the clock never goes back', () => {
    fc.assert(fc.property(fc.array(actorArb, { minLength: 1, maxLength: 8 }), (specs) => {
      const log = runAll(specs);
      const times = log.map((l) => Number(l.split(' ')[0]));
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1]);
      expect(log.length).toBe(specs.reduce((n, a) => n + a.times, 0));
    }), propertyRuns(0x5c1));
  });

  it('breaks ties by kind (timer, link, VMM thread, vCPU), then host, VM and vCPU order, whatever the order of adding', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.tuple(fc.constantFrom(...KINDS), fc.nat(2), fc.nat(2), fc.nat(7)), { minLength: 2, maxLength: 10, selector: (t) => t.join() }), (keys) => {
      const specs = keys.map(([kind, h, v, c]) => ({ kind, order: [h, v, c], start: 100, work: 0, times: 1 }));
      const a = runAll(specs);
      expect(runAll(specs, true)).toEqual(a);
      const rank = (i: number): number[] => [KINDS.indexOf(specs[i].kind), ...specs[i].order];
      const ranks = a.map((l) => rank(Number(l.split(' ')[1].slice(1))));
      for (let i = 1; i < ranks.length; i++) {
        const [x, y] = [ranks[i - 1], ranks[i]];
        const k = x.findIndex((v, j) => v !== y[j]);
        expect(x[k]).toBeLessThan(y[k]);
      }
    }), propertyRuns(0x5c2));
  });

  it('a timer at a virtual time jumps the clock there when nothing else is ready', () => {
    const clock = new Clock();
    const s = new Scheduler(clock);
    const fired: number[] = [];
    s.at(5_000_000_000, 'wake', (now) => fired.push(now));
    expect(s.step()).not.toBeNull();
    expect(fired).toEqual([5_000_000_000]);
    expect(clock.now).toBe(5_000_000_000);
    expect(s.actors).toHaveLength(0);
  });

  it('runUntil runs what is due and leaves the clock at the target', () => {
    const clock = new Clock();
    const s = new Scheduler(clock);
    const fired: string[] = [];
    s.at(300, 'late', () => fired.push('late'));
    s.at(100, 'early', () => fired.push('early'));
    expect(s.runUntil(200)).toBe(1);
    expect(fired).toEqual(['early']);
    expect(clock.now).toBe(200);
    s.runUntil(1000);
    expect(fired).toEqual(['early', 'late']);
    expect(clock.now).toBe(1000);
  });

  it('a cancelled timer never fires', () => {
    const clock = new Clock();
    const s = new Scheduler(clock);
    let n = 0;
    const t = s.at(10, 't', () => n++);
    t.cancel();
    s.runUntil(100);
    expect(n).toBe(0);
  });
});
