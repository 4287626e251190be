/**
 * A TPM 2.0 behind the TIS interface (TCG PC Client Platform TPM Profile; QEMU hw/tpm/tpm_tis_common.c):
 * five 4 KiB localities at 0xfed40000, each with TPM_ACCESS, TPM_STS and the DID_VID register at
 * 0xf00. Enough for a driver to find the chip and take locality 0; no command is executed.
 */
import { hex } from '../../core/units';
import { readWordLane, type DeviceEnv, type DeviceModel } from './device';

export const TPM_TIS_BASE = 0xfed40000;
const TPM_ACCESS = 0x00;
const TPM_STS = 0x18;
const TPM_DID_VID = 0xf00;
const TPM_RID = 0xf04;
const ACCESS_ESTABLISHMENT = 0x01; // reads 1 while no dynamic root of trust has been established
const ACCESS_REQUEST_USE = 0x02;
const ACCESS_ACTIVE_LOCALITY = 0x20;
const ACCESS_VALID = 0x80;
const STS_VALID = 0x80;
const STS_COMMAND_READY = 0x40;
const STS_TPM_FAMILY2_0 = 1 << 26;
/** QEMU's TIS: device 0x0001, vendor 0x1014 (IBM). */
export const TPM_DID_VID_VALUE = 0x00011014;

export class Tpm implements DeviceModel {
  activeLocality: number | null = null;

  constructor(private readonly env: DeviceEnv, private readonly base = TPM_TIS_BASE) {}

  private word(locality: number, reg: number): number {
    const active = this.activeLocality === locality;
    switch (reg) {
      case TPM_ACCESS: return ACCESS_VALID | ACCESS_ESTABLISHMENT | (active ? ACCESS_ACTIVE_LOCALITY : 0);
      case TPM_STS: return active ? (STS_TPM_FAMILY2_0 | STS_VALID | STS_COMMAND_READY) >>> 0 : 0xffffffff;
      case TPM_DID_VID: return TPM_DID_VID_VALUE;
      case TPM_RID: return 0x01;
      default: return 0;
    }
  }

  read(gpa: number, size: number): number {
    const off = gpa - this.base;
    return readWordLane(this.word(off >> 12, off & 0xffc), off, size);
  }

  write(gpa: number, _size: number, value: number): void {
    const off = gpa - this.base;
    const locality = off >> 12;
    if ((off & 0xfff) !== TPM_ACCESS) return;
    if (value & ACCESS_REQUEST_USE && this.activeLocality === null) {
      this.activeLocality = locality;
      this.env.emit('TPM locality', { locality, gpa: hex(gpa) }, `The guest takes TPM locality ${locality}.`);
    } else if (value & ACCESS_ACTIVE_LOCALITY && this.activeLocality === locality) {
      this.activeLocality = null;
      this.env.emit('TPM locality', { locality, released: true }, `The guest releases TPM locality ${locality}.`);
    }
  }

  frozenRegister(): string | null {
    return null;
  }
}
