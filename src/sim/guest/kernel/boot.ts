/**
 * The guest boot as two guest-kernel services a program calls:
 *
 *     call firmware_boot   ; OVMF (ordinary VM) or TDVF (TD): fw_cfg → ACPI tables → boot_params
 *     call linux_boot      ; start_kernel() and early device init, printed on the serial console
 *     hlt
 *
 * firmware_boot returns the RSDP address in rax (0: no ACPI tables) and leaves it in
 * boot_params.acpi_rsdp_addr, where Linux looks first (arch/x86/kernel/acpi/boot.c
 * acpi_arch_get_root_pointer()). linux_boot returns the number of failures in rax (0: clean boot);
 * it takes the lab's boot options in rdi (0: none; LINUX_BOOT_VIRTIO_RINGS_PRIVATE: a broken
 * virtio driver that puts a TD's rings in private memory):
 *
 *     mov rdi, 1            ; LINUX_BOOT_VIRTIO_RINGS_PRIVATE
 *     call linux_boot
 * Both run on the resumable executor of boot-exec.ts, so VM exits in the middle are fine.
 */
import { hex } from '../../core/units';
import type { TraceSink } from '../../core/trace';
import type { CpuBus, CpuRegs } from '../../cpu/bus';
import { TDG_VP_INFO } from '../../abi/tdx';
import { type BootGen, ResumableRunner, type ResumableState } from './boot-exec';
import { Firmware, type FirmwareInfo } from './boot-firmware';
import { BootFault, BootHw } from './boot-hw';
import {
  type AcpiTableSeen, type BootDevice, LINUX_BOOT_VIRTIO_RINGS_PRIVATE, LinuxBoot, type PnpDevice, type VirtqueueSetup,
} from './boot-linux';

/** What the guest kernel runs on, as it learns at boot (CPUID leaf 0x21 "IntelTDX    " for a TD). */
export type Platform = 'tdx' | 'sw-protected' | 'none';

export type { AcpiTableSeen, BootDevice, FirmwareInfo, PnpDevice, VirtqueueSetup };
export { LINUX_BOOT_VIRTIO_RINGS_PRIVATE };

export const BOOT_SERVICES = ['firmware_boot', 'linux_boot'] as const;
export type BootService = (typeof BOOT_SERVICES)[number];

/** What linux_boot found, for tests and the UI (filled in while the boot runs). */
export interface BootInfo {
  /** CPUID leaf 0x21 said "IntelTDX    ": the TD paths were used. */
  tdx: boolean;
  vendor: string;
  /** From CPUID leaf 0x40000000 ("KVM"), '' when there is none. */
  hypervisor: string;
  /** The RSDP Linux used (boot_params.acpi_rsdp_addr, or found by the legacy scan). */
  acpiRsdpAddr: number;
  acpiTables: AcpiTableSeen[];
  /** The DSDT's PNP devices as pnpacpi numbers them. */
  pnp: PnpDevice[];
  /** Every device probed, with the result. */
  devices: BootDevice[];
  /** The virtqueues the drivers set up, with where their rings are. */
  virtqueues: VirtqueueSetup[];
  /** One line per failure. */
  failures: string[];
  /** The console lines (printk), in order. */
  log: string[];
}

const regsToString = (...regs: number[]): string =>
  regs.map((r) => String.fromCharCode(r & 0xff, (r >>> 8) & 0xff, (r >>> 16) & 0xff, (r >>> 24) & 0xff)).join('');

/** The boot services of one vCPU's guest kernel, and what they leave behind. */
export class GuestBoot {
  /** struct boot_params (arch/x86/include/uapi/asm/bootparam.h): the firmware's hand-over to Linux. */
  readonly bootParams = { acpi_rsdp_addr: 0 };
  firmware: FirmwareInfo | null = null;
  info: BootInfo | null = null;
  private readonly runner: ResumableRunner;

  constructor(
    private readonly trace: TraceSink,
    private readonly ctx: { vm: string; vcpu: number },
    private readonly platform: Platform,
  ) {
    this.runner = new ResumableRunner(trace);
  }

  /** Run (or, after a VM exit, continue) a boot service; returns what goes in rax. */
  call(name: BootService, regs: CpuRegs, bus: CpuBus): bigint {
    const rip = regs.rip;
    const options = Number(regs.get('rdi') & 0xffffffffn);
    return this.runner.run(name, [rip, options], ([r, o]) => this.start(name, r, o), bus);
  }

  private start(name: string, rip: number, options: number): BootGen<bigint> {
    return name === 'firmware_boot' ? this.firmwareBoot(rip) : this.linuxBoot(rip, options);
  }

  /**
   * Saved state: what the services left behind (boot_params, what the firmware did, what Linux
   * found) and the service in progress, as the log of its answers (ResumableRunner).
   */
  saveState(): GuestBootState {
    return {
      bootParams: { ...this.bootParams },
      firmware: this.firmware && structuredClone(this.firmware),
      info: this.info && structuredClone(this.info),
      runner: this.runner.saveState(),
    };
  }

  loadState(s: GuestBootState): void {
    this.bootParams.acpi_rsdp_addr = s.bootParams.acpi_rsdp_addr;
    this.firmware = s.firmware && structuredClone(s.firmware);
    this.info = s.info && structuredClone(s.info);
    // Re-driving the service in progress makes its objects again (firmware, info and the arrays the
    // generator keeps filling), as the original run had them at the snapshot.
    this.runner.loadState(s.runner, (name, [rip, options]) => this.start(name as BootService, rip, options));
  }

  /**
   * early_cpu_init(), tdx_early_init() and init_hypervisor_platform(): the vendor, whether this is a
   * TD (CPUID leaf 0x21; then TDG.VP.INFO for the shared bit), and the hypervisor signature.
   */
  private *detect(hw: BootHw): BootGen<{ vendor: string; hypervisor: string }> {
    const [max, b, c, d] = yield* hw.cpuid(0);
    const vendor = regsToString(b, d, c);
    let td = false;
    if (max >= 0x21) {
      const [, tb, tc, td2] = yield* hw.cpuid(0x21, 0);
      td = regsToString(tb, td2, tc) === 'IntelTDX    ';
    }
    if (!td && this.platform === 'tdx') {
      hw.emit('cpuid', { leaf: '0x21' }, 'CPUID leaf 0x21 does not say "IntelTDX    ", yet this guest runs in a TD: the boot takes the TD paths anyway.');
      td = true;
    }
    hw.td = td;
    if (td) {
      const r = yield* hw.tdcall({ rax: BigInt(TDG_VP_INFO) });
      const gpaw = Number(r.get('rcx') & 0x3fn);
      hw.sharedMask = 2 ** (gpaw - 1);
      hw.emit('tdx_parse_tdinfo', { gpaw, shared_bit: gpaw - 1 },
        `The guest is a TD: TDG.VP.INFO gives a ${gpaw}-bit GPA width, so shared (device-visible) addresses have bit ${gpaw - 1} set.`);
    }
    let hypervisor = '';
    const [, , ecx1] = yield* hw.cpuid(1, 0);
    if (ecx1 & 0x80000000) {
      const [, hb, hc, hd] = yield* hw.cpuid(0x40000000, 0);
      const sig = regsToString(hb, hc, hd);
      hypervisor = sig.startsWith('KVMKVMKVM') ? 'KVM' : sig.replace(/\0+$/, '');
    }
    return { vendor, hypervisor };
  }

  private *firmwareBoot(rip: number): BootGen<bigint> {
    const hw = new BootHw(this.trace, this.ctx, 'firmware_boot');
    hw.rip = rip;
    yield* this.detect(hw);
    const fw = new Firmware(hw);
    this.firmware = fw.info;
    let rsdp = 0;
    try {
      rsdp = yield* fw.run();
    } catch (e) {
      if (!(e instanceof BootFault)) throw e;
      hw.failures.push(e.message);
      hw.emit('firmware', { error: e.message }, `The firmware stops: ${e.message}.`);
    }
    this.bootParams.acpi_rsdp_addr = rsdp;
    hw.emit('boot_params.acpi_rsdp_addr', { acpi_rsdp_addr: hex(rsdp) }, rsdp
      ? `The firmware hands over to Linux with boot_params.acpi_rsdp_addr = ${hex(rsdp)}: that is where Linux will find the ACPI tables.`
      : 'The firmware hands over to Linux without ACPI tables (boot_params.acpi_rsdp_addr = 0).');
    return BigInt(rsdp);
  }

  private *linuxBoot(rip: number, options: number): BootGen<bigint> {
    const hw = new BootHw(this.trace, this.ctx, 'linux_boot');
    hw.rip = rip;
    const { vendor, hypervisor } = yield* this.detect(hw);
    const virtioRingsPrivate = (options & LINUX_BOOT_VIRTIO_RINGS_PRIVATE) !== 0;
    if (virtioRingsPrivate) {
      hw.emit('linux_boot options', { options: hex(options) },
        'linux_boot runs with the lab option virtio_rings_private: virtio-net will put its rings in private memory, as a driver that ignores the DMA API would.');
    }
    const linux = new LinuxBoot(hw, this.bootParams.acpi_rsdp_addr, vendor, hypervisor, { virtioRingsPrivate });
    this.info = {
      tdx: hw.td, vendor, hypervisor, acpiRsdpAddr: 0, acpiTables: linux.info.tables, pnp: linux.info.pnp,
      devices: linux.info.devices, virtqueues: linux.info.virtqueues, failures: hw.failures, log: hw.log,
    };
    try {
      yield* linux.run();
    } catch (e) {
      if (!(e instanceof BootFault)) throw e;
      yield* hw.fail('boot', `linux_boot: stopped: ${e.message}`);
    }
    this.info.acpiRsdpAddr = linux.rsdpUsed;
    const found = linux.info.devices.filter((d) => d.status === 'found').length;
    yield* hw.printk(`linux_boot: ${found} devices found, ${hw.failures.length} failed`);
    for (const f of [...hw.failures]) yield* hw.printk(`linux_boot: FAILED ${f}`);
    return BigInt(hw.failures.length);
  }
}

/** GuestBoot's saved state. */
export interface GuestBootState {
  bootParams: { acpi_rsdp_addr: number };
  firmware: FirmwareInfo | null;
  info: BootInfo | null;
  runner: ResumableState;
}
