/**
 * ACPI tables for the q35 machine, built as QEMU's acpi_build() (hw/i386/acpi-build.c) and
 * hw/acpi/aml-build.c build them, and handed over as QEMU hands them to the firmware: three fw_cfg
 * files. "etc/acpi/tables" holds every table in one blob, with pointers written as offsets inside
 * the blob and checksums left at 0; "etc/acpi/rsdp" holds the RSDP; "etc/table-loader" holds the
 * commands (ALLOCATE, ADD_POINTER, ADD_CHECKSUM) with which the firmware places the blobs in guest
 * memory and turns the offsets into addresses (see loader.ts for an executor).
 *
 * QEMU changes nothing here for a TD (its TDX setup only forces SMM and the PIC off, which the
 * tables then reflect); TDVF later appends the MADT's Multiprocessor Wakeup Structure (madt.ts).
 */
import type { DesignMode, DeviceId } from '../devices/types';
import { ByteWriter } from './bytes';
import { buildDsdtAml } from './dsdt';
import {
  ACPI_BUILD_RSDP_FILE, ACPI_BUILD_TABLE_FILE, ACPI_BUILD_TPMLOG_FILE, BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG,
  BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH, BiosLinker, ACPI_BUILD_LOADER_FILE, type LoaderCommand,
} from './linker';
import {
  ACPI_MADT_TYPE_INTERRUPT_OVERRIDE, ACPI_MADT_TYPE_IO_APIC, ACPI_MADT_TYPE_LOCAL_APIC, ACPI_MADT_TYPE_LOCAL_APIC_NMI,
  ACPI_MADT_TYPE_LOCAL_X2APIC, ACPI_MADT_TYPE_LOCAL_X2APIC_NMI, HDR_CHECKSUM, HDR_LENGTH, MADT_PCAT_COMPAT,
} from './madt';

export { appendMpWakeup } from './madt';

/** What the ACPI builder needs to know about the machine (the VMM fills it from its device set). */
export interface AcpiMachine {
  /** The enabled devices, as a set or as a record of switches. */
  devices: ReadonlySet<DeviceId> | Readonly<Partial<Record<DeviceId, boolean>>>;
  cpus: number;
  isTd: boolean;
  /** Describe the CPUs with Processor Local x2APIC structures (type 9) instead of type 0. */
  x2apic: boolean;
  /**
   * 'upstream': IAPC_BOOT_ARCH carries only the 8042 bit, as QEMU writes it (iapc_boot_arch_8042()).
   * 'talk': the talk's "twist ACPI tables for disabled devices" also sets LEGACY_DEVICES, VGA Not
   * Present and CMOS RTC Not Present from the device switches.
   */
  mode: DesignMode;
  ecamBase: number;
  ecamSize: number;
  pmBase: number;
  hpetAddress: number;
  ioapicAddress: number;
  ioapicGsiBase: number;
  lapicAddress: number;
  /** 6 and 8 characters; QEMU: ACPI_BUILD_APPNAME6 "BOCHS ", ACPI_BUILD_APPNAME8 "BXPC    ". */
  oemId: string;
  oemTableId: string;
}

/** q35 addresses (DOMAIN.md §8) and QEMU's OEM ids. */
export const Q35_ACPI_DEFAULTS = {
  ecamBase: 0xb0000000,
  ecamSize: 256 * 1024 * 1024,
  pmBase: 0x600,
  hpetAddress: 0xfed00000,
  ioapicAddress: 0xfec00000,
  ioapicGsiBase: 0,
  lapicAddress: 0xfee00000,
  oemId: 'BOCHS ',
  oemTableId: 'BXPC    ',
} as const;

/** A q35 AcpiMachine with QEMU's defaults; in the talk's mode a TD gets x2APIC entries. */
export function q35AcpiMachine(devices: AcpiMachine['devices'],
  opts: { isTd: boolean; cpus?: number; mode?: DesignMode }): AcpiMachine {
  const mode = opts.mode ?? 'upstream';
  return { ...Q35_ACPI_DEFAULTS, devices, cpus: opts.cpus ?? 1, isTd: opts.isTd, x2apic: opts.isTd && mode === 'talk', mode };
}

export interface AcpiTableLayout {
  signature: string;
  /** Offset inside "etc/acpi/tables". */
  offset: number;
  length: number;
}

export interface AcpiBuild {
  /** The fw_cfg files: etc/acpi/rsdp, etc/acpi/tables, etc/table-loader (and etc/tpm/log with a TPM). */
  files: Map<string, Uint8Array>;
  /** Where each table sits inside etc/acpi/tables, in blob order (FACS first). */
  layout: AcpiTableLayout[];
  /** The decoded content of etc/table-loader. */
  commands: LoaderCommand[];
}

/** hw/i386/acpi-build.c: the tables blob is padded to 128 KiB, the loader file to 4 KiB (acpi_align_size). */
export const ACPI_BUILD_TABLE_SIZE = 0x20000;
export const ACPI_BUILD_ALIGN_SIZE = 0x1000;
/** ACPI_PORT_SMI_CMD (the APM control port) and ICH9_APM_ACPI_ENABLE/DISABLE (include/hw/southbridge/ich9.h). */
export const ACPI_PORT_SMI_CMD = 0xb2;
export const ICH9_APM_ACPI_ENABLE = 0x2;
export const ICH9_APM_ACPI_DISABLE = 0x3;
/** ICH9_RST_CNT_IOPORT and the value QEMU puts in RESET_VALUE for q35 (acpi_get_pm_info()). */
export const ICH9_RST_CNT_IOPORT = 0xcf9;
export const ICH9_RESET_VALUE = 0xf;
/** ICH9_PMIO_GPE0_STS and ICH9_PMIO_GPE0_LEN: GPE0 sits 0x20 into the PM block, 16 bytes long. */
const ICH9_PMIO_GPE0_STS = 0x20;
const ICH9_PMIO_GPE0_LEN = 16;
/** The ICH9 SCI is wired to ISA IRQ 9. */
export const ACPI_SCI_IRQ = 9;
/** include/hw/rtc/mc146818rtc_regs.h RTC_CENTURY: the CMOS index of the century byte. */
const RTC_CENTURY = 0x32;
/** ACPI_BUILD_PCI_IRQS: ISA IRQs QEMU declares level-triggered, active-high (PCI INTx and the SCI). */
export const ACPI_BUILD_PCI_IRQS = (1 << 5) | (1 << 9) | (1 << 10) | (1 << 11);
/** The HPET's General Capabilities ID as QEMU's hpet.c reports it (vendor 0x8086, rev 1, 3 timers, legacy capable). */
export const HPET_TIMER_BLOCK_ID = 0x8086a201;
const TPM_LOG_AREA_MINIMUM_SIZE = 64 * 1024;
const TPM2_START_METHOD_MMIO = 6;
/** FADT Flags bits (ACPI 6.5 §5.2.9, Table "Fixed ACPI Description Table Fixed Feature Flags"). */
export const FADT_FLAGS = {
  WBINVD: 0, PROC_C1: 2, SLP_BUTTON: 5, RTC_S4: 7, RESET_REG_SUP: 10, USE_PLATFORM_CLOCK: 15,
  FORCE_APIC_CLUSTER_MODEL: 18,
} as const;
/** IA-PC Boot Architecture Flags (ACPI 6.5 §5.2.9.3). */
export const IAPC_BOOT_ARCH = {
  LEGACY_DEVICES: 1 << 0, ARCH_8042: 1 << 1, VGA_NOT_PRESENT: 1 << 2, MSI_NOT_SUPPORTED: 1 << 3,
  PCIE_ASPM_CONTROLS: 1 << 4, CMOS_RTC_NOT_PRESENT: 1 << 5,
} as const;
/** AML_AS_SYSTEM_MEMORY / AML_AS_SYSTEM_IO: Generic Address Structure address space ids (§5.2.3.2). */
const GAS_SYSTEM_MEMORY = 0;
const GAS_SYSTEM_IO = 1;

function hasDevice(devices: AcpiMachine['devices']): (d: DeviceId) => boolean {
  if (devices instanceof Set) return (d) => devices.has(d);
  const rec = devices as Readonly<Partial<Record<DeviceId, boolean>>>;
  return (d) => rec[d] === true;
}

/** build_append_gas(): space id, bit width, bit offset, access size, 64-bit address. */
function gas(w: ByteWriter, spaceId: number, bitWidth: number, address: number, accessSize = 0): void {
  w.u8(spaceId).u8(bitWidth).u8(0).u8(accessSize).int(address, 8);
}

/** IAPC_BOOT_ARCH for the FADT (see AcpiMachine.mode). */
export function iapcBootArch(m: AcpiMachine): number {
  const has = hasDevice(m.devices);
  let v = has('i8042') ? IAPC_BOOT_ARCH.ARCH_8042 : 0;
  if (m.mode === 'talk') {
    // "User-visible devices on the LPC or ISA bus" (§5.2.9.3): ports with connectors, the keyboard controller.
    if (has('com1') || has('lpt1') || has('floppy') || has('i8042')) v |= IAPC_BOOT_ARCH.LEGACY_DEVICES;
    v |= IAPC_BOOT_ARCH.VGA_NOT_PRESENT;
    if (!has('rtc')) v |= IAPC_BOOT_ARCH.CMOS_RTC_NOT_PRESENT;
  }
  return v;
}

/**
 * FADT body, revision 3 as QEMU writes it for q35 (init_common_fadt_data(), acpi_get_pm_info(),
 * build_fadt()); byte offsets from ACPI 6.5 §5.2.9 are given in the comments. QEMU patches the
 * 32-bit FIRMWARE_CTRL and DSDT and the 64-bit X_DSDT; X_FIRMWARE_CTRL stays 0 (the spec lets
 * either FACS pointer be used). QEMU's ICH9 always has its PM block; the lab can switch it off, and
 * then the PM fields and SCI_INT are 0.
 */
function fadtBody(m: AcpiMachine, has: (d: DeviceId) => boolean, w: ByteWriter, linker: BiosLinker, facs: number,
  dsdt: number): void {
  const T = ACPI_BUILD_TABLE_FILE;
  const pm = has('acpi-pm');
  const io = m.pmBase;
  // x86_machine_is_smm_enabled(): a TD has no SMM, so SMI_CMD "must be zero" (ACPI 6.5 §5.2.9).
  const smm = has('apm') && !m.isTd;
  const reset = has('reset');
  let flags = (1 << FADT_FLAGS.WBINVD) | (1 << FADT_FLAGS.PROC_C1) | (1 << FADT_FLAGS.SLP_BUTTON)
    | (1 << FADT_FLAGS.RTC_S4) | (1 << FADT_FLAGS.USE_PLATFORM_CLOCK);
  if (m.cpus > 8) flags |= 1 << FADT_FLAGS.FORCE_APIC_CLUSTER_MODEL;
  if (reset) flags |= 1 << FADT_FLAGS.RESET_REG_SUP;

  const start = w.length - 36;
  w.zeros(4); // 36 FIRMWARE_CTRL
  linker.addPointer(T, w, start + 36, 4, T, facs);
  w.zeros(4); // 40 DSDT
  linker.addPointer(T, w, start + 40, 4, T, dsdt);
  w.u8(1) // 44 INT_MODEL in ACPI 1.0: Multiple APIC
    .u8(0) // 45 Preferred_PM_Profile: Unspecified
    .int(pm ? ACPI_SCI_IRQ : 0, 2) // 46 SCI_INT
    .int(smm ? ACPI_PORT_SMI_CMD : 0, 4) // 48 SMI_CMD
    .u8(smm ? ICH9_APM_ACPI_ENABLE : 0) // 52 ACPI_ENABLE
    .u8(smm ? ICH9_APM_ACPI_DISABLE : 0) // 53 ACPI_DISABLE
    .u8(0).u8(0) // 54 S4BIOS_REQ, 55 PSTATE_CNT
    .int(pm ? io : 0, 4).int(0, 4) // 56 PM1a_EVT_BLK, 60 PM1b_EVT_BLK
    .int(pm ? io + 0x04 : 0, 4).int(0, 4) // 64 PM1a_CNT_BLK, 68 PM1b_CNT_BLK
    .int(0, 4) // 72 PM2_CNT_BLK
    .int(pm ? io + 0x08 : 0, 4) // 76 PM_TMR_BLK
    .int(pm ? io + ICH9_PMIO_GPE0_STS : 0, 4).int(0, 4) // 80 GPE0_BLK, 84 GPE1_BLK
    .u8(pm ? 4 : 0).u8(pm ? 2 : 0).u8(0).u8(pm ? 4 : 0) // 88 PM1_EVT_LEN, PM1_CNT_LEN, PM2_CNT_LEN, PM_TMR_LEN
    .u8(pm ? ICH9_PMIO_GPE0_LEN : 0).u8(0).u8(0).u8(0) // 92 GPE0_BLK_LEN, GPE1_BLK_LEN, GPE1_BASE, CST_CNT
    .int(0xfff, 2).int(0xfff, 2) // 96 P_LVL2_LAT, 98 P_LVL3_LAT: C2, C3 not supported
    .int(0, 2).int(0, 2) // 100 FLUSH_SIZE, 102 FLUSH_STRIDE
    .u8(0).u8(0).u8(0).u8(0) // 104 DUTY_OFFSET, DUTY_WIDTH, DAY_ALRM, MON_ALRM
    .u8(has('rtc') ? RTC_CENTURY : 0) // 108 CENTURY
    .int(iapcBootArch(m), 2) // 109 IAPC_BOOT_ARCH
    .u8(0) // 111 Reserved
    .int(flags, 4); // 112 Flags
  if (reset) gas(w, GAS_SYSTEM_IO, 8, ICH9_RST_CNT_IOPORT); // 116 RESET_REG
  else w.zeros(12);
  w.u8(reset ? ICH9_RESET_VALUE : 0) // 128 RESET_VALUE
    .zeros(3) // 129 Reserved up to ACPI 5.0 (ARM_BOOT_ARCH, FADT Minor Version later)
    .int(0, 8) // 132 X_FIRMWARE_CTRL
    .zeros(8); // 140 X_DSDT
  linker.addPointer(T, w, start + 140, 8, T, dsdt);
  const xBlock = (bits: number, address: number): void => {
    if (pm) gas(w, GAS_SYSTEM_IO, bits, address);
    else w.zeros(12);
  };
  xBlock(32, io); // 148 X_PM1a_EVT_BLK
  w.zeros(12); // 160 X_PM1b_EVT_BLK
  xBlock(16, io + 0x04); // 172 X_PM1a_CNT_BLK
  w.zeros(24); // 184 X_PM1b_CNT_BLK, 196 X_PM2_CNT_BLK
  xBlock(32, io + 0x08); // 208 X_PM_TMR_BLK
  xBlock(ICH9_PMIO_GPE0_LEN * 8, io + ICH9_PMIO_GPE0_STS); // 220 X_GPE0_BLK
  w.zeros(12); // 232 X_GPE1_BLK; the revision 3 FADT ends at 244
}

/**
 * MADT body, revision 3 (hw/i386/acpi-common.c acpi_build_madt()). QEMU writes PCAT_COMPAT always
 * and an I/O APIC entry always, and switches to x2APIC structures per CPU only when its APIC ID is
 * above 254 — also for a TD, whose PIC it forced off: upstream does not twist the tables. The talk's
 * mode does: PCAT_COMPAT and the I/O APIC only when those devices exist, x2APIC entries for a TD.
 */
function madtBody(m: AcpiMachine, has: (d: DeviceId) => boolean, w: ByteWriter): void {
  const twist = m.mode === 'talk';
  w.int(m.lapicAddress, 4) // 36 Local Interrupt Controller Address
    .int(!twist || has('pic') ? MADT_PCAT_COMPAT : 0, 4); // 40 Flags: PCAT_COMPAT
  let x2apicMode = false;
  for (let uid = 0; uid < m.cpus; uid++) {
    const apicId = uid;
    if (m.x2apic || apicId > 254) {
      x2apicMode = true;
      // §5.2.12.12 Processor Local x2APIC: Type, Length, Reserved, X2APIC ID, Flags (Enabled), ACPI Processor UID.
      w.u8(ACPI_MADT_TYPE_LOCAL_X2APIC).u8(16).int(0, 2).int(apicId, 4).int(1, 4).int(uid, 4);
    } else {
      // §5.2.12.2 Processor Local APIC: Type, Length, ACPI Processor UID, APIC ID, Flags (Enabled).
      w.u8(ACPI_MADT_TYPE_LOCAL_APIC).u8(8).u8(uid).u8(apicId).int(1, 4);
    }
  }
  if (!twist || has('ioapic')) {
    // §5.2.12.3 I/O APIC: Type, Length, I/O APIC ID (ACPI_BUILD_IOAPIC_ID 0), Reserved, Address, GSI Base.
    w.u8(ACPI_MADT_TYPE_IO_APIC).u8(12).u8(0).u8(0).int(m.ioapicAddress, 4).int(m.ioapicGsiBase, 4);
    // §5.2.12.5 Interrupt Source Override: Type, Length, Bus (ISA), Source, GSI, Flags.
    const iso = (source: number, gsi: number, flags: number): void => {
      w.u8(ACPI_MADT_TYPE_INTERRUPT_OVERRIDE).u8(10).u8(0).u8(source).int(m.ioapicGsiBase + gsi, 4).int(flags, 2);
    };
    iso(0, 2, 0); // the PIT's IRQ0 is wired to IOAPIC pin 2; "conforms to the specifications of the bus"
    for (let irq = 1; irq < 16; irq++) {
      if (ACPI_BUILD_PCI_IRQS & (1 << irq)) iso(irq, irq, 0xd); // active high, level triggered (SCI = IRQ 9)
    }
  }
  if (x2apicMode) {
    // §5.2.12.13 Local x2APIC NMI: Type, Length, Flags, ACPI Processor UID (all), Local x2APIC LINT#, Reserved.
    w.u8(ACPI_MADT_TYPE_LOCAL_X2APIC_NMI).u8(12).int(0, 2).int(0xffffffff, 4).u8(1).zeros(3);
  } else {
    // §5.2.12.7 Local APIC NMI: Type, Length, ACPI Processor UID (0xff: all), Flags, Local APIC LINT#.
    w.u8(ACPI_MADT_TYPE_LOCAL_APIC_NMI).u8(6).u8(0xff).int(0, 2).u8(1);
  }
}

/** Builds the fw_cfg files QEMU's acpi_setup() exposes for this machine. */
export function buildAcpi(m: AcpiMachine): AcpiBuild {
  if (m.oemId.length > 6 || m.oemTableId.length > 8) throw new Error('OEM ID is 6 characters, OEM Table ID 8');
  const has = hasDevice(m.devices);
  const tables = new ByteWriter();
  const linker = new BiosLinker();
  const layout: AcpiTableLayout[] = [];
  const xsdtEntries: number[] = [];
  const T = ACPI_BUILD_TABLE_FILE;

  /** acpi_table_begin(): the 36-byte header with Length and Checksum still 0. */
  const begin = (sig: string, rev: number): number => {
    const start = tables.length;
    tables.ascii(sig, 4).int(0, 4).u8(rev).u8(0).ascii(m.oemId, 6).ascii(m.oemTableId, 8).int(1, 4)
      .ascii('BXPC', 4).int(1, 4); // OEM Revision 1; Creator ID ACPI_BUILD_APPNAME8[0..3]; Creator Revision 1
    return start;
  };
  /** acpi_table_end(): patch Length, ask the firmware to compute the Checksum over the whole table. */
  const end = (start: number, signature: string): void => {
    const length = tables.length - start;
    tables.patch(start + HDR_LENGTH, length, 4);
    linker.addChecksum(T, start, length, start + HDR_CHECKSUM);
    layout.push({ signature, offset: start, length });
  };

  linker.alloc(T, 64 /* Ensure FACS is aligned */, BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH);

  // FACS (§5.2.10) first: it is the only table with an alignment requirement. No header, no checksum.
  const facs = tables.length;
  tables.ascii('FACS', 4).int(64, 4).int(0, 4).int(0, 4).int(0, 4).int(0, 4).zeros(40);
  layout.push({ signature: 'FACS', offset: facs, length: 64 });

  // DSDT (§5.2.11.1), revision 1: integers are 32-bit.
  const dsdt = begin('DSDT', 1);
  tables.bytes(buildDsdtAml({ has, hpetAddress: m.hpetAddress }));
  end(dsdt, 'DSDT');

  xsdtEntries.push(tables.length);
  const fadt = begin('FACP', 3);
  fadtBody(m, has, tables, linker, facs, dsdt);
  end(fadt, 'FACP');

  xsdtEntries.push(tables.length);
  const madt = begin('APIC', 3);
  madtBody(m, has, tables);
  end(madt, 'APIC');

  if (has('hpet')) {
    // IA-PC HPET Specification 1.0a §3.2.4; QEMU build_hpet().
    xsdtEntries.push(tables.length);
    const hpet = begin('HPET', 1);
    tables.int(HPET_TIMER_BLOCK_ID, 4);
    gas(tables, GAS_SYSTEM_MEMORY, 0, m.hpetAddress);
    tables.u8(0) // HPET Number
      .int(0, 2) // Main Counter Minimum Clock_tick in Periodic Mode
      .u8(0); // Page Protection And OEM Attribute
    end(hpet, 'HPET');
  }

  const files = new Map<string, Uint8Array>();
  if (has('tpm')) {
    // hw/acpi/aml-build.c build_tpm2(), TPM TIS: Start Method 6 (MMIO), no control area.
    const log = new Uint8Array(TPM_LOG_AREA_MINIMUM_SIZE);
    files.set(ACPI_BUILD_TPMLOG_FILE, log);
    xsdtEntries.push(tables.length);
    const tpm2 = begin('TPM2', 4);
    tables.int(0, 2).int(0, 2) // Platform Class: TPM2_ACPI_CLASS_CLIENT; Reserved
      .int(0, 8) // Address of Control Area (0 for TIS)
      .int(TPM2_START_METHOD_MMIO, 4)
      .zeros(12) // Start Method Specific Parameters
      .int(TPM_LOG_AREA_MINIMUM_SIZE, 4); // Log Area Minimum Length (LAML)
    linker.alloc(ACPI_BUILD_TPMLOG_FILE, 1, BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH);
    const lasa = tables.length;
    tables.zeros(8);
    linker.addPointer(T, tables, lasa, 8, ACPI_BUILD_TPMLOG_FILE, 0); // Log Area Start Address (LASA)
    end(tpm2, 'TPM2');
  }

  if (has('ecam')) {
    // PCI Firmware Specification 3.0 §4.1.2; QEMU build_mcfg(): one allocation, segment 0, buses 0..size/1MiB-1.
    xsdtEntries.push(tables.length);
    const mcfg = begin('MCFG', 1);
    tables.zeros(8) // Reserved
      .int(m.ecamBase, 8).int(0, 2).u8(0).u8(Math.floor((m.ecamSize - 1) / (1024 * 1024)) & 0xff).zeros(4);
    end(mcfg, 'MCFG');
  }

  // WAET: "ACPI PM timer good" tells Windows one PM timer read is enough; QEMU always adds it.
  xsdtEntries.push(tables.length);
  const waet = begin('WAET', 1);
  tables.int(1 << 1, 4);
  end(waet, 'WAET');

  // XSDT (§5.2.8): one 64-bit pointer per table, each patched by ADD_POINTER.
  const xsdt = begin('XSDT', 1);
  for (const target of xsdtEntries) {
    const at = tables.length;
    tables.zeros(8);
    linker.addPointer(T, tables, at, 8, T, target);
  }
  end(xsdt, 'XSDT');

  // RSDP (§5.2.5) in the F-segment. x86 QEMU itself writes a revision 0 RSDP pointing at an RSDT
  // (acpi_build(): .revision = 0); the lab takes build_rsdp()'s revision 2 path, as QEMU's arm virt
  // machine does, so that guests follow the 64-bit XSDT.
  const rsdp = new ByteWriter();
  linker.alloc(ACPI_BUILD_RSDP_FILE, 16, BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG);
  rsdp.ascii('RSD PTR ', 8).u8(0).ascii(m.oemId, 6).u8(2).int(0, 4); // RsdtAddress stays 0: there is no RSDT
  linker.addChecksum(ACPI_BUILD_RSDP_FILE, 0, 20 /* ACPI rev 1.0 RSDP size */, 8);
  rsdp.int(36, 4).int(0, 8).u8(0).zeros(3); // Length, XsdtAddress, Extended Checksum, Reserved
  linker.addPointer(ACPI_BUILD_RSDP_FILE, rsdp, 24, 8, T, xsdt);
  linker.addChecksum(ACPI_BUILD_RSDP_FILE, 0, 36 /* ACPI rev 2.0 RSDP size */, 32);

  tables.zeros((ACPI_BUILD_TABLE_SIZE - (tables.length % ACPI_BUILD_TABLE_SIZE)) % ACPI_BUILD_TABLE_SIZE);
  files.set(ACPI_BUILD_RSDP_FILE, rsdp.toBytes());
  files.set(ACPI_BUILD_TABLE_FILE, tables.toBytes());
  files.set(ACPI_BUILD_LOADER_FILE, linker.serialize(ACPI_BUILD_ALIGN_SIZE));
  return { files, layout, commands: linker.commands };
}
