/**
 * CFI parallel flash in Intel command-set mode (QEMU hw/block/pflash_cfi01.c, CFI JESD68), byte
 * wide as QEMU maps OVMF on x86. In read-array mode KVM maps the flash as a read-only memslot and
 * reads never exit; here the image itself is not modelled, so array reads return the erased value
 * 0xff (or what the guest programmed into the variable store). Writes are the command interface.
 */
import { hex } from '../../core/units';
import { readBytes, type DeviceEnv, type DeviceModel } from './device';

const CMD_READ_ARRAY = 0xff;
const CMD_READ_QUERY = 0x98;
const CMD_READ_STATUS = 0x70;
const CMD_CLEAR_STATUS = 0x50;
const CMD_PROGRAM = 0x40;
const CMD_PROGRAM_ALT = 0x10;
const CMD_BLOCK_ERASE = 0x20;
const CMD_CONFIRM = 0xd0;
const STATUS_READY = 0x80;
const STATUS_ERROR = 0x30; // erase and program error bits: a command sequence was refused
const PROGRAM_COMMANDS = new Set([CMD_PROGRAM, CMD_PROGRAM_ALT, CMD_BLOCK_ERASE, CMD_CONFIRM, 0xe8]);

/** One flash device: its CFI query table and, for the variable store, the bytes programmed into it. */
export class PflashBank {
  mode: 'array' | 'query' | 'status' | 'program' | 'erase' = 'array';
  status = STATUS_READY;
  readonly programmed = new Map<number, number>();
  private readonly cfi = new Uint8Array(0x40);

  constructor(readonly name: string, readonly start: number, readonly size: number, readonly readOnly: boolean, readonly sectorSize: number) {
    const c = this.cfi;
    c.set([0x51, 0x52, 0x59], 0x10); // "QRY"
    c[0x13] = 0x01; // primary command set: Intel/Sharp extended (0x0001)
    c[0x15] = 0x31; // primary extended table at 0x31
    c[0x27] = Math.log2(size); // device size as a power of two
    c[0x2c] = 1; // one erase-block region
    const blocks = size / sectorSize - 1;
    c[0x2d] = blocks & 0xff;
    c[0x2e] = blocks >> 8;
    c[0x2f] = (sectorSize >> 8) & 0xff;
    c[0x30] = sectorSize >> 16;
  }

  read1(off: number): number {
    if (this.mode === 'query') return this.cfi[off & 0x3f];
    if (this.mode === 'status') return this.status;
    return this.programmed.get(off) ?? 0xff;
  }

  write1(off: number, v: number, env: DeviceEnv): void {
    if (this.mode === 'program') {
      this.mode = 'status';
      if (this.readOnly) {
        this.status |= STATUS_ERROR;
        return;
      }
      this.programmed.set(off, (this.programmed.get(off) ?? 0xff) & v); // programming only clears bits
      env.emit('pflash program', { flash: this.name, offset: hex(off), value: v }, `The guest programs a byte of ${this.name} at offset ${hex(off)}.`);
      return;
    }
    if (this.mode === 'erase') {
      this.mode = 'status';
      if (v !== CMD_CONFIRM || this.readOnly) {
        this.status |= STATUS_ERROR;
        return;
      }
      const block = off - (off % this.sectorSize);
      for (const k of [...this.programmed.keys()]) if (k >= block && k < block + this.sectorSize) this.programmed.delete(k);
      env.emit('pflash erase', { flash: this.name, block: hex(block) }, `The guest erases the ${this.sectorSize >> 10} KiB block of ${this.name} at offset ${hex(block)}.`);
      return;
    }
    switch (v) {
      case CMD_READ_ARRAY: this.mode = 'array'; return;
      case CMD_READ_QUERY: this.mode = 'query'; return;
      case CMD_READ_STATUS: this.mode = 'status'; return;
      case CMD_CLEAR_STATUS: this.status = STATUS_READY; return;
      case CMD_PROGRAM:
      case CMD_PROGRAM_ALT: this.mode = 'program'; return;
      case CMD_BLOCK_ERASE: this.mode = 'erase'; return;
      default: this.mode = 'array'; // unknown commands fall back to read-array, as pflash_cfi01 does
    }
  }
}

export class Pflash implements DeviceModel {
  constructor(private readonly env: DeviceEnv, readonly banks: PflashBank[]) {}

  private bank(gpa: number): PflashBank {
    return this.banks.find((b) => gpa >= b.start && gpa < b.start + b.size)!;
  }

  read(gpa: number, size: number): number {
    const b = this.bank(gpa);
    return readBytes(gpa - b.start, size, (o) => b.read1(o));
  }

  write(gpa: number, _size: number, value: number): void {
    const b = this.bank(gpa);
    b.write1(gpa - b.start, value & 0xff, this.env);
  }

  frozenRegister(gpa: number, _size: number, value: number): string | null {
    const b = this.bank(gpa);
    if (b.mode === 'program' || b.mode === 'erase') return `${b.name} ${b.mode} data`;
    return PROGRAM_COMMANDS.has(value & 0xff) ? `${b.name} program/erase command` : null;
  }
}
