/**
 * A 16550A UART at COM1 (QEMU hw/char/serial.c). Transmitted bytes go to the console string; the
 * line is always idle (no input). It answers what Linux's 8250 driver probes in autoconfig(): the
 * scratch register, the loopback test through MCR/MSR, and the FIFO bits of IIR.
 */
import { hex2, type DeviceEnv, type DeviceModel } from './device';

const LCR_DLAB = 0x80;
const MCR_LOOP = 0x10;
const LSR_THRE_TEMT = 0x60;
/** Modem status with nothing in loopback: DCD, DSR and CTS asserted (QEMU serial_reset()). */
const MSR_DEFAULT = 0xb0;

export class Serial implements DeviceModel {
  console = '';
  ier = 0;
  lcr = 0;
  mcr = 0;
  fcr = 0;
  scr = 0;
  divisor = 0x0c; // 9600 baud

  constructor(private readonly env: DeviceEnv, private readonly base: number) {}

  read(port: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.read1(port + i) << (8 * i);
    return v >>> 0;
  }

  private read1(port: number): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (port - this.base) {
      case 0: return dlab ? this.divisor & 0xff : 0; // RBR: nothing received
      case 1: return dlab ? this.divisor >> 8 : this.ier;
      case 2: return (this.fcr & 1 ? 0xc0 : 0) | 0x01; // IIR: FIFOs enabled?, no interrupt pending
      case 3: return this.lcr;
      case 4: return this.mcr;
      case 5: return LSR_THRE_TEMT;
      case 6: {
        if (!(this.mcr & MCR_LOOP)) return MSR_DEFAULT;
        // Loopback: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
        const m = this.mcr;
        return ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4);
      }
      default: return this.scr;
    }
  }

  write(port: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.write1(port + i, (value >>> (8 * i)) & 0xff);
  }

  private write1(port: number, v: number): void {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (port - this.base) {
      case 0:
        if (dlab) this.divisor = (this.divisor & 0xff00) | v;
        else if (!(this.mcr & MCR_LOOP)) this.console += String.fromCharCode(v);
        return;
      case 1:
        if (dlab) this.divisor = (this.divisor & 0xff) | (v << 8);
        else this.ier = v & 0x0f;
        return;
      case 2:
        this.fcr = v & 0xc9;
        return;
      case 3:
        this.lcr = v;
        if (!(v & LCR_DLAB) && this.divisor) {
          this.env.emit('UART LCR', { lcr: hex2(v), divisor: this.divisor },
            `The guest sets COM1 to ${115200 / this.divisor} baud, ${(v & 3) + 5} data bits.`);
        }
        return;
      case 4:
        this.mcr = v & 0x1f;
        return;
      case 5:
      case 6:
        return; // LSR and MSR are read-only here
      default:
        this.scr = v;
    }
  }

  frozenRegister(port: number): string | null {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (port - this.base) {
      case 0: return dlab ? 'divisor latch (DLL)' : null;
      case 1: return dlab ? 'divisor latch (DLM)' : null;
      case 2: return 'FCR';
      case 3: return 'LCR';
      case 4: return 'MCR';
      default: return null;
    }
  }
}
