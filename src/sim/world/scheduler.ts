import type { Clock } from '../core/clock';
import { ACTOR_KIND_ORDER, Timer, type Actor, type TimerAction, type TimerActions } from '../core/actor';

const KIND_RANK = new Map(ACTOR_KIND_ORDER.map((k, i) => [k, i]));

/**
 * A deterministic discrete-event scheduler over one virtual clock. `step()` runs the actor with the
 * earliest readyAt (ties in the documented order of actor.ts), first moving the clock to that time
 * if it is later than now: a world in which every vCPU waits (HLT with a timer armed, a throttle
 * sleep) jumps to the next event instead of being interpreted instruction by instruction.
 *
 * An actor whose readyAt is already past (a vCPU that was ready while another ran) runs at the
 * current time: the clock never goes backwards.
 */
export class Scheduler {
  /** What timer actions mean (wiring: the world fills it in its constructor). */
  static readonly stateSkip: readonly string[] = ['actions'];
  readonly actions: TimerActions & Map<string, (args: TimerAction['args'], now: number) => void> = new Map();
  private readonly list: { actor: Actor; seq: number }[] = [];
  private seq = 0;
  /** Actors run so far (for tests and the report). */
  steps = 0;
  /** Work so far, for slicing: one unit per actor run, plus what an actor reports beyond it (Actor.lastWork). */
  work = 0;
  /** The time the current runUntil() stops at (Infinity outside one). */
  private limit = Infinity;

  constructor(readonly clock: Clock) {}

  get actors(): readonly Actor[] {
    return this.list.map((e) => e.actor);
  }

  add(actor: Actor): void {
    if (this.list.some((e) => e.actor === actor)) return;
    this.list.push({ actor, seq: this.seq++ });
  }

  remove(actor: Actor): void {
    const i = this.list.findIndex((e) => e.actor === actor);
    if (i >= 0) this.list.splice(i, 1);
  }

  /** Do `action` at virtual time `at` (a one-shot timer actor); data actions are resolved in `actions`. */
  at(at: number, name: string, action: TimerAction | ((now: number) => void), order: readonly number[] = []): Timer {
    if (typeof action !== 'function' && !this.actions.has(action.kind))
      throw new Error(`timer "${name}": no action "${action.kind}" (actions: ${[...this.actions.keys()].join(', ') || 'none'})`);
    const t = new Timer(name, Math.max(at, this.clock.now), action, order, this.actions);
    this.add(t);
    return t;
  }

  /** The actor that runs next and when, or null when every actor waits for something. */
  peek(except?: Actor): { actor: Actor; at: number } | null {
    let best: { actor: Actor; seq: number } | null = null;
    let bestAt = Infinity;
    for (const e of this.list) {
      if (e.actor === except) continue;
      const t = e.actor.readyAt();
      if (t === null) continue;
      if (t < bestAt || (t === bestAt && best !== null && before(e, best))) {
        best = e;
        bestAt = t;
      }
    }
    return best ? { actor: best.actor, at: bestAt } : null;
  }

  /**
   * How far `actor` may run: `next`, when the next other actor is due (null: none ever is), and
   * `limit`, the end of the current runUntil() (Infinity outside one). A vCPU runs until `next` in
   * one go (so a lone vCPU is not cut into quanta for nothing), but not past `limit`.
   */
  horizon(actor: Actor): Horizon {
    return { next: this.peek(actor)?.at ?? null, limit: this.limit };
  }

  /**
   * Run the next actor if it is ready at or before `limit` (default: whenever it is). Returns the
   * actor run, or null when nothing is ready in time.
   */
  step(limit = Infinity): Actor | null {
    this.prune();
    const next = this.continuing() ?? this.peek();
    if (!next || next.at > limit) return null;
    this.clock.advanceTo(next.at);
    this.steps++;
    next.actor.act(this.clock.now);
    this.work += 1 + (next.actor.lastWork?.() ?? 0);
    if (next.actor.done?.()) this.remove(next.actor);
    return next.actor;
  }

  /**
   * run_until(t): run every actor due up to virtual time `t`, then move the clock to `t` (nothing
   * happens in between). `stop` ends the run early, checked after each actor. Returns how many actors ran.
   */
  runUntil(t: number, stop?: () => boolean): number {
    return this.runUntilOr(t, stop).ran;
  }

  /**
   * runUntil(), telling also whether it got to `t` (`reached`) or `stop` ended it first. Stopped
   * between two actors, it can be called again for the same `t` and goes on exactly as one call
   * would have (the limit each actor sees is `t` either way): run_until advanced in slices.
   */
  runUntilOr(t: number, stop?: () => boolean): { ran: number; reached: boolean } {
    let n = 0;
    const outer = this.limit;
    this.limit = Math.min(t, outer);
    try {
      while (!stop?.()) {
        if (!this.step(t)) {
          this.clock.advanceTo(t);
          return { ran: n, reached: true };
        }
        n++;
      }
    } finally {
      this.limit = outer;
    }
    return { ran: n, reached: false };
  }

  /** An actor in the middle of its work (Actor.continuing) runs next, now. */
  private continuing(): { actor: Actor; at: number } | null {
    for (const e of this.list) if (e.actor.continuing?.()) return { actor: e.actor, at: this.clock.now };
    return null;
  }

  private prune(): void {
    for (let i = this.list.length - 1; i >= 0; i--) if (this.list[i].actor.done?.()) this.list.splice(i, 1);
  }
}

export interface Horizon {
  next: number | null;
  limit: number;
}

/** Whether entry `a` goes before `b` at the same virtual time (actor.ts's documented order). */
function before(a: { actor: Actor; seq: number }, b: { actor: Actor; seq: number }): boolean {
  const ka = KIND_RANK.get(a.actor.kind)!;
  const kb = KIND_RANK.get(b.actor.kind)!;
  if (ka !== kb) return ka < kb;
  const oa = a.actor.order;
  const ob = b.actor.order;
  for (let i = 0; i < Math.max(oa.length, ob.length); i++) {
    const x = oa[i] ?? -1;
    const y = ob[i] ?? -1;
    if (x !== y) return x < y;
  }
  return a.seq < b.seq;
}
