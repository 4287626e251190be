/**
 * Test support for the ACPI tests (not used by the simulator): a firmware-like placement of the
 * fw_cfg blobs into a sparse guest memory, the way OVMF or SeaBIOS would run the table loader.
 */
import type { DeviceId } from '../devices/types';
import type { AcpiBuild } from './build';
import { runTableLoader, type LoadedFile } from './loader';
import { ACPI_BUILD_RSDP_FILE, BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG } from './linker';
import type { ReadGuest } from './decode';

/** Every device that shows up somewhere in the ACPI tables. */
export const ALL_ACPI_DEVICES: readonly DeviceId[] = [
  'pic', 'pit', 'i8042', 'rtc', 'com1', 'lpt1', 'floppy', 'apm', 'reset', 'acpi-pm', 'hpet', 'ioapic', 'lapic', 'tpm',
  'ecam',
];

export const without = (...off: DeviceId[]): Set<DeviceId> => new Set(ALL_ACPI_DEVICES.filter((d) => !off.includes(d)));

export interface LoadedTables {
  loaded: Map<string, LoadedFile>;
  rsdpGpa: number;
  read: ReadGuest;
  /** Writes one byte of guest memory (to corrupt a table on purpose). */
  poke: (gpa: number, value: number) => void;
}

/** Runs the table loader with FSEG blobs at 0xf0000 and the others from `highBase` upwards. */
export function loadTables(build: AcpiBuild, highBase = 0x7f000000): LoadedTables {
  let next = highBase;
  const loaded = runTableLoader(build.files, (_file, size, align, zone) => {
    if (zone === BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG) return 0xf0000;
    next = Math.ceil(next / align) * align;
    const gpa = next;
    next += size;
    return gpa;
  });
  const find = (gpa: number, len: number): [LoadedFile, number] | null => {
    for (const f of loaded.values()) {
      if (gpa >= f.gpa && gpa + len <= f.gpa + f.bytes.length) return [f, gpa - f.gpa];
    }
    return null;
  };
  return {
    loaded,
    rsdpGpa: loaded.get(ACPI_BUILD_RSDP_FILE)!.gpa,
    read: (gpa, len) => {
      const hit = find(gpa, len);
      return hit ? hit[0].bytes.slice(hit[1], hit[1] + len) : null;
    },
    poke: (gpa, value) => {
      const hit = find(gpa, 1);
      if (!hit) throw new Error(`nothing loaded at ${gpa}`);
      hit[0].bytes[hit[1]] = value;
    },
  };
}
