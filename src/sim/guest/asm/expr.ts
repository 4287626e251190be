/**
 * Expressions: NASM's operators (| ^ & << >> + - * / % ~ unary -, parentheses), numbers, character
 * constants, symbols, `$` and `$$`. Evaluated with bigint (this is the assembler, not the hot path).
 * Inside a memory operand registers may appear as linear terms: `[rbx + rcx*8 + table - 8]`.
 */
import { AsmError } from './errors';
import { ASM_LIMITS } from './limits';
import type { Token } from './lexer';
import { lookupRegister, type RegInfo } from './registers';

export type Expr =
  | { k: 'num'; value: bigint; column: number }
  | { k: 'sym'; name: string; column: number }
  | { k: 'reg'; info: RegInfo; name: string; column: number }
  | { k: 'here'; column: number }
  | { k: 'origin'; column: number }
  | { k: 'un'; op: string; a: Expr; column: number }
  | { k: 'bin'; op: string; a: Expr; b: Expr; column: number };

const PREC: Record<string, number> = {
  '|': 1, '^': 2, '&': 3, '<<': 4, '>>': 4, '+': 5, '-': 5, '*': 6, '/': 6, '%': 6,
};

/** Parses an expression from tokens[pos...]; returns the tree and the index after it. */
export class ExprParser {
  pos: number;
  /** Nesting so far (parentheses, unary operators) and nodes made: both limited, so no program exhausts the stack. */
  private depth = 0;
  private nodes = 0;
  constructor(
    private readonly toks: Token[],
    start: number,
    private readonly line: number,
    private readonly end = toks.length,
  ) {
    this.pos = start;
  }

  parse(minPrec = 1): Expr {
    this.enter();
    try {
      return this.binary(minPrec);
    } finally {
      this.depth--;
    }
  }

  private enter(): void {
    const t = this.toks[Math.min(this.pos, this.end - 1)];
    if (++this.depth > ASM_LIMITS.exprDepth) throw new AsmError(this.line, t?.column ?? 1, `expression nested more than ${ASM_LIMITS.exprDepth} levels deep`);
    if (++this.nodes > ASM_LIMITS.exprNodes) throw new AsmError(this.line, t?.column ?? 1, `expression longer than ${ASM_LIMITS.exprNodes} terms and operators`);
  }

  private binary(minPrec: number): Expr {
    let a = this.unary();
    for (;;) {
      const t = this.pos < this.end ? this.toks[this.pos] : undefined;
      if (!t || t.kind !== 'punct') break;
      const p = Object.hasOwn(PREC, t.text) ? PREC[t.text] : undefined;
      if (p === undefined || p < minPrec) break;
      this.pos++;
      const b = this.parse(p + 1);
      a = { k: 'bin', op: t.text, a, b, column: t.column };
    }
    return a;
  }

  private unary(): Expr {
    const t = this.pos < this.end ? this.toks[this.pos] : undefined;
    if (!t) {
      const last = this.toks[this.end - 1];
      const col = last ? last.column + last.raw.length : 1;
      throw new AsmError(this.line, col, 'expression expected');
    }
    this.pos++;
    if (t.kind === 'num' || t.kind === 'str') return { k: 'num', value: t.value, column: t.column };
    if (t.kind === 'ident') {
      if (t.text === '$' && t.raw === '$') return { k: 'here', column: t.column };
      if (t.text === '$$') return { k: 'origin', column: t.column };
      const info = t.raw.startsWith('$') ? undefined : lookupRegister(t.text);
      if (info) return { k: 'reg', info, name: t.text.toLowerCase(), column: t.column };
      if (t.text.toLowerCase() === 'rip') {
        throw new AsmError(this.line, t.column, "rip cannot be used as an operand (use a label for rip-relative data)");
      }
      return { k: 'sym', name: t.text, column: t.column };
    }
    if (t.text === '(') {
      const e = this.parse();
      const close = this.pos < this.end ? this.toks[this.pos] : undefined;
      if (!close || close.text !== ')') {
        const last = this.toks[this.end - 1];
        throw new AsmError(this.line, close ? close.column : last.column + last.raw.length, "')' expected");
      }
      this.pos++;
      return e;
    }
    if (t.text === '-' || t.text === '+' || t.text === '~') {
      this.enter();
      try {
        return { k: 'un', op: t.text, a: this.unary(), column: t.column };
      } finally {
        this.depth--;
      }
    }
    throw new AsmError(this.line, t.column, `unexpected '${t.raw}' in expression`);
  }
}

export interface EvalContext {
  line: number;
  /** Current address ($). */
  here: number;
  origin: number;
  /** The symbol's value; undefined when not (yet) known. Throws for an undefined symbol in the final pass. */
  symbol(name: string, column: number): bigint | undefined;
}

/** A linear combination of registers plus a constant (undefined constant = not yet known). */
export interface Linear {
  c: bigint | undefined;
  regs: { info: RegInfo; name: string; coef: bigint; column: number }[];
}

function binop(op: string, a: bigint, b: bigint, line: number, column: number): bigint {
  switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/':
    case '%':
      if (b === 0n) throw new AsmError(line, column, 'division by zero');
      return op === '/' ? a / b : a % b;
    case '<<': return b >= 0n && b < 128n ? a << b : 0n;
    case '>>': return b >= 0n && b < 128n ? a >> b : a < 0n ? -1n : 0n;
    case '&': return a & b;
    case '|': return a | b;
    case '^': return a ^ b;
  }
  throw new AsmError(line, column, `unknown operator '${op}'`);
}

/** Evaluates e as a linear form in registers. */
export function linearize(e: Expr, ctx: EvalContext): Linear {
  switch (e.k) {
    case 'num': return { c: e.value, regs: [] };
    case 'here': return { c: BigInt(ctx.here), regs: [] };
    case 'origin': return { c: BigInt(ctx.origin), regs: [] };
    case 'sym': return { c: ctx.symbol(e.name, e.column), regs: [] };
    case 'reg': return { c: 0n, regs: [{ info: e.info, name: e.name, coef: 1n, column: e.column }] };
    case 'un': {
      const a = linearize(e.a, ctx);
      if (e.op === '+') return a;
      if (e.op === '-') return { c: a.c === undefined ? undefined : -a.c, regs: a.regs.map((r) => ({ ...r, coef: -r.coef })) };
      if (a.regs.length) throw new AsmError(ctx.line, e.column, "registers cannot be used with '~'");
      return { c: a.c === undefined ? undefined : ~a.c, regs: [] };
    }
    case 'bin': {
      const a = linearize(e.a, ctx);
      const b = linearize(e.b, ctx);
      const c = a.c === undefined || b.c === undefined ? undefined : binop(e.op, a.c, b.c, ctx.line, e.column);
      if (!a.regs.length && !b.regs.length) return { c, regs: [] };
      if (e.op === '+') return { c, regs: [...a.regs, ...b.regs] };
      if (e.op === '-') return { c, regs: [...a.regs, ...b.regs.map((r) => ({ ...r, coef: -r.coef }))] };
      if (e.op === '*' && (a.regs.length === 0 || b.regs.length === 0)) {
        const k = a.regs.length ? b : a;
        const lin = a.regs.length ? a : b;
        if (k.c === undefined) throw new AsmError(ctx.line, e.column, 'a scale must be a constant known at this point');
        const scale = k.c;
        return { c: lin.c === undefined ? undefined : lin.c * scale, regs: lin.regs.map((r) => ({ ...r, coef: r.coef * scale })) };
      }
      throw new AsmError(ctx.line, e.column, `registers cannot be used with '${e.op}' in an address`);
    }
  }
}

/** Evaluates e to a number; registers are an error. */
export function evaluate(e: Expr, ctx: EvalContext): bigint | undefined {
  const lin = linearize(e, ctx);
  if (lin.regs.length) {
    throw new AsmError(ctx.line, lin.regs[0].column, `register '${lin.regs[0].name}' is not allowed in an expression here`);
  }
  return lin.c;
}

/** The first register mentioned in e, if any. */
export function findRegister(e: Expr): (Expr & { k: 'reg' }) | undefined {
  if (e.k === 'reg') return e;
  if (e.k === 'un') return findRegister(e.a);
  if (e.k === 'bin') return findRegister(e.a) ?? findRegister(e.b);
  return undefined;
}
