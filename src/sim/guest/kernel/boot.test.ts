import { describe, expect, test } from 'vitest';
import { Trace } from '../../core/trace';
import { type Access, type CpuBus, type CpuRegs, GuestException, MmioAccess, VcpuExit } from '../../cpu/bus';
import { assemble } from '../asm/assembler';
import { Cpu } from '../../cpu/cpu';
import { OpRegs } from './boot-exec';
import { checksum, dsdtDevices, eisaId, parseMadt } from './boot-acpi';
import { LinuxGuestKernel } from './kernel';
import { ACPI_AREA_END, ACPI_AREA_START } from './boot-firmware';

// ---- ACPI tables and the table-loader script, built the way QEMU builds them ----------------

const enc = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
const put32 = (b: number[], o: number, v: number): void => {
  for (let i = 0; i < 4; i++) b[o + i] = (v >>> (8 * i)) & 0xff;
};

function sdt(sig: string, revision: number, body: number[]): number[] {
  const t = [...enc(sig), 0, 0, 0, 0, revision, 0, ...enc('BOCHS '), ...enc('BXPC    '), 1, 0, 0, 0, ...enc('BXPC'), 1, 0, 0, 0, ...body];
  put32(t, 4, t.length);
  return t;
}

/** EisaId("PNP0303") as iasl emits it: 0C then the 32-bit compressed id. */
function eisa(id: string): number[] {
  const m = ((id.charCodeAt(0) - 0x40) << 10) | ((id.charCodeAt(1) - 0x40) << 5) | (id.charCodeAt(2) - 0x40);
  const p = parseInt(id.slice(3), 16);
  return [0x0c, m >> 8, m & 0xff, p >> 8, p & 0xff];
}

/** Device(NAME) { Name(_HID, EisaId(hid)) } */
function device(name: string, hid: string): number[] {
  const body = [...enc(name.padEnd(4, '_')), 0x08, ...enc('_HID'), ...eisa(hid)];
  return [0x5b, 0x82, body.length + 1, ...body];
}

interface PlatformOpts {
  td?: boolean;
  fwCfg?: boolean;
  pic?: boolean;
  pcatCompat?: boolean;
  i8042?: boolean;
  fadt8042?: boolean;
  pnpKbd?: boolean;
  rtc?: boolean;
  noCmosRtc?: boolean;
  pnpRtc?: boolean;
  /** Every port access (and TD I/O TDVMCALL) exits once before it is answered. */
  exitEveryPort?: boolean;
  /** MSRs that raise #GP. */
  gpMsrs?: number[];
}

interface Files {
  files: Map<string, Uint8Array>;
  madtLength: number;
}

function buildAcpi(o: PlatformOpts): Files {
  const aml = [
    ...(o.pnpKbd !== false ? device('KBD', 'PNP0303') : []),
    ...device('COM1', 'PNP0501'),
    ...(o.pnpRtc !== false ? device('RTC', 'PNP0B00') : []),
    ...device('PCI0', 'PNP0A08'),
  ];
  const dsdt = sdt('DSDT', 1, aml);
  const fadtBody = new Array(244 - 36).fill(0);
  const fadt = sdt('FACP', 3, fadtBody);
  put32(fadt, 76, 0x608);
  fadt[91] = 4;
  fadt[108] = 0x32;
  const bootArch = (o.fadt8042 !== false ? 2 : 0) | (o.noCmosRtc ? 0x20 : 0);
  fadt[109] = bootArch;
  fadt[208] = 1; // X_PM_TMR_BLK: system I/O
  fadt[209] = 32;
  fadt[211] = 3;
  put32(fadt, 212, 0x608);
  const madtBody = [0, 0, 0xe0, 0xfe, o.pcatCompat !== false ? 1 : 0, 0, 0, 0,
    0, 8, 0, 0, 1, 0, 0, 0, // LAPIC
    1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0, // IOAPIC at 0xfec00000, GSI base 0
    2, 10, 0, 0, 2, 0, 0, 0, 0, 0]; // INT_SRC_OVR IRQ0 -> GSI 2
  const madt = sdt('APIC', 3, madtBody);
  const hpetBody = new Array(20).fill(0);
  const hpet = sdt('HPET', 1, hpetBody);
  put32(hpet, 36, 0x8086a201);
  put32(hpet, 44, 0xfed00000);
  const mcfg = sdt('MCFG', 1, [...new Array(8).fill(0), 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0]);
  // The tables blob: DSDT, FACP, APIC, HPET, MCFG, XSDT; pointers hold offsets into the blob.
  const blob: number[] = [];
  const at: Record<string, number> = {};
  const add = (name: string, t: number[]): void => {
    at[name] = blob.length;
    blob.push(...t);
  };
  add('DSDT', dsdt);
  add('FACP', fadt);
  add('APIC', madt);
  add('HPET', hpet);
  add('MCFG', mcfg);
  const xsdtBody: number[] = [];
  for (const n of ['FACP', 'APIC', 'HPET', 'MCFG']) {
    const e = [0, 0, 0, 0, 0, 0, 0, 0];
    put32(e, 0, at[n]);
    xsdtBody.push(...e);
  }
  add('XSDT', sdt('XSDT', 1, xsdtBody));
  put32(blob, at.FACP + 40, at.DSDT);
  put32(blob, at.FACP + 140, at.DSDT);
  for (const n of ['DSDT', 'FACP', 'APIC', 'HPET', 'MCFG', 'XSDT']) blob[at[n] + 9] = 0;
  const rsdp = [...enc('RSD PTR '), 0, ...enc('BOCHS '), 2, 0, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  put32(rsdp, 24, at.XSDT);
  // The table-loader script (hw/acpi/bios-linker-loader.c): 128-byte entries.
  const loader: number[] = [];
  const entry = (): number[] => new Array(128).fill(0);
  const name = (e: number[], off: number, s: string): void => enc(s).forEach((c, i) => (e[off + i] = c));
  const alloc = (file: string, align: number, zone: number): void => {
    const e = entry();
    e[0] = 1;
    name(e, 4, file);
    put32(e, 60, align);
    e[64] = zone;
    loader.push(...e);
  };
  const pointer = (dest: string, src: string, offset: number, size: number): void => {
    const e = entry();
    e[0] = 2;
    name(e, 4, dest);
    name(e, 60, src);
    put32(e, 116, offset);
    e[120] = size;
    loader.push(...e);
  };
  const cksum = (file: string, offset: number, start: number, length: number): void => {
    const e = entry();
    e[0] = 3;
    name(e, 4, file);
    put32(e, 60, offset);
    put32(e, 64, start);
    put32(e, 68, length);
    loader.push(...e);
  };
  alloc('etc/acpi/tables', 64, 1);
  alloc('etc/acpi/rsdp', 16, 2);
  pointer('etc/acpi/tables', 'etc/acpi/tables', at.FACP + 40, 4);
  pointer('etc/acpi/tables', 'etc/acpi/tables', at.FACP + 140, 8);
  ['FACP', 'APIC', 'HPET', 'MCFG'].forEach((_, i) => pointer('etc/acpi/tables', 'etc/acpi/tables', at.XSDT + 36 + 8 * i, 8));
  for (const n of ['DSDT', 'FACP', 'APIC', 'HPET', 'MCFG', 'XSDT']) {
    const len = blob[at[n] + 4] | (blob[at[n] + 5] << 8);
    cksum('etc/acpi/tables', at[n] + 9, at[n], len);
  }
  pointer('etc/acpi/rsdp', 'etc/acpi/tables', 24, 8);
  cksum('etc/acpi/rsdp', 8, 0, 20);
  cksum('etc/acpi/rsdp', 32, 0, 36);
  return {
    files: new Map([
      ['etc/table-loader', new Uint8Array(loader)],
      ['etc/acpi/rsdp', new Uint8Array(rsdp)],
      ['etc/acpi/tables', new Uint8Array(blob)],
      ['etc/boot-fail-wait', new Uint8Array(4)],
    ]),
    madtLength: madt.length,
  };
}

// ---- a small fake platform behind the CpuBus ------------------------------------------------

const SHARED = 2 ** 47;
const MEM = 10 << 20;

class FakePlatform implements CpuBus {
  readonly priv = new Uint8Array(MEM);
  /** A TD's shared view of memory (the VMM's mapping). For an ordinary VM, priv is the only view. */
  readonly shared = new Uint8Array(MEM);
  tlbGeneration = 0;
  console = '';
  readonly ports: { port: number; dirIn: boolean; value: number }[] = [];
  readonly ioCalls: number[] = [];
  readonly tdvmcalls: { sub: number; r12: bigint; r13: bigint }[] = [];
  readonly accepted: number[] = [];
  readonly dmaTargets: number[] = [];
  readonly msrs = new Map<number, bigint>([[0x1b, 0xfee00900n], [0x1a0, 1n], [0x10a, 0x20000e0ebn], [0x277, 0x0007040600070406n], [0x80f, 0xffn]]);
  readonly wrmsrs: [number, bigint][] = [];
  private pendingExit: string | null = null;
  readonly acpi: Files;
  // device state
  private fwSel = 0;
  private fwOff = 0;
  private fwDmaHigh = 0;
  private imr = 0;
  private pitCount = 0;
  private pitLo = true;
  private kbdOut: number[] = [];
  private rtcIndex = 0;
  private ier = 0;
  private fifo = false;
  private scr = 0;
  private cf8 = 0;
  private ioregsel = 0;
  private svr = 0xff;

  constructor(readonly o: PlatformOpts = {}) {
    this.acpi = buildAcpi(o);
  }

  private fwItems(): Map<number, Uint8Array> {
    const items = new Map<number, Uint8Array>([[0, new Uint8Array(enc('QEMU'))], [1, new Uint8Array([3, 0, 0, 0])]]);
    const names = [...this.acpi.files.keys()];
    const dir = new Uint8Array(4 + 64 * names.length);
    const dv = new DataView(dir.buffer);
    dv.setUint32(0, names.length);
    names.forEach((n, i) => {
      dv.setUint32(4 + 64 * i, this.acpi.files.get(n)!.length);
      dv.setUint16(8 + 64 * i, 0x20 + i);
      enc(n).forEach((c, k) => (dir[12 + 64 * i + k] = c));
      items.set(0x20 + i, this.acpi.files.get(n)!);
    });
    items.set(0x19, dir);
    return items;
  }

  /** Guest memory as a device (DMA) sees it: a TD's shared view, an ordinary VM's only view. */
  private dmaMem(): Uint8Array {
    return this.o.td ? this.shared : this.priv;
  }

  private fwDma(addr: number): void {
    const m = this.dmaMem();
    const dv = new DataView(m.buffer);
    const control = dv.getUint32(addr);
    const length = dv.getUint32(addr + 4);
    const target = dv.getUint32(addr + 12);
    if (control & 8) {
      this.fwSel = control >>> 16;
      this.fwOff = 0;
    }
    if (control & 2) {
      this.dmaTargets.push(target);
      const item = this.fwItems().get(this.fwSel) ?? new Uint8Array(0);
      m.set(item.subarray(this.fwOff, this.fwOff + length), target);
      this.fwOff += length;
    }
    dv.setUint32(addr, 0);
  }

  private pciConfig(dev: number, fn: number, reg: number): number {
    const devs: Record<string, [number, number, number]> = {
      '0.0': [0x29c08086, 0x06000000, 0x00000000],
      '1.0': [0x11111234, 0x03000002, 0x00000000],
      '31.0': [0x29188086, 0x06010002, 0x00800000],
      '31.2': [0x29228086, 0x01060102, 0x00000000],
    };
    const d = devs[`${dev}.${fn}`];
    if (!d) return 0xffffffff;
    return reg === 0 ? d[0] : reg === 8 ? d[1] : reg === 0x0c ? d[2] : 0;
  }

  /** A port access, recorded with the value written or read. */
  portAccess(port: number, size: number, dirIn: boolean, value: number): number {
    const v = this.portDevice(port, size, dirIn, value);
    this.ports.push({ port, dirIn, value: dirIn ? v : value });
    return v;
  }

  /** The port devices: fw_cfg, PIC, PIT, i8042, RTC, COM1, PCI; all ones elsewhere. */
  private portDevice(port: number, size: number, dirIn: boolean, value: number): number {
    const ones = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    if (port === 0x510 && !dirIn && this.o.fwCfg !== false) {
      this.fwSel = value;
      this.fwOff = 0;
      return 0;
    }
    if (port === 0x511 && dirIn && this.o.fwCfg !== false) return this.fwItems().get(this.fwSel)?.[this.fwOff++] ?? 0;
    if (port === 0x514 && !dirIn && this.o.fwCfg !== false) {
      this.fwDmaHigh = value;
      return 0;
    }
    if (port === 0x518 && !dirIn && this.o.fwCfg !== false) {
      const sw = (v: number): number => new DataView(new Uint32Array([v]).buffer).getUint32(0, false);
      this.fwDma(sw(this.fwDmaHigh) * 2 ** 32 + sw(value));
      return 0;
    }
    if ((port === 0x20 || port === 0x21 || port === 0xa0 || port === 0xa1) && this.o.pic !== false) {
      if (port === 0x21 && !dirIn) this.imr = value;
      return dirIn ? (port === 0x21 ? this.imr : 0) : 0;
    }
    if (port >= 0x40 && port <= 0x43) {
      if (port === 0x40 && !dirIn) this.pitCount = this.pitLo ? value : this.pitCount | (value << 8);
      if (port === 0x40) this.pitLo = !this.pitLo;
      if (port === 0x40 && dirIn) return this.pitLo ? (this.pitCount - 100) >> 8 : (this.pitCount - 100) & 0xff;
      return 0;
    }
    if ((port === 0x60 || port === 0x64) && this.o.i8042 !== false) {
      if (port === 0x64 && dirIn) return 0x14 | (this.kbdOut.length ? 1 : 0);
      if (port === 0x64) this.kbdOut.push(value === 0xaa ? 0x55 : value === 0x20 ? 0x47 : 0xfa);
      if (port === 0x60 && dirIn) return this.kbdOut.shift() ?? 0;
      return 0;
    }
    if ((port === 0x70 || port === 0x71) && this.o.rtc !== false) {
      if (port === 0x70) this.rtcIndex = value & 0x7f;
      const regs: Record<number, number> = { 0: 0x05, 2: 0x30, 4: 0x12, 7: 0x15, 8: 0x01, 9: 0x26, 0x0a: 0x26, 0x0b: 0x02, 0x32: 0x20 };
      return port === 0x71 && dirIn ? regs[this.rtcIndex] ?? 0 : 0;
    }
    if (port >= 0x3f8 && port <= 0x3ff) {
      const r = port - 0x3f8;
      if (r === 0 && !dirIn) this.console += String.fromCharCode(value);
      if (r === 1) {
        if (!dirIn) this.ier = value & 0x0f;
        return this.ier;
      }
      if (r === 2) {
        if (!dirIn) this.fifo = (value & 1) === 1;
        return this.fifo ? 0xc1 : 0x01;
      }
      if (r === 5) return 0x60;
      if (r === 7) {
        if (!dirIn) this.scr = value;
        return this.scr;
      }
      return 0;
    }
    if (port === 0xcf8) {
      if (!dirIn) this.cf8 = value >>> 0;
      return this.cf8;
    }
    if (port === 0xcfc && dirIn) return this.pciConfig((this.cf8 >> 11) & 0x1f, (this.cf8 >> 8) & 7, this.cf8 & 0xfc);
    return dirIn ? ones : 0;
  }

  mmioAccess(gpa: number, isWrite: boolean, value: number): number {
    if (gpa === 0xfec00000 && isWrite) this.ioregsel = value;
    if (gpa === 0xfec00010) return [0, 0x00170020, 0][this.ioregsel] ?? 0;
    if (gpa === 0xfee000f0) {
      if (isWrite) this.svr = value;
      return this.svr;
    }
    if (gpa === 0xfed00000) return 0x8086a201;
    if (gpa === 0xfed00004) return 10_000_000;
    if (gpa >= 0xb0000000 && gpa < 0xc0000000) {
      const off = gpa - 0xb0000000;
      return this.pciConfig((off >> 15) & 0x1f, (off >> 12) & 7, off & 0xffc);
    }
    return isWrite ? 0 : 0xffffffff;
  }

  /** Exit once per access when asked to, then answer on re-entry (a completion from user space). */
  private maybeExit(key: string): void {
    if (!this.o.exitEveryPort) return;
    if (this.pendingExit === key) {
      this.pendingExit = null;
      return;
    }
    this.pendingExit = key;
    throw new VcpuExit(`exit for ${key}`);
  }

  page(gpa: number, _access: Access): Uint8Array {
    if (gpa >= SHARED && this.o.td) {
      const g = gpa - SHARED;
      if (g >= MEM) throw new GuestException('VE', `MMIO at ${g}`, { exitReason: 48, exitQualification: 0, gpa });
      return this.shared.subarray(g - (g % 4096), g - (g % 4096) + 4096);
    }
    if (gpa >= MEM) throw new MmioAccess(gpa);
    return this.priv.subarray(gpa - (gpa % 4096), gpa - (gpa % 4096) + 4096);
  }

  mmio(gpa: number, size: number, isWrite: boolean, value: number): number {
    this.maybeExit(`mmio ${gpa} ${isWrite} ${value}`);
    return this.mmioAccess(gpa, isWrite, value) & (size === 4 ? 0xffffffff : (1 << (8 * size)) - 1);
  }

  io(port: number, size: 1 | 2 | 4, dirIn: boolean, value: number): number {
    this.ioCalls.push(port);
    if (this.o.td) throw new GuestException('VE', 'port I/O in a TD', { exitReason: 30, exitQualification: 0, port, size, dirIn });
    this.maybeExit(`io ${port} ${dirIn} ${value}`);
    return this.portAccess(port, size, dirIn, value) >>> 0;
  }

  rdmsr(index: number): bigint {
    if (this.o.gpMsrs?.includes(index)) throw new GuestException('GP', `RDMSR ${index}`);
    if (this.o.td && index !== 0x10) throw new GuestException('VE', `RDMSR ${index}`, { exitReason: 31, exitQualification: 0, msr: index });
    const v = this.msrs.get(index);
    if (v === undefined) throw new GuestException('GP', `RDMSR ${index}`);
    return v;
  }

  wrmsr(index: number, value: bigint): void {
    if (this.o.gpMsrs?.includes(index)) throw new GuestException('GP', `WRMSR ${index}`);
    if (this.o.td) throw new GuestException('VE', `WRMSR ${index}`, { exitReason: 32, exitQualification: 0, msr: index });
    this.wrmsrs.push([index, value]);
    this.msrs.set(index, value);
  }

  cpuid(leaf: number, _subleaf: number): [number, number, number, number] {
    if (leaf === 0x40000000 && this.o.td) throw new GuestException('VE', 'CPUID', { exitReason: 10, exitQualification: 0, leaf, subleaf: 0 });
    return this.cpuidValues(leaf);
  }

  /** What CPUID returns (the TDX module, or KVM for a TD's forwarded hypervisor leaves). */
  private cpuidValues(leaf: number): [number, number, number, number] {
    const s = (t: string): number[] => [0, 4, 8].map((i) => (t.charCodeAt(i) | (t.charCodeAt(i + 1) << 8) | (t.charCodeAt(i + 2) << 16) | (t.charCodeAt(i + 3) << 24)) >>> 0);
    if (leaf === 0) {
      const [b, d, c] = s('GenuineIntel');
      return [this.o.td ? 0x21 : 0x1f, b, c, d];
    }
    if (leaf === 1) return [0x806f8, 0, 0x80000000, 0];
    if (leaf === 7) return [0, 0, 0, 1 << 29];
    if (leaf === 0x21 && this.o.td) {
      const [b, d, c] = s('IntelTDX    ');
      return [0, b, c, d];
    }
    if (leaf === 0x40000000) {
      const [b, c, d] = s('KVMKVMKVM\0\0\0');
      return [0x40000001, b, c, d];
    }
    return [0, 0, 0, 0];
  }

  hlt(): void {
    throw new VcpuExit('hlt');
  }

  tdcall(regs: CpuRegs): void {
    if (!this.o.td) throw new GuestException('UD', 'TDCALL outside a TD');
    const leaf = Number(regs.get('rax'));
    if (leaf === 1) {
      regs.set('rax', 0n);
      regs.set('rcx', 48n);
      return;
    }
    if (leaf === 6) {
      this.accepted.push(Number(regs.get('rcx')));
      regs.set('rax', 0n);
      return;
    }
    const sub = Number(regs.get('r11'));
    const r12 = regs.get('r12');
    const r13 = regs.get('r13');
    const r14 = regs.get('r14');
    const r15 = regs.get('r15');
    this.tdvmcalls.push({ sub, r12, r13 });
    const ok = (r11?: bigint): void => {
      regs.set('rax', 0n);
      regs.set('r10', 0n);
      if (r11 !== undefined) regs.set('r11', r11);
    };
    switch (sub) {
      case 30:
        this.maybeExit(`tdio ${r14} ${r13} ${r15}`);
        return ok(BigInt(this.portAccess(Number(r14), Number(r12), r13 === 0n, Number(r15)) >>> 0));
      case 48: {
        if (r14 < BigInt(SHARED)) return regs.set('r10', 0x8000000000000000n);
        this.maybeExit(`tdmmio ${r14} ${r13} ${r15}`);
        return ok(BigInt(this.mmioAccess(Number(r14) - SHARED, r13 === 1n, Number(r15)) >>> 0));
      }
      case 31: {
        const v = this.msrs.get(Number(r12));
        return v === undefined ? regs.set('r10', 0x8000000000000000n) : ok(v);
      }
      case 32:
        this.wrmsrs.push([Number(r12), r13]);
        this.msrs.set(Number(r12), r13);
        return ok();
      case 10: {
        const [a, b, c, d] = this.cpuidValues(Number(r12));
        ok();
        regs.set('r12', BigInt(a));
        regs.set('r13', BigInt(b));
        regs.set('r14', BigInt(c));
        regs.set('r15', BigInt(d));
        return;
      }
      case 0x10001:
        return ok();
      default:
        regs.set('r10', 0x8000000000000000n);
    }
  }

  vmcall(regs: CpuRegs): void {
    regs.set('rax', -38n);
  }
}

// ---- driving the services -------------------------------------------------------------------

function boot(o: PlatformOpts = {}) {
  const trace = new Trace(() => 0);
  const bus = new FakePlatform(o);
  const kernel = new LinuxGuestKernel(o.td ? 'tdx' : 'none', trace, { vm: 'vm0', vcpu: 0 });
  const call = (name: string): { rax: bigint; exits: number } => {
    const regs = new OpRegs();
    regs.rip = 0x100000;
    let exits = 0;
    for (;;) {
      try {
        kernel.callService(name, regs, bus);
        return { rax: regs.get('rax'), exits };
      } catch (e) {
        if (!(e instanceof VcpuExit) || ++exits > 100_000) throw e;
      }
    }
  };
  const fw = call('firmware_boot');
  const linux = call('linux_boot');
  const info = kernel.bootInfo!;
  return { bus, kernel, trace, fw, linux, info, log: info.log };
}

const portsTouched = (bus: FakePlatform, ports: number[]) => bus.ports.filter((p) => ports.includes(p.port));

describe('firmware_boot', () => {
  test('OVMF loads the tables with fw_cfg DMA and leaves the RSDP in boot_params', () => {
    const { bus, kernel, fw, trace } = boot();
    const fi = kernel.firmwareInfo!;
    expect(fi.firmware).toBe('OVMF');
    expect(fi.dma).toBe(true);
    expect(fi.loaded.map((l) => [l.name, l.gpa])).toEqual([['etc/acpi/tables', ACPI_AREA_START], ['etc/acpi/rsdp', ACPI_AREA_START + Math.ceil(bus.acpi.files.get('etc/acpi/tables')!.length / 16) * 16]]);
    const rsdp = fi.loaded[1].gpa;
    expect(fw.rax).toBe(BigInt(rsdp));
    expect(kernel.bootParams.acpi_rsdp_addr).toBe(rsdp);
    expect(String.fromCharCode(...bus.priv.subarray(rsdp, rsdp + 8))).toBe('RSD PTR ');
    expect(checksum(bus.priv, rsdp, 20)).toBe(0);
    expect(checksum(bus.priv, rsdp, 36)).toBe(0);
    // An ordinary VM: the device DMAs the tables straight into their final place.
    expect(bus.dmaTargets).toContain(ACPI_AREA_START);
    expect(trace.events.some((e) => e.name === 'boot_params.acpi_rsdp_addr' && e.args.acpi_rsdp_addr === `0x${rsdp.toString(16)}`)).toBe(true);
  });

  test('TDVF reads fw_cfg through a shared bounce buffer and copies the tables into private memory', () => {
    const { bus, kernel } = boot({ td: true });
    const fi = kernel.firmwareInfo!;
    expect(fi.firmware).toBe('TDVF');
    expect(fi.bounce).toEqual({ gpa: 0x70000, size: 0x10000 });
    // MapGPA to shared (with the shared bit), later back to private, then every page accepted again.
    const maps = bus.tdvmcalls.filter((c) => c.sub === 0x10001).map((c) => [Number(c.r12), Number(c.r13)]);
    expect(maps).toEqual([[0x70000 + SHARED, 0x10000], [0x70000, 0x10000]]);
    expect(bus.accepted).toEqual(Array.from({ length: 16 }, (_, i) => 0x70000 + i * 4096));
    // Every DMA went into the bounce buffer; the data ended up in private memory.
    expect(bus.dmaTargets.every((t) => t >= 0x70000 && t < 0x80000)).toBe(true);
    const rsdp = kernel.bootParams.acpi_rsdp_addr;
    expect(String.fromCharCode(...bus.priv.subarray(rsdp, rsdp + 8))).toBe('RSD PTR ');
    expect(bus.shared.subarray(ACPI_AREA_START, ACPI_AREA_END).every((b) => b === 0)).toBe(true);
    // Port I/O went through TDG.VP.VMCALL<Instruction.IO>, never through IN/OUT.
    expect(bus.ioCalls).toEqual([]);
    expect(bus.tdvmcalls.some((c) => c.sub === 30)).toBe(true);
  });

  test('TDVF appends the MP-wakeup structure to a new MADT with a correct checksum', () => {
    const { bus, kernel } = boot({ td: true });
    const mp = kernel.firmwareInfo!.mpWakeup!;
    expect(mp.mailbox).toBe(0x9f000);
    const dv = new DataView(bus.priv.buffer);
    const rsdp = kernel.bootParams.acpi_rsdp_addr;
    const xsdt = dv.getUint32(rsdp + 24, true);
    expect(checksum(bus.priv, xsdt, dv.getUint32(xsdt + 4, true))).toBe(0);
    expect(dv.getUint32(xsdt + 36 + 8, true)).toBe(mp.madt); // the XSDT's second entry was the MADT
    const len = dv.getUint32(mp.madt + 4, true);
    expect(len).toBe(bus.acpi.madtLength + 16);
    const madt = bus.priv.subarray(mp.madt, mp.madt + len);
    expect(checksum(madt)).toBe(0);
    expect(Array.from(madt.subarray(len - 16, len - 8))).toEqual([0x10, 16, 0, 0, 0, 0, 0, 0]);
    expect(parseMadt(madt).entries.at(-1)).toEqual({ type: 'mp-wakeup', version: 0, mailbox: 0x9f000 });
  });

  test('a MADT entry shorter than its structure is not read as one (BAD_MADT_ENTRY)', () => {
    const madt = new Uint8Array(44 + 6 + 8);
    madt.set([...'APIC'].map((c) => c.charCodeAt(0)));
    new DataView(madt.buffer).setUint32(4, madt.length, true);
    madt.set([0, 6, 1, 2, 1, 0], 44); // a Processor Local APIC entry of 6 bytes, not 8
    madt.set([0, 8, 3, 4, 1, 0, 0, 0], 50);
    expect(parseMadt(madt).entries).toEqual([
      { type: 'other', code: 0, length: 6 },
      { type: 'lapic', processorId: 3, apicId: 4, enabled: true },
    ]);
  });

  test('without fw_cfg there are no ACPI tables, and Linux says so', () => {
    const { fw, kernel, trace, log } = boot({ fwCfg: false });
    expect(fw.rax).toBe(0n);
    expect(kernel.bootParams.acpi_rsdp_addr).toBe(0);
    expect(trace.events.find((e) => e.name === 'fw_cfg')?.text).toMatch(/no ACPI tables/);
    expect(log).toContain('ACPI BIOS Error (bug): A valid RSDP was not found');
  });
});

describe('linux_boot', () => {
  test('an ordinary VM: Linux messages for the tables and every device', () => {
    const { log, info, linux, bus } = boot();
    const rsdp = info.acpiRsdpAddr.toString(16).toUpperCase().padStart(16, '0');
    expect(log).toEqual(expect.arrayContaining([
      'Hypervisor detected: KVM',
      'x86/PAT: Configuration [0-7]: WB  WC  UC- UC  WB  WP  UC- WT  ',
      `ACPI: RSDP 0x${rsdp} 000024 (v02 BOCHS )`,
      'ACPI: PM-Timer IO Port: 0x608',
      'IOAPIC[0]: apic_id 0, version 32, address 0xfec00000, GSI 0-23',
      'ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)',
      'smpboot: Allowing 1 CPUs, 0 hotplug CPUs',
      'ACPI: HPET id: 0x8086a201 base: 0xfed00000',
      'hpet0: 3 comparators, 64-bit 100.000000 MHz counter',
      'PCI: MMCONFIG for domain 0000 [bus 00-ff] at [mem 0xb0000000-0xbfffffff] (base 0xb0000000)',
      'PCI: Using configuration type 1 for base access',
      'pci 0000:00:00.0: [8086:29c0] type 00 class 0x060000',
      'pci 0000:00:1f.2: [8086:2922] type 00 class 0x010601',
      'pnp 00:00: Plug and Play ACPI device, IDs PNP0303 (active)',
      '00:01: ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a 16550A',
      'i8042: PNP: PS/2 Controller [PNP0303:KBD] at 0x60,0x64 irq 1',
      'serio: i8042 KBD port at 0x60,0x64 irq 1',
      'rtc_cmos 00:02: setting system clock to 2026-01-15T12:30:05 UTC (1768480205)',
    ]));
    expect(log.some((l) => l.startsWith('ACPI: APIC 0x') && l.endsWith('(v03 BOCHS  BXPC     00000001 BXPC 00000001)'))).toBe(true);
    expect(log.some((l) => l.startsWith('tdx:'))).toBe(false);
    expect(info.acpiTables.map((t) => t.signature)).toEqual(['XSDT', 'FACP', 'DSDT', 'APIC', 'HPET', 'MCFG']);
    expect(info.acpiTables.every((t) => t.checksumOk)).toBe(true);
    expect(info.failures).toEqual([]);
    expect(linux.rax).toBe(0n);
    const found = info.devices.filter((d) => d.status === 'found');
    expect(found.map((d) => d.name)).toEqual([
      'IOAPIC[0]', 'local APIC', '8259A PIC', 'hpet0', 'i8253 PIT',
      'pci 0000:00:00.0', 'pci 0000:00:01.0', 'pci 0000:00:1f.0', 'pci 0000:00:1f.2', 'ttyS0', 'i8042', 'rtc_cmos',
    ]);
    expect(log.at(-1)).toBe('linux_boot: 12 devices found, 0 failed');
    // The console got every line, as the 8250 console sends it.
    expect(bus.console).toBe(log.map((l) => `${l}\r\n`).join(''));
    // PAT written with Linux's value; xAPIC SVR enabled by MMIO.
    expect(bus.wrmsrs).toContainEqual([0x277, 0x0407050600070106n]);
    expect(bus.mmioAccess(0xfee000f0, false, 0)).toBe(0x1ff);
  });

  test('one trace event per console line, and the per-character port writes are muted', () => {
    const { trace, log } = boot();
    const printks = trace.events.filter((e) => e.name === 'printk');
    expect(printks.map((e) => e.args.line)).toEqual(log);
    expect(printks.every((e) => e.layer === 'guest')).toBe(true);
  });

  test('resumable: a VM exit on every port and MMIO access gives the same boot and the same log', () => {
    const plain = boot();
    const exiting = boot({ exitEveryPort: true });
    expect(exiting.fw.exits).toBeGreaterThan(10);
    expect(exiting.linux.exits).toBeGreaterThan(1000);
    expect(exiting.log).toEqual(plain.log);
    expect(exiting.bus.console).toBe(plain.bus.console);
    expect(exiting.trace.events.map((e) => e.name)).toEqual(plain.trace.events.map((e) => e.name));
  });

  test('resumable through the CPU: call firmware_boot / call linux_boot / hlt, re-entered after each exit', () => {
    const trace = new Trace(() => 0);
    const bus = new FakePlatform({ exitEveryPort: true });
    const kernel = new LinuxGuestKernel('none', trace, { vm: 'vm0', vcpu: 0 });
    const program = assemble('_start:\n call firmware_boot\n call linux_boot\n hlt', { origin: 0x100000, services: kernel.services });
    bus.priv.set(program.image, program.origin);
    const cpu = new Cpu(program, bus, kernel);
    cpu.set('rsp', 0x110000n);
    let exits = 0;
    for (;;) {
      try {
        cpu.run(100);
      } catch (e) {
        if (!(e instanceof VcpuExit)) throw e;
        if (e.why === 'hlt') break;
        exits++;
      }
    }
    expect(exits).toBeGreaterThan(1000);
    expect(cpu.get('rax')).toBe(0n);
    expect(kernel.bootInfo!.log.at(-1)).toBe('linux_boot: 12 devices found, 0 failed');
  });

  test('a TD: tdx detected, I/O and MMIO only through TDVMCALLs, MMIO with the shared bit, x2APIC', () => {
    const { log, info, bus } = boot({ td: true });
    expect(info.tdx).toBe(true);
    expect(log.slice(0, 3)).toEqual(['tdx: Guest detected', 'Hypervisor detected: KVM', 'x86/PAT: Configuration [0-7]: WB  WC  UC- UC  WB  WP  UC- WT  ']);
    expect(log).toContain('Memory Encryption Features active: Intel TDX');
    expect(bus.ioCalls).toEqual([]);
    const mmio = bus.tdvmcalls.filter((c) => c.sub === 48);
    expect(mmio.length).toBeGreaterThan(0);
    expect(bus.tdvmcalls.filter((c) => c.sub === 48 && c.r12 === 4n).length).toBe(mmio.length);
    expect(bus.tdvmcalls.some((c) => c.sub === 10 && c.r12 === 0x40000000n)).toBe(true); // hypervisor CPUID via #VE
    expect(bus.wrmsrs).toContainEqual([0x80f, 0x1ffn]); // x2APIC SVR through TDG.VP.VMCALL<Instruction.WRMSR>
    expect(info.devices.find((d) => d.name === 'local APIC')?.where).toBe('x2APIC MSR 0x80f');
    expect(info.failures).toEqual([]);
  });

  test('no i8042 in the DSDT and the FADT 8042 flag clear: the controller is not probed', () => {
    const { log, bus, info } = boot({ i8042: false, pnpKbd: false, fadt8042: false });
    expect(log).toContain('i8042: PNP: No PS/2 controller found.');
    expect(log.some((l) => l.startsWith('serio:'))).toBe(false);
    expect(portsTouched(bus, [0x60, 0x64])).toEqual([]);
    expect(info.devices.find((d) => d.name === 'i8042')?.status).toBe('skipped');
    expect(info.failures).toEqual([]);
  });

  test('the FADT says an 8042 exists but nothing answers: probed directly, reported as failed', () => {
    const { log, info, linux } = boot({ i8042: false, pnpKbd: false });
    expect(log).toEqual(expect.arrayContaining(['i8042: PNP: No PS/2 controller found.', 'i8042: Probing ports directly.', 'i8042: No controller found']));
    expect(info.devices.find((d) => d.name === 'i8042')?.status).toBe('absent');
    expect(linux.rax).toBe(1n);
    expect(log.slice(-2)).toEqual(['linux_boot: 11 devices found, 1 failed', 'linux_boot: FAILED i8042: i8042: No controller found']);
  });

  test('no RTC: the FADT CMOS-RTC-not-present flag and no PNP0B00 keep Linux off ports 0x70/0x71', () => {
    const { log, bus, info } = boot({ rtc: false, pnpRtc: false, noCmosRtc: true });
    expect(log.some((l) => l.startsWith('rtc_cmos'))).toBe(false);
    expect(portsTouched(bus, [0x70, 0x71])).toEqual([]);
    expect(info.devices.find((d) => d.name === 'rtc_cmos')?.status).toBe('skipped');
  });

  test('an RTC that is listed but absent reads all ones: broken or not accessible', () => {
    const { log, info } = boot({ rtc: false });
    expect(log).toContain('rtc_cmos 00:02: broken or not accessible');
    expect(info.failures).toEqual(['rtc_cmos: rtc_cmos 00:02: broken or not accessible']);
  });

  test('PCAT_COMPAT decides: set, the PIC is initialised without a probe; clear and absent, the NULL legacy PIC', () => {
    const withFlag = boot();
    const pic = [0x20, 0x21, 0xa0, 0xa1];
    expect(portsTouched(withFlag.bus, pic).some((p) => p.dirIn)).toBe(false);
    expect(portsTouched(withFlag.bus, [0x20]).map((p) => p.value)).toEqual([0x11]);
    const noPic = boot({ pcatCompat: false, pic: false });
    expect(noPic.log).toContain('Using NULL legacy PIC');
    expect(portsTouched(noPic.bus, pic).map((p) => [p.port, p.dirIn, p.value])).toEqual([[0xa1, false, 0xff], [0x21, false, 0xfb], [0x21, true, 0xff]]);
    expect(noPic.info.devices.find((d) => d.name === '8259A PIC')?.status).toBe('absent');
  });

  test('a #GP on an MSR: the unchecked-MSR warning, then the boot goes on and lists the failure', () => {
    const { log, info, linux } = boot({ gpMsrs: [0x1a0, 0x277] });
    expect(log).toContain('unchecked MSR access error: RDMSR from 0x1a0 at rIP: 0x100000 (linux_boot)');
    expect(log).toContain('unchecked MSR access error: WRMSR to 0x277 (tried to write 0x0407050600070106) at rIP: 0x100000 (linux_boot)');
    expect(linux.rax).toBe(2n);
    expect(info.failures).toHaveLength(2);
    expect(log.slice(-3)).toEqual([
      'linux_boot: 12 devices found, 2 failed',
      'linux_boot: FAILED RDMSR 0x1a0: unchecked MSR access error: RDMSR from 0x1a0 at rIP: 0x100000 (linux_boot)',
      'linux_boot: FAILED WRMSR 0x277: unchecked MSR access error: WRMSR to 0x277 (tried to write 0x0407050600070106) at rIP: 0x100000 (linux_boot)',
    ]);
  });
});

describe('the ACPI reader', () => {
  test('EisaId and the DSDT device list', () => {
    expect(eisaId(0x0303d041)).toBe('PNP0303');
    const aml = new Uint8Array([...new Array(36).fill(0), ...device('KBD', 'PNP0303'), ...device('MOU', 'PNP0F13')]);
    expect(dsdtDevices(aml)).toEqual([{ name: 'KBD', hid: 'PNP0303' }, { name: 'MOU', hid: 'PNP0f13' }]);
  });
});
