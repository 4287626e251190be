/**
 * A small AML encoder (ACPI 6.5 §20.2, "AML Grammar Definition"), modelled on QEMU's
 * hw/acpi/aml-build.c: enough to write a DSDT with scopes, devices, named integers, strings,
 * EISA ids and resource-template buffers. Each function returns the encoded bytes of one term.
 */

export type Aml = number[];

const ZeroOp = 0x00;
const OneOp = 0x01;
const NameOp = 0x08;
const BytePrefix = 0x0a;
const WordPrefix = 0x0b;
const DWordPrefix = 0x0c;
const StringPrefix = 0x0d;
const QWordPrefix = 0x0e;
const ScopeOp = 0x10;
const BufferOp = 0x11;
const ExtOpPrefix = 0x5b;
const DeviceOp = 0x82;
const DualNamePrefix = 0x2e;
const MultiNamePrefix = 0x2f;
const RootChar = 0x5c;
const ParentPrefixChar = 0x5e;

export const AML_OPCODES = {
  ZeroOp, OneOp, NameOp, BytePrefix, WordPrefix, DWordPrefix, StringPrefix, QWordPrefix, ScopeOp, BufferOp,
  ExtOpPrefix, DeviceOp, DualNamePrefix, MultiNamePrefix, RootChar, ParentPrefixChar,
  PackageOp: 0x12, MethodOp: 0x14, OnesOp: 0xff, OpRegionOp: 0x80, FieldOp: 0x81,
} as const;

/** NameSeg := LeadNameChar NameChar NameChar NameChar; short names are padded with '_' ("KBD" → "KBD_"). */
export function nameSeg(seg: string): Aml {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(seg)) throw new Error(`invalid AML NameSeg "${seg}"`);
  return seg.padEnd(4, '_').split('').map((c) => c.charCodeAt(0));
}

/** NameString: optional '\' or '^' prefixes, then one, two (DualNamePrefix) or more (MultiNamePrefix) segments. */
export function nameString(path: string): Aml {
  const out: Aml = [];
  let rest = path;
  if (rest.startsWith('\\')) {
    out.push(RootChar);
    rest = rest.slice(1);
  }
  while (rest.startsWith('^')) {
    out.push(ParentPrefixChar);
    rest = rest.slice(1);
  }
  const segs = rest === '' ? [] : rest.split('.');
  if (segs.length === 0) out.push(ZeroOp); // NullName
  else if (segs.length === 2) out.push(DualNamePrefix);
  else if (segs.length > 2) out.push(MultiNamePrefix, segs.length);
  for (const s of segs) out.push(...nameSeg(s));
  return out;
}

/**
 * PkgLength (§20.2.4): counts itself. One byte holds up to 63; otherwise bits 7-6 of the lead byte
 * say how many bytes follow, its bits 3-0 hold the low nibble and each following byte 8 more bits.
 */
export function pkgLength(bodyLength: number): Aml {
  for (let extra = 0; extra <= 3; extra++) {
    const total = bodyLength + 1 + extra;
    if (extra === 0 && total <= 0x3f) return [total];
    if (extra > 0 && total < 1 << (4 + 8 * extra)) {
      const out = [(extra << 6) | (total & 0xf)];
      for (let i = 0; i < extra; i++) out.push((total >> (4 + 8 * i)) & 0xff);
      return out;
    }
  }
  throw new Error(`AML package too long: ${bodyLength}`);
}

/** ComputationalData for an integer, using the smallest encoding as QEMU's aml_int() does. */
export function amlInt(v: number): Aml {
  if (v === 0) return [ZeroOp];
  if (v === 1) return [OneOp];
  if (v <= 0xff) return [BytePrefix, v];
  if (v <= 0xffff) return [WordPrefix, ...amlIntBytes(v, 2)];
  if (v <= 0xffffffff) return [DWordPrefix, ...amlIntBytes(v, 4)];
  return [QWordPrefix, ...amlIntBytes(v, 8)];
}

export function amlString(s: string): Aml {
  return [StringPrefix, ...s.split('').map((c) => c.charCodeAt(0) & 0x7f), 0];
}

/**
 * EisaId("PNP0A08"): three letters of 5 bits each (A = 1) and four hex digits, stored big-endian in
 * a DWORD, i.e. QEMU's aml_eisaid() appends bswap32(id) little-endian.
 */
export function eisaIdValue(id: string): number {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new Error(`invalid EISA id "${id}"`);
  const v = ((id.charCodeAt(0) - 0x40) << 26) | ((id.charCodeAt(1) - 0x40) << 21) | ((id.charCodeAt(2) - 0x40) << 16)
    | parseInt(id.slice(3), 16);
  const swapped = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
  return swapped >>> 0;
}

/** The inverse of eisaIdValue(): the integer a _HID/_CID holds back to "PNP0A08". */
export function eisaIdString(value: number): string {
  const v = (((value & 0xff) << 24) | ((value & 0xff00) << 8) | ((value >>> 8) & 0xff00) | (value >>> 24)) >>> 0;
  const letter = (shift: number): string => String.fromCharCode(((v >>> shift) & 0x1f) + 0x40);
  return letter(26) + letter(21) + letter(16) + (v & 0xffff).toString(16).toUpperCase().padStart(4, '0');
}

export function amlEisaId(id: string): Aml {
  return [DWordPrefix, ...amlIntBytes(eisaIdValue(id), 4)];
}

function amlIntBytes(v: number, size: number): Aml {
  const out: Aml = [];
  for (let i = 0; i < size; i++) out.push(Math.floor(v / 2 ** (8 * i)) & 0xff);
  return out;
}

/** DefName := NameOp NameString DataRefObject. */
export function amlName(name: string, value: Aml): Aml {
  return [NameOp, ...nameString(name), ...value];
}

/** DefScope := ScopeOp PkgLength NameString TermList. */
export function amlScope(path: string, terms: Aml[]): Aml {
  const body = [...nameString(path), ...terms.flat()];
  return [ScopeOp, ...pkgLength(body.length), ...body];
}

/** DefDevice := DeviceOp PkgLength NameString TermList (DeviceOp is ExtOpPrefix 0x82). */
export function amlDevice(name: string, terms: Aml[]): Aml {
  const body = [...nameString(name), ...terms.flat()];
  return [ExtOpPrefix, DeviceOp, ...pkgLength(body.length), ...body];
}

/** DefBuffer := BufferOp PkgLength BufferSize ByteList. */
export function amlBuffer(bytes: ArrayLike<number>): Aml {
  const body = [...amlInt(bytes.length), ...Array.from(bytes)];
  return [BufferOp, ...pkgLength(body.length), ...body];
}
