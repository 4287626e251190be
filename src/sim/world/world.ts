import { Clock } from '../core/clock';
import { type PartState, loadGraph, saveGraph } from '../core/state';
import { Rng } from '../core/rng';
import { Trace } from '../core/trace';
import { Host } from '../host/host';
import type { Process } from '../host/process';
import { Kvm } from '../kvm/kvm';
import type { Actor, Timer, TimerAction } from '../core/actor';
import type { VmmVm } from '../vmm/vmm';
import { MIGRATION_TRANSFER, type MigrationThread } from '../vmm/migration/migration';
import { WORLD_FACTORIES } from './state';
import { Link, type LinkSpec } from './link';
import { Scheduler } from './scheduler';

/** A world's saved state (World.saveState): plain, structured-clonable data. */
export interface WorldState {
  /** The hosts' names, in order: a state loads only into a world of the same hosts. */
  hosts: string[];
  /** Every part of the world (core/state.ts). */
  parts: PartState;
}

export { Link, type LinkSpec, type Transfer } from './link';

/** One physical machine of the world: its memory and processes, its KVM (with its TDX module) and its VMMs. */
export interface HostNode {
  readonly name: string;
  readonly host: Host;
  readonly kvm: Kvm;
  /** The VMM processes' VMs on this host, by VM name (unique in the whole world). */
  readonly vmms: Map<string, VmmVm>;
  /** The process a selftest-like scenario makes its VMs from (KVM_CREATE_VM, mmap). */
  readonly selftest: Process;
}

export interface WorldConfig {
  seed: number;
  hosts: readonly { name: string; memoryBytes: number; kernelSeries?: readonly 'kvm-userfault'[] }[];
  links?: readonly LinkSpec[];
  /** Events the trace keeps (at least). */
  traceLimit?: number;
}

/**
 * Everything a scenario runs in: one virtual clock, one trace, the seeded random numbers, and the
 * hosts, each with its own physical memory, KVM, TDX module and VMM processes. Each host emits
 * through its own port of the trace (Trace.port), so every event names its host. Nothing below the
 * world knows how many hosts there are; code that does (the scenario, the lab) asks the world.
 */
export class World {
  readonly clock = new Clock();
  readonly trace: Trace;
  readonly rng: Rng;
  readonly hosts: readonly HostNode[];
  /** The links between hosts (world/link.ts): actors of the scheduler, emitting in the `link` layer. */
  readonly links: Link[];
  /**
   * Every migration started in this world, oldest first (vmm/migration/migration.ts): each is a
   * scheduler actor while it runs, and stays here for query-migrate and the report. Declared before
   * the scheduler so that a saved state holds each thread here and the scheduler's list refers to
   * it: a state loaded in place into a run whose list holds other threads then keeps them apart.
   */
  readonly migrations: MigrationThread[] = [];
  /**
   * The discrete-event scheduler (world/scheduler.ts): the VMMs' vCPU threads and throttle timers,
   * the links, timers, and VMM threads added later (a migration thread, a page-fault thread).
   */
  readonly scheduler: Scheduler;

  constructor(config: WorldConfig) {
    if (config.hosts.length === 0) throw new Error('a world needs at least one host');
    this.trace = new Trace(() => this.clock.now, config.traceLimit);
    this.rng = new Rng(config.seed);
    this.hosts = config.hosts.map(({ name, memoryBytes, kernelSeries }) => {
      const host = new Host({ name, memoryBytes }, this.clock, this.trace.port(name));
      const kvm = new Kvm(host);
      kvm.userfaultSeries = kernelSeries?.includes('kvm-userfault') ?? false;
      return { name, host, kvm, vmms: new Map<string, VmmVm>(), selftest: host.spawn('kvm-selftest') };
    });
    this.scheduler = new Scheduler(this.clock);
    // What the world's timers can do (World.at): data, so a snapshot keeps a pending link cut.
    this.scheduler.actions.set('link_down', (a) => this.link(String(a.link)).cut(String(a.why ?? 'cut')));
    this.scheduler.actions.set('link_up', (a) => this.link(String(a.link)).restore());
    // Link events go through the sending host's port: they name the host the link starts from.
    this.links = (config.links ?? []).map((l, i) => {
      const sink = this.host(l.from).host.trace;
      const link = new Link(l, this.clock, (name, args, text) => sink.emit('link', name, args, text), [i]);
      // A migration's transfers end at its thread (the VM's n-th migration): data, so a snapshot keeps them.
      link.handlers.set(MIGRATION_TRANSFER, (t, a) => this.migrations[Number(a.id)]?.transferEnded(t, a));
      this.scheduler.add(link);
      return link;
    });
  }

  /** The link named `name`; throws naming the links there are. */
  link(name: string): Link {
    const l = this.links.find((x) => x.name === name);
    if (!l) throw new Error(`no link named "${name}" (links: ${this.links.map((x) => x.name).join(', ') || 'none'})`);
    return l;
  }

  /** Put an actor on the scheduler (a VMM thread: migration, page faults). */
  addActor(actor: Actor): void {
    this.scheduler.add(actor);
  }

  removeActor(actor: Actor): void {
    this.scheduler.remove(actor);
  }

  /**
   * Do `action` at virtual time `at` (a one-shot timer actor). The action is data — a kind from the
   * scheduler's table (`link_down` {link, why}, `link_up` {link}) and its arguments — never a
   * closure, so a timer pending in a snapshot fires after the restore too.
   */
  at(at: number, name: string, action: TimerAction): Timer {
    return this.scheduler.at(at, name, action);
  }

  /**
   * A VMM's VM joins the world on `node`: its vCPU threads and throttle timer become actors, ordered
   * by host and VM (ties at one virtual time go host by host, VM by VM, vCPU by vCPU).
   */
  addVmm(node: HostNode, vmm: VmmVm): void {
    node.vmms.set(vmm.desc.name, vmm);
    const hostIndex = this.hosts.indexOf(node);
    vmm.setOrder(hostIndex, node.vmms.size - 1);
    for (const a of vmm.actors) this.scheduler.add(a);
    for (const t of vmm.threads) t.horizon = () => this.scheduler.horizon(t);
  }

  /** run_until(t): every actor due up to virtual time `t` runs; the clock ends at `t`. */
  runUntil(t: number, stop?: () => boolean): number {
    return this.scheduler.runUntil(t, stop);
  }

  /**
   * The world's saved state: each of its fields is a part, saved in declaration order (core/state.ts)
   * — the clock, the trace (its kept events and counters), the random numbers, every host (its
   * memory frames and page contents with their tokens, processes with their VMAs and page tables,
   * KVM's VMs and vCPUs with memslots, guest_memfds, attributes, EPT and mirror SEPT, dirty logs and
   * MSR filters, the TDX module's TDs and Secure EPTs, the VMMs with their devices, the guest CPUs
   * and kernels) and the links. A new part (the scheduler, say) is saved by being a field; a field
   * that is wiring, not state, goes in a `static stateSkip` list (or is made with `wiring()`).
   * Functions are never saved: a function anywhere else makes saving throw, naming its path, so
   * progress kept in a closure (an actor's continuation, a callback) cannot be lost silently — keep
   * it as data (a timer's action, a transfer's `done`, boot-exec.ts's answer log).
   */
  saveState(): WorldState {
    return { hosts: this.hosts.map((h) => h.name), parts: saveGraph(this) };
  }

  /**
   * Load a saved state into this world, which must have been built from the same configuration
   * (the constructors make the structure and its wiring; the parts made since are made again).
   */
  loadState(s: WorldState): void {
    const names = this.hosts.map((h) => h.name);
    if (s.hosts.join('\n') !== names.join('\n'))
      throw new Error(`state: a world of hosts ${s.hosts.join(', ')} cannot load into one of hosts ${names.join(', ')}`);
    // Twice: the first pass makes the missing parts (whose constructors allocate frames, emit events
    // and move the clock), the second puts every value back over what those constructors did.
    loadGraph(this, s.parts, WORLD_FACTORIES);
    loadGraph(this, s.parts, WORLD_FACTORIES);
  }

  /** The host named `name`; throws naming the hosts there are. */
  host(name: string): HostNode {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host named "${name}" (hosts: ${this.hosts.map((x) => x.name).join(', ')})`);
    return h;
  }

  /** The latest migration of the VM named `vm` (the one query-migrate reports), if any. */
  migrationOf(vm: string): MigrationThread | undefined {
    for (let i = this.migrations.length - 1; i >= 0; i--) if (this.migrations[i].src === vm) return this.migrations[i];
    return undefined;
  }

  /** The VMM's VM named `name`, on whichever host runs it. */
  vmm(name: string): VmmVm | undefined {
    for (const h of this.hosts) {
      const v = h.vmms.get(name);
      if (v) return v;
    }
    return undefined;
  }
}
