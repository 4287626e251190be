/**
 * PCI on q35: configuration space per function with QEMU-style write masks (hw/pci/pci.c), the
 * host bridge's configuration mechanism #1 at 0xcf8/0xcfc (hw/pci/pci_host.c), the MCH at 00:00.0
 * with PCIEXBAR, the ICH9 LPC bridge at 00:1f.0, and the ECAM window that PCIEXBAR places
 * (hw/pci-host/q35.c mch_update_pciexbar()). Moving PCIEXBAR moves the window: chipset reconfiguration.
 */
import { hex } from '../../core/units';
import { ECAM_DEFAULT_BASE } from './catalogue';
import { allOnes, readBytes, writeBytes, type DeviceEnv, type DeviceModel } from './device';

export const PCI_VENDOR_ID = 0x00;
export const PCI_COMMAND = 0x04;
export const PCI_COMMAND_MEMORY = 0x02;
export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_CAPABILITY_LIST = 0x34;
export const MCH_HOST_BRIDGE_PCIEXBAR = 0x60;
export const MCH_HOST_BRIDGE_PCIEXBAREN = 0x1;
/** The subsystem IDs QEMU gives its PCI devices (PCI_SUBVENDOR_ID_REDHAT_QUMRANET, PCI_SUBDEVICE_ID_QEMU). */
const SUBSYSTEM_VENDOR = 0x1af4;
const SUBSYSTEM_ID = 0x1100;

export interface Bdf {
  bus: number;
  dev: number;
  fn: number;
}

export const bdfName = ({ bus, dev, fn }: Bdf): string =>
  `${bus.toString(16).padStart(2, '0')}:${dev.toString(16).padStart(2, '0')}.${fn}`;

export interface PciIds {
  vendor: number;
  device: number;
  /** Base class, sub-class, programming interface as one 24-bit number (0x060000 = host bridge). */
  classCode: number;
  revision: number;
  headerType: number;
}

/** One PCI function's 4 KiB configuration space. */
export class PciFunction {
  /** The owner's reaction to writes: wiring its constructor sets again. */
  static readonly stateSkip: readonly string[] = ['onWrite'];
  readonly config = new Uint8Array(4096);
  readonly wmask = new Uint8Array(4096);
  /** Called after every write with the offset and size, so the owner can react (BAR moves, PCIEXBAR). */
  onWrite: ((off: number, size: number) => void) | null = null;
  /** Names of registers the owner defines, for traces and freeze messages. */
  readonly regNames = new Map<number, string>();

  constructor(readonly bdf: Bdf, readonly name: string, ids: PciIds) {
    this.set(PCI_VENDOR_ID, 2, ids.vendor);
    this.set(0x02, 2, ids.device);
    this.set(0x08, 1, ids.revision);
    this.set(0x09, 3, ids.classCode);
    this.set(0x0e, 1, ids.headerType);
    this.set(0x2c, 2, SUBSYSTEM_VENDOR);
    this.set(0x2e, 2, SUBSYSTEM_ID);
    this.setMask(PCI_COMMAND, 2, 0x0407); // I/O space, memory space, bus master, INTx disable
    this.setMask(0x3c, 1, 0xff); // interrupt line
  }

  set(off: number, size: number, value: number): void {
    writeBytes(off, size, value, (a, b) => { this.config[a] = b; });
  }

  get(off: number, size: number): number {
    return readBytes(off, size, (a) => this.config[a]);
  }

  setMask(off: number, size: number, mask: number): void {
    writeBytes(off, size, mask, (a, b) => { this.wmask[a] = b; });
  }

  read(off: number, size: number): number {
    return this.get(off, size);
  }

  /** A guest write: only the bits the write mask allows change (pci_default_write_config()). */
  write(off: number, size: number, value: number): void {
    writeBytes(off, size, value, (a, b) => {
      this.config[a] = (this.config[a] & ~this.wmask[a]) | (b & this.wmask[a]);
    });
    this.onWrite?.(off, size);
  }

  /**
   * A 64-bit memory BAR at `index` (and index+1) of `size` bytes: the low flag bits read-only, the
   * address bits writable above the size, so writing all ones reads back the size mask.
   */
  defineBar64(index: number, size: number, address: number, prefetch: boolean): void {
    const off = PCI_BASE_ADDRESS_0 + 4 * index;
    this.set(off, 4, (((address >>> 0) & ~(size - 1)) | 0x04 | (prefetch ? 0x08 : 0)) >>> 0);
    this.set(off + 4, 4, Math.floor(address / 2 ** 32));
    this.setMask(off, 4, ~(size - 1) >>> 0);
    this.setMask(off + 4, 4, 0xffffffff);
    this.regNames.set(off, `BAR${index}`).set(off + 4, `BAR${index} (high)`);
  }

  /** The BAR's guest-physical address when memory decoding is on, else null. */
  bar64(index: number): number | null {
    if (!(this.config[PCI_COMMAND] & PCI_COMMAND_MEMORY)) return null;
    const off = PCI_BASE_ADDRESS_0 + 4 * index;
    const addr = ((this.get(off, 4) & ~0xf) >>> 0) + this.get(off + 4, 4) * 2 ** 32;
    return addr === 0 ? null : addr;
  }

  regName(off: number): string {
    const named = this.regNames.get(off & ~3);
    if (named) return named;
    if (off >= PCI_COMMAND && off < PCI_COMMAND + 2) return 'COMMAND';
    return `offset ${hex(off)}`;
  }
}

/** All functions behind the host bridge, reached by bus/device/function. */
export class PciBus {
  private readonly functions = new Map<number, PciFunction>();

  private static key({ bus, dev, fn }: Bdf): number {
    return (bus << 8) | (dev << 3) | fn;
  }

  add(f: PciFunction): PciFunction {
    this.functions.set(PciBus.key(f.bdf), f);
    return f;
  }

  /** Plug in a device that owns a function (virtio-pci) and hand it back. */
  addFrom<T extends { fn: PciFunction }>(owner: T): T {
    this.add(owner.fn);
    return owner;
  }

  find(bdf: Bdf): PciFunction | undefined {
    return this.functions.get(PciBus.key(bdf));
  }

  list(): PciFunction[] {
    return [...this.functions.values()];
  }

  /** An empty slot reads as all ones, so the guest sees vendor 0xffff. */
  read(bdf: Bdf, off: number, size: number): number {
    const f = this.find(bdf);
    return f ? f.read(off, size) : allOnes(size);
  }

  write(bdf: Bdf, off: number, size: number, value: number): void {
    this.find(bdf)?.write(off, size, value);
  }

  /** For the talk's freeze: the register a write would change, or null for an empty slot. */
  frozenRegister(bdf: Bdf, off: number): string | null {
    const f = this.find(bdf);
    return f ? `PCI ${bdfName(bdf)} ${f.regName(off)}` : null;
  }
}

/** 00:00.0, the MCH: PCIEXBAR decides where the ECAM window is. */
export class Mch {
  readonly fn: PciFunction;
  private lastWindow: { base: number; size: number } | null;

  constructor(private readonly env: DeviceEnv) {
    this.fn = new PciFunction({ bus: 0, dev: 0, fn: 0 }, 'Q35 MCH host bridge', {
      vendor: 0x8086, device: 0x29c0, classCode: 0x060000, revision: 0, headerType: 0,
    });
    // mch_write_config() masks: ADMSK bits 35:25, LENGTH bits 2:1, PCIEXBAREN bit 0.
    this.fn.setMask(MCH_HOST_BRIDGE_PCIEXBAR, 4, 0xfe000007);
    this.fn.setMask(MCH_HOST_BRIDGE_PCIEXBAR + 4, 4, 0x0000000f);
    this.fn.regNames.set(MCH_HOST_BRIDGE_PCIEXBAR, 'PCIEXBAR').set(MCH_HOST_BRIDGE_PCIEXBAR + 4, 'PCIEXBAR (high)');
    // QEMU resets PCIEXBAR to 0xb0000000 with the window off; firmware (OVMF, SeaBIOS) enables it
    // there before the OS runs. The platform starts where firmware leaves it.
    this.fn.set(MCH_HOST_BRIDGE_PCIEXBAR, 4, ECAM_DEFAULT_BASE | MCH_HOST_BRIDGE_PCIEXBAREN);
    this.lastWindow = this.ecamWindow();
    this.fn.onWrite = (off, size) => {
      if (off < MCH_HOST_BRIDGE_PCIEXBAR + 8 && off + size > MCH_HOST_BRIDGE_PCIEXBAR) this.pciexbarChanged();
    };
  }

  get pciexbar(): number {
    return this.fn.get(MCH_HOST_BRIDGE_PCIEXBAR, 4) + this.fn.get(MCH_HOST_BRIDGE_PCIEXBAR + 4, 4) * 2 ** 32;
  }

  /** The ECAM window PCIEXBAR decodes (mch_update_pciexbar()), or null when it is off. */
  ecamWindow(): { base: number; size: number } | null {
    const lo = this.fn.get(MCH_HOST_BRIDGE_PCIEXBAR, 4);
    if (!(lo & MCH_HOST_BRIDGE_PCIEXBAREN)) return null;
    const length = (lo >> 1) & 3;
    if (length === 3) return null; // LENGTH_RVD
    const size = 0x10000000 >>> length; // 256, 128 or 64 MiB
    const hi = this.fn.get(MCH_HOST_BRIDGE_PCIEXBAR + 4, 4) & 0xf;
    return { base: ((lo & ~(size - 1)) >>> 0) + hi * 2 ** 32, size };
  }

  private pciexbarChanged(): void {
    const w = this.ecamWindow();
    const before = this.lastWindow;
    this.lastWindow = w;
    if (w?.base === before?.base && w?.size === before?.size) return;
    this.env.emit('PCIEXBAR', { pciexbar: hex(this.pciexbar), base: w ? hex(w.base) : null, before: before ? hex(before.base) : null },
      w ? `The guest reprograms the chipset's PCIEXBAR: the PCIe ECAM window moves ${before ? `from ${hex(before.base)} ` : ''}to ${hex(w.base)} (${w.size >>> 20} MiB).`
        : 'The guest disables the PCIe ECAM window (PCIEXBAR enable bit clear).');
  }
}

/** 00:1f.0, the ICH9 LPC/ISA bridge (multi-function, as on q35 where 1f.2 and 1f.3 also exist). */
export function ich9Lpc(): PciFunction {
  return new PciFunction({ bus: 0, dev: 0x1f, fn: 0 }, 'ICH9 LPC bridge', {
    vendor: 0x8086, device: 0x2918, classCode: 0x060100, revision: 2, headerType: 0x80,
  });
}

const CONFIG_ENABLE = 0x80000000;

/** Configuration mechanism #1: CONFIG_ADDRESS at 0xcf8 (32-bit only), CONFIG_DATA at 0xcfc-0xcff. */
export class PciHost implements DeviceModel {
  configAddress = 0;

  constructor(private readonly bus: PciBus) {}

  private target(port: number): { bdf: Bdf; off: number } | null {
    const ca = this.configAddress;
    if (!(ca & CONFIG_ENABLE)) return null;
    return { bdf: { bus: (ca >>> 16) & 0xff, dev: (ca >>> 11) & 0x1f, fn: (ca >>> 8) & 7 }, off: (ca & 0xfc) + (port - 0xcfc) };
  }

  read(port: number, size: number): number {
    if (port === 0xcf8) return size === 4 ? this.configAddress : allOnes(size);
    const t = this.target(port);
    return t ? this.bus.read(t.bdf, t.off, size) : allOnes(size);
  }

  write(port: number, size: number, value: number): void {
    if (port === 0xcf8) {
      if (size === 4) this.configAddress = value >>> 0; // pci_host_config_write(): other widths are ignored
      return;
    }
    const t = this.target(port);
    if (t) this.bus.write(t.bdf, t.off, size, value);
  }

  frozenRegister(port: number): string | null {
    if (port === 0xcf8) return null;
    const t = this.target(port);
    return t ? this.bus.frozenRegister(t.bdf, t.off) : null;
  }
}

/** PCIe ECAM: 4 KiB of configuration space per function at base + (bus << 20 | dev << 15 | fn << 12). */
export class Ecam implements DeviceModel {
  constructor(private readonly bus: PciBus, private readonly mch: Mch) {}

  private target(gpa: number): { bdf: Bdf; off: number } | null {
    const w = this.mch.ecamWindow();
    if (!w || gpa < w.base || gpa >= w.base + w.size) return null;
    const o = gpa - w.base;
    return { bdf: { bus: Math.floor(o / 2 ** 20) & 0xff, dev: (o >>> 15) & 0x1f, fn: (o >>> 12) & 7 }, off: o & 0xfff };
  }

  read(gpa: number, size: number): number {
    const t = this.target(gpa);
    return t ? this.bus.read(t.bdf, t.off, size) : allOnes(size);
  }

  write(gpa: number, size: number, value: number): void {
    const t = this.target(gpa);
    if (t) this.bus.write(t.bdf, t.off, size, value);
  }

  frozenRegister(gpa: number): string | null {
    const t = this.target(gpa);
    return t ? this.bus.frozenRegister(t.bdf, t.off) : null;
  }
}
