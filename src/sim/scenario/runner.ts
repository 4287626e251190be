import { Clock } from '../core/clock';
import { Errno, SysError } from '../core/errno';
import { Rng } from '../core/rng';
import { Trace, type SimEvent } from '../core/trace';
import { PAGE_SIZE, formatSize, hex } from '../core/units';
import { parseU64, type U64 } from '../core/u64';
import { AsmError, assemble, type Program } from '../guest/asm';
import { Cpu } from '../cpu';
import { KERNEL_SERVICES, LinuxGuestKernel } from '../guest/kernel/kernel';
import type { DeviceId } from '../vmm/devices/types';
import type { SurfaceCount } from '../vmm/surface-view';
import { Host } from '../host/host';
import { FRAME_OWNER_NAMES } from '../host/physmem';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, type GuestMemfd } from '../kvm/guest-memfd';
import { Kvm, VM_TYPE_NAMES } from '../kvm/kvm';
import type { RunExit } from '../kvm/run';
import * as uapi from '../kvm/uapi';
import type { Vcpu } from '../kvm/vcpu';
import type { Vm } from '../kvm/vm';
import type { Process } from '../host/process';
import { hostFrameOf } from '../kvm/host-frame';
import { allowBitmap } from '../kvm/msr-filter';
import { SEPT_STATE_NAMES } from '../tdx/sept';
import { VmmVm } from '../vmm/vmm';
import { ScenarioError, parseScenario, type ScenarioT, type StepT } from './schema';

export type StepValue = number | string | boolean | null | Record<string, unknown> | unknown[];

/** The result of one step: what the call returned, as Linux would return it. */
export interface StepResult {
  step: number;
  do: string;
  ret: number;
  errno?: string;
  /** One sentence: why it failed, or what happened. */
  why?: string;
  value?: StepValue;
  exit?: RunExit;
  events: [number, number];
}

export interface VmSummary {
  name: string;
  type: string;
  memory: string;
  console: string;
  memslots: { slot: number; guest_phys_addr: string; memory_size: string; flags: number; userspace_addr: string; guest_memfd: number }[];
  privateGfns: number;
  mapped: { shared: number; private: number };
  td?: { hkid: number; attributes: string; gpaw: number; mrtd: string; pending: number; mapped: number; lifecycle: string };
  dead: string | null;
  instructions: number;
  /** For a VM the VMM built: its platform, the ACPI tables the guest found, the attack-surface figure. */
  platform?: { mode: string; boots: number; devices: string[]; acpi_tables: string[]; attack_surface: SurfaceCount };
}

export interface Report {
  format: 'guest-memory-lab/report';
  version: 1;
  title: string;
  seed: number;
  results: StepResult[];
  events: SimEvent[];
  summary: {
    time_ns: number;
    host: { name: string; memory: string; frames_used: number; frames_by_owner: Record<string, number> };
    vms: VmSummary[];
  };
}

const FLAG_NAMES: Record<string, number> = {
  KVM_MEM_LOG_DIRTY_PAGES: uapi.KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY: uapi.KVM_MEM_READONLY,
  KVM_MEM_GUEST_MEMFD: uapi.KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE: uapi.KVM_MEMORY_ATTRIBUTE_PRIVATE,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  GUEST_MEMFD_FLAG_MMAP: uapi.GUEST_MEMFD_FLAG_MMAP,
  GUEST_MEMFD_FLAG_INIT_SHARED: uapi.GUEST_MEMFD_FLAG_INIT_SHARED,
  KVM_MSR_FILTER_READ: uapi.KVM_MSR_FILTER_READ,
  KVM_MSR_FILTER_WRITE: uapi.KVM_MSR_FILTER_WRITE,
  KVM_MSR_EXIT_REASON_INVAL: uapi.KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN: uapi.KVM_MSR_EXIT_REASON_UNKNOWN,
  KVM_MSR_EXIT_REASON_FILTER: uapi.KVM_MSR_EXIT_REASON_FILTER,
  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE: uapi.KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
  KVM_DIRTY_LOG_INITIALLY_SET: uapi.KVM_DIRTY_LOG_INITIALLY_SET,
};

/** Assemble a program, turning assembler errors into a scenario error at `path`. */
export function assembleAt(source: string, origin: number, path: string, services: ReadonlySet<string>): Program {
  try {
    return assemble(source, { origin, services });
  } catch (e) {
    if (e instanceof AsmError) throw new ScenarioError([{ path, message: `assembler: ${e.toString()}` }]);
    throw e;
  }
}

/**
 * A whole simulated world for one scenario: the virtual clock, the trace, a host with KVM and the
 * TDX module, the VMM's VMs, and the KVM-level objects a scenario creates by hand. Steps run one at a
 * time; each returns what the real call would.
 */
export class ScenarioRun {
  /** The scenario is given again to restore a run (snapshot.ts): it is not part of the saved state. */
  static readonly stateSkip: readonly string[] = ['scenario'];
  readonly clock = new Clock();
  readonly trace: Trace;
  readonly rng: Rng;
  readonly host: Host;
  readonly kvm: Kvm;
  readonly vmms = new Map<string, VmmVm>();
  /** KVM-level objects named with "as": VMs, guest_memfds, mmaps. */
  private readonly named = new Map<string, { vm?: Vm; gmem?: GuestMemfd; addr?: number }>();
  private readonly testProcess;
  readonly results: StepResult[] = [];
  next = 0;

  constructor(readonly scenario: ScenarioT) {
    this.trace = new Trace(() => this.clock.now, 200_000);
    this.rng = new Rng(scenario.seed);
    this.host = new Host({ name: scenario.host.name, memoryBytes: scenario.host.memory }, this.clock, this.trace);
    this.kvm = new Kvm(this.host);
    this.testProcess = this.host.spawn('kvm-selftest');
    scenario.vms.forEach((spec, i) => {
      const program = assembleAt(spec.program, spec.origin, `$.vms[${i}].program`, KERNEL_SERVICES);
      try {
        const v = new VmmVm(this.host, this.kvm, {
          name: spec.name,
          kind: spec.type,
          memoryBytes: spec.memory,
          program,
          discardOnConvert: spec.discard_on_convert,
          platform: spec.platform && {
            mode: spec.platform.mode,
            devices: spec.platform.devices as Partial<Record<DeviceId, boolean>>,
            allow: {
              ports: spec.platform.allow.filter((a) => a.space === 'port').map(({ start, end, name }) => ({ start, end, name })),
              mmio: spec.platform.allow.filter((a) => a.space === 'mmio').map(({ start, end, name }) => ({ start, end, name })),
            },
          },
          tdx: spec.type === 'tdx' ? {
            septVeDisable: spec.tdx?.sept_ve_disable ?? true, debug: spec.tdx?.debug ?? false,
            gpaw: spec.tdx?.gpaw ?? 48, firmwareAcceptBytes: spec.tdx?.firmware_accept ?? 512 * 1024 * 1024,
          } : undefined,
        });
        this.vmms.set(spec.name, v);
      } catch (e) {
        if (e instanceof SysError) throw new ScenarioError([{ path: `$.vms[${i}]${spec.platform ? '.platform' : ''}`, message: `cannot build VM "${spec.name}": ${e.why}` }]);
        throw e;
      }
    });
  }

  static fromJson(input: unknown): ScenarioRun {
    return new ScenarioRun(parseScenario(input));
  }

  get done(): boolean {
    return this.next >= this.scenario.steps.length;
  }

  runAll(): Report {
    while (!this.done) this.step();
    return this.report();
  }

  /** A 'run' step in progress (advanced a slice at a time by advance()). */
  private partial: { step: number; first: number; instructions: number; exits: number } | null = null;

  /**
   * Advance by at most `slice` guest instructions: a 'run' step runs in slices so a UI can draw
   * between them; any other step runs whole. Returns the step's result when it completed, else null.
   * Running a scenario by slices gives the same trace as running it whole.
   */
  advance(slice: number): StepResult | null {
    if (this.done) return null;
    const st = this.scenario.steps[this.next];
    if (st.do !== 'run') return this.step();
    const v = this.vmmOf(st.vm, this.next);
    if (!this.partial || this.partial.step !== this.next) this.partial = { step: this.next, first: this.trace.count, instructions: 0, exits: 0 };
    const p = this.partial;
    const left = st.max_instructions - p.instructions;
    const o = v.run(st.vcpu, st.until, Math.min(slice, left));
    p.instructions += o.instructions;
    p.exits += o.exits;
    if (o.stop === 'budget' && p.instructions < st.max_instructions) return null;
    this.partial = null;
    const i = this.next++;
    const message = o.stop === 'budget' ? `the guest ran ${st.max_instructions} instructions without halting; the run stopped at the step budget` : o.message;
    const res: StepResult = { step: i, do: 'run', ret: 0, why: message, value: { stop: o.stop, instructions: p.instructions, exits: p.exits, console: v.console }, exit: o.lastExit && structuredClone(o.lastExit), events: [p.first, this.trace.count] };
    this.results.push(res);
    return res;
  }

  /** Run the next step. */
  step(): StepResult {
    if (this.partial) {
      let r: StepResult | null = null;
      while (!r) r = this.advance(1_000_000_000);
      return r;
    }
    const i = this.next++;
    const res = this.execTraced(this.scenario.steps[i], i);
    this.results.push(res);
    return res;
  }

  /** Execute one step that is not part of the scenario's list (a user command); it is not recorded in results. */
  runOne(st: StepT): StepResult {
    return this.execTraced(st, -1);
  }

  /** Run a step as the kernel would answer it: a value, or -1 with the errno (and a trace line saying why). */
  private execTraced(st: StepT, i: number): StepResult {
    const first = this.trace.count;
    let r: Omit<StepResult, 'step' | 'do' | 'events'>;
    try {
      r = this.exec(st, i);
    } catch (e) {
      if (e instanceof SysError) r = { ret: -1, errno: e.errno, why: e.why };
      else throw e;
    }
    if (r.ret === -1 && r.errno)
      this.trace.emit(layerOf(st.do), st.do, { errno: r.errno, errno_value: Errno[r.errno as keyof typeof Errno] ?? 0 },
        `${st.do} fails with ${r.errno}: ${r.why}.`, { vm: 'vm' in st ? (st.vm ?? null) : null });
    return { step: i, do: st.do, ...r, events: [first, this.trace.count] };
  }

  private vmmOf(name: string, i: number): VmmVm {
    const v = this.vmms.get(name);
    if (!v) throw new ScenarioError([{ path: `$.steps[${i}].vm`, message: `no VM named "${name}" (VMs: ${[...this.vmms.keys()].join(', ') || 'none'})` }]);
    return v;
  }

  /**
   * The host's side of a VM, for the host's reads and writes: its VMM, or for a VM the scenario made
   * with its own ioctls (as a selftest does), the scenario's process and the VM's memslots.
   */
  private hostSideOf(name: string, i: number): HostSide {
    const v = this.vmms.get(name);
    if (v) return { name, vm: v.vm, process: v.process, gmem: v.gmem, vcpus: v.vcpus, gpaToHva: (gpa) => v.gpaToHva(gpa), hostFrameOf: (gpa) => v.hostFrameOf(gpa) };
    const vm = this.named.get(name)?.vm;
    if (!vm) {
      const all = [...this.vmms.keys(), ...[...this.named.entries()].filter(([, n]) => n.vm).map(([k]) => k)];
      throw new ScenarioError([{ path: `$.steps[${i}].vm`, message: `no VM named "${name}" (VMs: ${all.join(', ') || 'none'})` }]);
    }
    return byHandSide(vm);
  }

  private vmOf(name: string, i: number): Vm {
    const n = this.named.get(name)?.vm ?? this.vmms.get(name)?.vm;
    if (!n) throw new ScenarioError([{ path: `$.steps[${i}].vm`, message: `no VM named "${name}"` }]);
    return n;
  }

  private gmemOf(ref: string | number, i: number, field: string): GuestMemfd {
    const g = typeof ref === 'string' ? this.named.get(ref)?.gmem : this.kvm.vms.flatMap((v) => [...v.gmems.values()]).find((x) => x.fd === ref);
    if (!g) {
      if (typeof ref === 'number') throw new SysError('EBADF', `fd ${ref} is not an open guest_memfd`);
      throw new ScenarioError([{ path: `$.steps[${i}].${field}`, message: `no guest_memfd named "${ref}"` }]);
    }
    return g;
  }

  /** A flags field as given (number, hex string above 2^53, or flag names) as a u64 for the ioctl. */
  private flags(v: number | string | string[], i: number, field: string): U64 {
    if (typeof v === 'number') return v;
    if (typeof v === 'string') {
      const b = parseU64(v);
      if (b === null) throw new ScenarioError([{ path: `$.steps[${i}].${field}`, message: `"${v}" is not a 64-bit unsigned value` }]);
      return b;
    }
    let out = 0n;
    for (const n of v) {
      if (!(n in FLAG_NAMES)) throw new ScenarioError([{ path: `$.steps[${i}].${field}`, message: `unknown flag "${n}" (known: ${Object.keys(FLAG_NAMES).join(', ')})` }]);
      out |= BigInt(FLAG_NAMES[n]);
    }
    return out <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(out) : out;
  }

  private cap(v: string | number, i: number): number {
    if (typeof v === 'number') return v;
    const n = (uapi as unknown as Record<string, unknown>)[v];
    if (typeof n !== 'number' || !v.startsWith('KVM_CAP_')) throw new ScenarioError([{ path: `$.steps[${i}].cap`, message: `unknown capability "${v}"` }]);
    return n;
  }

  private exec(st: StepT, i: number): Omit<StepResult, 'step' | 'do' | 'events'> {
    switch (st.do) {
      case 'run': {
        const v = this.vmmOf(st.vm, i);
        const o = v.run(st.vcpu, st.until, st.max_instructions);
        return { ret: 0, why: o.message, value: { stop: o.stop, instructions: o.instructions, exits: o.exits, console: v.console }, exit: o.lastExit && structuredClone(o.lastExit) };
      }
      case 'host_read':
        return this.hostRead(this.hostSideOf(st.vm, i), st.gpa, st.length, st.via);
      case 'host_write':
        return this.hostWrite(this.hostSideOf(st.vm, i), st.gpa, decodeData(st.data), st.via);
      case 'host_read_phys': {
        if (st.hpa + st.length > this.host.memory.nframes * PAGE_SIZE) return { ret: -1, errno: 'EFAULT', why: `${hex(st.hpa)} is beyond the end of host memory` };
        const r = this.host.readPhys(st.hpa, st.length);
        const f = Math.floor(st.hpa / PAGE_SIZE);
        this.trace.emit('host', 'read', { via: 'physical', hpa: hex(st.hpa), length: st.length, td_owned_lines: r.tdOwnedLines, data: toHex(r.bytes) },
          r.tdOwnedLines > 0 ? `The host reads host-physical ${hex(st.hpa)}: the line belongs to a TD and the host uses its own key, so it reads zeros.`
            : `The host reads host-physical ${hex(st.hpa)} (${FRAME_OWNER_NAMES[this.host.memory.owner[f]]}) and sees ${describe(r.bytes)}.`);
        return { ret: st.length, value: { hex: toHex(r.bytes), text: printable(r.bytes), hpa: hex(st.hpa), td_owned_lines: r.tdOwnedLines, owner: FRAME_OWNER_NAMES[this.host.memory.owner[f]] } };
      }
      case 'host_write_phys': {
        const data = decodeData(st.data);
        if (st.hpa + data.length > this.host.memory.nframes * PAGE_SIZE) return { ret: -1, errno: 'EFAULT', why: `${hex(st.hpa)} is beyond the end of host memory` };
        const r = this.host.writePhys(st.hpa, data);
        for (const vm of this.kvm.vms) for (const vc of vm.vcpus) vc.flushTlb();
        this.trace.emit('host', 'write', { via: 'physical', hpa: hex(st.hpa), length: data.length, poisoned_lines: r.poisonedLines },
          r.poisonedLines > 0 ? `The host writes host-physical ${hex(st.hpa)} with its own key: ${r.poisonedLines} line(s) of TD-private memory are poisoned.`
            : `The host writes ${data.length} byte(s) at host-physical ${hex(st.hpa)}.`);
        return { ret: data.length, value: { poisoned_lines: r.poisonedLines } };
      }
      case 'convert': {
        const v = this.vmmOf(st.vm, i);
        const rc = v.convertMemory(st.gpa, st.size, st.to === 'private', 'requested by the scenario');
        return rc === 0 ? { ret: 0 } : { ret: -1, errno: 'EINVAL', why: 'the VMM could not convert the range' };
      }
      case 'interrupt': {
        const v = this.vmmOf(st.vm, i);
        v.vcpus[st.vcpu].interruptPending = true;
        this.trace.emit('vmm', 'interrupt', { vcpu: st.vcpu }, `An interrupt becomes pending on vCPU ${st.vcpu}.`, { vm: st.vm, vcpu: st.vcpu });
        return { ret: 0 };
      }
      case 'mmap': {
        const addr = this.testProcess.mmapAnon(st.length, st.as);
        this.named.set(st.as, { addr });
        return { ret: 0, value: hex(addr) };
      }
      case 'KVM_CREATE_VM': {
        const vm = this.kvm.createVm(st.type, st.as, this.testProcess.pid);
        this.named.set(st.as, { vm });
        return { ret: vm.fd };
      }
      case 'KVM_CHECK_EXTENSION': {
        const cap = this.cap(st.cap, i);
        const v = st.vm ? this.vmOf(st.vm, i).checkExtension(cap) : this.kvm.checkExtension(cap);
        this.trace.emit('kvm', 'KVM_CHECK_EXTENSION', { cap: st.cap, on: st.vm ?? '/dev/kvm', ret: v },
          `KVM_CHECK_EXTENSION(${st.cap}) on ${st.vm ? `VM "${st.vm}"` : '/dev/kvm'} returns ${hex(v)}.`, { vm: st.vm ?? null });
        return { ret: v };
      }
      case 'KVM_ENABLE_CAP':
        return { ret: this.vmOf(st.vm, i).enableCap(this.cap(st.cap, i), st.args.map((a, k) => this.flags(a, i, `args[${k}]`))) };
      case 'KVM_X86_SET_MSR_FILTER': {
        const flags = typeof st.flags === 'number' ? st.flags : st.flags === 'KVM_MSR_FILTER_DEFAULT_DENY' ? uapi.KVM_MSR_FILTER_DEFAULT_DENY : uapi.KVM_MSR_FILTER_DEFAULT_ALLOW;
        const ranges = st.ranges.map((r, k) => ({
          flags: this.flags(r.flags, i, `ranges[${k}].flags`), base: r.base, nmsrs: r.nmsrs,
          bitmap: r.bitmap ?? allowBitmap(r.nmsrs, r.deny),
        }));
        return { ret: this.vmOf(st.vm, i).setMsrFilter({ flags, ranges }) };
      }
      case 'vmm_msr_handler': {
        const v = this.vmmOf(st.vm, i);
        const read = st.read === undefined ? undefined : typeof st.read === 'number' ? BigInt(st.read) : st.read;
        const write = st.write === undefined ? undefined : typeof st.write === 'object' ? { only: BigInt(st.write.only) } : st.write;
        v.msrPolicy.set(st.msr, { read, write });
        this.trace.emit('vmm', 'vmm_msr_handler', { msr: hex(st.msr), read: read === undefined ? 'none' : typeof read === 'bigint' ? hex(read) : read, write: write === undefined ? 'none' : typeof write === 'object' ? `only ${hex(write.only)}` : write },
          `QEMU registers a handler for MSR ${hex(st.msr)}: it answers the exits KVM sends it for this MSR.`, { vm: st.vm });
        return { ret: 0 };
      }
      case 'set_device':
        this.vmmOf(st.vm, i).setDevice(st.device, st.enabled);
        return { ret: 0, value: { needs_reboot: this.vmmOf(st.vm, i).pendingChanges() } };
      case 'set_design_mode':
        this.vmmOf(st.vm, i).setDesignMode(st.mode);
        return { ret: 0, value: { needs_reboot: this.vmmOf(st.vm, i).pendingChanges() } };
      case 'freeze_devices':
        this.vmmOf(st.vm, i).freezeDevices();
        return { ret: 0 };
      case 'reboot': {
        const v = this.vmmOf(st.vm, i);
        v.reboot();
        const o = v.run(0, 'halt', st.max_instructions);
        return { ret: 0, why: o.message, value: { boot: v.boots, stop: o.stop, instructions: o.instructions, exits: o.exits, console: v.console } };
      }
      case 'set_msr_policy':
        return { ret: this.vmmOf(st.vm, i).setMsrPolicy(st.msr, { read: st.read, write: st.write, constraint: st.constraint, value: st.value }) };
      case 'KVM_CREATE_GUEST_MEMFD': {
        const g = this.vmOf(st.vm, i).createGuestMemfd(st.size, this.flags(st.flags, i, 'flags'));
        this.named.set(st.as, { gmem: g });
        return { ret: g.fd };
      }
      case 'KVM_SET_USER_MEMORY_REGION2': {
        const vm = this.vmOf(st.vm, i);
        const ua = typeof st.userspace_addr === 'string' ? this.named.get(st.userspace_addr)?.addr : st.userspace_addr;
        if (ua === undefined) throw new ScenarioError([{ path: `$.steps[${i}].userspace_addr`, message: `no mmap named "${st.userspace_addr}"` }]);
        const fd = st.guest_memfd === undefined ? undefined : typeof st.guest_memfd === 'number' ? st.guest_memfd : this.gmemOf(st.guest_memfd, i, 'guest_memfd').fd;
        return {
          ret: vm.setUserMemoryRegion2({
            slot: st.slot, flags: this.flags(st.flags, i, 'flags'), guest_phys_addr: st.guest_phys_addr, memory_size: st.memory_size,
            userspace_addr: ua, guest_memfd: fd, guest_memfd_offset: st.guest_memfd_offset,
          }),
        };
      }
      case 'KVM_SET_MEMORY_ATTRIBUTES':
        return { ret: this.vmOf(st.vm, i).setMemoryAttributes({ address: st.address, size: st.size, attributes: this.flags(st.attributes, i, 'attributes'), flags: this.flags(st.flags, i, 'flags') }) };
      case 'fallocate':
        this.gmemOf(st.fd, i, 'fd').fallocate(this.flags(st.mode, i, 'mode'), st.offset, st.len);
        return { ret: 0 };
      case 'read': {
        const g = this.gmemOf(st.fd, i, 'fd');
        if (st.op === 'mmap') g.mmap();
        else g.readOrWrite(st.op);
        return { ret: 0 };
      }
      case 'KVM_CREATE_VCPU':
        return { ret: this.vmOf(st.vm, i).createVcpu(st.id).fd };
      case 'load_program': {
        const vm = this.vmOf(st.vm, i);
        const vcpu = vm.vcpus.find((v) => v.id === st.vcpu);
        if (!vcpu) throw new ScenarioError([{ path: `$.steps[${i}].vcpu`, message: `VM "${st.vm}" has no vCPU ${st.vcpu}` }]);
        const program = assembleAt(st.program, st.gpa, `$.steps[${i}].program`, KERNEL_SERVICES);
        const hva = vm.gpaToHva(st.gpa);
        if (hva === undefined) return { ret: -1, errno: 'EFAULT', why: `no memslot covers ${hex(st.gpa)}` };
        vm.vmm.write(hva, program.image);
        const platform = vm.isTd ? 'tdx' : vm.hasPrivateMemory ? 'sw-protected' : 'none';
        const cpu = new Cpu(program, vcpu, new LinuxGuestKernel(platform, this.trace, { vm: vm.name, vcpu: vcpu.id }));
        cpu.set('rsp', BigInt(Math.ceil((st.gpa + program.image.length) / PAGE_SIZE) * PAGE_SIZE + PAGE_SIZE));
        vcpu.cpu = cpu;
        // A new program: whatever the last exit was, it is not completed by this code.
        vcpu.lastExit = null;
        this.trace.emit('vmm', 'load_program', { gpa: hex(st.gpa), bytes: program.image.length },
          `The test copies a ${program.image.length}-byte guest program into guest memory at ${hex(st.gpa)} through its mapping.`, { vm: vm.name });
        return { ret: 0 };
      }
      case 'KVM_RUN': {
        const vm = this.vmOf(st.vm, i);
        const vcpu = vm.vcpus.find((v) => v.id === st.vcpu);
        if (!vcpu) throw new ScenarioError([{ path: `$.steps[${i}].vcpu`, message: `VM "${st.vm}" has no vCPU ${st.vcpu}` }]);
        const last = vcpu.lastExit;
        if (st.complete && last) {
          if (last.reason === 'KVM_EXIT_IO' && st.complete.data !== undefined) last.io.data = st.complete.data;
          if (last.reason === 'KVM_EXIT_MMIO' && st.complete.data !== undefined) last.mmio.data = st.complete.data;
          if (last.reason === 'KVM_EXIT_HYPERCALL' && st.complete.ret !== undefined) last.hypercall.ret = st.complete.ret;
        }
        const r = vcpu.run(st.max_instructions);
        // A copy: user space may later write its answer into kvm_run, which must not rewrite this result.
        return { ret: r.ret, errno: r.errno, why: r.why, exit: r.exit && structuredClone(r.exit), value: { instructions: r.instructions, blocked: r.blocked ?? null } };
      }
      case 'KVM_GET_DIRTY_LOG': {
        const bm = this.vmOf(st.vm, i).getDirtyLog(st.slot);
        const pages: number[] = [];
        bm.forEach((w, k) => {
          for (let b = 0; b < 32; b++) if ((w >>> b) & 1) pages.push(k * 32 + b);
        });
        return { ret: 0, value: { dirty_pages: pages } };
      }
      case 'KVM_CLEAR_DIRTY_LOG':
        return { ret: this.vmOf(st.vm, i).clearDirtyLog(st.slot, st.first_page, st.num_pages) };
      case 'KVM_GET_REGS': {
        const vm = this.vmOf(st.vm, i);
        const vcpu = vm.vcpus.find((v) => v.id === st.vcpu);
        if (!vcpu) throw new ScenarioError([{ path: `$.steps[${i}].vcpu`, message: `VM "${st.vm}" has no vCPU ${st.vcpu}` }]);
        const regs = vcpu.getRegs();
        this.trace.emit('kvm', 'KVM_GET_REGS', { rip: regs.rip }, `The VMM reads vCPU ${st.vcpu}'s registers: rip is ${regs.rip}.`, { vm: vm.name });
        return { ret: 0, value: regs };
      }
    }
  }

  /** A privileged host reads guest memory, the three ways an attacker on the host could try. */
  hostRead(v: HostSide, gpa: number, len: number, via: 'vmm_mapping' | 'physical' | 'guest_memfd'): Omit<StepResult, 'step' | 'do' | 'events'> {
    const gfn = Math.floor(gpa / PAGE_SIZE);
    const priv = v.vm.isPrivate(gfn);
    const ctx = { vm: v.name, gfns: [gfn, 1] as const };
    if (via === 'guest_memfd') {
      if (!v.gmem) return { ret: -1, errno: 'EBADF', why: `VM "${v.name}" has no guest_memfd` };
      v.gmem.readOrWrite('read');
    }
    if (via === 'vmm_mapping') {
      const hva = v.gpaToHva(gpa);
      if (hva === undefined) return { ret: -1, errno: 'EFAULT', why: `GPA ${hex(gpa)} is not in a memslot, so the VMM has no mapping of it` };
      const bytes = v.process.read(hva, len);
      const text = priv
        ? `The VMM reads ${hex(gpa)} through its mapping (HVA ${hex(hva)}), but the page is private: its mapping only ever holds the shared view, so it sees ${describe(bytes)}, not what the guest wrote.`
        : `The VMM reads ${hex(gpa)} through its mapping (HVA ${hex(hva)}) and sees ${describe(bytes)}.`;
      this.trace.emit('host', 'read', { via, gpa: hex(gpa), hva: hex(hva), length: len, private: priv, data: toHex(bytes) }, text, ctx);
      return { ret: len, value: { hex: toHex(bytes), text: printable(bytes), view: priv ? 'shared view of a private page' : 'shared' } };
    }
    const where = v.hostFrameOf(gpa);
    if (!where) return { ret: -1, errno: 'ENOENT', why: `no host frame backs GPA ${hex(gpa)} yet (never touched, or discarded)` };
    const hpa = where.frame * PAGE_SIZE + (gpa % PAGE_SIZE);
    const r = this.host.readPhys(hpa, len);
    const text = r.tdOwnedLines > 0
      ? `The host reads host-physical ${hex(hpa)} directly: the line belongs to the TD and the host uses its own key, so the memory controller returns zeros.`
      : `The host reads host-physical ${hex(hpa)} (the ${where.view} page of GPA ${hex(gpa)}) directly and sees ${describe(r.bytes)}.`;
    this.trace.emit('host', 'read', { via, gpa: hex(gpa), hpa: hex(hpa), length: len, td_owned_lines: r.tdOwnedLines, data: toHex(r.bytes) }, text, ctx);
    return { ret: len, value: { hex: toHex(r.bytes), text: printable(r.bytes), hpa: hex(hpa), td_owned_lines: r.tdOwnedLines, view: where.view } };
  }

  hostWrite(v: HostSide, gpa: number, data: Uint8Array, via: 'vmm_mapping' | 'physical'): Omit<StepResult, 'step' | 'do' | 'events'> {
    const gfn = Math.floor(gpa / PAGE_SIZE);
    const ctx = { vm: v.name, gfns: [gfn, 1] as const };
    if (via === 'vmm_mapping') {
      const hva = v.gpaToHva(gpa);
      if (hva === undefined) return { ret: -1, errno: 'EFAULT', why: `GPA ${hex(gpa)} is not RAM` };
      v.process.write(hva, data);
      this.trace.emit('host', 'write', { via, gpa: hex(gpa), hva: hex(hva), length: data.length },
        `The VMM writes ${data.length} byte(s) at ${hex(gpa)} through its mapping${v.vm.isPrivate(gfn) ? ' — into the shared view; the private page is untouched' : ''}.`, ctx);
      return { ret: data.length };
    }
    const where = v.hostFrameOf(gpa);
    if (!where) return { ret: -1, errno: 'ENOENT', why: `no host frame backs GPA ${hex(gpa)}` };
    const hpa = where.frame * PAGE_SIZE + (gpa % PAGE_SIZE);
    const r = this.host.writePhys(hpa, data);
    for (const vc of v.vcpus) vc.flushTlb();
    this.trace.emit('host', 'write', { via, gpa: hex(gpa), hpa: hex(hpa), length: data.length, poisoned_lines: r.poisonedLines },
      r.poisonedLines > 0
        ? `The host writes host-physical ${hex(hpa)} with its own key: ${r.poisonedLines} cache line(s) of the TD's page are now poisoned; the TD's next read there takes a machine check.`
        : `The host writes ${data.length} byte(s) at host-physical ${hex(hpa)}.`, ctx);
    return { ret: data.length, value: { hpa: hex(hpa), poisoned_lines: r.poisonedLines } };
  }

  report(): Report {
    const byOwner: Record<string, number> = {};
    const mem = this.host.memory;
    for (let f = 0; f < mem.nframes; f++) {
      const o = mem.owner[f];
      if (o !== 0) byOwner[FRAME_OWNER_NAMES[o]] = (byOwner[FRAME_OWNER_NAMES[o]] ?? 0) + 1;
    }
    return {
      format: 'guest-memory-lab/report',
      version: 1,
      title: this.scenario.title,
      seed: this.scenario.seed,
      results: this.results,
      events: this.trace.events,
      summary: {
        time_ns: this.clock.now,
        host: { name: this.host.name, memory: formatSize(this.host.config.memoryBytes), frames_used: mem.framesUsed, frames_by_owner: byOwner },
        vms: this.kvm.vms.map((vm) => this.vmSummary(vm)),
      },
    };
  }

  private vmSummary(vm: Vm): VmSummary {
    const vmm = this.vmms.get(vm.name);
    const td = vm.td;
    const maxGfn = Math.max(0, ...[...vm.slots.values()].map((s) => s.baseGfn + s.npages));
    return {
      name: vm.name,
      type: VM_TYPE_NAMES[vm.type],
      memory: formatSize([...vm.slots.values()].reduce((n, s) => n + s.npages * PAGE_SIZE, 0)),
      console: vmm?.console ?? '',
      memslots: [...vm.slots.values()].map((s) => ({
        slot: s.id, guest_phys_addr: hex(s.baseGfn * PAGE_SIZE), memory_size: hex(s.npages * PAGE_SIZE), flags: s.flags,
        userspace_addr: hex(s.userspaceAddr), guest_memfd: s.gmem ? s.gmem.fd : -1,
      })),
      privateGfns: vm.attributes.size,
      mapped: vm.mmu.countMapped(0, maxGfn),
      td: td ? { hkid: td.hkid, attributes: hex(td.attributes), gpaw: td.gpaw, mrtd: td.mrtd.value, pending: td.pendingPages, mapped: td.mappedPages, lifecycle: td.lifecycle } : undefined,
      dead: vm.dead,
      instructions: vm.vcpus.reduce((n, v) => n + (v.cpu?.instructionsRetired ?? 0), 0),
      platform: vmm && {
        mode: vmm.running.mode,
        boots: vmm.boots,
        devices: vmm.platform.devicesView().filter((d) => d.enabled).map((d) => d.id),
        acpi_tables: vmm.acpiTables().tables.filter((t) => t.change !== 'removed').map((t) => t.signature),
        attack_surface: vmm.surface(),
      },
    };
  }

  /** The Secure-EPT state name of a TD's GFN (for tests and the UI). */
  septState(vmName: string, gfn: number): string {
    const vm = this.vmOf(vmName, -1);
    return vm.td ? SEPT_STATE_NAMES[vm.td.stateOf(gfn)] : 'n/a';
  }
}

function layerOf(op: string): 'kvm' | 'vmm' | 'host' {
  if (op.startsWith('KVM_') || op === 'fallocate' || op === 'read') return 'kvm';
  if (op.startsWith('host_') || op === 'mmap') return 'host';
  return 'vmm';
}

export function decodeData(s: string): Uint8Array {
  if (s.startsWith('hex:')) {
    const h = s.slice(4).replace(/\s+/g, '');
    if (!/^([0-9a-f]{2})*$/i.test(h)) throw new ScenarioError([{ path: 'data', message: `"${s}" is not hex bytes` }]);
    return Uint8Array.from(h.match(/../g) ?? [], (x) => Number.parseInt(x, 16));
  }
  return new TextEncoder().encode(s);
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

export function printable(b: Uint8Array): string {
  return Array.from(b, (x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
}

function describe(b: Uint8Array): string {
  if (b.every((x) => x === 0)) return 'only zeros';
  return `"${printable(b)}"`;
}

/** What the host's reads and writes of a VM's memory go through (see Runner.hostSideOf). */
interface HostSide {
  name: string;
  vm: Vm;
  /** The user-space process that maps the VM's memory (the VMM, or the selftest-like scenario). */
  process: Process;
  gmem: GuestMemfd | null;
  vcpus: readonly Vcpu[];
  gpaToHva(gpa: number): number | undefined;
  hostFrameOf(gpa: number): { frame: number; view: 'private' | 'shared' } | null;
}

/** A VM without a VMM: its memory is what its memslots say, mapped by the process that made it. */
function byHandSide(vm: Vm): HostSide {
  const gpaToHva = (gpa: number) => vm.gpaToHva(gpa);
  return {
    name: vm.name, vm, process: vm.vmm, vcpus: vm.vcpus, gpaToHva,
    gmem: vm.gmems.values().next().value ?? null,
    hostFrameOf: (gpa) => hostFrameOf(vm, vm.vmm, gpaToHva, gpa, vm.gmems.size > 0),
  };
}
