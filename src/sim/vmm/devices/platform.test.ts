/**
 * The Platform in both design modes (DOMAIN.md §1): the catalogue's defaults for a q35 VM and a TD,
 * the talk's allow-list and freeze, the attack-surface figure, and the configuration errors.
 */
import { describe, expect, it } from 'vitest';
import { SysError } from '../../core/errno';
import { CATALOGUE, defaultDevices, handlerFor } from './catalogue';
import type { Serial } from './serial';
import { platform } from './test-host';
import { DEVICE_IDS } from './types';

const errorOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof SysError) return `${e.errno}: ${e.why}`;
    throw e;
  }
  throw new Error('no error');
};

describe('catalogue', () => {
  it('a TD under upstream QEMU loses the PIC and pflash, keeps HPET and PIT', () => {
    const q35 = defaultDevices('q35');
    const td = defaultDevices('td');
    expect(DEVICE_IDS.filter((id) => q35[id] !== td[id])).toEqual(['pic', 'pflash']);
    expect(td.hpet && td.pit).toBe(true);
    expect(CATALOGUE.pic.tdForcedOff).toMatch(/PIC/);
  });

  it('KVM answers the PIC, PIT and IOAPIC only with the in-kernel irqchip; the local APIC also with split', () => {
    expect(['pic', 'pit', 'ioapic', 'lapic'].map((id) => handlerFor(id as 'pic', 'kernel'))).toEqual(['kvm', 'kvm', 'kvm', 'kvm']);
    expect(['pic', 'pit', 'ioapic', 'lapic'].map((id) => handlerFor(id as 'pic', 'split'))).toEqual(['vmm', 'vmm', 'vmm', 'kvm']);
    expect(handlerFor('lapic', 'none')).toBe('vmm');
  });

  it('no two devices share a port or MMIO address', () => {
    for (const space of ['ports', 'mmio'] as const) {
      const all = DEVICE_IDS.flatMap((id) => CATALOGUE[id][space]).sort((a, b) => a.start - b.start);
      all.slice(1).forEach((r, i) => expect(r.start, `${all[i].name} / ${r.name}`).toBeGreaterThan(all[i].end));
    }
  });
});

describe('upstream', () => {
  it('a TD\'s device view: PIC and pflash forced off with the reason, the xAPIC page not decoded', () => {
    const { p } = platform({ td: true });
    const pic = p.devicesView().find((d) => d.id === 'pic')!;
    expect(pic).toMatchObject({ enabled: false, canToggle: false, handler: 'vmm' });
    expect(pic.forcedOff).toMatch(/forces the 8259 PIC off/);
    expect(p.maps().mmio.find((r) => r.device === 'lapic')!.state).toBe('absent');
    expect(p.mmio(0xfee00030, 4, false, 0)).toMatchObject({ verdict: 'absent', value: 0xffffffff });
    expect(p.maps().ports.find((r) => r.device === 'com1')).toMatchObject({ start: '0x3f8', end: '0x3ff', state: 'present' });
  });

  it('counts accesses per range', () => {
    const { p } = platform();
    for (let i = 0; i < 3; i++) p.pio(0x3fd, 1, false, 0);
    expect(p.maps().ports.find((r) => r.device === 'com1')!.accesses).toBe(3);
  });

  it('freezing is the talk\'s proposal only', () => {
    const { p } = platform();
    expect(errorOf(() => p.freeze())).toMatch(/^EINVAL: freezing device state is the talk's proposal/);
  });
});

describe('the talk\'s allow-list', () => {
  it('denies a port that is not on the list in KVM: all ones, the write dropped, traced and shown', () => {
    const { p, host } = platform({ mode: 'talk' }); // no floppy on q35
    expect(p.pio(0x3f4, 1, false, 0)).toMatchObject({ verdict: 'denied', handler: 'kvm', device: 'floppy', value: 0xff });
    expect(host.traces.at(-1)).toMatchObject({ layer: 'kvm', name: 'denied', args: { port: '0x3f4' } });
    expect(p.pio(0x402, 1, true, 0x41)).toMatchObject({ verdict: 'denied', device: null });
    expect(p.maps().ports.find((r) => r.device === 'floppy')).toMatchObject({ state: 'denied', accesses: 1 });
    expect(p.maps().ports.find((r) => r.device === 'com1')!.state).toBe('allowed');
  });

  it('an extra range on the list reaches the VMM, which answers all ones when no device is there', () => {
    const { p } = platform({ mode: 'talk', allowList: { ports: [{ start: 0x402, end: 0x402, name: 'debugcon' }] } });
    expect(p.pio(0x402, 1, false, 0)).toMatchObject({ verdict: 'absent', handler: 'vmm', value: 0xff });
    expect(p.maps().ports.find((r) => r.name === 'debugcon')).toMatchObject({ device: null, state: 'allowed', accesses: 1 });
  });
});

describe('the talk\'s freeze', () => {
  it('drops configuration writes and keeps the data paths working', () => {
    const { p, host } = platform({ mode: 'talk', irqchip: 'split' });
    p.pio(0x21, 1, true, 0xfb);
    p.freeze();
    expect(p.pio(0x21, 1, true, 0x00)).toMatchObject({ verdict: 'frozen', handler: 'vmm' });
    expect(p.pio(0x21, 1, false, 0).value).toBe(0xfb);
    expect(host.traces.at(-1)).toMatchObject({ name: 'frozen write', args: { register: 'IMR (OCW1)' } });
    expect(p.pio(0x20, 1, true, 0x20).verdict).toBe('ok'); // EOI
    expect(p.pio(0x20, 1, true, 0x11).verdict).toBe('frozen'); // ICW1
    expect(p.pio(0x43, 1, true, 0x34).verdict).toBe('frozen'); // PIT mode
    expect(p.pio(0x43, 1, true, 0x00).verdict).toBe('ok'); // latch
    expect(p.pio(0x3fb, 1, true, 0x83).verdict).toBe('frozen'); // LCR
    expect(p.pio(0x3f8, 1, true, 0x41).verdict).toBe('ok'); // THR
    expect(p.model<Serial>('com1')!.lcr).toBe(0);
    expect(p.console).toBe('A');
    p.pio(0x70, 1, true, 0x00);
    expect(p.pio(0x71, 1, false, 0).verdict).toBe('ok');
    expect(p.pio(0x608, 4, false, 0).verdict).toBe('ok'); // PM timer
    expect(p.pio(0x602, 2, true, 0x100).verdict).toBe('frozen'); // PM1_EN
    p.mmio(0xfec00000, 4, true, 0x10);
    expect(p.mmio(0xfec00010, 4, true, 0x31).verdict).toBe('frozen'); // IOAPIC redirection entry 0
    expect(p.mmio(0xfed00010, 4, true, 1).verdict).toBe('frozen'); // HPET config
    expect(p.mmio(0xfe000014, 1, true, 1).verdict).toBe('frozen'); // virtio device_status
    expect(p.mmio(0xfe000016, 2, true, 1).verdict).toBe('ok'); // queue_select
    expect(p.maps().ports.filter((r) => r.device === 'pic').map((r) => r.state)).toEqual(['frozen', 'frozen', 'frozen']);
    expect(p.maps().ports.find((r) => r.device === 'reset')!.state).toBe('allowed');
    expect(p.devicesView().filter((d) => d.frozen).map((d) => d.id)).not.toContain('lapic');
  });
});

describe('the attack-surface figure', () => {
  it('upstream: present ranges plus the catch-all of each space; it drops as devices go', () => {
    const { p } = platform();
    const all = p.surfaceCount();
    const ports = DEVICE_IDS.filter((id) => defaultDevices('q35')[id]).reduce((n, id) => n + CATALOGUE[id].ports.length, 0);
    expect(all.ports).toBe(ports + 1);
    const fewer = platform({ devices: { ...defaultDevices('q35'), hpet: false, com1: false, pit: false } }).p.surfaceCount();
    expect([all.ports - fewer.ports, all.mmio - fewer.mmio]).toEqual([3, 1]);
    expect(platform({ td: true }).p.surfaceCount().mmio).toBeLessThan(all.mmio); // no pflash, no xAPIC page
  });

  it('talk mode counts the allow-list only, so the catch-all disappears', () => {
    const up = platform().p.surfaceCount();
    const talk = platform({ mode: 'talk', allowList: { mmio: [{ start: 0xfed45000, end: 0xfed45fff, name: 'extra' }] } }).p.surfaceCount();
    expect(talk).toEqual({ ports: up.ports - 1, mmio: up.mmio });
  });
});

describe('configuration errors', () => {
  const q35 = defaultDevices('q35');
  it.each([
    ['an unknown device', { devices: { ...q35, 'virtio-gpu': true } as typeof q35 }, /devices: unknown device "virtio-gpu"/],
    ['a missing device', { devices: { ...q35, hpet: undefined } as unknown as typeof q35 }, /devices.hpet is missing/],
    ['a range with start above end', { mode: 'talk' as const, allowList: { ports: [{ start: 0x410, end: 0x400, name: 'x' }] } }, /allowList.ports\[0\] "x": start 0x410 is above end 0x400/],
    ['a port range beyond 0xffff', { mode: 'talk' as const, allowList: { ports: [{ start: 0xfff0, end: 0x10000, name: 'x' }] } }, /outside 0..0xffff/],
    ['overlapping extras', { mode: 'talk' as const, allowList: { ports: [{ start: 0x400, end: 0x40f, name: 'a' }, { start: 0x408, end: 0x408, name: 'b' }] } }, /overlap: allowList "a" \(0x400-0x40f\) and allowList "b"/],
    ['an extra over a device', { mode: 'talk' as const, allowList: { ports: [{ start: 0x3f8, end: 0x3f8, name: 'c' }] } }, /overlap: com1 "COM1 registers"/],
    ['a TD with the PIC', { td: true, devices: { ...defaultDevices('td'), pic: true } }, /devices.pic: QEMU's TDX setup forces the 8259 PIC off/],
    ['a TD with pflash', { td: true, devices: { ...defaultDevices('td'), pflash: true } }, /devices.pflash: A TD cannot have read-only memslots/],
    ['a TD with SMM', { td: true, smm: true }, /smm: QEMU's TDX setup forces SMM off/],
    ['a TD with the full in-kernel irqchip', { td: true, irqchip: 'kernel' as const }, /requires the split irqchip/],
  ])('%s is refused with EINVAL', (_what, config, message) => {
    expect(errorOf(() => platform(config))).toMatch(/^EINVAL: /);
    expect(errorOf(() => platform(config))).toMatch(message);
  });

  it('a port outside 0..0xffff and a bad access size are refused', () => {
    const { p } = platform();
    expect(errorOf(() => p.pio(0x10000, 1, false, 0))).toBe('EINVAL: port 65536 is outside 0..0xffff');
    expect(errorOf(() => p.pio(0x3f8, 3, false, 0))).toMatch(/only 1, 2 or 4 bytes/);
  });
});
