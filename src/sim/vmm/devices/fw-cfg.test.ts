/**
 * fw_cfg as docs/specs/fw_cfg.rst describes it: the signature and feature bitmap, the file
 * directory, reading a file through the data port, and the DMA interface reading into guest memory.
 */
import { describe, expect, it } from 'vitest';
import { bswap32 } from './device';
import { FW_CFG_DMA_CTL_ERROR, FW_CFG_DMA_CTL_READ, FW_CFG_DMA_CTL_SELECT, FW_CFG_DMA_CTL_WRITE } from './fw-cfg';
import type { Platform } from './platform';
import { TEST_MEMORY, platform } from './test-host';

const text = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const FILES = new Map([['etc/e820', new Uint8Array(40).fill(7)], ['etc/acpi/tables', text('RSDT....')], ['bootorder', text('/pci@i0cf8/\n')]]);

function readItem(p: Platform, key: number, len: number): Uint8Array {
  p.pio(0x510, 2, true, key);
  return Uint8Array.from({ length: len }, () => p.pio(0x511, 1, false, 0).value);
}

/** Put an FWCfgDmaAccess {control, length, address} (big-endian) at `at` and start it: high half, then low half. */
function dma(p: Platform, mem: Uint8Array, at: number, control: number, length: number, address: number): number {
  const dv = new DataView(mem.buffer);
  dv.setUint32(at, control);
  dv.setUint32(at + 4, length);
  dv.setUint32(at + 8, Math.floor(address / 2 ** 32));
  dv.setUint32(at + 12, address >>> 0);
  p.pio(0x514, 4, true, bswap32(Math.floor(at / 2 ** 32)));
  p.pio(0x518, 4, true, bswap32(at >>> 0));
  return dv.getUint32(at);
}

describe('fw_cfg', () => {
  it('shows the "QEMU" signature, the DMA feature bit and "QEMU CFG" at the DMA register', () => {
    const { p } = platform();
    expect(String.fromCharCode(...readItem(p, 0x0000, 4))).toBe('QEMU');
    expect(new DataView(readItem(p, 0x0001, 4).buffer).getUint32(0, true)).toBe(3);
    const sig = [p.pio(0x514, 4, false, 0).value, p.pio(0x518, 4, false, 0).value].map(bswap32);
    expect(sig).toEqual([0x51454d55, 0x20434647]);
  });

  it('lists the host\'s files in the directory, sorted, from selector 0x20, and serves them', () => {
    const { p } = platform({ fwCfgFiles: FILES });
    const count = new DataView(readItem(p, 0x0019, 4).buffer).getUint32(0);
    expect(count).toBe(3);
    const dir = readItem(p, 0x0019, 4 + 64 * count);
    const dv = new DataView(dir.buffer);
    const entries = [0, 1, 2].map((i) => {
      const at = 4 + 64 * i;
      const name = String.fromCharCode(...dir.slice(at + 8, at + 64)).replace(/\0+$/, '');
      return { name, size: dv.getUint32(at), select: dv.getUint16(at + 4) };
    });
    expect(entries).toEqual([
      { name: 'bootorder', size: 12, select: 0x20 },
      { name: 'etc/acpi/tables', size: 8, select: 0x21 },
      { name: 'etc/e820', size: 40, select: 0x22 },
    ]);
    expect(String.fromCharCode(...readItem(p, 0x21, 8))).toBe('RSDT....');
    expect(readItem(p, 0x21, 10).slice(8)).toEqual(new Uint8Array(2)); // past the end: zeros
  });

  it('DMA reads a file into guest memory and clears the control word', () => {
    const { p, host } = platform({ fwCfgFiles: FILES });
    const control = dma(p, host.memory, 0x1000, (0x20 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 12, 0x2000);
    expect(control).toBe(0);
    expect(String.fromCharCode(...host.memory.slice(0x2000, 0x200c))).toBe('/pci@i0cf8/\n');
    expect(host.traces.at(-1)).toMatchObject({ layer: 'vmm', name: 'fw_cfg DMA', args: { op: 'read', item: 'bootorder', error: false } });
  });

  it('DMA into memory the VMM cannot map, or a DMA write, sets the error bit', () => {
    const { p, host } = platform({ fwCfgFiles: FILES });
    expect(dma(p, host.memory, 0x1000, (0x22 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 40, TEST_MEMORY)).toBe(FW_CFG_DMA_CTL_ERROR);
    expect(dma(p, host.memory, 0x1000, (0x22 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, 4, 0x2000)).toBe(FW_CFG_DMA_CTL_ERROR);
  });
});
