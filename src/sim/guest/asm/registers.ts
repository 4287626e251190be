/** The general-purpose register names of x86-64 and the part of the 64-bit register each one names. */
import { REG64 } from '../../cpu/bus';

export interface RegInfo {
  /** Register number in encoding order (rax 0 ... r15 15). */
  reg: number;
  size: 1 | 2 | 4 | 8;
  /** ah, ch, dh, bh. */
  high8: boolean;
  /** spl, bpl, sil, dil and r8..r15 in any width need a REX prefix. */
  needsRex: boolean;
}

const REGS = new Map<string, RegInfo>();

function add(name: string, reg: number, size: 1 | 2 | 4 | 8, high8 = false): void {
  REGS.set(name, { reg, size, high8, needsRex: reg >= 8 || (size === 1 && !high8 && reg >= 4) });
}

const LEGACY16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const LEGACY8 = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'];
REG64.forEach((name, i) => add(name, i, 8));
LEGACY16.forEach((name, i) => {
  add(name, i, 2);
  add('e' + name, i, 4);
  add(LEGACY8[i], i, 1);
});
['ah', 'ch', 'dh', 'bh'].forEach((name, i) => add(name, i, 1, true));
for (let i = 8; i < 16; i++) {
  add(`r${i}d`, i, 4);
  add(`r${i}w`, i, 2);
  add(`r${i}b`, i, 1);
  add(`r${i}l`, i, 1);
}

/** The register a (case-insensitive) name denotes, or undefined. */
export function lookupRegister(name: string): RegInfo | undefined {
  return REGS.get(name.toLowerCase());
}

/** The canonical name of register `reg` at `size` bytes (high8 for ah..bh). */
export function registerName(reg: number, size: number, high8 = false): string {
  if (high8) return ['ah', 'ch', 'dh', 'bh'][reg];
  if (size === 8) return REG64[reg];
  if (reg >= 8) return `r${reg}${size === 4 ? 'd' : size === 2 ? 'w' : 'b'}`;
  if (size === 4) return 'e' + LEGACY16[reg];
  if (size === 2) return LEGACY16[reg];
  return LEGACY8[reg];
}
