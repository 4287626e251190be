/**
 * The small ISA/LPC devices of q35: the i8042 keyboard controller, the parallel port, the floppy
 * controller, the 8237 DMA controllers, APM control and the ICH9 reset control register. Each one
 * answers the probes a guest makes to find it and keeps the state it is configured with.
 */
import { hex } from '../../core/units';
import type { AcpiPm } from './acpi-pm';
import { SMI_EN_APMC_EN } from './acpi-pm';
import { hex2, readBytes, writeBytes, type DeviceEnv, type DeviceModel } from './device';

/** Byte-register devices read and write one port at a time. */
abstract class ByteDevice implements DeviceModel {
  read(port: number, size: number): number {
    return readBytes(port, size, (p) => this.read1(p));
  }

  write(port: number, size: number, value: number): void {
    writeBytes(port, size, value, (p, b) => this.write1(p, b));
  }

  protected abstract read1(port: number): number;
  protected abstract write1(port: number, v: number): void;
  abstract frozenRegister(port: number, size: number, value: number): string | null;
}

// ---- i8042 (QEMU hw/input/pckbd.c) -------------------------------------------------------------

const KBD_STAT_OBF = 0x01;
const KBD_STAT_SELFTEST = 0x04;
const KBD_STAT_CMD = 0x08;
const KBD_STAT_UNLOCKED = 0x10;
const KBD_CCMD_READ_MODE = 0x20;
const KBD_CCMD_WRITE_MODE = 0x60;
const KBD_CCMD_SELF_TEST = 0xaa;
const KBD_CCMD_RESET = 0xfe;
const PORT_ENABLE_COMMANDS: Record<number, string> = { 0xa7: 'disable aux port', 0xa8: 'enable aux port', 0xad: 'disable keyboard', 0xae: 'enable keyboard' };

export class I8042 extends ByteDevice {
  status = KBD_STAT_CMD | KBD_STAT_UNLOCKED;
  /** The controller command byte: keyboard and aux interrupts on (QEMU kbd_reset()). */
  mode = 0x03;
  private out: number[] = [];
  private last = 0;
  private pending: number | null = null;

  constructor(private readonly env: DeviceEnv) {
    super();
  }

  private queue(...bytes: number[]): void {
    this.out.push(...bytes);
    this.status |= KBD_STAT_OBF;
  }

  protected read1(port: number): number {
    if (port === 0x64) return this.status;
    if (this.out.length) this.last = this.out.shift()!;
    if (!this.out.length) this.status &= ~KBD_STAT_OBF;
    return this.last;
  }

  protected write1(port: number, v: number): void {
    if (port === 0x64) {
      this.status |= KBD_STAT_CMD;
      this.command(v);
      return;
    }
    this.status &= ~KBD_STAT_CMD;
    if (this.pending === KBD_CCMD_WRITE_MODE) {
      this.mode = v;
      this.pending = null;
      this.env.emit('i8042 command byte', { mode: hex2(v) }, `The guest writes the i8042 command byte ${hex2(v)}.`);
      return;
    }
    // A byte for the keyboard itself: reset answers ACK and "self-test passed", identify answers MF2.
    if (v === 0xff) this.queue(0xfa, 0xaa);
    else if (v === 0xf2) this.queue(0xfa, 0xab, 0x83);
    else this.queue(0xfa);
  }

  private command(v: number): void {
    switch (v) {
      case KBD_CCMD_READ_MODE:
        this.queue(this.mode);
        return;
      case KBD_CCMD_WRITE_MODE:
        this.pending = v;
        return;
      case KBD_CCMD_SELF_TEST:
        this.status |= KBD_STAT_SELFTEST;
        this.queue(0x55);
        this.env.emit('i8042 self-test', {}, 'The guest asks the i8042 to test itself; it answers 0x55 (passed).');
        return;
      case 0xab:
      case 0xa9:
        this.queue(0x00); // keyboard / aux interface test: no error
        return;
      case KBD_CCMD_RESET:
        this.env.emit('i8042 reset', {}, 'The guest pulses the i8042 reset line (command 0xfe): the machine resets.');
        this.env.host.requestReset('i8042 command 0xfe (pulse reset line)');
        return;
      default:
        if (PORT_ENABLE_COMMANDS[v]) {
          const bit = v === 0xa7 || v === 0xa8 ? 0x20 : 0x10;
          this.mode = v === 0xa7 || v === 0xad ? this.mode | bit : this.mode & ~bit;
        }
    }
  }

  frozenRegister(port: number, _size: number, value: number): string | null {
    if (port === 0x60) return this.pending === KBD_CCMD_WRITE_MODE ? 'i8042 command byte' : null;
    return PORT_ENABLE_COMMANDS[value] ? `i8042 ${PORT_ENABLE_COMMANDS[value]}` : null;
  }
}

// ---- Parallel port (QEMU hw/char/parallel.c) -----------------------------------------------------

export class Lpt extends ByteDevice {
  data = 0;
  control = 0x0c; // SELECT | INIT

  constructor(private readonly base: number) {
    super();
  }

  protected read1(port: number): number {
    const off = port - this.base;
    if (off === 0) return this.data;
    // Status: not busy, ACK, selected, no error; control reads back with its unused bits high.
    if (off === 1) return 0xd8;
    return this.control | 0xe0;
  }

  protected write1(port: number, v: number): void {
    const off = port - this.base;
    if (off === 0) this.data = v;
    else if (off === 2) this.control = v & 0x1f;
  }

  frozenRegister(port: number): string | null {
    return port - this.base === 2 ? 'LPT control' : null;
  }
}

// ---- Floppy controller (QEMU hw/block/fdc.c) ---------------------------------------------------

const FD_MSR_RQM = 0x80;
const FD_MSR_DIO = 0x40;
const FD_MSR_CMDBUSY = 0x10;
const FD_CMD_VERSION = 0x10;

export class Floppy extends ByteDevice {
  dor = 0x0c; // nRESET | DMAEN
  private result: number[] = [];

  constructor(private readonly env: DeviceEnv) {
    super();
  }

  protected read1(port: number): number {
    switch (port) {
      case 0x3f2: return this.dor;
      case 0x3f4: return this.result.length ? FD_MSR_RQM | FD_MSR_DIO | FD_MSR_CMDBUSY : FD_MSR_RQM;
      case 0x3f5: return this.result.shift() ?? 0;
      default: return 0;
    }
  }

  protected write1(port: number, v: number): void {
    if (port === 0x3f2) this.dor = v;
    else if (port === 0x3f5 && v === FD_CMD_VERSION) {
      this.result = [0x90]; // an enhanced controller (82077AA)
      this.env.emit('FDC version', {}, 'The guest asks the floppy controller its version: 0x90, an enhanced 82077.');
    }
  }

  frozenRegister(port: number): string | null {
    if (port === 0x3f2) return 'FDC digital output register';
    if (port === 0x3f4 || port === 0x3f7) return 'FDC data rate';
    return null;
  }
}

// ---- 8237 DMA controllers and page registers (QEMU hw/dma/i8257.c) -----------------------------

export class IsaDma extends ByteDevice {
  /** Base address and count registers of channels 0-7, two bytes each, and the 16 page registers. */
  readonly address = new Uint16Array(8);
  readonly count = new Uint16Array(8);
  readonly page = new Uint8Array(16);
  private flipFlop = [false, false];
  mask = [0x0f, 0x0f];

  /** Which controller and register a port is: controller 1 at 0x00-0x0f, controller 2 at 0xc0-0xdf (stride 2). */
  private decode(port: number): { ctl: 0 | 1; reg: number } {
    return port < 0x10 ? { ctl: 0, reg: port } : { ctl: 1, reg: (port - 0xc0) >> 1 };
  }

  protected read1(port: number): number {
    if (port >= 0x80 && port <= 0x8f) return this.page[port - 0x80];
    const { ctl, reg } = this.decode(port);
    if (reg < 8) {
      const ch = ctl * 4 + (reg >> 1);
      const v = reg & 1 ? this.count[ch] : this.address[ch];
      const high = this.flipFlop[ctl];
      this.flipFlop[ctl] = !high;
      return high ? v >> 8 : v & 0xff;
    }
    return reg === 0x0f ? this.mask[ctl] : 0; // status and temporary registers: idle
  }

  protected write1(port: number, v: number): void {
    if (port >= 0x80 && port <= 0x8f) {
      this.page[port - 0x80] = v;
      return;
    }
    const { ctl, reg } = this.decode(port);
    if (reg < 8) {
      const ch = ctl * 4 + (reg >> 1);
      const arr = reg & 1 ? this.count : this.address;
      const high = this.flipFlop[ctl];
      arr[ch] = high ? (arr[ch] & 0xff) | (v << 8) : (arr[ch] & 0xff00) | v;
      this.flipFlop[ctl] = !high;
      return;
    }
    switch (reg) {
      case 0x0a: this.mask[ctl] = v & 4 ? this.mask[ctl] | (1 << (v & 3)) : this.mask[ctl] & ~(1 << (v & 3)); break;
      case 0x0c: this.flipFlop[ctl] = false; break;
      case 0x0d: this.flipFlop[ctl] = false; this.mask[ctl] = 0x0f; break; // master clear
      case 0x0e: this.mask[ctl] = 0; break;
      case 0x0f: this.mask[ctl] = v & 0x0f; break;
      default: break; // command and mode registers: no transfer is modelled
    }
  }

  frozenRegister(): string | null {
    return null;
  }
}

// ---- APM control (QEMU hw/isa/apm.c, hw/isa/lpc_ich9.c ich9_apm_ctrl_changed()) ----------------

export const ICH9_APM_ACPI_ENABLE = 0xf1;
export const ICH9_APM_ACPI_DISABLE = 0xf0;

export class Apm extends ByteDevice {
  apmc = 0;
  apms = 0;
  /** Commands written to APM_CNT that raised an SMI (only with SMM on and SMI_EN.APMC_EN set). */
  smis = 0;

  constructor(private readonly env: DeviceEnv, private readonly pm: AcpiPm | null, private readonly smm: boolean) {
    super();
  }

  protected read1(port: number): number {
    return port === 0xb2 ? this.apmc : this.apms;
  }

  protected write1(port: number, v: number): void {
    if (port === 0xb3) {
      this.apms = v;
      return;
    }
    this.apmc = v;
    if (this.pm && (v === ICH9_APM_ACPI_ENABLE || v === ICH9_APM_ACPI_DISABLE)) {
      this.pm.setSciEn(v === ICH9_APM_ACPI_ENABLE);
      return;
    }
    const apmcEn = this.pm !== null && (this.pm.smiEn & SMI_EN_APMC_EN) !== 0;
    if (this.smm && apmcEn) {
      this.smis++;
      this.env.emit('SMI', { apm_cnt: hex2(v) }, `The guest writes ${hex2(v)} to APM_CNT: the chipset raises an SMI and the vCPU enters SMM firmware.`);
    } else {
      this.env.emit('APM_CNT', { value: hex2(v), smm: this.smm, apmc_en: apmcEn }, this.smm
        ? `The guest writes ${hex2(v)} to APM_CNT, but SMI_EN.APMC_EN is clear: no SMI.`
        : `The guest writes ${hex2(v)} to APM_CNT; this VM has no SMM, so nothing happens.`);
    }
  }

  frozenRegister(): string | null {
    return null;
  }
}

// ---- Reset control (QEMU hw/isa/lpc_ich9.c ich9_rst_cnt_write()) -------------------------------

const RCR_SYS_RST = 0x02;
const RCR_RST_CPU = 0x04;

export class ResetControl extends ByteDevice {
  rstCnt = 0;

  constructor(private readonly env: DeviceEnv) {
    super();
  }

  protected read1(): number {
    return this.rstCnt;
  }

  protected write1(port: number, v: number): void {
    if (v & RCR_RST_CPU) {
      const kind = v & RCR_SYS_RST ? 'hard' : 'soft';
      this.env.emit('RST_CNT', { port: hex(port), value: hex2(v) }, `The guest writes ${hex2(v)} to the reset control register: a ${kind} reset of the machine.`);
      this.env.host.requestReset(`RST_CNT ${hex2(v)} at 0xcf9`);
      return;
    }
    this.rstCnt = v & 0x0a; // SYS_RST and FULL_RST only take effect with the next RST_CPU
  }

  frozenRegister(): string | null {
    return null;
  }
}
