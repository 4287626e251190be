import { Clock } from '../src/sim/core/clock';
import { Trace } from '../src/sim/core/trace';
import { assemble } from '../src/sim/guest/asm';
import { Host } from '../src/sim/host/host';
import { Kvm } from '../src/sim/kvm/kvm';
import { VmmVm } from '../src/sim/vmm/vmm';
const gc = (globalThis as { gc?: () => void }).gc!;
const mem = () => { gc(); gc(); const m = process.memoryUsage(); return { heap: m.heapUsed, ab: m.arrayBuffers, ext: m.external }; };
const SERVICES = new Set(['accept_memory']);
const program = assemble(`_start:\n hlt\n`, { origin: 0x100000, services: SERVICES });
for (const [g, h, acc] of [[4, 16, 2], [64, 128, 2], [4, 16, 512]]) {
  const m0 = mem();
  const clock = new Clock();
  const trace = new Trace(() => clock.now);
  const host = new Host({ name: 'h', memoryBytes: h * 2 ** 30 }, clock, trace);
  const kvm = new Kvm(host);
  const m1 = mem();
  const t0 = performance.now();
  const v = new VmmVm(host, kvm, { name: 'td', kind: 'tdx', memoryBytes: g * 2 ** 30, program, discardOnConvert: true,
    tdx: { septVeDisable: true, debug: false, gpaw: 48, firmwareAcceptBytes: acc * 2 ** 20 } });
  const dt = performance.now() - t0;
  const m2 = mem();
  const pages = g * 2 ** 18;
  console.log(g, 'GiB', acc, 'MiB accepted', dt.toFixed(0), 'ms; host: heap', m1.heap - m0.heap, 'ab', m1.ab - m0.ab, 'ext', m1.ext-m0.ext, ' per frame', ((m1.heap - m0.heap + m1.ab - m0.ab) / (h * 2 ** 18)).toFixed(3),
   '; td: heap', m2.heap - m1.heap, 'ab', m2.ab - m1.ab, 'per page', ((m2.heap - m1.heap + m2.ab - m1.ab) / pages).toFixed(4), 'events', trace.events.length, v.vm.td!.mappedPages, host.memory.metadataBytes);
}
