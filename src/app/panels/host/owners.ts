/**
 * Host frame owner codes (FramePacket.hostOwners) → labels, colours and counts.
 * Codes: 0 free, 1 host kernel, 2 process memory, 3+2i guest_memfd of VM i, 4+2i TDX metadata of VM i.
 */
import type { Theme } from '../../store';

export const PAGE_SIZE = 4096;

export interface OwnerVm {
  name: string;
  isTd: boolean;
}

export interface OwnerKind {
  code: number;
  label: string;
  /** One line for the legend's tooltip and the hover line. */
  description: string;
  colour: string;
}

// TD-private frames and TDX metadata: a purple family (one pair per TD). Other VMs' guest_memfd
// (software-protected VMs): green and orange. VMM memory blue/teal, host kernel grey, free very light.
// A second TD is magenta, not a second purple: the lessons with two TDs must tell them apart at a glance.
const TD_GMEM = { light: ['#7a1fc7', '#a02c9e', '#5b2fd6'], dark: ['#b98cff', '#e58ce0', '#9d9bff'] };
const TD_META = { light: ['#d39bf5', '#e7a6e2', '#a9a0f2'], dark: ['#6e2fa8', '#8a2f86', '#4b46a8'] };
const OTHER_GMEM = { light: ['#0e8a4f', '#c26a00', '#a0001a'], dark: ['#4fd39a', '#ffb061', '#ff8a95'] };
const FIXED = {
  light: { free: '#e4e4de', kernel: '#8c8c8c', process: '#1f78b4' },
  dark: { free: '#262a31', kernel: '#80858f', process: '#35b5d6' },
};

/** The owner kinds present for these VMs, in legend order. */
export function ownerKinds(vms: readonly OwnerVm[], theme: Theme): OwnerKind[] {
  const f = FIXED[theme];
  const kinds: OwnerKind[] = [
    { code: 2, label: "VMM memory (process)", description: "anonymous memory of a process: the VMM's mapping of guest RAM (the shared view)", colour: f.process },
    { code: 1, label: 'host kernel', description: "the host kernel's own memory", colour: f.kernel },
  ];
  let td = 0;
  let other = 0;
  vms.forEach((vm, i) => {
    if (vm.isTd) {
      const j = td++ % TD_GMEM.light.length;
      kinds.push({ code: 3 + 2 * i, label: `guest_memfd of ${vm.name}`, description: `private memory of TD "${vm.name}", encrypted with its key: the host reads zeros`, colour: TD_GMEM[theme][j] });
      kinds.push({ code: 4 + 2 * i, label: `TDX metadata of ${vm.name}`, description: `TDR, TDCS, TDVPS and Secure-EPT pages of TD "${vm.name}"`, colour: TD_META[theme][j] });
    } else {
      const j = other++ % OTHER_GMEM.light.length;
      kinds.push({ code: 3 + 2 * i, label: `guest_memfd of ${vm.name}`, description: `private memory of VM "${vm.name}" (not encrypted: the host kernel can read it)`, colour: OTHER_GMEM[theme][j] });
    }
  });
  kinds.push({ code: 0, label: 'free', description: 'not allocated', colour: f.free });
  return kinds;
}

/** The label of one owner code, for the hover line. */
export function ownerLabel(code: number, vms: readonly OwnerVm[]): string {
  if (code === 0) return 'free';
  if (code === 1) return 'host kernel';
  if (code === 2) return 'VMM memory (process)';
  const i = Math.floor((code - 3) / 2);
  const name = vms[i]?.name ?? `VM ${i}`;
  return (code - 3) % 2 === 0 ? `guest_memfd of ${name}` : `TDX metadata of ${name}`;
}

/** 0xAABBGGRR per code (ImageData's byte order on little-endian machines); unknown codes magenta. */
export function paletteOf(kinds: readonly OwnerKind[]): Uint32Array {
  const p = new Uint32Array(256).fill(rgba('#ff00ff'));
  for (const k of kinds) p[k.code] = rgba(k.colour);
  return p;
}

export function rgba(hexColour: string): number {
  const n = Number.parseInt(hexColour.slice(1), 16);
  const r = (n >> 16) & 255;
  const g = (n >> 8) & 255;
  const b = n & 255;
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

export interface OwnerStats {
  /** Host frames in all. */
  total: number;
  /** Frames per owner code. */
  counts: Uint32Array;
  /** The highest frame that is not free, or -1. */
  lastUsed: number;
  /** The first frame of each owner code, or -1. */
  firstOf: Int32Array;
}

/**
 * One pass over the owner codes (4,194,304 for a 16 GiB host): counts, first frame per owner, last
 * used. Free frames (code 0) come in long runs, so the codes are read four at a time and an all-free
 * word is skipped at once.
 */
export function ownerStats(owners: Uint8Array): OwnerStats {
  const counts = new Uint32Array(256);
  const firstOf = new Int32Array(256).fill(-1);
  let lastUsed = -1;
  const one = (f: number) => {
    const o = owners[f];
    if (o === 0) return;
    if (counts[o]++ === 0) firstOf[o] = f;
    lastUsed = f;
  };
  let f = 0;
  if (owners.byteOffset % 4 === 0) {
    const words = new Uint32Array(owners.buffer, owners.byteOffset, owners.length >>> 2);
    for (let w = 0; w < words.length; w++) {
      if (words[w] === 0) continue;
      const b = w << 2;
      one(b);
      one(b + 1);
      one(b + 2);
      one(b + 3);
    }
    f = words.length << 2;
  }
  for (; f < owners.length; f++) one(f);
  let free = owners.length;
  for (let o = 1; o < 256; o++) free -= counts[o];
  counts[0] = free;
  if (free > 0) firstOf[0] = owners.indexOf(0);
  return { total: owners.length, counts, lastUsed, firstOf };
}

/**
 * The range the map shows by default: from frame 0 to the highest used frame plus at least 1/16 of
 * free space, rounded up to a step of 4,096 frames (16 MiB) or a quarter of the next power of two,
 * whichever is larger. A guest that fills memory changes the map's layout (a full repaint, tens of
 * milliseconds for millions of frames: a dropped display frame) twice per doubling, not at every
 * refresh; the used part still fills two thirds of the map or more.
 */
export function usedRange(total: number, lastUsed: number, first = 0): number {
  if (lastUsed < first) return Math.min(total - first, 4096);
  const used = lastUsed + 1 - first;
  const want = used + Math.ceil(used / 16);
  const step = Math.max(4096, 2 ** Math.ceil(Math.log2(want)) / 4);
  return Math.min(total - first, Math.ceil(want / step) * step);
}

export type MapRange = 'guests' | 'used' | 'all';

/**
 * The frames the map shows: `guests` starts after the host kernel's block at the bottom of memory
 * (at a 16 MiB boundary), so VMM memory, guest_memfd and TDX metadata get the space; `used` starts
 * at frame 0; `all` is the whole of host memory.
 */
export function mapRange(s: OwnerStats, range: MapRange): { first: number; count: number } {
  if (range === 'all') return { first: 0, count: s.total };
  let first = 0;
  if (range === 'guests') {
    let lowest = -1;
    for (let o = 2; o < 256; o++) if (s.firstOf[o] >= 0 && (lowest < 0 || s.firstOf[o] < lowest)) lowest = s.firstOf[o];
    if (lowest > 0) first = Math.floor(lowest / 4096) * 4096;
  }
  return { first, count: usedRange(s.total, s.lastUsed, first) };
}

export function formatBytes(bytes: number): string {
  const units: [number, string][] = [[2 ** 40, 'TiB'], [2 ** 30, 'GiB'], [2 ** 20, 'MiB'], [2 ** 10, 'KiB']];
  for (const [u, name] of units) {
    if (bytes >= u) {
      const v = bytes / u;
      return `${Number.isInteger(v) ? v : v.toFixed(1)} ${name}`;
    }
  }
  return `${bytes} B`;
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
