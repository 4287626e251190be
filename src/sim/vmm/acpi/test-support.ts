/**
 * Test support for the ACPI tests (not used by the simulator): a firmware-like placement of the
 * fw_cfg blobs into a sparse guest memory, the way OVMF or SeaBIOS would run the table loader.
 */
import type { DeviceId } from '../devices/types';
import type { AcpiBuild } from './build';
import { runTableLoader, type LoadedFile } from './loader';
import { ACPI_BUILD_RSDP_FILE, BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG } from './linker';
import { decodeTables, type ReadGuest } from './decode';
import { parseFadt, parseHeader, parseMadt, parseMcfg, parseRsdp, rootEntries, type MadtEntry } from '../../guest/kernel/boot-acpi';

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

export interface AcpiFacts {
  /** MADT Flags bit 0: a PC-AT dual 8259 is present. */
  pcatCompat: boolean;
  /** FADT IAPC_BOOT_ARCH (0 when there is no FADT). */
  iapcBootArch: number;
  madtEntries: MadtEntry[];
  /** The DSDT's devices by path, with their _HID ('' when none), as the decoder's tree shows them. */
  dsdtDevices: { name: string; hid: string }[];
  hasHpet: boolean;
  /** The first MCFG allocation's base (null without an MCFG). */
  ecamBase: number | null;
  hasMcfg: boolean;
}

/** What the ACPI tests check of loaded tables: read by the guest's parsers, and the DSDT's devices from the decoded tree. */
export function acpiFacts(read: ReadGuest, rsdpGpa: number): AcpiFacts {
  const facts: AcpiFacts = { pcatCompat: false, iapcBootArch: 0, madtEntries: [], dsdtDevices: [], hasHpet: false, ecamBase: null, hasMcfg: false };
  const rsdp = parseRsdp(read(rsdpGpa, 36) ?? new Uint8Array(0));
  if (!rsdp) throw new Error('no RSDP');
  const rootGpa = rsdp.xsdt || rsdp.rsdt;
  const table = (gpa: number) => read(gpa, parseHeader(read(gpa, 36)!).length)!;
  for (const gpa of rootEntries(table(rootGpa))) {
    const t = table(gpa);
    const sig = parseHeader(t).signature;
    if (sig === 'APIC') {
      const madt = parseMadt(t);
      facts.pcatCompat = (madt.flags & 1) !== 0;
      facts.madtEntries = madt.entries;
    } else if (sig === 'FACP') facts.iapcBootArch = parseFadt(t).bootFlags;
    else if (sig === 'HPET') facts.hasHpet = true;
    else if (sig === 'MCFG') {
      facts.hasMcfg = true;
      facts.ecamBase = parseMcfg(t)[0]?.base ?? null;
    }
  }
  const dsdt = decodeTables(read, rsdpGpa).tables.find((v) => v.signature === 'DSDT');
  const devices = dsdt?.tree.find((n) => n.label === 'Devices')?.children ?? [];
  facts.dsdtDevices = devices.map((n) => ({ name: n.label.replace(/^Device /, ''), hid: n.value ?? '' }));
  return facts;
}
