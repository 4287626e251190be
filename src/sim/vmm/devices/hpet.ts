/**
 * The HPET (IA-PC HPET specification 1.0a; QEMU hw/timer/hpet.c): the capabilities/ID register
 * with vendor 0x8086 and a 10 ns period, the general configuration, the interrupt status, the main
 * counter (100 MHz off the virtual clock while enabled) and three timers' configuration and
 * comparator registers. No interrupt fires.
 */
import { hex } from '../../core/units';
import { mergeWordLane, readWordLane, type DeviceEnv, type DeviceModel } from './device';

export const HPET_BASE = 0xfed00000;
/** HPET_CLK_PERIOD: 10 ns, in femtoseconds. */
export const HPET_PERIOD_FS = 10_000_000;
const NUM_TIMERS = 3;
/** Revision 1, NUM_TIM_CAP = timers - 1, COUNT_SIZE_CAP (64-bit), LEG_RT_CAP, vendor 0x8086 (the HPET table's block ID). */
export const HPET_ID_LOW = (0x8086 << 16 | 0x8000 | 0x2000 | ((NUM_TIMERS - 1) << 8) | 0x01) >>> 0;
const HPET_ID = 0x000;
const HPET_CFG = 0x010;
const HPET_STATUS = 0x020;
const HPET_COUNTER = 0x0f0;
const HPET_CFG_ENABLE = 0x1;
const TN_CFG_WRITABLE = 0x7f4e; // INT_TYPE, INT_ENB, TYPE, VAL_SET, 32MODE, INT_ROUTE, FSB_EN
const TN_PERIODIC_CAP = 0x10;
const TN_SIZE_CAP = 0x20;
/** Tn_INT_ROUTE_CAP: q35's HPET timers can route to IRQ 2, 8 or 16-23 (QEMU pc_hpet_create(), "hpet-intcap"). */
const Q35_INTCAP = 0x00ff0104;

export class Hpet implements DeviceModel {
  config = 0;
  private isr = 0;
  private counterBase = 0;
  private enabledAt = 0;
  private readonly timerCfg = Array.from({ length: NUM_TIMERS }, (_, i) => (i === 0 ? TN_PERIODIC_CAP : 0) | TN_SIZE_CAP);
  /** Comparators as low and high words: QEMU resets them to all ones. */
  private readonly cmpLo = new Array<number>(NUM_TIMERS).fill(0xffffffff);
  private readonly cmpHi = new Array<number>(NUM_TIMERS).fill(0xffffffff);

  constructor(private readonly env: DeviceEnv, private readonly base = HPET_BASE) {}

  /** The main counter in 10 ns ticks. */
  counter(): number {
    if (!(this.config & HPET_CFG_ENABLE)) return this.counterBase;
    return this.counterBase + Math.floor((this.env.host.now() - this.enabledAt) / (HPET_PERIOD_FS / 1e6));
  }

  /** The 32-bit word at a register offset. */
  private word(off: number): number {
    const hi = (v: number) => Math.floor(v / 2 ** 32) >>> 0;
    const lo = (v: number) => v % 2 ** 32;
    switch (off) {
      case HPET_ID: return HPET_ID_LOW;
      case HPET_ID + 4: return HPET_PERIOD_FS;
      case HPET_CFG: return this.config;
      case HPET_STATUS: return this.isr;
      case HPET_COUNTER: return lo(this.counter());
      case HPET_COUNTER + 4: return hi(this.counter());
    }
    const t = this.timer(off);
    if (!t) return 0;
    if (t.reg === 0) return this.timerCfg[t.n];
    if (t.reg === 4) return Q35_INTCAP;
    if (t.reg === 8) return this.cmpLo[t.n];
    if (t.reg === 12) return this.cmpHi[t.n];
    return 0;
  }

  private timer(off: number): { n: number; reg: number } | null {
    if (off < 0x100 || off >= 0x100 + 0x20 * NUM_TIMERS) return null;
    return { n: (off - 0x100) >> 5, reg: off & 0x1f };
  }

  read(gpa: number, size: number): number {
    const off = gpa - this.base;
    if (size === 8) return this.word(off & ~3) + this.word((off & ~3) + 4) * 2 ** 32;
    return readWordLane(this.word(off & ~3), off, size);
  }

  write(gpa: number, size: number, value: number): void {
    const off = gpa - this.base;
    if (size === 8) {
      this.writeWord(off, value % 2 ** 32);
      this.writeWord(off + 4, Math.floor(value / 2 ** 32));
      return;
    }
    const at = off & ~3;
    this.writeWord(at, mergeWordLane(this.word(at), off, size, value));
  }

  private writeWord(off: number, v: number): void {
    if (off === HPET_CFG) {
      const was = this.config & HPET_CFG_ENABLE;
      if (was && !(v & HPET_CFG_ENABLE)) this.counterBase = this.counter();
      if (!was && v & HPET_CFG_ENABLE) this.enabledAt = this.env.host.now();
      this.config = v & 0x3;
      this.env.emit('HPET config', { config: hex(this.config) },
        `The guest ${this.config & HPET_CFG_ENABLE ? 'starts' : 'stops'} the HPET main counter${this.config & 2 ? ' in legacy-replacement mode (timers 0 and 1 take IRQ 0 and 8)' : ''}.`);
      return;
    }
    if (off === HPET_STATUS) {
      this.isr &= ~v;
      return;
    }
    if (off === HPET_COUNTER || off === HPET_COUNTER + 4) {
      const c = this.counter();
      this.counterBase = off === HPET_COUNTER ? Math.floor(c / 2 ** 32) * 2 ** 32 + (v >>> 0) : (c % 2 ** 32) + (v >>> 0) * 2 ** 32;
      this.enabledAt = this.env.host.now();
      return;
    }
    const t = this.timer(off);
    if (!t) return;
    if (t.reg === 0) this.timerCfg[t.n] = (this.timerCfg[t.n] & ~TN_CFG_WRITABLE) | (v & TN_CFG_WRITABLE);
    else if (t.reg === 8) this.cmpLo[t.n] = v >>> 0;
    else if (t.reg === 12) this.cmpHi[t.n] = v >>> 0;
  }

  frozenRegister(gpa: number): string | null {
    const off = (gpa - this.base) & ~3;
    if (off === HPET_CFG) return 'HPET general configuration';
    if (off === HPET_COUNTER || off === HPET_COUNTER + 4) return 'HPET main counter';
    const t = this.timer(off);
    return t && t.reg === 0 ? `HPET timer ${t.n} configuration` : null;
  }
}
