/**
 * The 8254 PIT (Intel 82C54 datasheet; QEMU hw/timer/i8254.c, KVM arch/x86/kvm/i8254.c) and the
 * NMI status/control port 0x61 that gates counter 2 and reads its output. Counters run at
 * 1.193182 MHz off the virtual clock, so a guest that calibrates against the PIT sees time pass.
 */
import { hex2, type DeviceEnv, type DeviceModel } from './device';

export const PIT_HZ = 1_193_182;
/** QEMU's refresh-clock toggle on port 0x61 bit 4: every 15.085 µs (hw/audio/pcspk.c). */
const REFRESH_NS = 15_085;

interface Counter {
  mode: number;
  /** 1 lobyte, 2 hibyte, 3 lobyte then hibyte. */
  rw: number;
  bcd: boolean;
  /** 0 stands for 0x10000. */
  reload: number;
  loadedAt: number;
  /** Low byte of a lobyte/hibyte load, waiting for the high byte. */
  pendingLow: number | null;
  latched: number[];
  readHigh: boolean;
  gate: boolean;
}

export class Pit implements DeviceModel {
  readonly counters: Counter[];
  /** Port 0x61 bits 0 (gate 2) and 1 (speaker data). */
  private nmiSc = 0;

  constructor(private readonly env: DeviceEnv) {
    // pit_reset_common(): every counter in mode 3 with count 0 (65536); only counter 2 has its gate low.
    this.counters = [0, 1, 2].map((i) => ({
      mode: 3, rw: 3, bcd: false, reload: 0, loadedAt: env.host.now(), pendingLow: null, latched: [], readHigh: false, gate: i !== 2,
    }));
  }

  private ticks(c: Counter): number {
    return Math.floor(((this.env.host.now() - c.loadedAt) * PIT_HZ) / 1e9);
  }

  /** The count now: modes 2 and 3 reload, the one-shot modes wrap through 0xffff as the chip does. */
  count(i: number): number {
    const c = this.counters[i];
    const n = c.reload || 0x10000;
    const t = this.ticks(c);
    if (c.mode === 2 || c.mode === 3) return (n - (t % n)) & 0xffff;
    return (((n - t) % 0x10000) + 0x10000) & 0xffff;
  }

  out(i: number): boolean {
    const c = this.counters[i];
    const n = c.reload || 0x10000;
    const t = this.ticks(c);
    if (c.mode === 0) return t >= n;
    if (c.mode === 3) return t % n < n / 2;
    if (c.mode === 2) return t % n !== n - 1;
    return true;
  }

  private status(i: number): number {
    const c = this.counters[i];
    return (this.out(i) ? 0x80 : 0) | (c.rw << 4) | (c.mode << 1) | (c.bcd ? 1 : 0);
  }

  private latch(i: number): void {
    const c = this.counters[i];
    if (c.latched.length) return;
    const v = this.count(i);
    c.latched = c.rw === 1 ? [v & 0xff] : c.rw === 2 ? [v >> 8] : [v & 0xff, v >> 8];
  }

  read(port: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.read1(port + i) << (8 * i);
    return v >>> 0;
  }

  private read1(port: number): number {
    if (port === 0x61) {
      const refresh = Math.floor(this.env.host.now() / REFRESH_NS) & 1;
      return this.nmiSc | (refresh << 4) | (this.out(2) ? 0x20 : 0);
    }
    if (port === 0x43) return 0xff; // the control word register is write-only
    const c = this.counters[port - 0x40];
    if (c.latched.length) return c.latched.shift()!;
    const v = this.count(port - 0x40);
    if (c.rw === 1) return v & 0xff;
    if (c.rw === 2) return v >> 8;
    c.readHigh = !c.readHigh;
    return c.readHigh ? v & 0xff : v >> 8;
  }

  write(port: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.write1(port + i, (value >>> (8 * i)) & 0xff);
  }

  private write1(port: number, v: number): void {
    if (port === 0x61) {
      const gate = (v & 1) !== 0;
      const c = this.counters[2];
      // A rising gate restarts counter 2 (modes 1, 2, 3, 5 trigger on it; mode 0 resumes counting).
      if (gate && !c.gate) c.loadedAt = this.env.host.now();
      c.gate = gate;
      this.nmiSc = v & 0x03;
      return;
    }
    if (port === 0x43) return this.control(v);
    const i = port - 0x40;
    const c = this.counters[i];
    if (c.rw === 3 && c.pendingLow === null) {
      c.pendingLow = v;
      return;
    }
    const n = c.rw === 1 ? v : c.rw === 2 ? v << 8 : (c.pendingLow ?? 0) | (v << 8);
    c.pendingLow = null;
    c.reload = n;
    c.loadedAt = this.env.host.now();
    this.env.emit('PIT load', { counter: i, count: n, mode: c.mode },
      `The guest loads PIT counter ${i} with ${n || 65536} (mode ${c.mode}): ${(((n || 65536) / PIT_HZ) * 1e6).toFixed(1)} µs at 1.193182 MHz.`);
  }

  private control(v: number): void {
    const sc = v >> 6;
    if (sc === 3) {
      // Read-back: bit 5 clear latches counts, bit 4 clear latches status, bits 1-3 select counters.
      for (let i = 0; i < 3; i++) {
        if (!(v & (2 << i))) continue;
        const c = this.counters[i];
        if (c.latched.length) continue;
        const status = v & 0x10 ? [] : [this.status(i)];
        if (!(v & 0x20)) this.latch(i);
        c.latched = [...status, ...c.latched];
      }
      return;
    }
    const rw = (v >> 4) & 3;
    if (rw === 0) return this.latch(sc);
    const c = this.counters[sc];
    c.rw = rw;
    c.mode = (v >> 1) & 7;
    if (c.mode > 5) c.mode -= 4; // modes 6 and 7 are aliases of 2 and 3
    c.bcd = (v & 1) !== 0;
    c.pendingLow = null;
    c.readHigh = false;
    this.env.emit('PIT mode', { counter: sc, mode: c.mode, rw, control: hex2(v) }, `The guest sets PIT counter ${sc} to mode ${c.mode}.`);
  }

  frozenRegister(port: number, _size: number, value: number): string | null {
    if (port !== 0x43) return null;
    return value >> 6 !== 3 && ((value >> 4) & 3) !== 0 ? 'PIT mode/command' : null;
  }
}
