import { beforeAll, describe, expect, test } from 'vitest';
import { MmioAccess } from './bus';
import { runToHlt, testMachine, type TestMachine } from './test-bus';

/** Fast paths on (the default) or off: every test below runs in both modes. */
let fastPaths = true;

/** Assembles `body` + hlt, runs it, returns the machine. */
function run(body: string): TestMachine {
  const m = testMachine(`_start:\n${body}\n  hlt\n`, { fastPaths });
  runToHlt(m);
  return m;
}

function regs(m: TestMachine, ...names: Parameters<TestMachine['cpu']['get']>[0][]): string[] {
  return names.map((n) => '0x' + m.cpu.get(n).toString(16));
}

function flags(m: TestMachine): string {
  const f = m.cpu.flags;
  return `${f.cf ? 'C' : '-'}${f.zf ? 'Z' : '-'}${f.sf ? 'S' : '-'}${f.of ? 'O' : '-'}`;
}

describe.each([true, false])('fast paths %s', (fast) => {
  beforeAll(() => {
    fastPaths = fast;
  });

  describe('mov and register widths', () => {
    test('32-bit writes zero-extend, 8/16-bit writes merge', () => {
      const m = run(`
        mov rax, 0x1122334455667788
        mov eax, 0xaabbccdd
        mov rbx, -1
        mov bx, 0x1234
        mov rcx, -1
        mov cl, 0x56
        mov ch, 0x78
        mov rdx, -1
        mov edx, edx
        mov r8, -1
        mov r8d, 5
        mov r9, -1
        mov r9w, 7
        mov r10, -1
        mov r10b, 1
        mov rsi, -1
        mov sil, 2
        mov rdi, 0x8877665544332211
        mov r15, rdi`);
      expect(regs(m, 'rax', 'rbx', 'rcx', 'rdx', 'r8', 'r9', 'r10', 'rsi', 'r15')).toEqual([
        '0xaabbccdd', '0xffffffffffff1234', '0xffffffffffff7856', '0xffffffff', '0x5', '0xffffffffffff0007',
        '0xffffffffffffff01', '0xffffffffffffff02', '0x8877665544332211',
      ]);
    });

    test('mov r64 with a negative imm32 sign-extends; ah/bh read bits 8..15', () => {
      const m = run(`
        mov rax, -2
        mov ebx, 0x1234
        mov cl, bh
        mov dl, bl
        mov r11, 0xffffffff`);
      expect(regs(m, 'rax', 'rcx', 'rdx', 'r11')).toEqual(['0xfffffffffffffffe', '0x12', '0x34', '0xffffffff']);
    });

    test('movzx, movsx, movsxd', () => {
      const m = run(`
        mov rbx, val
        movzx eax, byte [rbx]
        movsx rcx, byte [rbx]
        movsx edx, word [rbx + 2]
        movsxd rsi, dword [rbx + 4]
        mov r8, -1
        movzx r8d, word [rbx + 2]
        movzx r9, bl
        jmp done
      val: db 0x80, 0, 0x00, 0x80, 0, 0, 0, 0x80
      done:`);
      expect(regs(m, 'rax', 'rcx', 'rdx', 'rsi', 'r8')).toEqual([
        '0x80', '0xffffffffffffff80', '0xffff8000', '0xffffffff80000000', '0x8000',
      ]);
      expect(m.cpu.get('r9')).toBe(BigInt(m.program.symbols.get('val')! & 0xff));
    });

    test('lea computes addresses without touching memory or flags', () => {
      const m = run(`
        mov rbx, 0x1000
        mov rcx, 3
        cmp rbx, rbx
        lea rax, [rbx + rcx*4 + 8]
        lea rdx, [rcx*8 - 1]
        mov rsi, 0xffffffff
        lea edi, [rsi + 2]
        lea r8, [rbx + rbx*2]`);
      expect(regs(m, 'rax', 'rdx', 'rdi', 'r8')).toEqual(['0x1014', '0x17', '0x1', '0x3000']);
      expect(m.cpu.flags.zf).toBe(true);
    });

    test('xchg swaps registers and memory', () => {
      const m = run(`
        mov rax, 1
        mov rbx, 2
        xchg rax, rbx
        mov ecx, 0x11223344
        mov [0x9000], ecx
        mov edx, 7
        xchg [0x9000], edx`);
      expect(regs(m, 'rax', 'rbx', 'rdx')).toEqual(['0x2', '0x1', '0x11223344']);
      expect(Array.from(m.bus.mem.subarray(0x9000, 0x9004))).toEqual([7, 0, 0, 0]);
    });
  });

  describe('arithmetic flags', () => {
    const cases: [string, string, string, string][] = [
      // [program, register, value, flags CZSO]
      ['mov al, 0x7f\n add al, 1', 'rax', '0x80', '--SO'],
      ['mov al, 0xff\n add al, 1', 'rax', '0x0', 'CZ--'],
      ['mov eax, 0xffffffff\n add eax, 1', 'rax', '0x0', 'CZ--'],
      ['mov rax, 0x7fffffffffffffff\n add rax, 1', 'rax', '0x8000000000000000', '--SO'],
      ['mov rax, -1\n add rax, 1', 'rax', '0x0', 'CZ--'],
      ['mov rax, 0xffffffff\n add rax, 1', 'rax', '0x100000000', '----'],
      ['mov rax, 0x8000000000000000\n add rax, rax', 'rax', '0x0', 'CZ-O'],
      ['mov ax, 0x8000\n add ax, 0x8000', 'rax', '0x0', 'CZ-O'],
      ['mov al, 0\n sub al, 1', 'rax', '0xff', 'C-S-'],
      ['mov al, 0x80\n sub al, 1', 'rax', '0x7f', '---O'],
      ['mov rax, 0x8000000000000000\n sub rax, 1', 'rax', '0x7fffffffffffffff', '---O'],
      ['mov rax, 0x100000000\n sub rax, 1', 'rax', '0xffffffff', '----'],
      ['mov rax, 0\n sub rax, 1', 'rax', '0xffffffffffffffff', 'C-S-'],
      ['mov eax, 5\n sub eax, 5', 'rax', '0x0', '-Z--'],
      ['mov eax, 0x7fffffff\n sub eax, -1', 'rax', '0x80000000', 'C-SO'],
      ['mov rax, 5\n neg rax', 'rax', '0xfffffffffffffffb', 'C-S-'],
      ['mov rax, 0\n neg rax', 'rax', '0x0', '-Z--'],
      ['mov al, 0x80\n neg al', 'rax', '0x80', 'C-SO'],
      ['mov rax, 0xf0f0\n and rax, 0x0ff0', 'rax', '0xf0', '----'],
      ['mov rax, -1\n xor eax, eax', 'rax', '0x0', '-Z--'],
      ['mov al, 0x40\n or al, 0x80', 'rax', '0xc0', '--S-'],
      ['mov rax, 0x12345678\n not rax', 'rax', '0xffffffffedcba987', '----'],
      ['mov al, 0x7f\n inc al', 'rax', '0x80', '--SO'],
      ['mov rax, 1\n dec rax', 'rax', '0x0', '-Z--'],
      ['mov eax, 0xffffffff\n inc eax', 'rax', '0x0', '-Z--'],
    ];
    test.each(cases)('%s', (prog, reg, value, f) => {
      const m = run(prog);
      expect('0x' + m.cpu.get(reg as 'rax').toString(16)).toBe(value);
      expect(flags(m)).toBe(f);
    });

    test('inc and dec leave CF alone', () => {
      const m = run('mov al, 0xff\n add al, 1\n inc bl\n dec cl');
      expect(m.cpu.flags.cf).toBe(true);
    });

    test('adc/sbb chain a 128-bit add and subtract', () => {
      const m = run(`
        mov rax, 0xffffffffffffffff
        mov rdx, 1
        add rax, 1
        adc rdx, 0
        mov rbx, 0
        mov rcx, 5
        sub rbx, 1
        sbb rcx, 0`);
      expect(regs(m, 'rax', 'rdx', 'rbx', 'rcx')).toEqual(['0x0', '0x2', '0xffffffffffffffff', '0x4']);
    });

    test('cmp and test set flags without writing', () => {
      const m = run('mov eax, 3\n cmp eax, 5\n mov ebx, 0x80\n test bl, 0x80');
      expect(regs(m, 'rax', 'rbx')).toEqual(['0x3', '0x80']);
      expect(flags(m)).toBe('--S-');
    });

    test('imul: 2 and 3 operands, overflow in CF/OF', () => {
      const m = run(`
        mov rax, 3
        mov rbx, -4
        imul rax, rbx
        mov rcx, 0x123456789
        imul rdx, rcx, 10
        mov esi, 0x10000
        imul esi, esi`);
      expect(regs(m, 'rax', 'rdx', 'rsi')).toEqual(['0xfffffffffffffff4', '0xb60b60b5a', '0x0']);
      expect(m.cpu.flags.cf && m.cpu.flags.of).toBe(true);
      const n = run('mov rax, 0x100000000\n imul rax, rax');
      expect(n.cpu.get('rax')).toBe(0n);
      expect(n.cpu.flags.of).toBe(true);
    });
  });

  describe('shifts', () => {
    const cases: [string, string, string][] = [
      ['mov al, 0x81\n shl al, 1', '0x2', 'C--O'],
      ['mov al, 0x81\n shr al, 1', '0x40', 'C--O'],
      ['mov al, 0x81\n sar al, 1', '0xc0', 'C-S-'],
      ['mov eax, 0xf0000001\n shl eax, 4', '0x10', 'C---'],
      ['mov rax, 0x8000000000000001\n shl rax, 1', '0x2', 'C--O'],
      ['mov rax, 0x1234\n shl rax, 36', '0x1234000000000', '----'],
      ['mov rax, 0xff00000000000000\n shr rax, 40', '0xff0000', '----'],
      ['mov rax, 0xff00000000000000\n sar rax, 40', '0xffffffffffff0000', '--S-'],
      ['mov rax, 0x8000000000000000\n sar rax, 63', '0xffffffffffffffff', '--S-'],
      ['mov rax, 0x180000000\n shr rax, 31', '0x3', '----'],
      ['mov rax, 0x140000000\n shr rax, 31', '0x2', 'C---'],
      ['mov rax, 3\n mov cl, 33\n shl rax, cl', '0x600000000', '----'],
      ['mov eax, 1\n mov cl, 32\n shl eax, cl', '0x1', '----'],
      ['mov ax, 0x8001\n shr ax, 1', '0x4000', 'C--O'],
    ];
    test.each(cases)('%s', (prog, value, f) => {
      const m = run(prog);
      expect('0x' + m.cpu.get('rax').toString(16)).toBe(value);
      expect(flags(m)).toBe(f);
    });

    test('a shift by 0 leaves the flags', () => {
      const m = run('mov rbx, 1\n cmp rbx, 1\n mov rax, 5\n shl rax, 0');
      expect(m.cpu.flags.zf).toBe(true);
    });

    test('shl on memory', () => {
      const m = run('mov dword [0x9000], 0x40000001\n shl dword [0x9000], 2');
      expect(Array.from(m.bus.mem.subarray(0x9000, 0x9004))).toEqual([4, 0, 0, 0]);
      expect(m.cpu.flags.cf).toBe(true);
    });
  });

  describe('conditions', () => {
    test('signed vs unsigned comparisons through setcc', () => {
      // eax = -1 (0xffffffff), ebx = 1: signed less, unsigned above.
      const m = run(`
        mov eax, -1
        mov ebx, 1
        cmp eax, ebx
        setl cl
        setb dl
        seta sil
        setg dil
        setne r8b
        sete r9b
        setle r10b
        setge r11b`);
      expect(regs(m, 'rcx', 'rdx', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11')).toEqual(['0x1', '0x0', '0x1', '0x0', '0x1', '0x0', '0x1', '0x0']);
    });

    test('every jcc against the flags of one comparison', () => {
      // cmp 2, 3: below, less, not equal, sign set, no overflow.
      const jumps = ['je', 'jz', 'jne', 'jnz', 'jb', 'jc', 'jnae', 'jae', 'jnb', 'jnc', 'jbe', 'jna', 'ja', 'jnbe',
        'jl', 'jnge', 'jge', 'jnl', 'jle', 'jng', 'jg', 'jnle', 'js', 'jns', 'jo', 'jno'];
      const taken = new Set(['jne', 'jnz', 'jb', 'jc', 'jnae', 'jbe', 'jna', 'jl', 'jnge', 'jle', 'jng', 'js', 'jno']);
      for (const j of jumps) {
        const m = run(`mov rax, 2\n cmp rax, 3\n mov rbx, 0\n ${j} .yes\n jmp .end\n.yes: mov rbx, 1\n.end:`);
        expect([j, m.cpu.get('rbx')]).toEqual([j, taken.has(j) ? 1n : 0n]);
      }
    });

    test('signed jumps use OF: -128 < 1 even though the subtraction overflows', () => {
      const m = run('mov al, 0x80\n cmp al, 1\n mov rbx, 0\n jge .no\n mov rbx, 1\n.no:');
      expect(m.cpu.flags.of).toBe(true);
      expect(m.cpu.get('rbx')).toBe(1n);
    });

    test('cmov moves only when the condition holds, and a 32-bit cmov always zero-extends', () => {
      const m = run(`
        mov rax, -1
        mov rbx, -1
        mov rcx, 7
        cmp rcx, 7
        cmove rax, rcx
        cmovne ebx, ecx`);
      expect(regs(m, 'rax', 'rbx')).toEqual(['0x7', '0xffffffff']);
    });
  });

  describe('memory operands', () => {
    test('base, index*scale and displacement', () => {
      const m = run(`
        mov rbx, table
        mov rcx, 2
        mov rax, [rbx + rcx*8]
        mov rdx, [table + rcx*8 + 8]
        mov rsi, [rbx + 8]
        mov rdi, [rcx*8 + table - 16]
        mov r8d, dword [rbx + rcx*4 + 8]
        mov r9w, [rbx+rcx*4+7]
        jmp done
      table: dq 10, 20, 30, 40
      done:`);
      expect(regs(m, 'rax', 'rdx', 'rsi', 'rdi', 'r8', 'r9')).toEqual(['0x1e', '0x28', '0x14', '0xa', '0x1e', '0x1e00']);
    });

    test('stores of every width, little-endian', () => {
      const m = run(`
        mov rax, 0x0807060504030201
        mov [0x9000], rax
        mov dword [0x9010], 0xdeadbeef
        mov word [0x9020], 0x1234
        mov byte [0x9030], -1
        mov qword [0x9040], -2
        mov rbx, 0x9050
        mov [rbx], al
        add qword [0x9000], 0x10`);
      const mem = m.bus.mem;
      expect(Array.from(mem.subarray(0x9000, 0x9008))).toEqual([0x11, 2, 3, 4, 5, 6, 7, 8]);
      expect(Array.from(mem.subarray(0x9010, 0x9014))).toEqual([0xef, 0xbe, 0xad, 0xde]);
      expect(Array.from(mem.subarray(0x9020, 0x9023))).toEqual([0x34, 0x12, 0]);
      expect(mem[0x9030]).toBe(0xff);
      expect(Array.from(mem.subarray(0x9040, 0x9048))).toEqual([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
      expect(mem[0x9050]).toBe(1);
    });

    test('an access that crosses a page boundary goes to both pages', () => {
      const m = run(`
        mov rax, 0x8877665544332211
        mov [0x2ffd], rax
        mov rbx, [0x2ffd]
        mov ecx, [0x2ffe]`);
      expect(Array.from(m.bus.mem.subarray(0x2ffd, 0x3005))).toEqual([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
      expect(regs(m, 'rbx', 'rcx')).toEqual(['0x8877665544332211', '0x55443322']);
    });

    test('addresses keep 52 bits (a TD shared bit at 47 or 51)', () => {
      const m = testMachine(`_start: mov rbx, 0x8000000000000 + 0x9000\n mov qword [rbx], 5\n lea rcx, [rbx+8]\n hlt`, { fastPaths });
      const seen: number[] = [];
      const page = m.bus.page.bind(m.bus);
      m.bus.page = (gpa, access) => {
        if (access === 'write') seen.push(gpa);
        return page(gpa % 2 ** 47, access);
      };
      runToHlt(m);
      expect(seen).toEqual([2 ** 51 + 0x9000]);
      expect(m.cpu.get('rcx')).toBe(0x8000000009008n);
      expect(m.bus.mem[0x9000]).toBe(5);
    });
  });

  describe('stack, calls and loops', () => {
    test('push, pop, call and ret', () => {
      const m = run(`
        mov rax, 0x1111
        push rax
        push 0x22
        push qword [val]
        pop rbx
        pop rcx
        pop rdx
        mov rdi, 5
        call square
        mov r8, rax
        jmp done
      square:
        mov rax, rdi
        imul rax, rdi
        ret
      val: dq 0x3333
      done:`);
      expect(regs(m, 'rbx', 'rcx', 'rdx', 'r8', 'rsp')).toEqual(['0x3333', '0x22', '0x1111', '0x19', '0x80000']);
    });

    test('call pushes the return address; ret imm pops extra bytes', () => {
      const m = testMachine(`
      _start:
        push 1
        push 2
        call f
      after:
        hlt
      f:
        mov rax, [rsp]
        ret 16`, { fastPaths });
      runToHlt(m);
      expect(m.cpu.get('rax')).toBe(BigInt(m.program.symbols.get('after')!));
      expect(m.cpu.get('rsp')).toBe(0x80000n);
    });

    test('indirect call and jmp through a register and memory', () => {
      const m = run(`
        mov rax, f
        call rax
        call [fptr]
        mov rbx, .skip
        jmp rbx
        mov rcx, 99
      .skip:
        jmp [jptr]
        mov rcx, 98
      f: inc rdx
        ret
      fptr: dq f
      jptr: dq done
      done:`);
      expect(regs(m, 'rdx', 'rcx')).toEqual(['0x2', '0x0']);
    });

    test('loop sums 1..10, a jcc loop counts down', () => {
      const m = run(`
        mov rcx, 10
        xor eax, eax
      .l: add rax, rcx
        loop .l
        mov rbx, 100
        xor edx, edx
      .d: add rdx, 2
        dec rbx
        jnz .d`);
      expect(regs(m, 'rax', 'rcx', 'rdx')).toEqual(['0x37', '0x0', '0xc8']);
    });
  });

  describe('string instructions', () => {
    test('rep stosb across a page boundary', () => {
      const m = run('mov rdi, 0x2ff0\n mov rcx, 0x30\n mov al, 0xab\n rep stosb');
      const mem = m.bus.mem;
      expect(mem[0x2fef]).toBe(0);
      expect(mem.subarray(0x2ff0, 0x3020).every((b) => b === 0xab)).toBe(true);
      expect(mem[0x3020]).toBe(0);
      expect(regs(m, 'rdi', 'rcx')).toEqual(['0x3020', '0x0']);
    });

    test('rep movsb across page boundaries of source and destination', () => {
      const m = testMachine('_start: mov rsi, 0x4fe0\n mov rdi, 0x5ff8\n mov rcx, 0x40\n rep movsb\n hlt', { fastPaths });
      for (let i = 0; i < 0x40; i++) m.bus.mem[0x4fe0 + i] = i + 1;
      runToHlt(m);
      expect(Array.from(m.bus.mem.subarray(0x5ff8, 0x6038))).toEqual(Array.from({ length: 0x40 }, (_, i) => i + 1));
      expect(m.bus.mem[0x6038]).toBe(0);
      expect(regs(m, 'rsi', 'rdi', 'rcx')).toEqual(['0x5020', '0x6038', '0x0']);
    });

    test('overlapping rep movsb copies forwards byte by byte', () => {
      const m = testMachine('_start: mov rsi, 0x9000\n mov rdi, 0x9001\n mov rcx, 7\n rep movsb\n hlt', { fastPaths });
      m.bus.mem[0x9000] = 0x5a;
      runToHlt(m);
      expect(Array.from(m.bus.mem.subarray(0x9000, 0x9009))).toEqual([0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0]);
    });

    test('stosq, movsq, and the single forms', () => {
      const m = run(`
        mov rax, 0x0102030405060708
        mov rdi, 0x9000
        mov rcx, 3
        rep stosq
        mov rsi, 0x9000
        mov rdi, 0x9100
        movsq
        movsb
        mov al, 0x77
        stosb
        mov rcx, 0
        rep stosb`);
      expect(m.bus.mem.subarray(0x9000, 0x9018).join()).toBe([8, 7, 6, 5, 4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1].join());
      expect(Array.from(m.bus.mem.subarray(0x9100, 0x910b))).toEqual([8, 7, 6, 5, 4, 3, 2, 1, 8, 0x77, 0]);
      expect(regs(m, 'rsi', 'rdi')).toEqual(['0x9009', '0x910a']);
    });
  });

  describe('ports, MSRs, CPUID, TDCALL, VMCALL', () => {
    test('in and out with an immediate port and dx', () => {
      const m = testMachine(`
      _start:
        mov rax, -1
        in al, 0x60
        mov rbx, rax
        mov dx, 0x3f8
        mov al, 'A'
        out dx, al
        mov eax, 0x12345678
        out 0x80, eax
        mov rcx, -1
        in eax, dx
        mov dx, 0xcfc
        in ax, dx
        hlt`, { fastPaths });
      m.bus.portValues.set(0x60, 0x1c).set(0x3f8, 0xaabbccdd).set(0xcfc, 0xbeef);
      runToHlt(m);
      expect(m.bus.ports).toEqual([
        { port: 0x60, size: 1, dirIn: true, value: 0x1c },
        { port: 0x3f8, size: 1, dirIn: false, value: 0x41 },
        { port: 0x80, size: 4, dirIn: false, value: 0x12345678 },
        { port: 0x3f8, size: 4, dirIn: true, value: 0xaabbccdd },
        { port: 0xcfc, size: 2, dirIn: true, value: 0xbeef },
      ]);
      expect(regs(m, 'rbx', 'rax')).toEqual(['0xffffffffffffff1c', '0xaabbbeef']);
    });

    test('rdmsr, wrmsr and cpuid split values over edx:eax and zero-extend', () => {
      const m = run(`
        mov rcx, 0x10
        mov rax, -1
        mov rdx, -1
        rdmsr
        mov r8, rax
        mov r9, rdx
        mov ecx, 0x1b
        mov eax, 0x900
        mov edx, 0xfee
        wrmsr
        mov rax, 0
        mov rcx, 0
        cpuid
        mov r10, rbx`);
      expect(regs(m, 'r8', 'r9', 'r10', 'rcx', 'rdx')).toEqual(['0x55667788', '0x11223344', '0x756e6547', '0x6c65746e', '0x49656e69']);
      expect(m.bus.wrmsrs).toEqual([[0x1b, 0xfee00000900n]]);
    });

    test('tdcall and vmcall hand the registers to the bus', () => {
      const m = run('mov rax, 3\n tdcall\n mov r12, r11\n mov r13, rax\n mov rax, 9\n mov rbx, 40\n mov rcx, 2\n vmcall');
      expect(m.bus.tdcalls).toEqual([3n]);
      expect(m.bus.vmcalls).toEqual([9n]);
      expect(regs(m, 'r12', 'r13', 'rax')).toEqual(['0x103', '0x0', '0x2a']);
    });

    test('hlt retires with rip past it, then exits', () => {
      const m = testMachine('_start: nop\n hlt\n nop', { fastPaths });
      expect(() => m.cpu.run(10)).toThrow(expect.objectContaining({ why: 'hlt' }));
      expect(m.cpu.rip).toBe(0x1002);
      expect(m.cpu.instructionsRetired).toBe(2);
      expect(m.bus.hlts).toBe(1);
    });

    test('run() stops at the budget and returns the count', () => {
      const m = testMachine('_start: inc rax\n jmp _start', { fastPaths });
      expect(m.cpu.run(1001)).toBe(1001);
      expect(m.cpu.get('rax')).toBe(501n);
      m.cpu.step();
      expect(m.cpu.instructionsRetired).toBe(1002);
    });
  });
});

describe('MMIO (page() throws MmioAccess)', () => {
  test('reads through bus.mmio with the access size and stores the value, and writes pass the value', () => {
    const m = testMachine('mov eax, [0xf0000]\nmov dword [0xf0004], 0x12345678\nhlt');
    m.bus.arm(0xf0000, 'read', () => new MmioAccess(0xf0000), false);
    m.bus.arm(0xf0000, 'write', () => new MmioAccess(0xf0004), false);
    m.bus.mmioValue = 0xcafe;
    try { m.cpu.run(10); } catch { /* hlt exit */ }
    expect(m.cpu.get('rax')).toBe(0xcafen);
    expect(m.bus.mmios).toEqual([
      { gpa: 0xf0000, size: 4, isWrite: false, value: 0 },
      { gpa: 0xf0004, size: 4, isWrite: true, value: 0x12345678 },
    ]);
  });
});
