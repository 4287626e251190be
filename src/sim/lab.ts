import type { SimEvent } from './core/trace';
import { PAGED_CHUNK } from './core/paged-array';
import { PAGE_SIZE, hex } from './core/units';
import { describeInsn } from './cpu';
import { PageState, frameInfo, frameOwners, gfnSpan, pageStates, translationWalk, type FrameInfo, type WalkHop } from './inspect';
import { AsmError, assembleWithDiagnostics } from './guest/asm';
import { VM_TYPE_NAMES, capRows } from './kvm/kvm';
import { cpuidRows } from './kvm/msr-cpuid';
import { resetState } from './vmm/reset-state';
import type { AttackSurfaceView } from './vmm/surface-view';
import type { Vm } from './kvm/vm';
import { KERNEL_SERVICES } from './guest/kernel/kernel';
import { ScenarioRun, type StepResult } from './scenario/runner';
import type { HostNode } from './world/world';
import { ScenarioError, Step, jsonPath, type ScenarioT } from './scenario/schema';

/**
 * Which VM: its host and its name on that host. VM names need not be unique across the world (a
 * selftest-like scenario can KVM_CREATE_VM "guest" on two hosts), so every per-VM query, frame key
 * and selection names both.
 */
export interface VmRef {
  host: string;
  vm: string;
}

/** What the UI shows of one host in a frame. */
export interface HostView {
  name: string;
  /** Physical memory in bytes. */
  memory: number;
  /** Host frames (4 KiB pages of physical memory). */
  frames: number;
  framesUsed: number;
}

/** A link between two hosts, as the UI shows it. */
export interface LinkView {
  name: string;
  from: string;
  to: string;
  /** Bytes per virtual second. */
  bandwidth: number;
  /** Virtual nanoseconds. */
  latency: number;
  state: 'up' | 'down';
}

/** One VMA of the VMM process, with the guest pages it maps that are resident (as GPA runs). */
export interface VmmMapping {
  start: string;
  end: string;
  prot: string;
  name: string;
  /** Resident pages in the VMA. */
  resident: number;
  /** The resident pages that back guest RAM, as runs of guest-physical addresses [gpa, end). */
  guest: { gpa: string; end: string; pages: number }[];
  /** Runs left out (more than MAX_GUEST_RUNS). */
  guestMore: number;
}

/** What the UI shows of one VM in a frame. */
export interface VmView {
  name: string;
  /** The host the VM runs on. */
  host: string;
  type: string;
  isTd: boolean;
  /** GFNs the page map covers (up to the end of the highest memslot). */
  gfnCount: number;
  console: string;
  /** Registers, or null when the host cannot read them (a TD without DEBUG). */
  regs: Record<string, string> | null;
  regsNote: string;
  rip: string | null;
  /** 1-based source line of the next instruction, when the vCPU runs a program. */
  line: number | null;
  instruction: string | null;
  instructions: number;
  dead: string | null;
  memslots: { slot: number; guest_phys_addr: string; memory_size: string; flags: number; userspace_addr: string; guest_memfd: number; guest_memfd_offset: string }[];
  program: string | null;
  /** Where the program is assembled and loaded. */
  origin: string | null;
  td: { hkid: number; attributes: string; gpaw: number; sharedBit: number; mrtd: string; pending: number; mapped: number; lifecycle: string } | null;
  /**
   * Each vCPU's run state (vmm/vcpu-thread.ts: running, halted, blocked, sleeping, paused, panicked,
   * stopped), instructions and virtual ns per state; a VM made by hand with KVM_CREATE_VCPU has no
   * VMM threads, so its vCPUs show as `idle`.
   */
  vcpus: VcpuView[];
}

export interface VcpuView {
  index: number;
  state: string;
  instructions: number;
  exits: number;
  time: Record<string, number>;
}

/** A frame: the small JSON summary the worker publishes (page arrays travel separately). */
export interface LabFrame {
  title: string;
  explanation: string;
  timeNs: number;
  stepIndex: number;
  stepCount: number;
  steps: { do: string; note: string | null }[];
  done: boolean;
  results: StepResult[];
  /** The newest events only, so a frame's cost does not grow with the trace. */
  events: SimEvent[];
  eventCount: number;
  narration: string;
  /** The newest event that touched guest pages (the lesson's latest page, outlined while paused), or null. */
  focus: { seq: number; host: string; vm: string; name: string; gfns: readonly [number, number] } | null;
  /** Every VM of the world, host by host. */
  vms: VmView[];
  /** Every host of the world, in the scenario's order. */
  hosts: HostView[];
  /** The links between hosts (none in a one-host scenario). */
  links: LinkView[];
}

/**
 * At most this many events since the previous frame are carried, the newest (so a frame's cost stays
 * bounded however fast the guest runs); the trace panel fetches the rest with events() when it wants them.
 */
const MAX_NEW_EVENTS = 250;
/** At most this many events per events() call. */
const MAX_EVENTS_QUERY = 5000;
/** At most this many runs of guest pages per VMA in vmmMappings(). */
const MAX_GUEST_RUNS = 64;

/**
 * The facade the worker and the CLI use: a scenario loaded into a fresh machine, advanced a step or a
 * slice of instructions at a time, plus the queries the panels need. Everything a user does goes
 * through here, so the same scenario and the same commands give the same trace.
 */
export class Lab {
  readonly run: ScenarioRun;
  /** User commands executed so far (steps given by the UI), for reproducibility. */
  readonly commands: unknown[] = [];
  /** Per VM (keyed by host and name), the array pageStates() last filled and the versions it was filled at. */
  private readonly statesCache = new Map<string, { out: Uint8Array; vm: Vm; n: number; layout: number; ept: number; sept: number }>();
  /** Per host, the array hostFrameOwners() last filled, and the VM list it was filled for. */
  private readonly ownersCache = new Map<string, { out: Uint8Array; sig: string }>();

  constructor(input: unknown) {
    this.run = ScenarioRun.fromJson(input);
  }

  get scenario(): ScenarioT {
    return this.run.scenario;
  }

  get done(): boolean {
    return this.run.done;
  }

  /** Run the next step whole. */
  step(): StepResult | null {
    return this.run.done ? null : this.run.step();
  }

  /** Advance by at most `instructions` guest instructions (a whole step if it is not a run). */
  advance(instructions: number): StepResult | null {
    return this.run.advance(instructions);
  }

  /** Advance until at least one new event is recorded (or the scenario ends). */
  stepEvent(): void {
    const n = this.run.trace.count;
    let guard = 0;
    while (!this.run.done && this.run.trace.count === n && guard++ < 100_000) this.run.advance(1);
  }

  /**
   * Advance, an instruction at a time, until KVM exits to user space (a new KVM_EXIT_* event), the
   * current step ends, or the scenario does. A guest that runs long without exiting stops after
   * `limit` instructions. Returns whether an exit was seen.
   */
  stepExit(limit = 200_000): boolean {
    const trace = this.run.trace;
    let seen = trace.count;
    for (let n = 0; n < limit && !this.run.done; n++) {
      const ended = this.run.advance(1);
      for (; seen < trace.count; seen++) if (trace.nameAt(seen)?.startsWith('KVM_EXIT_')) return true;
      if (ended) return false;
    }
    return false;
  }

  /**
   * Execute a command given as a scenario step (a host read, a conversion, a KVM ioctl ...) right now,
   * outside the scenario's list. Throws ScenarioError for a malformed command.
   */
  command(input: unknown): StepResult {
    const parsed = Step.safeParse(input);
    if (!parsed.success) throw new ScenarioError(parsed.error.issues.map((i) => ({ path: jsonPath(['command', ...i.path]), message: i.message })));
    this.commands.push(input);
    return this.run.runOne(parsed.data);
  }

  private node(host: string): HostNode {
    const h = this.run.world.hosts.find((x) => x.name === host);
    if (!h) throw new ScenarioError([{ path: '$.host', message: `no host named "${host}" (hosts: ${this.run.world.hosts.map((x) => x.name).join(', ')})` }]);
    return h;
  }

  /** The VM `ref` names; the newest of that name on its host (a reused "as" name names the newest, as the steps do). */
  private vm(ref: VmRef): Vm {
    const node = this.node(ref.host);
    const v = node.kvm.vms.findLast((x) => x.name === ref.vm);
    if (!v) throw new ScenarioError([{ path: '$.vm', message: `no VM named "${ref.vm}" on host "${ref.host}"` }]);
    return v;
  }

  /**
   * The VmRef of the VM named `name`, for callers that know a name only (tests, the CLI); throws
   * when no host or several hosts run a VM of that name.
   */
  refOf(name: string): VmRef {
    const hosts = this.run.world.hosts.filter((h) => h.kvm.vms.some((v) => v.name === name)).map((h) => h.name);
    if (hosts.length === 0) throw new ScenarioError([{ path: '$.vm', message: `no VM named "${name}"` }]);
    if (hosts.length > 1) throw new ScenarioError([{ path: '$.vm', message: `VM name "${name}" is used on several hosts (${hosts.join(', ')}): name the host too` }]);
    return { host: hosts[0], vm: name };
  }

  walk(ref: VmRef, gpa: number): WalkHop[] {
    const vm = this.vm(ref);
    return translationWalk(vm, vm.kvm.host, gpa);
  }

  /**
   * Changes whenever the VM's page states may have changed: what pageStates() reads is the memslots
   * and attributes (layoutVersion), the EPT entries and the Secure-EPT entries, and each write to
   * an entry bumps its array's version. The VM's fd tells a VM apart from a new one of the same name.
   */
  stateVersion(ref: VmRef): string {
    const vm = this.vm(ref);
    return `${vm.fd}:${vm.layoutVersion}:${vm.mmu.ept.version}:${vm.td?.sept.version ?? 0}`;
  }

  /** Changes whenever the host's frame ownership may have changed. */
  hostVersion(host: string): string {
    return `${this.run.trace.count}:${this.node(host).host.memory.framesUsed}`;
  }

  /**
   * Page-state codes of a VM's GFNs (see inspect.ts PageState). With `out` a viewer's copy filled by
   * an earlier call, only the chunks of GFNs whose EPT or Secure-EPT entries were written since are
   * recomputed (all of them after a memslot or attribute change). Also returns the GFNs [from, to)
   * this call may have changed in `out` (all of them after a rebuild; from = to when nothing
   * changed): a viewer repaints only those.
   */
  updatePageStates(ref: VmRef, out?: Uint8Array): { states: Uint8Array; from: number; to: number } {
    const vm = this.vm(ref);
    const key = `${ref.host}\0${ref.vm}`;
    const n = gfnSpan(vm);
    const target = out && out.length >= n ? out : new Uint8Array(n);
    const ept = vm.mmu.ept;
    const sept = vm.td?.sept ?? null;
    const c = this.statesCache.get(key);
    let from = 0;
    let to = target.length;
    if (c && c.out === target && c.vm === vm && c.n === n && c.layout === vm.layoutVersion) {
      const chunks = new Set([...ept.changedChunksSince(c.ept, 0, n), ...(sept ? sept.changedChunksSince(c.sept, 0, n) : [])]);
      from = n;
      to = 0;
      for (const ci of chunks) {
        const a = ci * PAGED_CHUNK;
        const b = Math.min(n, a + PAGED_CHUNK);
        pageStates(vm, target.subarray(a, b), a, b - a);
        from = Math.min(from, a);
        to = Math.max(to, b);
      }
      if (to <= from) from = to = 0;
    } else {
      pageStates(vm, target, 0, n);
      // A longer array than the VM's span now (a memslot went away): nothing is there any more.
      target.fill(PageState.NO_MEMSLOT, n);
    }
    this.statesCache.set(key, { out: target, vm, n, layout: vm.layoutVersion, ept: ept.version, sept: sept?.version ?? 0 });
    return { states: target, from, to };
  }

  /**
   * A host's frame owner codes (VM i is the host's own i-th VM, FrameView's order). With `out` a
   * viewer's copy filled by an earlier call, only the frames whose owner changed since are
   * recomputed (all of them after a bulk change or a new VM).
   */
  hostFrameOwners(host: string, out?: Uint8Array): Uint8Array {
    const node = this.node(host);
    const m = node.host.memory;
    const vms = node.kvm.vms;
    const n = m.nframes;
    const changed = m.takeOwnerChanges();
    const sig = vms.map((v) => `${v.name}:${[...v.gmems.values()].map((g) => g.ino).join(',')}:${v.td?.hkid ?? ''}`).join(';');
    const c = this.ownersCache.get(host);
    const reuse = out !== undefined && out === c?.out && out.length >= n && changed !== null && sig === c.sig;
    const target = out && out.length >= n ? out : new Uint8Array(n);
    frameOwners(node.host, vms, target, reuse ? changed : undefined);
    this.ownersCache.set(host, { out: target, sig });
    return target;
  }

  /** What frame `frame` of `host` is; throws for a frame past the host's memory. */
  frameInfo(host: string, frame: number): FrameInfo {
    const node = this.node(host);
    if (!Number.isInteger(frame) || frame < 0 || frame >= node.host.memory.nframes)
      throw new ScenarioError([{ path: '$.frame', message: `frame ${frame} is not in host "${host}"'s memory (${node.host.memory.nframes} frames)` }]);
    return frameInfo(node.host, node.kvm.vms, frame);
  }

  /**
   * What the attack-surface panel shows of a VM the VMM built (null for a VM made by KVM-level
   * steps, which has no VMM and no devices): devices, port and MMIO maps, ACPI tables, reset state,
   * MSRs, CPUID, capabilities, the boot log and the single figure.
   */
  attackSurface(ref: VmRef): AttackSurfaceView | null {
    const vmm = this.node(ref.host).vmms.get(ref.vm);
    if (!vmm) {
      this.vm(ref);
      return null;
    }
    const vm = vmm.vm;
    const p = vmm.platform;
    const maps = p.maps();
    const msrs = vmm.msrRows();
    const pendingDevices = vmm.devicesOf(vmm.pending);
    return {
      vm: ref.vm,
      host: ref.host,
      type: VM_TYPE_NAMES[vm.type] ?? String(vm.type),
      isTd: vmm.isTd,
      mode: vmm.running.mode,
      nextMode: vmm.pending.mode,
      needsReboot: vmm.pendingChanges(),
      allowList: vmm.running.mode === 'talk',
      frozen: p.frozen,
      // The switches show the next boot's setting; the maps show the running machine.
      devices: p.devicesView().map((d) => ({ ...d, enabled: pendingDevices[d.id] })),
      ports: maps.ports,
      mmio: maps.mmio,
      acpi: vmm.acpiTables().tables,
      reset: resetState(vmm.isTd ? 'tdx' : 'default', vmm.running.mode, { gpaw: vm.td?.gpaw ?? 48, vcpuIndex: 0 }),
      msrs,
      msrFilter: vm.msrPolicy.filterView(vm.userSpaceMsr),
      cpuid: cpuidRows(vm),
      caps: capRows(vm),
      bootLog: p.console,
      surface: vmm.surface(msrs),
      boots: vmm.boots,
    };
  }

  /**
   * The recorded events numbered [from, to), oldest first, at most MAX_EVENTS_QUERY (the newest of
   * the range when it is longer); events the trace no longer keeps are simply absent.
   */
  events(from: number, to: number): SimEvent[] {
    const tr = this.run.trace;
    const b = Math.min(to, tr.count);
    return tr.range(Math.max(from, b - MAX_EVENTS_QUERY), b);
  }

  /** Assemble a program without running it: the errors an editor marks, with line and column. */
  static diagnose(source: string, origin: number): { line: number; column: number; message: string }[] {
    const { errors } = assembleWithDiagnostics(source, { origin, services: KERNEL_SERVICES });
    return errors.map((e: AsmError) => ({ line: e.line, column: e.column, message: e.message }));
  }

  /** The VMM process's mappings and how many guest pages each maps now. */
  vmmMappings(ref: VmRef): VmmMapping[] {
    const vm = this.vm(ref);
    const slots = [...vm.slots.values()];
    return vm.vmm.vmas.map((v) => {
      let resident = 0;
      const runs: [number, number][] = [];
      vm.vmm.forEachPresent(v.start, v.end - v.start, (hva) => {
        resident++;
        const slot = slots.find((s) => hva >= s.userspaceAddr && hva < s.userspaceAddr + s.npages * PAGE_SIZE);
        if (!slot) return;
        const gfn = slot.baseGfn + (hva - slot.userspaceAddr) / PAGE_SIZE;
        const last = runs[runs.length - 1];
        if (last && last[0] + last[1] === gfn) last[1]++;
        else runs.push([gfn, 1]);
      });
      const shown = runs.length > MAX_GUEST_RUNS ? runs.slice(0, MAX_GUEST_RUNS) : runs;
      return {
        start: hex(v.start), end: hex(v.end), prot: v.prot, name: v.name, resident,
        guest: shown.map(([g, n]) => ({ gpa: hex(g * PAGE_SIZE), end: hex((g + n) * PAGE_SIZE), pages: n })),
        guestMore: runs.length - shown.length,
      };
    });
  }

  /**
   * The frame summary. `sinceSeq` is the newest event the receiver already has: the frame carries the
   * events after it, at most the newest `maxEvents`.
   */
  frame(sinceSeq = -1, maxEvents = MAX_NEW_EVENTS, withFocus = true): LabFrame {
    const r = this.run;
    const events = r.trace.range(Math.max(sinceSeq + 1, r.trace.count - maxEvents), r.trace.count);
    // The newest event, made once: it is usually the last one carried, and often the focus too.
    const last = events.at(-1) ?? r.trace.last();
    return {
      title: r.scenario.title,
      explanation: r.scenario.explanation,
      timeNs: r.clock.now,
      stepIndex: r.next,
      stepCount: r.scenario.steps.length,
      steps: r.scenario.steps.map((s) => ({ do: s.do, note: s.note ?? null })),
      done: r.done,
      results: r.results,
      events,
      eventCount: r.trace.count,
      narration: last ? last.text : r.scenario.explanation,
      focus: withFocus ? this.focus(last) : null,
      vms: r.world.hosts.flatMap((h) => h.kvm.vms.map((vm) => this.vmView(h, vm))),
      hosts: r.world.hosts.map((h) => ({ name: h.name, memory: h.host.memory.nframes * PAGE_SIZE, frames: h.host.memory.nframes, framesUsed: h.host.memory.framesUsed })),
      links: r.world.links.map(({ name, from, to, bandwidth, latency, state }) => ({ name, from, to, bandwidth, latency, state })),
    };
  }

  /** The newest event on pages (`last`, when it is one, else found in the trace's columns). */
  private focus(last: SimEvent | undefined): LabFrame['focus'] {
    const e = last?.gfns ? last : this.run.trace.lastTouching();
    return e && e.host && e.vm && e.gfns ? { seq: e.seq, host: e.host, vm: e.vm, name: e.name, gfns: e.gfns } : null;
  }

  private vmView(node: HostNode, vm: Vm): VmView {
    const vmm = node.vmms.get(vm.name);
    const vcpu = vm.vcpus[0];
    const cpu = vcpu?.cpu ?? null;
    const td = vm.td;
    let regs: Record<string, string> | null = null;
    let regsNote = '';
    if (cpu) {
      if (td && !td.debug) regsNote = 'The host cannot read a TD\'s registers (KVM_GET_REGS fails with EINVAL without the DEBUG attribute).';
      else regs = vcpu.getRegs();
    }
    const prog = cpu?.program ?? null;
    return {
      name: vm.name,
      host: node.name,
      type: VM_TYPE_NAMES[vm.type],
      isTd: vm.isTd,
      gfnCount: gfnSpan(vm),
      console: vmm?.console ?? '',
      regs,
      regsNote,
      rip: cpu ? hex(cpu.rip) : null,
      line: prog && cpu ? prog.lineOf(cpu.rip) ?? null : null,
      instruction: prog && cpu ? describeInsn(prog, cpu.rip) : null,
      instructions: cpu?.instructionsRetired ?? 0,
      dead: vm.dead,
      memslots: [...vm.slots.values()].map((s) => ({
        slot: s.id, guest_phys_addr: hex(s.baseGfn * PAGE_SIZE), memory_size: hex(s.npages * PAGE_SIZE), flags: s.flags,
        userspace_addr: hex(s.userspaceAddr), guest_memfd: s.gmem ? s.gmem.fd : -1, guest_memfd_offset: hex(s.gmemPgoff * PAGE_SIZE),
      })),
      program: prog ? prog.sourceLines.join('\n') : null,
      origin: prog ? hex(prog.origin) : null,
      td: td ? { hkid: td.hkid, attributes: hex(td.attributes), gpaw: td.gpaw, sharedBit: td.gpaw - 1, mrtd: td.mrtd.value, pending: td.pendingPages, mapped: td.mappedPages, lifecycle: td.lifecycle } : null,
      vcpus: vmm ? vmm.threads.map((t) => ({ index: t.index, state: t.state, ...t.snapshotCounts() }))
        : vm.vcpus.map((v) => ({ index: v.id, state: 'idle', instructions: v.cpu?.instructionsRetired ?? 0, exits: 0, time: {} })),
    };
  }
}

