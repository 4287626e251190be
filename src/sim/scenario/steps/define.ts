import { z } from 'zod';
import type { GuestMemfd } from '../../kvm/guest-memfd';
import type { Vm } from '../../kvm/vm';
import type { Process } from '../../host/process';
import type { Userfaultfd } from '../../host/userfaultfd';
import type { Vcpu } from '../../kvm/vcpu';
import type { Trace } from '../../core/trace';
import type { U64 } from '../../core/u64';
import type { VmmVm } from '../../vmm/vmm';
import type { HostNode, World } from '../../world/world';
import type { StepResult } from '../report';
import { StepShow } from './show';
import { Ask } from '../ask';

/** Who a step speaks as: QEMU, a selftest calling KVM, the privileged host, or the world (links, time). */
export type StepLevel = 'vmm' | 'kvm' | 'host' | 'world';
export const STEP_LEVELS: readonly StepLevel[] = ['vmm', 'host', 'kvm', 'world'];

/** What a step returns, before the runner adds its index, kind and event range. */
export type StepOutcome = Omit<StepResult, 'step' | 'do' | 'events'>;

/** What the host's reads and writes of a VM's memory go through (StepContext.hostSide). */
export interface HostSide {
  name: string;
  /** The host the VM runs on. */
  node: HostNode;
  vm: Vm;
  /** The user-space process that maps the VM's memory (the VMM, or the selftest-like scenario). */
  process: Process;
  gmem: GuestMemfd | null;
  vcpus: readonly Vcpu[];
  gpaToHva(gpa: number): number | undefined;
  hostFrameOf(gpa: number): { frame: number; view: 'private' | 'shared' } | null;
}

/** An object a KVM-level step named with "as": a VM, a guest_memfd or an mmap, on the host it was made on. */
export interface Named {
  node: HostNode;
  vm?: Vm;
  gmem?: GuestMemfd;
  addr?: number;
  /** A userfaultfd (the `userfaultfd` step), with the process it belongs to. */
  uffd?: Userfaultfd;
}

/**
 * What a step's executor may use. Lookups take the step's index `i` so that a bad name is a
 * ScenarioError at `$.steps[i].<field>` naming what exists.
 */
export interface StepContext {
  readonly world: World;
  /** The world's trace (events emitted here name no host; a host's parts emit through its port). */
  readonly trace: Trace;
  /** KVM-level objects named with "as" (unique in the world). */
  readonly named: Map<string, Named>;
  /** The host `name`, or with no name the only host; a ScenarioError at `$.steps[i].<field>` names the hosts. */
  hostNode(name: string | undefined, i: number, field?: string): HostNode;
  /** The host a VM (from `vms`, or made with KVM_CREATE_VM) runs on. */
  hostOfVm(name: string, i: number): HostNode;
  /** The VMM's VM from `vms`. */
  vmm(name: string, i: number): VmmVm;
  /** KVM's VM: one made by hand with KVM_CREATE_VM, or a VMM's. */
  vm(name: string, i: number): Vm;
  /** The host's side of a VM (its mapping process and frames), for the host's reads and writes. */
  hostSide(name: string, i: number): HostSide;
  /** A guest_memfd by "as" name or fd number (searched on `host`, else on every host). */
  gmem(ref: string | number, i: number, field: string, host?: string): GuestMemfd;
  /** A flags field as given (number, hex string above 2^53, or flag names: KVM_MEM_*, FALLOC_FL_*, KVM_MSR_*...) as a u64 for the ioctl. */
  flags(v: number | string | string[], i: number, field: string): U64;
  /** A capability as a number or a KVM_CAP_* name. */
  cap(v: string | number, i: number): number;
}

export interface StepDoc {
  /** One line: what the step does, as the real tool or call would. */
  summary: string;
}

/** One step kind: its schema, its executor and its documentation together. */
export interface StepDef<K extends string = string, S extends z.ZodObject = z.ZodObject> {
  readonly kind: K;
  readonly level: StepLevel;
  /** The step's object schema: `do` (this kind), an optional `note`, `show` and `ask`, and the step's own fields. */
  readonly schema: S;
  readonly doc: StepDoc;
  exec(ctx: StepContext, step: z.output<S>, i: number): StepOutcome;
}

/**
 * The fields every step has: `do`, the lecturer's `note`, what the step is about (`show`, show.ts:
 * for the lab only, brought forward when the lesson reaches it) and the question asked before it
 * runs (`ask`, ask.ts).
 */
type CommonShape<K extends string> = { do: z.ZodLiteral<K>; note: z.ZodOptional<z.ZodString>; show: z.ZodOptional<typeof StepShow>; ask: z.ZodOptional<typeof Ask> };

/** Declare a step kind; the schema gets `do`, `note`, `show` and `ask` and refuses unknown fields. */
export function defineStep<K extends string, T extends z.ZodRawShape>(
  kind: K,
  level: StepLevel,
  shape: T,
  doc: StepDoc,
  exec: (ctx: StepContext, step: z.output<z.ZodObject<CommonShape<K> & T, z.core.$strict>>, i: number) => StepOutcome,
): StepDef<K, z.ZodObject<CommonShape<K> & T, z.core.$strict>> {
  const schema = z.strictObject({ do: z.literal(kind), note: z.string().optional(), show: StepShow.optional(), ask: Ask.optional(), ...shape }).describe(doc.summary);
  return { kind, level, schema, doc, exec } as StepDef<K, z.ZodObject<CommonShape<K> & T, z.core.$strict>>;
}
