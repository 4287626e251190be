/**
 * The device models answer the probes a booting guest makes (DOMAIN.md §8): present devices give
 * their real answers, absent ones read as all ones.
 */
import { describe, expect, it } from 'vitest';
import { defaultDevices } from './catalogue';
import { allOnes } from './device';
import type { Platform } from './platform';
import type { Pit } from './pit';
import type { Rtc } from './rtc';
import { platform } from './test-host';
import type { DeviceId } from './types';

const inb = (p: Platform, port: number) => p.pio(port, 1, false, 0).value;
const inl = (p: Platform, port: number) => p.pio(port, 4, false, 0).value;
const outb = (p: Platform, port: number, v: number) => p.pio(port, 1, true, v);
const outl = (p: Platform, port: number, v: number) => p.pio(port, 4, true, v);
const rd = (p: Platform, gpa: number, size = 4) => p.mmio(gpa, size, false, 0).value;
const wr = (p: Platform, gpa: number, v: number, size = 4) => p.mmio(gpa, size, true, v);

/** One probe per device: what a guest does to find it, the answer when present, and the read's width. */
const PROBES: [DeviceId, (p: Platform) => number, number, number][] = [
  ['pic', (p) => inb(p, 0x21), 0x00, 1], // IMR after reset
  ['pit', (p) => { outb(p, 0x43, 0xe2); return inb(p, 0x40); }, 0xb6, 1], // read-back status: OUT high, lobyte/hibyte, mode 3
  ['i8042', (p) => { outb(p, 0x64, 0xaa); return inb(p, 0x60); }, 0x55, 1],
  ['rtc', (p) => { outb(p, 0x70, 0x0d); return inb(p, 0x71); }, 0x80, 1], // register D: valid RAM and time
  ['com1', (p) => { outb(p, 0x3ff, 0x5a); return inb(p, 0x3ff); }, 0x5a, 1], // scratch register, as Linux probes it
  ['lpt1', (p) => { outb(p, 0x378, 0xaa); return inb(p, 0x378); }, 0xaa, 1],
  ['floppy', (p) => inb(p, 0x3f4), 0x80, 1], // MSR: RQM
  ['isa-dma', (p) => { outb(p, 0x81, 0x12); return inb(p, 0x81); }, 0x12, 1],
  ['apm', (p) => { outb(p, 0xb3, 0x42); return inb(p, 0xb3); }, 0x42, 1],
  ['pci-host', (p) => { outl(p, 0xcf8, 0x80000000); return inl(p, 0xcfc); }, 0x29c08086, 4],
  ['reset', (p) => inb(p, 0xcf9), 0x00, 1],
  ['fw_cfg', (p) => { p.pio(0x510, 2, true, 0); return p.pio(0x511, 4, false, 0).value; }, 0x554d4551, 4], // "QEMU"
  ['acpi-pm', (p) => inl(p, 0x608), 0, 4],
  ['hpet', (p) => rd(p, 0xfed00000), 0x8086a201, 4],
  ['ioapic', (p) => { wr(p, 0xfec00000, 1); return rd(p, 0xfec00010); }, 0x00170011, 4],
  ['lapic', (p) => rd(p, 0xfee00030), 0x00050014, 4],
  ['tpm', (p) => rd(p, 0xfed40f00), 0x00011014, 4],
  ['ecam', (p) => rd(p, 0xb0000000), 0x29c08086, 4],
  ['pflash', (p) => { wr(p, 0xffc84055, 0x98, 1); return rd(p, 0xffc84010, 1); }, 0x51, 1], // CFI "Q"
  ['virtio-net', (p) => rd(p, 0xfe000012, 2), 3, 2], // num_queues: rx, tx, ctrl
  ['virtio-blk', (p) => rd(p, 0xfe004012, 2), 1, 2],
];

describe('present or absent', () => {
  it.each(PROBES)('%s answers its probe when present and reads all ones when absent', (id, probe, present, size) => {
    const on = platform({ devices: { ...defaultDevices('q35'), [id]: true } }).p;
    expect(probe(on)).toBe(present);
    const off = platform({ devices: { ...defaultDevices('q35'), [id]: false } }).p;
    expect(probe(off)).toBe(allOnes(size));
  });

  it('an absent device drops writes and the VMM traces the miss', () => {
    const { p, host } = platform({ devices: { ...defaultDevices('q35'), com1: false } });
    expect(outb(p, 0x3f8, 0x41)).toMatchObject({ verdict: 'absent', handler: 'vmm', device: 'com1' });
    expect(p.console).toBe('');
    expect(host.traces.at(-1)).toMatchObject({ layer: 'vmm', name: 'unassigned port', args: { port: '0x3f8' } });
  });
});

describe('8259 PIC', () => {
  it('takes the ICW1-ICW4 init sequence, reads back the IMR and selects IRR or ISR with OCW3', () => {
    const { p, host } = platform();
    // Linux's init_8259A(): ICW1 0x11, ICW2 vector base, ICW3 cascade, ICW4 8086 mode.
    [[0x20, 0x11], [0x21, 0x30], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x38], [0xa1, 0x02], [0xa1, 0x01]]
      .forEach(([port, v]) => outb(p, port, v));
    expect(host.traces.filter((t) => t.name === 'PIC init').map((t) => t.args.vector_base)).toEqual(['0x30', '0x38']);
    expect(host.traces.find((t) => t.name === 'PIC init')!.layer).toBe('kvm'); // in-kernel irqchip
    outb(p, 0x21, 0xfb);
    outb(p, 0xa1, 0xff);
    expect(inb(p, 0x21)).toBe(0xfb);
    expect(inb(p, 0xa1)).toBe(0xff);
    outb(p, 0x20, 0x0b); // OCW3: read ISR
    expect(inb(p, 0x20)).toBe(0);
    outb(p, 0x4d0, 0xff);
    outb(p, 0x4d1, 0xff);
    expect([inb(p, 0x4d0), inb(p, 0x4d1)]).toEqual([0xf8, 0xde]); // IRQ 0-2, 8 and 13 are always edge
  });
});

describe('8254 PIT', () => {
  it('latches counter 0 and counts at 1.193182 MHz of virtual time', () => {
    const { p, host } = platform();
    outb(p, 0x43, 0x34); // counter 0, lobyte/hibyte, mode 2
    outb(p, 0x40, 0xa9);
    outb(p, 0x40, 0x04); // 1193: about 1 ms
    host.t += 500_000;
    outb(p, 0x43, 0x00); // latch counter 0
    host.t += 100_000; // the latched value does not move
    const count = inb(p, 0x40) | (inb(p, 0x40) << 8);
    expect(count).toBe(1193 - Math.floor((500_000 * 1_193_182) / 1e9));
    expect(p.model<Pit>('pit')!.counters[0].mode).toBe(2);
  });

  it('gates counter 2 through port 0x61 and shows OUT2 in bit 5 when a one-shot count ends', () => {
    const { p, host } = platform();
    outb(p, 0x61, 0x01); // gate 2 high, speaker off
    outb(p, 0x43, 0xb0); // counter 2, lobyte/hibyte, mode 0
    outb(p, 0x42, 0xff);
    outb(p, 0x42, 0x00); // 255 ticks
    expect(inb(p, 0x61) & 0x23).toBe(0x01);
    host.t += 250_000;
    expect(inb(p, 0x61) & 0x20).toBe(0x20);
  });
});

describe('RTC and CMOS', () => {
  it('reads the virtual clock in BCD, 24-hour mode', () => {
    const { p, host } = platform();
    host.t = (86_400 + 13 * 3600 + 45 * 60 + 30) * 1e9; // the default epoch is 2025-01-01 00:00:00
    const cmos = (i: number) => { outb(p, 0x70, i); return inb(p, 0x71); };
    expect([0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32].map(cmos)).toEqual([0x30, 0x45, 0x13, 5, 0x02, 0x01, 0x25, 0x20]);
    outb(p, 0x70, 0x0b);
    outb(p, 0x71, 0x06); // binary mode
    expect(cmos(0x04)).toBe(13);
    expect(inb(p, 0x70)).toBe(0xff); // the index register is write-only
  });

  it('keeps the NMI-disable bit apart from the index and holds the memory size as pc_cmos_init() sets it', () => {
    const { p } = platform({ memory: { below4g: 2 * 2 ** 30, above4g: 2 ** 32 } });
    const cmos = (i: number) => { outb(p, 0x70, 0x80 | i); return inb(p, 0x71); };
    expect(cmos(0x34) | (cmos(0x35) << 8)).toBe((2 * 2 ** 30 - 16 * 2 ** 20) / 0x10000);
    expect(cmos(0x5b) | (cmos(0x5c) << 8) | (cmos(0x5d) << 16)).toBe(2 ** 32 / 0x10000);
    expect(cmos(0x15) | (cmos(0x16) << 8)).toBe(640);
    expect(p.model<Rtc>('rtc')!.nmiDisabled).toBe(true);
  });
});

describe('16550 UART', () => {
  it('sends THR bytes to the console and passes the 8250 loopback test', () => {
    const { p } = platform();
    for (const ch of 'ok\n') outb(p, 0x3f8, ch.charCodeAt(0));
    expect(p.console).toBe('ok\n');
    expect(inb(p, 0x3fd)).toBe(0x60);
    outb(p, 0x3fc, 0x1a); // MCR: LOOP | OUT2 | RTS
    expect(inb(p, 0x3fe) & 0xf0).toBe(0x90);
    outb(p, 0x3f8, 0x41); // in loopback nothing leaves the chip
    expect(p.console).toBe('ok\n');
    outb(p, 0x3fb, 0x83); // DLAB
    outb(p, 0x3f8, 0x01);
    outb(p, 0x3fb, 0x03);
    expect(inb(p, 0x3f9)).toBe(0); // IER again once DLAB is clear
  });
});

describe('reset and power', () => {
  it('RST_CNT 0x06 and the i8042 pulse request a reset; 0x02 alone only latches', () => {
    const { p, host } = platform();
    outb(p, 0xcf9, 0x02);
    expect(host.resets).toEqual([]);
    expect(inb(p, 0xcf9)).toBe(0x02);
    outb(p, 0xcf9, 0x06);
    outb(p, 0x64, 0xfe);
    expect(host.resets).toHaveLength(2);
  });

  it('APM_CNT raises no SMI without SMM, enables ACPI with 0xf1, and ACPI S5 powers off', () => {
    const { p, host } = platform({ td: true });
    outb(p, 0xb2, 0x42);
    expect(host.traces.at(-1)).toMatchObject({ name: 'APM_CNT', args: { smm: false } });
    outb(p, 0xb2, 0xf1);
    expect(p.pio(0x604, 2, false, 0).value & 1).toBe(1); // PM1_CNT.SCI_EN
    p.pio(0x604, 2, true, 0x2001); // SLP_EN with SLP_TYP 0
    expect(host.powerOffs).toHaveLength(1);
  });

  it('with SMM on and SMI_EN.APMC_EN set, an APM_CNT write raises an SMI', () => {
    const { p, host } = platform();
    outl(p, 0x630, 1 << 5);
    outb(p, 0xb2, 0x42);
    expect(host.traces.at(-1)).toMatchObject({ name: 'SMI', layer: 'vmm' });
  });
});

describe('timers and interrupt controllers', () => {
  it('HPET counts 10 ns ticks while enabled and the PM timer 3.579545 MHz ticks', () => {
    const { p, host } = platform();
    expect(rd(p, 0xfed00004)).toBe(10_000_000);
    wr(p, 0xfed00010, 1);
    host.t += 1_000_000;
    expect(rd(p, 0xfed000f0)).toBe(100_000);
    expect(inl(p, 0x608)).toBe(3579);
  });

  it('the IOAPIC version says who answers: KVM (0x11) or QEMU (0x20); entries start masked', () => {
    const kernel = platform().p;
    const split = platform({ irqchip: 'split' }).p;
    const reg = (p: Platform, i: number) => { wr(p, 0xfec00000, i); return rd(p, 0xfec00010); };
    expect(reg(kernel, 1) & 0xff).toBe(0x11);
    expect(reg(split, 1) & 0xff).toBe(0x20);
    expect(reg(split, 0x10)).toBe(0x10000);
    wr(split, 0xfec00000, 0x12);
    wr(split, 0xfec00010, 0x31);
    expect(reg(split, 0x12)).toBe(0x31);
    expect(split.pio(0x20, 1, false, 0)).toMatchObject({ handler: 'vmm' }); // split: the PIC is QEMU's
    expect(kernel.mmio(0xfee00030, 4, false, 0)).toMatchObject({ handler: 'kvm' });
  });

  it('the TPM hands out locality 0 on request', () => {
    const { p } = platform({ devices: { ...defaultDevices('q35'), tpm: true } });
    expect(rd(p, 0xfed40000, 1)).toBe(0x81);
    wr(p, 0xfed40000, 0x02, 1);
    expect(rd(p, 0xfed40000, 1)).toBe(0xa1);
  });
});
