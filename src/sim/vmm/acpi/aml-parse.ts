/**
 * A small AML reader (ACPI 6.5 §20.2): it walks a DSDT's TermList through Scope, Device, Name,
 * Method, OperationRegion, Field and Package, which is all the namespace a boot log or the UI needs.
 * Method bodies are skipped by their PkgLength, not executed. An opcode it does not know ends the
 * walk of that list with an 'unparsed' term, so a malformed table never throws.
 */
import { AML_OPCODES as OP } from './aml';
import { readLe } from './bytes';

export type AmlValue =
  | { kind: 'int'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'buffer'; bytes: Uint8Array }
  | { kind: 'package'; elements: number }
  | { kind: 'other'; opcode: number };

export type AmlTerm =
  | { kind: 'scope'; name: string; terms: AmlTerm[] }
  | { kind: 'device'; name: string; terms: AmlTerm[] }
  | { kind: 'name'; name: string; value: AmlValue }
  | { kind: 'method'; name: string }
  | { kind: 'region'; name: string }
  | { kind: 'field' }
  | { kind: 'unparsed'; offset: number; opcode: number };

class Cursor {
  constructor(readonly b: Uint8Array, public o: number) {}

  u8(): number {
    if (this.o >= this.b.length) throw new RangeError('AML ends early');
    return this.b[this.o++];
  }

  /** PkgLength: returns the absolute offset where the package ends. */
  pkgEnd(): number {
    const at = this.o;
    const lead = this.u8();
    const follow = lead >> 6;
    let len = follow === 0 ? lead & 0x3f : lead & 0x0f;
    for (let i = 0; i < follow; i++) len |= this.u8() << (4 + 8 * i);
    const end = at + len;
    if (end > this.b.length) throw new RangeError('AML package longer than its table');
    return end;
  }

  seg(): string {
    let s = '';
    for (let i = 0; i < 4; i++) s += String.fromCharCode(this.u8());
    // ASL writes "KBD" for the NameSeg "KBD_"; keep at least one character.
    return s.replace(/_+$/, '') || '_';
  }

  nameString(): string {
    let prefix = '';
    while (this.b[this.o] === OP.RootChar || this.b[this.o] === OP.ParentPrefixChar) {
      prefix += String.fromCharCode(this.u8());
    }
    const lead = this.b[this.o];
    let count = 1;
    if (lead === OP.ZeroOp) {
      this.o++;
      count = 0;
    } else if (lead === OP.DualNamePrefix) {
      this.o++;
      count = 2;
    } else if (lead === OP.MultiNamePrefix) {
      this.o++;
      count = this.u8();
    }
    const segs: string[] = [];
    for (let i = 0; i < count; i++) segs.push(this.seg());
    return prefix + segs.join('.');
  }

  /** An integer TermArg as the DSDT builder writes them (constants and prefixed data). */
  int(): number | null {
    const op = this.u8();
    switch (op) {
      case OP.ZeroOp: return 0;
      case OP.OneOp: return 1;
      case OP.OnesOp: return 0xffffffff;
      case OP.BytePrefix: return this.u8();
      case OP.WordPrefix: this.o += 2; return readLe(this.b, this.o - 2, 2);
      case OP.DWordPrefix: this.o += 4; return readLe(this.b, this.o - 4, 4);
      case OP.QWordPrefix: this.o += 8; return readLe(this.b, this.o - 8, 8);
      default: this.o--; return null;
    }
  }

  dataObject(): AmlValue {
    const op = this.b[this.o];
    if (op === OP.StringPrefix) {
      this.o++;
      let s = '';
      for (let c = this.u8(); c !== 0; c = this.u8()) s += String.fromCharCode(c);
      return { kind: 'string', value: s };
    }
    if (op === OP.BufferOp) {
      this.o++;
      const end = this.pkgEnd();
      const size = this.int() ?? 0;
      const bytes = this.b.slice(this.o, Math.min(end, this.o + size));
      this.o = end;
      return { kind: 'buffer', bytes };
    }
    if (op === OP.PackageOp) {
      this.o++;
      const end = this.pkgEnd();
      const elements = this.u8();
      this.o = end;
      return { kind: 'package', elements };
    }
    const v = this.int();
    if (v !== null) return { kind: 'int', value: v };
    this.o++;
    return { kind: 'other', opcode: op };
  }
}

/** One term, or null when the opcode is not one this reader knows. */
function term(c: Cursor, op: number): AmlTerm | null {
  if (op === OP.ScopeOp) {
    const pkgEnd = c.pkgEnd();
    const name = c.nameString();
    const terms = termList(c, pkgEnd);
    c.o = pkgEnd;
    return { kind: 'scope', name, terms };
  }
  if (op === OP.NameOp) {
    const name = c.nameString();
    return { kind: 'name', name, value: c.dataObject() };
  }
  if (op === OP.MethodOp) {
    const pkgEnd = c.pkgEnd();
    const name = c.nameString();
    c.o = pkgEnd;
    return { kind: 'method', name };
  }
  if (op !== OP.ExtOpPrefix) return null;
  const ext = c.u8();
  if (ext === OP.DeviceOp) {
    const pkgEnd = c.pkgEnd();
    const name = c.nameString();
    const terms = termList(c, pkgEnd);
    c.o = pkgEnd;
    return { kind: 'device', name, terms };
  }
  if (ext === OP.OpRegionOp) {
    const name = c.nameString();
    c.u8(); // RegionSpace
    if (c.int() === null || c.int() === null) return null; // RegionOffset, RegionLen other than constants
    return { kind: 'region', name };
  }
  if (ext === OP.FieldOp) {
    c.o = c.pkgEnd();
    return { kind: 'field' };
  }
  return null;
}

function termList(c: Cursor, end: number): AmlTerm[] {
  const out: AmlTerm[] = [];
  while (c.o < end) {
    const at = c.o;
    let t: AmlTerm | null = null;
    try {
      t = term(c, c.u8());
    } catch {
      // A package or name running past the table: keep what was read so far.
    }
    if (!t) {
      out.push({ kind: 'unparsed', offset: at, opcode: c.b[at] });
      c.o = end;
      return out;
    }
    out.push(t);
  }
  return out;
}

/** Parses the TermList of a definition block (the table bytes after its 36-byte header). */
export function parseAml(aml: Uint8Array): AmlTerm[] {
  return termList(new Cursor(aml, 0), aml.length);
}
