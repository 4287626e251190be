/**
 * PCI on q35: enumeration through configuration mechanism #1 and through ECAM gives the same
 * functions; PCIEXBAR moves the ECAM window unless the talk's freeze holds it; BAR sizing; virtio
 * queue setup recorded for the VMM.
 */
import { describe, expect, it } from 'vitest';
import type { Platform } from './platform';
import { platform } from './test-host';

const cf8 = (bus: number, dev: number, fn: number, reg: number) => (0x80000000 | (bus << 16) | (dev << 11) | (fn << 8) | reg) >>> 0;

function cfgRead(p: Platform, dev: number, reg: number, fn = 0): number {
  p.pio(0xcf8, 4, true, cf8(0, dev, fn, reg));
  return p.pio(0xcfc, 4, false, 0).value;
}

function cfgWrite(p: Platform, dev: number, reg: number, v: number) {
  p.pio(0xcf8, 4, true, cf8(0, dev, 0, reg));
  return p.pio(0xcfc, 4, true, v);
}

const ecamRead = (p: Platform, base: number, dev: number, reg: number) => p.mmio(base + (dev << 15) + reg, 4, false, 0).value;

const hexId = (v: number) => v.toString(16).padStart(8, '0');

describe('enumeration', () => {
  it('0xcf8/0xcfc and ECAM find the same q35 functions; empty slots read vendor 0xffff', () => {
    const { p } = platform();
    const viaPorts: string[] = [];
    const viaEcam: string[] = [];
    for (let dev = 0; dev < 32; dev++) {
      const id = cfgRead(p, dev, 0);
      expect(ecamRead(p, 0xb0000000, dev, 0)).toBe(id);
      if ((id & 0xffff) !== 0xffff) viaPorts.push(`${dev}:${hexId(id)}`);
      const e = ecamRead(p, 0xb0000000, dev, 0);
      if ((e & 0xffff) !== 0xffff) viaEcam.push(`${dev}:${hexId(e)}`);
    }
    expect(viaPorts).toEqual(['0:29c08086', '2:10411af4', '3:10421af4', '31:29188086']);
    expect(viaEcam).toEqual(viaPorts);
    expect(cfgRead(p, 31, 0x08) >>> 8).toBe(0x060100); // ISA bridge class
    expect((cfgRead(p, 31, 0x0c) >>> 16) & 0xff).toBe(0x80); // multi-function header
  });

  it('without the enable bit CONFIG_DATA reads all ones; byte reads pick the lane', () => {
    const { p } = platform();
    p.pio(0xcf8, 4, true, 0);
    expect(p.pio(0xcfc, 4, false, 0).value).toBe(0xffffffff);
    p.pio(0xcf8, 4, true, cf8(0, 0, 0, 0));
    expect(p.pio(0xcf8, 4, false, 0).value).toBe(0x80000000);
    expect(p.pio(0xcfe, 2, false, 0).value).toBe(0x29c0);
  });
});

describe('PCIEXBAR: chipset reconfiguration', () => {
  it('writing PCIEXBAR on 00:00.0 moves the ECAM window', () => {
    const { p, host } = platform();
    expect(cfgRead(p, 0, 0x60)).toBe(0xb0000001);
    expect(p.claimsMmio(0xb0000000)).toBe(true);
    cfgWrite(p, 0, 0x60, 0xe0000001);
    expect(host.traces.at(-1)).toMatchObject({ name: 'PCIEXBAR', args: { base: '0xe0000000', before: '0xb0000000' } });
    expect(ecamRead(p, 0xe0000000, 0, 0)).toBe(0x29c08086);
    expect(p.mmio(0xb0000000, 4, false, 0)).toMatchObject({ verdict: 'absent', value: 0xffffffff });
    expect(p.claimsMmio(0xb0000000)).toBe(false);
    expect(p.maps().mmio.find((r) => r.device === 'ecam')).toMatchObject({ start: '0xe0000000', end: '0xefffffff', state: 'present' });
    cfgWrite(p, 0, 0x60, 0xe0000004); // 64 MiB, disabled
    expect(p.claimsMmio(0xe0000000)).toBe(false);
  });

  it('talk mode: a moved window is off the allow-list, and after freeze PCIEXBAR does not move at all', () => {
    const moved = platform({ mode: 'talk' }).p;
    cfgWrite(moved, 0, 0x60, 0xe0000001);
    expect(moved.mmio(0xe0000000, 4, false, 0)).toMatchObject({ verdict: 'denied', value: 0xffffffff });
    expect(moved.maps().mmio.find((r) => r.device === 'ecam')!.state).toBe('denied');

    const { p, host } = platform({ mode: 'talk' });
    p.freeze();
    expect(cfgWrite(p, 0, 0x60, 0xe0000001)).toMatchObject({ verdict: 'frozen', handler: 'vmm' });
    expect(host.traces.at(-1)).toMatchObject({ name: 'frozen write', args: { register: 'PCI 00:00.0 PCIEXBAR' } });
    expect(cfgRead(p, 0, 0x60)).toBe(0xb0000001);
    expect(p.mmio(0xb0000000, 4, true, 0xffffffff)).toMatchObject({ verdict: 'frozen' }); // ECAM writes freeze too
    expect(ecamRead(p, 0xb0000000, 0, 0)).toBe(0x29c08086);
  });
});

describe('BARs and virtio-pci', () => {
  it('sizing BAR4 reads back its 16 KiB mask; the BAR moves the device window', () => {
    const { p } = platform();
    expect(cfgRead(p, 2, 0x20)).toBe(0xfe00000c); // 64-bit prefetchable memory
    cfgWrite(p, 2, 0x04, 0); // decoding off while sizing, as Linux does
    expect(p.claimsMmio(0xfe000000)).toBe(false);
    cfgWrite(p, 2, 0x20, 0xffffffff);
    expect(cfgRead(p, 2, 0x20)).toBe(0xffffc00c);
    cfgWrite(p, 2, 0x20, 0xc0000000);
    cfgWrite(p, 2, 0x04, 0x06);
    expect(p.mmio(0xc0000012, 2, false, 0)).toMatchObject({ verdict: 'ok', device: 'virtio-net', value: 3 });
    expect(p.devicesView().find((d) => d.id === 'virtio-net')!.mmio[0]).toMatchObject({ start: '0xc0000000', end: '0xc0003fff' });
  });

  it('the capability list points into BAR4 and the driver\'s queue setup is recorded', () => {
    const { p, host } = platform();
    expect(cfgRead(p, 3, 0x34) & 0xff).toBe(0x40);
    expect(cfgRead(p, 3, 0x40)).toBe(0x01105009); // vendor cap, next 0x50, length 16, VIRTIO_PCI_CAP_COMMON_CFG
    expect(cfgRead(p, 3, 0x44) & 0xff).toBe(4); // in BAR4
    const bar = 0xfe004000;
    const w = (off: number, v: number, size = 4) => p.mmio(bar + off, size, true, v);
    const r = (off: number, size = 4) => p.mmio(bar + off, size, false, 0).value;
    w(0x00, 1);
    expect(r(0x04)).toBe(1); // VIRTIO_F_VERSION_1
    w(0x14, 1, 1);
    w(0x14, 3, 1);
    w(0x08, 1);
    w(0x0c, 1);
    w(0x14, 0x0b, 1); // FEATURES_OK
    w(0x16, 0, 2);
    w(0x18, 128, 2);
    w(0x20, 0x80045000); // queue_desc, low then high: a shared GPA in a TD with 48-bit GPAW
    w(0x24, 0x8000);
    w(0x28, 0x46000);
    w(0x30, 0x47000);
    w(0x1c, 1, 2);
    expect(p.virtqueues()).toEqual([{ device: 'virtio-blk', queue: 0, size: 128, desc: 2 ** 47 + 0x80045000, driverArea: 0x46000, deviceArea: 0x47000 }]);
    expect(host.traces.filter((t) => t.name === 'virtio status').map((t) => t.args.set)).toEqual([['ACKNOWLEDGE'], ['DRIVER'], ['FEATURES_OK']]);
    expect(r(0x2000)).toBe(0x400000); // capacity in sectors
    w(0x3000, 0, 2);
    expect(host.traces.at(-1)).toMatchObject({ name: 'virtqueue notify', args: { queue: 0 } });
    w(0x14, 0, 1); // reset
    expect(p.virtqueues()).toEqual([]);
  });
});
