/**
 * What start_kernel() and the early device initcalls do with the platform, in Linux's order and
 * with Linux's console messages: CPU and hypervisor detection, MSR set-up, the ACPI tables (from
 * boot_params.acpi_rsdp_addr), then the legacy devices Linux decides to probe from the FADT
 * IAPC_BOOT_ARCH flags, the MADT PCAT_COMPAT flag and the DSDT's PNP devices, then PCI, and the
 * virtio-net driver's set-up of its first virtqueue.
 * Sources are named at each step (arch/x86/kernel/..., drivers/...).
 */
import { hex } from '../../core/units';
import { TDVMCALL_MAP_GPA, TDVMCALL_STATUS_RETRY } from '../../abi/tdx';
import {
  ACPI_FADT_8042, ACPI_FADT_NO_CMOS_RTC, ACPI_MADT_PCAT_COMPAT, FADT2_REVISION_ID, type Fadt, type Madt, type McfgEntry, RSDP_SIG,
  SDT_HEADER_SIZE, checksum, dsdtDevices, facsLine, le, parseFadt, parseHeader, parseHpet, parseMadt, parseMcfg, parseRsdp, rootEntries,
  rsdpLine, tableLine,
} from './boot-acpi';
import type { BootGen } from './boot-exec';
import { type BootHw, COM1 } from './boot-hw';

export interface BootDevice {
  /** What Linux calls it ("8259A PIC", "ttyS0", "pci 0000:00:1f.0", ...). */
  name: string;
  /** Where it was looked for: ports, an MMIO address, a PCI address. */
  where: string;
  /** found: it answered; absent: probed, nothing there; skipped: firmware said it is not there. */
  status: 'found' | 'absent' | 'skipped';
  detail: string;
}

export interface AcpiTableSeen {
  signature: string;
  address: number;
  length: number;
  revision: number;
  oemId: string;
  checksumOk: boolean;
}

export interface PnpDevice {
  /** Linux's PNP device name, "00:03". */
  id: string;
  /** The AML device name ("KBD", "COM1", ...). */
  name: string;
  hid: string;
}

/** A virtqueue the driver set up: the addresses it wrote to queue_desc, queue_driver and queue_device. */
export interface VirtqueueSetup {
  /** The virtio device's name ("virtio0"). */
  device: string;
  queue: number;
  size: number;
  desc: number;
  driverArea: number;
  deviceArea: number;
  /**
   * Where the driver put the rings: ordinary memory (not a TD), shared (a TD, through the DMA API:
   * decrypted with MapGPA) or private (a TD, with the virtio_rings_private boot option).
   */
  memory: 'ordinary' | 'shared' | 'private';
}

export interface LinuxBootInfo {
  tables: AcpiTableSeen[];
  pnp: PnpDevice[];
  devices: BootDevice[];
  virtqueues: VirtqueueSetup[];
}

/**
 * linux_boot's options, passed in rdi (0: none). The lab's own switches, not Linux's:
 * LINUX_BOOT_VIRTIO_RINGS_PRIVATE makes virtio-net in a TD a broken driver that puts its rings in
 * ordinary (private) memory instead of going through the DMA API, to show why that cannot work.
 */
export const LINUX_BOOT_VIRTIO_RINGS_PRIVATE = 1;

export interface LinuxBootOptions {
  virtioRingsPrivate: boolean;
}

/**
 * Where linux_boot puts virtio-net queue 0's split virtqueue: a fixed 32 KiB area (the lab has no
 * page allocator; see the layout in boot-firmware.ts). In a TD it is converted to shared, as
 * dma_alloc_coherent() does for a device that must use unencrypted DMA.
 */
export const VIRTIO_RING_AREA = 0x600000;
export const VIRTIO_RING_AREA_END = 0x608000;

const IA32_APIC_BASE = 0x1b;
const IA32_ARCH_CAPABILITIES = 0x10a;
const IA32_MISC_ENABLE = 0x1a0;
const IA32_PAT = 0x277;
const X2APIC_SPIV = 0x80f;
const APIC_SPIV = 0xf0;
/** APIC_SPIV_APIC_ENABLED | SPURIOUS_APIC_VECTOR, as setup_local_APIC() writes it. */
const SPIV_VALUE = 0x1ff;
/** Linux's PAT: WB WC UC- UC WB WP UC- WT (arch/x86/mm/pat/memtype.c pat_bp_init()). */
const LINUX_PAT = 0x0407050600070106n;
/** HZ = 250; LATCH = (PIT_TICK_RATE + HZ/2) / HZ (include/linux/timex.h, i8253.h). */
const PIT_LATCH = Math.floor((1193182 + 125) / 250);
const HPET_MIN_PERIOD = 100000;
const HPET_MAX_PERIOD = 100000000;
const I8042_DATA = 0x60;
const I8042_STATUS = 0x64;
const I8042_STR_OBF = 0x01;
const I8042_STR_IBF = 0x02;
const I8042_BUFFER_SIZE = 16;
const RTC_PORT = 0x70;
const PCI_CONF1_ADDRESS = 0xcf8;
const PCI_CONF1_DATA = 0xcfc;
const PCI_CAPABILITY_LIST = 0x34;
const PCI_VENDOR_ID_REDHAT_QUMRANET = 0x1af4;
/** Modern virtio-pci device IDs are 0x1040 + the virtio device ID; virtio-net is 1. */
const VIRTIO_PCI_NET = 0x1041;
const PCI_CAP_ID_VNDR = 0x09;
/** struct virtio_pci_cap cfg_type (include/uapi/linux/virtio_pci.h). */
const VIRTIO_PCI_CAP_COMMON_CFG = 1;
const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
const VIRTIO_PCI_CAP_ISR_CFG = 3;
/** struct virtio_pci_common_cfg offsets. */
const VP = { device_feature_select: 0x00, device_feature: 0x04, driver_feature_select: 0x08, driver_feature: 0x0c, device_status: 0x14, queue_select: 0x16, queue_size: 0x18, queue_enable: 0x1c, queue_desc: 0x20, queue_driver: 0x28, queue_device: 0x30 } as const;
/** Device status bits (include/uapi/linux/virtio_config.h). */
const VIRTIO_CONFIG_S_ACKNOWLEDGE = 1;
const VIRTIO_CONFIG_S_DRIVER = 2;
const VIRTIO_CONFIG_S_DRIVER_OK = 4;
const VIRTIO_CONFIG_S_FEATURES_OK = 8;
const VIRTIO_F_VERSION_1 = 32;
const VIRTIO_F_ACCESS_PLATFORM = 33;
/** What virtio_net and the virtio core accept here: MAC (5), STATUS (16), CTRL_VQ (17), VERSION_1, ACCESS_PLATFORM. */
const VIRTIO_NET_DRIVER_FEATURES = [5, 16, 17, VIRTIO_F_VERSION_1, VIRTIO_F_ACCESS_PLATFORM];
/** vp_modern setup_vq() aligns the used ring to SMP_CACHE_BYTES (64 on x86). */
const SMP_CACHE_BYTES = 64;
const PAGE = 4096;

/** A modern virtio-pci function the PCI scan found, numbered as the virtio bus numbers its devices. */
interface VirtioFn {
  dev: number;
  fn: number;
  bdf: string;
  deviceId: number;
  /** virtio<index> */
  index: number;
  /** The common configuration's address (BAR + offset), 0 when virtio-pci did not bind. */
  common: number;
}

/** vring_init(): descriptors at 0, the available ring after them, the used ring aligned after that. */
function splitRing(base: number, num: number): { desc: number; avail: number; used: number; bytes: number } {
  const avail = base + 16 * num;
  const used = Math.ceil((avail + 6 + 2 * num) / SMP_CACHE_BYTES) * SMP_CACHE_BYTES;
  return { desc: base, avail, used, bytes: used + 6 + 8 * num - base };
}
/** PNP ids that pnpacpi leaves to other drivers (PCI root bridges, interrupt links). */
const NOT_PNP = new Set(['PNP0a03', 'PNP0a08', 'PNP0c0f']);

const h2 = (n: number): string => n.toString(16).padStart(2, '0');
const h4 = (n: number): string => n.toString(16).padStart(4, '0');
const fromBcd = (v: number): number => (v >> 4) * 10 + (v & 0x0f);

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

interface Tables {
  fadt: Fadt | null;
  madt: Madt | null;
  mcfg: McfgEntry[];
  hpet: { id: number; address: number } | null;
}

export class LinuxBoot {
  readonly info: LinuxBootInfo = { tables: [], pnp: [], devices: [], virtqueues: [] };
  /** The RSDP address Linux used, 0 if it found none. */
  rsdpUsed = 0;
  private t: Tables = { fadt: null, madt: null, mcfg: [], hpet: null };
  /** PCI config space reads as the scan did them (mechanism #1 or ECAM); null before the scan. */
  private cfg: ((dev: number, fn: number, reg: number) => BootGen<number>) | null = null;
  private readonly virtio: VirtioFn[] = [];

  constructor(
    private readonly hw: BootHw, private readonly rsdpAddr: number, private readonly vendor: string, private readonly hypervisor: string,
    private readonly opts: LinuxBootOptions = { virtioRingsPrivate: false },
  ) {}

  private device(name: string, where: string, status: BootDevice['status'], detail: string): void {
    this.info.devices.push({ name, where, status, detail });
    this.hw.emit('probe', { device: name, where, status }, `${name} (${where}): ${detail}`);
  }

  *run(): BootGen<void> {
    const hw = this.hw;
    hw.emit('start_kernel', { vendor: this.vendor, tdx: hw.td }, `Linux starts on a ${this.vendor} CPU${hw.td ? ' inside a TD' : ''}.`);
    if (hw.td) yield* hw.printk('tdx: Guest detected');
    if (this.hypervisor) yield* hw.printk(`Hypervisor detected: ${this.hypervisor}`);
    yield* this.msrs();
    yield* this.acpiTables();
    if (hw.td) yield* hw.printk('Memory Encryption Features active: Intel TDX');
    yield* this.localApic();
    yield* this.pic();
    yield* this.hpet();
    yield* this.pit();
    yield* this.pci();
    yield* this.pnp();
    // Built-in initcalls of one level run in link order: virtio-pci (drivers/virtio) binds before
    // the 8250 driver (drivers/tty), virtio_net (drivers/net) after it.
    yield* this.virtioPci();
    yield* this.serial();
    yield* this.virtioNet();
    yield* this.i8042();
    yield* this.rtc();
  }

  /** IA32_APIC_BASE, IA32_MISC_ENABLE, IA32_ARCH_CAPABILITIES (when CPUID.7:EDX[29] says so) and the PAT. */
  private *msrs(): BootGen<void> {
    const hw = this.hw;
    const apicBase = yield* hw.rdmsr(IA32_APIC_BASE);
    if (apicBase !== null && apicBase & (1n << 10n)) yield* hw.printk('x2apic: enabled by BIOS, switching to x2apic ops');
    yield* hw.rdmsr(IA32_MISC_ENABLE);
    // x86_read_arch_cap_msr(): only when X86_FEATURE_ARCH_CAPABILITIES is set.
    const [, , , edx7] = yield* hw.cpuid(7, 0);
    if (edx7 & (1 << 29)) yield* hw.rdmsr(IA32_ARCH_CAPABILITIES);
    yield* hw.wrmsr(IA32_PAT, LINUX_PAT);
    yield* hw.printk('x86/PAT: Configuration [0-7]: WB  WC  UC- UC  WB  WP  UC- WT  ');
  }

  // ---- ACPI -----------------------------------------------------------------------------------

  /** acpi_boot_table_init() and acpi_boot_init(): list the tables, then parse FADT, MADT, HPET, MCFG. */
  private *acpiTables(): BootGen<void> {
    const hw = this.hw;
    let rsdpAddr = this.rsdpAddr;
    if (!rsdpAddr) rsdpAddr = yield* this.scanForRsdp();
    const rsdp = rsdpAddr ? parseRsdp(yield* hw.read(rsdpAddr, 36)) : null;
    if (!rsdp) {
      yield* hw.fail('ACPI', 'ACPI BIOS Error (bug): A valid RSDP was not found');
      return;
    }
    this.rsdpUsed = rsdpAddr;
    hw.emit('acpi_rsdp', { rsdp: hex(rsdpAddr), from: this.rsdpAddr ? 'boot_params.acpi_rsdp_addr' : 'legacy scan' },
      `Linux finds the RSDP at ${hex(rsdpAddr)} ${this.rsdpAddr ? '(boot_params.acpi_rsdp_addr, left by the firmware)' : 'by scanning the BIOS area'}.`);
    yield* hw.printk('ACPI: Early table checksum verification disabled');
    yield* hw.printk(`ACPI: ${rsdpLine(rsdpAddr, rsdp)}`);
    const rootAddr = rsdp.xsdt || rsdp.rsdt;
    const root = yield* this.table(rootAddr);
    if (!root) return;
    for (const addr of rootEntries(root)) {
      const b = yield* this.table(addr);
      if (!b) continue;
      const sig = le.str(b, 0, 4);
      if (sig === 'FACP') {
        const fadt = (this.t.fadt = parseFadt(b));
        if (fadt.dsdt) {
          const dsdt = yield* this.table(fadt.dsdt);
          if (dsdt) this.dsdt(dsdt);
        }
        if (fadt.facs) {
          const f = yield* hw.read(fadt.facs, 8);
          if (le.str(f, 0, 4) === 'FACS') yield* hw.printk(`ACPI: ${facsLine(fadt.facs, le.u32(f, 4))}`);
        }
      } else if (sig === 'APIC') this.t.madt = parseMadt(b);
      else if (sig === 'MCFG') this.t.mcfg = parseMcfg(b);
      else if (sig === 'HPET') this.t.hpet = parseHpet(b);
    }
    yield* this.acpiBoot();
  }

  /** Read one table, print its header line and check its checksum. */
  private *table(addr: number): BootGen<Uint8Array | null> {
    const hw = this.hw;
    const head = parseHeader(yield* hw.read(addr, SDT_HEADER_SIZE));
    if (head.length < SDT_HEADER_SIZE || head.length > 0x100000) {
      yield* hw.fail('ACPI', `ACPI: table at ${hex(addr)} has a bad length (${head.length})`);
      return null;
    }
    const b = yield* hw.read(addr, head.length);
    const sum = checksum(b);
    this.info.tables.push({ signature: head.signature, address: addr, length: head.length, revision: head.revision, oemId: head.oemId, checksumOk: sum === 0 });
    yield* hw.printk(`ACPI: ${tableLine(addr, head)}`);
    if (sum !== 0) {
      yield* hw.fail(`ACPI ${head.signature}`,
        `ACPI BIOS Warning (bug): Incorrect checksum in table [${head.signature}] - 0x${h2(b[9]).toUpperCase()}, should be 0x${h2((b[9] - sum) & 0xff).toUpperCase()}`);
    }
    return b;
  }

  /** acpi_find_root_pointer(): the RSDP signature on a 16-byte boundary in 0xE0000-0xFFFFF. */
  private *scanForRsdp(): BootGen<number> {
    for (let page = 0xe0000; page < 0x100000; page += 4096) {
      const b = yield* this.hw.read(page, 4096);
      for (let o = 0; o < 4096; o += 16) if (le.str(b, o, 8) === RSDP_SIG && checksum(b, o, 20) === 0) return page + o;
    }
    return 0;
  }

  /** The DSDT's devices and their _HID: what pnpacpi will register. */
  private dsdt(aml: Uint8Array): void {
    let n = 0;
    for (const d of dsdtDevices(aml)) {
      if (!/^[A-Z]{3}[0-9a-fA-F]{4}$/.test(d.hid) || NOT_PNP.has(d.hid)) continue;
      this.info.pnp.push({ id: `00:${h2(n++)}`, name: d.name, hid: d.hid });
    }
    this.hw.emit('acpi_dsdt', { devices: this.info.pnp.map((p) => `${p.hid}:${p.name}`) },
      `The DSDT names ${this.info.pnp.length} ISA/platform device(s): ${this.info.pnp.map((p) => `${p.hid} (${p.name})`).join(', ') || 'none'}.`);
  }

  /** acpi_parse_fadt(), acpi_parse_madt() and friends (arch/x86/kernel/acpi/boot.c). */
  private *acpiBoot(): BootGen<void> {
    const hw = this.hw;
    const { fadt, madt, hpet } = this.t;
    if (fadt?.pmTimer) yield* hw.printk(`ACPI: PM-Timer IO Port: ${hex(fadt.pmTimer)}`);
    if (madt) {
      for (const e of madt.entries) {
        if (e.type === 'ioapic') yield* this.ioapic(e.id, e.address, e.gsiBase);
        else if (e.type === 'override') {
          const pol = ['dfl', 'high', 'res', 'low'][e.flags & 3];
          const trig = ['dfl', 'edge', 'res', 'level'][(e.flags >> 2) & 3];
          yield* hw.printk(`ACPI: INT_SRC_OVR (bus ${e.bus} bus_irq ${e.source} global_irq ${e.gsi} ${pol} ${trig})`);
        } else if (e.type === 'mp-wakeup') {
          hw.emit('acpi_parse_mp_wake', { mailbox: hex(e.mailbox), version: e.version },
            `The MADT has a multiprocessor-wakeup entry: Linux will start the other vCPUs by writing to the mailbox at ${hex(e.mailbox)} instead of sending INIT/SIPI.`);
        }
      }
      yield* hw.printk('ACPI: Using ACPI (MADT) for SMP configuration information');
      const cpus = madt.entries.filter((e) => (e.type === 'lapic' || e.type === 'x2apic') && e.enabled).length;
      yield* hw.printk(`smpboot: Allowing ${cpus} CPUs, 0 hotplug CPUs`);
    }
    if (hpet) yield* hw.printk(`ACPI: HPET id: ${hex(hpet.id)} base: ${hex(hpet.address)}`);
  }

  /** mp_register_ioapic(): bad_ioapic_register() reads registers 0-2, then the version and entries. */
  private *ioapic(id: number, address: number, gsiBase: number): BootGen<void> {
    const hw = this.hw;
    const regs: number[] = [];
    for (let r = 0; r < 3; r++) {
      yield* hw.writel(address, r); // IOREGSEL
      regs.push(yield* hw.readl(address + 0x10)); // IOWIN
    }
    const name = `IOAPIC[${this.info.devices.filter((d) => d.name.startsWith('IOAPIC')).length}]`;
    if (regs.every((v) => v === 0xffffffff)) {
      yield* hw.fail(name, `I/O APIC ${hex(address)} registers return all ones, skipping!`);
      this.device(name, hex(address), 'absent', 'its registers read all ones');
      return;
    }
    const version = regs[1] & 0xff;
    const entries = ((regs[1] >>> 16) & 0xff) + 1;
    yield* hw.printk(`${name}: apic_id ${id}, version ${version}, address ${hex(address)}, GSI ${gsiBase}-${gsiBase + entries - 1}`);
    this.device(name, hex(address), 'found', `version ${version}, ${entries} redirection entries`);
  }

  // ---- interrupt controllers and timers -------------------------------------------------------

  /** setup_local_APIC(): enable the APIC in the spurious-interrupt vector register. */
  private *localApic(): BootGen<void> {
    const hw = this.hw;
    if (hw.td) {
      // A TD's local APIC is x2APIC: its registers are MSRs 0x800-0x8ff.
      const v = yield* hw.rdmsr(X2APIC_SPIV);
      const ok = v !== null && (yield* hw.wrmsr(X2APIC_SPIV, (v & ~0xffn) | BigInt(SPIV_VALUE)));
      this.device('local APIC', 'x2APIC MSR 0x80f', ok ? 'found' : 'absent', ok ? 'enabled through the x2APIC SVR MSR' : 'the SVR MSR access failed');
      return;
    }
    const base = 0xfee00000;
    const v = yield* hw.readl(base + APIC_SPIV);
    yield* hw.writel(base + APIC_SPIV, ((v & ~0xff) | SPIV_VALUE) >>> 0);
    const present = v !== 0xffffffff;
    this.device('local APIC', hex(base), present ? 'found' : 'absent', present ? 'enabled through the xAPIC SVR at 0xfee000f0' : 'the SVR reads all ones');
    if (!present) hw.failures.push(`local APIC: the xAPIC SVR at ${hex(base + APIC_SPIV)} reads all ones`);
  }

  /**
   * probe_8259A() and init_8259A() (arch/x86/kernel/i8259.c). With the MADT's PCAT_COMPAT flag Linux
   * does not probe and just initialises the PIC; without it, it masks all but the cascade, reads the
   * master IMR back, and falls back to the NULL legacy PIC when the value does not stick.
   */
  private *pic(): BootGen<void> {
    const hw = this.hw;
    const pcat = ((this.t.madt?.flags ?? 0) & ACPI_MADT_PCAT_COMPAT) !== 0;
    if (!pcat) {
      const probe = 0xfb; // ~(1 << PIC_CASCADE_IR)
      yield* hw.outb(0xa1, 0xff);
      yield* hw.outb(0x21, probe);
      const got = yield* hw.inb(0x21);
      if (got !== probe) {
        yield* hw.printk('Using NULL legacy PIC');
        this.device('8259A PIC', '0x20-0x21, 0xa0-0xa1', 'absent', `the MADT has no PCAT_COMPAT flag and the IMR reads back ${hex(got)} instead of 0xfb`);
        return;
      }
    }
    // init_8259A(0): mask all, ICW1-ICW4 for master and slave, then mask all again.
    const seq: [number, number][] = [
      [0x21, 0xff], [0xa1, 0xff],
      [0x20, 0x11], [0x21, 0x30], [0x21, 0x04], [0x21, 0x01],
      [0xa0, 0x11], [0xa1, 0x38], [0xa1, 0x02], [0xa1, 0x01],
      [0x21, 0xff], [0xa1, 0xff],
    ];
    for (const [port, v] of seq) yield* hw.outb(port, v);
    this.device('8259A PIC', '0x20-0x21, 0xa0-0xa1', 'found',
      pcat ? 'the MADT says PCAT_COMPAT: not probed, initialised (ICW1-ICW4, vectors 0x30/0x38) and masked' : 'the IMR read back 0xfb; initialised (ICW1-ICW4, vectors 0x30/0x38) and masked');
  }

  /** hpet_enable() (arch/x86/kernel/hpet.c): the capabilities and the period must be sane. */
  private *hpet(): BootGen<void> {
    const hw = this.hw;
    const t = this.t.hpet;
    if (!t) return;
    const id = yield* hw.readl(t.address);
    const period = yield* hw.readl(t.address + 4);
    if (period < HPET_MIN_PERIOD || period > HPET_MAX_PERIOD) {
      hw.failures.push(`HPET at ${hex(t.address)}: the counter period reads ${hex(period)} fs, not a valid HPET`);
      this.device('hpet0', hex(t.address), 'absent', `HPET_PERIOD reads ${hex(period)}`);
      return;
    }
    const comparators = ((id >>> 8) & 0x1f) + 1;
    const freq = Math.floor(1e15 / period);
    const mhz = `${Math.floor(freq / 1e6)}.${String(freq % 1e6).padStart(6, '0')}`;
    yield* hw.printk(`hpet0: ${comparators} comparators, ${id & 0x2000 ? 64 : 32}-bit ${mhz} MHz counter`);
    this.device('hpet0', hex(t.address), 'found', `${comparators} comparators, period ${period} fs`);
  }

  /** The i8253 clock event (drivers/clocksource/i8253.c): channel 0, mode 2, LATCH; then latch and read back. */
  private *pit(): BootGen<void> {
    const hw = this.hw;
    yield* hw.outb(0x43, 0x34);
    yield* hw.outb(0x40, PIT_LATCH & 0xff);
    yield* hw.outb(0x40, PIT_LATCH >> 8);
    yield* hw.outb(0x43, 0x00); // counter latch, channel 0
    const lo = yield* hw.inb(0x40);
    const hi = yield* hw.inb(0x40);
    const count = (hi << 8) | lo;
    if (count > PIT_LATCH) {
      hw.failures.push(`i8253 PIT: channel 0 reads back ${hex(count)} after being loaded with ${PIT_LATCH}`);
      this.device('i8253 PIT', '0x40-0x43', 'absent', `channel 0 reads back ${hex(count)}`);
      return;
    }
    this.device('i8253 PIT', '0x40-0x43', 'found', `channel 0 counts down from ${PIT_LATCH} (read back ${count})`);
  }

  // ---- PCI ------------------------------------------------------------------------------------

  /**
   * pci_arch_init(), pci_check_type1() and the scan of bus 0 (arch/x86/pci/, drivers/pci/probe.c).
   * Config space is read with mechanism #1 (raw_pci_read() uses it below offset 256); with MCFG
   * each function is also read through ECAM, the MMIO window Linux uses for extended config space.
   */
  private *pci(): BootGen<void> {
    const hw = this.hw;
    const mcfg = this.t.mcfg.find((m) => m.segment === 0 && m.startBus === 0) ?? null;
    if (mcfg) {
      const start = mcfg.base + mcfg.startBus * 0x100000;
      const end = mcfg.base + (mcfg.endBus + 1) * 0x100000 - 1;
      yield* hw.printk(`PCI: MMCONFIG for domain 0000 [bus ${h2(mcfg.startBus)}-${h2(mcfg.endBus)}] at [mem ${hex(start)}-${hex(end)}] (base ${hex(mcfg.base)})`);
    }
    const saved = yield* hw.inl(PCI_CONF1_ADDRESS);
    yield* hw.outl(PCI_CONF1_ADDRESS, 0x80000000);
    const type1 = (yield* hw.inl(PCI_CONF1_ADDRESS)) === 0x80000000;
    yield* hw.outl(PCI_CONF1_ADDRESS, saved);
    if (type1) yield* hw.printk('PCI: Using configuration type 1 for base access');
    else if (!mcfg) {
      yield* hw.fail('PCI', 'PCI: Fatal: No config space access function found');
      return;
    }
    yield* hw.printk('PCI host bridge to bus 0000:00');
    const ecam = (dev: number, fn: number, reg: number): number => mcfg!.base + (dev << 15) + (fn << 12) + reg;
    const read = function* (dev: number, fn: number, reg: number): BootGen<number> {
      if (!type1) return yield* hw.readl(ecam(dev, fn, reg));
      yield* hw.outl(PCI_CONF1_ADDRESS, (0x80000000 | (dev << 11) | (fn << 8) | reg) >>> 0);
      return yield* hw.inl(PCI_CONF1_DATA);
    };
    this.cfg = read;
    for (let dev = 0; dev < 32; dev++) {
      for (let fn = 0; fn < 8; fn++) {
        const id = yield* read(dev, fn, 0);
        if (id === 0xffffffff || id === 0 || (id & 0xffff) === 0xffff) {
          if (fn === 0) break;
          continue;
        }
        const cls = (yield* read(dev, fn, 0x08)) >>> 8;
        const header = ((yield* read(dev, fn, 0x0c)) >>> 16) & 0xff;
        const bdf = `0000:00:${h2(dev)}.${fn}`;
        yield* hw.printk(`pci ${bdf}: [${h4(id & 0xffff)}:${h4(id >>> 16)}] type ${h2(header & 0x7f)} class 0x${cls.toString(16).padStart(6, '0')}`);
        let detail = `vendor ${hex(id & 0xffff)} device ${hex(id >>> 16)}, class 0x${cls.toString(16).padStart(6, '0')}`;
        if (mcfg && type1) {
          const viaEcam = yield* hw.readl(ecam(dev, fn, 0));
          if (viaEcam !== id) {
            hw.failures.push(`pci ${bdf}: ECAM at ${hex(ecam(dev, fn, 0))} reads ${hex(viaEcam)}, config type 1 read ${hex(id)}`);
            detail += `; ECAM reads ${hex(viaEcam)}`;
          } else detail += '; ECAM agrees';
        }
        this.device(`pci ${bdf}`, `bus 0 device ${dev} function ${fn}`, 'found', detail);
        if ((id & 0xffff) === PCI_VENDOR_ID_REDHAT_QUMRANET && id >>> 16 >= 0x1040 && id >>> 16 <= 0x107f)
          this.virtio.push({ dev, fn, bdf, deviceId: id >>> 16, index: this.virtio.length, common: 0 });
        if (fn === 0 && !(header & 0x80)) break;
      }
    }
  }

  // ---- virtio ---------------------------------------------------------------------------------

  /**
   * virtio_pci_modern_probe() (drivers/virtio/virtio_pci_modern_dev.c vp_modern_probe()): find the
   * vendor capabilities for the common configuration, the ISR and the notify area and the BAR
   * they point into; then register_virtio_device() resets the device and sets ACKNOWLEDGE.
   */
  private *virtioPci(): BootGen<void> {
    const hw = this.hw;
    const cfg = this.cfg;
    if (!cfg) return;
    for (const v of this.virtio) {
      const caps = new Map<number, { pos: number; bar: number; offset: number }>();
      let pos = (yield* cfg(v.dev, v.fn, PCI_CAPABILITY_LIST)) & 0xfc;
      for (let n = 0; pos >= 0x40 && n < 48; n++) {
        const head = yield* cfg(v.dev, v.fn, pos);
        if ((head & 0xff) === PCI_CAP_ID_VNDR) {
          const type = head >>> 24;
          const bar = (yield* cfg(v.dev, v.fn, pos + 4)) & 0xff;
          if (!caps.has(type)) caps.set(type, { pos, bar, offset: yield* cfg(v.dev, v.fn, pos + 8) });
        }
        pos = (head >>> 8) & 0xfc;
      }
      const common = caps.get(VIRTIO_PCI_CAP_COMMON_CFG);
      if (!common) {
        yield* hw.printk(`virtio-pci ${v.bdf}: virtio_pci: leaving for legacy driver`);
        continue;
      }
      const isr = caps.get(VIRTIO_PCI_CAP_ISR_CFG)?.pos ?? 0;
      const notify = caps.get(VIRTIO_PCI_CAP_NOTIFY_CFG)?.pos ?? 0;
      if (!isr || !notify) {
        yield* hw.fail(`virtio-pci ${v.bdf}`, `virtio-pci ${v.bdf}: virtio_pci: missing capabilities ${common.pos}/${isr}/${notify}`);
        continue;
      }
      const lo = yield* cfg(v.dev, v.fn, 0x10 + 4 * common.bar);
      const hi = (lo & 0x7) === 0x4 ? yield* cfg(v.dev, v.fn, 0x14 + 4 * common.bar) : 0;
      const base = (lo & ~0xf) >>> 0;
      if (lo & 1 || (!base && !hi)) {
        yield* hw.fail(`virtio-pci ${v.bdf}`, `linux_boot: virtio-pci ${v.bdf}: BAR${common.bar} is not an assigned memory BAR`);
        continue;
      }
      v.common = hi * 2 ** 32 + base + common.offset;
      // virtio_reset_device(): write 0 and wait until the device reads back 0.
      yield* hw.mmio(v.common + VP.device_status, 1, true, 0);
      for (let i = 0; i < 4 && (yield* hw.mmio(v.common + VP.device_status, 1, false)) !== 0; i++);
      yield* hw.mmio(v.common + VP.device_status, 1, true, VIRTIO_CONFIG_S_ACKNOWLEDGE);
      hw.emit('register_virtio_device', { device: `virtio${v.index}`, pci: v.bdf, common_cfg: hex(v.common) },
        `virtio-pci binds ${v.bdf}: its common configuration is at ${hex(v.common)} (BAR${common.bar} + ${hex(common.offset)}); the device is reset and told ACKNOWLEDGE as virtio${v.index}.`);
    }
  }

  /** virtio_dev_probe() (drivers/virtio/virtio.c) and virtnet_probe() up to DRIVER_OK, for queue 0 only. */
  private *virtioNet(): BootGen<void> {
    const hw = this.hw;
    const v = this.virtio.find((f) => f.deviceId === VIRTIO_PCI_NET && f.common);
    if (!v) return;
    const name = `virtio${v.index}`;
    const dev = `virtio_net ${name}`;
    const where = `pci ${v.bdf}`;
    const cc = v.common;
    const addStatus = function* (bits: number): BootGen<number> {
      const s = (yield* hw.mmio(cc + VP.device_status, 1, false)) | bits;
      yield* hw.mmio(cc + VP.device_status, 1, true, s);
      return s;
    };
    const failed = function* (this: LinuxBoot, detail: string): BootGen<void> {
      yield* addStatus(0x80); // VIRTIO_CONFIG_S_FAILED
      this.device(dev, where, 'absent', detail);
    };
    yield* addStatus(VIRTIO_CONFIG_S_DRIVER);
    yield* hw.writel(cc + VP.device_feature_select, 0);
    const lo = yield* hw.readl(cc + VP.device_feature);
    yield* hw.writel(cc + VP.device_feature_select, 1);
    const hi = yield* hw.readl(cc + VP.device_feature);
    const offered = (bit: number): boolean => ((bit < 32 ? lo >>> bit : hi >>> (bit - 32)) & 1) === 1;
    const features = VIRTIO_NET_DRIVER_FEATURES.filter(offered);
    const has = (bit: number): boolean => features.includes(bit);
    // vp_finalize_features() (virtio_pci_modern.c): a modern device must offer VERSION_1.
    if (!has(VIRTIO_F_VERSION_1)) {
      yield* hw.fail(name, `${dev}: virtio: device uses modern interface but does not have VIRTIO_F_VERSION_1`);
      yield* hw.printk(`${dev}: probe with driver virtio_net failed with error -22`);
      yield* failed.call(this, 'the device does not offer VIRTIO_F_VERSION_1');
      return;
    }
    const word = (half: number): number => features.filter((b) => b >> 5 === half).reduce((a, b) => (a | (1 << (b & 31))) >>> 0, 0);
    yield* hw.writel(cc + VP.driver_feature_select, 0);
    yield* hw.writel(cc + VP.driver_feature, word(0));
    yield* hw.writel(cc + VP.driver_feature_select, 1);
    yield* hw.writel(cc + VP.driver_feature, word(1));
    hw.emit('virtio_finalize_features', { device: name, features: features.join(','), access_platform: has(VIRTIO_F_ACCESS_PLATFORM) },
      `virtio_net accepts feature bits ${features.join(', ')} of ${name}${has(VIRTIO_F_ACCESS_PLATFORM) ? ': with VIRTIO_F_ACCESS_PLATFORM the rings and buffers go through the DMA API' : ''}.`);
    // virtio_features_ok(): in a TD, mem_encrypt_setup_arch() (arch/x86/mm/mem_encrypt.c) has set
    // virtio_check_mem_acc_cb to virtio_require_restricted_mem_acc, so the device must offer
    // VERSION_1 and ACCESS_PLATFORM. The probe then returns -ENODEV, which the driver core only
    // logs at debug level ("rejects match"), so it is not counted as a failure.
    if (hw.td && !has(VIRTIO_F_ACCESS_PLATFORM)) {
      yield* hw.printk(`${dev}: device must provide VIRTIO_F_ACCESS_PLATFORM`);
      yield* failed.call(this, 'in a TD Linux requires VIRTIO_F_ACCESS_PLATFORM, which this device does not offer (QEMU: iommu_platform=off)');
      return;
    }
    const status = yield* addStatus(VIRTIO_CONFIG_S_FEATURES_OK);
    const back = yield* hw.mmio(cc + VP.device_status, 1, false);
    if (!(back & VIRTIO_CONFIG_S_FEATURES_OK)) {
      yield* hw.fail(name, `${dev}: virtio: device refuses features: ${back.toString(16)}`);
      yield* failed.call(this, `FEATURES_OK did not stick (status ${hex(back)} after writing ${hex(status)})`);
      return;
    }
    yield* this.virtioQueue0(v, name, dev);
  }

  /**
   * setup_vq() (virtio_pci_modern.c) for queue 0 and vp_modern_find_vqs()'s queue_enable, then
   * virtio_device_ready() (DRIVER_OK). The split ring comes from vring_alloc_queue(): with the DMA
   * API (VIRTIO_F_ACCESS_PLATFORM, vring_use_dma_api()) that is dma_alloc_coherent(), which in a TD
   * decrypts the pages (set_memory_decrypted() → TDG.VP.VMCALL<MapGPA> with the shared bit). The
   * device address written to queue_desc is the plain GPA: x86's dma_addr_unencrypted() adds no
   * bit (sme_me_mask is 0 in a TD), and KVM reports GPAs to QEMU without the shared bit.
   */
  private *virtioQueue0(v: VirtioFn, name: string, dev: string): BootGen<void> {
    const hw = this.hw;
    const cc = v.common;
    yield* hw.mmio(cc + VP.queue_select, 2, true, 0);
    let num = yield* hw.mmio(cc + VP.queue_size, 2, false);
    const enabled = yield* hw.mmio(cc + VP.queue_enable, 2, false);
    if (!num || enabled) {
      yield* hw.fail(name, `${dev}: probe with driver virtio_net failed with error -2`);
      this.device(dev, `pci ${v.bdf}`, 'absent', num ? 'queue 0 is already enabled' : 'queue 0 has size 0');
      return;
    }
    // vring_alloc_queue_split() halves the size while the ring does not fit (may_reduce_num).
    while (num > 1 && splitRing(VIRTIO_RING_AREA, num).bytes > VIRTIO_RING_AREA_END - VIRTIO_RING_AREA) num >>= 1;
    const ring = splitRing(VIRTIO_RING_AREA, num);
    const pages = Math.ceil(ring.bytes / PAGE);
    const memory: VirtqueueSetup['memory'] = !hw.td ? 'ordinary' : this.opts.virtioRingsPrivate ? 'private' : 'shared';
    if (memory === 'private') {
      hw.emit('virtio_rings_private', { device: name, gpa: hex(VIRTIO_RING_AREA), pages },
        `Boot option virtio_rings_private: a broken driver puts ${name}'s queue 0 in ordinary kernel memory at ${hex(VIRTIO_RING_AREA)} instead of using the DMA API; in a TD that memory is private, and the device cannot read it.`,
        [VIRTIO_RING_AREA / PAGE, pages]);
    } else if (memory === 'shared') {
      hw.emit('dma_alloc_coherent', { device: name, gpa: hex(VIRTIO_RING_AREA), pages },
        `dma_alloc_coherent() for ${name}'s queue 0: in a TD all DMA must go to shared memory, so the ${pages} page(s) at ${hex(VIRTIO_RING_AREA)} are decrypted (set_memory_decrypted → MapGPA) before the device is told where they are.`,
        [VIRTIO_RING_AREA / PAGE, pages]);
      if (!(yield* this.mapGpaShared(VIRTIO_RING_AREA, pages * PAGE))) {
        yield* hw.fail(name, `linux_boot: ${dev}: MapGPA of queue 0's rings at ${hex(VIRTIO_RING_AREA)} was refused`);
        this.device(dev, `pci ${v.bdf}`, 'absent', 'the host refused to make the ring pages shared');
        return;
      }
    }
    // The allocation is zeroed; in a TD the kernel writes the shared pages through the shared alias.
    yield* hw.write(VIRTIO_RING_AREA + (memory === 'shared' ? hw.sharedMask : 0), new Uint8Array(pages * PAGE));
    yield* hw.mmio(cc + VP.queue_size, 2, true, num);
    // vp_modern_queue_address(): each 64-bit address as two 32-bit writes (vp_iowrite64_twopart()).
    for (const [off, addr] of [[VP.queue_desc, ring.desc], [VP.queue_driver, ring.avail], [VP.queue_device, ring.used]] as const) {
      yield* hw.writel(cc + off, addr >>> 0);
      yield* hw.writel(cc + off + 4, Math.floor(addr / 2 ** 32));
    }
    yield* hw.mmio(cc + VP.queue_enable, 2, true, 1);
    yield* hw.mmio(cc + VP.device_status, 1, true, (yield* hw.mmio(cc + VP.device_status, 1, false)) | VIRTIO_CONFIG_S_DRIVER_OK);
    this.info.virtqueues.push({ device: name, queue: 0, size: num, desc: ring.desc, driverArea: ring.avail, deviceArea: ring.used, memory });
    // Linux prints nothing when virtio_net binds; this summary line is the lab's own.
    yield* hw.printk(`linux_boot: ${dev}: queue 0 (${num} entries) at ${hex(ring.desc)}, ${memory} memory, DRIVER_OK`);
    this.device(dev, `pci ${v.bdf}`, 'found', `queue 0: ${num} entries, descriptors ${hex(ring.desc)}, driver area ${hex(ring.avail)}, device area ${hex(ring.used)} (${memory} memory)`);
  }

  /** tdx_map_gpa() (arch/x86/coco/tdx/tdx.c): MapGPA with the shared bit, resuming where the host asks, at most 3 tries without progress. */
  private *mapGpaShared(gpa: number, size: number): BootGen<boolean> {
    const hw = this.hw;
    let start = gpa + hw.sharedMask;
    const end = gpa + size + hw.sharedMask;
    for (let retries = 0; retries < 3;) {
      const r = yield* hw.tdvmcall(TDVMCALL_MAP_GPA, BigInt(start), BigInt(end - start));
      const st = r.get('r10');
      if (st === 0n) return true;
      const resume = Number(r.get('r11'));
      if (st !== TDVMCALL_STATUS_RETRY || resume < start || resume >= end) return false;
      if (resume === start) retries++;
      else {
        start = resume;
        retries = 0;
      }
    }
    return false;
  }

  // ---- PNP devices and their drivers ----------------------------------------------------------

  private *pnp(): BootGen<void> {
    const hw = this.hw;
    if (!this.t.fadt) return;
    yield* hw.printk('pnp: PnP ACPI init');
    for (const p of this.info.pnp) yield* hw.printk(`pnp ${p.id}: Plug and Play ACPI device, IDs ${p.hid} (active)`);
    yield* hw.printk(`pnp: PnP ACPI: found ${this.info.pnp.length} devices`);
  }

  private pnpWith(test: (hid: string) => boolean): PnpDevice | undefined {
    return this.info.pnp.find((p) => test(p.hid));
  }

  /** serial8250 autoconfig() (drivers/tty/serial/8250/8250_port.c): IER test, FIFO type, scratch register, LSR. */
  private *serial(): BootGen<void> {
    const hw = this.hw;
    yield* hw.printk('Serial: 8250/16550 driver, 4 ports, IRQ sharing enabled');
    const pnp = this.pnpWith((h) => h === 'PNP0501');
    const devName = pnp ? pnp.id : 'serial8250';
    const where = `I/O ${hex(COM1)}`;
    const ier = yield* hw.inb(COM1 + 1);
    yield* hw.outb(COM1 + 1, 0);
    const ier2 = (yield* hw.inb(COM1 + 1)) & 0x0f;
    yield* hw.outb(COM1 + 1, 0x0f);
    const ier3 = (yield* hw.inb(COM1 + 1)) & 0x0f;
    yield* hw.outb(COM1 + 1, ier);
    if (ier2 !== 0 || ier3 !== 0x0f) {
      hw.failures.push(`ttyS0: no UART at ${hex(COM1)} (IER test read ${hex(ier2)}, ${hex(ier3)})`);
      this.device('ttyS0', where, 'absent', 'the IER test failed: nothing answers like a UART');
      return;
    }
    yield* hw.outb(COM1 + 2, 0x01); // FCR: enable FIFO
    const fifo = (yield* hw.inb(COM1 + 2)) >> 6; // IIR bits 7:6
    let type = fifo === 3 ? '16550A' : fifo === 2 ? '16550' : fifo === 1 ? 'unknown' : '';
    if (!type) {
      yield* hw.outb(COM1 + 7, 0xa5);
      const s1 = yield* hw.inb(COM1 + 7);
      yield* hw.outb(COM1 + 7, 0x5a);
      const s2 = yield* hw.inb(COM1 + 7);
      type = s1 === 0xa5 && s2 === 0x5a ? '16450' : '8250';
    }
    const lsr = yield* hw.inb(COM1 + 5);
    if (lsr === 0xff) {
      yield* hw.fail('ttyS0', `${devName}: LSR safety check engaged!`);
      this.device('ttyS0', where, 'absent', 'the line status register reads 0xff');
      return;
    }
    yield* hw.printk(`${devName}: ttyS0 at I/O ${hex(COM1)} (irq = 4, base_baud = 115200) is a ${type}`);
    this.device('ttyS0', where, 'found', `a ${type}${pnp ? ` (PNP0501 ${pnp.name})` : ''}`);
  }

  /** i8042_pnp_init(), i8042_controller_check(), i8042_controller_selftest() (drivers/input/serio/i8042*.c). */
  private *i8042(): BootGen<void> {
    const hw = this.hw;
    const kbd = this.pnpWith((h) => h.startsWith('PNP03'));
    const aux = this.pnpWith((h) => /^PNP0f/i.test(h));
    const where = '0x60, 0x64';
    if (kbd || aux) {
      const names = [kbd && `${kbd.hid}:${kbd.name}`, aux && `${aux.hid}:${aux.name}`].filter(Boolean).join(',');
      const irqs = [kbd && '1', aux && '12'].filter(Boolean).join(',');
      yield* hw.printk(`i8042: PNP: PS/2 Controller [${names}] at 0x60,0x64 irq ${irqs}`);
    } else {
      yield* hw.printk('i8042: PNP: No PS/2 controller found.');
      const f = this.t.fadt;
      // acpi_parse_fadt(): a revision-3+ FADT without the 8042 flag means X86_LEGACY_I8042_FIRMWARE_ABSENT.
      if (f && f.revision >= FADT2_REVISION_ID && !(f.bootFlags & ACPI_FADT_8042)) {
        this.device('i8042', where, 'skipped', 'no PNP keyboard controller and the FADT IAPC_BOOT_ARCH 8042 flag is clear: not probed');
        return;
      }
      yield* hw.printk('i8042: Probing ports directly.');
    }
    // i8042_flush(): drain the output buffer; a controller that never empties is not there.
    let n = 0;
    while (((yield* hw.inb(I8042_STATUS)) & I8042_STR_OBF) && n < I8042_BUFFER_SIZE) {
      yield* hw.inb(I8042_DATA);
      n++;
    }
    if (n >= I8042_BUFFER_SIZE) {
      yield* hw.fail('i8042', 'i8042: No controller found');
      this.device('i8042', where, 'absent', 'the status register never empties (reads all ones)');
      return;
    }
    const reply = yield* this.i8042Command(0xaa);
    if (reply !== 0x55) {
      yield* hw.fail('i8042', reply === null ? 'i8042: i8042 controller selftest timeout' : 'i8042: i8042 controller selftest failed');
      this.device('i8042', where, 'absent', reply === null ? 'the selftest timed out' : `the selftest answered ${hex(reply)} instead of 0x55`);
      return;
    }
    const ctr = yield* this.i8042Command(0x20);
    if (ctr === null) {
      yield* hw.fail('i8042', "i8042: Can't read CTR while initializing i8042");
      this.device('i8042', where, 'absent', 'the controller command byte cannot be read');
      return;
    }
    if (kbd || !aux) yield* hw.printk('serio: i8042 KBD port at 0x60,0x64 irq 1');
    if (aux) yield* hw.printk('serio: i8042 AUX port at 0x60,0x64 irq 12');
    this.device('i8042', where, 'found', `selftest 0xaa answered 0x55, CTR ${hex(ctr)}`);
  }

  /** __i8042_command(): wait for IBF clear, write the command, wait for OBF, read the reply. */
  private *i8042Command(cmd: number): BootGen<number | null> {
    const hw = this.hw;
    let ok = false;
    for (let i = 0; i < 4 && !ok; i++) ok = !((yield* hw.inb(I8042_STATUS)) & I8042_STR_IBF);
    if (!ok) return null;
    yield* hw.outb(I8042_STATUS, cmd);
    ok = false;
    for (let i = 0; i < 4 && !ok; i++) ok = ((yield* hw.inb(I8042_STATUS)) & I8042_STR_OBF) !== 0;
    if (!ok) return null;
    return yield* hw.inb(I8042_DATA);
  }

  /** rtc_cmos (drivers/rtc/rtc-cmos.c, rtc-mc146818-lib.c) and rtc_hctosys() (drivers/rtc/class.c). */
  private *rtc(): BootGen<void> {
    const hw = this.hw;
    const pnp = this.pnpWith((h) => /^PNP0b0[0-2]$/i.test(h));
    const fadt = this.t.fadt;
    if (!pnp && fadt && fadt.bootFlags & ACPI_FADT_NO_CMOS_RTC) {
      this.device('rtc_cmos', '0x70-0x71', 'skipped', 'no PNP0B00 in the DSDT and the FADT says CMOS RTC not present: not probed');
      return;
    }
    const dev = pnp ? `rtc_cmos ${pnp.id}` : 'rtc_cmos rtc_cmos';
    if (!pnp) yield* hw.printk(`${dev}: registered platform RTC device (no PNP device found)`);
    const cmos = function* (reg: number): BootGen<number> {
      yield* hw.outb(RTC_PORT, reg);
      return yield* hw.inb(RTC_PORT + 1);
    };
    // mc146818_avoid_UIP(): wait for "update in progress" (register A bit 7) to clear.
    let uip = true;
    for (let i = 0; i < 4 && uip; i++) uip = ((yield* cmos(0x0a)) & 0x80) !== 0;
    if (uip) {
      yield* hw.fail('rtc_cmos', `${dev}: broken or not accessible`);
      this.device('rtc_cmos', '0x70-0x71', 'absent', 'register A keeps "update in progress" set (reads all ones)');
      return;
    }
    yield* hw.printk(`${dev}: RTC can wake from S4`);
    yield* hw.printk(`${dev}: registered as rtc0`);
    const raw = [];
    for (const reg of [0x00, 0x02, 0x04, 0x07, 0x08, 0x09]) raw.push(yield* cmos(reg));
    const regB = yield* cmos(0x0b);
    const bin = (regB & 0x04) !== 0;
    // mc146818_get_time(): the FADT may name a CMOS century register (QEMU: 0x32).
    const centuryRaw = fadt && fadt.revision >= FADT2_REVISION_ID && fadt.century ? yield* cmos(fadt.century) : null;
    const v = raw.map((x, i) => (i === 2 ? x & 0x7f : x)).map((x) => (bin ? x : fromBcd(x)));
    const [sec, min, , mday, mon] = v;
    let [, , hour, , , year] = v;
    if (!(regB & 0x02) && raw[2] & 0x80) hour = (hour % 12) + 12; // 12-hour mode, PM
    else if (!(regB & 0x02)) hour %= 12;
    if (centuryRaw !== null) year += (bin ? centuryRaw : fromBcd(centuryRaw)) * 100;
    else year += year < 70 ? 2000 : 1900;
    if (mon < 1 || mon > 12 || mday < 1 || mday > 31 || hour > 23 || min > 59 || sec > 59) {
      yield* hw.fail('rtc_cmos', `${dev}: hctosys: unable to read the hardware clock`);
      this.device('rtc_cmos', '0x70-0x71', 'found', 'the time registers hold no valid date');
      return;
    }
    const epoch = daysFromCivil(year, mon, mday) * 86400 + hour * 3600 + min * 60 + sec;
    const p2 = (n: number): string => String(n).padStart(2, '0');
    const iso = `${year}-${p2(mon)}-${p2(mday)}T${p2(hour)}:${p2(min)}:${p2(sec)}`;
    yield* hw.printk(`${dev}: setting system clock to ${iso} UTC (${epoch})`);
    this.device('rtc_cmos', '0x70-0x71', 'found', `reads ${iso} (${bin ? 'binary' : 'BCD'})`);
  }
}

