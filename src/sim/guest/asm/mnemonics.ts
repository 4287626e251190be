/** Mnemonic tables: condition-code suffixes, ALU groups, string instructions, directives. */
import { Cond } from '../../abi/program';

/**
 * The tables are looked up with words from the user's program, so they are Maps: a plain object
 * would answer `constructor` or `toString` from Object.prototype.
 */
const table = <V>(o: Record<string, V>): ReadonlyMap<string, V> => new Map(Object.entries(o));

/** Condition suffixes (jcc, setcc, cmovcc). The parity conditions are not modelled (no PF). */
export const COND_SUFFIX: ReadonlyMap<string, number> = table({
  o: Cond.O, no: Cond.NO,
  b: Cond.B, c: Cond.B, nae: Cond.B,
  ae: Cond.AE, nb: Cond.AE, nc: Cond.AE,
  e: Cond.E, z: Cond.E,
  ne: Cond.NE, nz: Cond.NE,
  be: Cond.BE, na: Cond.BE,
  a: Cond.A, nbe: Cond.A,
  s: Cond.S, ns: Cond.NS,
  l: Cond.L, nge: Cond.L,
  ge: Cond.GE, nl: Cond.GE,
  le: Cond.LE, ng: Cond.LE,
  g: Cond.G, nle: Cond.G,
});

/** The /digit of the ALU group (80/81/83 /n) and the opcode row n*8. */
export const ALU_INDEX: ReadonlyMap<string, number> = table({ add: 0, or: 1, adc: 2, sbb: 3, and: 4, sub: 5, xor: 6, cmp: 7 });

/** String instructions: element size by mnemonic. */
export const STRING_OPS: ReadonlyMap<string, { op: 'stos' | 'movs'; size: 1 | 2 | 4 | 8 }> = table({
  stosb: { op: 'stos', size: 1 }, stosw: { op: 'stos', size: 2 }, stosd: { op: 'stos', size: 4 }, stosq: { op: 'stos', size: 8 },
  movsb: { op: 'movs', size: 1 }, movsw: { op: 'movs', size: 2 }, movsd: { op: 'movs', size: 4 }, movsq: { op: 'movs', size: 8 },
});

export const DATA_UNITS: ReadonlyMap<string, number> = table({ db: 1, dw: 2, dd: 4, dq: 8 });
export const RES_UNITS: ReadonlyMap<string, number> = table({ resb: 1, resw: 2, resd: 4, resq: 8 });
export const SIZE_KEYWORDS: ReadonlyMap<string, number> = table({ byte: 1, word: 2, dword: 4, qword: 8 });

/** Directives accepted and ignored (NASM boilerplate). */
export const IGNORED_DIRECTIVES = new Set(['bits', 'global', 'extern', 'section', 'segment', 'default', 'use64', 'cpu']);

const SIMPLE = [
  'mov', 'movzx', 'movsx', 'movsxd', 'lea', 'xchg', 'add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp', 'test',
  'not', 'neg', 'inc', 'dec', 'shl', 'sal', 'shr', 'sar', 'imul', 'push', 'pop', 'call', 'ret', 'jmp', 'loop',
  'nop', 'pause', 'hlt', 'rdmsr', 'wrmsr', 'cpuid', 'in', 'out', 'tdcall', 'vmcall', 'ud2', 'int3', 'cld',
];

export function isMnemonic(m: string): boolean {
  if (SIMPLE.includes(m) || STRING_OPS.has(m)) return true;
  for (const p of ['j', 'set', 'cmov']) {
    if (m.startsWith(p) && COND_SUFFIX.has(m.slice(p.length))) return true;
  }
  return false;
}

export function isDirective(m: string): boolean {
  return DATA_UNITS.has(m) || RES_UNITS.has(m) || m === 'equ' || m === 'times' || m === 'org' || m === '.org' ||
    m === 'align' || IGNORED_DIRECTIVES.has(m);
}

export const PREFIXES = new Set(['rep', 'repe', 'repz']);
