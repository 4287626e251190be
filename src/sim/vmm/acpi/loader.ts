/**
 * A reference executor of QEMU's "etc/table-loader" commands, doing what OVMF's
 * InstallQemuFwCfgTables() (OvmfPkg/AcpiPlatformDxe/QemuFwCfgAcpi.c) and SeaBIOS's romfile_loader
 * do: ALLOCATE copies a fw_cfg file into guest memory, ADD_POINTER adds the source file's address to
 * the little-endian integer already in the destination, ADD_CHECKSUM makes a byte range sum to 0.
 */
import { readLe64, writeLe } from './bytes';
import { ACPI_BUILD_LOADER_FILE, parseTableLoader, type AllocZone } from './linker';

export interface LoadedFile {
  gpa: number;
  /** The file's contents as patched; the caller copies them to guest memory at `gpa`. */
  bytes: Uint8Array;
}

/**
 * Runs the commands in files.get("etc/table-loader") against the other files. `allocate` returns
 * the guest-physical address for a blob of `size` bytes aligned to `align` in `zone` (FSEG is the
 * 0xe0000–0xfffff segment; a UEFI firmware may ignore the zone, as OVMF does). Throws on a command
 * that names a file never allocated or patches outside it, as the firmware would refuse to.
 */
export function runTableLoader(files: Map<string, Uint8Array>,
  allocate: (file: string, size: number, align: number, zone: AllocZone) => number): Map<string, LoadedFile> {
  const blob = files.get(ACPI_BUILD_LOADER_FILE);
  if (!blob) throw new Error(`fw_cfg file ${ACPI_BUILD_LOADER_FILE} missing`);
  const loaded = new Map<string, LoadedFile>();
  const get = (name: string, what: string): LoadedFile => {
    const f = loaded.get(name);
    if (!f) throw new Error(`${what}: file "${name}" was not allocated`);
    return f;
  };
  for (const c of parseTableLoader(blob)) {
    switch (c.command) {
      case 'ALLOCATE': {
        const src = files.get(c.file);
        if (!src) throw new Error(`ALLOCATE: no fw_cfg file "${c.file}"`);
        if (loaded.has(c.file)) throw new Error(`ALLOCATE: "${c.file}" allocated twice`);
        const gpa = allocate(c.file, src.length, c.align, c.zone);
        if (c.align > 1 && gpa % c.align !== 0) throw new Error(`ALLOCATE: ${c.file} at ${gpa} is not ${c.align}-aligned`);
        loaded.set(c.file, { gpa, bytes: src.slice() });
        break;
      }
      case 'ADD_POINTER': {
        const dest = get(c.destFile, 'ADD_POINTER');
        const src = get(c.srcFile, 'ADD_POINTER');
        if (c.offset + c.size > dest.bytes.length) throw new Error(`ADD_POINTER: offset ${c.offset} outside ${c.destFile}`);
        const padded = new Uint8Array(8);
        padded.set(dest.bytes.subarray(c.offset, c.offset + c.size));
        const offsetInSrc = readLe64(padded, 0);
        // OVMF's ProcessCmdAddPointer() refuses a pointer that does not land inside the source blob.
        if (offsetInSrc >= BigInt(src.bytes.length)) {
          throw new Error(`ADD_POINTER: ${c.destFile}+${c.offset} points past the end of ${c.srcFile}`);
        }
        writeLe(dest.bytes, c.offset, offsetInSrc + BigInt(src.gpa), c.size);
        break;
      }
      case 'ADD_CHECKSUM': {
        const f = get(c.file, 'ADD_CHECKSUM');
        if (c.start + c.length > f.bytes.length || c.offset >= f.bytes.length) {
          throw new Error(`ADD_CHECKSUM: range outside ${c.file}`);
        }
        let sum = 0;
        for (let i = c.start; i < c.start + c.length; i++) sum = (sum + f.bytes[i]) & 0xff;
        f.bytes[c.offset] = (f.bytes[c.offset] - sum) & 0xff;
        break;
      }
    }
  }
  return loaded;
}
