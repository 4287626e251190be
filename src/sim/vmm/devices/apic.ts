/**
 * The I/O APIC (82093AA datasheet; KVM arch/x86/kvm/ioapic.c, QEMU hw/intc/ioapic.c) and the
 * local APIC's xAPIC MMIO page (Intel SDM vol. 3 §11.4; KVM arch/x86/kvm/lapic.c). Both are
 * register files: the guest finds them by their ID and version registers and programs them.
 */
import { hex } from '../../core/units';
import { mergeWordLane, readWordLane, type DeviceEnv, type DeviceModel } from './device';

export const IOAPIC_BASE = 0xfec00000;
export const IOAPIC_NUM_PINS = 24;
/** KVM's in-kernel IOAPIC reports version 0x11 (IOAPIC_VERSION_ID); QEMU's own defaults to 0x20. */
export const IOAPIC_VERSION_KVM = 0x11;
export const IOAPIC_VERSION_QEMU = 0x20;
const IOREGSEL = 0x00;
const IOWIN = 0x10;
const IOAPIC_REG_ID = 0x00;
const IOAPIC_REG_VER = 0x01;
const IOAPIC_REG_ARB = 0x02;
const IOAPIC_RTE_MASKED = 0x10000;
/** Delivery status (bit 12) and remote IRR (bit 14) are read-only. */
const RTE_LOW_WRITABLE = ~((1 << 12) | (1 << 14)) >>> 0;

export class IoApic implements DeviceModel {
  ioregsel = 0;
  id = 0;
  /** Redirection entries as [low, high] words; all masked after reset. */
  readonly rte: [number, number][] = Array.from({ length: IOAPIC_NUM_PINS }, () => [IOAPIC_RTE_MASKED, 0]);

  constructor(private readonly env: DeviceEnv, private readonly version: number, private readonly base = IOAPIC_BASE) {}

  private register(index: number): number {
    if (index === IOAPIC_REG_ID || index === IOAPIC_REG_ARB) return (this.id << 24) >>> 0;
    if (index === IOAPIC_REG_VER) return ((IOAPIC_NUM_PINS - 1) << 16) | this.version;
    const pin = (index - 0x10) >> 1;
    if (index >= 0x10 && pin < IOAPIC_NUM_PINS) return this.rte[pin][index & 1];
    return 0;
  }

  read(gpa: number, size: number): number {
    const off = gpa - this.base;
    if ((off & ~3) === IOREGSEL) return readWordLane(this.ioregsel, off, size);
    if ((off & ~3) === IOWIN) return readWordLane(this.register(this.ioregsel), off, size);
    return 0;
  }

  write(gpa: number, size: number, value: number): void {
    const off = gpa - this.base;
    if ((off & ~3) === IOREGSEL) {
      this.ioregsel = value & 0xff;
      return;
    }
    if ((off & ~3) !== IOWIN) return;
    const index = this.ioregsel;
    const v = mergeWordLane(this.register(index), off, size, value);
    if (index === IOAPIC_REG_ID) {
      this.id = (v >>> 24) & 0xf;
      return;
    }
    const pin = (index - 0x10) >> 1;
    if (index < 0x10 || pin >= IOAPIC_NUM_PINS) return;
    const e = this.rte[pin];
    if (index & 1) e[1] = v & 0xff000000;
    else e[0] = (e[0] & ~RTE_LOW_WRITABLE) | (v & RTE_LOW_WRITABLE);
    if (!(index & 1)) {
      const masked = (e[0] & IOAPIC_RTE_MASKED) !== 0;
      this.env.emit('IOAPIC redirection', { pin, low: hex(e[0] >>> 0), high: hex(e[1] >>> 0), masked },
        `The guest ${masked ? 'masks' : 'routes'} IOAPIC pin ${pin}${masked ? '' : ` to vector ${e[0] & 0xff} on APIC ${e[1] >>> 24}`}.`);
    }
  }

  frozenRegister(gpa: number): string | null {
    if (((gpa - this.base) & ~3) !== IOWIN) return null;
    const index = this.ioregsel;
    if (index === IOAPIC_REG_ID) return 'IOAPIC ID';
    return index >= 0x10 ? `IOAPIC redirection entry ${(index - 0x10) >> 1}` : null;
  }
}

export const LAPIC_BASE = 0xfee00000;
/** KVM: APIC_VERSION 0x14 with (LVT entries - 1) in bits 16-23; six LVT entries without CMCI. */
export const LAPIC_VERSION = 0x00050014;
const APIC_ID = 0x20;
const APIC_LVR = 0x30;
const APIC_EOI = 0xb0;
const APIC_SPIV = 0xf0;
const APIC_ICR = 0x300;
const APIC_TMCCT = 0x390;
const APIC_LVT_MASKED = 0x10000;

/** One vCPU's local APIC as its xAPIC MMIO page shows it. */
export class Lapic implements DeviceModel {
  private readonly regs = new Map<number, number>([
    [APIC_ID, 0], [0xe0, 0xffffffff], [APIC_SPIV, 0xff],
    [0x320, APIC_LVT_MASKED], [0x330, APIC_LVT_MASKED], [0x340, APIC_LVT_MASKED], [0x350, APIC_LVT_MASKED], [0x360, APIC_LVT_MASKED], [0x370, APIC_LVT_MASKED],
  ]);
  eois = 0;

  constructor(private readonly env: DeviceEnv, apicId = 0, private readonly base = LAPIC_BASE) {
    this.regs.set(APIC_ID, (apicId << 24) >>> 0);
  }

  private reg(off: number): number {
    if (off === APIC_LVR) return LAPIC_VERSION;
    if (off === APIC_TMCCT) return 0; // the timer is not modelled: it never counts
    return this.regs.get(off) ?? 0;
  }

  read(gpa: number, size: number): number {
    const off = gpa - this.base;
    return readWordLane(this.reg(off & ~0xf), off, size);
  }

  write(gpa: number, size: number, value: number): void {
    const off = (gpa - this.base) & ~0xf;
    if (off === APIC_LVR || off === APIC_TMCCT) return; // read-only
    if (off === APIC_EOI) {
      this.eois++;
      return;
    }
    this.regs.set(off, mergeWordLane(this.reg(off), gpa - this.base, size, value));
    if (off === APIC_SPIV) {
      const on = (value & 0x100) !== 0;
      this.env.emit('APIC SVR', { svr: hex(value >>> 0) }, `The guest ${on ? 'software-enables' : 'disables'} its local APIC (spurious vector ${value & 0xff}).`);
    } else if (off === APIC_ICR) {
      this.env.emit('APIC ICR', { icr: hex(value >>> 0), dest: (this.regs.get(0x310) ?? 0) >>> 24 },
        `The guest sends an IPI (vector ${value & 0xff}) through the local APIC's ICR.`);
    }
  }

  frozenRegister(): string | null {
    return null;
  }
}
