import { Errno, SysError } from '../core/errno';
import type { Clock } from '../core/clock';
import type { Rng } from '../core/rng';
import type { Trace, TraceSink } from '../core/trace';
import { PAGE_SIZE, formatSize, hex } from '../core/units';
import { parseU64, type U64 } from '../core/u64';
import { KERNEL_SERVICES } from '../guest/kernel/kernel';
import type { DeviceId } from '../vmm/devices/types';
import type { Host } from '../host/host';
import { FRAME_OWNER_NAMES } from '../host/physmem';
import type { GuestMemfd } from '../kvm/guest-memfd';
import { VM_TYPE_NAMES, type Kvm } from '../kvm/kvm';
import type { Vm } from '../kvm/vm';
import { hostFrameOf } from '../kvm/host-frame';
import { SEPT_STATE_NAMES } from '../tdx/sept';
import { VmmVm } from '../vmm/vmm';
import { World, type HostNode } from '../world/world';
import type { HostSummary, Report, StepResult, VmSummary } from './report';
import { REPORT_FORMAT, REPORT_VERSION } from './report-json';
import { FLAG_NAMES, LIMITS, capabilityNumber } from './fields';
import { ScenarioError, parseScenario, type ScenarioT, type StepT } from './schema';
import { STEP_BY_KIND } from './steps';
import type { HostSide, Named, StepContext, StepOutcome } from './steps/define';
import { assembleAt } from './steps/util';
import { rebootOutcome, runStepOutcome } from './steps/vmm';
import { kvmRunSlice } from './steps/kvm';
import { guestInstructions, linkSend, linkSendOutcome, runUntilOutcome, runUntilTarget, runWorkBudget, waitBudgetSpent, worldWork, type RunUntilTarget } from './steps/world';
import { runVcpu } from '../world/run-vcpu';
import { prepareMigrations } from './migrations';
import { workloadProgram, workloadRange } from './workload';
import type { VmSpecT } from './schema';
import type { RunRequest } from '../vmm/vcpu-thread';

export type { HostSummary, LinkSummary, MigrationSummary, Report, StepResult, StepValue, VmSummary } from './report';
export { assembleAt, decodeData, printable, toHex } from './steps/util';


/** The trace layer of a step's failure event, by the step's level. */
const FAILURE_LAYER = { vmm: 'vmm', host: 'host', kvm: 'kvm', world: 'link' } as const;

/**
 * One scenario being run: the World it builds (the clock, the trace, the hosts with their KVM, TDX
 * module and VMMs), the KVM-level objects its steps create by hand, and the results so far. Steps
 * run one at a time through the step registry (steps/index.ts); each returns what the real call
 * would. The run is the steps' StepContext.
 */
export class ScenarioRun implements StepContext {
  readonly world: World;
  /** Every VMM's VM in the world, by name (names are unique across hosts). */
  readonly vmms = new Map<string, VmmVm>();
  /** KVM-level objects named with "as": VMs, guest_memfds, mmaps, each on its host. */
  readonly named = new Map<string, Named>();
  readonly results: StepResult[] = [];
  /** What the lab did to the scenario (a version-1 file upgraded, ...); copied into the report. */
  readonly notes: string[];
  next = 0;

  constructor(readonly scenario: ScenarioT) {
    this.world = new World({
      seed: scenario.seed,
      hosts: scenario.hosts.map((h) => ({ name: h.name, memoryBytes: h.memory, kernelSeries: h.kernel_series })),
      links: scenario.links,
      traceLimit: 200_000,
    });
    this.notes = [...scenario.notes];
    scenario.vms.forEach((spec, i) => {
      const node = this.world.host(spec.host);
      const program = assembleAt(programOf(spec, i), spec.origin, `$.vms[${i}].${spec.program === undefined ? 'workload' : 'program'}`, KERNEL_SERVICES);
      try {
        const v = new VmmVm(node.host, node.kvm, {
          name: spec.name,
          kind: spec.type,
          memoryBytes: spec.memory,
          program,
          discardOnConvert: spec.discard_on_convert,
          vcpus: spec.vcpus,
          dirtyRingSize: spec.dirty_ring_size,
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
        this.world.addVmm(node, v);
        this.vmms.set(spec.name, v);
      } catch (e) {
        if (e instanceof SysError) throw new ScenarioError([{ path: `$.vms[${i}]${spec.platform ? '.platform' : ''}`, message: `cannot build VM "${spec.name}": ${e.why}` }]);
        throw e;
      }
    });
    prepareMigrations(this);
  }

  static fromJson(input: unknown): ScenarioRun {
    return new ScenarioRun(parseScenario(input));
  }

  get clock(): Clock {
    return this.world.clock;
  }

  get trace(): Trace {
    return this.world.trace;
  }

  get rng(): Rng {
    return this.world.rng;
  }

  /** The first host's machine (the only one in a one-host scenario). Code that handles several hosts uses `world.hosts`. */
  get host(): Host {
    return this.world.hosts[0].host;
  }

  /** The first host's KVM (see `host`). */
  get kvm(): Kvm {
    return this.world.hosts[0].kvm;
  }

  get done(): boolean {
    return this.next >= this.scenario.steps.length;
  }

  runAll(): Report {
    while (!this.done) this.step();
    return this.report();
  }

  /** A 'run', 'KVM_RUN', 'reboot', 'run_until' or waiting 'link_send' step in progress (advanced a slice at a time by advance()). */
  private partial: PartialStep | null = null;

  /**
   * How far into the current step the run is (0 between steps): a 'run' or 'KVM_RUN' step's guest instructions
   * so far, a 'run_until's or waiting 'link_send's slice units so far (guest instructions plus actors run). With `next`,
   * where the run is, which is how the lab's time travel names a point to come back to: a 'run'
   * step's slice stops at exactly its count of instructions, a 'run_until's between actors, at
   * points that do not depend on the slices, so advancing by the difference from an earlier point of
   * the same step stops exactly there again.
   */
  get instructionsIntoStep(): number {
    const p = this.partial;
    if (!p || p.step !== this.next) return 0;
    return p.request ? p.request.instructions : p.units;
  }

  /** The step in progress, paused between two slices (what it has done so far), or null between steps. */
  get partialStep(): Readonly<PartialStep> | null {
    const p = this.partial;
    return p && p.step === this.next ? p : null;
  }

  /**
   * The runner's position, for a snapshot (snapshot.ts): the next step, the run step in progress,
   * the results so far, the notes, and the objects steps named with "as" (by host and fd: the
   * objects themselves are the world's, saved with it).
   */
  savePosition(): RunPosition {
    return {
      next: this.next, partial: this.partial && structuredClone(this.partial), results: structuredClone(this.results), notes: [...this.notes],
      named: [...this.named].map(([name, n]) => [name, { host: n.node.name, vm: n.vm?.fd, gmem: n.gmem?.fd, addr: n.addr, uffd: n.uffd && { pid: n.uffd.process.pid, fd: n.uffd.fd } }]),
    };
  }

  /** Put the runner back at a saved position (its world loaded first: the named objects are looked up in it). */
  loadPosition(p: RunPosition): void {
    this.next = p.next;
    this.partial = p.partial && structuredClone(p.partial);
    this.results.length = 0;
    this.results.push(...structuredClone(p.results));
    this.notes.length = 0;
    this.notes.push(...p.notes);
    this.named.clear();
    for (const [name, n] of p.named) {
      const node = this.world.host(n.host);
      const vm = n.vm === undefined ? undefined : node.kvm.vms.find((v) => v.fd === n.vm);
      const gmem = n.gmem === undefined ? undefined : node.kvm.vms.flatMap((v) => [...v.gmems.values()]).find((g) => g.fd === n.gmem);
      if ((n.vm !== undefined && !vm) || (n.gmem !== undefined && !gmem))
        throw new Error(`state: "${name}" names fd ${n.vm ?? n.gmem} on host "${n.host}", which the restored world does not have`);
      const uffd = n.uffd && node.host.processes.find((q) => q.pid === n.uffd!.pid)?.uffds.find((u) => u.fd === n.uffd!.fd);
      if (n.uffd && !uffd) throw new Error(`state: "${name}" names userfaultfd ${n.uffd.fd} of process ${n.uffd.pid} on host "${n.host}", which the restored world does not have`);
      this.named.set(name, { node, vm, gmem, addr: n.addr, uffd });
    }
  }

  /**
   * Advance by about `slice` guest instructions: a 'run' step (and a 'KVM_RUN', a 'run_until', a
   * 'link_send' that waits for its transfer, and a reboot: every step whose length the guests
   * decide) runs in slices so a UI can draw between them and time travel can stop inside; any other
   * step runs whole. Returns the step's result when it completed, else null.
   *
   * A 'run' step's slice runs exactly `slice` instructions of its vCPU (or fewer, when the step
   * ends): it cuts a KVM_RUN short if need be (runVcpu), which moves no event, since virtual time
   * inside a KVM_RUN is exact (Clock.now). A 'run_until's slice ends between two of the scheduler's
   * actors. Running a scenario by slices of any size gives the same trace, byte for byte, as
   * running it whole (slicing.test.ts).
   */
  advance(slice: number): StepResult | null {
    if (this.done) return null;
    const st = this.scenario.steps[this.next];
    const first = this.partial?.step === this.next ? this.partial.first : this.trace.count;
    try {
      return this.advanceStep(st, slice);
    } catch (e) {
      // A failure inside a step run by slices (a host out of memory while the world runs) ends it as
      // it ends the step run whole (execTraced): -1 with the errno, traced.
      if (!(e instanceof SysError)) throw e;
      this.partial = null;
      const i = this.next++;
      const res = this.finishStep(st, i, { ret: -1, errno: e.errno, why: e.why }, first);
      this.results.push(res);
      return res;
    }
  }

  private advanceStep(st: StepT, slice: number): StepResult | null {
    if (st.do === 'run') return this.advanceRun(st, slice);
    if (st.do === 'reboot') return this.advanceReboot(st, slice);
    if (st.do === 'run_until') {
      const u = runUntilTarget(this, st, this.next);
      // A status without a time waits up to a limit from when the step began, not from each slice.
      if (this.partial?.step === this.next && this.partial.until !== undefined) u.time = this.partial.until;
      if (u.time >= this.clock.now) return this.advanceRunUntil(u, slice);
    }
    if (st.do === 'link_send' && st.wait) return this.advanceLinkSend(st, slice);
    if (st.do === 'KVM_RUN') return this.advanceKvmRun(st, slice);
    return this.step();
  }

  /**
   * A KVM_RUN step by slices of exactly `slice` guest instructions (kvmRunSlice): the call is cut
   * as a signal would cut it and entered again in the next slice; nothing else in the world runs
   * meanwhile, as nothing does during the one ioctl.
   */
  private advanceKvmRun(st: Extract<StepT, { do: 'KVM_RUN' }>, slice: number): StepResult | null {
    const i = this.next;
    if (!this.partial || this.partial.step !== i) this.partial = { step: i, first: this.trace.count, request: null, actors: 0, units: 0 };
    const p = this.partial;
    let outcome: StepOutcome | null;
    try {
      const r = kvmRunSlice(this, st, i, p.units, slice);
      p.units += r.instructions;
      outcome = r.outcome;
    } catch (e) {
      // As the step run whole: a refusal (SysError) is its result; anything else ends the step and propagates.
      this.partial = null;
      if (!(e instanceof SysError)) {
        this.next++;
        throw e;
      }
      outcome = { ret: -1, errno: e.errno, why: e.why };
    }
    if (!outcome) return null;
    this.partial = null;
    this.next++;
    const res = this.finishStep(st, i, outcome, p.first);
    this.results.push(res);
    return res;
  }

  /**
   * A link_send with wait by slices: the bytes go on the link in the first slice; then the world runs
   * (the same scheduler steps as the step whole) until the transfer ends, pausing between actors once
   * about `slice` units (guest instructions and actors) ran.
   */
  private advanceLinkSend(st: Extract<StepT, { do: 'link_send' }>, slice: number): StepResult | null {
    const i = this.next;
    if (!this.partial || this.partial.step !== i) {
      const first = this.trace.count;
      const { t } = linkSend(this, st, i);
      this.partial = { step: i, first, request: null, actors: 0, units: 0, transfer: t.id, from: worldWork(this.world) };
    }
    const p = this.partial;
    const link = this.world.links.find((l) => l.name === st.link)!;
    // A paused link_send's transfer is in flight (the slice that ends it ends the step).
    const t = link.inFlight.find((x) => x.id === p.transfer);
    if (!t) throw new Error(`link_send: transfer ${p.transfer} is not in flight on link "${link.name}"`);
    const sched = this.world.scheduler;
    const start = this.guestInstructions() + sched.work;
    let paused = false;
    let budget = false;
    while (t.state === 'in-flight') {
      if ((budget = waitBudgetSpent(this.world, p.from!))) break;
      if (this.guestInstructions() + sched.work - start >= slice) {
        paused = true;
        break;
      }
      if (!sched.step()) break;
      p.actors++;
    }
    p.units += this.guestInstructions() + sched.work - start;
    if (paused) return null;
    this.partial = null;
    this.next++;
    const res = this.finishStep(st, i, linkSendOutcome(link, t, st.bytes, budget), p.first);
    this.results.push(res);
    return res;
  }

  private advanceRun(st: Extract<StepT, { do: 'run' }>, slice: number): StepResult | null {
    const v = this.vmm(st.vm, this.next);
    const fresh = !this.partial || this.partial.step !== this.next;
    if (fresh) this.partial = { step: this.next, first: this.trace.count, request: null, actors: 0, units: 0 };
    const p = this.partial!;
    const world = runWorkBudget(this.world, p.workLeft);
    const o = runVcpu(this.world.scheduler, v, st.vcpu, st.until, st.max_instructions, fresh, slice, p.request ?? undefined, Infinity, world);
    p.workLeft = world.left;
    if (o.stop === 'slice') {
      // The request (plain data) goes on in the next slice; the thread forgets it meanwhile.
      p.request = o.request!;
      return null;
    }
    this.partial = null;
    const i = this.next++;
    const res: StepResult = { step: i, do: 'run', ...runStepOutcome(v, st.max_instructions, o), events: [p.first, this.trace.count] };
    this.results.push(res);
    return res;
  }

  /** A reboot by slices, like a run of vCPU 0 to its halt: the VM restarts in the first slice, its boot runs on in the next ones. */
  private advanceReboot(st: Extract<StepT, { do: 'reboot' }>, slice: number): StepResult | null {
    const v = this.vmm(st.vm, this.next);
    const fresh = !this.partial || this.partial.step !== this.next;
    if (fresh) {
      this.partial = { step: this.next, first: this.trace.count, request: null, actors: 0, units: 0 };
      v.reboot();
    }
    const p = this.partial!;
    const world = runWorkBudget(this.world, p.workLeft);
    const o = runVcpu(this.world.scheduler, v, 0, 'halt', st.max_instructions, fresh, slice, p.request ?? undefined, LIMITS.wholeStepExits, world);
    p.workLeft = world.left;
    if (o.stop === 'slice') {
      p.request = o.request!;
      return null;
    }
    this.partial = null;
    const i = this.next++;
    const res = this.finishStep(st, i, rebootOutcome(v, o), p.first);
    this.results.push(res);
    return res;
  }

  /** A run_until step by slices: the world runs to `time`, pausing between actors once about `slice` instructions ran. */
  private advanceRunUntil(u: RunUntilTarget, slice: number): StepResult | null {
    if (!this.partial || this.partial.step !== this.next) this.partial = { step: this.next, first: this.trace.count, request: null, actors: 0, units: 0, until: u.time, from: worldWork(this.world), startNs: this.clock.now };
    const p = this.partial;
    const spent = () => waitBudgetSpent(this.world, p.from!);
    // A slice's worth: guest instructions, and one for each actor run (a timer, a waking vCPU that
    // only halts again) plus what it reports beyond that (a migration batch's pages): a world of
    // waiting guests runs few instructions but many actors.
    const sched = this.world.scheduler;
    const start = this.guestInstructions() + sched.work;
    const cond = u.reached;
    const r = sched.runUntilOr(u.time, () => cond?.() === true || spent() || this.guestInstructions() + sched.work - start >= slice);
    p.actors += r.ran;
    p.units += this.guestInstructions() + sched.work - start;
    if (!r.reached && cond?.() !== true && !spent()) return null;
    this.partial = null;
    const i = this.next++;
    const res: StepResult = { step: i, do: 'run_until', ...runUntilOutcome(this, u, p.actors, !r.reached && cond?.() !== true), events: [p.first, this.trace.count] };
    this.results.push(res);
    return res;
  }

  /** Instructions every vCPU thread of the world has run so far (what a slice counts). */
  private guestInstructions(): number {
    return guestInstructions(this.world);
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
    const def = STEP_BY_KIND.get(st.do)!;
    let r: StepOutcome;
    try {
      r = def.exec(this, st, i);
    } catch (e) {
      if (e instanceof SysError) r = { ret: -1, errno: e.errno, why: e.why };
      else throw e;
    }
    return this.finishStep(st, i, r, first);
  }

  /** A step's result: a failure is traced with its errno and why, as the kernel would answer it. */
  private finishStep(st: StepT, i: number, r: StepOutcome, first: number): StepResult {
    const def = STEP_BY_KIND.get(st.do)!;
    if (r.ret === -1 && r.errno)
      this.sinkOf(st, 'host' in def.schema.shape).emit(FAILURE_LAYER[def.level], st.do, { errno: r.errno, errno_value: Errno[r.errno as keyof typeof Errno] ?? 0 },
        `${st.do} fails with ${r.errno}: ${r.why}.`, { vm: 'vm' in st ? (st.vm ?? null) : null });
    return { step: i, do: st.do, ...r, events: [first, this.trace.count] };
  }

  /** Where a step's failure is traced: the host of its VM or its `host` (or the only host), else the world. */
  private sinkOf(st: StepT, actsOnHost: boolean): TraceSink {
    try {
      if ('vm' in st && st.vm) return this.hostOfVm(st.vm, -1).host.trace;
      const host = 'host' in st ? st.host : undefined;
      if (actsOnHost && (host !== undefined || this.world.hosts.length === 1)) return this.hostNode(host, -1).host.trace;
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
    }
    return this.trace;
  }

  private hostList(): string {
    return this.world.hosts.map((h) => `"${h.name}"`).join(', ');
  }

  hostNode(name: string | undefined, i: number, field = 'host'): HostNode {
    const hosts = this.world.hosts;
    if (name === undefined) {
      if (hosts.length === 1) return hosts[0];
      throw new ScenarioError([{ path: `$.steps[${i}].${field}`, message: `this step acts on a host and there are several: name it with "${field}" (hosts: ${this.hostList()})` }]);
    }
    const h = hosts.find((x) => x.name === name);
    if (!h) throw new ScenarioError([{ path: `$.steps[${i}].${field}`, message: `no host named "${name}" (hosts: ${this.hostList()})` }]);
    return h;
  }

  /** Every VM name a step may use: the VMM's and those made by hand. */
  private vmNames(): string[] {
    return [...this.vmms.keys(), ...[...this.named.entries()].filter(([, n]) => n.vm).map(([k]) => k)];
  }

  hostOfVm(name: string, i: number): HostNode {
    for (const h of this.world.hosts) if (h.vmms.has(name)) return h;
    const n = this.named.get(name);
    if (n?.vm) return n.node;
    throw new ScenarioError([{ path: `$.steps[${i}].vm`, message: `no VM named "${name}" (VMs: ${this.vmNames().join(', ') || 'none'})` }]);
  }

  vmm(name: string, i: number): VmmVm {
    const v = this.vmms.get(name);
    if (!v) throw new ScenarioError([{ path: `$.steps[${i}].vm`, message: `no VM named "${name}" (VMs: ${[...this.vmms.keys()].join(', ') || 'none'})` }]);
    return v;
  }

  /**
   * The host's side of a VM, for the host's reads and writes: its VMM, or for a VM the scenario made
   * with its own ioctls (as a selftest does), the scenario's process and the VM's memslots.
   */
  hostSide(name: string, i: number): HostSide {
    const node = this.hostOfVm(name, i);
    const v = this.vmms.get(name);
    if (v) return { name, node, vm: v.vm, process: v.process, gmem: v.gmem, vcpus: v.vcpus, gpaToHva: (gpa) => v.gpaToHva(gpa), hostFrameOf: (gpa) => v.hostFrameOf(gpa) };
    return byHandSide(node, this.named.get(name)!.vm!);
  }

  vm(name: string, i: number): Vm {
    const n = this.named.get(name)?.vm ?? this.vmms.get(name)?.vm;
    if (!n) throw new ScenarioError([{ path: `$.steps[${i}].vm`, message: `no VM named "${name}" (VMs: ${this.vmNames().join(', ') || 'none'})` }]);
    return n;
  }

  gmem(ref: string | number, i: number, field: string, host?: string): GuestMemfd {
    if (typeof ref === 'string') {
      const g = this.named.get(ref)?.gmem;
      if (!g) throw new ScenarioError([{ path: `$.steps[${i}].${field}`, message: `no guest_memfd named "${ref}"` }]);
      return g;
    }
    const nodes = host === undefined ? this.world.hosts : [this.hostNode(host, i)];
    const found = nodes.flatMap((h) => h.kvm.vms.flatMap((v) => [...v.gmems.values()]).filter((x) => x.fd === ref).map((g) => ({ g, h })));
    if (found.length === 0) throw new SysError('EBADF', `fd ${ref} is not an open guest_memfd`);
    if (found.length > 1)
      throw new ScenarioError([{ path: `$.steps[${i}].${field}`, message: `fd ${ref} is a guest_memfd on several hosts (${found.map((x) => `"${x.h.name}"`).join(', ')}): name the host with "host"` }]);
    return found[0].g;
  }

  flags(v: number | string | string[], i: number, field: string): U64 {
    if (typeof v === 'number') return v;
    if (typeof v === 'string') {
      const b = parseU64(v);
      if (b === null) throw new ScenarioError([{ path: `$.steps[${i}].${field}`, message: `"${v}" is not a 64-bit unsigned value` }]);
      return b;
    }
    let out = 0n;
    for (const n of v) {
      const bit = FLAG_NAMES.get(n);
      if (bit === undefined) throw new ScenarioError([{ path: `$.steps[${i}].${field}`, message: `unknown flag "${n}" (known: ${[...FLAG_NAMES.keys()].join(', ')})` }]);
      out |= BigInt(bit);
    }
    return out <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(out) : out;
  }

  cap(v: string | number, i: number): number {
    if (typeof v === 'number') return v;
    const n = capabilityNumber(v);
    if (n === undefined) throw new ScenarioError([{ path: `$.steps[${i}].cap`, message: `unknown capability "${v}"` }]);
    return n;
  }

  report(): Report {
    const hosts = this.world.hosts.map((h) => hostSummary(h));
    return {
      format: REPORT_FORMAT,
      version: REPORT_VERSION,
      title: this.scenario.title,
      seed: this.scenario.seed,
      notes: this.notes,
      results: this.results,
      events: this.trace.events,
      summary: {
        time_ns: this.clock.now,
        host: hosts[0],
        hosts,
        links: this.world.links.map(({ name, from, to, bandwidth, latency, state, stats }) => ({ name, from, to, bandwidth, latency, state, stats: { ...stats } })),
        vms: this.world.hosts.flatMap((h) => h.kvm.vms.map((vm) => this.vmSummary(h, vm))),
        ...(this.world.migrations.length ? { migrations: this.world.migrations.map((m) => m.summary(this.clock.now)) } : {}),
      },
    };
  }

  private vmSummary(node: HostNode, vm: Vm): VmSummary {
    const vmm = node.vmms.get(vm.name);
    const td = vm.td;
    const maxGfn = Math.max(0, ...[...vm.slots.values()].map((s) => s.baseGfn + s.npages));
    return {
      name: vm.name,
      host: node.name,
      type: VM_TYPE_NAMES[vm.type],
      memory: formatSize([...vm.slots.values()].reduce((n, s) => n + s.npages * PAGE_SIZE, 0)),
      vcpus: vmm ? vmm.threads.map((t) => ({ index: t.index, state: t.state, ...t.snapshotCounts() }))
        : vm.vcpus.map((v) => ({ index: v.id, state: 'idle', instructions: v.cpu?.instructionsRetired ?? 0, exits: 0, time: {} })),
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
    const vm = this.vm(vmName, -1);
    return vm.td ? SEPT_STATE_NAMES[vm.td.stateOf(gfn)] : 'n/a';
  }
}


/** One host's line of the report's summary: its memory and who uses its frames. */
function hostSummary(node: HostNode): HostSummary {
  const mem = node.host.memory;
  const byOwner: Record<string, number> = {};
  for (let f = 0; f < mem.nframes; f++) {
    const o = mem.owner[f];
    if (o !== 0) byOwner[FRAME_OWNER_NAMES[o]] = (byOwner[FRAME_OWNER_NAMES[o]] ?? 0) + 1;
  }
  return { name: node.name, memory: formatSize(node.host.config.memoryBytes), frames_used: mem.framesUsed, frames_by_owner: byOwner };
}

/** A VM without a VMM: its memory is what its memslots say, mapped by the process that made it. */
function byHandSide(node: HostNode, vm: Vm): HostSide {
  const gpaToHva = (gpa: number) => vm.gpaToHva(gpa);
  return {
    name: vm.name, node, vm, process: vm.vmm, vcpus: vm.vcpus, gpaToHva,
    gmem: vm.gmems.values().next().value ?? null,
    hostFrameOf: (gpa) => hostFrameOf(vm, vm.vmm, gpaToHva, gpa, vm.gmems.size > 0),
  };
}

/**
 * A step advanced in slices, between two of them: where its events start, the run step's request
 * (what it asked of the vCPU and its counts so far) or the actors a run_until ran so far.
 */
export interface PartialStep {
  step: number;
  first: number;
  request: RunRequest | null;
  actors: number;
  /** run_until and link_send: slice units so far (guest instructions plus actors run); KVM_RUN: guest instructions so far. */
  units: number;
  /** run_until: the virtual time it runs to, fixed when the step began. */
  until?: number;
  /** link_send with wait: the id of the transfer it waits for (in flight on the step's link). */
  transfer?: number;
  /** run_until and link_send with wait: the world's work when the step began (worldWork; its budget, LIMITS.runWork, counts from there). */
  from?: number;
  /** run and reboot: what is left of the budget for the rest of the world (runWorkBudget). */
  workLeft?: number;
  /** run_until: the virtual time when the step began (how far it is toward `until`). */
  startNs?: number;
}

/** ScenarioRun's position (savePosition): plain data. */
export interface RunPosition {
  next: number;
  partial: PartialStep | null;
  results: StepResult[];
  notes: string[];
  named: [string, { host: string; vm?: number; gmem?: number; addr?: number; uffd?: { pid: number; fd: number } }][];
}

/** A VM spec's program: its own, or the one its workload makes (ScenarioError at the workload's path). */
function programOf(spec: VmSpecT, i: number): string {
  if (spec.program !== undefined) return spec.program;
  const r = workloadRange(spec.workload!, spec.memory, `$.vms[${i}].workload`);
  if (Array.isArray(r)) throw new ScenarioError(r);
  return workloadProgram(spec.workload!, r.base, r.bytes);
}
