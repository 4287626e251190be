/**
 * QEMU's BIOS linker/loader (hw/acpi/bios-linker-loader.c): the "etc/table-loader" fw_cfg file is an
 * array of 128-byte BiosLinkerLoaderEntry commands telling the firmware to allocate fw_cfg files in
 * guest memory, patch pointers between them and compute checksums. QEMU cannot write the final
 * tables itself because only the firmware knows where they will live.
 */
import { ByteWriter, readAscii, readLe } from './bytes';

export const BIOS_LINKER_LOADER_COMMAND_ALLOCATE = 1;
export const BIOS_LINKER_LOADER_COMMAND_ADD_POINTER = 2;
export const BIOS_LINKER_LOADER_COMMAND_ADD_CHECKSUM = 3;
export const BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH = 1;
/** The 0xe0000–0xfffff F-segment, where legacy OSes scan for the RSDP. */
export const BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG = 2;

/** sizeof(BiosLinkerLoaderEntry): u32 command + a union padded to char pad[124]. */
export const BIOS_LINKER_LOADER_ENTRY_SIZE = 128;
/** BIOS_LINKER_LOADER_FILESZ = FW_CFG_MAX_FILE_PATH (include/standard-headers/linux/qemu_fw_cfg.h). */
export const BIOS_LINKER_LOADER_FILESZ = 56;

/** fw_cfg file names (hw/acpi/aml-build.h / hw/i386/acpi-build.c). */
export const ACPI_BUILD_TABLE_FILE = 'etc/acpi/tables';
export const ACPI_BUILD_RSDP_FILE = 'etc/acpi/rsdp';
export const ACPI_BUILD_LOADER_FILE = 'etc/table-loader';
export const ACPI_BUILD_TPMLOG_FILE = 'etc/tpm/log';

export type AllocZone = typeof BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH | typeof BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG;

export type LoaderCommand =
  | { command: 'ALLOCATE'; file: string; align: number; zone: AllocZone }
  | { command: 'ADD_POINTER'; destFile: string; srcFile: string; offset: number; size: 1 | 2 | 4 | 8 }
  | { command: 'ADD_CHECKSUM'; file: string; offset: number; start: number; length: number };

/*
 * Entry layout (all fields little-endian, struct QEMU_PACKED):
 *   0   u32 command
 *   ALLOCATE:     4 file[56], 60 u32 align, 64 u8 zone
 *   ADD_POINTER:  4 dest_file[56], 60 src_file[56], 116 u32 offset, 120 u8 size
 *   ADD_CHECKSUM: 4 file[56], 60 u32 offset, 64 u32 start, 68 u32 length
 */
function encodeEntry(c: LoaderCommand): Uint8Array {
  const w = new ByteWriter();
  switch (c.command) {
    case 'ALLOCATE':
      w.int(BIOS_LINKER_LOADER_COMMAND_ALLOCATE, 4).ascii(fileName(c.file), BIOS_LINKER_LOADER_FILESZ)
        .int(c.align, 4).u8(c.zone);
      break;
    case 'ADD_POINTER':
      w.int(BIOS_LINKER_LOADER_COMMAND_ADD_POINTER, 4).ascii(fileName(c.destFile), BIOS_LINKER_LOADER_FILESZ)
        .ascii(fileName(c.srcFile), BIOS_LINKER_LOADER_FILESZ).int(c.offset, 4).u8(c.size);
      break;
    case 'ADD_CHECKSUM':
      w.int(BIOS_LINKER_LOADER_COMMAND_ADD_CHECKSUM, 4).ascii(fileName(c.file), BIOS_LINKER_LOADER_FILESZ)
        .int(c.offset, 4).int(c.start, 4).int(c.length, 4);
      break;
  }
  w.zeros(BIOS_LINKER_LOADER_ENTRY_SIZE - w.length);
  return w.toBytes();
}

/** strncpy(entry.file, name, sizeof - 1): the name always ends with at least one NUL. */
function fileName(name: string): string {
  if (name.length > BIOS_LINKER_LOADER_FILESZ - 1) throw new Error(`fw_cfg file name too long: ${name}`);
  return name;
}

function cString(b: Uint8Array, offset: number): string {
  const s = readAscii(b, offset, BIOS_LINKER_LOADER_FILESZ);
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

/**
 * Decodes "etc/table-loader". Entries with a command the firmware does not know (0 is the zero
 * padding QEMU adds to round the file up to 4 KiB; 4 is WRITE_POINTER) are skipped, as OVMF does.
 */
export function parseTableLoader(blob: Uint8Array): LoaderCommand[] {
  const out: LoaderCommand[] = [];
  for (let o = 0; o + BIOS_LINKER_LOADER_ENTRY_SIZE <= blob.length; o += BIOS_LINKER_LOADER_ENTRY_SIZE) {
    const command = readLe(blob, o, 4);
    if (command === BIOS_LINKER_LOADER_COMMAND_ALLOCATE) {
      const zone = blob[o + 64];
      out.push({
        command: 'ALLOCATE', file: cString(blob, o + 4), align: readLe(blob, o + 60, 4),
        zone: zone === BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG ? BIOS_LINKER_LOADER_ALLOC_ZONE_FSEG
          : BIOS_LINKER_LOADER_ALLOC_ZONE_HIGH,
      });
    } else if (command === BIOS_LINKER_LOADER_COMMAND_ADD_POINTER) {
      const size = blob[o + 120];
      if (size !== 1 && size !== 2 && size !== 4 && size !== 8) {
        throw new Error(`table-loader entry ${o / BIOS_LINKER_LOADER_ENTRY_SIZE}: ADD_POINTER size ${size}`);
      }
      out.push({
        command: 'ADD_POINTER', destFile: cString(blob, o + 4), srcFile: cString(blob, o + 60),
        offset: readLe(blob, o + 116, 4), size,
      });
    } else if (command === BIOS_LINKER_LOADER_COMMAND_ADD_CHECKSUM) {
      out.push({
        command: 'ADD_CHECKSUM', file: cString(blob, o + 4), offset: readLe(blob, o + 60, 4),
        start: readLe(blob, o + 64, 4), length: readLe(blob, o + 68, 4),
      });
    }
  }
  return out;
}

/**
 * The builder side (BIOSLinker). As in QEMU, ALLOCATE entries are prepended ("Alloc entries must
 * come first, so prepend them"), so the file allocated last is listed first; the others keep their
 * order. add_pointer() stores the source offset in the destination blob, so the firmware's
 * "add the source file's address" yields a pointer to that offset.
 */
export class BiosLinker {
  private allocs: LoaderCommand[] = [];
  private rest: LoaderCommand[] = [];

  alloc(file: string, align: number, zone: AllocZone): void {
    if (align & (align - 1)) throw new Error(`alignment ${align} is not a power of two`);
    this.allocs.unshift({ command: 'ALLOCATE', file, align, zone });
  }

  addPointer(destFile: string, dest: ByteWriter, offset: number, size: 1 | 2 | 4 | 8, srcFile: string,
    srcOffset: number): void {
    dest.patch(offset, srcOffset, size);
    this.rest.push({ command: 'ADD_POINTER', destFile, srcFile, offset, size });
  }

  addChecksum(file: string, start: number, length: number, checksumOffset: number): void {
    this.rest.push({ command: 'ADD_CHECKSUM', file, offset: checksumOffset, start, length });
  }

  get commands(): LoaderCommand[] {
    return [...this.allocs, ...this.rest];
  }

  /** The "etc/table-loader" blob, padded with zero entries to `align` (acpi_align_size). */
  serialize(align: number): Uint8Array {
    const w = new ByteWriter();
    for (const c of this.commands) w.bytes(encodeEntry(c));
    w.zeros((align - (w.length % align)) % align);
    return w.toBytes();
  }
}
