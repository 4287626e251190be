/**
 * Section 2: private faults per second on a TD.
 *
 * A guest program calls the guest kernel's accept_memory(start, size) over a large unaccepted range.
 * For each 4 KiB page the kernel issues TDG.MEM.PAGE.ACCEPT; the GPA has no Secure-EPT entry, so the
 * TD exits with an EPT violation, KVM takes a guest_memfd page and AUGs it (TDH.MEM.PAGE.AUG, adding
 * Secure-EPT pages as needed), and the accept runs again (PENDING -> MAPPED).
 *
 * Measured: the same with the trace recording (as in the app) and muted (Trace.quietly), which shows
 * the trace's share; and, for context, the same KVM + TDX-module calls made directly from the host
 * side without the guest CPU and kernel (what the VMM's TDVF model does).
 * Baseline: allocating a zero-filled 4 KiB Uint8Array per page in this process (what a real kernel
 * must at least do per fault: get a page and clear it).
 */
import { GiB, MiB, PAGE_SIZE } from '../src/sim/core/units';
import { TdxStatus } from '../src/sim/tdx/module';
import type { VmmVm } from '../src/sim/vmm/vmm';
import { assembleProgram, buildVm, cpuOf, makeWorld, restart, runToHalt, type World } from './world';
import { check, fmtInt, fmtRate, fmtX, max, median, min, settle, table, timed } from './util';

export interface FaultsOptions {
  reps: number;
  pagesPerSample: number;
}

type Kind = 'baseline-alloc' | 'guest-traced' | 'guest-muted' | 'direct-muted';
const KINDS: readonly Kind[] = ['baseline-alloc', 'guest-traced', 'guest-muted', 'direct-muted'];

const LABEL: Record<Kind, string> = {
  'baseline-alloc': 'baseline  new Uint8Array(4096) per page',
  'guest-traced': 'TD        accept_memory, trace on',
  'guest-muted': 'TD        accept_memory, trace muted',
  'direct-muted': 'context   KVM fault + AUG + ACCEPT called directly, muted',
};

const FIRST_GPA = 16 * MiB;

export interface FaultsResult {
  config: { pagesPerSample: number; reps: number; tdMemoryBytes: number; firmwareAcceptBytes: number };
  baseline: string;
  kinds: Record<Kind, { description: string; pagesPerSec: number[]; median: number; slowdown: number[]; slowdownMedian: number; eventsPerPage?: number }>;
  traceShare: { samples: number[]; median: number };
}

/** Allocation baseline: a zero-filled 4 KiB page per "fault", kept in a ring so the GC has real work. */
function allocPages(n: number, ring: Uint8Array[]): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const p = new Uint8Array(PAGE_SIZE);
    p[i & (PAGE_SIZE - 1)] = 1;
    ring[i & 255] = p;
    s += p[0];
  }
  return s;
}

export function runFaults(o: FaultsOptions, progress: (s: string) => void): { result: FaultsResult; text: string } {
  const P = o.pagesPerSample;
  // One TD below the q35 split (2.75 GiB) has a single RAM block; every sample takes a fresh range.
  const maxTd = 2.5 * GiB;
  const fits = Math.floor((maxTd - FIRST_GPA) / (P * PAGE_SIZE));
  const reps = Math.min(o.reps, Math.floor((fits - 3) / 3));
  check(reps >= 1, `samples of ${P} pages are too large for a ${maxTd / MiB} MiB TD`);
  const samplesNeeded = 3 + 3 * reps; // warm-up (traced, muted, direct) + the same per repetition
  const tdMemoryBytes = Math.min(maxTd, Math.max(256 * MiB, 2 ** Math.ceil(Math.log2(FIRST_GPA + samplesNeeded * P * PAGE_SIZE))));
  check(FIRST_GPA + samplesNeeded * P * PAGE_SIZE <= tdMemoryBytes, `${samplesNeeded} samples of ${P} pages do not fit in a ${tdMemoryBytes / MiB} MiB TD`);
  const firmwareAcceptBytes = 2 * MiB;
  const world: World = makeWorld(16 * GiB, 'faults-host');
  const program = assembleProgram(`
_start:
    call accept_memory      ; rdi = start, rsi = size (set by the harness)
    hlt
`);
  const td: VmmVm = buildVm(world, { name: 'td-accept', kind: 'tdx', memoryBytes: tdMemoryBytes, program, firmwareAcceptBytes });
  const tdState = td.vm.td;
  check(tdState, 'the TD has no TDX-module state');
  let next = FIRST_GPA;
  const take = (): number => {
    const s = next;
    next += P * PAGE_SIZE;
    check(next <= tdMemoryBytes, 'ran out of unaccepted TD memory');
    return s;
  };

  const guestAccept = (muted: boolean): { ms: number; events: number } => {
    const start = take();
    const mapped0 = tdState.mappedPages;
    const ev0 = world.trace.count;
    restart(td, { rdi: start, rsi: P * PAGE_SIZE });
    settle();
    const [, ms] = timed(() => (muted ? world.trace.quietly(() => runToHalt(td, 10_000)) : runToHalt(td, 10_000)));
    const rax = cpuOf(td).get('rax');
    check(rax === 0n, `accept_memory returned ${rax}, expected 0`);
    check(tdState.mappedPages - mapped0 === P, `accept_memory mapped ${tdState.mappedPages - mapped0} pages, expected ${P}`);
    const events = world.trace.count - ev0;
    if (muted) check(events === 0, `the muted run still recorded ${events} events`);
    return { ms, events };
  };

  const directAccept = (): number => {
    const startGfn = take() / PAGE_SIZE;
    const mapped0 = tdState.mappedPages;
    const tdx = td.kvm.tdx;
    settle();
    const [, ms] = timed(() => world.trace.quietly(() => {
      for (let gfn = startGfn; gfn < startGfn + P; gfn++) {
        let r = tdx.memPageAccept(tdState, gfn, 0);
        if (r.status === 'ept-violation') {
          td.vm.mmu.faultForAccept(gfn, 0);
          r = tdx.memPageAccept(tdState, gfn, 0);
        }
        if (r.status !== TdxStatus.TDX_SUCCESS) throw new Error(`TDG.MEM.PAGE.ACCEPT of GFN ${gfn} returned ${String(r.status)}`);
      }
    }));
    check(tdState.mappedPages - mapped0 === P, `the direct path mapped ${tdState.mappedPages - mapped0} pages, expected ${P}`);
    return ms;
  };

  const ring: Uint8Array[] = [];
  let sink = 0;
  const baseline = (): number => {
    settle();
    const [s, ms] = timed(() => allocPages(P, ring));
    sink += s;
    return ms;
  };

  progress('faults: warm-up');
  guestAccept(false);
  guestAccept(true);
  directAccept();
  baseline();
  baseline();

  const rates: Record<Kind, number[]> = { 'baseline-alloc': [], 'guest-traced': [], 'guest-muted': [], 'direct-muted': [] };
  const eventsPerPage: number[] = [];
  const share: number[] = [];
  for (let r = 0; r < reps; r++) {
    progress(`faults: repetition ${r + 1}/${reps}`);
    const ms: Partial<Record<Kind, number>> = {};
    for (let j = 0; j < KINDS.length; j++) {
      const k = KINDS[(j + r) % KINDS.length];
      if (k === 'baseline-alloc') ms[k] = baseline();
      else if (k === 'direct-muted') ms[k] = directAccept();
      else {
        const g = guestAccept(k === 'guest-muted');
        ms[k] = g.ms;
        if (k === 'guest-traced') eventsPerPage.push(g.events / P);
      }
      rates[k].push(P / (ms[k]! / 1000));
    }
    share.push(1 - ms['guest-muted']! / ms['guest-traced']!);
  }
  check(sink > 0, 'the allocation baseline did no work');

  const kinds = {} as FaultsResult['kinds'];
  for (const k of KINDS) {
    const sd = rates[k].map((x, i) => rates['baseline-alloc'][i] / x);
    kinds[k] = { description: LABEL[k].replace(/\s+/g, ' '), pagesPerSec: rates[k], median: median(rates[k]), slowdown: sd, slowdownMedian: median(sd) };
  }
  kinds['guest-traced'].eventsPerPage = median(eventsPerPage);
  kinds['guest-muted'].eventsPerPage = 0;
  const result: FaultsResult = {
    config: { pagesPerSample: P, reps, tdMemoryBytes, firmwareAcceptBytes },
    baseline: 'baseline-alloc',
    kinds,
    traceShare: { samples: share, median: median(share) },
  };

  const rows: string[][] = [['what', 'pages/s (median)', 'range', 'slowdown vs baseline', 'events/page']];
  for (const k of KINDS) {
    const x = kinds[k];
    rows.push([LABEL[k], fmtRate(x.median), `${fmtRate(min(x.pagesPerSec))} .. ${fmtRate(max(x.pagesPerSec))}`,
      k === 'baseline-alloc' ? '1.00x' : fmtX(x.slowdownMedian), x.eventsPerPage === undefined ? '' : x.eventsPerPage.toFixed(2)]);
  }
  const text = [
    `2. Private faults on a TD: EPT violation + TDH.MEM.PAGE.AUG + TDG.MEM.PAGE.ACCEPT, ${fmtInt(P)} pages (${(P * PAGE_SIZE) / MiB} MiB) per sample`,
    `   ${(tdMemoryBytes / MiB).toFixed(0)} MiB TD, TDVF accepted ${firmwareAcceptBytes / MiB} MiB; medians of ${reps} interleaved repetitions; slowdown = baseline pages/s / pages/s`,
    table(rows),
    `   The trace's share of the guest accept path (1 - muted time / traced time): ${(100 * result.traceShare.median).toFixed(0)}% ` +
      `(range ${(100 * min(share)).toFixed(0)}% .. ${(100 * max(share)).toFixed(0)}%).`,
  ].join('\n');
  return { result, text };
}
