/** Splits one source line into tokens, each with its 1-based column. */
import { AsmError } from './errors';

export type TokKind = 'ident' | 'num' | 'str' | 'punct';

export interface Token {
  kind: TokKind;
  /** Identifier or punctuation text; for strings the contents without quotes. */
  text: string;
  /** Numbers and character constants. */
  value: bigint;
  column: number;
  /** Source text of the token as written. */
  raw: string;
}

const IDENT_START = /[A-Za-z_.?@]/;
const IDENT_CHAR = /[A-Za-z0-9_.?@$#]/;
const NUM_CHAR = /[A-Za-z0-9_]/;

/** The value of a numeric literal (0x1f, 1fh, 0b101, 101b, 0o17, 17q, 42, 1_000), or undefined. */
export function parseNumber(raw: string): bigint | undefined {
  const s = raw.replace(/_/g, '').toLowerCase();
  if (s === '') return undefined;
  try {
    if (/^0x[0-9a-f]+$/.test(s)) return BigInt(s);
    if (/^0b[01]+$/.test(s)) return BigInt(s);
    if (/^0o[0-7]+$/.test(s)) return BigInt(s);
    if (/^[0-9][0-9a-f]*h$/.test(s)) return BigInt('0x' + s.slice(0, -1));
    if (/^[01]+b$/.test(s)) return BigInt('0b' + s.slice(0, -1));
    if (/^[0-7]+[qo]$/.test(s)) return BigInt('0o' + s.slice(0, -1));
    if (/^[0-9]+d?$/.test(s)) return BigInt(s.replace(/d$/, ''));
  } catch {
    return undefined;
  }
  return undefined;
}

/** Character constant value: 'ab' is 0x6261 (first character in the low byte, as NASM). */
export function charConstant(s: string): bigint {
  let v = 0n;
  for (let i = s.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(s.charCodeAt(i) & 0xff);
  return v;
}

/** Tokenize `text` (one line, comment already removed). `lineNo` is used for error positions. */
export function tokenize(text: string, lineNo: number): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const column = i + 1;
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new AsmError(lineNo, column, 'unterminated string');
      const body = text.slice(i + 1, end);
      for (let k = 0; k < body.length; k++) {
        if (body.charCodeAt(k) > 0xff) {
          throw new AsmError(lineNo, column + 1 + k, `character '${body[k]}' is not a single byte`);
        }
      }
      out.push({ kind: 'str', text: body, value: charConstant(body), column, raw: text.slice(i, end + 1) });
      i = end + 1;
      continue;
    }
    if (c >= '0' && c <= '9') {
      let j = i;
      while (j < text.length && NUM_CHAR.test(text[j])) j++;
      const raw = text.slice(i, j);
      const value = parseNumber(raw);
      if (value === undefined) throw new AsmError(lineNo, column, `bad number '${raw}'`);
      out.push({ kind: 'num', text: raw, value, column, raw });
      i = j;
      continue;
    }
    if (c === '$') {
      // `$` is the current address, `$$` the origin; `$name` is an identifier escaped from keywords.
      if (text[i + 1] === '$') {
        out.push({ kind: 'ident', text: '$$', value: 0n, column, raw: '$$' });
        i += 2;
        continue;
      }
      if (i + 1 < text.length && IDENT_START.test(text[i + 1])) {
        let j = i + 1;
        while (j < text.length && IDENT_CHAR.test(text[j])) j++;
        out.push({ kind: 'ident', text: text.slice(i + 1, j), value: 0n, column, raw: text.slice(i, j) });
        i = j;
        continue;
      }
      out.push({ kind: 'ident', text: '$', value: 0n, column, raw: '$' });
      i++;
      continue;
    }
    if (IDENT_START.test(c)) {
      let j = i;
      while (j < text.length && IDENT_CHAR.test(text[j])) j++;
      const raw = text.slice(i, j);
      out.push({ kind: 'ident', text: raw, value: 0n, column, raw });
      i = j;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === '<<' || two === '>>') {
      out.push({ kind: 'punct', text: two, value: 0n, column, raw: two });
      i += 2;
      continue;
    }
    if ('[](),:+-*/%&|^~'.includes(c)) {
      out.push({ kind: 'punct', text: c, value: 0n, column, raw: c });
      i++;
      continue;
    }
    throw new AsmError(lineNo, column, `unexpected character '${c}'`);
  }
  return out;
}

/** The line without its `;` comment (a `;` inside quotes does not start a comment). */
export function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'" || c === '`') {
      quote = c;
    } else if (c === ';') {
      return line.slice(0, i);
    }
  }
  return line;
}
