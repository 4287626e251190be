/**
 * The scheduler's actors: everything in the world that runs at a virtual time — vCPU threads, VMM
 * threads (a migration thread, a page-fault thread), link transfers and timers.
 *
 * An actor says when it is next ready (`readyAt()`, a virtual time in ns, or null while it waits for
 * something another actor will do) and does one piece of work when the scheduler runs it (`act`).
 * The scheduler always runs the actor with the earliest readyAt; ties go by `ACTOR_KIND_ORDER`, then
 * by `order` (host index, VM index, vCPU index — compared element by element), then by the order
 * the actors were added. So the same scenario runs its actors in the same order, and gives the same
 * trace byte for byte.
 *
 * (In core/ so that every layer that owns an actor — a VMM's vCPU threads, a link — implements it
 * without importing upward; the scheduler that runs them is world/scheduler.ts.)
 */
export type ActorKind = 'timer' | 'link' | 'vmm-thread' | 'vcpu';

/**
 * Ties at one virtual time: timers first (a timer due now fires before anything that might look at
 * it), then link deliveries (data that has arrived is there for whoever runs next), then VMM threads
 * (they serve the vCPUs), then vCPU threads.
 */
export const ACTOR_KIND_ORDER: readonly ActorKind[] = ['timer', 'link', 'vmm-thread', 'vcpu'];

export interface Actor {
  readonly name: string;
  readonly kind: ActorKind;
  /** Tie-break keys after the kind: [host index, VM index, vCPU index], as many as apply. */
  readonly order: readonly number[];
  /** When the actor can next run, or null while it waits (halted, blocked, paused, done). */
  readyAt(): number | null;
  /** Run one piece of work at virtual time `now` (≥ readyAt()). */
  act(now: number): void;
  /**
   * True while the actor is in the middle of one piece of work it split to let the world be looked
   * at (a vCPU loop that yielded after an exit): the scheduler runs it next, before anything else.
   */
  continuing?(): boolean;
  /** True once the actor will never run again: the scheduler then forgets it. */
  done?(): boolean;
  /**
   * Units of work its last act() did beyond the one every act counts, in guest instructions' worth
   * (a migration batch: its pages). Slicing counts it, so a slice of the world stays short in wall
   * time when an actor does much in one act.
   */
  lastWork?(): number;
}

/**
 * What a timer does when it fires, as data (a kind and its arguments) so that a snapshot keeps it:
 * the owner's table (TimerActions) says what each kind means.
 */
export interface TimerAction {
  kind: string;
  args: Record<string, string | number | boolean>;
}

/** What each timer action kind does (wiring: the world builds it, never saved). */
export type TimerActions = ReadonlyMap<string, (args: TimerAction['args'], now: number) => void>;

/**
 * A one-shot timer: does `action` at virtual time `at` (a cut link restored, a step that waits).
 * The action is data resolved through `actions` when it fires; a closure works too, for tests and
 * throwaway schedulers, but a world holding one cannot be saved (core/state.ts throws naming it).
 */
export class Timer implements Actor {
  static readonly stateSkip: readonly string[] = ['actions'];
  readonly kind = 'timer';
  private fired = false;
  private cancelled = false;

  constructor(
    readonly name: string,
    readonly at: number,
    readonly action: TimerAction | ((now: number) => void),
    readonly order: readonly number[] = [],
    private readonly actions: TimerActions = new Map(),
  ) {
    if (!Number.isFinite(at) || at < 0) throw new RangeError(`timer "${name}": the time ${at} is not a virtual time (ns ≥ 0)`);
  }

  readyAt(): number | null {
    return this.fired || this.cancelled ? null : this.at;
  }

  act(now: number): void {
    this.fired = true;
    const a = this.action;
    if (typeof a === 'function') return a(now);
    const f = this.actions.get(a.kind);
    if (!f) throw new Error(`timer "${this.name}": no action "${a.kind}" (actions: ${[...this.actions.keys()].join(', ') || 'none'})`);
    f(a.args, now);
  }

  cancel(): void {
    this.cancelled = true;
  }

  done(): boolean {
    return this.fired || this.cancelled;
  }
}
