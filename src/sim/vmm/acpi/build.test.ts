import { describe, expect, it } from 'vitest';
import { buildAcpi, q35AcpiMachine, ACPI_BUILD_TABLE_SIZE, IAPC_BOOT_ARCH, type AcpiBuild } from './build';
import { readAscii, readLe, readLe64 } from './bytes';
import { decodeTables } from './decode';
import {
  ACPI_BUILD_LOADER_FILE, ACPI_BUILD_RSDP_FILE, ACPI_BUILD_TABLE_FILE, ACPI_BUILD_TPMLOG_FILE,
  BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG, BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH, parseTableLoader,
} from './linker';
import { ALL_ACPI_DEVICES, acpiFacts, loadTables, without } from './test-support';
import type { DeviceId } from '../devices/types';

const build = (devices: Iterable<DeviceId>, opts: Partial<{ isTd: boolean; cpus: number; mode: 'upstream' | 'talk' }> = {}): AcpiBuild =>
  buildAcpi(q35AcpiMachine(new Set(devices), { isTd: opts.isTd ?? false, cpus: opts.cpus, mode: opts.mode }));

const blob = (b: AcpiBuild): Uint8Array => b.files.get(ACPI_BUILD_TABLE_FILE)!;
const table = (b: AcpiBuild, sig: string): Uint8Array => {
  const l = b.layout.find((t) => t.signature === sig);
  if (!l) throw new Error(`no ${sig}`);
  return blob(b).subarray(l.offset, l.offset + l.length);
};
const summary = (b: AcpiBuild) => {
  const t = loadTables(b);
  return acpiFacts(t.read, t.rsdpGpa);
};

describe('fw_cfg files and the linker/loader protocol', () => {
  it('writes 128-byte BiosLinkerLoaderEntry commands, ALLOCATE entries first (prepended: the RSDP\'s leads)', () => {
    const b = build(ALL_ACPI_DEVICES);
    const loader = b.files.get(ACPI_BUILD_LOADER_FILE)!;
    expect(loader.length % 0x1000).toBe(0); // acpi_align_size(cmd_blob, ACPI_BUILD_ALIGN_SIZE)
    // Entry 0, raw: u32 command at 0, file[56] at 4, u32 align at 60, u8 zone at 64.
    expect(readLe(loader, 0, 4)).toBe(1);
    expect(readAscii(loader, 4, 13)).toBe(ACPI_BUILD_RSDP_FILE);
    expect(Array.from(loader.subarray(4 + 13, 60)).every((c) => c === 0)).toBe(true);
    expect(readLe(loader, 60, 4)).toBe(16);
    expect(loader[64]).toBe(BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG);
    const cmds = parseTableLoader(loader);
    expect(cmds).toEqual(b.commands);
    expect(cmds.slice(0, 3)).toEqual([
      { command: 'ALLOCATE', file: ACPI_BUILD_RSDP_FILE, align: 16, zone: BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG },
      { command: 'ALLOCATE', file: ACPI_BUILD_TPMLOG_FILE, align: 1, zone: BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH },
      { command: 'ALLOCATE', file: ACPI_BUILD_TABLE_FILE, align: 64, zone: BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH },
    ]);
    expect(cmds.slice(3).some((c) => c.command === 'ALLOCATE')).toBe(false);
    // One ADD_CHECKSUM per table with a header, plus the RSDP's two.
    const sums = cmds.filter((c) => c.command === 'ADD_CHECKSUM');
    expect(sums).toHaveLength(b.layout.filter((t) => t.signature !== 'FACS').length + 2);
  });

  it('pads etc/acpi/tables to 128 KiB with the FACS, 64-byte aligned, at offset 0', () => {
    const b = build(ALL_ACPI_DEVICES);
    expect(blob(b).length).toBe(ACPI_BUILD_TABLE_SIZE);
    expect(b.layout.map((t) => t.signature)).toEqual(['FACS', 'DSDT', 'FACP', 'APIC', 'HPET', 'TPM2', 'MCFG', 'WAET', 'XSDT']);
    expect(b.layout[0]).toEqual({ signature: 'FACS', offset: 0, length: 64 });
  });

  it('stores pointers as offsets inside the blob and leaves checksums at 0 for the firmware', () => {
    const b = build(ALL_ACPI_DEVICES);
    const off = (sig: string): number => b.layout.find((t) => t.signature === sig)!.offset;
    const fadt = table(b, 'FACP');
    expect(readLe(fadt, 36, 4)).toBe(off('FACS')); // FIRMWARE_CTRL
    expect(readLe(fadt, 40, 4)).toBe(off('DSDT')); // DSDT
    expect(Number(readLe64(fadt, 140))).toBe(off('DSDT')); // X_DSDT
    const xsdt = table(b, 'XSDT');
    const entries = [];
    for (let o = 36; o < xsdt.length; o += 8) entries.push(Number(readLe64(xsdt, o)));
    expect(entries).toEqual(['FACP', 'APIC', 'HPET', 'TPM2', 'MCFG', 'WAET'].map(off));
    for (const t of b.layout.filter((l) => l.signature !== 'FACS')) expect(blob(b)[t.offset + 9]).toBe(0);
    const rsdp = b.files.get(ACPI_BUILD_RSDP_FILE)!;
    expect(rsdp.length).toBe(36);
    expect(Number(readLe64(rsdp, 24))).toBe(off('XSDT')); // XsdtAddress
  });

  it('writes QEMU\'s table headers: OEM "BOCHS " / "BXPC    ", creator "BXPC", the revisions QEMU uses', () => {
    const b = build(ALL_ACPI_DEVICES);
    const revisions: Record<string, number> = { DSDT: 1, FACP: 3, APIC: 3, HPET: 1, TPM2: 4, MCFG: 1, WAET: 1, XSDT: 1 };
    for (const l of b.layout.filter((t) => t.signature !== 'FACS')) {
      const t = table(b, l.signature);
      expect(readAscii(t, 0, 4)).toBe(l.signature);
      expect(readLe(t, 4, 4)).toBe(l.length);
      expect(t[8]).toBe(revisions[l.signature]);
      expect(readAscii(t, 10, 6)).toBe('BOCHS ');
      expect(readAscii(t, 16, 8)).toBe('BXPC    ');
      expect(readAscii(t, 28, 4)).toBe('BXPC');
    }
    const rsdp = b.files.get(ACPI_BUILD_RSDP_FILE)!;
    expect(readAscii(rsdp, 0, 8)).toBe('RSD PTR ');
    expect(rsdp[15]).toBe(2); // Revision
    expect(readAscii(rsdp, 9, 6)).toBe('BOCHS ');
  });
});

describe('MADT', () => {
  it('sets PCAT_COMPAT always upstream, as QEMU does, and in the talk\'s mode only with the 8259 PIC', () => {
    expect(readLe(table(build(ALL_ACPI_DEVICES), 'APIC'), 40, 4)).toBe(1);
    expect(readLe(table(build(without('pic')), 'APIC'), 40, 4)).toBe(1);
    expect(readLe(table(build(without('pic'), { mode: 'talk' }), 'APIC'), 40, 4)).toBe(0);
    expect(summary(build(without('pic'), { mode: 'talk' })).pcatCompat).toBe(false);
  });

  it('lists each CPU as a Processor Local APIC with the Local APIC NMI on LINT1 for an ordinary VM', () => {
    const s = summary(build(ALL_ACPI_DEVICES, { cpus: 4 }));
    expect(s.madtEntries.filter((e) => e.type === 'lapic')).toEqual([0, 1, 2, 3].map((i) => (
      { type: 'lapic', processorId: i, apicId: i, enabled: true })));
    expect(s.madtEntries.filter((e) => e.type === 'lapic-nmi')).toEqual([{ type: 'lapic-nmi', processorId: 0xff, flags: 0, lint: 1 }]);
  });

  it('gives a TD Processor Local APIC entries upstream (APIC IDs below 255), as QEMU does', () => {
    const s = summary(build(without('pic', 'apm'), { isTd: true, cpus: 2 }));
    expect(s.madtEntries.filter((e) => e.type === 'lapic')).toHaveLength(2);
    expect(s.madtEntries.map((e) => e.type)).not.toContain('x2apic');
  });

  it('uses Processor Local x2APIC (type 9) and Local x2APIC NMI (type 0xA) entries for a TD in the talk\'s mode', () => {
    const s = summary(build(without('pic', 'apm'), { isTd: true, cpus: 2, mode: 'talk' }));
    expect(s.madtEntries.map((e) => e.type)).not.toContain('lapic');
    expect(s.madtEntries.filter((e) => e.type === 'x2apic')).toEqual([
      { type: 'x2apic', uid: 0, apicId: 0, enabled: true }, { type: 'x2apic', uid: 1, apicId: 1, enabled: true }]);
    expect(s.madtEntries).toContainEqual({ type: 'x2apic-nmi', uid: 0xffffffff, flags: 0, lint: 1 });
    expect(s.madtEntries.map((e) => e.type)).not.toContain('mp-wakeup'); // TDVF adds it, not QEMU
  });

  it('describes the I/O APIC and QEMU\'s interrupt source overrides (in the talk\'s mode only when the IOAPIC is there)', () => {
    const s = summary(build(ALL_ACPI_DEVICES));
    expect(s.madtEntries).toContainEqual({ type: 'ioapic', id: 0, address: 0xfec00000, gsiBase: 0 });
    const isos = s.madtEntries.filter((e) => e.type === 'override');
    expect(isos).toEqual([
      { type: 'override', bus: 0, source: 0, gsi: 2, flags: 0 },
      ...[5, 9, 10, 11].map((irq) => ({ type: 'override', bus: 0, source: irq, gsi: irq, flags: 0xd })),
    ]);
    expect(summary(build(without('ioapic'))).madtEntries).toContainEqual({ type: 'ioapic', id: 0, address: 0xfec00000, gsiBase: 0 });
    const off = summary(build(without('ioapic'), { mode: 'talk' }));
    expect(off.madtEntries.some((e) => e.type === 'ioapic' || e.type === 'override')).toBe(false);
  });
});

describe('FADT', () => {
  // ACPI 6.5 §5.2.9: SCI_INT at 46, SMI_CMD 48, ACPI_ENABLE 52, ACPI_DISABLE 53, PM1a_EVT_BLK 56,
  // PM1a_CNT_BLK 64, PM_TMR_BLK 76, GPE0_BLK 80, IAPC_BOOT_ARCH 109, Flags 112, RESET_REG 116, RESET_VALUE 128.
  it('is revision 3, 244 bytes, with the ICH9 PM block from 0x600 and the SCI on IRQ 9', () => {
    const f = table(build(ALL_ACPI_DEVICES), 'FACP');
    expect(f.length).toBe(244);
    expect(readLe(f, 46, 2)).toBe(9);
    expect(readLe(f, 56, 4)).toBe(0x600);
    expect(readLe(f, 64, 4)).toBe(0x604);
    expect(readLe(f, 76, 4)).toBe(0x608);
    expect(readLe(f, 80, 4)).toBe(0x620);
    expect([f[88], f[89], f[91], f[92]]).toEqual([4, 2, 4, 16]);
    // X_PM_TMR_BLK GAS: SystemIO, 32 bits, address 0x608.
    expect([f[208], f[209], Number(readLe64(f, 212))]).toEqual([1, 32, 0x608]);
  });

  it('gives SMI_CMD 0xb2 with ACPI_ENABLE 2 / ACPI_DISABLE 3 only with SMM, which a TD never has', () => {
    const vm = table(build(ALL_ACPI_DEVICES), 'FACP');
    expect([readLe(vm, 48, 4), vm[52], vm[53]]).toEqual([0xb2, 2, 3]);
    const noApm = table(build(without('apm')), 'FACP');
    expect([readLe(noApm, 48, 4), noApm[52], noApm[53]]).toEqual([0, 0, 0]);
    const td = table(build(without('pic'), { isTd: true }), 'FACP');
    expect([readLe(td, 48, 4), td[52], td[53]]).toEqual([0, 0, 0]);
  });

  it('describes the 0xcf9 reset register (value 0xf, RESET_REG_SUP) only with the reset device', () => {
    const on = table(build(ALL_ACPI_DEVICES), 'FACP');
    expect([on[116], on[117], Number(readLe64(on, 120)), on[128]]).toEqual([1, 8, 0xcf9, 0xf]);
    expect(readLe(on, 112, 4)).toBe(0x84a5); // WBINVD, PROC_C1, SLP_BUTTON, RTC_S4, RESET_REG_SUP, USE_PLATFORM_CLOCK
    const off = table(build(without('reset')), 'FACP');
    expect(Array.from(off.subarray(116, 129)).every((v) => v === 0)).toBe(true);
    expect(readLe(off, 112, 4) & (1 << 10)).toBe(0);
  });

  it('upstream: IAPC_BOOT_ARCH carries only the 8042 bit, which follows the i8042 switch', () => {
    expect(readLe(table(build(ALL_ACPI_DEVICES), 'FACP'), 109, 2)).toBe(IAPC_BOOT_ARCH.ARCH_8042);
    expect(readLe(table(build(without('i8042')), 'FACP'), 109, 2)).toBe(0);
    expect(readLe(table(build(without('rtc')), 'FACP'), 109, 2)).toBe(IAPC_BOOT_ARCH.ARCH_8042);
  });

  it('talk mode: LEGACY_DEVICES, VGA Not Present and CMOS RTC Not Present follow the device switches', () => {
    const boot = (devs: Iterable<DeviceId>): number => summary(build(devs, { mode: 'talk' })).iapcBootArch;
    const { LEGACY_DEVICES, ARCH_8042, VGA_NOT_PRESENT, MSI_NOT_SUPPORTED, CMOS_RTC_NOT_PRESENT } = IAPC_BOOT_ARCH;
    expect(boot(ALL_ACPI_DEVICES)).toBe(LEGACY_DEVICES | ARCH_8042 | VGA_NOT_PRESENT);
    expect(boot(without('rtc'))).toBe(LEGACY_DEVICES | ARCH_8042 | VGA_NOT_PRESENT | CMOS_RTC_NOT_PRESENT);
    expect(boot(without('i8042', 'com1', 'lpt1', 'floppy'))).toBe(VGA_NOT_PRESENT);
    expect(boot(without('i8042')) & MSI_NOT_SUPPORTED).toBe(0);
  });
});

describe('HPET and MCFG', () => {
  it('has no HPET table (and no \\_SB.HPET) without an HPET', () => {
    const b = build(without('hpet'));
    expect(b.layout.map((t) => t.signature)).not.toContain('HPET');
    const s = summary(b);
    expect(s.hasHpet).toBe(false);
    expect(s.dsdtDevices.map((d) => d.hid)).not.toContain('PNP0103');
  });

  it('writes the HPET table as QEMU does: block id 0x8086a201, SystemMemory GAS at 0xfed00000', () => {
    const h = table(build(ALL_ACPI_DEVICES), 'HPET');
    expect(h.length).toBe(56);
    expect(readLe(h, 36, 4)).toBe(0x8086a201);
    expect([h[40], Number(readLe64(h, 44))]).toEqual([0, 0xfed00000]);
  });

  it('gives MCFG one allocation at the ECAM base, segment 0, buses 0 to size/1 MiB - 1', () => {
    const m = table(build(ALL_ACPI_DEVICES), 'MCFG');
    expect(m.length).toBe(60);
    expect([Number(readLe64(m, 44)), readLe(m, 52, 2), m[54], m[55]]).toEqual([0xb0000000, 0, 0, 255]);
    const small = buildAcpi({ ...q35AcpiMachine(new Set(ALL_ACPI_DEVICES), { isTd: false }), ecamSize: 64 << 20 });
    expect(table(small, 'MCFG')[55]).toBe(63);
    const none = summary(build(without('ecam')));
    expect([none.hasMcfg, none.ecamBase]).toEqual([false, null]);
  });
});

describe('DSDT', () => {
  const hids = (devs: Iterable<DeviceId>): string[] => summary(build(devs)).dsdtDevices.map((d) => d.hid);

  it('lists \\_SB.PCI0, the LPC bridge and one device per enabled ISA device', () => {
    expect(summary(build(ALL_ACPI_DEVICES)).dsdtDevices).toEqual([
      { name: '\\_SB.PCI0', hid: 'PNP0A08' },
      { name: '\\_SB.HPET', hid: 'PNP0103' },
      { name: '\\_SB.PCI0.ISA', hid: '' },
      { name: '\\_SB.PCI0.ISA.RTC', hid: 'PNP0B00' },
      { name: '\\_SB.PCI0.ISA.COM1', hid: 'PNP0501' },
      { name: '\\_SB.PCI0.ISA.LPT1', hid: 'PNP0400' },
      { name: '\\_SB.PCI0.ISA.FDC0', hid: 'PNP0700' },
      { name: '\\_SB.PCI0.ISA.KBD', hid: 'PNP0303' },
      { name: '\\_SB.PCI0.ISA.MOU', hid: 'PNP0F13' },
      { name: '\\_SB.PCI0.ISA.TPM', hid: 'MSFT0101' },
    ]);
  });

  it('has PNP0501 only with COM1, PNP0303/PNP0F13 only with the i8042, and so on', () => {
    const cases: [DeviceId, string[]][] = [
      ['com1', ['PNP0501']], ['i8042', ['PNP0303', 'PNP0F13']], ['rtc', ['PNP0B00']], ['lpt1', ['PNP0400']],
      ['floppy', ['PNP0700']], ['hpet', ['PNP0103']], ['tpm', ['MSFT0101']],
    ];
    for (const [dev, ids] of cases) {
      const off = hids(without(dev));
      for (const id of ids) {
        expect(hids(ALL_ACPI_DEVICES)).toContain(id);
        expect(off).not.toContain(id);
      }
    }
  });

  it('gives the devices their real ports and IRQs in _CRS', () => {
    const t = loadTables(build(ALL_ACPI_DEVICES));
    const dsdt = decodeTables(t.read, t.rsdpGpa).tables.find((v) => v.signature === 'DSDT')!;
    const devices = dsdt.tree.find((n) => n.label === 'Devices')!.children!;
    const crs = (path: string): string[] => devices.find((d) => d.label === `Device ${path}`)!
      .children!.find((c) => c.label === '_CRS')!.children!.map((c) => c.label);
    expect(crs('\\_SB.PCI0.ISA.COM1')).toEqual(['IO(Decode16, 0x03f8, 0x03f8, 0x00, 0x08)', 'IRQNoFlags() {4}']);
    expect(crs('\\_SB.PCI0.ISA.KBD')).toEqual(['IO(Decode16, 0x0060, 0x0060, 0x01, 0x01)',
      'IO(Decode16, 0x0064, 0x0064, 0x01, 0x01)', 'IRQNoFlags() {1}']);
    expect(crs('\\_SB.PCI0.ISA.FDC0')).toContain('DMA(Compatibility, NotBusMaster, Transfer8) {2}');
    expect(crs('\\_SB.HPET')).toEqual(['Memory32Fixed(ReadOnly, 0xfed00000, 0x00000400)']);
    expect(crs('\\_SB.PCI0.ISA.TPM')).toEqual(['Memory32Fixed(ReadWrite, 0xfed40000, 0x00005000)']);
  });
});
