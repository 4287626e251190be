import { describe, expect, it } from 'vitest';
import { buildAcpi, q35AcpiMachine, type AcpiBuild } from './build';
import { byteSum, readLe, readLe64 } from './bytes';
import { runTableLoader } from './loader';
import { ACPI_BUILD_LOADER_FILE, ACPI_BUILD_RSDP_FILE, ACPI_BUILD_TABLE_FILE, BiosLinker, BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH } from './linker';
import { ByteWriter } from './bytes';
import { ALL_ACPI_DEVICES, loadTables, without } from './test-support';
import type { DeviceId } from '../devices/types';

const build = (devices: Iterable<DeviceId>, isTd = false): AcpiBuild =>
  buildAcpi(q35AcpiMachine(new Set(devices), { isTd }));

describe('runTableLoader', () => {
  it('makes every table sum to 0 once ADD_CHECKSUM has run, for a VM and for a TD', () => {
    for (const b of [build(ALL_ACPI_DEVICES), build(without('pic', 'apm', 'hpet'), true)]) {
      const { loaded } = loadTables(b);
      const tables = loaded.get(ACPI_BUILD_TABLE_FILE)!.bytes;
      for (const t of b.layout.filter((l) => l.signature !== 'FACS')) {
        expect(byteSum(tables, t.offset, t.length), t.signature).toBe(0);
      }
      const rsdp = loaded.get(ACPI_BUILD_RSDP_FILE)!.bytes;
      expect(byteSum(rsdp, 0, 20)).toBe(0); // ACPI 1.0 checksum over the first 20 bytes
      expect(byteSum(rsdp, 0, 36)).toBe(0); // Extended Checksum over the whole 36-byte RSDP
    }
  });

  it('turns blob offsets into guest-physical addresses with ADD_POINTER', () => {
    const b = build(ALL_ACPI_DEVICES);
    const { loaded } = loadTables(b, 0x7ffe0000);
    const base = loaded.get(ACPI_BUILD_TABLE_FILE)!.gpa;
    expect(base % 64).toBe(0);
    const bytes = loaded.get(ACPI_BUILD_TABLE_FILE)!.bytes;
    const at = (sig: string): number => b.layout.find((t) => t.signature === sig)!.offset;
    expect(Number(readLe64(loaded.get(ACPI_BUILD_RSDP_FILE)!.bytes, 24))).toBe(base + at('XSDT'));
    expect(readLe(bytes, at('FACP') + 40, 4)).toBe(base + at('DSDT'));
    expect(Number(readLe64(bytes, at('FACP') + 140))).toBe(base + at('DSDT'));
    expect(Number(readLe64(bytes, at('XSDT') + 36))).toBe(base + at('FACP'));
    // TPM2 Log Area Start Address points at the separately allocated etc/tpm/log.
    expect(Number(readLe64(bytes, at('TPM2') + 68))).toBe(loaded.get('etc/tpm/log')!.gpa);
  });

  it('leaves the fw_cfg blobs themselves untouched', () => {
    const b = build(ALL_ACPI_DEVICES);
    const before = b.files.get(ACPI_BUILD_TABLE_FILE)!.slice();
    const { loaded } = loadTables(b);
    const after = b.files.get(ACPI_BUILD_TABLE_FILE)!;
    expect(after.every((v, i) => v === before[i])).toBe(true);
    expect(loaded.get(ACPI_BUILD_TABLE_FILE)!.bytes.every((v, i) => v === before[i])).toBe(false);
  });

  it('refuses commands the firmware would refuse', () => {
    const linker = new BiosLinker();
    const a = new ByteWriter().zeros(16);
    linker.alloc('a', 16, BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH);
    linker.addPointer('a', a, 0, 8, 'b', 0);
    const files = new Map([['a', a.toBytes()], [ACPI_BUILD_LOADER_FILE, linker.serialize(4096)]]);
    expect(() => runTableLoader(files, () => 0x1000)).toThrow(/"b" was not allocated/);
    expect(() => runTableLoader(files, () => 0x1001)).toThrow(/not 16-aligned/);

    const past = new BiosLinker();
    const c = new ByteWriter().zeros(8);
    past.alloc('c', 1, BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH);
    past.addPointer('c', c, 0, 8, 'c', 8);
    const files2 = new Map([['c', c.toBytes()], [ACPI_BUILD_LOADER_FILE, past.serialize(128)]]);
    expect(() => runTableLoader(files2, () => 0x2000)).toThrow(/points past the end/);
  });
});
