import { wiring } from '../core/state';
import { SysError, fail } from '../core/errno';
import { hostFrameOf } from '../kvm/host-frame';
import { isSharedGpa } from '../abi/tdx';
import { GiB, MiB, PAGE_SIZE, formatSize, hex, pageAlignUp } from '../core/units';
import { Cpu } from '../cpu';
import type { Program } from '../guest/asm';
import { LinuxGuestKernel, type Platform as GuestPlatform } from '../guest/kernel/kernel';
import type { Host } from '../host/host';
import type { Process } from '../host/process';
import type { GuestMemfd } from '../kvm/guest-memfd';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../kvm/guest-memfd';
import type { Kvm } from '../kvm/kvm';
import type { RunExit, RunResult } from '../kvm/run';
import { tdxFinalizeVm, tdxInitMemRegion, tdxInitVcpu, tdxInitVm } from '../kvm/tdx-ops';
import {
  KVM_CAP_EXIT_HYPERCALL, KVM_HC_MAP_GPA_RANGE, KVM_MAP_GPA_RANGE_ENCRYPTED, KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_MEMORY_EXIT_FLAG_PRIVATE, KVM_MEMORY_EXIT_FLAG_USERFAULT, KVM_MEM_GUEST_MEMFD, KVM_TDX_MEASURE_MEMORY_REGION, KVM_X86_DEFAULT_VM,
  KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM, KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_FILTER_DEFAULT_ALLOW, KVM_MSR_FILTER_MAX_BITMAP_SIZE, KVM_MSR_FILTER_MAX_RANGES, KVM_MSR_FILTER_READ, KVM_MSR_FILTER_WRITE,
} from '../kvm/uapi';
import type { Vcpu } from '../kvm/vcpu';
import { MSRS, msrRows } from '../kvm/msr-cpuid';
import { allowBitmap, setMsrConstraint, type KvmMsrFilterRange } from '../kvm/msr-filter';
import { answerMsrExit, VmmMsrPolicy } from './msr-exits';
import { buildAcpi, q35AcpiMachine } from './acpi/build';
import { decodeTables, diffTables } from './acpi/decode';
import { CATALOGUE, defaultDevices, forcedOffReason } from './devices/catalogue';
import { Platform } from './devices/platform';
import { DEVICE_IDS, type DesignMode, type DeviceId, type IoRange } from './devices/types';
import type { AcpiTableView, MsrRow, SurfaceCount } from './surface-view';
import type { Vm } from '../kvm/vm';
import { TDX_TD_ATTR_DEBUG, TDX_TD_ATTR_SEPT_VE_DISABLE } from '../tdx/module';
import type { Actor } from '../core/actor';
import { throttleClamp, throttleSleepNs, throttleTickNs } from '../core/clock';
import { VcpuThread, type RunOutcome } from './vcpu-thread';
import { DEFAULT_CAPABILITIES, DEFAULT_PARAMETERS, type MigrationCapabilities, type MigrationParameters } from './migration/params';
import { DirtyRingReaper } from './dirty-ring-reaper';
import { DirtyLimit } from './dirtylimit';

export type { RunOutcome } from './vcpu-thread';

export type VmKind = 'default' | 'sw-protected' | 'tdx';

/**
 * QEMU's run states that the lab models: `prelaunch` (-S), `running`, `paused` (stop, or a migration's
 * stop-and-copy), `inmigrate` (started with -incoming, waiting for the stream) and `postmigrate`
 * (the guest has migrated away).
 */
export type VmmRunState = 'prelaunch' | 'running' | 'paused' | 'inmigrate' | 'postmigrate';

/** A machine description, as a QEMU command line would give it. */
/** The platform a VM boots with: the design mode, device switches, the talk's extra allowed ranges. */
export interface PlatformDesc {
  mode: DesignMode;
  /** Switches on top of the defaults for the VM type (q35, or a TD under QEMU's TDX rules). */
  devices: Partial<Record<DeviceId, boolean>>;
  allow: { ports: IoRange[]; mmio: IoRange[] };
}

export interface MachineDesc {
  name: string;
  kind: VmKind;
  memoryBytes: number;
  program: Program;
  /** Default: upstream mode with the VM type's default devices. */
  platform?: PlatformDesc;
  tdx?: { septVeDisable: boolean; debug: boolean; gpaw: 48 | 52; firmwareAcceptBytes: number };
  /** QEMU discards the backing a conversion leaves unused (kvm_convert_memory()); selftests do not. */
  discardOnConvert: boolean;
  /**
   * vCPUs (1 to MAX_VCPUS; default 1). Every vCPU starts at the program's entry with its own stack
   * (one page each above the image) and its index in rdi, so a program tells the boot vCPU (0) from
   * the others with `test rdi, rdi`.
   */
  vcpus?: number;
  /**
   * `-accel kvm,dirty-ring-size=N`: entries in each vCPU's dirty ring (KVM_CAP_DIRTY_LOG_RING, enabled
   * before the vCPUs are made); 0 or absent: KVM's dirty bitmap.
   */
  dirtyRingSize?: number;
  /**
   * Started with -incoming (the destination of a migration). A TD is then created and initialised
   * but not populated or finalized: its private memory and state can only come from the source's
   * TDX module (TDH.IMPORT.*), which makes it runnable at TDH.IMPORT.COMMIT.
   */
  incoming?: boolean;
}

/** The most vCPUs a VM of the lab has. */
export const MAX_VCPUS = 8;

export interface RamBlock {
  gpa: number;
  size: number;
  hva: number;
  slot: number;
  gmemOffset: number;
}


/** q35 puts at most this much RAM below 4 GiB when the guest has 2.75 GiB or more (hw/i386/pc_q35.c). */
const Q35_LOWMEM_SPLIT = 0xb0000000;
const Q35_LOWMEM_LARGE = 0x80000000;

/**
 * The QEMU-like VMM: one process per VM, which builds the VM from a machine description the way
 * QEMU does (accel/kvm/kvm-all.c, target/i386/kvm/tdx.c), runs the vCPU loop and answers exits.
 */
export class VmmVm {
  readonly process: Process;
  readonly vm: Vm;
  readonly ram: RamBlock[] = [];
  gmem: GuestMemfd | null = null;
  readonly vcpus: Vcpu[] = [];
  /** One vCPU thread per vCPU: the scheduler's actors (QEMU's kvm_vcpu_thread_fn). */
  readonly threads: VcpuThread[] = [];
  /** QEMU's throttle timer (cpu_throttle_timer_tick), an actor while the throttle is on. */
  readonly throttleTimer: ThrottleTimer;
  /** QEMU's dirty-ring side: the ring size, each vCPU's fetch index, its dirty bitmap, the kvm-reaper thread. */
  readonly dirtyRing: DirtyRingReaper;
  /** QEMU's dirty page rate limit (system/dirtylimit.c): per-vCPU quotas, the dirtyrate-stat thread, each vCPU's sleep per full ring. */
  readonly dirtyLimit: DirtyLimit;
  /** The auto-converge throttle percentage (0: off). */
  throttlePct = 0;
  /**
   * QEMU's run state: `prelaunch` (created with -S, the vCPU threads wait: a scenario's `run` step
   * runs a vCPU for the step only, as a debugger's continue-then-interrupt does), `running` (after
   * `cont`: the threads run with the world's scheduler), `paused` (after `stop`).
   */
  runState: VmmRunState = 'prelaunch';
  /**
   * Post-copy with KVM Userfault (a posted series, not merged): while `on`, a vCPU's
   * KVM_EXIT_MEMORY_FAULT with KVM_MEMORY_EXIT_FLAG_USERFAULT is a page to fetch. The vCPU thread
   * queues its GFN for the migration's fault handling (`queue`) and waits (`wait[vcpu]`, -1: not
   * waiting) until the page has been written into guest_memfd and its bit cleared; then it re-enters
   * KVM_RUN. `bitmap` is the userfault_bitmap's address in this VMM.
   */
  readonly kvmUserfault = { on: false, bitmap: 0, queue: [] as number[], queueVcpu: [] as number[], wait: [] as number[], exits: 0 };
  /**
   * An incoming VM (QEMU started with -incoming): the source VM it waits for, by name, or null. Its
   * vCPU threads do not run until the migration completes and loads the guest's state into it.
   */
  incoming: string | null = null;
  /** migrate-set-parameters / migrate-set-capabilities: what the next `migrate` starts with (QEMU's globals). */
  migrationParameters: MigrationParameters = { ...DEFAULT_PARAMETERS };
  migrationCapabilities: MigrationCapabilities = { ...DEFAULT_CAPABILITIES };

  /** The devices the guest sees, built at each boot from `running`. */
  platform!: Platform;
  /** The platform the guest booted with, and the one the next reboot applies (the user's switches). */
  running!: PlatformDesc;
  pending!: PlatformDesc;
  /** Boots so far (a reboot counts one more). */
  boots = 1;
  /** The ACPI tables of the previous boot, to show what changed. */
  private acpiBefore: AcpiTableView[] | null = null;
  /** Console output of earlier boots (a serial console keeps scrolling across a reboot; a migration carries it). */
  consoleBefore = '';
  /** Set when the guest asked for a reset or power-off; the vCPU loop stops there. */
  private stopRequest: string | null = null;
  readonly cpus: Cpu[] = [];
  private kernels: LinuxGuestKernel[] = [];
  /** How the VMM answers the MSR exits KVM sends it (kvm_handle_rdmsr/wrmsr). */
  readonly msrPolicy = new VmmMsrPolicy();
  /** MSRs the VMM's own filter denies, per direction (see setMsrPolicy). */
  readonly msrDeny = { read: new Set<number>(), write: new Set<number>() };

  /** The machine description is the scenario's (the restored VMM is built from the same one). */
  static readonly stateSkip: readonly string[] = ['desc'];

  /**
   * Before its fields load (core/state.ts): the devices are built again for the platform the saved
   * VMM was running (a reboot may have changed it since the VMM was made), then loaded in place.
   */
  beforeLoadState(s: { running?: unknown }): void {
    if (!s.running) return;
    this.running = clonePlatform(s.running as PlatformDesc);
    this.platform = this.host.trace.quietly(() => this.makePlatform());
  }

  constructor(readonly host: Host, readonly kvm: Kvm, readonly desc: MachineDesc) {
    this.process = host.spawn(`qemu-system-x86_64 (${desc.name})`);
    const type = desc.kind === 'tdx' ? KVM_X86_TDX_VM : desc.kind === 'sw-protected' ? KVM_X86_SW_PROTECTED_VM : KVM_X86_DEFAULT_VM;
    this.vm = kvm.createVm(type, desc.name, this.process.pid);
    const n = desc.vcpus ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > MAX_VCPUS) fail('EINVAL', `a VM has 1 to ${MAX_VCPUS} vCPUs, not ${n}`);
    this.dirtyRing = new DirtyRingReaper(this.vm);
    this.build();
    const vcpuHost = wiring({
      vmName: desc.name,
      vcpus: this.vcpus,
      run: (id: number, until: 'halt' | 'exit', budget: number, total?: number) => this.run(id, until, budget, total),
      now: () => this.vm.clock.now,
      trace: (name: string, args: Record<string, string | number | boolean>, text: string, vcpu: number) =>
        this.host.trace.emit('vmm', name, args, text, { vm: this.desc.name, vcpu }),
    });
    for (const v of this.vcpus) {
      const t = new VcpuThread(vcpuHost, v.id);
      t.hold(true);
      this.threads.push(t);
    }
    this.throttleTimer = new ThrottleTimer(this);
    // CPUState.running: the vCPU thread is not stopped (paused, panicked or gone).
    this.dirtyLimit = new DirtyLimit(this.vm, this.dirtyRing, wiring({
      running: (cpu: number) => {
        const st = this.threads[cpu]?.state;
        return st !== undefined && st !== 'paused' && st !== 'stopped' && st !== 'panicked';
      },
    }));
  }

  get nvcpus(): number {
    return this.desc.vcpus ?? 1;
  }

  /** The actors this VMM adds to the world's scheduler: its throttle timer, its kvm-reaper and dirtyrate-stat threads and its vCPU threads. */
  get actors(): Actor[] {
    return [this.throttleTimer, this.dirtyRing, this.dirtyLimit, ...this.threads];
  }

  /** Set the tie-break keys of this VMM's actors: host index and VM index (the world's order). */
  setOrder(hostIndex: number, vmIndex: number): void {
    this.throttleTimer.order = [hostIndex, vmIndex];
    this.dirtyRing.order = [hostIndex, vmIndex];
    this.dirtyLimit.order = [hostIndex, vmIndex];
    for (const t of this.threads) t.order = [hostIndex, vmIndex, t.index];
  }

  /** The vCPU threads run with the world from now on (what `cont` does, without its event: for tests). */
  start(): void {
    this.runState = 'running';
    for (const t of this.threads) {
      t.hold(false);
      t.resume();
    }
  }

  /**
   * A `run` step on a VM in prelaunch: its threads run for the step only (`hold` false lets them
   * go, true stops them again), silently, as a debugger steps a VM it keeps stopped.
   */
  step(hold: boolean): void {
    if (this.runState !== 'prelaunch') return;
    for (const t of this.threads) t.hold(hold);
  }

  /**
   * The incoming side of a migration starts the guest it has loaded (process_incoming_migration_bh →
   * vm_start): its vCPU threads take over what the source's were doing and run with the world.
   */
  startIncoming(from: string): void {
    this.incoming = null;
    this.start();
    this.trace('vm_start', { state: 'running', from },
      `The destination QEMU has loaded the guest's RAM, vCPU and device state from "${from}" and starts it: the guest goes on here from where it stopped.`);
  }

  /** The source after a completed migration (QEMU's RUN_STATE_POSTMIGRATE): stopped for good. */
  postmigrate(to: string): void {
    this.runState = 'postmigrate';
    this.trace('runstate_set', { state: 'postmigrate', to },
      `The guest now runs on "${to}": the source VM stays paused (postmigrate) and its vCPUs never run again.`);
  }

  /** QEMU's `stop` (vm_stop → pause_all_vcpus): every vCPU thread pauses. */
  stop(): void {
    this.runState = 'paused';
    for (const t of this.threads) {
      t.hold(false);
      t.pause();
    }
    this.trace('vm_stop', { state: 'paused' }, `QEMU stops the VM: its ${this.threads.length} vCPU thread(s) pause.`);
  }

  /** QEMU's `cont` (vm_start → resume_all_vcpus). */
  cont(): void {
    if (this.runState === 'inmigrate') {
      this.trace('cont', { state: 'inmigrate' }, 'QEMU waits for an incoming migration: it starts the VM by itself when the migration has loaded the guest (autostart).');
      return;
    }
    if (this.runState === 'postmigrate') {
      this.trace('cont', { state: 'postmigrate' }, 'The guest has migrated away: this VM stays stopped (postmigrate), since its memory is no longer the guest\'s.');
      return;
    }
    const first = this.runState === 'prelaunch';
    this.start();
    this.trace('vm_start', { state: 'running' }, first ? `QEMU starts the VM (cont): its ${this.threads.length} vCPU thread(s) run with the world from now on.`
      : 'QEMU lets the VM run again (cont): each vCPU goes back to what it was doing.');
  }

  /**
   * cpu_throttle_set(pct) as auto-converge calls it (pct clamped to 1..99), or cpu_throttle_stop()
   * for 0. Turning it on ticks at once: every vCPU sleeps pct / (1 - pct) of a 10 ms timeslice, and
   * again every 10 ms / (1 - pct).
   */
  setCpuThrottle(pct: number): void {
    if (!Number.isFinite(pct) || pct < 0 || pct > 100) fail('EINVAL', `the throttle percentage must be 0 to 100, not ${pct}`);
    const was = this.throttlePct;
    if (pct === 0) {
      this.throttlePct = 0;
      this.trace('cpu_throttle_stop', { pct: 0 }, 'QEMU stops throttling the vCPUs (cpu_throttle_stop).');
      return;
    }
    this.throttlePct = throttleClamp(pct);
    const p = this.throttlePct;
    this.trace('cpu_throttle_set', { pct: p, sleep_ns: throttleSleepNs(p), tick_ns: throttleTickNs(p) },
      `QEMU throttles the vCPUs to ${100 - p}% (cpu_throttle_set ${p}): every ${(throttleTickNs(p) / 1e6).toFixed(2)} ms each vCPU sleeps ${(throttleSleepNs(p) / 1e6).toFixed(2)} ms.`);
    if (was === 0) this.throttleTimer.tick(this.vm.clock.now);
  }

  private trace(name: string, args: Record<string, string | number | boolean>, text: string, gfns?: readonly [number, number]): void {
    this.host.trace.emit('vmm', name, args, text, { vm: this.desc.name, gfns });
  }

  get isTd(): boolean {
    return this.desc.kind === 'tdx';
  }

  private build(): void {
    const d = this.desc;
    const vm = this.vm;
    const protectedVm = d.kind !== 'default';
    // kvm_init() → kvm_dirty_ring_init(), right after KVM_CREATE_VM: the ring must exist before any vCPU.
    this.dirtyRing.init(d.dirtyRingSize ?? 0);
    if (d.kind === 'tdx') {
      this.trace('tdx-guest', { 'sept-ve-disable': d.tdx!.septVeDisable, debug: d.tdx!.debug },
        'QEMU sets up a TD (-object tdx-guest): SMM off, PIC off, split irqchip, no pflash; the firmware is loaded with KVM_TDX_INIT_MEM_REGION.');
      vm.enableCap(KVM_CAP_EXIT_HYPERCALL, [1 << KVM_HC_MAP_GPA_RANGE]);
      vm.irqchip = 'split';
    } else {
      vm.irqchip = d.kind === 'default' ? 'kernel' : 'none';
      if (d.kind === 'sw-protected') vm.enableCap(KVM_CAP_EXIT_HYPERCALL, [1 << KVM_HC_MAP_GPA_RANGE]);
    }
    // RAM: one anonymous mapping (the shared backing); for protected VMs also one guest_memfd.
    const hva = this.process.mmapAnon(d.memoryBytes, 'pc.ram');
    if (protectedVm) this.gmem = vm.createGuestMemfd(d.memoryBytes, 0);
    const low = d.memoryBytes >= Q35_LOWMEM_SPLIT ? Q35_LOWMEM_LARGE : d.memoryBytes;
    const blocks: [number, number, number][] = [[0, low, 0]];
    if (d.memoryBytes > low) blocks.push([4 * GiB, d.memoryBytes - low, low]);
    blocks.forEach(([gpa, size, off], slot) => {
      vm.setUserMemoryRegion2({
        slot, flags: protectedVm ? KVM_MEM_GUEST_MEMFD : 0, guest_phys_addr: gpa, memory_size: size, userspace_addr: hva + off,
        guest_memfd: this.gmem?.fd, guest_memfd_offset: off,
      });
      this.ram.push({ gpa, size, hva: hva + off, slot, gmemOffset: off });
    });
    this.running = clonePlatform(d.platform ?? DEFAULT_PLATFORM);
    this.pending = clonePlatform(this.running);
    this.platform = this.makePlatform();
    vm.kernelIo = (space, addr, size, isWrite, value) => {
      const r = this.platform.inKernel(space, addr, size, isWrite, value);
      if (!r) return null;
      // A denied access is traced by the allow-list check; an in-kernel device's by KVM's tracepoint.
      if (r.verdict !== 'denied') {
        const where = space === 'port' ? `port ${hex(addr)}` : hex(addr);
        this.host.trace.emit('kvm', space === 'port' ? 'kvm_pio' : 'kvm_mmio',
          { [space === 'port' ? 'port' : 'gpa']: hex(addr), size, rw: isWrite ? 'write' : 'read', val: hex(isWrite ? value : r.value), device: r.device },
          `KVM's in-kernel ${r.device ?? 'device'} answers the guest's ${isWrite ? 'write to' : 'read of'} ${where} without an exit to the VMM.`,
          { vm: this.desc.name, vcpu: 0 });
      }
      return r.value;
    };
    const platform: GuestPlatform = d.kind === 'tdx' ? 'tdx' : d.kind === 'sw-protected' ? 'sw-protected' : 'none';
    if (d.kind === 'tdx') {
      // QEMU marks all of a TD's guest_memfd RAM private before the TD starts.
      for (const b of this.ram) vm.setMemoryAttributes({ address: b.gpa, size: b.size, attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE });
      const t = d.tdx!;
      const attrs = (t.septVeDisable ? TDX_TD_ATTR_SEPT_VE_DISABLE : 0n) | (t.debug ? TDX_TD_ATTR_DEBUG : 0n);
      tdxInitVm(vm, attrs, t.gpaw);
    }
    for (let i = 0; i < (d.vcpus ?? 1); i++) {
      this.vcpus.push(vm.createVcpu(i));
      if (d.kind === 'tdx') tdxInitVcpu(vm, i);
    }
    const importsTd = d.kind === 'tdx' && d.incoming === true;
    if (!importsTd) this.loadProgram();
    for (const vcpu of this.vcpus) this.startCpu(vcpu, platform);
    if (importsTd) {
      this.trace('tdx-guest', { incoming: true },
        "QEMU started with -incoming creates the TD but neither loads firmware into it nor finalizes it: a TD's private memory and state can only arrive through the TDX module's import (Intel's TD migration, not upstream).");
    } else if (d.kind === 'tdx') {
      tdxFinalizeVm(vm);
      this.firmwareAccept();
    }
  }

  /**
   * A fresh guest kernel and CPU on the vCPU, at the program's start with its own stack and its
   * index in rdi (at build and at reboot).
   */
  private startCpu(vcpu: Vcpu, platform: GuestPlatform): void {
    const kernel = new LinuxGuestKernel(platform, this.host.trace, { vm: this.desc.name, vcpu: vcpu.id });
    const cpu = new Cpu(this.desc.program, vcpu, kernel);
    cpu.set('rsp', BigInt(this.stackTop() - vcpu.id * PAGE_SIZE));
    if (vcpu.id > 0) cpu.set('rdi', BigInt(vcpu.id));
    vcpu.cpu = cpu;
    this.kernels[vcpu.id] = kernel;
    this.cpus[vcpu.id] = cpu;
  }

  /** The program image occupies [origin, end); one more page per vCPU above it holds the stacks (vCPU 0's on top). */
  private imageRange(): [number, number] {
    const p = this.desc.program;
    const start = Math.floor(p.origin / PAGE_SIZE) * PAGE_SIZE;
    const end = pageAlignUp(p.origin + Math.max(p.image.length, 1)) + PAGE_SIZE * (this.desc.vcpus ?? 1);
    if (end > this.desc.memoryBytes && this.ram.length === 1) fail('EINVAL', `the program [${hex(start)}, ${hex(end)}) does not fit in ${formatSize(this.desc.memoryBytes)} of RAM`);
    return [start, end];
  }

  private stackTop(): number {
    return this.imageRange()[1];
  }

  /**
   * Load the program the way QEMU loads firmware. An ordinary VM's image is copied into guest RAM
   * through the VMM's mapping. A TD's goes through a bounce buffer and KVM_TDX_INIT_MEM_REGION
   * (TDH.MEM.PAGE.ADD + TDH.MR.EXTEND), because the VMM cannot write private memory.
   */
  private loadProgram(): void {
    const p = this.desc.program;
    const [start, end] = this.imageRange();
    const buf = new Uint8Array(end - start);
    buf.set(p.image, p.origin - start);
    if (this.isTd) {
      const bounce = this.process.mmapAnon(buf.length, 'TDVF image (bounce buffer)');
      this.process.write(bounce, buf);
      tdxInitMemRegion(this.vm, bounce, start, buf.length / PAGE_SIZE, KVM_TDX_MEASURE_MEMORY_REGION);
      return;
    }
    this.process.write(this.gpaToHva(start)!, buf);
    this.trace('load', { gpa: hex(start), size: buf.length },
      `The VMM copies the ${formatSize(buf.length)} guest image into guest RAM at ${hex(start)} through its own mapping.`, [start / PAGE_SIZE, buf.length / PAGE_SIZE]);
  }

  /**
   * TDVF accepts the first part of memory before handing over to the OS kernel; the rest is
   * accepted lazily. Each page takes an EPT violation, TDH.MEM.PAGE.AUG and TDG.MEM.PAGE.ACCEPT;
   * more than a few pages are traced as one summary line.
   */
  private firmwareAccept(): void {
    const bytes = Math.min(this.desc.tdx!.firmwareAcceptBytes, this.ram[0].size);
    if (bytes <= 0) return;
    const vcpu = this.vcpus[0];
    const [imgStart, imgEnd] = this.imageRange();
    const pages = bytes / PAGE_SIZE;
    let accepted = 0;
    const body = (): void => {
      for (let gfn = 0; gfn < pages; gfn++) {
        if (gfn * PAGE_SIZE >= imgStart && gfn * PAGE_SIZE < imgEnd) continue;
        const td = this.vm.td!;
        let r = this.kvm.tdx.memPageAccept(td, gfn, vcpu.id);
        if (r.status === 'ept-violation') {
          this.vm.mmu.faultForAccept(gfn, vcpu.id);
          r = this.kvm.tdx.memPageAccept(td, gfn, vcpu.id);
        }
        accepted++;
      }
    };
    if (pages <= 16) body();
    else this.host.trace.quietly(body);
    this.host.trace.emit('guest', 'TDVF accept', { start: '0x0', size: hex(bytes), pages: accepted },
      `The firmware (TDVF) accepts the first ${formatSize(bytes)} of private memory: each page is AUGed by KVM on an EPT violation and accepted (PENDING → MAPPED). The rest stays unaccepted until the guest needs it.`,
      { vm: this.desc.name, vcpu: 0, gfns: [0, pages] });
  }

  gpaToHva(gpa: number): number | undefined {
    for (const b of this.ram) if (gpa >= b.gpa && gpa < b.gpa + b.size) return b.hva + (gpa - b.gpa);
    return undefined;
  }

  private ramBlockOf(gpa: number): RamBlock | undefined {
    return this.ram.find((b) => gpa >= b.gpa && gpa < b.gpa + b.size);
  }

  /**
   * kvm_convert_memory(): set the attribute, then discard the backing no longer used "to avoid
   * doubling memory": the shared page when going private, the guest_memfd range when going shared.
   */
  convertMemory(start: number, size: number, toPrivate: boolean, why: string): number {
    if (start % PAGE_SIZE || size % PAGE_SIZE || size === 0) {
      this.trace('kvm_convert_memory', { start: hex(start), size: hex(size), error: 'unaligned' }, `QEMU refuses to convert [${hex(start)}, +${hex(size)}): not page aligned.`);
      return -1;
    }
    const b = this.ramBlockOf(start);
    if (!b || start + size > b.gpa + b.size || !this.gmem) {
      this.trace('kvm_convert_memory', { start: hex(start), size: hex(size), error: 'not guest_memfd' },
        `QEMU cannot convert [${hex(start)}, +${hex(size)}): it is not guest_memfd-backed RAM.`);
      return -1;
    }
    this.trace('kvm_convert_memory', { start: hex(start), size: hex(size), to: toPrivate ? 'private' : 'shared', why },
      `QEMU converts [${hex(start)}, ${hex(start + size)}) to ${toPrivate ? 'private' : 'shared'} (${why}).`, [start / PAGE_SIZE, size / PAGE_SIZE]);
    try {
      this.vm.setMemoryAttributes({ address: start, size, attributes: toPrivate ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0 });
      if (this.desc.discardOnConvert) {
        const off = start - b.gpa;
        if (toPrivate) {
          const n = this.process.discard(b.hva + off, size, 'ram_block_discard_range');
          this.trace('ram_block_discard_range', { hva: hex(b.hva + off), size: hex(size), freed: n },
            `QEMU discards the now unused shared pages (madvise(MADV_DONTNEED)): ${n} page(s) freed; the old shared bytes are gone.`, [start / PAGE_SIZE, size / PAGE_SIZE]);
        } else {
          this.gmem.fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, b.gmemOffset + off, size);
          this.trace('ram_block_discard_guest_memfd_range', { offset: hex(b.gmemOffset + off), size: hex(size) },
            'QEMU punches the now unused private pages out of guest_memfd.', [start / PAGE_SIZE, size / PAGE_SIZE]);
        }
      }
    } catch (e) {
      if (e instanceof SysError) {
        this.trace('kvm_convert_memory', { error: e.errno }, `The conversion failed: ${e.why}.`);
        return -1;
      }
      throw e;
    }
    return 0;
  }

  /** The serial console: earlier boots, then this one. */
  get console(): string {
    return this.consoleBefore + this.platform.console;
  }

  /** One port I/O exit, answered by the platform's devices as QEMU's would be. */
  private handleIo(exit: Extract<RunExit, { reason: 'KVM_EXIT_IO' }>): void {
    const out = exit.io.direction === 'KVM_EXIT_IO_OUT';
    const r = this.platform.pio(exit.io.port, exit.io.size, out, exit.io.data);
    if (!out) exit.io.data = r.value;
  }

  /** The platform's configuration for the devices and the ACPI tables QEMU generates for them. */
  private makePlatform(): Platform {
    const td = this.isTd;
    const p = this.running;
    const devices = this.devicesOf(p);
    const acpi = buildAcpi(q35AcpiMachine(devices, { isTd: td, mode: p.mode }));
    const below4g = this.ram[0]?.size ?? 0;
    return new Platform({
      devices, irqchip: this.vm.irqchip, mode: p.mode, td,
      memory: { below4g, above4g: this.desc.memoryBytes - below4g },
      // Copies: the platform keeps its own ranges (and a saved VMM state holds running's, see beforeLoadState).
      allowList: { ports: p.allow.ports.map((r) => ({ ...r })), mmio: p.allow.mmio.map((r) => ({ ...r })) }, fwCfgFiles: acpi.files,
    }, wiring({
      trace: (layer, name, args, text) => this.host.trace.emit(layer, name, args, text, { vm: this.desc.name, vcpu: 0 }),
      now: () => this.vm.clock.now,
      readGuest: (gpa, len) => this.dmaRange(gpa, len) ? this.process.read(this.gpaToHva(this.dmaGpa(gpa))!, len) : null,
      writeGuest: (gpa, bytes) => {
        if (!this.dmaRange(gpa, bytes.length)) return false;
        this.process.write(this.gpaToHva(this.dmaGpa(gpa))!, bytes);
        return true;
      },
      requestReset: (reason) => {
        this.stopRequest = `the guest asked for a reset (${reason})`;
      },
      requestPowerOff: (reason) => {
        this.stopRequest = `the guest powered off (${reason})`;
      },
    }));
  }

  /** A DMA address as the device sees it: a TD's shared alias without the shared bit. */
  private dmaGpa(gpa: number): number {
    const sb = this.vm.td?.sharedBit;
    return sb && isSharedGpa(gpa, sb) ? gpa - sb : gpa;
  }

  /** Whether a device may DMA to [gpa, +len): RAM the VMM maps and, for a protected VM, shared. */
  private dmaRange(gpa: number, len: number): boolean {
    const g = this.dmaGpa(gpa);
    for (let a = Math.floor(g / PAGE_SIZE) * PAGE_SIZE; a < g + len; a += PAGE_SIZE) {
      if (this.gpaToHva(a) === undefined) return false;
      if (this.vm.isPrivate(a / PAGE_SIZE)) return false;
    }
    return len > 0;
  }

  /**
   * Change the platform for the next boot (the user's switches): a device on or off, the design
   * mode. Returns what the next reboot will change, in words.
   */
  setDevice(id: string, enabled: boolean): void {
    if (!(DEVICE_IDS as readonly string[]).includes(id)) fail('EINVAL', `unknown device "${id}" (known: ${DEVICE_IDS.join(', ')})`);
    const dev = id as DeviceId;
    const forced = forcedOffReason(dev, this.isTd);
    if (enabled && forced) fail('EINVAL', forced);
    this.pending.devices[dev] = enabled;
    this.trace('set_device', { device: dev, enabled }, `The ${dev} device will be ${enabled ? 'present' : 'absent'} at the next boot: QEMU builds the machine from its command line when it starts.`);
  }

  setDesignMode(mode: DesignMode): void {
    this.pending.mode = mode;
    this.trace('set_design_mode', { mode }, mode === 'talk'
      ? "At the next boot the VM follows the talk's proposal: an allow-list of port and MMIO ranges fixed at start, device state frozen after the guest's init phase."
      : 'At the next boot the VM follows upstream QEMU and KVM: every port and MMIO access exits to the VMM, nothing is frozen.');
  }

  /** Every device's switch on a platform: its own switches over the defaults for the VM type. */
  devicesOf(p: PlatformDesc): Record<DeviceId, boolean> {
    return { ...defaultDevices(this.isTd ? 'td' : 'q35'), ...p.devices };
  }

  /** The differences between the running platform and the next boot's, in words. */
  pendingChanges(): string[] {
    const out: string[] = [];
    if (this.pending.mode !== this.running.mode) out.push(`design mode: ${this.pending.mode === 'talk' ? "the talk's proposal" : 'upstream'}`);
    const running = this.devicesOf(this.running);
    const next = this.devicesOf(this.pending);
    for (const id of DEVICE_IDS) {
      const a = running[id];
      const b = next[id];
      if (a !== b) out.push(`${CATALOGUE[id].name} ${b ? 'on' : 'off'}`);
    }
    return out;
  }

  /** The talk's freeze, at the end of the guest's init phase. */
  freezeDevices(): void {
    this.platform.freeze();
  }

  /**
   * Reboot with the pending platform: QEMU starts the machine again from its (new) command line.
   * For a TD, which cannot be reset, QEMU would destroy the TD and build a new one; the lab keeps
   * the VM, its memory and its measurement and starts the vCPU again (docs/simplifications.md).
   */
  reboot(): void {
    const changes = this.pendingChanges();
    this.acpiBefore = this.acpiTables().tables;
    this.consoleBefore = this.console;
    this.running = clonePlatform(this.pending);
    this.platform = this.makePlatform();
    this.boots++;
    this.stopRequest = null;
    const platform = this.kernels[0].platform;
    for (const vcpu of this.vcpus) {
      vcpu.resetRunState();
      // The MSRs start again from their reset values, as KVM_PUT_RESET_STATE writes them; the filter and
      // the talk's constraints are VM-level and stay, like the VMM's handlers (its own configuration).
      vcpu.resetMsrs();
      this.startCpu(vcpu, platform);
    }
    for (const t of this.threads) t.restart();
    this.vm.msrPolicy.accesses.clear();
    this.msrPolicy.stored.clear();
    this.trace('qemu_system_reset', { boot: this.boots, changes: changes.join('; ') || 'none' },
      `QEMU restarts the VM (boot ${this.boots})${changes.length ? ` with ${changes.join(', ')}` : ''}; the guest starts again from its reset state.`);
  }

  /**
   * The single figure: port ranges, MMIO ranges and MSRs through which a guest access reaches host
   * code (KVM or the VMM) on the running platform (docs/simplifications.md says how it counts).
   * `rows`: the MSR table, when the caller has already built it.
   */
  surface(rows: readonly MsrRow[] = this.msrRows()): SurfaceCount {
    const c = this.platform.surfaceCount();
    // The MSRs of the table whose access reaches KVM or the VMM, plus one for every other index (an
    // unknown MSR still runs KVM's code before it ends in #GP); the MSRs a guest merely tried are not
    // a larger surface than that one.
    const msrs = rows.filter((r) => r.reachesHost && MSRS.has(Number(r.index))).length + 1;
    return { ports: c.ports, mmio: c.mmio, msrs, total: c.ports + c.mmio + msrs };
  }

  /** The MSR table as this VM's guest experiences it, with what this VMM does with the exits it gets. */
  msrRows(): MsrRow[] {
    return msrRows(this.vm, (index, access) => this.msrPolicy.describe(index, access));
  }

  /** The guest kernel of one vCPU. */
  kernelOf(vcpu: number): LinuxGuestKernel {
    return this.kernels[vcpu];
  }

  /** The guest kernel of vCPU 0 (what it found at boot, for the attack-surface view). */
  get kernel(): LinuxGuestKernel {
    return this.kernels[0];
  }

  /**
   * The ACPI tables as the guest finds them in its memory (read by the lab, not through the host:
   * a TD's are in private memory), compared with the previous boot's.
   */
  acpiTables(): { tables: AcpiTableView[]; errors: string[] } {
    const rsdp = this.kernel.bootParams.acpi_rsdp_addr;
    if (!rsdp) return { tables: diffTables(this.acpiBefore, []), errors: ['the firmware has not installed ACPI tables (yet)'] };
    const d = decodeTables((gpa, len) => this.guestBytes(gpa, len), rsdp);
    return { tables: diffTables(this.acpiBefore, d.tables), errors: d.errors };
  }

  /** Guest-physical bytes as the guest sees them (private or shared view), or null where nothing is. */
  private guestBytes(gpa: number, len: number): Uint8Array | null {
    const out = new Uint8Array(len);
    for (let off = 0; off < len;) {
      const a = gpa + off;
      const f = this.hostFrameOf(a);
      if (!f) return null;
      const page = this.host.memory.bytesForRead(f.frame);
      const inPage = a % PAGE_SIZE;
      const n = Math.min(len - off, PAGE_SIZE - inPage);
      out.set(page.subarray(inPage, inPage + n), off);
      off += n;
    }
    return out;
  }

  /**
   * The vCPU loop (kvm_cpu_exec()): KVM_RUN, answer the exit, again — until the guest halts or stops,
   * the instruction budget is used up, or (until = 'exit') one exit has been handled. `total` is
   * the budget the messages name (a vCPU thread continuing a quantum after an exit passes what is left).
   */
  run(vcpuId: number, until: 'halt' | 'exit', budget: number, total = budget): RunOutcome {
    const vcpu = this.vcpus[vcpuId];
    if (!vcpu) fail('EINVAL', `VM "${this.desc.name}" has no vCPU ${vcpuId}`);
    let instructions = 0;
    let exits = 0;
    const done = (stop: RunOutcome['stop'], message: string, r?: RunResult): RunOutcome => ({ stop, instructions, exits, message, lastExit: r?.exit, kvmRun: r });
    while (true) {
      const left = budget - instructions;
      if (left <= 0) return done('budget', `the guest ran ${total} instructions without halting; the run stopped at the step budget`);
      let r: RunResult;
      try {
        r = vcpu.run(left);
      } catch (e) {
        if (e instanceof SysError) return done('error', `KVM_RUN failed: ${e.errno} (${e.why})`);
        throw e;
      }
      instructions += r.instructions;
      if (r.blocked === 'panicked') return done('panicked', r.why, r);
      if (r.blocked === 'userfault') return done('userfault', r.why, r);
      if (r.blocked) return done('halted', 'the guest halted', r);
      if (r.ret === -1 && r.errno === 'EIO') return done('vm-dead', `KVM_RUN returned -EIO: ${r.why}`, r);
      if (r.ret === -1 && r.errno === 'EINTR') return done('budget', `the guest ran ${total} instructions without halting; the run stopped at the step budget`, r);
      exits++;
      const e = r.exit!;
      switch (e.reason) {
        case 'KVM_EXIT_MEMORY_FAULT': {
          // kvm_cpu_exec(): QEMU knows only KVM_MEMORY_EXIT_FLAG_PRIVATE ("KVM_EXIT_MEMORY_FAULT: Unknown flag 0x%"):
          // it has no handler for KVM Userfault's exits (the series is not merged).
          if (e.memory_fault.flags & KVM_MEMORY_EXIT_FLAG_USERFAULT && this.kvmUserfault.on) {
            // KVM Userfault (posted series, not merged): the page is still on the migration source.
            const ku = this.kvmUserfault;
            const gfn = Math.floor(e.memory_fault.gpa / PAGE_SIZE);
            ku.exits++;
            ku.wait[vcpuId] = gfn;
            ku.queue.push(gfn);
            ku.queueVcpu.push(vcpuId);
            this.trace('kvm_userfault_exit', { vcpu: vcpuId, gpa: hex(e.memory_fault.gpa), flags: hex(e.memory_fault.flags) },
              `KVM Userfault (a posted series, not merged): vCPU ${vcpuId} exits with KVM_EXIT_MEMORY_FAULT and KVM_MEMORY_EXIT_FLAG_USERFAULT at ${hex(e.memory_fault.gpa)}; QEMU's vCPU thread asks for the page and waits, then clears its bit in the userfault bitmap and re-enters KVM_RUN.`, [gfn, 1]);
            return done('userfault', `waiting for GFN ${hex(gfn)} (KVM Userfault)`, r);
          }
          if (e.memory_fault.flags & ~KVM_MEMORY_EXIT_FLAG_PRIVATE)
            return done('error', `KVM_EXIT_MEMORY_FAULT: Unknown flag ${hex(e.memory_fault.flags)} (QEMU handles only KVM_MEMORY_EXIT_FLAG_PRIVATE; KVM_MEMORY_EXIT_FLAG_USERFAULT is from the unmerged KVM Userfault series)`, r);
          const priv = (e.memory_fault.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE) !== 0;
          if (this.convertMemory(e.memory_fault.gpa, e.memory_fault.size, priv, 'implicit conversion on KVM_EXIT_MEMORY_FAULT') !== 0)
            return done('error', `QEMU could not convert ${hex(e.memory_fault.gpa)}: the guest cannot continue`, r);
          break;
        }
        case 'KVM_EXIT_HYPERCALL': {
          if (e.hypercall.nr !== KVM_HC_MAP_GPA_RANGE) {
            e.hypercall.ret = -38;
            break;
          }
          const [gpa, npages, attrs] = e.hypercall.args;
          const rc = this.convertMemory(gpa, npages * PAGE_SIZE, (attrs & KVM_MAP_GPA_RANGE_ENCRYPTED) !== 0, 'explicit conversion requested by the guest (KVM_HC_MAP_GPA_RANGE)');
          e.hypercall.ret = rc === 0 ? 0 : -22;
          break;
        }
        case 'KVM_EXIT_IO':
          this.handleIo(e);
          break;
        case 'KVM_EXIT_MMIO': {
          const m = this.platform.mmio(e.mmio.phys_addr, e.mmio.len, e.mmio.is_write, e.mmio.data);
          if (!e.mmio.is_write) e.mmio.data = Math.min(m.value, Number.MAX_SAFE_INTEGER);
          break;
        }
        case 'KVM_EXIT_X86_RDMSR':
        case 'KVM_EXIT_X86_WRMSR': {
          const ev = answerMsrExit(e, this.msrPolicy);
          this.trace(ev.name, ev.args as Record<string, string | number | boolean>, ev.text);
          break;
        }
        case 'KVM_EXIT_DIRTY_RING_FULL': {
          // kvm_cpu_exec(): trace_kvm_dirty_ring_full, then kvm_dirty_ring_reap() under the BQL — of
          // every ring, or with dirty limit in service of this vCPU's only (so that each vCPU meets
          // its own full ring) — then dirtylimit_vcpu_execute(): a limited vCPU sleeps there.
          const limited = this.dirtyLimit.inService;
          this.host.trace.emit('vmm', 'kvm_dirty_ring_full', { cpu: vcpuId },
            limited ? `vCPU ${vcpuId}'s thread finds its dirty ring full: with dirty limit in service QEMU reaps this vCPU's ring only.`
              : `vCPU ${vcpuId}'s thread finds its dirty ring full: QEMU reaps every vCPU's ring before it runs the vCPU again.`, { vm: this.desc.name, vcpu: vcpuId });
          if (this.dirtyRing.reap(`vCPU ${vcpuId}'s ring was full`, limited ? vcpuId : undefined) === 0 && vcpu.dirtyRing.softFull())
            return done('error', `vCPU ${vcpuId}'s dirty ring is full and QEMU finds nothing to reap (entries collected but never reset by another hand): the vCPU cannot run`, r);
          const sleepNs = this.dirtyLimit.vcpuExecute(vcpuId);
          // The thread sleeps (VcpuThread): the scheduler sees it waiting until then.
          if (sleepNs > 0) return { ...done('exit', `vCPU ${vcpuId} sleeps ${sleepNs} ns on its full dirty ring (dirty limit)`, r), sleepNs };
          break;
        }
        case 'KVM_EXIT_HLT':
          return done('halted', 'the guest halted (KVM_EXIT_HLT)', r);
        case 'KVM_EXIT_SHUTDOWN':
          return done('shutdown', `the guest shut down: ${r.why}`, r);
        case 'KVM_EXIT_INTERNAL_ERROR':
          return done('internal-error', `KVM_EXIT_INTERNAL_ERROR: ${r.why}`, r);
        case 'KVM_EXIT_SYSTEM_EVENT':
          return done('system-event', `KVM_EXIT_SYSTEM_EVENT type ${e.system_event.type}`, r);
        default:
          return done('error', `unexpected exit ${e.reason}`, r);
      }
      if (this.stopRequest) {
        const why = this.stopRequest;
        this.stopRequest = null;
        return done('shutdown', why, r);
      }
      if (until === 'exit') return done('exit', `stopped after handling ${e.reason}`, r);
    }
  }

  /**
   * One MSR's policy, as a VMM would set it: the read/write bits of the VMM's own MSR filter
   * (QEMU installs its filter with KVM_X86_SET_MSR_FILTER and enables KVM_CAP_X86_USER_SPACE_MSR
   * with KVM_MSR_EXIT_REASON_FILTER, so a denied access exits to it; without a handler it answers
   * msr.error = 1 and the guest gets #GP), and the talk's constraint (a proposal, not upstream).
   */
  setMsrPolicy(msr: number, p: { read?: 'allow' | 'deny'; write?: 'allow' | 'deny'; constraint?: 'none' | 'read-only' | 'fixed'; value?: number }): number {
    const index = msr >>> 0;
    if (p.read || p.write) {
      for (const dir of ['read', 'write'] as const) {
        if (p[dir] === 'deny') this.msrDeny[dir].add(index);
        else if (p[dir] === 'allow') this.msrDeny[dir].delete(index);
      }
      const ranges = [
        ...filterRanges([...this.msrDeny.read], KVM_MSR_FILTER_READ),
        ...filterRanges([...this.msrDeny.write], KVM_MSR_FILTER_WRITE),
      ];
      if (ranges.length > KVM_MSR_FILTER_MAX_RANGES) fail('E2BIG', `the denied MSRs need ${ranges.length} filter ranges; KVM takes at most ${KVM_MSR_FILTER_MAX_RANGES}`);
      if (ranges.length && !(this.vm.userSpaceMsr & KVM_MSR_EXIT_REASON_FILTER))
        this.vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, [this.vm.userSpaceMsr | KVM_MSR_EXIT_REASON_FILTER]);
      this.vm.setMsrFilter({ flags: KVM_MSR_FILTER_DEFAULT_ALLOW, ranges });
    }
    if (p.constraint === 'none') setMsrConstraint(this.vm, index, null);
    else if (p.constraint === 'read-only') setMsrConstraint(this.vm, index, { kind: 'read-only' });
    else if (p.constraint === 'fixed') setMsrConstraint(this.vm, index, { kind: 'fixed', value: p.value !== undefined ? BigInt(p.value) : MSRS.get(index)?.reset ?? 0n });
    return 0;
  }

  /** The host frame behind a GPA as the host kernel can find it (EPT, Secure-EPT mirror, page cache). */
  hostFrameOf(gpa: number): { frame: number; view: 'private' | 'shared' } | null {
    return hostFrameOf(this.vm, this.process, (g) => this.gpaToHva(g), gpa, this.gmem !== null);
  }
}

export const DEFAULT_FIRMWARE_ACCEPT = 512 * MiB;

export const DEFAULT_PLATFORM: PlatformDesc = { mode: 'upstream', devices: {}, allow: { ports: [], mmio: [] } };

function clonePlatform(p: PlatformDesc): PlatformDesc {
  return { mode: p.mode, devices: { ...p.devices }, allow: { ports: [...p.allow.ports], mmio: [...p.allow.mmio] } };
}

/** A filter bitmap covers at most KVM_MSR_FILTER_MAX_BITMAP_SIZE bytes: this many MSRs per range. */
const MSRS_PER_RANGE = KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8;

/** Filter ranges (all allowed but the denied indices) covering `denied`, one per cluster of nearby MSRs. */
function filterRanges(denied: number[], flags: number): KvmMsrFilterRange[] {
  const out: KvmMsrFilterRange[] = [];
  const sorted = denied.sort((a, b) => a - b);
  let k = 0;
  while (k < sorted.length) {
    const base = sorted[k];
    let j = k;
    while (j + 1 < sorted.length && sorted[j + 1] - base < MSRS_PER_RANGE) j++;
    const nmsrs = sorted[j] - base + 1;
    out.push({ flags, base, nmsrs, bitmap: allowBitmap(nmsrs, sorted.slice(k, j + 1).map((x) => x - base)) });
    k = j + 1;
  }
  return out;
}

/**
 * QEMU's throttle timer (cpu_throttle_timer_tick() on QEMU_CLOCK_VIRTUAL_RT): while the throttle is
 * on, every CPU_THROTTLE_TIMESLICE_NS / (1 - pct) it asks each vCPU to sleep (cpu_throttle_thread).
 */
export class ThrottleTimer implements Actor {
  readonly kind = 'timer';
  readonly name: string;
  order: readonly number[] = [];
  private next: number | null = null;

  constructor(private readonly vmm: VmmVm) {
    this.name = `${vmm.desc.name}/cpu-throttle`;
  }

  readyAt(): number | null {
    return this.vmm.throttlePct > 0 ? this.next : null;
  }

  tick(now: number): void {
    const pct = this.vmm.throttlePct;
    if (pct === 0) {
      this.next = null;
      return;
    }
    for (const t of this.vmm.threads) t.throttle(pct);
    this.next = now + throttleTickNs(pct);
  }

  act(now: number): void {
    this.tick(now);
  }
}
