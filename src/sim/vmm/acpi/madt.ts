/**
 * The MADT ("APIC", ACPI 6.5 §5.2.12) interrupt controller structure types and the one change the
 * TD firmware makes to QEMU's MADT: appending the Multiprocessor Wakeup Structure, because a TD has
 * no INIT/SIPI and its APs wait in a firmware loop on a mailbox instead (TDVF design guide §4.3.5).
 */
import { byteSum, writeLe } from './bytes';

/** System Description Table Header (ACPI 6.5 §5.2.6): Length at 4, Checksum at 9, 36 bytes in all. */
export const HDR_LENGTH = 4;
export const HDR_CHECKSUM = 9;
export const ACPI_TABLE_HEADER_SIZE = 36;

/** MADT Flags bit 0: "the system also has a PC-AT-compatible dual-8259 setup" (§5.2.12, Multiple APIC Flags). */
export const MADT_PCAT_COMPAT = 1;

/** Interrupt Controller Structure Types (§5.2.12): 0 (8 bytes), 1 (12), 2 (10), 4 (6), 9 (16), 0xA (12), 0x10 (16). */
export const ACPI_MADT_TYPE_LOCAL_APIC = 0;
export const ACPI_MADT_TYPE_IO_APIC = 1;
export const ACPI_MADT_TYPE_INTERRUPT_OVERRIDE = 2;
export const ACPI_MADT_TYPE_LOCAL_APIC_NMI = 4;
export const ACPI_MADT_TYPE_LOCAL_X2APIC = 9;
export const ACPI_MADT_TYPE_LOCAL_X2APIC_NMI = 0xa;
export const ACPI_MADT_TYPE_MULTIPROC_WAKEUP = 0x10;

/** §5.2.12.19 Multiprocessor Wakeup Structure: Type, Length, MailBoxVersion (u16), Reserved (u32), MailBoxAddress (u64). */
export const ACPI_MADT_MP_WAKEUP_SIZE = 16;
export const ACPI_MADT_MP_WAKEUP_MAILBOX_VERSION = 0;

export const MADT_TYPE_NAMES: Record<number, string> = {
  0: 'Processor Local APIC',
  1: 'I/O APIC',
  2: 'Interrupt Source Override',
  3: 'NMI Source',
  4: 'Local APIC NMI',
  5: 'Local APIC Address Override',
  9: 'Processor Local x2APIC',
  0xa: 'Local x2APIC NMI',
  0x10: 'Multiprocessor Wakeup',
};

/**
 * Returns a copy of `madt` with a Multiprocessor Wakeup Structure appended (mailbox version 0) and
 * the header Length and Checksum fixed, as TDVF does before handing the tables to the OS.
 */
export function appendMpWakeup(madt: Uint8Array, mailbox: bigint): Uint8Array {
  const out = new Uint8Array(madt.length + ACPI_MADT_MP_WAKEUP_SIZE);
  out.set(madt);
  const o = madt.length;
  out[o] = ACPI_MADT_TYPE_MULTIPROC_WAKEUP;
  out[o + 1] = ACPI_MADT_MP_WAKEUP_SIZE;
  writeLe(out, o + 2, ACPI_MADT_MP_WAKEUP_MAILBOX_VERSION, 2);
  writeLe(out, o + 4, 0, 4);
  writeLe(out, o + 8, mailbox, 8);
  writeLe(out, HDR_LENGTH, out.length, 4);
  out[HDR_CHECKSUM] = 0;
  out[HDR_CHECKSUM] = (0x100 - byteSum(out)) & 0xff;
  return out;
}
