/**
 * The MC146818 RTC and its CMOS memory (QEMU hw/rtc/mc146818rtc.c, CMOS layout from hw/i386/pc.c
 * pc_cmos_init()). The time comes from the deterministic virtual clock plus a fixed epoch, in BCD
 * and 24-hour mode as register B says after reset.
 */
import { hex } from '../../core/units';
import { hex2, toBcd, type DeviceEnv, type DeviceModel } from './device';

/** The wall-clock time at virtual time 0 when the scenario does not set one: 2025-01-01 00:00:00 UTC. */
export const RTC_DEFAULT_EPOCH = 1_735_689_600;

const REG_A = 0x0a;
const REG_B = 0x0b;
const REG_C = 0x0c;
const REG_D = 0x0d;
const REG_B_24H = 0x02;
const REG_B_DM_BINARY = 0x04;
const MiB = 0x100000;

/** Days since 1970-01-01 to a civil date (H. Hinnant's algorithm; no Date, which src/sim avoids). */
function civil(days: number): { y: number; m: number; d: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return { y: yoe + era * 400 + (m <= 2 ? 1 : 0), m, d };
}

export class Rtc implements DeviceModel {
  readonly cmos = new Uint8Array(128);
  private index = 0;
  nmiDisabled = false;

  constructor(private readonly env: DeviceEnv, memory: { below4g: number; above4g: number }, private readonly epoch = RTC_DEFAULT_EPOCH) {
    const c = this.cmos;
    c[REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
    c[REG_B] = REG_B_24H;
    c[REG_D] = 0x80; // VRT: the battery and RAM are valid
    const set16 = (at: number, v: number) => { c[at] = Math.floor(v) & 0xff; c[at + 1] = (Math.floor(v) >> 8) & 0xff; };
    set16(0x15, Math.min(memory.below4g / 1024, 640));
    const ext = Math.min(Math.max(0, (memory.below4g - MiB) / 1024), 0xffff);
    set16(0x17, ext);
    set16(0x30, ext);
    // Memory between 16 MiB and 4 GiB in 64 KiB units, and above 4 GiB, as pc_cmos_init() sets them.
    set16(0x34, Math.min(Math.max(0, (memory.below4g - 16 * MiB) / 0x10000), 0xffff));
    const high = Math.floor(memory.above4g / 0x10000);
    c[0x5b] = high & 0xff;
    c[0x5c] = (high >> 8) & 0xff;
    c[0x5d] = (high >> 16) & 0xff;
    c[0x32] = 0x20; // century, BCD
  }

  /** The wall-clock seconds since 1970 at the current virtual time. */
  seconds(): number {
    return this.epoch + Math.floor(this.env.host.now() / 1e9);
  }

  private timeRegister(reg: number): number | null {
    const s = this.seconds();
    const day = Math.floor(s / 86400);
    const sod = s - day * 86400;
    const { y, m, d } = civil(day);
    const fields: Record<number, number> = {
      0x00: sod % 60, 0x02: Math.floor(sod / 60) % 60, 0x04: Math.floor(sod / 3600),
      0x06: ((day + 4) % 7) + 1, 0x07: d, 0x08: m, 0x09: y % 100, 0x32: Math.floor(y / 100),
    };
    const v = fields[reg];
    if (v === undefined) return null;
    return this.cmos[REG_B] & REG_B_DM_BINARY ? v : toBcd(v);
  }

  read(port: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.read1(port + i) << (8 * i);
    return v >>> 0;
  }

  private read1(port: number): number {
    if (port === 0x70) return 0xff; // the index register is write-only (cmos_ioport_read)
    const reg = this.index;
    if (reg === REG_C) {
      const v = this.cmos[REG_C];
      this.cmos[REG_C] = 0; // reading C acknowledges the RTC interrupt
      return v;
    }
    return this.timeRegister(reg) ?? this.cmos[reg];
  }

  write(port: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.write1(port + i, (value >>> (8 * i)) & 0xff);
  }

  private write1(port: number, v: number): void {
    if (port === 0x70) {
      this.index = v & 0x7f;
      this.nmiDisabled = (v & 0x80) !== 0;
      return;
    }
    const reg = this.index;
    if (reg === REG_C || reg === REG_D) return; // read-only
    if (reg === REG_A || reg === REG_B) {
      this.env.emit('RTC register', { reg: hex2(reg), value: hex2(v) }, `The guest sets RTC register ${reg === REG_A ? 'A (rate)' : 'B (mode)'} to ${hex2(v)}.`);
    }
    if (reg === REG_A) v &= 0x7f; // UIP is read-only
    this.cmos[reg] = v;
    if (reg <= 0x09) {
      this.env.emit('CMOS write', { index: hex(reg), value: hex2(v) },
        `The guest writes ${hex2(v)} to CMOS ${hex(reg)}; the time registers still follow the virtual clock.`);
    }
  }

  frozenRegister(port: number): string | null {
    if (port !== 0x71) return null;
    return this.index === REG_A ? 'RTC register A' : this.index === REG_B ? 'RTC register B' : null;
  }
}
