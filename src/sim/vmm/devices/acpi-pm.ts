/**
 * The ICH9 ACPI power-management I/O block at PMBASE (QEMU hw/acpi/ich9.c, hw/acpi/core.c):
 * PM1a event (status/enable), PM1a control, the 24-bit PM timer at 3.579545 MHz, GPE0 and the
 * SMI enable/status pair that decides whether an APM_CNT write raises an SMI.
 */
import { hex } from '../../core/units';
import { type DeviceEnv, type DeviceModel, readBytes, writeBytes } from './device';

export const PM_TIMER_HZ = 3_579_545;
export const SCI_EN = 0x0001;
const SLP_EN = 0x2000;
/** ICH9_PMIO_SMI_EN_APMC_EN: an APM_CNT write raises an SMI. */
export const SMI_EN_APMC_EN = 1 << 5;

const PM1_STS = 0x00;
const PM1_EN = 0x02;
const PM1_CNT = 0x04;
const PM_TMR = 0x08;
const GPE0_STS = 0x20;
const GPE0_EN = 0x28;
const SMI_EN = 0x30;
const SMI_STS = 0x34;

export class AcpiPm implements DeviceModel {
  /** The block's register bytes (timer excepted), little-endian. */
  private readonly regs = new Uint8Array(0x80);

  constructor(private readonly env: DeviceEnv, readonly base: number) {}

  private get16(off: number): number {
    return this.regs[off] | (this.regs[off + 1] << 8);
  }

  private set16(off: number, v: number): void {
    this.regs[off] = v & 0xff;
    this.regs[off + 1] = (v >> 8) & 0xff;
  }

  get pm1Cnt(): number {
    return this.get16(PM1_CNT);
  }

  get smiEn(): number {
    return readBytes(SMI_EN, 4, (a) => this.regs[a]);
  }

  /** ACPI enable/disable through APM_CNT (ich9_apm_ctrl_changed() → acpi_pm1_cnt_update()). */
  setSciEn(on: boolean): void {
    this.set16(PM1_CNT, on ? this.pm1Cnt | SCI_EN : this.pm1Cnt & ~SCI_EN);
    this.env.emit('PM1_CNT.SCI_EN', { sci_en: on }, on
      ? 'ACPI mode is on: power-management events now raise the SCI (IRQ 9) instead of an SMI.'
      : 'ACPI mode is off: SCI_EN cleared.');
  }

  /** The PM timer: a 24-bit count of 3.579545 MHz ticks since the machine started (acpi_pm_tmr_get()). */
  timer(): number {
    return Math.floor((this.env.host.now() * PM_TIMER_HZ) / 1e9) % 0x1000000;
  }

  read(port: number, size: number): number {
    const off = port - this.base;
    if (off >= PM_TMR && off < PM_TMR + 4) return Math.floor(this.timer() / 2 ** (8 * (off - PM_TMR))) % 2 ** (8 * size);
    return readBytes(off, size, (a) => this.regs[a]);
  }

  write(port: number, size: number, value: number): void {
    const off = port - this.base;
    writeBytes(off, size, value, (a, b) => {
      if ((a >= PM1_STS && a < PM1_STS + 2) || (a >= GPE0_STS && a < GPE0_STS + 8) || (a >= SMI_STS && a < SMI_STS + 4)) {
        this.regs[a] &= ~b; // status registers: write 1 to clear
      } else if (a < PM_TMR || a >= PM_TMR + 4) this.regs[a] = b;
    });
    if (off <= PM1_CNT + 1 && off + size > PM1_CNT + 1 && this.pm1Cnt & SLP_EN) {
      const slpTyp = (this.pm1Cnt >> 10) & 7;
      this.set16(PM1_CNT, this.pm1Cnt & ~SLP_EN);
      // QEMU's DSDT gives _S5 the type 0: acpi_pm1_cnt_write() treats it as soft power off.
      if (slpTyp === 0) {
        this.env.emit('ACPI S5', { pm1_cnt: hex(this.pm1Cnt) }, 'The guest enters S5 through PM1_CNT.SLP_EN: the machine powers off.');
        this.env.host.requestPowerOff?.('ACPI S5 (PM1_CNT.SLP_EN with SLP_TYP 0)');
      } else {
        this.env.emit('ACPI sleep', { slp_typ: slpTyp }, `The guest asks for sleep type ${slpTyp}, which this machine does not support.`);
      }
    }
  }

  frozenRegister(port: number, size: number): string | null {
    const off = port - this.base;
    const hits = (reg: number, len: number) => off < reg + len && off + size > reg;
    if (hits(PM1_EN, 2)) return 'PM1_EN';
    if (hits(GPE0_EN, 8)) return 'GPE0_EN';
    if (hits(SMI_EN, 4)) return 'SMI_EN';
    return null;
  }
}
