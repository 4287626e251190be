/**
 * The contract between the Platform and one device model, and the small helpers the models share.
 * A model answers reads and writes at its ports or MMIO addresses and says, for the talk's freeze,
 * which of its writes change configuration.
 */
import { wiring } from '../../core/state';
import type { ArgValue, Layer } from '../../core/trace';

/** What the VMM lends the devices: tracing, virtual time, guest memory for DMA, reset and power. */
export interface PlatformHost {
  trace(layer: Layer, name: string, args: Record<string, ArgValue>, text: string): void;
  /** Virtual time in ns (core/clock.ts). */
  now(): number;
  /** Guest memory as the VMM maps it; null when the VMM has no mapping there (e.g. TD-private). */
  readGuest(gpa: number, len: number): Uint8Array | null;
  /** False when the VMM has no mapping there. */
  writeGuest(gpa: number, bytes: Uint8Array): boolean;
  /** The guest asked for a system reset (RST_CNT, i8042 pulse). */
  requestReset(reason: string): void;
  /** The guest asked to power off (ACPI S5). */
  requestPowerOff?(reason: string): void;
}

/** A device model. Addresses are ports or GPAs, as the device's ranges are. */
export interface DeviceModel {
  read(addr: number, size: number): number;
  write(addr: number, size: number, value: number): void;
  /** Talk mode, after freeze(): the configuration register this write would change, or null for a data-path write. */
  frozenRegister(addr: number, size: number, value: number): string | null;
}

/** How a model traces: under the layer of whoever answers it (KVM for the in-kernel irqchip). */
export interface DeviceEnv {
  host: PlatformHost;
  layer: 'kvm' | 'vmm';
  emit(name: string, args: Record<string, ArgValue>, text: string): void;
}

export function deviceEnv(host: PlatformHost, layer: 'kvm' | 'vmm'): DeviceEnv {
  return wiring({ host, layer, emit: (name, args, text) => host.trace(layer, name, args, text) });
}

/** What a read of nothing returns: every data line pulled high (8 bytes: 2^64 - 1 as near as a double gets). */
export const allOnes = (size: number): number => (size >= 8 ? 2 ** 64 - 1 : 2 ** (8 * size) - 1);

/** Compose a multi-byte read from byte registers (x86 is little-endian). */
export function readBytes(addr: number, size: number, read1: (a: number) => number): number {
  let v = 0;
  for (let i = 0; i < size; i++) v += (read1(addr + i) & 0xff) * 2 ** (8 * i);
  return v;
}

/** Split a multi-byte write into byte registers. */
export function writeBytes(addr: number, size: number, value: number, write1: (a: number, b: number) => void): void {
  for (let i = 0; i < size; i++) write1(addr + i, Math.floor(value / 2 ** (8 * i)) & 0xff);
}

export const toBcd = (n: number): number => ((Math.floor(n / 10) % 10) << 4) | (n % 10);

export const bswap32 = (v: number): number =>
  (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | ((v >>> 24) & 0xff)) >>> 0;

export const hex2 = (n: number): string => '0x' + n.toString(16).padStart(2, '0');

/** The bytes a sub-word access at `addr` sees of a 32-bit register (HPET, IOAPIC, LAPIC, TPM). */
export function readWordLane(word: number, addr: number, size: number): number {
  const shift = (addr & 3) * 8;
  const v = Math.floor(word / 2 ** shift);
  return size >= 4 ? v >>> 0 : v & (2 ** (8 * size) - 1);
}

/** A 32-bit register after a sub-word write at `addr` changed only the bytes it covers. */
export function mergeWordLane(word: number, addr: number, size: number, value: number): number {
  if (size >= 4) return value >>> 0;
  const shift = (addr & 3) * 8;
  const mask = ((2 ** (8 * size) - 1) << shift) >>> 0;
  return ((word & ~mask) | ((value << shift) & mask)) >>> 0;
}
