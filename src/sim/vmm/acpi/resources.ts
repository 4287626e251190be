/**
 * ACPI resource descriptors (ACPI 6.5 §6.4, "Resource Data Types for ACPI"): the bytes inside a
 * ResourceTemplate() buffer such as a device's _CRS. Encoders follow QEMU's aml_io(),
 * aml_irq_no_flags(), aml_dma(), aml_memory32_fixed() and aml_resource_template(); the decoder
 * reads them back for the UI and for the guest's boot log.
 */
import { amlBuffer, type Aml } from './aml';
import { readLe } from './bytes';

/** §6.4.2.5 I/O Port Descriptor: 0x47, Information (bit 0: 16-bit decode), min, max, alignment, length. */
export function resIo(min: number, max: number, align: number, length: number): number[] {
  return [0x47, 0x01, min & 0xff, min >> 8, max & 0xff, max >> 8, align, length];
}

/** §6.4.2.1 IRQ Descriptor without the optional flags byte (0x22): a 16-bit mask of ISA IRQs. */
export function resIrqNoFlags(irq: number): number[] {
  const mask = 1 << irq;
  return [0x22, mask & 0xff, mask >> 8];
}

/**
 * §6.4.2.2 DMA Descriptor (0x2a): channel mask, then flags = transfer size (bits 1-0) | bus master
 * (bit 2) | channel speed (bits 6-5). QEMU's floppy uses Compatibility, NotBusMaster, Transfer8: 0.
 */
export function resDma(channel: number): number[] {
  return [0x2a, 1 << channel, 0x00];
}

/** §6.4.3.4 32-Bit Fixed Memory Range Descriptor: 0x86, length 9, Information (bit 0: read-write), base, length. */
export function resMemory32Fixed(base: number, length: number, writable: boolean): number[] {
  const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  return [0x86, 0x09, 0x00, writable ? 1 : 0, ...le32(base), ...le32(length)];
}

/** ResourceTemplate(): a Buffer of descriptors closed by an End Tag (0x79) with checksum 0, "treated as valid". */
export function resourceTemplate(descriptors: number[][]): Aml {
  return amlBuffer([...descriptors.flat(), 0x79, 0x00]);
}

export type Resource =
  | { kind: 'io'; min: number; max: number; align: number; length: number; decode16: boolean }
  | { kind: 'irq'; irqs: number[]; flags: number | null }
  | { kind: 'dma'; channels: number[]; flags: number }
  | { kind: 'memory32-fixed'; base: number; length: number; writable: boolean }
  | { kind: 'other'; tag: number; length: number };

function maskBits(mask: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 16; i++) if (mask & (1 << i)) out.push(i);
  return out;
}

/**
 * Decodes a resource template up to its End Tag. Small items: bit 7 clear, type in bits 6-3,
 * length in bits 2-0 (§6.4.2). Large items: bit 7 set, type in bits 6-0, 16-bit length (§6.4.3).
 */
export function decodeResources(b: Uint8Array): { resources: Resource[]; endTag: boolean } {
  const resources: Resource[] = [];
  let o = 0;
  while (o < b.length) {
    const tag = b[o];
    if (tag & 0x80) {
      if (o + 3 > b.length) break;
      const len = readLe(b, o + 1, 2);
      if (o + 3 + len > b.length) break;
      if (tag === 0x86 && len >= 9) {
        resources.push({ kind: 'memory32-fixed', writable: (b[o + 3] & 1) === 1, base: readLe(b, o + 4, 4),
          length: readLe(b, o + 8, 4) });
      } else {
        resources.push({ kind: 'other', tag, length: len });
      }
      o += 3 + len;
      continue;
    }
    const type = (tag >> 3) & 0xf;
    const len = tag & 7;
    if (o + 1 + len > b.length) break;
    if (type === 0xf) return { resources, endTag: true };
    if (type === 0x8 && len === 7) {
      resources.push({ kind: 'io', decode16: (b[o + 1] & 1) === 1, min: readLe(b, o + 2, 2), max: readLe(b, o + 4, 2),
        align: b[o + 6], length: b[o + 7] });
    } else if (type === 0x4 && (len === 2 || len === 3)) {
      resources.push({ kind: 'irq', irqs: maskBits(readLe(b, o + 1, 2)), flags: len === 3 ? b[o + 3] : null });
    } else if (type === 0x5 && len === 2) {
      resources.push({ kind: 'dma', channels: maskBits(b[o + 1]), flags: b[o + 2] });
    } else {
      resources.push({ kind: 'other', tag, length: len });
    }
    o += 1 + len;
  }
  return { resources, endTag: false };
}

const hex = (n: number, width = 0): string => '0x' + n.toString(16).padStart(width, '0');

/** One line in ASL terms, e.g. "IO(Decode16, 0x03f8, 0x03f8, 0x00, 0x08)". */
export function describeResource(r: Resource): string {
  switch (r.kind) {
    case 'io':
      return `IO(${r.decode16 ? 'Decode16' : 'Decode10'}, ${hex(r.min, 4)}, ${hex(r.max, 4)}, ${hex(r.align, 2)}, `
        + `${hex(r.length, 2)})`;
    case 'irq':
      return `${r.flags === null ? 'IRQNoFlags()' : `IRQ(flags ${hex(r.flags, 2)})`} {${r.irqs.join(', ')}}`;
    case 'dma': {
      const speed = ['Compatibility', 'TypeA', 'TypeB', 'TypeF'][(r.flags >> 5) & 3];
      const size = ['Transfer8', 'Transfer8_16', 'Transfer16', 'Reserved'][r.flags & 3];
      return `DMA(${speed}, ${r.flags & 4 ? 'BusMaster' : 'NotBusMaster'}, ${size}) {${r.channels.join(', ')}}`;
    }
    case 'memory32-fixed':
      return `Memory32Fixed(${r.writable ? 'ReadWrite' : 'ReadOnly'}, ${hex(r.base, 8)}, ${hex(r.length, 8)})`;
    case 'other':
      return `descriptor tag ${hex(r.tag, 2)} (${r.length} bytes)`;
  }
}
