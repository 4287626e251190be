/**
 * QEMU's firmware configuration device on x86 (docs/specs/fw_cfg.rst, hw/nvram/fw_cfg.c): a 16-bit
 * selector at 0x510, a byte-wide data port at 0x511, and the DMA interface whose big-endian 64-bit
 * address register sits at 0x514-0x51b. Items: the signature, the feature bitmap, the file directory
 * and the named files the VMM supplies.
 */
import { hex } from '../../core/units';
import { allOnes, bswap32, readBytes, type DeviceEnv, type DeviceModel } from './device';

export const FW_CFG_SIGNATURE = 0x0000;
export const FW_CFG_ID = 0x0001;
export const FW_CFG_FILE_DIR = 0x0019;
export const FW_CFG_FILE_FIRST = 0x0020;
/** FW_CFG_ID bits: the traditional interface is always there; bit 1 announces DMA. */
export const FW_CFG_VERSION = 0x01;
export const FW_CFG_VERSION_DMA = 0x02;
/** FWCfgDmaAccess.control bits (include/uapi/linux/qemu_fw_cfg.h). */
export const FW_CFG_DMA_CTL_ERROR = 0x01;
export const FW_CFG_DMA_CTL_READ = 0x02;
export const FW_CFG_DMA_CTL_SKIP = 0x04;
export const FW_CFG_DMA_CTL_SELECT = 0x08;
export const FW_CFG_DMA_CTL_WRITE = 0x10;
/** What the DMA address register reads: "QEMU CFG" in big-endian. */
const DMA_SIGNATURE_HI = 0x51454d55;
const DMA_SIGNATURE_LO = 0x20434647;
const FW_CFG_MAX_FILE_PATH = 56;

export const FW_CFG_CTL_PORT = 0x510;
export const FW_CFG_DATA_PORT = 0x511;
export const FW_CFG_DMA_PORT = 0x514;

interface Item {
  name: string;
  data: Uint8Array;
}

/** The directory: a big-endian count, then 64-byte FWCfgFile entries {size BE32, select BE16, reserved, name[56]}. */
function fileDir(files: { name: string; select: number; size: number }[]): Uint8Array {
  const out = new Uint8Array(4 + 64 * files.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, files.length);
  files.forEach((f, i) => {
    const at = 4 + 64 * i;
    dv.setUint32(at, f.size);
    dv.setUint16(at + 4, f.select);
    for (let j = 0; j < Math.min(f.name.length, FW_CFG_MAX_FILE_PATH - 1); j++) out[at + 8 + j] = f.name.charCodeAt(j) & 0x7f;
  });
  return out;
}

export class FwCfg implements DeviceModel {
  private readonly items = new Map<number, Item>();
  selector = 0;
  private offset = 0;
  /** The DMA address register's high half, written first for 64-bit addresses. */
  private dmaHigh = 0;

  constructor(private readonly env: DeviceEnv, files: Map<string, Uint8Array>) {
    this.items.set(FW_CFG_SIGNATURE, { name: 'signature', data: Uint8Array.from('QEMU', (c) => c.charCodeAt(0)) });
    const id = new Uint8Array(4);
    new DataView(id.buffer).setUint32(0, FW_CFG_VERSION | FW_CFG_VERSION_DMA, true);
    this.items.set(FW_CFG_ID, { name: 'id', data: id });
    // QEMU keeps the directory sorted by name and hands out selectors from FW_CFG_FILE_FIRST in that order.
    const names = [...files.keys()].sort();
    names.forEach((name, i) => this.items.set(FW_CFG_FILE_FIRST + i, { name, data: files.get(name)! }));
    this.items.set(FW_CFG_FILE_DIR, {
      name: 'file dir', data: fileDir(names.map((name, i) => ({ name, select: FW_CFG_FILE_FIRST + i, size: files.get(name)!.length }))),
    });
  }

  private select(key: number): void {
    this.selector = key & 0xffff;
    this.offset = 0;
  }

  private current(): Item | undefined {
    return this.items.get(this.selector & 0x3fff);
  }

  private readByte(): number {
    const it = this.current();
    if (!it || this.offset >= it.data.length) return 0; // past the end, or no such item: zeros
    return it.data[this.offset++];
  }

  read(port: number, size: number): number {
    if (port === FW_CFG_DATA_PORT) return readBytes(0, size, () => this.readByte());
    if (port >= FW_CFG_DMA_PORT && port + size <= FW_CFG_DMA_PORT + 8) {
      // The register is big-endian: a 32-bit IN at 0x514 gets "QEMU" in memory order.
      const off = port - FW_CFG_DMA_PORT;
      if (size === 4 && (off === 0 || off === 4)) return bswap32(off === 0 ? DMA_SIGNATURE_HI : DMA_SIGNATURE_LO);
    }
    return allOnes(size); // the selector register is write-only
  }

  write(port: number, size: number, value: number): void {
    if (port === FW_CFG_CTL_PORT) {
      if (size === 2) this.select(value);
      return;
    }
    if (port === FW_CFG_DATA_PORT) return; // data-port writes are ignored since QEMU 2.4
    if (size !== 4) return;
    const off = port - FW_CFG_DMA_PORT;
    // Linux: iowrite32be(dma >> 32, base); iowrite32be(dma, base + 4). Writing the low half starts the transfer.
    if (off === 0) this.dmaHigh = bswap32(value);
    else if (off === 4) {
      const addr = this.dmaHigh * 2 ** 32 + bswap32(value);
      this.dmaHigh = 0;
      this.dma(addr);
    }
  }

  /** Run one FWCfgDmaAccess at `addr` (fw_cfg_dma_transfer()). */
  private dma(addr: number): void {
    const host = this.env.host;
    const desc = host.readGuest(addr, 16);
    if (!desc) {
      this.env.emit('fw_cfg DMA', { access: hex(addr), error: 'no mapping' },
        `The guest points fw_cfg DMA at ${hex(addr)}, which the VMM cannot map (private memory?): the request is lost.`);
      return;
    }
    const dv = new DataView(desc.buffer, desc.byteOffset, 16);
    let control = dv.getUint32(0);
    const length = dv.getUint32(4);
    const target = dv.getUint32(8) * 2 ** 32 + dv.getUint32(12);
    if (control & FW_CFG_DMA_CTL_SELECT) this.select(control >>> 16);
    const it = this.current();
    let error = false;
    let op = 'none';
    if (control & FW_CFG_DMA_CTL_READ) {
      op = 'read';
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = this.readByte();
      error = !host.writeGuest(target, bytes);
    } else if (control & FW_CFG_DMA_CTL_WRITE) {
      // Items the VMM supplies are read-only to the guest; writes set the error bit (fw_cfg.rst).
      op = 'write';
      error = true;
    } else if (control & FW_CFG_DMA_CTL_SKIP) {
      op = 'skip';
      this.offset += length;
    }
    control = error ? FW_CFG_DMA_CTL_ERROR : 0;
    const done = new Uint8Array(4);
    new DataView(done.buffer).setUint32(0, control);
    host.writeGuest(addr, done);
    this.env.emit('fw_cfg DMA', { access: hex(addr), op, item: it?.name ?? null, selector: hex(this.selector), length, address: hex(target), error },
      error ? `fw_cfg DMA ${op} of ${length} bytes (${it?.name ?? 'no item'}) at ${hex(target)} fails: the error bit is set.`
        : `fw_cfg DMA ${op} of ${length} bytes of "${it?.name ?? 'no item'}" into guest memory at ${hex(target)}.`);
  }

  /** Nothing here is configuration: the items are read-only to the guest, so DMA writes fail anyway. */
  frozenRegister(): string | null {
    return null;
  }
}
