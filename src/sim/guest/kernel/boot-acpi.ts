/**
 * The guest's own small ACPI reader: the byte layouts the firmware and Linux look at (ACPI 6.5
 * §5.2: RSDP, the system description table header, XSDT/RSDT, FADT, MADT, MCFG, HPET), a checksum,
 * and just enough AML decoding to find the devices in the DSDT and their _HID EisaIds. The guest
 * does not import the VMM's ACPI builder: it reads bytes, as the real guest does.
 */

const u16 = (b: Uint8Array, o: number): number => b[o] | (b[o + 1] << 8);
const u32 = (b: Uint8Array, o: number): number => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
/** A 64-bit field as a number (addresses here stay far below 2^53). */
const u64 = (b: Uint8Array, o: number): number => u32(b, o) + u32(b, o + 4) * 2 ** 32;
const str = (b: Uint8Array, o: number, n: number): string => String.fromCharCode(...b.subarray(o, o + n));

export const le = { u16, u32, u64, str };

export const SDT_HEADER_SIZE = 36;
export const RSDP_SIG = 'RSD PTR ';
/** The MADT flag saying the board has dual 8259s (ACPI 6.5 Table 5.20). */
export const ACPI_MADT_PCAT_COMPAT = 1;
/** FADT IAPC_BOOT_ARCH flags (include/acpi/actbl.h). */
export const ACPI_FADT_LEGACY_DEVICES = 1 << 0;
export const ACPI_FADT_8042 = 1 << 1;
export const ACPI_FADT_NO_CMOS_RTC = 1 << 5;
/** FADT revision 3 is the first with IAPC_BOOT_ARCH (include/acpi/actbl.h FADT2_REVISION_ID). */
export const FADT2_REVISION_ID = 3;
/** MADT structure types (ACPI 6.5 Table 5.21). */
export const ACPI_MADT_TYPE_LOCAL_APIC = 0;
export const ACPI_MADT_TYPE_IO_APIC = 1;
export const ACPI_MADT_TYPE_INTERRUPT_OVERRIDE = 2;
export const ACPI_MADT_TYPE_LOCAL_APIC_NMI = 4;
export const ACPI_MADT_TYPE_LOCAL_X2APIC = 9;
export const ACPI_MADT_TYPE_LOCAL_X2APIC_NMI = 0xa;
/** The Multiprocessor Wakeup Structure (ACPI 6.4 §5.2.12.19): 16 bytes in mailbox version 0. */
export const ACPI_MADT_TYPE_MULTIPROC_WAKEUP = 0x10;
export const ACPI_MADT_MP_WAKEUP_SIZE_V0 = 16;

/** Sum of the bytes mod 256; a table is valid when the sum over its length is 0. */
export function checksum(b: Uint8Array, start = 0, length = b.length - start): number {
  let s = 0;
  for (let i = start; i < start + length; i++) s = (s + b[i]) & 0xff;
  return s;
}

export interface SdtHeader {
  signature: string;
  length: number;
  revision: number;
  oemId: string;
  oemTableId: string;
  oemRevision: number;
  creatorId: string;
  creatorRevision: number;
}

export function parseHeader(b: Uint8Array): SdtHeader {
  return {
    signature: str(b, 0, 4), length: u32(b, 4), revision: b[8], oemId: str(b, 10, 6), oemTableId: str(b, 16, 8),
    oemRevision: u32(b, 24), creatorId: str(b, 28, 4), creatorRevision: u32(b, 32),
  };
}

export interface Rsdp {
  revision: number;
  oemId: string;
  rsdt: number;
  /** ACPI 2.0+ only (revision >= 2), else 0. */
  xsdt: number;
  /** Bytes covered: 20 for revision 0, the Length field otherwise. */
  length: number;
}

export function parseRsdp(b: Uint8Array): Rsdp | null {
  if (str(b, 0, 8) !== RSDP_SIG || checksum(b, 0, 20) !== 0) return null;
  const revision = b[15];
  const ext = revision >= 2;
  return { revision, oemId: str(b, 9, 6), rsdt: u32(b, 16), xsdt: ext ? u64(b, 24) : 0, length: ext ? u32(b, 20) : 20 };
}

/** The table pointers of an XSDT (8-byte entries) or RSDT (4-byte entries). */
export function rootEntries(b: Uint8Array): number[] {
  const h = parseHeader(b);
  const w = h.signature === 'XSDT' ? 8 : 4;
  const out: number[] = [];
  for (let o = SDT_HEADER_SIZE; o + w <= Math.min(h.length, b.length); o += w) out.push(w === 8 ? u64(b, o) : u32(b, o));
  return out;
}

/** acpi_tb_fix_string(): non-printable characters print as '?'. */
const fix = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?');
const hex16 = (a: number): string => a.toString(16).toUpperCase().padStart(16, '0');
const hex8 = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
const len6 = (n: number): string => n.toString(16).toUpperCase().padStart(6, '0');

/** acpi_tb_print_table_header() (drivers/acpi/acpica/tbprint.c), without the "ACPI: " prefix. */
export function tableLine(address: number, h: SdtHeader): string {
  return `${fix(h.signature)} 0x${hex16(address)} ${len6(h.length)} (v${String(h.revision).padStart(2, '0')} ${fix(h.oemId).padEnd(6)} ${fix(h.oemTableId).padEnd(8)} ${hex8(h.oemRevision)} ${fix(h.creatorId).padEnd(4)} ${hex8(h.creatorRevision)})`;
}

export function rsdpLine(address: number, r: Rsdp): string {
  return `RSDP 0x${hex16(address)} ${len6(r.length)} (v${String(r.revision).padStart(2, '0')} ${fix(r.oemId).padEnd(6)})`;
}

/** FACS has no standard header: signature and length only. */
export function facsLine(address: number, length: number): string {
  return `FACS 0x${hex16(address)} ${len6(length)}`;
}

export interface Fadt {
  revision: number;
  facs: number;
  dsdt: number;
  /** ACPI PM timer port (X_PM_TMR_BLK when it is a system-I/O address, else PM_TMR_BLK), 0 if none. */
  pmTimer: number;
  /** IAPC_BOOT_ARCH; 0 in FADTs older than revision 3, which do not have it. */
  bootFlags: number;
  /** CENTURY: the CMOS register index of the century, 0 if none. */
  century: number;
}

/** The FADT fields Linux's acpi_parse_fadt() and ACPICA use (ACPI 6.5 Table 5.9 offsets). */
export function parseFadt(b: Uint8Array): Fadt {
  const h = parseHeader(b);
  const has = (off: number, n: number): boolean => h.length >= off + n && b.length >= off + n;
  let dsdt = u32(b, 40);
  if (has(140, 8) && u64(b, 140)) dsdt = u64(b, 140);
  let facs = u32(b, 36);
  if (has(132, 8) && u64(b, 132)) facs = u64(b, 132);
  let pmTimer = u32(b, 76);
  // X_PM_TMR_BLK is a Generic Address Structure at 208 (space_id 1 = system I/O, address at +4);
  // ACPICA fills an empty X field from PM_TMR_BLK, and Linux wants a system-I/O timer.
  if (h.revision >= FADT2_REVISION_ID && has(208, 12) && u64(b, 212)) pmTimer = b[208] === 1 ? u64(b, 212) : 0;
  return { revision: h.revision, facs, dsdt, pmTimer, bootFlags: h.revision >= FADT2_REVISION_ID && has(109, 2) ? u16(b, 109) : 0, century: has(108, 1) ? b[108] : 0 };
}

/** A MADT entry (ACPI 6.5 §5.2.12); `processorId` and `uid` are the ACPI Processor UID. */
export type MadtEntry =
  | { type: 'lapic'; processorId: number; apicId: number; enabled: boolean }
  | { type: 'x2apic'; uid: number; apicId: number; enabled: boolean }
  | { type: 'ioapic'; id: number; address: number; gsiBase: number }
  | { type: 'override'; bus: number; source: number; gsi: number; flags: number }
  | { type: 'lapic-nmi'; processorId: number; flags: number; lint: number }
  | { type: 'x2apic-nmi'; uid: number; flags: number; lint: number }
  | { type: 'mp-wakeup'; version: number; mailbox: number }
  | { type: 'other'; code: number; length: number };

export interface Madt {
  lapicAddress: number;
  flags: number;
  entries: MadtEntry[];
}

/** sizeof the entry structures of ACPICA's actbl2.h, by MADT entry type. */
const MADT_ENTRY_SIZE: Record<number, number> = {
  [ACPI_MADT_TYPE_LOCAL_APIC]: 8, [ACPI_MADT_TYPE_IO_APIC]: 12, [ACPI_MADT_TYPE_INTERRUPT_OVERRIDE]: 10,
  [ACPI_MADT_TYPE_LOCAL_APIC_NMI]: 6, [ACPI_MADT_TYPE_LOCAL_X2APIC]: 16, [ACPI_MADT_TYPE_LOCAL_X2APIC_NMI]: 12,
  [ACPI_MADT_TYPE_MULTIPROC_WAKEUP]: ACPI_MADT_MP_WAKEUP_SIZE_V0,
};

export function parseMadt(b: Uint8Array): Madt {
  const end = Math.min(parseHeader(b).length, b.length);
  const entries: MadtEntry[] = [];
  for (let o = 44; o + 2 <= end;) {
    const type = b[o];
    const length = b[o + 1];
    if (length < 2 || o + length > end) break;
    // An entry shorter than its structure is skipped, as BAD_MADT_ENTRY() makes Linux's handlers do.
    switch (length >= (MADT_ENTRY_SIZE[type] ?? 2) ? type : -1) {
      case ACPI_MADT_TYPE_LOCAL_APIC:
        entries.push({ type: 'lapic', processorId: b[o + 2], apicId: b[o + 3], enabled: (u32(b, o + 4) & 1) !== 0 });
        break;
      case ACPI_MADT_TYPE_LOCAL_X2APIC:
        entries.push({ type: 'x2apic', apicId: u32(b, o + 4), enabled: (u32(b, o + 8) & 1) !== 0, uid: u32(b, o + 12) });
        break;
      case ACPI_MADT_TYPE_LOCAL_APIC_NMI:
        entries.push({ type: 'lapic-nmi', processorId: b[o + 2], flags: u16(b, o + 3), lint: b[o + 5] });
        break;
      case ACPI_MADT_TYPE_LOCAL_X2APIC_NMI:
        entries.push({ type: 'x2apic-nmi', flags: u16(b, o + 2), uid: u32(b, o + 4), lint: b[o + 8] });
        break;
      case ACPI_MADT_TYPE_IO_APIC:
        entries.push({ type: 'ioapic', id: b[o + 2], address: u32(b, o + 4), gsiBase: u32(b, o + 8) });
        break;
      case ACPI_MADT_TYPE_INTERRUPT_OVERRIDE:
        entries.push({ type: 'override', bus: b[o + 2], source: b[o + 3], gsi: u32(b, o + 4), flags: u16(b, o + 8) });
        break;
      case ACPI_MADT_TYPE_MULTIPROC_WAKEUP:
        entries.push({ type: 'mp-wakeup', version: u16(b, o + 2), mailbox: u64(b, o + 8) });
        break;
      default:
        entries.push({ type: 'other', code: type, length });
    }
    o += length;
  }
  return { lapicAddress: u32(b, 36), flags: u32(b, 40), entries };
}

export interface McfgEntry {
  base: number;
  segment: number;
  startBus: number;
  endBus: number;
}

/** MCFG: 8 reserved bytes after the header, then 16-byte allocation entries (PCI Firmware spec 3.2 §4.1.2). */
export function parseMcfg(b: Uint8Array): McfgEntry[] {
  const end = Math.min(parseHeader(b).length, b.length);
  const out: McfgEntry[] = [];
  for (let o = 44; o + 16 <= end; o += 16) out.push({ base: u64(b, o), segment: u16(b, o + 8), startBus: b[o + 10], endBus: b[o + 11] });
  return out;
}

/** HPET table (IA-PC HPET spec 1.0a §3.2.4): event timer block id, then the base address GAS. */
export function parseHpet(b: Uint8Array): { id: number; address: number; number: number } {
  return { id: u32(b, 36), address: u64(b, 44), number: b[52] };
}

/**
 * An EISA id as stored by the ASL macro EisaId(): a 32-bit little-endian value whose first two bytes
 * (big-endian) hold three 5-bit letters and whose last two hold four hex digits.
 * Linux prints the hex part in lower case ("PNP0b00").
 */
export function eisaId(v: number): string {
  const m = ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
  const ch = (x: number): string => String.fromCharCode(0x40 + (x & 0x1f));
  const prod = (((v >>> 16) & 0xff) << 8) | ((v >>> 24) & 0xff);
  return ch(m >> 10) + ch(m >> 5) + ch(m) + prod.toString(16).padStart(4, '0');
}

export interface AmlDevice {
  /** The device's NameSeg ("KBD_" trimmed to "KBD"). */
  name: string;
  hid: string;
}

/** AML PkgLength (ACPI 6.5 §20.2.4): the lead byte's bits 7:6 say how many bytes follow. */
function pkgLength(b: Uint8Array, o: number): [number, number] {
  const lead = b[o];
  const extra = lead >> 6;
  if (extra === 0) return [lead & 0x3f, 1];
  let len = lead & 0x0f;
  for (let i = 0; i < extra; i++) len |= b[o + 1 + i] << (4 + 8 * i);
  return [len, 1 + extra];
}

const isNameChar = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;

/**
 * Find DeviceOp (0x5B 0x82) objects and the _HID each declares with an EisaId (Name(_HID,
 * EisaId("PNP0303")) compiles to 08 '_HID' 0C <dword>) or a string (0D ... 00). Good enough to list
 * a QEMU DSDT's devices; it is not an AML interpreter (no methods, no conditionals).
 */
export function dsdtDevices(aml: Uint8Array): AmlDevice[] {
  const out: AmlDevice[] = [];
  const end = aml.length;
  for (let o = SDT_HEADER_SIZE; o + 2 < end; o++) {
    if (aml[o] !== 0x5b || aml[o + 1] !== 0x82) continue;
    const [len, n] = pkgLength(aml, o + 2);
    const pkgEnd = Math.min(o + 2 + len, end);
    let p = o + 2 + n;
    while (aml[p] === 0x5c || aml[p] === 0x5e) p++; // root or parent prefix
    if (!isNameChar(aml[p]) || !isNameChar(aml[p + 1])) continue;
    const name = String.fromCharCode(...aml.subarray(p, p + 4)).replace(/_+$/, '');
    // The device's own _HID comes before any nested DeviceOp.
    for (let q = p + 4; q + 6 < pkgEnd; q++) {
      if (aml[q] === 0x5b && aml[q + 1] === 0x82) break;
      if (aml[q] !== 0x08 || String.fromCharCode(...aml.subarray(q + 1, q + 5)) !== '_HID') continue;
      if (aml[q + 5] === 0x0c) out.push({ name, hid: eisaId(u32(aml, q + 6)) });
      else if (aml[q + 5] === 0x0d) {
        let e = q + 6;
        while (e < pkgEnd && aml[e] !== 0) e++;
        out.push({ name, hid: String.fromCharCode(...aml.subarray(q + 6, e)) });
      }
      break;
    }
  }
  return out;
}
