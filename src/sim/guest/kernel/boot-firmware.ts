/**
 * The firmware's part of the boot: OVMF for an ordinary VM, TDVF (OVMF built for TDX) for a TD. It
 * reads QEMU's fw_cfg device, runs the ACPI table-loader script that QEMU's
 * hw/acpi/bios-linker-loader.c wrote, and leaves the RSDP address for Linux. In a TD it also adds
 * the MADT multiprocessor-wakeup structure (OvmfPkg/TdxDxe/TdxAcpiTable.c AlterAcpiTable()),
 * because a TD has no INIT/SIPI to start its other vCPUs.
 *
 * Fixed guest-physical addresses (the program sits at 0x100000 and must end below 6 MiB; a guest
 * that boots needs at least 9 MiB of RAM):
 *   0x70000-0x7ffff  fw_cfg DMA area: the FWCfgDmaAccess descriptor at 0x70000, data at 0x71000.
 *                    In a TD this is the bounce buffer, converted to shared for the transfers and
 *                    back to private afterwards (what OVMF's IoMmuDxe does for a confidential guest).
 *   0x9f000          TDVF's MP-wakeup mailbox (4 KiB, as ACPI 6.4 §5.2.12.19 requires).
 *   0x600000-0x607fff  linux_boot's virtio-net queue 0 (boot-linux.ts VIRTIO_RING_AREA): the split
 *                    ring, 2 pages for 256 entries. In a TD linux_boot converts those pages to
 *                    shared (MapGPA), as dma_alloc_coherent() does; with the lab's boot option
 *                    virtio_rings_private they stay private.
 *   0x800000-0x8fffff  the table-loader's ALLOCATE'd files (etc/acpi/rsdp, etc/acpi/tables — which
 *                    QEMU pads to 128 KiB —, etc/tpm/log, ...) and TDVF's enlarged MADT, each at the
 *                    next address with the requested alignment.
 */
import { hex } from '../../core/units';
import { TDG_MEM_PAGE_ACCEPT, TDVMCALL_MAP_GPA, TDVMCALL_STATUS_RETRY, TDX_PAGE_ALREADY_ACCEPTED } from '../../abi/tdx';
import {
  ACPI_MADT_MP_WAKEUP_SIZE_V0, ACPI_MADT_TYPE_MULTIPROC_WAKEUP, SDT_HEADER_SIZE, checksum, le, parseHeader, parseRsdp, rootEntries,
} from './boot-acpi';
import type { BootGen } from './boot-exec';
import type { BootHw } from './boot-hw';

// QEMU fw_cfg on x86 (docs/specs/fw_cfg.rst, include/standard-headers/linux/qemu_fw_cfg.h).
export const FW_CFG_PORT_SEL = 0x510;
export const FW_CFG_PORT_DATA = 0x511;
export const FW_CFG_PORT_DMA = 0x514;
export const FW_CFG_SIGNATURE = 0x00;
export const FW_CFG_ID = 0x01;
export const FW_CFG_FILE_DIR = 0x19;
export const FW_CFG_VERSION_DMA = 0x02;
export const FW_CFG_DMA_CTL_ERROR = 0x01;
export const FW_CFG_DMA_CTL_READ = 0x02;
export const FW_CFG_DMA_CTL_SELECT = 0x08;
/** struct fw_cfg_file: BE32 size, BE16 select, BE16 reserved, char name[56]. */
export const FW_CFG_FILE_SIZE = 64;
export const FW_CFG_MAX_FILE_PATH = 56;

// QEMU hw/acpi/bios-linker-loader.c: 128-byte entries, a LE32 command then the union.
export const BIOS_LINKER_LOADER_ENTRY_SIZE = 128;
export const BIOS_LINKER_LOADER_COMMAND_ALLOCATE = 1;
export const BIOS_LINKER_LOADER_COMMAND_ADD_POINTER = 2;
export const BIOS_LINKER_LOADER_COMMAND_ADD_CHECKSUM = 3;

export const FW_DMA_DESC = 0x70000;
export const FW_DMA_DATA = 0x71000;
export const FW_DMA_AREA_END = 0x80000;
export const ACPI_AREA_START = 0x800000;
export const ACPI_AREA_END = 0x900000;
export const TD_MAILBOX = 0x9f000;

export interface FwCfgFile {
  name: string;
  select: number;
  size: number;
}

export interface FirmwareInfo {
  firmware: 'OVMF' | 'TDVF';
  /** fw_cfg answered with the "QEMU" signature. */
  fwCfg: boolean;
  /** FW_CFG_ID has FW_CFG_VERSION_DMA: files were read with the DMA interface. */
  dma: boolean;
  files: FwCfgFile[];
  /** Where the table-loader's ALLOCATE commands placed each file. */
  loaded: { name: string; gpa: number; size: number }[];
  /** The RSDP's guest-physical address, 0 when there are no ACPI tables. */
  rsdp: number;
  /** TD only: the shared bounce buffer used for fw_cfg DMA. */
  bounce: { gpa: number; size: number } | null;
  /** TD only: the MP-wakeup mailbox TDVF added to the MADT, and the new MADT's address. */
  mpWakeup: { mailbox: number; madt: number } | null;
  /** What went wrong, one line each. */
  failures: string[];
}

const be32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
const bswap32 = (v: number): number => (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
const cstr = (b: Uint8Array, o: number, n: number): string => {
  let e = o;
  while (e < o + n && b[e] !== 0) e++;
  return String.fromCharCode(...b.subarray(o, e));
};

/** The firmware run: returns the RSDP address (0 when there are no ACPI tables). */
export class Firmware {
  readonly info: FirmwareInfo;
  private dmaOk = false;
  private next = ACPI_AREA_START;

  constructor(private readonly hw: BootHw) {
    this.info = { firmware: hw.td ? 'TDVF' : 'OVMF', fwCfg: false, dma: false, files: [], loaded: [], rsdp: 0, bounce: null, mpWakeup: null, failures: hw.failures };
  }

  *run(): BootGen<number> {
    const hw = this.hw;
    const fw = this.info.firmware;
    hw.emit('firmware', { firmware: fw }, hw.td
      ? 'TDVF (OVMF for TDX) starts: it will fetch the ACPI tables from QEMU through fw_cfg, through a shared bounce buffer, since the VMM cannot read or write private memory.'
      : 'OVMF starts: it will fetch the ACPI tables from QEMU through the fw_cfg device.');
    // QemuFwCfgProbe(): select FW_CFG_SIGNATURE and read "QEMU" from the data port.
    yield* hw.outw(FW_CFG_PORT_SEL, FW_CFG_SIGNATURE);
    let sig = '';
    for (let i = 0; i < 4; i++) sig += String.fromCharCode(yield* hw.inb(FW_CFG_PORT_DATA));
    if (sig !== 'QEMU') {
      hw.emit('fw_cfg', { signature: JSON.stringify(sig) },
        `${fw}: no fw_cfg device answers at ${hex(FW_CFG_PORT_SEL)} (the signature reads ${JSON.stringify(sig)}, not "QEMU"): there are no ACPI tables for the OS.`);
      return 0;
    }
    this.info.fwCfg = true;
    yield* hw.outw(FW_CFG_PORT_SEL, FW_CFG_ID);
    let id = 0;
    for (let i = 0; i < 4; i++) id |= (yield* hw.inb(FW_CFG_PORT_DATA)) << (8 * i);
    this.info.dma = (id & FW_CFG_VERSION_DMA) !== 0;
    hw.emit('fw_cfg', { signature: 'QEMU', FW_CFG_ID: hex(id >>> 0), dma: this.info.dma },
      `${fw} finds fw_cfg (signature "QEMU"); FW_CFG_ID is ${hex(id >>> 0)}, so ${this.info.dma ? 'the DMA interface at port 0x514 is available' : 'only the byte-wide data port is available'}.`);
    this.dmaOk = this.info.dma;
    if (this.dmaOk && hw.td) this.dmaOk = yield* this.shareBounce(true);

    const dirHead = yield* this.fwCfgRead(FW_CFG_FILE_DIR, 4);
    const count = be32(dirHead, 0);
    const dir = yield* this.fwCfgRead(null, count * FW_CFG_FILE_SIZE);
    for (let i = 0; i < count; i++) {
      const o = i * FW_CFG_FILE_SIZE;
      this.info.files.push({ size: be32(dir, o), select: (dir[o + 4] << 8) | dir[o + 5], name: cstr(dir, o + 8, FW_CFG_MAX_FILE_PATH) });
    }
    hw.emit('FW_CFG_FILE_DIR', { files: this.info.files.map((f) => f.name) }, `${fw} reads the fw_cfg file directory: ${count} file(s).`);

    const loader = this.file('etc/table-loader');
    const rsdp = loader ? yield* this.runTableLoader(loader) : 0;
    if (!loader) hw.emit('etc/table-loader', {}, `${fw}: fw_cfg has no etc/table-loader, so there are no ACPI tables for the OS.`);
    if (hw.td && this.info.bounce) yield* this.shareBounce(false);
    if (rsdp && hw.td) yield* this.alterMadt(rsdp);
    this.info.rsdp = rsdp;
    return rsdp;
  }

  private file(name: string): FwCfgFile | undefined {
    return this.info.files.find((f) => f.name === name);
  }

  /**
   * Read `length` bytes of an fw_cfg item (select = null: continue where the last read stopped).
   * With DMA, the data lands at `dest` (an ordinary VM: straight into its final place) or in the
   * staging area (a TD: always the shared bounce buffer, then read back for copying to private
   * memory). Without DMA, one IN per byte from the data port (muted in the trace).
   */
  private *fwCfgRead(select: number | null, length: number, dest?: number): BootGen<Uint8Array> {
    const hw = this.hw;
    if (!this.dmaOk) {
      if (select !== null) yield* hw.outw(FW_CFG_PORT_SEL, select);
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = yield* hw.pio(FW_CFG_PORT_DATA, 1, true, 0, true);
      return out;
    }
    const direct = dest !== undefined && !hw.td;
    const chunk = direct ? length : FW_DMA_AREA_END - FW_DMA_DATA;
    const out = new Uint8Array(length);
    let sel = select;
    let done = 0;
    do {
      const n = Math.min(chunk, length - done);
      const target = direct ? dest + done : FW_DMA_DATA;
      yield* this.dma(sel, n, target);
      sel = null;
      if (n > 0) out.set(yield* hw.read(target + (direct ? 0 : hw.sharedMask), n), done);
      done += n;
    } while (done < length);
    return out;
  }

  /**
   * One fw_cfg DMA transfer (QemuFwCfgLib InternalQemuFwCfgDmaBytes()): write the FWCfgDmaAccess
   * {control BE32, length BE32, address BE64} into guest memory, write its address big-endian to
   * ports 0x514 (high half) and 0x518 (low half, which starts the transfer), then poll `control`
   * until the device has cleared it.
   */
  private *dma(select: number | null, length: number, address: number): BootGen<void> {
    const hw = this.hw;
    const control = (select === null ? 0 : ((select << 16) | FW_CFG_DMA_CTL_SELECT)) | FW_CFG_DMA_CTL_READ;
    const desc = new Uint8Array(16);
    const dv = new DataView(desc.buffer);
    dv.setUint32(0, control >>> 0);
    dv.setUint32(4, length);
    dv.setUint32(8, Math.floor(address / 2 ** 32));
    dv.setUint32(12, address >>> 0);
    yield* hw.write(FW_DMA_DESC + hw.sharedMask, desc);
    hw.emit('FW_CFG_DMA', { control: hex(control >>> 0), length, address: hex(address), descriptor: hex(FW_DMA_DESC) },
      `The firmware asks fw_cfg to copy ${length} byte(s)${select === null ? '' : ` of item ${hex(select)}`} to ${hex(address)} by DMA: the FWCfgDmaAccess descriptor at ${hex(FW_DMA_DESC)}${hw.td ? ' (shared memory)' : ''} goes to ports 0x514/0x518.`);
    yield* hw.outl(FW_CFG_PORT_DMA, bswap32(Math.floor(FW_DMA_DESC / 2 ** 32)));
    yield* hw.outl(FW_CFG_PORT_DMA + 4, bswap32(FW_DMA_DESC));
    for (let polls = 0; ; polls++) {
      const c = be32(yield* hw.read(FW_DMA_DESC + hw.sharedMask, 4), 0);
      if (c & FW_CFG_DMA_CTL_ERROR || (c !== 0 && polls >= 8)) {
        this.hw.failures.push(`fw_cfg DMA: control ${hex(c)}`);
        hw.emit('FW_CFG_DMA', { control: hex(c) }, `The fw_cfg DMA transfer did not complete (control reads ${hex(c)}).`);
        return;
      }
      if (c === 0) return;
    }
  }

  /**
   * IoMmuDxe for a TD: make the bounce buffer shared for the transfers (TDG.VP.VMCALL<MapGPA> with
   * the shared bit), and private again afterwards (MapGPA without it, then TDG.MEM.PAGE.ACCEPT of
   * each page). Returns false when the host refused.
   */
  private *shareBounce(shared: boolean): BootGen<boolean> {
    const hw = this.hw;
    const size = FW_DMA_AREA_END - FW_DMA_DESC;
    hw.emit(shared ? 'IoMmuMap' : 'IoMmuUnmap', { gpa: hex(FW_DMA_DESC), size: hex(size) },
      shared ? `TDVF converts the bounce buffer [${hex(FW_DMA_DESC)}, ${hex(FW_DMA_AREA_END)}) to shared so that QEMU can DMA into it.`
             : `TDVF is done with fw_cfg: it converts the bounce buffer back to private and accepts its pages again.`,
      [FW_DMA_DESC / 4096, size / 4096]);
    let gpa = FW_DMA_DESC + (shared ? hw.sharedMask : 0);
    const end = FW_DMA_DESC + size + (shared ? hw.sharedMask : 0);
    for (let retries = 0; ;) {
      const r = yield* hw.tdvmcall(TDVMCALL_MAP_GPA, BigInt(gpa), BigInt(end - gpa));
      const st = r.get('r10');
      if (st === 0n) break;
      const resume = Number(r.get('r11'));
      if (st !== TDVMCALL_STATUS_RETRY || resume < gpa || resume >= end || (resume === gpa && ++retries >= 3)) {
        hw.failures.push(`MapGPA of the bounce buffer: status ${hex(st)}`);
        hw.emit('TDG.VP.VMCALL<MapGPA>', { status: hex(st) }, `The host refused to convert the bounce buffer (status ${hex(st)}); ${shared ? 'fw_cfg falls back to the data port' : 'it stays shared'}.`);
        return false;
      }
      gpa = resume;
    }
    if (shared) {
      this.info.bounce = { gpa: FW_DMA_DESC, size };
      return true;
    }
    for (let p = FW_DMA_DESC; p < FW_DMA_AREA_END; p += 4096) {
      const r = yield* hw.tdcall({ rax: BigInt(TDG_MEM_PAGE_ACCEPT), rcx: BigInt(p) });
      const st = r.get('rax');
      if (st !== 0n && st !== TDX_PAGE_ALREADY_ACCEPTED) {
        hw.failures.push(`TDG.MEM.PAGE.ACCEPT ${hex(p)}: status ${hex(st)}`);
        return false;
      }
    }
    return true;
  }

  /** Execute the table-loader commands (SeaBIOS romfile_loader_execute() / OVMF QemuLoader). */
  private *runTableLoader(loader: FwCfgFile): BootGen<number> {
    const hw = this.hw;
    const script = yield* this.fwCfgRead(loader.select, loader.size);
    const blobs = new Map<string, { gpa: number; data: Uint8Array }>();
    const n = Math.floor(script.length / BIOS_LINKER_LOADER_ENTRY_SIZE);
    for (let i = 0; i < n; i++) {
      const e = script.subarray(i * BIOS_LINKER_LOADER_ENTRY_SIZE, (i + 1) * BIOS_LINKER_LOADER_ENTRY_SIZE);
      const cmd = le.u32(e, 0);
      if (cmd === BIOS_LINKER_LOADER_COMMAND_ALLOCATE) {
        const name = cstr(e, 4, FW_CFG_MAX_FILE_PATH);
        const align = Math.max(le.u32(e, 60), 1);
        const zone = e[64];
        const f = this.file(name);
        const gpa = Math.ceil(this.next / align) * align;
        if (!f || gpa + f.size > ACPI_AREA_END) {
          hw.failures.push(`table-loader ALLOCATE ${name}: ${f ? `no room below ${hex(ACPI_AREA_END)}` : 'no such fw_cfg file'}`);
          hw.emit('BIOS_LINKER_LOADER_COMMAND_ALLOCATE', { file: name, error: f ? 'no room' : 'no such file' }, `The table-loader asks for ${name}, which the firmware cannot load.`);
          continue;
        }
        this.next = gpa + f.size;
        const data = yield* this.fwCfgRead(f.select, f.size, gpa);
        blobs.set(name, { gpa, data });
        this.info.loaded.push({ name, gpa, size: f.size });
        hw.emit('BIOS_LINKER_LOADER_COMMAND_ALLOCATE', { file: name, gpa: hex(gpa), size: f.size, align, zone: zone === 2 ? 'FSEG' : 'HIGH' },
          `ALLOCATE: the firmware loads ${name} (${f.size} bytes) at ${hex(gpa)}.`, [gpa / 4096, Math.ceil(f.size / 4096)]);
      } else if (cmd === BIOS_LINKER_LOADER_COMMAND_ADD_POINTER) {
        const dest = blobs.get(cstr(e, 4, FW_CFG_MAX_FILE_PATH));
        const src = blobs.get(cstr(e, 60, FW_CFG_MAX_FILE_PATH));
        const offset = le.u32(e, 116);
        const size = e[120];
        if (!dest || !src || offset + size > dest.data.length) {
          hw.failures.push(`table-loader ADD_POINTER #${i}: bad file or offset`);
          continue;
        }
        let v = 0n;
        for (let k = size - 1; k >= 0; k--) v = (v << 8n) | BigInt(dest.data[offset + k]);
        v = BigInt.asUintN(size * 8, v + BigInt(src.gpa));
        for (let k = 0; k < size; k++) dest.data[offset + k] = Number((v >> BigInt(8 * k)) & 0xffn);
      } else if (cmd === BIOS_LINKER_LOADER_COMMAND_ADD_CHECKSUM) {
        const f = blobs.get(cstr(e, 4, FW_CFG_MAX_FILE_PATH));
        const offset = le.u32(e, 60);
        const start = le.u32(e, 64);
        const length = le.u32(e, 68);
        if (!f || offset >= f.data.length || start + length > f.data.length) {
          hw.failures.push(`table-loader ADD_CHECKSUM #${i}: bad file or range`);
          continue;
        }
        f.data[offset] = (f.data[offset] - checksum(f.data, start, length)) & 0xff;
      } else if (cmd !== 0) {
        hw.emit('table-loader', { command: cmd }, `The firmware skips table-loader command ${cmd} (only ALLOCATE, ADD_POINTER and ADD_CHECKSUM matter for ACPI).`);
      }
    }
    // The patched files go to their places (for a TD: out of the bounce buffer into private memory).
    for (const [name, b] of blobs) {
      yield* hw.write(b.gpa, b.data);
      if (hw.td) hw.emit('CopyMem', { file: name, from: hex(FW_DMA_DATA), to: hex(b.gpa) }, `TDVF copies ${name} from the shared bounce buffer into private memory at ${hex(b.gpa)}.`);
    }
    hw.emit('table-loader', { commands: n, files: blobs.size },
      `The firmware ran ${n} table-loader command(s): the ACPI tables are in guest memory, with pointers and checksums patched.`);
    return blobs.get('etc/acpi/rsdp')?.gpa ?? 0;
  }

  /**
   * TDVF's AlterAcpiTable(): copy the MADT with one Multiprocessor Wakeup Structure appended
   * (type 0x10, length 16, mailbox version 0, the mailbox address), fix its length and checksum,
   * and point the root table at the new copy.
   */
  private *alterMadt(rsdpGpa: number): BootGen<void> {
    const hw = this.hw;
    const rsdp = parseRsdp(yield* hw.read(rsdpGpa, 36));
    if (!rsdp) return;
    const rootGpa = rsdp.xsdt || rsdp.rsdt;
    const rootHead = parseHeader(yield* hw.read(rootGpa, SDT_HEADER_SIZE));
    const root = yield* hw.read(rootGpa, rootHead.length);
    const ptrs = rootEntries(root);
    for (let k = 0; k < ptrs.length; k++) {
      const h = parseHeader(yield* hw.read(ptrs[k], SDT_HEADER_SIZE));
      if (h.signature !== 'APIC') continue;
      const old = yield* hw.read(ptrs[k], h.length);
      const madt = new Uint8Array(h.length + ACPI_MADT_MP_WAKEUP_SIZE_V0);
      madt.set(old);
      const w = new DataView(madt.buffer);
      const o = h.length;
      madt[o] = ACPI_MADT_TYPE_MULTIPROC_WAKEUP;
      madt[o + 1] = ACPI_MADT_MP_WAKEUP_SIZE_V0;
      w.setUint16(o + 2, 0, true); // MailBoxVersion 0
      w.setUint32(o + 8, TD_MAILBOX, true);
      w.setUint32(4, madt.length, true);
      madt[9] = 0;
      madt[9] = (0x100 - checksum(madt)) & 0xff;
      const gpa = Math.ceil(this.next / 16) * 16;
      if (gpa + madt.length > ACPI_AREA_END) {
        hw.failures.push('AlterAcpiTable: no room for the new MADT');
        return;
      }
      this.next = gpa + madt.length;
      yield* hw.write(TD_MAILBOX, new Uint8Array(4096));
      yield* hw.write(gpa, madt);
      const entry = SDT_HEADER_SIZE + k * (rootHead.signature === 'XSDT' ? 8 : 4);
      const rw = new DataView(root.buffer, root.byteOffset);
      rw.setUint32(entry, gpa, true);
      if (rootHead.signature === 'XSDT') rw.setUint32(entry + 4, 0, true);
      root[9] = 0;
      root[9] = (0x100 - checksum(root)) & 0xff;
      yield* hw.write(rootGpa, root);
      this.info.mpWakeup = { mailbox: TD_MAILBOX, madt: gpa };
      hw.emit('AlterAcpiTable', { madt: hex(gpa), length: madt.length, mailbox: hex(TD_MAILBOX) },
        `TDVF installs a new MADT at ${hex(gpa)} with a multiprocessor-wakeup entry (mailbox at ${hex(TD_MAILBOX)}): a TD has no INIT/SIPI, so Linux wakes the other vCPUs through this mailbox.`,
        [gpa / 4096, 1]);
      return;
    }
  }
}
