import { Clock } from '../src/sim/core/clock';
import { Trace } from '../src/sim/core/trace';
import { assemble } from '../src/sim/guest/asm';
import { Host } from '../src/sim/host/host';
import { Kvm } from '../src/sim/kvm/kvm';
import { VmmVm } from '../src/sim/vmm/vmm';

const SERVICES = new Set(['set_memory_decrypted', 'set_memory_encrypted', 'accept_memory', 'tdx_get_info']);
const program = assemble(`_start:\n call accept_memory\n hlt\n`, { origin: 0x100000, services: SERVICES });
const clock = new Clock();
const trace = new Trace(() => clock.now);
const host = new Host({ name: 'h', memoryBytes: 16 * 2 ** 30 }, clock, trace);
const kvm = new Kvm(host);
const v = new VmmVm(host, kvm, { name: 'td', kind: 'tdx', memoryBytes: 2 ** 31, program, discardOnConvert: true,
  tdx: { septVeDisable: true, debug: false, gpaw: 48, firmwareAcceptBytes: 2 * 2 ** 20 } });
const PAGES = 8192;
let start = 16 * 2 ** 20;
for (let rep = 0; rep < 8; rep++) {
  const cpu = v.cpus[0];
  cpu.rip = program.entry;
  cpu.set('rdi', BigInt(start)); cpu.set('rsi', BigInt(PAGES * 4096));
  const quiet = rep % 2 === 1;
  const ev0 = trace.count;
  const t0 = performance.now();
  const o = quiet ? trace.quietly(() => v.run(0, 'halt', 1e6)) : v.run(0, 'halt', 1e6);
  const dt = performance.now() - t0;
  console.log(quiet ? 'muted' : 'traced', o.stop, o.message, cpu.get('rax'), (PAGES / dt * 1000).toFixed(0), 'pages/s', trace.count - ev0, 'events', v.vm.td!.mappedPages);
  start += PAGES * 4096;
}
// baseline
for (let rep = 0; rep < 4; rep++) {
  const t0 = performance.now();
  let s = 0;
  for (let i = 0; i < PAGES; i++) { const a = new Uint8Array(4096); a[i & 4095] = 1; s += a[0]; }
  const dt = performance.now() - t0;
  console.log('alloc', (PAGES / dt * 1000).toFixed(0), s);
}
