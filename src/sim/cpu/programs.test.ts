import { describe, expect, test } from 'vitest';
import { runToHlt, testMachine } from './test-bus';
import { describeInsn, disassembleAt } from './cpu';

describe('whole programs', () => {
  test('Fletcher-16 checksum over a 1000-byte buffer', () => {
    const m = testMachine(`
    BUF equ 0x20000
    LEN equ 1000
    _start:
      mov rsi, BUF
      mov rcx, LEN
      xor eax, eax          ; sum1
      xor ebx, ebx          ; sum2
    .next:
      movzx edx, byte [rsi]
      add eax, edx
      cmp eax, 255
      jb .s1
      sub eax, 255
    .s1:
      add ebx, eax
      cmp ebx, 255
      jb .s2
      sub ebx, 255
    .s2:
      inc rsi
      dec rcx
      jnz .next
      shl ebx, 8
      or eax, ebx
      mov [result], ax
      hlt
    result: dw 0`);
    const data = Array.from({ length: 1000 }, (_, i) => (i * 37 + 11) & 0xff);
    m.bus.mem.set(data, 0x20000);
    runToHlt(m);
    let s1 = 0;
    let s2 = 0;
    for (const b of data) {
      s1 = (s1 + b) % 255;
      s2 = (s2 + s1) % 255;
    }
    expect(Number(m.cpu.get('rax'))).toBe((s2 << 8) | s1);
    const r = m.program.symbols.get('result')!;
    expect(m.bus.mem[r] | (m.bus.mem[r + 1] << 8)).toBe((s2 << 8) | s1);
  });

  test('strlen and strcpy with rep movsb', () => {
    const m = testMachine(`
    _start:
      mov rdi, msg
      call strlen
      mov rcx, rax
      inc rcx               ; copy the terminator too
      mov rsi, msg
      mov rdi, 0x30000
      rep movsb
      hlt
    strlen:                 ; rdi = string, returns length in rax
      xor eax, eax
    .l:
      cmp byte [rdi + rax], 0
      je .done
      inc rax
      jmp .l
    .done:
      ret
    msg: db "Hello, TDX guest!", 0`);
    runToHlt(m);
    expect(m.cpu.get('rax')).toBe(17n);
    const copied = new TextDecoder().decode(m.bus.mem.subarray(0x30000, 0x30011));
    expect(copied).toBe('Hello, TDX guest!');
    expect(m.bus.mem[0x30011]).toBe(0);
  });

  test('fibonacci(90) and 20! in 64-bit registers', () => {
    const m = testMachine(`
    _start:
      xor eax, eax
      mov ebx, 1
      mov ecx, 90
    .fib:
      mov rdx, rax
      add rdx, rbx
      mov rax, rbx
      mov rbx, rdx
      loop .fib
      mov r8, rax           ; fib(90)
      mov eax, 1
      mov ecx, 1
    .fact:
      imul rax, rcx
      inc ecx
      cmp ecx, 20
      jbe .fact
      hlt`);
    runToHlt(m);
    expect(m.cpu.get('r8')).toBe(2880067194370816120n);
    expect(m.cpu.get('rax')).toBe(2432902008176640000n);
  });

  test('recursive sum with a stack frame, and an insertion sort of a table', () => {
    const m = testMachine(`
    _start:
      mov rdi, 100
      call sum
      mov r15, rax
      ; insertion sort of 8 qwords at table
      mov rcx, 1
    .outer:
      cmp rcx, 8
      jae .sorted
      mov rax, [table + rcx*8]
      mov rdx, rcx
    .inner:
      test rdx, rdx
      jz .place
      mov rbx, [table + rdx*8 - 8]
      cmp rbx, rax
      jle .place
      mov [table + rdx*8], rbx
      dec rdx
      jmp .inner
    .place:
      mov [table + rdx*8], rax
      inc rcx
      jmp .outer
    .sorted:
      hlt
    sum:                    ; sum(n) = n + sum(n - 1)
      push rbp
      mov rbp, rsp
      push rdi
      xor eax, eax
      test rdi, rdi
      jz .ret
      dec rdi
      call sum
      add rax, [rbp - 8]
    .ret:
      pop rdi
      pop rbp
      ret
    table: dq 5, -3, 99, 0, 42, -100, 7, 7`);
    runToHlt(m);
    expect(m.cpu.get('r15')).toBe(5050n);
    const t = m.program.symbols.get('table')!;
    const view = new BigInt64Array(m.bus.mem.slice(t, t + 64).buffer);
    expect(Array.from(view)).toEqual([-100n, -3n, 0n, 5n, 7n, 7n, 42n, 99n]);
    expect(m.cpu.get('rsp')).toBe(0x80000n);
  });

  test('disassembleAt and describeInsn give the source text for traces', () => {
    const m = testMachine('_start:\n  mov rax, [rbx + 8]   ; load\n  hlt');
    expect(disassembleAt(m.program, 0x1000)).toBe('mov rax, [rbx + 8]');
    expect(describeInsn(m.program, 0x1004)).toBe('0x1004: hlt  ; line 3');
    expect(disassembleAt(m.program, 0x1001)).toBeUndefined();
  });
});
