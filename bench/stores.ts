/**
 * Section 1: guest memory stores per second through the interpreter.
 *
 * A guest program stores one qword per iteration over a buffer of several MiB
 * (`mov [rdi+rcx*8], rax; inc rcx; cmp rcx, N; jne .loop`: 4 instructions per store). It runs on
 *   - an ordinary VM (translation through the EPT and the CPU's software TLB),
 *   - the same kind of VM with dirty logging on its memslot (KVM_MEM_LOG_DIRTY_PAGES), with
 *     KVM_GET_DIRTY_LOG between passes so every buffer page is write-protected again and the next
 *     pass takes a write-protection fault and mark_page_dirty() per page,
 *   - a TD, whose buffer is private memory accepted by the firmware (TDVF) before the program runs.
 * The baseline is a plain JavaScript loop in this process doing the same address arithmetic
 * (address = base + i * 8) and an 8-byte little-endian store as two DataView.setUint32 calls into an
 * ArrayBuffer of the same size. A second JavaScript loop, storing the 8 bytes one by one into 4 KiB
 * Uint8Array pages (the simulator's own layout of host frames), is reported for context.
 *
 * Warm passes run after every page has been faulted in (the trace records events per fault, not per
 * store); the first pass on a fresh VM (cold) is reported separately.
 */
import { GiB, MiB, PAGE_SIZE } from '../src/sim/core/units';
import { KVM_MEM_LOG_DIRTY_PAGES } from '../src/sim/kvm/uapi';
import type { VmmVm } from '../src/sim/vmm/vmm';
import { assembleProgram, buildVm, cpuOf, makeWorld, restart, runToHalt, type World } from './world';
import { check, fmtInt, fmtRate, fmtX, max, median, min, settle, table, timed } from './util';

export interface StoresOptions {
  reps: number;
  coldReps: number;
  bufferBytes: number;
}

const BUF_GPA = 16 * MiB;
const PATTERN_LO = 0x55667788;
const PATTERN_HI = 0x11223344;
const INSNS_PER_STORE = 4;
/** Pages the first-touch program stores to (one qword each). */
const TOUCH_PAGES = 8192;
/** Stop the guest if it runs far past what one pass needs. */
const budgetFor = (stores: number): number => INSNS_PER_STORE * stores + 1000;

type SimKind = 'vm' | 'vm-dirty-log' | 'td';
const SIM_KINDS: readonly SimKind[] = ['vm', 'vm-dirty-log', 'td'];
type JsKind = 'js-dataview' | 'js-pages';
type Kind = JsKind | SimKind;

const DESCRIPTION: Record<Kind, string> = {
  'js-dataview': 'baseline: JS loop, 2x DataView.setUint32 at base+i*8 into one ArrayBuffer',
  'js-pages': 'context: JS loop, 8 byte stores into 4 KiB Uint8Array pages (the simulator\'s frame layout)',
  vm: 'guest on an ordinary VM (EPT + software TLB)',
  'vm-dirty-log': 'guest on an ordinary VM, dirty logging on, KVM_GET_DIRTY_LOG before each pass',
  td: 'guest on a TD, private memory accepted by TDVF',
};

function storeProgram(stores: number): ReturnType<typeof assembleProgram> {
  return assembleProgram(`
BUF equ ${BUF_GPA}
COUNT equ ${stores}
_start:
    mov rdi, BUF
    mov rax, 0x${PATTERN_HI.toString(16)}${PATTERN_LO.toString(16).padStart(8, '0')}
    xor ecx, ecx
.loop:
    mov [rdi+rcx*8], rax
    inc rcx
    cmp rcx, COUNT
    jne .loop
    hlt
`);
}

// ---- the JavaScript loops (kept monomorphic: one call site each, same argument types) -----------

function storeLoopDataView(dv: DataView, base: number, n: number, lo: number, hi: number): void {
  for (let i = 0; i < n; i++) {
    const a = base + i * 8;
    dv.setUint32(a, lo, true);
    dv.setUint32(a + 4, hi, true);
  }
}

function storeLoopPages(pages: Uint8Array[], base: number, n: number, lo: number, hi: number): void {
  for (let i = 0; i < n; i++) {
    const a = base + i * 8;
    const p = pages[a >>> 12];
    const o = a & 4095;
    p[o] = lo;
    p[o + 1] = lo >>> 8;
    p[o + 2] = lo >>> 16;
    p[o + 3] = lo >>> 24;
    p[o + 4] = hi;
    p[o + 5] = hi >>> 8;
    p[o + 6] = hi >>> 16;
    p[o + 7] = hi >>> 24;
  }
}

interface Machines {
  world: World;
  vms: Record<SimKind, VmmVm>;
}

function buildMachines(program: ReturnType<typeof assembleProgram>, memoryBytes: number, tag: string): Machines {
  const world = makeWorld(16 * GiB, `stores-${tag}`);
  const vm = buildVm(world, { name: `vm-${tag}`, kind: 'default', memoryBytes, program });
  const dirty = buildVm(world, { name: `dirty-${tag}`, kind: 'default', memoryBytes, program });
  check(dirty.ram.length === 1, `expected one RAM block for a ${memoryBytes / MiB} MiB VM, got ${dirty.ram.length}`);
  const b = dirty.ram[0];
  // The VMM starts migration: the same memslot again, with KVM_MEM_LOG_DIRTY_PAGES.
  dirty.vm.setUserMemoryRegion2({ slot: b.slot, flags: KVM_MEM_LOG_DIRTY_PAGES, guest_phys_addr: b.gpa, memory_size: b.size, userspace_addr: b.hva });
  // TDVF accepts all of this small TD's memory (a real TDVF accepts the first 512 MiB or so).
  const td = buildVm(world, { name: `td-${tag}`, kind: 'tdx', memoryBytes, program, firmwareAcceptBytes: memoryBytes });
  return { world, vms: { vm, 'vm-dirty-log': dirty, td } };
}

function popcount32(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

interface PassStats {
  ms: number;
  events: number;
  eptViolations: number;
  writeProtectFaults: number;
}

/** One pass of the guest program; checks that it stored every qword. */
function simPass(m: Machines, kind: SimKind, stores: number, muted = false): PassStats {
  const v = m.vms[kind];
  const stats = v.vm.mmu.stats;
  const ev0 = m.world.trace.count;
  const ept0 = stats.eptViolations;
  const wp0 = stats.writeProtectFaults;
  restart(v);
  settle();
  const [o, ms] = timed(() => (muted ? m.world.trace.quietly(() => runToHalt(v, budgetFor(stores))) : runToHalt(v, budgetFor(stores))));
  check(o.instructions >= INSNS_PER_STORE * stores, `${kind}: the guest retired ${o.instructions} instructions, expected at least ${INSNS_PER_STORE * stores}`);
  const rcx = cpuOf(v).get('rcx');
  check(rcx === BigInt(stores), `${kind}: the loop ended with rcx=${rcx}, expected ${stores}`);
  return { ms, events: m.world.trace.count - ev0, eptViolations: stats.eptViolations - ept0, writeProtectFaults: stats.writeProtectFaults - wp0 };
}

/** KVM_GET_DIRTY_LOG on the dirty-logging VM: returns [dirty pages, ms]. Re-protects the pages. */
function getDirtyLog(m: Machines): [number, number] {
  const v = m.vms['vm-dirty-log'];
  const [bm, ms] = timed(() => v.vm.getDirtyLog(v.ram[0].slot));
  let n = 0;
  for (const w of bm) n += popcount32(w);
  return [n, ms];
}

/** The ordinary VM's buffer, read back through the VMM's mapping: the last qword must be the pattern. */
function checkVmContents(m: Machines, stores: number): void {
  const v = m.vms.vm;
  const hva = v.gpaToHva(BUF_GPA + (stores - 1) * 8);
  check(hva !== undefined, 'the buffer is not in guest RAM');
  const b = v.process.read(hva, 8);
  const lo = (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  const hi = (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0;
  check(lo === PATTERN_LO && hi === PATTERN_HI, `the ordinary VM's buffer does not hold the pattern after a pass (read ${hi.toString(16)}:${lo.toString(16)})`);
}

export interface StoresResult {
  config: { bufferBytes: number; stores: number; bufferPages: number; instructionsPerStore: number; reps: number; coldReps: number; jsInnerPasses: number; vmMemoryBytes: number };
  baseline: string;
  warm: Record<Kind, { description: string; storesPerSec: number[]; median: number; slowdown: number[]; slowdownMedian: number; eventsPerPass?: number; eptViolationsPerPass?: number; writeProtectFaultsPerPass?: number }>;
  /** The store loop's first pass on fresh VMs (trace on). */
  cold: Record<SimKind, { storesPerSec: number[]; median: number; slowdownVsBaselineMedian: number; eventsPerPass: number; eptViolationsPerPass: number }>;
  /** One store per page over fresh memory: the cost of first touching a page, trace on and muted. */
  firstTouch: Record<SimKind, { traced: { pagesPerSec: number[]; median: number; usPerPage: number; eventsPerPage: number }; muted: { pagesPerSec: number[]; median: number; usPerPage: number; eventsPerPage: number }; traceShare: number | null }>;
  getDirtyLog: { msMedian: number; dirtyPagesPerPass: number };
  budget: { slowdownAtMost: number; worst: { kind: SimKind; slowdown: number }; within: boolean };
}

export function runStores(o: StoresOptions, progress: (s: string) => void): { result: StoresResult; text: string } {
  const stores = o.bufferBytes / 8;
  const bufPages = o.bufferBytes / PAGE_SIZE;
  const vmMemoryBytes = Math.max(64 * MiB, 2 ** Math.ceil(Math.log2(BUF_GPA + o.bufferBytes + 4 * MiB)));
  const program = storeProgram(stores);

  // JavaScript buffers of the same size.
  const ab = new ArrayBuffer(o.bufferBytes);
  const dv = new DataView(ab);
  const pages = Array.from({ length: bufPages }, () => new Uint8Array(PAGE_SIZE));

  // ---- warm-up: JIT for every path, and every page faulted in --------------------------------
  progress('stores: warm-up');
  const m = buildMachines(program, vmMemoryBytes, 'warm');
  for (let i = 0; i < 2; i++) {
    getDirtyLog(m);
    for (const k of SIM_KINDS) simPass(m, k, stores);
  }
  checkVmContents(m, stores);
  // Calibrate the JS loops to ~40 ms per sample so the timer's resolution does not matter.
  storeLoopDataView(dv, 0, stores, PATTERN_LO, PATTERN_HI);
  storeLoopPages(pages, 0, stores, PATTERN_LO, PATTERN_HI);
  const [, oneDv] = timed(() => storeLoopDataView(dv, 0, stores, PATTERN_LO, PATTERN_HI));
  const jsInnerPasses = Math.max(1, Math.min(256, Math.round(40 / Math.max(oneDv, 0.05))));

  const jsPass = (k: JsKind): number => {
    settle();
    const [, ms] = timed(() => {
      if (k === 'js-dataview') for (let j = 0; j < jsInnerPasses; j++) storeLoopDataView(dv, 0, stores, PATTERN_LO, PATTERN_HI);
      else for (let j = 0; j < jsInnerPasses; j++) storeLoopPages(pages, 0, stores, PATTERN_LO, PATTERN_HI);
    });
    return (jsInnerPasses * stores) / (ms / 1000);
  };

  // ---- warm repetitions, interleaved so that drift hits every kind alike ----------------------
  const kinds: Kind[] = ['js-dataview', 'js-pages', 'vm', 'vm-dirty-log', 'td'];
  const rates: Record<Kind, number[]> = { 'js-dataview': [], 'js-pages': [], vm: [], 'vm-dirty-log': [], td: [] };
  const events: Record<SimKind, number[]> = { vm: [], 'vm-dirty-log': [], td: [] };
  const ept: Record<SimKind, number[]> = { vm: [], 'vm-dirty-log': [], td: [] };
  const wp: Record<SimKind, number[]> = { vm: [], 'vm-dirty-log': [], td: [] };
  const dirtyMs: number[] = [];
  const dirtyPages: number[] = [];
  for (let r = 0; r < o.reps; r++) {
    progress(`stores: warm repetition ${r + 1}/${o.reps}`);
    for (let j = 0; j < kinds.length; j++) {
      const k = kinds[(j + r) % kinds.length];
      if (k === 'js-dataview' || k === 'js-pages') {
        rates[k].push(jsPass(k));
        continue;
      }
      if (k === 'vm-dirty-log') {
        const [n, ms] = getDirtyLog(m);
        check(n >= bufPages, `KVM_GET_DIRTY_LOG reported ${n} dirty pages after a pass over ${bufPages} buffer pages`);
        dirtyMs.push(ms);
        dirtyPages.push(n);
      }
      const s = simPass(m, k, stores);
      rates[k].push(stores / (s.ms / 1000));
      events[k].push(s.events);
      ept[k].push(s.eptViolations);
      wp[k].push(s.writeProtectFaults);
      if (k === 'vm-dirty-log') check(s.writeProtectFaults >= bufPages, `the dirty-logging pass took ${s.writeProtectFaults} write-protection faults, expected at least ${bufPages}: pages were not re-protected`);
    }
  }
  checkVmContents(m, stores);
  const slowdown = (k: Kind): number[] => rates[k].map((x, i) => rates['js-dataview'][i] / x);

  // ---- cold: the first pass of the store loop on fresh VMs, as the app runs it (trace on) -----
  type ColdAcc = { rates: number[]; events: number[]; ept: number[] };
  const cold: Record<SimKind, ColdAcc> = { vm: { rates: [], events: [], ept: [] }, 'vm-dirty-log': { rates: [], events: [], ept: [] }, td: { rates: [], events: [], ept: [] } };
  for (let r = 0; r < o.coldReps; r++) {
    progress(`stores: cold repetition ${r + 1}/${o.coldReps}`);
    const c = buildMachines(program, vmMemoryBytes, `cold${r}`);
    for (const k of SIM_KINDS) {
      const s = simPass(c, k, stores);
      cold[k].rates.push(stores / (s.ms / 1000));
      cold[k].events.push(s.events);
      cold[k].ept.push(s.eptViolations);
    }
  }

  // ---- first touch: one store per page over fresh memory, so the per-page cost dominates ------
  const touchProgram = assembleProgram(`
_start:
    mov rdi, ${BUF_GPA}
    mov rax, 1
    mov rcx, ${TOUCH_PAGES}
.loop:
    mov [rdi], rax
    add rdi, ${PAGE_SIZE}
    dec rcx
    jnz .loop
    hlt
`);
  const touch: Record<SimKind, Record<'traced' | 'muted', { pagesPerSec: number[]; events: number[] }>> = {
    vm: { traced: { pagesPerSec: [], events: [] }, muted: { pagesPerSec: [], events: [] } },
    'vm-dirty-log': { traced: { pagesPerSec: [], events: [] }, muted: { pagesPerSec: [], events: [] } },
    td: { traced: { pagesPerSec: [], events: [] }, muted: { pagesPerSec: [], events: [] } },
  };
  const touchMem = Math.max(vmMemoryBytes, 2 ** Math.ceil(Math.log2(BUF_GPA + TOUCH_PAGES * PAGE_SIZE + 4 * MiB)));
  for (let r = 0; r < o.coldReps + 1; r++) {
    progress(`stores: first-touch repetition ${r + 1}/${o.coldReps + 1}`);
    for (const mode of r % 2 ? (['muted', 'traced'] as const) : (['traced', 'muted'] as const)) {
      const c = buildMachines(touchProgram, touchMem, `touch${r}-${mode}`);
      for (const k of SIM_KINDS) {
        const v = c.vms[k];
        const ev0 = c.world.trace.count;
        restart(v);
        settle();
        const [, ms] = timed(() => (mode === 'muted' ? c.world.trace.quietly(() => runToHalt(v, 4 * TOUCH_PAGES + 100)) : runToHalt(v, 4 * TOUCH_PAGES + 100)));
        check(cpuOf(v).get('rcx') === 0n, `${k}: the first-touch loop did not finish`);
        if (r === 0) continue; // the first repetition warms the JIT up
        touch[k][mode].pagesPerSec.push(TOUCH_PAGES / (ms / 1000));
        touch[k][mode].events.push(c.world.trace.count - ev0);
      }
    }
  }

  const baseMedian = median(rates['js-dataview']);
  const warm = {} as StoresResult['warm'];
  for (const k of kinds) {
    const sd = slowdown(k);
    warm[k] = { description: DESCRIPTION[k], storesPerSec: rates[k], median: median(rates[k]), slowdown: sd, slowdownMedian: median(sd) };
    if (k !== 'js-dataview' && k !== 'js-pages') {
      warm[k].eventsPerPass = median(events[k]);
      warm[k].eptViolationsPerPass = median(ept[k]);
      warm[k].writeProtectFaultsPerPass = median(wp[k]);
    }
  }
  const coldOut = {} as StoresResult['cold'];
  const touchOut = {} as StoresResult['firstTouch'];
  for (const k of SIM_KINDS) {
    const med = median(cold[k].rates);
    coldOut[k] = { storesPerSec: cold[k].rates, median: med, slowdownVsBaselineMedian: baseMedian / med, eventsPerPass: median(cold[k].events), eptViolationsPerPass: median(cold[k].ept) };
    const t = touch[k];
    const tr = median(t.traced.pagesPerSec);
    const mu = median(t.muted.pagesPerSec);
    touchOut[k] = {
      traced: { pagesPerSec: t.traced.pagesPerSec, median: tr, usPerPage: 1e6 / tr, eventsPerPage: median(t.traced.events) / TOUCH_PAGES },
      muted: { pagesPerSec: t.muted.pagesPerSec, median: mu, usPerPage: 1e6 / mu, eventsPerPage: median(t.muted.events) / TOUCH_PAGES },
      // With no events recorded the two modes do the same work: any difference is noise.
      traceShare: median(t.traced.events) > 0 ? 1 - tr / mu : null,
    };
  }
  const worstKind = SIM_KINDS.reduce((a, b) => (warm[b].slowdownMedian > warm[a].slowdownMedian ? b : a));
  const result: StoresResult = {
    config: { bufferBytes: o.bufferBytes, stores, bufferPages: bufPages, instructionsPerStore: INSNS_PER_STORE, reps: o.reps, coldReps: o.coldReps, jsInnerPasses, vmMemoryBytes },
    baseline: 'js-dataview',
    warm,
    cold: coldOut,
    firstTouch: touchOut,
    getDirtyLog: { msMedian: median(dirtyMs), dirtyPagesPerPass: median(dirtyPages) },
    budget: { slowdownAtMost: 10, worst: { kind: worstKind, slowdown: warm[worstKind].slowdownMedian }, within: warm[worstKind].slowdownMedian <= 10 },
  };

  const spread = (xs: number[]): string => `${fmtRate(min(xs))} .. ${fmtRate(max(xs))}`;
  const rows: string[][] = [['what', 'stores/s (median)', 'range', 'slowdown vs baseline', 'events/pass', 'budget <= 10x']];
  for (const k of kinds) {
    const w = warm[k];
    const isSim = k !== 'js-dataview' && k !== 'js-pages';
    rows.push([
      k === 'js-dataview' ? 'baseline  JS DataView qword stores' : k === 'js-pages' ? 'context   JS byte stores, 4 KiB pages' : `warm      ${k === 'vm' ? 'ordinary VM' : k === 'vm-dirty-log' ? 'VM + dirty logging' : 'TD (private)'}`,
      fmtRate(w.median), spread(w.storesPerSec), k === 'js-dataview' ? '1.00x' : fmtX(w.slowdownMedian),
      isSim ? String(w.eventsPerPass) : '', isSim ? (w.slowdownMedian <= 10 ? 'within' : 'OVER') : '',
    ]);
  }
  const name = (k: SimKind): string => (k === 'vm' ? 'ordinary VM' : k === 'vm-dirty-log' ? 'VM + dirty logging' : 'TD (private)');
  for (const k of SIM_KINDS) {
    const c = coldOut[k];
    rows.push([`cold      ${name(k)}, first pass`, fmtRate(c.median), spread(c.storesPerSec), fmtX(c.slowdownVsBaselineMedian), String(c.eventsPerPass), '']);
  }
  const trows: string[][] = [['first touch (one store per fresh page)', 'pages/s, trace on', 'us/page', 'events/page', 'pages/s, muted', 'us/page', 'trace share']];
  for (const k of SIM_KINDS) {
    const t = touchOut[k];
    trows.push([name(k), fmtRate(t.traced.median), t.traced.usPerPage.toFixed(2), t.traced.eventsPerPage.toFixed(2), fmtRate(t.muted.median), t.muted.usPerPage.toFixed(2), t.traceShare === null ? 'n/a (no events)' : `${(100 * t.traceShare).toFixed(0)}%`]);
  }
  const text = [
    `1. Guest qword stores: ${o.bufferBytes / MiB} MiB buffer, ${fmtInt(stores)} stores per pass, ${INSNS_PER_STORE} guest instructions per store`,
    `   warm: medians of ${o.reps} interleaved repetitions (slowdown = baseline stores/s / stores/s, per repetition); cold: ${o.coldReps} fresh VMs, vs the baseline's median`,
    table(rows),
    `   JS samples: ${jsInnerPasses} passes each. Dirty logging: KVM_GET_DIRTY_LOG (untimed above) took ${median(dirtyMs).toFixed(2)} ms and returned ${median(dirtyPages)} dirty pages; ` +
      `each pass took ${median(wp['vm-dirty-log'])} write-protection faults.`,
    `   Cold passes include the EPT violations (${coldOut.vm.eptViolationsPerPass} per pass on the ordinary VM) and their trace events; the TD's pages were already accepted by TDVF, so its cold pass only creates page contents.`,
    '',
    `   First touch: ${fmtInt(TOUCH_PAGES)} pages per sample, ${o.coldReps} fresh VMs per mode (medians); an ordinary VM takes an EPT violation + get_user_pages per page,`,
    '   the TD (memory accepted by TDVF) only creates page contents. Trace share = 1 - (pages/s traced) / (pages/s muted).',
    table(trows),
  ].join('\n');
  return { result, text };
}
