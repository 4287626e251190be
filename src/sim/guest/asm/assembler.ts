/**
 * A two-pass assembler for the x86-64 subset the guest CPU runs, in NASM-like Intel syntax.
 *
 * Pass 1 parses every line, defines labels and fixes every item's length; pass 2 evaluates every
 * expression (forward references now resolve) and produces the bytes and the decoded instruction table.
 * An instruction whose operand was not yet known in pass 1 keeps the long form it got there (disp32,
 * imm32/imm64), so addresses never move between passes.
 *
 * Simplification, by design: the CPU interpreter executes the decoded `Insn` table, not the bytes in
 * memory. The image still holds plausible x86-64 encodings (see encode.ts: real opcodes, modrm, SIB,
 * displacements and immediates; jumps always rel32 unless `short`; no accumulator short forms), so
 * lengths and a hex view look right, but patching code bytes at run time changes nothing. Data
 * directives (db/dw/dd/dq/times/resb...) produce their exact bytes.
 */
import { AsmError } from './errors';
import { ASM_LIMITS } from './limits';

export { ASM_LIMITS };
import { type Expr, ExprParser, type EvalContext, evaluate, linearize } from './expr';
import { type Token, stripComment, tokenize } from './lexer';
import {
  ALU_INDEX, COND_SUFFIX, DATA_UNITS, IGNORED_DIRECTIVES, PREFIXES, RES_UNITS, SIZE_KEYWORDS, STRING_OPS,
  isDirective, isMnemonic,
} from './mnemonics';
import { type Rm, encodeModrm, encodePlain, pushLE } from './encode';
import { type Insn, type Operand, type Program, OPND_IMM, OPND_MEM, OPND_REG, Op } from '../../abi/program';
import { type RegInfo, lookupRegister } from './registers';


export interface AssembleOptions {
  /** Address of the first byte (default 0, or the first `org` before any code). */
  origin?: number;
  /** Guest-kernel services: `call NAME` to one of these (and not a label) calls the kernel. */
  services?: ReadonlySet<string>;
}

export interface Diagnostics {
  program?: Program;
  errors: AsmError[];
}

/** Assembles `source`; throws the first AsmError. */
export function assemble(source: string, options: AssembleOptions = {}): Program {
  const r = assembleWithDiagnostics(source, options);
  if (r.errors.length) throw r.errors[0];
  return r.program!;
}

/** Assembles `source`, collecting at most one error per line, in line order. */
export function assembleWithDiagnostics(source: string, options: AssembleOptions = {}): Diagnostics {
  if (source.length > ASM_LIMITS.sourceChars) {
    return { errors: [new AsmError(1, 1, `the program is ${source.length.toLocaleString('en')} characters long; the limit is ${ASM_LIMITS.sourceChars.toLocaleString('en')}`)] };
  }
  const a = new Assembler(source, options);
  return a.run();
}

// ---------------------------------------------------------------------------------------------------

type RawOperand =
  | { k: 'reg'; info: RegInfo; name: string; column: number; text: string }
  | { k: 'mem'; sizeKw: number; expr: Expr; column: number; text: string }
  | { k: 'imm'; sizeKw: number; expr: Expr; column: number; text: string; short: boolean };

type DataItem = { k: 'str'; text: string; column: number } | { k: 'expr'; expr: Expr; column: number };

type Body =
  | { k: 'equ'; expr: Expr; column: number }
  | { k: 'org'; expr: Expr; column: number }
  | { k: 'align'; expr: Expr; column: number }
  | { k: 'times'; count: Expr; column: number; inner: Body }
  | { k: 'data'; unit: number; items: DataItem[]; column: number }
  | { k: 'res'; unit: number; expr: Expr; column: number }
  | { k: 'insn'; mnemonic: string; column: number; rep: boolean; ops: RawOperand[]; text: string };

interface Stmt {
  line: number;
  /** The global label that local labels (.name) on this line attach to. */
  scope: string;
  label?: { name: string; column: number };
  body: Body | null;
}

type Sym =
  | { k: 'label'; value: bigint; line: number }
  | { k: 'equ'; expr: Expr; line: number; here: number; scope: string; value?: bigint; busy: boolean };

/** A resolved operand: values evaluated (undefined = unknown in pass 1). */
interface ROp {
  k: 'reg' | 'mem' | 'imm';
  size: number;
  info?: RegInfo;
  base: number;
  index: number;
  scale: number;
  disp: bigint | undefined;
  imm: bigint | undefined;
  column: number;
  text: string;
  raw: RawOperand;
}

const TWO64 = 1n << 64n;

class Assembler {
  private readonly lines: string[];
  private readonly stmts: (Stmt | null)[] = [];
  private readonly errors: AsmError[] = [];
  private readonly badLines = new Set<number>();
  private readonly symbols = new Map<string, Sym>();
  private readonly services: ReadonlySet<string>;
  private pass: 1 | 2 = 1;
  private here = 0;
  private origin: number;
  private originFixed: boolean;
  private emitted = false;
  /** Instructions emitted so far on the current line (times repeats one line). */
  private lineItem = 0;
  /** Pass-1 length and "had a forward reference" of each instruction, keyed by line#repetition. */
  private readonly pass1 = new Map<string, { len: number; long: boolean }>();
  private unknownSeen = false;
  /** The image reached ASM_LIMITS.imageBytes. */
  private full = false;
  private scope = '';
  private line = 0;
  private readonly chunks: { addr: number; bytes: ArrayLike<number> }[] = [];
  private readonly items: { addr: number; len: number; line: number }[] = [];
  private readonly insns: Insn[] = [];

  constructor(source: string, options: AssembleOptions) {
    this.lines = source.split('\n');
    this.services = options.services ?? new Set();
    this.origin = options.origin ?? 0;
    this.originFixed = options.origin !== undefined;
  }

  run(): Diagnostics {
    let scope = '';
    for (let i = 0; i < this.lines.length; i++) {
      try {
        const st = this.parseLine(this.lines[i], i + 1, scope);
        if (st?.label && !st.label.name.startsWith('.')) scope = st.label.name;
        if (st) st.scope = st.label && !st.label.name.startsWith('.') ? st.label.name : scope;
        this.stmts.push(st);
      } catch (e) {
        this.stmts.push(null);
        this.fail(e, i + 1);
      }
    }
    for (const pass of [1, 2] as const) {
      this.pass = pass;
      this.here = this.origin;
      this.emitted = false;
      for (const st of this.stmts) {
        if (!st || this.badLines.has(st.line)) continue;
        this.line = st.line;
        this.scope = st.scope;
        this.lineItem = 0;
        try {
          this.statement(st);
        } catch (e) {
          this.fail(e, st.line);
        }
      }
    }
    this.errors.sort((a, b) => a.line - b.line || a.column - b.column);
    if (this.errors.length) return { errors: this.errors };
    return { program: this.program(), errors: [] };
  }

  private fail(e: unknown, line: number): void {
    if (!(e instanceof AsmError)) throw e;
    if (this.badLines.has(line)) return;
    this.badLines.add(line);
    this.errors.push(e);
  }

  private err(column: number, message: string): never {
    throw new AsmError(this.line, column, message);
  }

  // ---- parsing ------------------------------------------------------------------------------------

  private parseLine(text: string, line: number, scope: string): Stmt | null {
    this.line = line;
    const code = stripComment(text);
    const toks = tokenize(code, line);
    if (!toks.length) return null;
    const st: Stmt = { line, scope, body: null };
    let i = 0;
    const t0 = toks[0];
    const second = toks[1];
    if (t0.kind === 'ident' && second?.text === ':' && second.kind === 'punct') {
      st.label = { name: t0.text, column: t0.column };
      i = 2;
    } else if (
      t0.kind === 'ident' && second?.kind === 'ident' && !isMnemonic(t0.text.toLowerCase()) &&
      !isDirective(t0.text.toLowerCase()) && !PREFIXES.has(t0.text.toLowerCase()) &&
      (isDirective(second.text.toLowerCase()) && !IGNORED_DIRECTIVES.has(second.text.toLowerCase()))
    ) {
      // NASM allows a label without a colon before a data directive or equ: `msg db 'hi', 0`.
      st.label = { name: t0.text, column: t0.column };
      i = 1;
    }
    if (st.label) this.checkLabelName(st.label.name, st.label.column);
    if (i >= toks.length) return st;
    const head = toks[i];
    if (head.kind === 'ident' && head.text.toLowerCase() === 'equ') {
      if (!st.label) this.err(head.column, "'equ' needs a name before it: NAME equ VALUE");
      st.body = { k: 'equ', expr: this.exprAll(toks, i + 1, head), column: head.column };
      return st;
    }
    st.body = this.parseBody(toks, i, code);
    return st;
  }

  private checkLabelName(name: string, column: number): void {
    if (lookupRegister(name) || name.toLowerCase() === 'rip') {
      this.err(column, `'${name}' is a register name and cannot be a label`);
    }
  }

  /** Parses a full expression from toks[i..], requiring that it consumes every token. */
  private exprAll(toks: Token[], i: number, after: Token): Expr {
    if (i >= toks.length) this.err(after.column + after.raw.length + 1, 'expression expected');
    const p = new ExprParser(toks, i, this.line);
    const e = p.parse();
    if (p.pos < toks.length) this.err(toks[p.pos].column, `unexpected '${toks[p.pos].raw}'`);
    return e;
  }

  private parseBody(toks: Token[], i: number, code: string): Body {
    const head = toks[i];
    if (head.kind !== 'ident') this.err(head.column, `instruction expected, found '${head.raw}'`);
    const m = head.text.toLowerCase();
    if (m === 'times') {
      if (i + 1 >= toks.length) this.err(head.column + 6, 'times needs a count and an instruction or data');
      const p = new ExprParser(toks, i + 1, this.line);
      const countColumn = toks[i + 1].column;
      const count = p.parse();
      if (p.pos >= toks.length) this.err(head.column, 'times needs an instruction or data after the count');
      const inner = this.parseBody(toks, p.pos, code);
      if (inner.k !== 'data' && inner.k !== 'insn' && inner.k !== 'res') {
        this.err(toks[p.pos].column, 'times repeats only instructions and data');
      }
      return { k: 'times', count, column: countColumn, inner };
    }
    if (m === 'org' || m === '.org') return { k: 'org', expr: this.exprAll(toks, i + 1, head), column: toks[i + 1].column };
    if (m === 'align') return { k: 'align', expr: this.exprAll(toks, i + 1, head), column: head.column };
    if (IGNORED_DIRECTIVES.has(m)) return { k: 'data', unit: 1, items: [], column: head.column };
    if (DATA_UNITS.has(m)) {
      const groups = this.splitOperands(toks, i + 1, head);
      const items: DataItem[] = groups.map((g) => {
        if (g.length === 1 && g[0].kind === 'str') return { k: 'str', text: g[0].text, column: g[0].column };
        return { k: 'expr', expr: this.exprAll(g, 0, head), column: g[0].column };
      });
      return { k: 'data', unit: DATA_UNITS.get(m)!, items, column: head.column };
    }
    if (RES_UNITS.has(m)) return { k: 'res', unit: RES_UNITS.get(m)!, expr: this.exprAll(toks, i + 1, head), column: head.column };
    if (m === 'equ') this.err(head.column, "'equ' needs a name before it: NAME equ VALUE");

    let rep = false;
    let j = i;
    if (PREFIXES.has(m)) {
      rep = true;
      j++;
      if (j >= toks.length || toks[j].kind !== 'ident') this.err(head.column, `'${m}' must be followed by a string instruction`);
    }
    const mt = toks[j];
    const mn = mt.text.toLowerCase();
    if (!isMnemonic(mn)) this.err(mt.column, `unknown instruction '${mt.text}'`);
    if (rep && !STRING_OPS.has(mn)) this.err(head.column, `'${m}' can only be used with string instructions (stosb, movsb, ...)`);
    const ops = this.splitOperands(toks, j + 1, mt).map((g) => this.parseOperand(g, code));
    return { k: 'insn', mnemonic: mn, column: mt.column, rep, ops, text: code.slice(head.column - 1).trim() };
  }

  /** Splits toks[start..] at top-level commas. */
  private splitOperands(toks: Token[], start: number, head: Token): Token[][] {
    const groups: Token[][] = [];
    if (start >= toks.length) return groups;
    let cur: Token[] = [];
    let depth = 0;
    for (let k = start; k < toks.length; k++) {
      const t = toks[k];
      if (t.kind === 'punct' && (t.text === '[' || t.text === '(')) depth++;
      if (t.kind === 'punct' && (t.text === ']' || t.text === ')')) depth--;
      if (t.kind === 'punct' && t.text === ',' && depth === 0) {
        if (!cur.length) this.err(t.column, 'operand expected before \',\'');
        groups.push(cur);
        cur = [];
      } else {
        cur.push(t);
      }
    }
    if (!cur.length) {
      const last = toks[toks.length - 1];
      this.err(last === head ? head.column : last.column + 1, 'operand expected');
    }
    groups.push(cur);
    return groups;
  }

  private parseOperand(toks: Token[], code: string): RawOperand {
    const first = toks[0];
    const last = toks[toks.length - 1];
    const text = code.slice(first.column - 1, last.column - 1 + last.raw.length);
    let i = 0;
    let sizeKw = 0;
    let short = false;
    while (i < toks.length && toks[i].kind === 'ident') {
      const w = toks[i].text.toLowerCase();
      if (SIZE_KEYWORDS.has(w) && i + 1 < toks.length) {
        sizeKw = SIZE_KEYWORDS.get(w)!;
        i++;
        if (toks[i]?.kind === 'ident' && toks[i].text.toLowerCase() === 'ptr') i++;
      } else if ((w === 'short' || w === 'near') && i + 1 < toks.length) {
        short = w === 'short';
        i++;
      } else {
        break;
      }
    }
    if (i >= toks.length) this.err(first.column, 'operand expected');
    const t = toks[i];
    if (t.kind === 'punct' && t.text === '[') {
      let close = -1;
      for (let k = i + 1; k < toks.length; k++) if (toks[k].text === ']' && toks[k].kind === 'punct') close = k;
      if (close < 0) this.err(t.column, "missing ']'");
      if (close !== toks.length - 1) this.err(toks[close + 1].column, `unexpected '${toks[close + 1].raw}' after ']'`);
      let s = i + 1;
      if (toks[s]?.kind === 'ident' && ['rel', 'abs'].includes(toks[s].text.toLowerCase())) s++;
      if (s === close) this.err(toks[close].column, 'address expected inside [ ]');
      const p = new ExprParser(toks, s, this.line, close);
      const expr = p.parse();
      if (p.pos < close) this.err(toks[p.pos].column, `unexpected '${toks[p.pos].raw}' in address`);
      return { k: 'mem', sizeKw, expr, column: first.column, text };
    }
    if (i === toks.length - 1 && t.kind === 'ident' && !t.raw.startsWith('$')) {
      const info = lookupRegister(t.text);
      if (info) return { k: 'reg', info, name: t.text.toLowerCase(), column: t.column, text };
    }
    const p = new ExprParser(toks, i, this.line);
    const expr = p.parse();
    if (p.pos < toks.length) this.err(toks[p.pos].column, `unexpected '${toks[p.pos].raw}'`);
    return { k: 'imm', sizeKw, expr, column: first.column, text, short };
  }

  // ---- evaluation ---------------------------------------------------------------------------------

  private ctx(here: number, scope: string, line: number): EvalContext {
    return {
      line,
      here,
      origin: this.origin,
      symbol: (name, column) => this.symbolValue(name, column, scope, line),
    };
  }

  private qualify(name: string, scope: string): string {
    return name.startsWith('.') && !name.startsWith('..') ? scope + name : name;
  }

  private symbolValue(name: string, column: number, scope: string, line: number): bigint | undefined {
    const full = this.qualify(name, scope);
    const sym = this.symbols.get(full);
    if (!sym) {
      if (this.pass === 2) throw new AsmError(line, column, `undefined symbol '${name}'`);
      this.unknownSeen = true;
      return undefined;
    }
    if (sym.k === 'label') return sym.value;
    if (sym.value !== undefined) return sym.value;
    if (sym.busy) throw new AsmError(line, column, `'${name}' is defined in terms of itself`);
    sym.busy = true;
    try {
      const v = evaluate(sym.expr, this.ctx(sym.here, sym.scope, sym.line));
      if (v !== undefined) sym.value = v;
      else this.unknownSeen = true;
      return v;
    } finally {
      sym.busy = false;
    }
  }

  private value(e: Expr): bigint | undefined {
    return evaluate(e, this.ctx(this.here, this.scope, this.line));
  }

  /** A value that must be known in pass 1 (times count, org, align, resb). */
  private constant(e: Expr, column: number, what: string): bigint {
    const v = this.value(e);
    if (v === undefined) this.err(column, `${what} must be known here (no forward references)`);
    return v;
  }

  // ---- statements ---------------------------------------------------------------------------------

  private statement(st: Stmt): void {
    if (st.label) {
      const name = this.qualify(st.label.name, st.scope);
      const isEqu = st.body?.k === 'equ';
      if (this.pass === 1) {
        const prev = this.symbols.get(name);
        if (prev) this.err(st.label.column, `duplicate label '${st.label.name}' (first defined on line ${prev.line})`);
        if (isEqu) {
          const body = st.body as { expr: Expr };
          const sym: Sym = { k: 'equ', expr: body.expr, line: st.line, here: this.here, scope: st.scope, busy: false };
          this.symbols.set(name, sym);
          this.symbolValue(name, st.label.column, st.scope, st.line);
        } else {
          this.symbols.set(name, { k: 'label', value: BigInt(this.here), line: st.line });
        }
      } else if (isEqu) {
        const v = this.symbolValue(name, st.label.column, st.scope, st.line);
        if (v === undefined) this.err(st.label.column, `cannot evaluate '${st.label.name}'`);
      }
    }
    if (st.body && st.body.k !== 'equ') this.body(st.body, st.line);
  }

  private body(b: Body, line: number): void {
    switch (b.k) {
      case 'equ':
        return;
      case 'org': {
        const v = this.constant(b.expr, b.column, 'the org address');
        if (!this.emitted && !this.originFixed) {
          if (v < 0n || v >= 1n << 52n) this.err(b.column, `org address ${hex(v)} is out of range`);
          this.origin = Number(v);
          this.here = this.origin;
          this.originFixed = true;
          return;
        }
        if (v < BigInt(this.here)) {
          this.err(b.column, `org ${hex(v)} would move the location counter backwards (it is ${hex(BigInt(this.here))})`);
        }
        this.room(v - BigInt(this.here), b.column, `org ${hex(v)}`);
        this.emit(new Uint8Array(Number(v) - this.here), line, null);
        return;
      }
      case 'align': {
        const a = this.constant(b.expr, b.column, 'the alignment');
        if (a <= 0n || (a & (a - 1n)) !== 0n) this.err(b.column, `alignment ${a} is not a power of two`);
        const n = Number(a);
        const pad = (n - (this.here % n)) % n;
        this.room(BigInt(pad), b.column, `align ${a}`);
        if (pad) this.emit(new Uint8Array(pad), line, null);
        return;
      }
      case 'times': {
        const n = this.constant(b.count, b.column, 'the times count');
        if (n < 0n) this.err(b.column, `times count ${n} is negative`);
        if (n > BigInt(ASM_LIMITS.timesCount)) this.err(b.column, `times count ${n} is too large (at most ${ASM_LIMITS.timesCount.toLocaleString('en')}; use resb for large zeroed areas)`);
        let first: unknown;
        for (let k = 0; k < Number(n); k++) {
          try {
            this.body(b.inner, line);
          } catch (e) {
            first ??= e;
            // Past the image's limit every repetition fails the same way: say it once.
            if (this.full) break;
          }
        }
        if (first) throw first;
        return;
      }
      case 'res': {
        const n = this.constant(b.expr, b.column, 'the reserve count');
        if (n < 0n) this.err(b.column, `reserve count ${n} is negative`);
        this.room(n * BigInt(b.unit), b.column, `the reservation of ${n}`);
        this.emit(new Uint8Array(Number(n) * b.unit), line, null);
        return;
      }
      case 'data': {
        const out: number[] = [];
        let first: unknown;
        for (const it of b.items) {
          if (it.k === 'str') {
            for (let c = 0; c < it.text.length; c++) out.push(it.text.charCodeAt(c));
            while (out.length % b.unit) out.push(0);
          } else {
            let v: bigint | undefined;
            try {
              v = this.value(it.expr);
              if (v !== undefined) checkRange(v, b.unit, this.line, it.column, 'data');
            } catch (e) {
              first ??= e;
            }
            pushLE(out, v ?? 0n, b.unit);
          }
        }
        if (out.length) this.emit(out, line, null);
        if (first) throw first;
        return;
      }
      case 'insn': {
        const key = `${line}#${this.lineItem++}`;
        this.unknownSeen = false;
        let built: { insn: Insn; bytes: number[] };
        try {
          built = this.instruction(b, line, key);
        } catch (e) {
          // Keep later instructions at their pass-1 addresses.
          this.here += this.pass1.get(key)?.len ?? 0;
          throw e;
        }
        const { insn, bytes } = built;
        if (this.pass === 1) {
          this.pass1.set(key, { len: bytes.length, long: this.unknownSeen });
        } else if (bytes.length !== this.pass1.get(key)?.len && !this.errors.length) {
          throw new Error(`assembler: line ${line} changed length between passes`);
        }
        insn.length = bytes.length;
        this.emit(bytes, line, insn);
        return;
      }
    }
  }

  /** Refuse `n` more bytes past the image's limit, before anything that big is made. */
  private room(n: bigint, column: number, what: string): void {
    if (BigInt(this.here - this.origin) + n > BigInt(ASM_LIMITS.imageBytes)) {
      this.full = true;
      this.err(column, `${what} makes the program image larger than ${ASM_LIMITS.imageBytes.toLocaleString('en')} bytes, the limit`);
    }
  }

  private emit(bytes: ArrayLike<number>, line: number, insn: Insn | null): void {
    if (this.here + bytes.length > 2 ** 52) this.err(1, 'the program does not fit below 2^52');
    this.room(BigInt(bytes.length), 1, 'this line');
    if (this.pass === 2) {
      this.chunks.push({ addr: this.here, bytes });
      this.items.push({ addr: this.here, len: bytes.length, line });
      if (insn) this.insns.push(insn);
    }
    this.here += bytes.length;
    this.emitted = true;
  }

  // ---- instructions -------------------------------------------------------------------------------

  private resolve(r: RawOperand): ROp {
    const base: ROp = {
      k: r.k, size: 0, base: -1, index: -1, scale: 1, disp: 0n, imm: undefined, column: r.column, text: r.text, raw: r,
    };
    if (r.k === 'reg') {
      base.size = r.info.size;
      base.info = r.info;
      return base;
    }
    if (r.k === 'imm') {
      base.size = r.sizeKw;
      base.imm = this.value(r.expr);
      return base;
    }
    base.size = r.sizeKw;
    const lin = linearize(r.expr, this.ctx(this.here, this.scope, this.line));
    // Merge repeated registers ([rax + rax*2] = rax*3) and drop zero coefficients.
    const terms = new Map<number, { coef: bigint; column: number; name: string }>();
    for (const t of lin.regs) {
      if (t.info.size !== 8 || t.info.high8) {
        this.err(t.column, `'${t.name}' cannot be used in an address: use a 64-bit register`);
      }
      const prev = terms.get(t.info.reg);
      if (prev) prev.coef += t.coef;
      else terms.set(t.info.reg, { coef: t.coef, column: t.column, name: t.name });
    }
    const list = [...terms.entries()].filter(([, t]) => t.coef !== 0n);
    const bad = (column: number): never =>
      this.err(column, `invalid address '${r.text}': use [base + index*scale + displacement] with scale 1, 2, 4 or 8`);
    if (list.length === 1) {
      const [reg, t] = list[0];
      if (t.coef === 1n) base.base = reg;
      else if (t.coef === 2n || t.coef === 4n || t.coef === 8n) {
        base.index = reg;
        base.scale = Number(t.coef);
      } else if (t.coef === 3n || t.coef === 5n || t.coef === 9n) {
        base.base = reg;
        base.index = reg;
        base.scale = Number(t.coef) - 1;
      } else bad(t.column);
    } else if (list.length === 2) {
      let [a, b] = list;
      if (a[1].coef !== 1n || (b[1].coef === 1n && b[0] === 4)) [a, b] = [b, a];
      if (a[1].coef !== 1n || ![1n, 2n, 4n, 8n].includes(b[1].coef)) bad(b[1].column);
      base.base = a[0];
      base.index = b[0];
      base.scale = Number(b[1].coef);
    } else if (list.length > 2) {
      this.err(list[2][1].column, `invalid address '${r.text}': at most two registers (a base and an index)`);
    }
    if (base.index === 4) this.err(terms.get(4)!.column, 'rsp cannot be an index register');
    base.disp = lin.c;
    if (lin.c !== undefined && (lin.c < -(1n << 63n) || lin.c >= TWO64)) {
      this.err(r.column, `address ${hex(lin.c)} does not fit in 64 bits`);
    }
    return base;
  }

  private instruction(b: Body & { k: 'insn' }, line: number, key: string): { insn: Insn; bytes: number[] } {
    const m = b.mnemonic;
    const r0 = b.ops[0];
    if (m === 'call' && b.ops.length === 1 && r0.k === 'imm' && r0.expr.k === 'sym' && this.services.has(r0.expr.name) &&
      !this.symbols.has(this.qualify(r0.expr.name, this.scope))) {
      // `call NAME` to a guest-kernel service (NAME is not a label): E8 with rel32 0 in the image.
      const insn: Insn = {
        addr: this.here, length: 5, line, mnemonic: m, text: b.text, op: Op.CALL_SERVICE, size: 8,
        dst: null, src: null, aux: null, cond: -1, target: -1, service: r0.expr.name, rep: false,
      };
      return { insn, bytes: [0xe8, 0, 0, 0, 0] };
    }
    const ops = b.ops.map((r) => this.resolve(r));
    const long = this.pass === 1 ? this.unknownSeen : (this.pass1.get(key)?.long ?? true);
    const insn: Insn = {
      addr: this.here, length: 0, line, mnemonic: m, text: b.text, op: Op.NOP, size: 0,
      dst: null, src: null, aux: null, cond: -1, target: -1, service: '', rep: b.rep,
    };
    const need = (n: number | number[]): void => {
      const ok = typeof n === 'number' ? ops.length === n : n.includes(ops.length);
      if (ok) return;
      const want = typeof n === 'number' ? `${n}` : n.join(' or ');
      const col = ops.length > (typeof n === 'number' ? n : Math.max(...n)) ? ops[ops.length - 1].column : b.column;
      this.err(col, `'${m}' takes ${want} operand${want === '1' ? '' : 's'}, not ${ops.length}`);
    };
    const e = (col: number, msg: string): never => this.err(col, msg);
    const noSize = (o: ROp): never =>
      e(o.column, `operation size not specified: write byte, word, dword or qword before '${o.text}'`);
    const rm = (o: ROp): Rm =>
      o.k === 'reg' ? { kind: 'reg', reg: o.info!.reg } : { kind: 'mem', base: o.base, index: o.index, scale: o.scale, disp: o.disp };
    const forceRex = ops.some((o) => o.k === 'reg' && o.info!.needsRex && o.info!.size === 1);
    const checkHigh8 = (size: number): void => {
      const h = ops.find((o) => o.k === 'reg' && o.info!.high8);
      if (!h) return;
      const rex = size === 8 || ops.some((o) => (o.k === 'reg' && o.info!.needsRex) || (o.k === 'mem' && (o.base >= 8 || o.index >= 8)));
      if (rex) e(h.column, `'${h.text}' cannot be used in an instruction that needs a REX prefix`);
    };
    const regOf = (o: ROp): number => o.info!.reg;
    /** The common size of two register/memory operands, checking they agree. */
    const size2 = (d: ROp, s: ROp): number => {
      if (d.size && s.size && d.size !== s.size && s.k !== 'imm') {
        e(s.column, `operand size mismatch: '${d.text}' is ${bytesName(d.size)} but '${s.text}' is ${bytesName(s.size)}`);
      }
      const size = d.size || (s.k === 'imm' ? s.size : s.size);
      if (!size) noSize(d);
      return size;
    };
    const imm = (o: ROp, size: number, mode: 'plain' | 'sx32' | 'imm64' | 'u8' | 'u16'): bigint => {
      const v = o.imm;
      if (v === undefined) return 0n;
      checkRange(v, size, this.line, o.column, mode);
      return v;
    };
    const target = (o: ROp): number => {
      if (o.k !== 'imm') e(o.column, `'${m}' needs a label or address here`);
      const v = o.imm;
      if (v === undefined) return -1;
      if (v < 0n || v >= 1n << 52n) e(o.column, `jump target ${hex(v)} is not a valid address`);
      return Number(v);
    };
    const setOps = (d: ROp | null, s: ROp | null, size: number): void => {
      insn.size = size;
      insn.dst = d ? operand(d, d.k === 'imm' ? size : d.size || size) : null;
      insn.src = s ? operand(s, s.k === 'imm' ? size : s.size || size) : null;
    };
    let bytes: number[] = [];

    const cc = (p: string): number | undefined => (m.startsWith(p) ? COND_SUFFIX.get(m.slice(p.length)) : undefined);

    if (ALU_INDEX.has(m) || m === 'test') {
      need(2);
      const [d, s] = ops;
      if (d.k === 'imm') e(d.column, `the destination of '${m}' cannot be an immediate`);
      if (d.k === 'mem' && s.k === 'mem') e(s.column, `invalid combination of operands: '${m}' cannot take two memory operands`);
      const n = m === 'test' ? -1 : ALU_INDEX.get(m)!;
      insn.op = m === 'test' ? Op.TEST : [Op.ADD, Op.OR, Op.ADC, Op.SBB, Op.AND, Op.SUB, Op.XOR, Op.CMP][n];
      const size = size2(d, s);
      checkHigh8(size);
      if (s.k === 'imm') {
        const v = imm(s, size, size === 8 ? 'sx32' : 'plain');
        if (m === 'test') {
          bytes = encodeModrm({ opcode: [size === 1 ? 0xf6 : 0xf7], regField: 0, rm: rm(d), size, forceRex, long, imm: v, immSize: Math.min(size, 4) });
        } else if (size === 1) {
          bytes = encodeModrm({ opcode: [0x80], regField: n, rm: rm(d), size, forceRex, long, imm: v, immSize: 1 });
        } else if (!long && s.imm !== undefined && v >= -128n && v <= 127n) {
          bytes = encodeModrm({ opcode: [0x83], regField: n, rm: rm(d), size, forceRex, long, imm: v, immSize: 1 });
        } else {
          bytes = encodeModrm({ opcode: [0x81], regField: n, rm: rm(d), size, forceRex, long, imm: v, immSize: Math.min(size, 4) });
        }
      } else if (s.k === 'mem') {
        // reg, r/m (test is symmetric: encode as test r/m, reg).
        const op = m === 'test' ? (size === 1 ? 0x84 : 0x85) : n * 8 + (size === 1 ? 2 : 3);
        bytes = encodeModrm({ opcode: [op], regField: regOf(d), rm: rm(s), size, forceRex, long });
      } else {
        const op = m === 'test' ? (size === 1 ? 0x84 : 0x85) : n * 8 + (size === 1 ? 0 : 1);
        bytes = encodeModrm({ opcode: [op], regField: regOf(s), rm: rm(d), size, forceRex, long });
      }
      setOps(d, s, size);
    } else if (m === 'mov') {
      need(2);
      const [d, s] = ops;
      if (d.k === 'imm') e(d.column, "the destination of 'mov' cannot be an immediate");
      if (d.k === 'mem' && s.k === 'mem') e(s.column, "invalid combination of operands: 'mov' cannot take two memory operands");
      const size = size2(d, s);
      checkHigh8(size);
      insn.op = Op.MOV;
      if (s.k === 'imm') {
        if (d.k === 'reg') {
          if (size === 8) {
            const v = imm(s, 8, 'imm64');
            if (!long && s.imm !== undefined && v >= -(1n << 31n) && v < 1n << 31n) {
              bytes = encodeModrm({ opcode: [0xc7], regField: 0, rm: rm(d), size: 8, imm: v, immSize: 4 });
            } else {
              bytes = encodePlain({ rexW: true, rexB: regOf(d) >= 8, opcode: [0xb8 + (regOf(d) & 7)], imm: v, immSize: 8 });
            }
          } else {
            const v = imm(s, size, 'plain');
            bytes = encodePlain({
              size, rexB: regOf(d) >= 8, forceRex, opcode: [(size === 1 ? 0xb0 : 0xb8) + (regOf(d) & 7)], imm: v, immSize: size,
            });
          }
        } else {
          const v = imm(s, size, size === 8 ? 'sx32' : 'plain');
          bytes = encodeModrm({ opcode: [size === 1 ? 0xc6 : 0xc7], regField: 0, rm: rm(d), size, long, imm: v, immSize: Math.min(size, 4) });
        }
      } else if (s.k === 'mem') {
        bytes = encodeModrm({ opcode: [size === 1 ? 0x8a : 0x8b], regField: regOf(d), rm: rm(s), size, forceRex, long });
      } else {
        bytes = encodeModrm({ opcode: [size === 1 ? 0x88 : 0x89], regField: regOf(s), rm: rm(d), size, forceRex, long });
      }
      setOps(d, s, size);
    } else if (m === 'movzx' || m === 'movsx' || m === 'movsxd') {
      need(2);
      const [d, s] = ops;
      if (d.k !== 'reg') e(d.column, `the destination of '${m}' must be a register`);
      if (s.k === 'imm') e(s.column, `the source of '${m}' must be a register or memory`);
      if (!s.size) e(s.column, `operation size not specified: write byte or word before '${s.text}'`);
      const okSrc = m === 'movzx' ? [1, 2] : m === 'movsx' ? [1, 2, 4] : [4];
      if (!okSrc.includes(s.size) || s.size >= d.size || (s.size === 4 && d.size !== 8)) {
        e(s.column, `invalid combination of operands: '${m}' extends a smaller source into a larger register`);
      }
      checkHigh8(d.size);
      insn.op = m === 'movzx' ? Op.MOVZX : Op.MOVSX;
      const opcode = s.size === 4 ? [0x63] : [0x0f, (m === 'movzx' ? 0xb6 : 0xbe) + (s.size === 2 ? 1 : 0)];
      bytes = encodeModrm({ opcode, regField: regOf(d), rm: rm(s), size: d.size, forceRex, long });
      insn.size = d.size;
      insn.dst = operand(d, d.size);
      insn.src = operand(s, s.size);
    } else if (m === 'lea') {
      need(2);
      const [d, s] = ops;
      if (d.k !== 'reg' || d.size === 1) e(d.column, "the destination of 'lea' must be a 16-, 32- or 64-bit register");
      if (s.k !== 'mem') e(s.column, "the source of 'lea' must be an address in [ ]");
      insn.op = Op.LEA;
      bytes = encodeModrm({ opcode: [0x8d], regField: regOf(d), rm: rm(s), size: d.size, long });
      setOps(d, s, d.size);
    } else if (m === 'xchg') {
      need(2);
      let [d, s] = ops;
      if (d.k === 'imm' || s.k === 'imm') e((d.k === 'imm' ? d : s).column, "'xchg' takes registers or memory, not immediates");
      if (d.k === 'mem' && s.k === 'mem') e(s.column, "invalid combination of operands: 'xchg' cannot take two memory operands");
      if (d.k === 'reg' && s.k === 'mem') [d, s] = [s, d];
      const size = size2(d, s);
      checkHigh8(size);
      insn.op = Op.XCHG;
      bytes = encodeModrm({ opcode: [size === 1 ? 0x86 : 0x87], regField: regOf(s), rm: rm(d), size, forceRex, long });
      setOps(d, s, size);
    } else if (m === 'not' || m === 'neg' || m === 'inc' || m === 'dec') {
      need(1);
      const [d] = ops;
      if (d.k === 'imm') e(d.column, `'${m}' needs a register or memory operand`);
      if (!d.size) noSize(d);
      checkHigh8(d.size);
      insn.op = { not: Op.NOT, neg: Op.NEG, inc: Op.INC, dec: Op.DEC }[m];
      const [opc, digit] = { not: [0xf6, 2], neg: [0xf6, 3], inc: [0xfe, 0], dec: [0xfe, 1] }[m];
      bytes = encodeModrm({ opcode: [opc + (d.size === 1 ? 0 : 1)], regField: digit, rm: rm(d), size: d.size, forceRex, long });
      setOps(d, null, d.size);
    } else if (m === 'shl' || m === 'sal' || m === 'shr' || m === 'sar') {
      need([1, 2]);
      const [d, c] = ops;
      if (d.k === 'imm') e(d.column, `'${m}' needs a register or memory operand`);
      if (!d.size) noSize(d);
      checkHigh8(d.size);
      insn.op = m === 'shr' ? Op.SHR : m === 'sar' ? Op.SAR : Op.SHL;
      const digit = m === 'shr' ? 5 : m === 'sar' ? 7 : 4;
      const w = d.size === 1 ? 0 : 1;
      if (!c || (c.k === 'imm' && c.imm === 1n && !long)) {
        bytes = encodeModrm({ opcode: [0xd0 + w], regField: digit, rm: rm(d), size: d.size, forceRex, long });
        insn.src = immOperand(1n, 1, '1');
      } else if (c.k === 'reg') {
        if (c.info!.reg !== 1 || c.info!.size !== 1 || c.info!.high8) e(c.column, 'a shift count must be an immediate or cl');
        bytes = encodeModrm({ opcode: [0xd2 + w], regField: digit, rm: rm(d), size: d.size, forceRex, long });
        insn.src = operand(c, 1);
      } else if (c.k === 'imm') {
        const v = imm(c, 1, 'u8');
        bytes = encodeModrm({ opcode: [0xc0 + w], regField: digit, rm: rm(d), size: d.size, forceRex, long, imm: v, immSize: 1 });
        insn.src = operand(c, 1);
      } else {
        e(c.column, 'a shift count must be an immediate or cl');
      }
      insn.size = d.size;
      insn.dst = operand(d, d.size);
    } else if (m === 'imul') {
      need([2, 3]);
      const [d, s, k] = ops;
      if (d.k !== 'reg' || d.size === 1) e(d.column, "the destination of 'imul' must be a 16-, 32- or 64-bit register");
      if (s.k === 'imm') e(s.column, "write 'imul reg, reg, imm' to multiply by a constant");
      const size = size2(d, s);
      insn.op = Op.IMUL;
      if (k) {
        if (k.k !== 'imm') e(k.column, "the third operand of 'imul' must be an immediate");
        const v = imm(k, size, size === 8 ? 'sx32' : 'plain');
        const small = !long && k.imm !== undefined && v >= -128n && v <= 127n;
        bytes = encodeModrm({ opcode: [small ? 0x6b : 0x69], regField: regOf(d), rm: rm(s), size, long, imm: v, immSize: small ? 1 : Math.min(size, 4) });
        setOps(d, s, size);
        insn.aux = operand(k, size);
      } else {
        bytes = encodeModrm({ opcode: [0x0f, 0xaf], regField: regOf(d), rm: rm(s), size, long });
        setOps(d, s, size);
      }
    } else if (m === 'push' || m === 'pop') {
      need(1);
      const [d] = ops;
      insn.op = m === 'push' ? Op.PUSH : Op.POP;
      if (d.k === 'reg') {
        if (d.size !== 8) e(d.column, `'${m}' needs a 64-bit register, not '${d.text}'`);
        bytes = encodePlain({ rexB: regOf(d) >= 8, opcode: [(m === 'push' ? 0x50 : 0x58) + (regOf(d) & 7)] });
      } else if (d.k === 'mem') {
        if (d.size && d.size !== 8) e(d.column, `'${m}' moves a qword, not ${bytesName(d.size)}`);
        d.size = 8;
        bytes = encodeModrm({ opcode: [m === 'push' ? 0xff : 0x8f], regField: m === 'push' ? 6 : 0, rm: rm(d), size: 8, noW: true, long });
      } else {
        if (m === 'pop') e(d.column, "'pop' needs a register or memory operand");
        if (d.size && d.size !== 8) e(d.column, "'push' of an immediate pushes a qword");
        const v = imm(d, 8, 'sx32');
        const small = !long && d.imm !== undefined && v >= -128n && v <= 127n;
        bytes = encodePlain({ opcode: [small ? 0x6a : 0x68], imm: v, immSize: small ? 1 : 4 });
      }
      insn.size = 8;
      insn.dst = operand(d, 8);
    } else if (m === 'jmp' || m === 'call') {
      need(1);
      const [d] = ops;
      insn.op = m === 'jmp' ? Op.JMP : Op.CALL;
      insn.size = 8;
      if (d.k === 'imm') {
        const raw = d.raw as RawOperand & { k: 'imm' };
        insn.target = target(d);
        bytes = this.relJump(m === 'jmp' ? [0xe9] : [0xe8], m === 'jmp' && raw.short ? [0xeb] : null, insn.target, d);
      } else {
        if (d.k === 'reg' && d.size !== 8) e(d.column, `'${m}' needs a 64-bit register, not '${d.text}'`);
        if (d.k === 'mem' && d.size && d.size !== 8) e(d.column, `'${m}' through memory reads a qword, not ${bytesName(d.size)}`);
        d.size = 8;
        bytes = encodeModrm({ opcode: [0xff], regField: m === 'jmp' ? 4 : 2, rm: rm(d), size: 8, noW: true, long });
        insn.dst = operand(d, 8);
      }
    } else if (cc('j') !== undefined && m !== 'jmp') {
      need(1);
      const [d] = ops;
      insn.op = Op.JCC;
      insn.cond = cc('j')!;
      insn.target = target(d);
      const raw = d.raw as RawOperand & { k: 'imm' };
      bytes = this.relJump([0x0f, 0x80 + insn.cond], raw.short ? [0x70 + insn.cond] : null, insn.target, d);
    } else if (m === 'loop') {
      need(1);
      insn.op = Op.LOOP;
      insn.size = 8;
      insn.target = target(ops[0]);
      bytes = this.relJump([0xe2], [0xe2], insn.target, ops[0]);
    } else if (m === 'ret') {
      need([0, 1]);
      insn.op = Op.RET;
      if (ops.length) {
        if (ops[0].k !== 'imm') e(ops[0].column, "'ret' takes an optional immediate byte count");
        const v = imm(ops[0], 2, 'u16');
        bytes = encodePlain({ opcode: [0xc2], imm: v, immSize: 2 });
        insn.src = operand(ops[0], 2);
      } else {
        bytes = [0xc3];
      }
    } else if (cc('set') !== undefined) {
      need(1);
      const [d] = ops;
      if (d.k === 'imm') e(d.column, `'${m}' needs a byte register or memory operand`);
      if (d.size && d.size !== 1) e(d.column, `'${m}' writes a byte, not ${bytesName(d.size)}`);
      checkHigh8(1);
      insn.op = Op.SETCC;
      insn.cond = cc('set')!;
      bytes = encodeModrm({ opcode: [0x0f, 0x90 + insn.cond], regField: 0, rm: rm(d), size: 1, forceRex, long });
      setOps(d, null, 1);
    } else if (cc('cmov') !== undefined) {
      need(2);
      const [d, s] = ops;
      if (d.k !== 'reg' || d.size === 1) e(d.column, `the destination of '${m}' must be a 16-, 32- or 64-bit register`);
      if (s.k === 'imm') e(s.column, `the source of '${m}' must be a register or memory`);
      const size = size2(d, s);
      insn.op = Op.CMOVCC;
      insn.cond = cc('cmov')!;
      bytes = encodeModrm({ opcode: [0x0f, 0x40 + insn.cond], regField: regOf(d), rm: rm(s), size, long });
      setOps(d, s, size);
    } else if (m === 'in' || m === 'out') {
      need(2);
      const [port, acc] = m === 'in' ? [ops[1], ops[0]] : [ops[0], ops[1]];
      if (acc.k !== 'reg' || acc.info!.reg !== 0 || acc.info!.high8 || acc.size === 8) {
        e(acc.column, `'${m}' transfers through al, ax or eax, not '${acc.text}'`);
      }
      const size = acc.size;
      const w = size === 1 ? 0 : 1;
      insn.op = m === 'in' ? Op.IN : Op.OUT;
      insn.size = size;
      if (port.k === 'reg') {
        if (port.info!.reg !== 2 || port.size !== 2) e(port.column, `the port of '${m}' is an immediate byte or dx, not '${port.text}'`);
        bytes = encodePlain({ size, opcode: [(m === 'in' ? 0xec : 0xee) + w] });
        insn.src = operand(port, 2);
      } else if (port.k === 'imm') {
        const v = imm(port, 1, 'u8');
        bytes = encodePlain({ size, opcode: [(m === 'in' ? 0xe4 : 0xe6) + w], imm: v, immSize: 1 });
        insn.src = operand(port, 1);
      } else {
        e(port.column, `the port of '${m}' is an immediate byte or dx, not memory`);
      }
      insn.dst = operand(acc, size);
    } else if (STRING_OPS.has(m)) {
      need(0);
      const so = STRING_OPS.get(m)!;
      insn.op = so.op === 'stos' ? Op.STOS : Op.MOVS;
      insn.size = so.size;
      const opc = (so.op === 'stos' ? 0xaa : 0xa4) + (so.size === 1 ? 0 : 1);
      bytes = encodePlain({ prefix: b.rep ? [0xf3] : [], size: so.size, rexW: so.size === 8, opcode: [opc] });
    } else {
      need(0);
      const simple: Record<string, [number, number[]]> = {
        nop: [Op.NOP, [0x90]], cld: [Op.NOP, [0xfc]], pause: [Op.NOP, [0xf3, 0x90]], hlt: [Op.HLT, [0xf4]],
        rdmsr: [Op.RDMSR, [0x0f, 0x32]], wrmsr: [Op.WRMSR, [0x0f, 0x30]], cpuid: [Op.CPUID, [0x0f, 0xa2]],
        tdcall: [Op.TDCALL, [0x66, 0x0f, 0x01, 0xcc]], vmcall: [Op.VMCALL, [0x0f, 0x01, 0xc1]],
        ud2: [Op.UD2, [0x0f, 0x0b]], int3: [Op.INT3, [0xcc]],
      };
      const s = Object.hasOwn(simple, m) ? simple[m] : undefined;
      if (!s) return e(b.column, `unknown instruction '${m}'`);
      insn.op = s[0];
      bytes = [...s[1]];
    }
    if (bytes.length > 15) e(b.column, `instruction is ${bytes.length} bytes long (x86 allows at most 15)`);
    return { insn, bytes };
  }

  /** A relative jump: rel32 (long) or rel8 (short, range-checked in pass 2). */
  private relJump(long: number[], short: number[] | null, target: number, o: ROp): number[] {
    if (short) {
      const len = short.length + 1;
      const rel = target < 0 ? 0 : target - (this.here + len);
      if (this.pass === 2 && (rel < -128 || rel > 127)) {
        this.err(o.column, `jump target is ${rel} bytes away, out of range for a short jump (-128..127)`);
      }
      const out = [...short];
      pushLE(out, BigInt(rel), 1);
      return out;
    }
    const len = long.length + 4;
    const rel = target < 0 ? 0 : target - (this.here + len);
    const out = [...long];
    pushLE(out, BigInt(rel), 4);
    return out;
  }

  // ---- output -------------------------------------------------------------------------------------

  private program(): Program {
    let end = this.origin;
    for (const c of this.chunks) end = Math.max(end, c.addr + c.bytes.length);
    const image = new Uint8Array(end - this.origin);
    for (const c of this.chunks) image.set(c.bytes, c.addr - this.origin);
    const symbols = new Map<string, number>();
    for (const [name, s] of this.symbols) {
      const v = s.value;
      if (v !== undefined && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) symbols.set(name, Number(v));
    }
    const insnAt = new Map<number, Insn>();
    for (const i of this.insns) insnAt.set(i.addr, i);
    const isLabel = (n: string): boolean => this.symbols.get(n)?.k === 'label';
    const entry = isLabel('_start') ? symbols.get('_start')! : isLabel('start') ? symbols.get('start')! : this.origin;
    const items = this.items.filter((it) => it.len > 0);
    const starts = items.map((it) => it.addr);
    const lineOf = (addr: number): number | undefined => {
      let lo = 0;
      let hi = starts.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (starts[mid] <= addr) lo = mid + 1;
        else hi = mid - 1;
      }
      const it = items[hi];
      return it && addr < it.addr + it.len ? it.line : undefined;
    };
    return { origin: this.origin, image, entry, symbols, insnAt, insns: this.insns, lineOf, sourceLines: this.lines.map((l) => l.replace(/\r$/, '')) };
  }
}

// ---- helpers ----------------------------------------------------------------------------------------

function hex(v: bigint): string {
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

function bytesName(size: number): string {
  return { 1: 'a byte', 2: 'a word', 4: 'a dword', 8: 'a qword' }[size] ?? `${size} bytes`;
}

function checkRange(v: bigint, size: number, line: number, column: number, mode: string): void {
  let lo: bigint;
  let hi: bigint;
  let what: string;
  if (mode === 'sx32') {
    lo = -(1n << 31n);
    hi = (1n << 31n) - 1n;
    what = 'a sign-extended 32-bit immediate (load larger values into a register with mov first)';
  } else if (mode === 'u8') {
    lo = 0n;
    hi = 255n;
    what = 'an unsigned byte (0..255)';
  } else if (mode === 'u16') {
    lo = 0n;
    hi = 65535n;
    what = 'an unsigned word (0..65535)';
  } else {
    const bits = BigInt(size * 8);
    lo = -(1n << (bits - 1n));
    hi = (1n << bits) - 1n;
    what = mode === 'data' ? bytesName(size) : `${size * 8} bits`;
  }
  if (v < lo || v > hi) {
    const kind = mode === 'data' ? 'value' : 'immediate';
    throw new AsmError(line, column, `${kind} ${hex(v)} does not fit in ${what}`);
  }
}

function operand(o: ROp, size: number): Operand {
  if (o.k === 'reg') {
    return {
      kind: OPND_REG, size: o.info!.size, reg: o.info!.reg, high8: o.info!.high8, base: -1, index: -1, scale: 1,
      dispLo: 0, dispHi: 0, immLo: 0, immHi: 0, value: 0n, text: o.text,
    };
  }
  if (o.k === 'mem') {
    const d = BigInt.asUintN(64, o.disp ?? 0n);
    return {
      kind: OPND_MEM, size, reg: -1, high8: false, base: o.base, index: o.index, scale: o.scale,
      dispLo: Number(d & 0xffffffffn), dispHi: Number(d >> 32n), immLo: 0, immHi: 0, value: o.disp ?? 0n, text: o.text,
    };
  }
  return immOperand(o.imm ?? 0n, size, o.text);
}

function immOperand(v: bigint, size: number, text: string): Operand {
  // Truncate to the operation size; a 64-bit operation's imm32 is already sign-extended in v.
  const t = BigInt.asUintN(size * 8 || 64, v);
  return {
    kind: OPND_IMM, size, reg: -1, high8: false, base: -1, index: -1, scale: 1, dispLo: 0, dispHi: 0,
    immLo: Number(t & 0xffffffffn), immHi: Number(t >> 32n), value: v, text,
  };
}
