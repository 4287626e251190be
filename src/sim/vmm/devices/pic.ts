/**
 * The dual 8259A PIC (Intel 8259A datasheet; QEMU hw/intc/i8259.c, KVM arch/x86/kvm/i8259.c):
 * the ICW1-ICW4 initialisation sequence, the interrupt mask (OCW1), EOI (OCW2), the IRR/ISR
 * select (OCW3), and ICH9's edge/level control registers at 0x4d0/0x4d1. No interrupt is raised
 * here: the model exists to be probed and programmed.
 */
import { hex } from '../../core/units';
import { hex2, type DeviceEnv, type DeviceModel } from './device';

const ICW1_IC4 = 0x01;
const ICW1_SNGL = 0x02;
const ICW1 = 0x10;
const OCW3 = 0x08;
const OCW2_EOI = 0x20;

class I8259 {
  imr = 0;
  irr = 0;
  isr = 0;
  vectorBase = 0;
  /** 0 = operating; 2, 3, 4 = waiting for that ICW. */
  initStep = 0;
  private icw1 = 0;
  readIsr = false;
  elcr = 0;

  constructor(readonly name: 'master' | 'slave', readonly elcrMask: number) {}

  command(v: number, env: DeviceEnv): void {
    if (v & ICW1) {
      this.icw1 = v;
      this.imr = 0;
      this.isr = 0;
      this.readIsr = false;
      this.initStep = 2;
      return;
    }
    if (v & OCW3) {
      if (v & 0x02) this.readIsr = (v & 0x01) !== 0;
      return;
    }
    // OCW2: a specific EOI (SL set) clears bit v&7; a non-specific one the highest-priority in-service bit.
    if (v & OCW2_EOI) {
      if (v & 0x40) this.isr &= ~(1 << (v & 7));
      else this.isr &= this.isr - 1; // IR0 has the highest priority until rotated
      env.emit('PIC EOI', { pic: this.name, isr: hex2(this.isr) }, `The guest acknowledges an interrupt at the ${this.name} PIC.`);
    }
  }

  data(v: number, env: DeviceEnv): void {
    switch (this.initStep) {
      case 2:
        this.vectorBase = v & 0xf8;
        this.initStep = this.icw1 & ICW1_SNGL ? (this.icw1 & ICW1_IC4 ? 4 : 0) : 3;
        break;
      case 3:
        this.initStep = this.icw1 & ICW1_IC4 ? 4 : 0;
        break;
      case 4:
        this.initStep = 0;
        break;
      default:
        this.imr = v;
        env.emit('PIC IMR', { pic: this.name, imr: hex2(v) }, `The guest sets the ${this.name} PIC's interrupt mask to ${hex2(v)}.`);
        return;
    }
    if (this.initStep === 0) {
      env.emit('PIC init', { pic: this.name, vector_base: hex2(this.vectorBase) },
        `The guest initialises the ${this.name} 8259 (ICW1-ICW4): its IRQs arrive at vectors ${hex2(this.vectorBase)}-${hex2(this.vectorBase + 7)}.`);
    }
  }
}

export class Pic implements DeviceModel {
  readonly master = new I8259('master', 0xf8);
  readonly slave = new I8259('slave', 0xde);

  constructor(private readonly env: DeviceEnv) {}

  private chip(port: number): I8259 {
    return port === 0x20 || port === 0x21 || port === 0x4d0 ? this.master : this.slave;
  }

  read(port: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.read1(port + i) << (8 * i);
    return v >>> 0;
  }

  private read1(port: number): number {
    const c = this.chip(port);
    if (port === 0x4d0 || port === 0x4d1) return c.elcr;
    if (port & 1) return c.imr;
    return c.readIsr ? c.isr : c.irr;
  }

  write(port: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.write1(port + i, (value >>> (8 * i)) & 0xff);
  }

  private write1(port: number, v: number): void {
    const c = this.chip(port);
    if (port === 0x4d0 || port === 0x4d1) {
      c.elcr = v & c.elcrMask;
      this.env.emit('ELCR', { port: hex(port), value: hex2(c.elcr) }, `The guest marks ${c.name} PIC inputs ${hex2(c.elcr)} as level-triggered.`);
    } else if (port & 1) c.data(v, this.env);
    else c.command(v, this.env);
  }

  frozenRegister(port: number, _size: number, value: number): string | null {
    const c = this.chip(port);
    if (port === 0x4d0 || port === 0x4d1) return 'ELCR';
    if (port & 1) return c.initStep ? `ICW${c.initStep}` : 'IMR (OCW1)';
    if (value & ICW1) return 'ICW1';
    return null;
  }
}
