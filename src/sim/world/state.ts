/**
 * How a restore makes the parts of a world that its constructor does not: the VMs, guest_memfds,
 * vCPUs, processes and CPUs the scenario's steps made since (KVM_CREATE_VM, KVM_CREATE_GUEST_MEMFD,
 * KVM_CREATE_VCPU, load_program). Each is made by the same call that made it the first time, on its
 * owner (the KVM, VM, host or vCPU the state is loaded into), then loaded like every other part
 * (core/state.ts). The classes are registered by name here so the names survive minification.
 */
import { type PartState, type RefState, type StateFactories, resolvePath, stateClass } from '../core/state';
import { Timer, type TimerAction } from '../core/actor';
import { Cpu } from '../cpu';
import { assemble } from '../guest/asm';
import { KERNEL_SERVICES, LinuxGuestKernel, type Platform } from '../guest/kernel/kernel';
import type { Host } from '../host/host';
import { Process } from '../host/process';
import { Userfaultfd } from '../host/userfaultfd';
import { GuestMemfd } from '../kvm/guest-memfd';
import type { Kvm } from '../kvm/kvm';
import { Vcpu } from '../kvm/vcpu';
import { Vm } from '../kvm/vm';
import type { Scheduler } from './scheduler';
import { MigrationThread, type MigrationSetup } from '../vmm/migration/migration';
import type { VmmVm } from '../vmm/vmm';
import type { Link } from './link';

/** What a migration thread is wired from (the World has it). */
export interface MigrationWorld {
  vmm(name: string): VmmVm | undefined;
  link(name: string): Link;
}

stateClass('Process', Process);
stateClass('Userfaultfd', Userfaultfd);
stateClass('Vm', Vm);
stateClass('GuestMemfd', GuestMemfd);
stateClass('Vcpu', Vcpu);
stateClass('Cpu', Cpu);
stateClass('LinuxGuestKernel', LinuxGuestKernel);
stateClass('Timer', Timer);
stateClass('MigrationThread', MigrationThread);

const isRef = (v: unknown): v is RefState => typeof v === 'object' && v !== null && '$ref' in v;

export const WORLD_FACTORIES: StateFactories = {
  // A timer a step set (World.at): its action is data, resolved in the fresh world's own table.
  Timer: (s, ctx) => new Timer(String(s.name), Number(s.at), s.action as TimerAction, (s.order as number[]) ?? [], (ctx.root as { scheduler: Scheduler }).scheduler.actions),
  Process: (s, ctx) => (ctx.owner as Host).spawn(String(s.name)),
  // A userfaultfd a step opened: made again on its process (its registrations and waiters load after).
  Userfaultfd: (s, ctx) => (ctx.owner as Process).userfaultfd(Number(s.flags)),
  Vm: (s, ctx) => {
    const kvm = ctx.owner as Kvm;
    const proc = isRef(s.vmm) ? resolvePath(ctx.root, s.vmm.$ref) : undefined;
    if (!(proc instanceof Process)) throw new Error(`state: VM "${String(s.name)}" names no process that made it`);
    return kvm.createVm(Number(s.type), String(s.name), proc.pid);
  },
  GuestMemfd: (s, ctx) => (ctx.owner as Vm).createGuestMemfd(Number(s.size), Number(s.flags)),
  Vcpu: (s, ctx) => (ctx.owner as Vm).createVcpu(Number(s.id)),
  // A migration a step started: wired again to the VMMs and the link its fields name (its progress loads after).
  MigrationThread: (s, ctx) => migrationThread(ctx.root as MigrationWorld, s as unknown as MigrationSetup & { startNs: number }),
  // A CPU the VMM did not make: a program load_program put on a hand-made VM's vCPU, assembled again.
  Cpu: (s, ctx) => {
    const vcpu = ctx.owner as Vcpu;
    const k = s.kernel as PartState & { platform: Platform };
    const src = s.source as { origin: number; lines: string[] };
    const kernel = new LinuxGuestKernel(k.platform, vcpu.vm.kvm.host.trace, { vm: vcpu.vm.name, vcpu: vcpu.id });
    return new Cpu(assemble(src.lines.join('\n'), { origin: src.origin, services: KERNEL_SERVICES }), vcpu, kernel);
  },
};

/** A migration thread wired into `world` (world/migrate.ts starts one; a restore makes one again). */
export function migrationThread(world: MigrationWorld, setup: MigrationSetup & { startNs: number }): MigrationThread {
  const src = world.vmm(setup.src);
  const dst = world.vmm(setup.dst);
  if (!src || !dst) throw new Error(`state: a migration from "${setup.src}" to "${setup.dst}" names a VM the world does not have`);
  return new MigrationThread({ src, dst, link: world.link(setup.link) }, setup, setup.startNs);
}
