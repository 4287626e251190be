import { AsmError, assemble, type Program } from '../../guest/asm';
import { ScenarioError } from '../fields';

/** Assemble a program, turning assembler errors into a scenario error at `path`. */
export function assembleAt(source: string, origin: number, path: string, services: ReadonlySet<string>): Program {
  try {
    return assemble(source, { origin, services });
  } catch (e) {
    if (e instanceof AsmError) throw new ScenarioError([{ path, message: `assembler: ${e.toString()}` }]);
    throw e;
  }
}

export function decodeData(s: string): Uint8Array {
  if (s.startsWith('hex:')) {
    const h = s.slice(4).replace(/\s+/g, '');
    if (!/^([0-9a-f]{2})*$/i.test(h)) throw new ScenarioError([{ path: 'data', message: `"${s}" is not hex bytes` }]);
    return Uint8Array.from(h.match(/../g) ?? [], (x) => Number.parseInt(x, 16));
  }
  return new TextEncoder().encode(s);
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

export function printable(b: Uint8Array): string {
  return Array.from(b, (x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
}

export function describeBytes(b: Uint8Array): string {
  if (b.every((x) => x === 0)) return 'only zeros';
  return `"${printable(b)}"`;
}
