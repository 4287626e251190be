import { describe, expect, it } from 'vitest';
import { amlDevice, amlEisaId, amlInt, amlName, amlScope, amlString, eisaIdString, eisaIdValue, nameString, pkgLength } from './aml';
import { parseAml } from './aml-parse';
import { decodeResources, describeResource, resIo, resIrqNoFlags, resMemory32Fixed, resourceTemplate } from './resources';

describe('AML encoding', () => {
  it('pads short NameSegs with "_" and uses Dual/MultiNamePrefix for paths', () => {
    expect(nameString('KBD')).toEqual([0x4b, 0x42, 0x44, 0x5f]);
    expect(nameString('_SB.PCI0')[0]).toBe(0x2e); // DualNamePrefix
    expect(nameString('_SB.PCI0.ISA').slice(0, 2)).toEqual([0x2f, 3]); // MultiNamePrefix, SegCount
    expect(nameString('\\_SB')[0]).toBe(0x5c); // RootChar
    expect(() => nameString('kbd')).toThrow(/NameSeg/);
  });

  it('encodes PkgLength in one byte up to 63 and counts its own bytes (ACPI 6.5 §20.2.4)', () => {
    expect(pkgLength(62)).toEqual([63]);
    // 63 body bytes + 2 PkgLength bytes = 65 = 0x41: lead 0x40 | 0x1, then 0x41 >> 4 = 0x04.
    expect(pkgLength(63)).toEqual([0x41, 0x04]);
    expect(pkgLength(0x1000)).toEqual([0x80 | 0x3, 0x00, 0x01]); // 0x1003 needs a third byte
  });

  it('writes integers in the smallest form, as aml_int() does', () => {
    expect(amlInt(0)).toEqual([0x00]);
    expect(amlInt(1)).toEqual([0x01]);
    expect(amlInt(0xf)).toEqual([0x0a, 0x0f]);
    expect(amlInt(0x1f0000)).toEqual([0x0c, 0x00, 0x00, 0x1f, 0x00]);
  });

  it('encodes EisaId("PNP0A08") as the bytes 41 d0 0a 08 and decodes it back', () => {
    expect(amlEisaId('PNP0A08')).toEqual([0x0c, 0x41, 0xd0, 0x0a, 0x08]);
    for (const id of ['PNP0A03', 'PNP0501', 'PNP0303', 'PNP0F13', 'PNP0B00', 'PNP0103', 'PNP0700', 'PNP0400']) {
      expect(eisaIdString(eisaIdValue(id))).toBe(id);
    }
  });

  it('round-trips scopes, devices and names through the reader', () => {
    const aml = Uint8Array.from(amlScope('_SB', [amlDevice('COM1', [
      amlName('_HID', amlEisaId('PNP0501')),
      amlName('_STR', amlString('serial')),
      amlName('_CRS', resourceTemplate([resIo(0x3f8, 0x3f8, 0, 8), resIrqNoFlags(4)])),
    ])]));
    const [scope] = parseAml(aml);
    expect(scope).toMatchObject({ kind: 'scope', name: '_SB' });
    if (scope.kind !== 'scope') throw new Error('not a scope');
    const [dev] = scope.terms;
    expect(dev).toMatchObject({ kind: 'device', name: 'COM1' });
    if (dev.kind !== 'device') throw new Error('not a device');
    expect(dev.terms.map((t) => (t.kind === 'name' ? t.name : t.kind))).toEqual(['_HID', '_STR', '_CRS']);
    const crs = dev.terms[2];
    if (crs.kind !== 'name' || crs.value.kind !== 'buffer') throw new Error('no _CRS buffer');
    const { resources, endTag } = decodeResources(crs.value.bytes);
    expect(endTag).toBe(true);
    expect(resources.map(describeResource)).toEqual(['IO(Decode16, 0x03f8, 0x03f8, 0x00, 0x08)', 'IRQNoFlags() {4}']);
  });

  it('reports unknown opcodes and truncated packages instead of throwing', () => {
    const terms = parseAml(Uint8Array.from([...amlName('ABCD', amlInt(5)), 0x84]));
    expect(terms.map((t) => t.kind)).toEqual(['name', 'unparsed']);
    // An unknown opcode inside a device skips the rest of that device only.
    const nested = parseAml(Uint8Array.from([...amlDevice('DEV1', [[0x84, 0x00]]), ...amlDevice('DEV2', [])]));
    expect(nested.map((t) => t.kind)).toEqual(['device', 'device']);
    const truncated = amlDevice('DEV1', [amlName('_UID', amlInt(1))]).slice(0, 5);
    expect(parseAml(Uint8Array.from(truncated))).toEqual([{ kind: 'unparsed', offset: 0, opcode: 0x5b }]);
  });

  it('decodes a Memory32Fixed descriptor (ACPI 6.5 §6.4.3.4)', () => {
    const { resources } = decodeResources(Uint8Array.from([...resMemory32Fixed(0xfed00000, 0x400, false), 0x79, 0]));
    expect(resources).toEqual([{ kind: 'memory32-fixed', base: 0xfed00000, length: 0x400, writable: false }]);
  });
});
