import { highlightTree } from '@lezer/highlight';
import { describe, expect, test } from 'vitest';
import { asmHighlight, asmLanguage } from './asm-language';

/** Each highlighted piece of the text with its class, in order. */
function classes(text: string): [string, string][] {
  const out: [string, string][] = [];
  highlightTree(asmLanguage.parser.parse(text), asmHighlight, (from, to, cls) => out.push([text.slice(from, to), cls]));
  return out;
}

describe('assembly highlighting', () => {
  test('labels, mnemonics, registers, numbers, memory operands and comments', () => {
    expect(classes('.print:  mov dx, 0x3f8 ; COM1')).toEqual([
      ['.print', 'asm-label-def'], ['mov', 'asm-mnemonic'], ['dx', 'asm-register'], ['0x3f8', 'asm-number'], ['; COM1', 'asm-comment'],
    ]);
    expect(classes('    mov byte [buffer + 8], al')).toEqual([
      ['mov', 'asm-mnemonic'], ['byte', 'asm-size'], ['buffer', 'asm-label'], ['+', 'asm-operator'], ['8', 'asm-number'], ['al', 'asm-register'],
    ]);
  });

  test('directives and strings, with and without a colon after the label', () => {
    expect(classes("msg db 'secret stored', 10, 0")).toEqual([
      ['msg', 'asm-label-def'], ['db', 'asm-directive'], ["'secret stored'", 'asm-string'], ['10', 'asm-number'], ['0', 'asm-number'],
    ]);
    expect(classes('secret_len equ $ - secret')[1]).toEqual(['equ', 'asm-directive']);
    expect(classes('buffer: times 64 db 0').map(([, c]) => c)).toEqual(['asm-label-def', 'asm-directive', 'asm-number', 'asm-directive', 'asm-number']);
    expect(classes('.org 0x102000')[0]).toEqual(['.org', 'asm-directive']);
  });

  test('a prefix, r8..r15 and a typo (still shown as the mnemonic the assembler will reject)', () => {
    expect(classes('rep movsb')).toEqual([['rep', 'asm-mnemonic'], ['movsb', 'asm-mnemonic']]);
    expect(classes('mvo r12d, r8')).toEqual([['mvo', 'asm-mnemonic'], ['r12d', 'asm-register'], ['r8', 'asm-register']]);
  });
});
