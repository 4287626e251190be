import { Clock } from '../src/sim/core/clock';
import { Trace } from '../src/sim/core/trace';
import { assemble } from '../src/sim/guest/asm';
import { Host } from '../src/sim/host/host';
import { Kvm } from '../src/sim/kvm/kvm';
import { VmmVm } from '../src/sim/vmm/vmm';
import { KVM_MEM_LOG_DIRTY_PAGES } from '../src/sim/kvm/uapi';

const SERVICES = new Set(['set_memory_decrypted', 'set_memory_encrypted', 'accept_memory', 'tdx_get_info']);
const N = 1 << 20;
const src = `
BUF equ 0x1000000
_start:
  mov rdi, BUF
  mov rax, 0x1122334455667788
  xor ecx, ecx
.loop:
  mov [rdi+rcx*8], rax
  inc rcx
  cmp rcx, ${N}
  jne .loop
  hlt
`;
const program = assemble(src, { origin: 0x100000, services: SERVICES });
for (const kind of ['dirty', 'default', 'tdx', 'dirty'] as const) {
  const clock = new Clock();
  const trace = new Trace(() => clock.now);
  const host = new Host({ name: 'h', memoryBytes: 16 * 2 ** 30 }, clock, trace);
  const kvm = new Kvm(host);
  const v = new VmmVm(host, kvm, { name: kind, kind: kind === 'dirty' ? 'default' : kind, memoryBytes: 64 * 2 ** 20, program, discardOnConvert: true,
    tdx: { septVeDisable: true, debug: false, gpaw: 48, firmwareAcceptBytes: 64 * 2 ** 20 } });
  if (kind === 'dirty') { const b = v.ram[0]; v.vm.setUserMemoryRegion2({ slot: b.slot, flags: KVM_MEM_LOG_DIRTY_PAGES, guest_phys_addr: b.gpa, memory_size: b.size, userspace_addr: b.hva }); }
  for (let pass = 0; pass < 6; pass++) {
    v.cpus[0].rip = program.entry;
    if (kind === 'dirty') v.vm.getDirtyLog(0);
    const ev0 = trace.count;
    const t0 = performance.now();
    const o = v.run(0, 'halt', 1e9);
    const dt = performance.now() - t0;
    console.log(kind, pass, o.stop, o.instructions, o.message, (N / dt * 1000 / 1e6).toFixed(2), 'M stores/s', trace.count - ev0, 'events');
  }
}
