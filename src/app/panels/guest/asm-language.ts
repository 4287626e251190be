/**
 * Highlighting for the guest programs: x86-64 in Intel (NASM-like) syntax, as src/sim/guest/asm
 * accepts it. A line is `[label:] [prefix] mnemonic operands ; comment`, or a directive. The
 * colours come from CSS classes (guest-panel.css) so the light and dark themes both apply.
 */
import { HighlightStyle, StreamLanguage, type StringStream } from '@codemirror/language';
import { tags } from '@lezer/highlight';

const DIRECTIVES = new Set([
  'db', 'dw', 'dd', 'dq', 'resb', 'resw', 'resd', 'resq', 'times', 'equ', 'org', '.org', 'align',
  'bits', 'global', 'extern', 'section', 'segment', 'default', 'use64', 'cpu',
]);
const PREFIXES = new Set(['rep', 'repe', 'repz', 'repne', 'repnz', 'lock']);
const SIZES = new Set(['byte', 'word', 'dword', 'qword', 'ptr']);
const REGISTER = /^(?:r(?:[abcd]x|[sd]i|[sb]p|ip)|e(?:[abcd]x|[sd]i|[sb]p|ip)|[abcd]x|[sd]i|[sb]p|[abcd][lh]|(?:si|di|sp|bp)l|r(?:[89]|1[0-5])[dwbl]?|[cdefgs]s|rflags|cr[0-8])$/i;
/** A label written without a colon before a data directive (`msg db 'hi', 0`). */
const BARE_LABEL = /^\s+(?:db|dw|dd|dq|resb|resw|resd|resq|equ|times)\b/i;
const NUMBER = /^(?:0x[0-9a-f_]+|0b[01_]+|0o[0-7_]+|[0-9][0-9a-f_]*[hbqo]|[0-9][0-9_]*)\b/i;
const IDENT = /^[A-Za-z_.?@][\w.?@$]*/;

interface AsmState {
  /** True until the line's mnemonic or directive has been read. */
  head: boolean;
}

function token(stream: StringStream, state: AsmState): string | null {
  if (stream.sol()) state.head = true;
  if (stream.eatSpace()) return null;
  const ch = stream.peek()!;
  if (ch === ';') {
    stream.skipToEnd();
    return 'comment';
  }
  if (ch === '"' || ch === "'" || ch === '`') {
    stream.next();
    while (!stream.eol()) if (stream.next() === ch) break;
    return 'string';
  }
  if (stream.match(NUMBER)) return 'number';
  if (ch === '$') {
    stream.next();
    if (ch === '$' && stream.peek() === '$') stream.next();
    return 'atom';
  }
  const m = stream.match(IDENT) as RegExpMatchArray | null;
  if (m) {
    const word = m[0];
    const lower = word.toLowerCase();
    if (DIRECTIVES.has(lower)) {
      state.head = false;
      return 'processingInstruction';
    }
    if (state.head) {
      if (stream.peek() === ':' || stream.match(BARE_LABEL, false)) return 'labelName.definition';
      if (PREFIXES.has(lower)) return 'keyword';
      state.head = false;
      return 'keyword';
    }
    if (REGISTER.test(word)) return 'variableName.special';
    if (SIZES.has(lower)) return 'typeName';
    return 'labelName';
  }
  stream.next();
  return /[+\-*/%&|^~<>]/.test(ch) ? 'operator' : null;
}

export const asmLanguage = StreamLanguage.define<AsmState>({
  name: 'x86-asm',
  startState: () => ({ head: true }),
  copyState: (s) => ({ ...s }),
  token,
  languageData: { commentTokens: { line: ';' } },
});

export const asmHighlight = HighlightStyle.define([
  { tag: tags.keyword, class: 'asm-mnemonic' },
  { tag: tags.processingInstruction, class: 'asm-directive' },
  { tag: tags.special(tags.variableName), class: 'asm-register' },
  { tag: tags.number, class: 'asm-number' },
  { tag: tags.atom, class: 'asm-number' },
  { tag: tags.string, class: 'asm-string' },
  { tag: tags.comment, class: 'asm-comment' },
  { tag: tags.definition(tags.labelName), class: 'asm-label-def' },
  { tag: tags.labelName, class: 'asm-label' },
  { tag: tags.typeName, class: 'asm-size' },
  { tag: tags.operator, class: 'asm-operator' },
]);
