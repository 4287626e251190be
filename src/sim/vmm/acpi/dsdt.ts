/**
 * The DSDT's AML for the q35 machine, following QEMU's build_dsdt() (hw/i386/acpi-build.c) and the
 * per-device build_dev_aml() hooks: \_SB.PCI0 (PNP0A08, compatible PNP0A03), \_SB.HPET, the LPC
 * bridge \_SB.PCI0.ISA at 00:1f.0 and, under it, one Device per ISA device that is present, with
 * the _CRS QEMU writes. Left out: _OSC, _PRT and the PCI interrupt links, CPU hotplug methods, the
 * HPET _STA method and its operation region, the TPM PPI methods.
 */
import type { DeviceId } from '../devices/types';
import { amlDevice, amlEisaId, amlInt, amlName, amlScope, amlString, amlBuffer, type Aml } from './aml';
import { resDma, resIo, resIrqNoFlags, resMemory32Fixed, resourceTemplate } from './resources';

/** QEMU's ISA defaults (hw/char/serial-isa.c, parallel.c, fdc-isa.c, pckbd.c, mc146818rtc.c). */
export const ISA_COM1 = { port: 0x3f8, irq: 4 };
export const ISA_LPT1 = { port: 0x378, irq: 7 };
export const ISA_FDC = { port: 0x3f0, irq: 6, dma: 2 };
export const ISA_I8042 = { data: 0x60, command: 0x64, kbdIrq: 1, mouseIrq: 12 };
export const ISA_RTC = { port: 0x70, irq: 8 };
/** include/hw/timer/hpet.h HPET_LEN; include/hw/acpi/tpm.h TPM_TIS_ADDR_BASE/SIZE. */
export const HPET_LEN = 0x400;
export const TPM_TIS_ADDR_BASE = 0xfed40000;
export const TPM_TIS_ADDR_SIZE = 0x5000;
/** The ICH9 LPC bridge is device 0x1f, function 0 (_ADR = device << 16 | function). */
const ICH9_LPC_ADR = 0x001f0000;

export interface DsdtInput {
  has: (d: DeviceId) => boolean;
  hpetAddress: number;
}

function rtc(): Aml {
  // mc146818rtc.c: "Reserving 8 io ports here, following what physical hardware does".
  return amlDevice('RTC', [
    amlName('_HID', amlEisaId('PNP0B00')),
    amlName('_CRS', resourceTemplate([resIo(ISA_RTC.port, ISA_RTC.port, 0x01, 0x08), resIrqNoFlags(ISA_RTC.irq)])),
  ]);
}

function com1(): Aml {
  return amlDevice('COM1', [
    amlName('_HID', amlEisaId('PNP0501')),
    amlName('_UID', amlInt(1)),
    amlName('_STA', amlInt(0xf)),
    amlName('_CRS', resourceTemplate([resIo(ISA_COM1.port, ISA_COM1.port, 0x00, 0x08), resIrqNoFlags(ISA_COM1.irq)])),
  ]);
}

function lpt1(): Aml {
  return amlDevice('LPT1', [
    amlName('_HID', amlEisaId('PNP0400')),
    amlName('_UID', amlInt(1)),
    amlName('_STA', amlInt(0xf)),
    amlName('_CRS', resourceTemplate([resIo(ISA_LPT1.port, ISA_LPT1.port, 0x08, 0x08), resIrqNoFlags(ISA_LPT1.irq)])),
  ]);
}

function fdc0(): Aml {
  // _FDE: presence of drives #0-#3 (none attached) and "tape presence (2 == never present)".
  const fde = [0, 0, 0, 0, 2].flatMap((v) => [v, 0, 0, 0]);
  return amlDevice('FDC0', [
    amlName('_HID', amlEisaId('PNP0700')),
    amlName('_CRS', resourceTemplate([
      resIo(ISA_FDC.port + 2, ISA_FDC.port + 2, 0x00, 0x04),
      resIo(ISA_FDC.port + 7, ISA_FDC.port + 7, 0x00, 0x01),
      resIrqNoFlags(ISA_FDC.irq),
      resDma(ISA_FDC.dma),
    ])),
    amlName('_FDE', amlBuffer(fde)),
  ]);
}

function i8042(): Aml[] {
  return [
    amlDevice('KBD', [
      amlName('_HID', amlEisaId('PNP0303')),
      amlName('_STA', amlInt(0xf)),
      amlName('_CRS', resourceTemplate([
        resIo(ISA_I8042.data, ISA_I8042.data, 0x01, 0x01),
        resIo(ISA_I8042.command, ISA_I8042.command, 0x01, 0x01),
        resIrqNoFlags(ISA_I8042.kbdIrq),
      ])),
    ]),
    amlDevice('MOU', [
      amlName('_HID', amlEisaId('PNP0F13')),
      amlName('_STA', amlInt(0xf)),
      amlName('_CRS', resourceTemplate([resIrqNoFlags(ISA_I8042.mouseIrq)])),
    ]),
  ];
}

function tpm(): Aml {
  // hw/tpm/tpm_tis_isa.c build_tpm_tis_isa_aml() for a TPM 2.0: a string _HID, not an EISA id.
  return amlDevice('TPM', [
    amlName('_HID', amlString('MSFT0101')),
    amlName('_STR', amlString('TPM 2.0 Device')),
    amlName('_UID', amlInt(1)),
    amlName('_STA', amlInt(0xf)),
    amlName('_CRS', resourceTemplate([resMemory32Fixed(TPM_TIS_ADDR_BASE, TPM_TIS_ADDR_SIZE, true)])),
  ]);
}

/** The DSDT's TermList (everything after the 36-byte header). */
export function buildDsdtAml(input: DsdtInput): Aml {
  const { has } = input;
  const terms: Aml[] = [
    amlScope('_SB', [amlDevice('PCI0', [
      amlName('_HID', amlEisaId('PNP0A08')),
      amlName('_CID', amlEisaId('PNP0A03')),
      amlName('_ADR', amlInt(0)),
      amlName('_UID', amlInt(0)),
    ])]),
  ];
  if (has('hpet')) {
    terms.push(amlScope('_SB', [amlDevice('HPET', [
      amlName('_HID', amlEisaId('PNP0103')),
      amlName('_UID', amlInt(0)),
      amlName('_CRS', resourceTemplate([resMemory32Fixed(input.hpetAddress, HPET_LEN, false)])),
    ])]));
  }
  terms.push(amlScope('_SB.PCI0', [amlDevice('ISA', [amlName('_ADR', amlInt(ICH9_LPC_ADR))])]));
  // isa_build_aml() walks the ISA bus in creation order: the RTC (inside ICH9-LPC), then pc_superio_init().
  const isa: Aml[] = [];
  if (has('rtc')) isa.push(rtc());
  if (has('com1')) isa.push(com1());
  if (has('lpt1')) isa.push(lpt1());
  if (has('floppy')) isa.push(fdc0());
  if (has('i8042')) isa.push(...i8042());
  if (has('tpm')) isa.push(tpm());
  terms.push(amlScope('_SB.PCI0.ISA', isa));
  return terms.flat();
}
