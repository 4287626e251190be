import { describe, expect, test } from 'vitest';
import { type CpuBus, type CpuRegs, type DecodedForKernel, type GuestKernel, GuestException, VcpuExit } from './bus';
import { GuestFault } from './cpu';
import { runToHlt, testMachine } from './test-bus';

const exit = (why: string) => () => new VcpuExit(why);

/** A fake guest kernel: a #VE handler that emulates port I/O, CPUID and MMIO, plus named services. */
class FakeKernel implements GuestKernel {
  readonly services = new Set(['set_memory_decrypted', 'accept_memory']);
  readonly seen: { vector: string; decoded: DecodedForKernel; rip: number }[] = [];
  readonly calls: { name: string; rdi: bigint; rsi: bigint }[] = [];
  mmio = new Map<number, bigint>();
  /** Throw a VcpuExit from the next handler/service call (once). */
  exitNext = false;
  handle = true;

  callService(name: string, regs: CpuRegs, _bus: CpuBus): void {
    this.calls.push({ name, rdi: regs.get('rdi'), rsi: regs.get('rsi') });
    if (this.exitNext) {
      this.exitNext = false;
      throw new VcpuExit(`${name} needs the host`);
    }
    regs.set('rax', 0n);
  }

  handleException(exc: GuestException, regs: CpuRegs, _bus: CpuBus, insn: DecodedForKernel): boolean {
    this.seen.push({ vector: exc.vector, decoded: insn, rip: regs.rip });
    if (!this.handle || exc.vector !== 'VE') return false;
    // The handler clobbers a scratch register (as a TDG.VP.VMCALL would use r10..r15).
    regs.set('r10', 0xdeadn);
    if (this.exitNext) {
      this.exitNext = false;
      throw new VcpuExit('tdvmcall needs user space');
    }
    const ve = exc.ve!;
    if (insn.mnemonic === 'in') insn.writeResult!(0x42n);
    else if (insn.mnemonic === 'cpuid') {
      regs.set('rax', 0x11n);
      regs.set('rbx', 0x22n);
    } else if (insn.writeResult) insn.writeResult(this.mmio.get(ve.gpa!) ?? 0n);
    else if (insn.value !== undefined) this.mmio.set(ve.gpa!, insn.value);
    regs.rip += insn.length;
    return true;
  }
}

const ve = (gpa: number) => () => new GuestException('VE', 'EPT violation on shared memory', { exitReason: 48, exitQualification: 0, gpa });

describe('a VcpuExit leaves the instruction without effect', () => {
  test('read-modify-write: the write look-up exits, nothing changes, re-execution completes', () => {
    const m = testMachine('_start: mov rax, 5\n mov rbx, 0x9000\n add [rbx], rax\n hlt');
    m.bus.mem[0x9000] = 0xff;
    m.bus.arm(0x9000, 'write', exit('dirty logging'));
    expect(() => m.cpu.run(100)).toThrow(VcpuExit);
    const add = m.program.symbols.get('_start')! + 7 + 7;
    expect(m.cpu.rip).toBe(add);
    expect(m.cpu.instructionsRetired).toBe(2);
    expect(m.bus.mem[0x9000]).toBe(0xff);
    expect(m.cpu.flags).toEqual({ cf: false, zf: false, sf: false, of: false });
    runToHlt(m);
    expect(Array.from(m.bus.mem.subarray(0x9000, 0x9002))).toEqual([0x04, 0x01]);
    expect(m.cpu.instructionsRetired).toBe(4);
  });

  test('a write crossing into a page that exits does not touch the first page', () => {
    const m = testMachine('_start: mov rax, -1\n mov [0x2ffc], rax\n hlt');
    m.bus.arm(0x3000, 'write', exit('fault-in'));
    expect(() => m.cpu.run(100)).toThrow(VcpuExit);
    expect(Array.from(m.bus.mem.subarray(0x2ffc, 0x3004))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    runToHlt(m);
    expect(Array.from(m.bus.mem.subarray(0x2ffc, 0x3004))).toEqual([255, 255, 255, 255, 255, 255, 255, 255]);
  });

  test('push and call leave rsp alone when the stack page exits', () => {
    const m = testMachine('_start: push rax\n call f\n hlt\n f: ret');
    m.bus.arm(0x7fff8, 'write', exit('stack'));
    expect(() => m.cpu.run(10)).toThrow(VcpuExit);
    expect([m.cpu.rip, m.cpu.get('rsp')]).toEqual([0x1000, 0x80000n]);
    m.cpu.step();
    m.bus.arm(0x7fff0, 'write', exit('stack'));
    m.bus.zap(); // the stack page is cached in the TLB: a new fault needs a translation change
    expect(() => m.cpu.run(10)).toThrow(VcpuExit);
    expect([m.cpu.rip, m.cpu.get('rsp')]).toEqual([0x1001, 0x7fff8n]);
    runToHlt(m);
    expect(m.cpu.get('rsp')).toBe(0x7fff8n);
  });

  test('pop and ret: the read exits, rsp and rip stay', () => {
    const m = testMachine('_start: push 7\n pop rbx\n hlt');
    m.bus.arm(0x7fff8, 'read', exit('read'));
    expect(() => m.cpu.run(10)).toThrow(VcpuExit);
    expect([m.cpu.rip, m.cpu.get('rsp'), m.cpu.get('rbx')]).toEqual([0x1002, 0x7fff8n, 0n]);
    runToHlt(m);
    expect(m.cpu.get('rbx')).toBe(7n);
  });

  test('an instruction fetch from an exiting page does not move rip', () => {
    const m = testMachine('_start: jmp far_code\n times 0x1000 db 0\nfar_code: mov rax, 1\n hlt');
    const far = m.program.symbols.get('far_code')!;
    m.bus.arm(far, 'fetch', exit('fetch'));
    expect(() => m.cpu.run(10)).toThrow(VcpuExit);
    expect(m.cpu.rip).toBe(far);
    runToHlt(m);
    expect(m.cpu.get('rax')).toBe(1n);
  });

  test('rep stosb stops between pages with rcx/rdi consistent, then continues', () => {
    const m = testMachine('_start: mov rdi, 0x2f00\n mov rcx, 0x200\n mov al, 0x5a\n rep stosb\n hlt');
    m.bus.arm(0x3000, 'write', exit('fault-in'));
    expect(() => m.cpu.run(10)).toThrow(VcpuExit);
    expect(m.cpu.currentInsn()?.text).toBe('rep stosb');
    expect([m.cpu.get('rdi'), m.cpu.get('rcx')]).toEqual([0x3000n, 0x100n]);
    expect(m.bus.mem[0x2fff]).toBe(0x5a);
    expect(m.bus.mem[0x3000]).toBe(0);
    runToHlt(m);
    expect([m.cpu.get('rdi'), m.cpu.get('rcx')]).toEqual([0x3100n, 0n]);
    expect(m.bus.mem.subarray(0x2f00, 0x3100).every((b) => b === 0x5a)).toBe(true);
  });

  test('rep movsb stops when the source page exits, then continues', () => {
    const m = testMachine('_start: mov rsi, 0x4800\n mov rdi, 0x9000\n mov rcx, 0x1000\n rep movsb\n hlt');
    for (let i = 0; i < 0x1000; i++) m.bus.mem[0x4800 + i] = i & 0xff;
    m.bus.arm(0x5000, 'read', exit('source'));
    expect(() => m.cpu.run(10)).toThrow(VcpuExit);
    expect([m.cpu.get('rsi'), m.cpu.get('rdi'), m.cpu.get('rcx')]).toEqual([0x5000n, 0x9800n, 0x800n]);
    runToHlt(m);
    expect(Array.from(m.bus.mem.subarray(0x9000, 0xa000))).toEqual(Array.from({ length: 0x1000 }, (_, i) => i & 0xff));
  });

  test('a tdcall that exits after touching registers is undone', () => {
    const m = testMachine('_start: mov rax, 3\n mov r11, 9\n tdcall\n hlt');
    let first = true;
    m.bus.onTdcall = (regs) => {
      regs.set('r11', 0x77n);
      if (first) {
        first = false;
        throw new VcpuExit('tdvmcall');
      }
      regs.set('rax', 0n);
    };
    expect(() => m.cpu.run(10)).toThrow(VcpuExit);
    expect([m.cpu.get('rax'), m.cpu.get('r11'), m.cpu.rip]).toEqual([3n, 9n, 0x1000 + 14]);
    runToHlt(m);
    expect([m.cpu.get('rax'), m.cpu.get('r11')]).toEqual([0n, 0x77n]);
  });

  test('IN exits to user space and re-executes, reading the completed value', () => {
    const m = testMachine('_start: in al, 0x71\n hlt');
    let completed = false;
    m.bus.io = (_port, _size, dirIn) => {
      if (dirIn && !completed) {
        completed = true;
        throw new VcpuExit('KVM_EXIT_IO');
      }
      return 0x99;
    };
    expect(() => m.cpu.run(10)).toThrow(VcpuExit);
    expect(m.cpu.rip).toBe(0x1000);
    runToHlt(m);
    expect(m.cpu.get('rax')).toBe(0x99n);
  });

  test('the TLB caches pages per access kind until tlbGeneration changes', () => {
    const m = testMachine('_start: mov rcx, 1000\n.l: mov [0x9000 + rcx], cl\n mov al, [0x9000]\n loop .l\n hlt');
    runToHlt(m);
    expect(m.bus.pageCalls.write).toBe(1);
    expect(m.bus.pageCalls.read).toBe(1);
    expect(m.bus.pageCalls.fetch).toBe(1);
    const w = m.bus.pageCalls.write;
    m.bus.zap();
    m.cpu.rip = m.program.symbols.get('_start')!;
    runToHlt(m);
    expect(m.bus.pageCalls.write).toBe(w + 1);
  });
});

describe('exceptions and the guest kernel', () => {
  test('#VE on port I/O: the kernel emulates IN through writeResult', () => {
    const k = new FakeKernel();
    const m = testMachine('_start: mov rax, -1\n in al, dx\n mov rbx, rax\n hlt', { kernel: k });
    m.bus.io = () => {
      throw new GuestException('VE', 'port I/O', { exitReason: 30, exitQualification: 0, port: 0x70, size: 1, dirIn: true });
    };
    runToHlt(m);
    expect(m.cpu.get('rbx')).toBe(0xffffffffffffff42n);
    expect(k.seen.map((s) => [s.vector, s.decoded.mnemonic, s.decoded.length, s.decoded.size, s.rip])).toEqual([['VE', 'in', 1, 1, 0x1007]]);
    expect(m.cpu.instructionsRetired).toBe(4);
  });

  test('#VE on MMIO: reads go through writeResult with the right width, writes carry their value', () => {
    const k = new FakeKernel();
    k.mmio.set(0x7004, 0x8899aabbccn);
    const m = testMachine(`
    _start:
      mov rbx, 0x7000
      mov rax, -1
      mov eax, [rbx + 4]
      mov rcx, -1
      mov cx, [rbx + 4]
      movzx edx, byte [rbx + 4]
      movsx rsi, byte [rbx + 4]
      mov dword [rbx + 8], 0x12345678
      mov r8, 0x1122334455667788
      mov [rbx + 16], r8
      hlt`, { kernel: k });
    m.bus.arm(0x7000, 'read', ve(0x7004), false);
    m.bus.arm(0x7000, 'write', () => new GuestException('VE', 'mmio write', { exitReason: 48, exitQualification: 0, gpa: 0x7008 }), true);
    m.bus.arm(0x7000, 'write', () => new GuestException('VE', 'mmio write', { exitReason: 48, exitQualification: 0, gpa: 0x7010 }), true);
    runToHlt(m);
    expect(['rax', 'rcx', 'rdx', 'rsi'].map((r) => '0x' + m.cpu.get(r as 'rax').toString(16))).toEqual([
      '0x99aabbcc', '0xffffffffffffbbcc', '0xcc', '0xffffffffffffffcc',
    ]);
    expect(k.mmio.get(0x7008)).toBe(0x12345678n);
    expect(k.mmio.get(0x7010)).toBe(0x1122334455667788n);
    expect(k.seen.map((s) => `${s.decoded.mnemonic}/${s.decoded.size}`)).toEqual(['mov/4', 'mov/2', 'movzx/1', 'movsx/1', 'mov/4', 'mov/8']);
  });

  test('#VE on CPUID and HLT: the handler sees rip at the instruction', () => {
    const k = new FakeKernel();
    const m = testMachine('_start: cpuid\n hlt\n mov rcx, 5\n hlt', { kernel: k });
    m.bus.cpuid = () => {
      throw new GuestException('VE', 'cpuid', { exitReason: 10, exitQualification: 0, leaf: 0, subleaf: 0 });
    };
    let hlts = 0;
    m.bus.hlt = () => {
      if (hlts++ === 0) throw new GuestException('VE', 'hlt', { exitReason: 12, exitQualification: 0 });
      throw new VcpuExit('hlt');
    };
    runToHlt(m);
    expect([m.cpu.get('rax'), m.cpu.get('rbx'), m.cpu.get('rcx')]).toEqual([0x11n, 0x22n, 5n]);
    expect(k.seen.map((s) => [s.decoded.mnemonic, s.rip])).toEqual([['cpuid', 0x1000], ['hlt', 0x1002]]);
  });

  test('a VcpuExit from the handler propagates and the instruction runs again later', () => {
    const k = new FakeKernel();
    k.exitNext = true;
    const m = testMachine('_start: mov r10, 1\n in al, 0x70\n hlt', { kernel: k });
    m.bus.io = () => {
      throw new GuestException('VE', 'port I/O');
    };
    expect(() => m.cpu.run(10)).toThrow(expect.objectContaining({ why: 'tdvmcall needs user space' }));
    expect([m.cpu.rip, m.cpu.get('r10')]).toEqual([0x1007, 1n]);
    runToHlt(m);
    expect(m.cpu.get('rax')).toBe(0x42n);
    expect(k.seen.length).toBe(2);
  });

  test('an unhandled exception is a GuestFault naming the vector and the instruction', () => {
    const k = new FakeKernel();
    k.handle = false;
    const m = testMachine('_start: nop\n mov rcx, 0x999\n rdmsr\n hlt', { kernel: k });
    expect(() => m.cpu.run(10)).toThrow(GuestFault);
    expect(() => m.cpu.run(10)).toThrow('unhandled #GP at 0x1008 (rdmsr): rdmsr of unknown MSR 0x999');
    const n = testMachine('_start: ud2');
    expect(() => n.cpu.run(10)).toThrow('#UD at 0x1000 (ud2): ud2 at 0x1000; there is no guest kernel to handle it');
  });

  test('a #PF on instruction fetch without a kernel is fatal', () => {
    const m = testMachine('_start: mov rax, 0x200000\n jmp rax');
    expect(() => m.cpu.run(10)).toThrow('#PF at 0x200000 (instruction fetch): no memory at 0x200000');
  });

  test('jumping into data is a GuestFault naming the address', () => {
    const m = testMachine('_start: jmp data\n data: db 1, 2, 3');
    expect(() => m.cpu.run(10)).toThrow(GuestFault);
    expect(() => m.cpu.run(10)).toThrow('no instruction at 0x1005: the guest jumped into data or unassembled memory');
  });
});

describe('kernel services', () => {
  test('call NAME runs the service with System V arguments and continues after the call', () => {
    const k = new FakeKernel();
    const m = testMachine(`
    _start:
      mov rdi, 0x5000
      mov rsi, 2
      mov rax, -1
      call set_memory_decrypted
      mov rbx, rax
      hlt`, { kernel: k, services: k.services });
    runToHlt(m);
    expect(k.calls).toEqual([{ name: 'set_memory_decrypted', rdi: 0x5000n, rsi: 2n }]);
    expect(m.cpu.get('rbx')).toBe(0n);
  });

  test('a service that exits is called again on re-entry', () => {
    const k = new FakeKernel();
    k.exitNext = true;
    const m = testMachine('_start: mov rdi, 0x8000\n call accept_memory\n hlt', { kernel: k, services: k.services });
    expect(() => m.cpu.run(10)).toThrow(expect.objectContaining({ why: 'accept_memory needs the host' }));
    expect(m.cpu.rip).toBe(0x1007);
    runToHlt(m);
    expect(k.calls.map((c) => c.name)).toEqual(['accept_memory', 'accept_memory']);
    expect(m.cpu.rip).toBe(0x100d);
  });

  test('a label with the same name wins over a service', () => {
    const k = new FakeKernel();
    const m = testMachine('_start: call accept_memory\n hlt\naccept_memory: mov rbx, 1\n ret', { kernel: k, services: k.services });
    runToHlt(m);
    expect(k.calls).toEqual([]);
    expect(m.cpu.get('rbx')).toBe(1n);
  });

  test('a service call without a kernel is a GuestFault', () => {
    const m = testMachine('_start: call accept_memory', { services: new Set(['accept_memory']) });
    expect(() => m.cpu.run(10)).toThrow('call accept_memory at 0x1000: there is no guest kernel to provide this service');
  });
});
