/**
 * The event trace. Every state change in the machine emits one event; the trace panel, the narration
 * line, the CLI report and the tests all read these. `name` is the real identifier (an ioctl, an exit
 * reason, a SEAMCALL or TDCALL leaf, an exception), `text` one plain sentence a student can read aloud.
 */
export type Layer = 'guest' | 'tdx-module' | 'kvm' | 'vmm' | 'host' | 'link';
export const LAYERS: readonly Layer[] = ['guest', 'tdx-module', 'kvm', 'vmm', 'host', 'link'];

export type ArgValue = string | number | boolean | null | readonly (string | number)[];

export interface SimEvent {
  seq: number;
  /** Virtual time in ns. */
  t: number;
  /** The VM's name, or null for host-wide events. */
  vm: string | null;
  vcpu: number | null;
  layer: Layer;
  name: string;
  args: Record<string, ArgValue>;
  text: string;
  /** Guest frame numbers this event touched (first and count), for highlighting in page maps. */
  gfns?: readonly [number, number];
}

export interface EventContext {
  vm?: string | null;
  vcpu?: number | null;
  gfns?: readonly [number, number];
}

export type EventListener = (e: SimEvent) => void;

export class Trace {
  readonly events: SimEvent[] = [];
  private seq = 0;
  private listeners: EventListener[] = [];
  /** While > 0, emit() records nothing (an instruction being replayed after an exit). */
  private muted = 0;
  private replayMuted = false;
  /** Events recorded per VM name (null: host-wide events). */
  private readonly perVm = new Map<string | null, number>();

  constructor(private readonly now: () => number, private readonly limit = 1_000_000) {}

  emit(layer: Layer, name: string, args: Record<string, ArgValue>, text: string, ctx: EventContext = {}): SimEvent | null {
    if (this.muted > 0 || this.replayMuted) return null;
    const e: SimEvent = {
      seq: this.seq++,
      t: this.now(),
      vm: ctx.vm ?? null,
      vcpu: ctx.vcpu ?? null,
      layer,
      name,
      args,
      text,
    };
    if (ctx.gfns) e.gfns = ctx.gfns;
    this.perVm.set(e.vm, (this.perVm.get(e.vm) ?? 0) + 1);
    if (this.events.length >= this.limit) this.events.splice(0, this.events.length >> 1);
    this.events.push(e);
    for (const l of this.listeners) l(e);
    return e;
  }

  subscribe(l: EventListener): () => void {
    this.listeners.push(l);
    return () => {
      this.listeners = this.listeners.filter((x) => x !== l);
    };
  }

  /**
   * Mute or unmute recording: while an instruction that exited to user space runs again to take
   * user space's answer, what it already traced is not traced twice.
   */
  setMuted(on: boolean): void {
    this.replayMuted = on;
  }

  /** Run fn without recording events. */
  quietly<T>(fn: () => T): T {
    this.muted++;
    try {
      return fn();
    } finally {
      this.muted--;
    }
  }

  get count(): number {
    return this.seq;
  }

  /** Events recorded so far about one VM (null: host-wide events). */
  countFor(vm: string | null): number {
    return this.perVm.get(vm) ?? 0;
  }
}
