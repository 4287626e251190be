import { describe, expect, test } from 'vitest';
import { AsmError, assemble, assembleWithDiagnostics } from './index';

function bytes(src: string, origin = 0): string {
  const p = assemble(src, { origin });
  return Array.from(p.image, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function err(src: string): string {
  try {
    assemble(src);
  } catch (e) {
    if (e instanceof AsmError) return e.toString();
    throw e;
  }
  throw new Error('no error');
}

describe('data directives', () => {
  test('db/dw/dd/dq with numbers, strings and character constants', () => {
    expect(bytes(`db 1, 0x80, -1, 'hi', 0, "ok", 10h, 0b101
      dw 0x1234, 'a'
      dd 0xdeadbeef, -2
      dq 0x0102030405060708`)).toBe(
      '01 80 ff 68 69 00 6f 6b 10 05 34 12 61 00 ef be ad de fe ff ff ff 08 07 06 05 04 03 02 01',
    );
  });

  test('strings in dw/dd are padded to whole units; a semicolon inside quotes is not a comment', () => {
    expect(bytes(`dw 'abc' ; comment\n db ';', 0`)).toBe('61 62 63 00 3b 00');
  });

  test('times repeats data and instructions', () => {
    const p = assemble('times 3 db 1, 2\n times 2 nop\n times 0 hlt', { origin: 0x100 });
    expect(Array.from(p.image)).toEqual([1, 2, 1, 2, 1, 2, 0x90, 0x90]);
    expect(p.insns.map((i) => i.addr)).toEqual([0x106, 0x107]);
  });

  test('.org and org move forward and fill with zeros; the first org sets the origin', () => {
    const p = assemble('org 0x7c00\n db 1\n .org 0x7c04\n db 2\n times 8-($-$$) db 0xee');
    expect(p.origin).toBe(0x7c00);
    expect(Array.from(p.image)).toEqual([1, 0, 0, 0, 2, 0xee, 0xee, 0xee]);
  });

  test('equ, $, forward references and expression operators', () => {
    const p = assemble(`
      SIZE equ end - buf
      FLAGS equ (1 << 4) | 1
      start:
        mov rcx, SIZE
        mov al, FLAGS
      buf: db 1, 2, 3
      here: dq $
      calc: dd (1 + 2) * 3, 7 / 2, 7 % 4, ~0 & 0xff, -(3 - 5), 1 << 4 >> 2, 6 ^ 3
      end:`, { origin: 0x1000 });
    const s = p.symbols;
    expect(s.get('SIZE')).toBe(s.get('end')! - s.get('buf')!);
    expect(s.get('SIZE')).toBe(3 + 8 + 28);
    expect(s.get('FLAGS')).toBe(17);
    const at = (a: number, n: number) => Array.from(p.image.subarray(a - 0x1000, a - 0x1000 + n));
    expect(at(s.get('here')!, 8)).toEqual([...new Uint8Array(new BigUint64Array([BigInt(s.get('here')!)]).buffer)]);
    expect(new Int32Array(p.image.slice(s.get('calc')! - 0x1000, s.get('calc')! - 0x1000 + 28).buffer)).toEqual(
      new Int32Array([9, 3, 3, 255, 2, 4, 5]),
    );
    expect(p.insnAt.get(s.get('start')!)!.src!.value).toBe(39n);
    expect(p.entry).toBe(s.get('start'));
  });

  test('local labels attach to the previous global label', () => {
    const p = assemble('a:\n.loop: nop\n jmp .loop\nb:\n.loop: nop\n jmp .loop');
    expect([...p.symbols.keys()]).toEqual(['a', 'a.loop', 'b', 'b.loop']);
    expect(p.insns[1].target).toBe(p.symbols.get('a.loop'));
    expect(p.insns[3].target).toBe(p.symbols.get('b.loop'));
  });

  test('entry is _start, else start, else origin; lineOf maps any byte to its source line', () => {
    expect(assemble('nop\n_start: hlt', { origin: 0x400 }).entry).toBe(0x401);
    expect(assemble('nop\nhlt', { origin: 0x400 }).entry).toBe(0x400);
    const p = assemble('nop\n\nmsg: db "hello"\n mov rax, 1', { origin: 0x400 });
    expect([0x400, 0x401, 0x405, 0x406, 0x40c, 0x40d].map((a) => p.lineOf(a))).toEqual([1, 3, 3, 4, 4, undefined]);
  });

  test('mnemonics and registers are case-insensitive; labels are not', () => {
    const p = assemble('Loop: MOV RAX, 1\n Add eAx, EBX\n JMP Loop');
    expect(p.insns.map((i) => i.mnemonic)).toEqual(['mov', 'add', 'jmp']);
    expect(err('Loop: nop\n jmp loop')).toBe("line 2, column 6: undefined symbol 'loop'");
  });
});

describe('instruction encodings and lengths', () => {
  const cases: [string, string][] = [
    ['nop', '90'], ['hlt', 'f4'], ['ret', 'c3'], ['pause', 'f3 90'], ['cpuid', '0f a2'], ['rdmsr', '0f 32'],
    ['wrmsr', '0f 30'], ['tdcall', '66 0f 01 cc'], ['vmcall', '0f 01 c1'], ['ud2', '0f 0b'], ['int3', 'cc'],
    ['push rax', '50'], ['push r12', '41 54'], ['pop rbp', '5d'], ['pop r15', '41 5f'],
    ['in al, 0x60', 'e4 60'], ['in eax, dx', 'ed'], ['in ax, dx', '66 ed'], ['out dx, al', 'ee'], ['out 0x80, eax', 'e7 80'],
    ['rep stosb', 'f3 aa'], ['rep movsb', 'f3 a4'], ['stosq', '48 ab'], ['movsq', '48 a5'],
    ['mov rax, 0x1122334455667788', '48 b8 88 77 66 55 44 33 22 11'], ['mov rax, 5', '48 c7 c0 05 00 00 00'],
    ['mov eax, 5', 'b8 05 00 00 00'], ['mov al, 5', 'b0 05'], ['mov r9b, 5', '41 b1 05'], ['mov sil, 1', '40 b6 01'],
    ['mov eax, [rbx+rcx*4+8]', '8b 44 8b 08'], ['mov [rsp+8], rdi', '48 89 7c 24 08'], ['mov rax, [rbp]', '48 8b 45 00'],
    ['mov r8, [r13+0x100]', '4d 8b 85 00 01 00 00'], ['mov byte [rax], 1', 'c6 00 01'], ['mov ax, bx', '66 89 d8'],
    ['add rax, 8', '48 83 c0 08'], ['add eax, 0x1000', '81 c0 00 10 00 00'], ['sub rsp, 0x18', '48 83 ec 18'],
    ['xor eax, eax', '31 c0'], ['cmp qword [rdi], -1', '48 83 3f ff'], ['test al, 1', 'f6 c0 01'],
    ['inc rcx', '48 ff c1'], ['dec dword [rbx]', 'ff 0b'], ['not rax', '48 f7 d0'], ['neg ebx', 'f7 db'],
    ['shl rax, 4', '48 c1 e0 04'], ['shr eax, 1', 'd1 e8'], ['sar rdx, cl', '48 d3 fa'],
    ['movzx eax, byte [rsi]', '0f b6 06'], ['movsx rax, word [rsi]', '48 0f bf 06'], ['movsxd rax, ecx', '48 63 c1'],
    ['imul rax, rbx', '48 0f af c3'], ['imul eax, ecx, 10', '6b c1 0a'], ['xchg rax, rbx', '48 87 d8'],
    ['sete al', '0f 94 c0'], ['cmovne rax, rbx', '48 0f 45 c3'], ['mov rax, [0x1000]', '48 8b 04 25 00 10 00 00'],
  ];
  test.each(cases.filter(([, b]) => b !== ''))('%s → %s', (src, hex) => {
    expect(bytes(src)).toBe(hex);
  });

  test('branches: rel32 by default, rel8 with short, loop is rel8', () => {
    expect(bytes('l: jmp l')).toBe('e9 fb ff ff ff');
    expect(bytes('l: jne l')).toBe('0f 85 fa ff ff ff');
    expect(bytes('l: jmp short l')).toBe('eb fe');
    expect(bytes('l: loop l')).toBe('e2 fe');
    expect(bytes('call f\nf: ret')).toBe('e8 00 00 00 00 c3');
  });

  test('a forward reference keeps the long form chosen in pass 1', () => {
    const p = assemble('mov rax, [rbx + OFF]\n mov rcx, VAL\nOFF equ 8\nVAL equ 1', { origin: 0 });
    expect(Array.from(p.image, (b) => b.toString(16).padStart(2, '0')).join(' ')).toBe(
      '48 8b 83 08 00 00 00 48 b9 01 00 00 00 00 00 00 00',
    );
    expect(p.insns[1].src!.immLo).toBe(1);
  });

  test('service calls', () => {
    const p = assemble('call accept_memory\n call f\nf: ret', { services: new Set(['accept_memory', 'f']) });
    expect(p.insns.map((i) => [i.mnemonic, i.service, i.target])).toEqual([['call', 'accept_memory', -1], ['call', '', 10], ['ret', '', -1]]);
    expect(bytes('db 0')).toBe('00');
  });
});

describe('errors carry line and column', () => {
  const cases: [string, string][] = [
    ['nop\nnop\nstart:  mvo rax, 1', "line 3, column 9: unknown instruction 'mvo'"],
    ['  jmp nowhere', "line 1, column 7: undefined symbol 'nowhere'"],
    ['  mov rax, [rbx + missing*8]', "line 1, column 19: undefined symbol 'missing'"],
    ['  mov [rax], [rbx]', "line 1, column 14: invalid combination of operands: 'mov' cannot take two memory operands"],
    ['  mov al, rbx', "line 1, column 11: operand size mismatch: 'al' is a byte but 'rbx' is a qword"],
    ['  mov eax, qword [rbx]', "line 1, column 12: operand size mismatch: 'eax' is a dword but 'qword [rbx]' is a qword"],
    ['  mov [rax], 1', "line 1, column 7: operation size not specified: write byte, word, dword or qword before '[rax]'"],
    ['  inc [rax]', "line 1, column 7: operation size not specified: write byte, word, dword or qword before '[rax]'"],
    ['  mov eax, 12z', "line 1, column 12: bad number '12z'"],
    ['  db 0x', "line 1, column 6: bad number '0x'"],
    ['a: nop\nb: nop\na: nop', "line 3, column 1: duplicate label 'a' (first defined on line 1)"],
    ['  mov al, 256', "line 1, column 11: immediate 0x100 does not fit in 8 bits"],
    ['  add rax, 0x80000000', "line 1, column 12: immediate 0x80000000 does not fit in a sign-extended 32-bit immediate (load larger values into a register with mov first)"],
    ['  mov rax, 0x10000000000000000', "line 1, column 12: immediate 0x10000000000000000 does not fit in 64 bits"],
    ['  db 300', 'line 1, column 6: value 0x12c does not fit in a byte'],
    ['  dw -40000', 'line 1, column 6: value -0x9c40 does not fit in a word'],
    ['  mov rax', "line 1, column 3: 'mov' takes 2 operands, not 1"],
    ['  nop rax', "line 1, column 7: 'nop' takes 0 operands, not 1"],
    ['  mov rip, 1', 'line 1, column 7: rip cannot be used as an operand (use a label for rip-relative data)'],
    ['  mov 5, rax', "line 1, column 7: the destination of 'mov' cannot be an immediate"],
    ['  mov rax, [rbx + rcx*3]', "line 1, column 19: invalid address '[rbx + rcx*3]': use [base + index*scale + displacement] with scale 1, 2, 4 or 8"],
    ['  mov rax, [rbx + rcx + rdx]', "line 1, column 25: invalid address '[rbx + rcx + rdx]': at most two registers (a base and an index)"],
    ['  mov rax, [eax]', "line 1, column 13: 'eax' cannot be used in an address: use a 64-bit register"],
    ['  mov rax, [rbx + rsp*2]', "line 1, column 19: rsp cannot be an index register"],
    ['  rep add rax, 1', "line 1, column 3: 'rep' can only be used with string instructions (stosb, movsb, ...)"],
    ['  shl rax, bl', 'line 1, column 12: a shift count must be an immediate or cl'],
    ['  mov ah, sil', "line 1, column 7: 'ah' cannot be used in an instruction that needs a REX prefix"],
    ['  in bl, 0x60', "line 1, column 6: 'in' transfers through al, ax or eax, not 'bl'"],
    ['  out 0x100, al', 'line 1, column 7: immediate 0x100 does not fit in an unsigned byte (0..255)'],
    ['l: nop\n times 200 nop\n loop l', 'line 3, column 7: jump target is -203 bytes away, out of range for a short jump (-128..127)'],
    ['  times n nop\nn equ 3', 'line 1, column 9: the times count must be known here (no forward references)'],
    ['  db 1\n org 0', "line 2, column 6: org 0x0 would move the location counter backwards (it is 0x1)"],
    ['  db "abc', 'line 1, column 6: unterminated string'],
    ['  mov rax, (1 + 2', "line 1, column 18: ')' expected"],
    ['  mov rax, 1 +', 'line 1, column 15: expression expected'],
    ['rax: nop', "line 1, column 1: 'rax' is a register name and cannot be a label"],
    ['  mov eax, 1 / 0', 'line 1, column 14: division by zero'],
    ['  lea rax, rbx', "line 1, column 12: the source of 'lea' must be an address in [ ]"],
    ['  push eax', "line 1, column 8: 'push' needs a 64-bit register, not 'eax'"],
    ['  movzx eax, [rbx]', "line 1, column 14: operation size not specified: write byte or word before '[rbx]'"],
    ['  movzx ax, word [rbx]', "line 1, column 13: invalid combination of operands: 'movzx' extends a smaller source into a larger register"],
    ['x equ x + 1\n mov eax, x', "line 1, column 7: 'x' is defined in terms of itself"],
    ['  mov rax, [rbx] 5', "line 1, column 18: unexpected '5' after ']'"],
    ['  mov eax, #1', "line 1, column 12: unexpected character '#'"],
  ];
  test.each(cases)('%s', (src, message) => {
    expect(err(src)).toBe(message);
  });

  test('AsmError exposes line, column and message', () => {
    const r = assembleWithDiagnostics('\n\n  mov al, rbx');
    expect(r.errors[0]).toBeInstanceOf(AsmError);
    expect([r.errors[0].line, r.errors[0].column, r.errors[0].message]).toEqual([3, 11, "operand size mismatch: 'al' is a byte but 'rbx' is a qword"]);
  });

  test('assembleWithDiagnostics reports every bad line, in order, and no program', () => {
    const r = assembleWithDiagnostics('mvo rax, 1\n mov al, rbx\n jmp nowhere\n nop\n db 300\n mov [rax], [rbx]');
    expect(r.program).toBeUndefined();
    expect(r.errors.map((e) => `${e.line}:${e.column}`)).toEqual(['1:1', '2:10', '3:6', '5:5', '6:13']);
    expect(assembleWithDiagnostics('nop').errors).toEqual([]);
  });
});

describe('hostile programs are refused with a line and column, never a crash', () => {
  test.each(['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf', 'isPrototypeOf'])(
    "a mnemonic named like Object.prototype's %s is an unknown instruction",
    (word) => {
      expect(err(`_start: ${word} 1`)).toBe(`line 1, column 9: unknown instruction '${word}'`);
      expect(err(`rep ${word}`)).toBe(`line 1, column 5: unknown instruction '${word}'`);
      expect(err(`j${word} x`)).toBe(`line 1, column 1: unknown instruction 'j${word}'`);
      expect(err(`mov ${word} [rax], 1`)).toMatch(/^line 1, column \d+: unexpected '\['$/);
    },
  );

  test('5,000 nested parentheses: too deep, not a stack overflow', () => {
    const src = `_start: mov rax, ${'('.repeat(5000)}1${')'.repeat(5000)}\nhlt`;
    expect(err(src)).toMatch(/^line 1, column \d+: expression nested more than 64 levels deep$/);
    expect(err(`dq ${'-'.repeat(5000)}1`)).toMatch(/nested more than 64 levels deep/);
  });

  test('a 64-level expression still assembles; 100,000 terms in one expression are refused', () => {
    expect(bytes(`db ${'('.repeat(60)}7${')'.repeat(60)}`)).toBe('07');
    expect(err(`dq ${Array(100_000).fill('1').join('+')}`)).toMatch(/expression longer than 1024 terms and operators/);
  });

  test('images past 1 MiB are refused before they are built (resb, times, org, align)', () => {
    expect(err('resb 0x1000000000')).toMatch(/^line 1, column 1: the reservation of \d+ makes the program image larger than 1,048,576 bytes, the limit$/);
    expect(err('times 60000 dq 1, 2, 3')).toMatch(/^line 1, column 1: this line makes the program image larger than 1,048,576 bytes/);
    expect(err('times 1000000 dq 1')).toMatch(/^line 1, column 7: times count 1000000 is too large \(at most 65,536; use resb for large zeroed areas\)$/);
    expect(err('org 0x100000\ntimes $ resb 1')).toMatch(/^line 2, column 7: times count 1048576 is too large/);
    expect(err('times 100000000 nop')).toMatch(/times count 100000000 is too large/);
    expect(err('nop\norg 0x3fffffff')).toMatch(/^line 2, column 5: org 0x3fffffff makes the program image larger/);
    expect(err('nop\nalign 0x1000000000')).toMatch(/^line 2, column 1: align 68719476736 makes the program image larger/);
    expect(assemble('resb 0x100000').image.length).toBe(0x100000);
  });

  test('a source longer than 256 KiB is refused whole', () => {
    expect(err('nop\n'.repeat(70_000))).toBe('line 1, column 1: the program is 280,000 characters long; the limit is 262,144');
    expect(assembleWithDiagnostics('nop\n'.repeat(70_000)).errors).toHaveLength(1);
  });
});
