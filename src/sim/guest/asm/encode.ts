/**
 * x86-64 machine-code bytes for the image. The CPU never decodes these bytes (it runs the decoded
 * table), but the image should look like real code in a hex view and each instruction must have a
 * real-looking length. The encodings follow the Intel SDM for the forms used here, with simplifications:
 * jmp/jcc/call always use rel32 unless `short` is written; no accumulator short forms (add eax, imm32
 * uses 81 /0); a displacement that is not known in the first pass (a forward reference) is always
 * encoded as disp32; displacements that do not fit 32 bits are truncated in the bytes (the decoded
 * instruction keeps the full address).
 */

export interface RmReg {
  kind: 'reg';
  reg: number;
}
export interface RmMem {
  kind: 'mem';
  base: number;
  index: number;
  scale: number;
  /** undefined = not known yet (first pass); encoded as disp32. */
  disp: bigint | undefined;
}
export type Rm = RmReg | RmMem;

export interface ModrmForm {
  opcode: number[];
  /** Register number or /digit for the modrm reg field. */
  regField: number;
  rm: Rm;
  /** Operand size: 2 adds 0x66, 8 adds REX.W (unless noW). */
  size: number;
  noW?: boolean;
  /** A byte register spl/bpl/sil/dil is used: REX needed even when all bits are 0. */
  forceRex?: boolean;
  /** Force disp32 (value unknown in the first pass). */
  long?: boolean;
  imm?: bigint;
  immSize?: number;
  /** Mandatory prefix bytes placed before 0x66/REX (e.g. F3 for rep). */
  prefix?: number[];
}

export function pushLE(out: number[], v: bigint, n: number): void {
  let x = BigInt.asUintN(n * 8, v);
  for (let i = 0; i < n; i++) {
    out.push(Number(x & 0xffn));
    x >>= 8n;
  }
}

function fitsI8(v: bigint | undefined): boolean {
  return v !== undefined && v >= -128n && v <= 127n;
}

export function encodeModrm(f: ModrmForm): number[] {
  const out: number[] = [...(f.prefix ?? [])];
  if (f.size === 2) out.push(0x66);
  let rex = 0;
  if (f.size === 8 && !f.noW) rex |= 8;
  if (f.regField >= 8) rex |= 4;
  const rm = f.rm;
  if (rm.kind === 'reg') {
    if (rm.reg >= 8) rex |= 1;
  } else {
    if (rm.index >= 8) rex |= 2;
    if (rm.base >= 8) rex |= 1;
  }
  if (rex || f.forceRex) out.push(0x40 | rex);
  out.push(...f.opcode);
  const reg3 = (f.regField & 7) << 3;
  if (rm.kind === 'reg') {
    out.push(0xc0 | reg3 | (rm.reg & 7));
  } else {
    const disp = rm.disp;
    const known = disp !== undefined && !f.long;
    if (rm.base < 0) {
      // No base: SIB with base=101 and disp32 (mod=00 rm=101 would be rip-relative in 64-bit mode).
      out.push(0x04 | reg3);
      const idx = rm.index < 0 ? 4 : rm.index & 7;
      out.push((scaleBits(rm.scale) << 6) | (idx << 3) | 5);
      pushLE(out, disp ?? 0n, 4);
    } else {
      let mod: number;
      if (known && disp === 0n && (rm.base & 7) !== 5) mod = 0;
      else if (known && fitsI8(disp)) mod = 1;
      else mod = 2;
      const needSib = rm.index >= 0 || (rm.base & 7) === 4;
      out.push((mod << 6) | reg3 | (needSib ? 4 : rm.base & 7));
      if (needSib) {
        const idx = rm.index < 0 ? 4 : rm.index & 7;
        out.push((scaleBits(rm.scale) << 6) | (idx << 3) | (rm.base & 7));
      }
      if (mod === 1) pushLE(out, disp ?? 0n, 1);
      else if (mod === 2) pushLE(out, disp ?? 0n, 4);
    }
  }
  if (f.immSize) pushLE(out, f.imm ?? 0n, f.immSize);
  return out;
}

function scaleBits(scale: number): number {
  return scale === 8 ? 3 : scale === 4 ? 2 : scale === 2 ? 1 : 0;
}

/** An instruction with no modrm: [prefixes] [REX] opcode [imm]. */
export function encodePlain(opts: {
  prefix?: number[];
  size?: number;
  rexB?: boolean;
  rexW?: boolean;
  forceRex?: boolean;
  opcode: number[];
  imm?: bigint;
  immSize?: number;
}): number[] {
  const out: number[] = [...(opts.prefix ?? [])];
  if (opts.size === 2) out.push(0x66);
  const rex = (opts.rexW ? 8 : 0) | (opts.rexB ? 1 : 0);
  if (rex || opts.forceRex) out.push(0x40 | rex);
  out.push(...opts.opcode);
  if (opts.immSize) pushLE(out, opts.imm ?? 0n, opts.immSize);
  return out;
}
