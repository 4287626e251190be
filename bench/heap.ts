/**
 * Section 3: heap bytes per guest page.
 *
 * Each case runs in its own child process (node --expose-gc), so that nothing another measurement
 * allocated or freed lands in its deltas. In the child:
 *   1. warm-up: a small host and TD are built and dropped, so code compilation is not counted;
 *   2. method check: a flat Uint32Array with one entry per guest page must measure 4 bytes per page;
 *   3. the host (HostMemory's per-frame arrays, KVM, the TDX module) is created: host metadata;
 *   4. the VM is built through the VMM (VmmVm): bytes per guest page, host metadata excluded.
 * Every figure is heapUsed + arrayBuffers from process.memoryUsage(), after global.gc() (the child
 * runs with --no-flush-bytecode so that V8 dropping unused bytecode does not show up as noise).
 */
import { spawnSync } from 'node:child_process';
import { GiB, MiB, PAGE_SIZE } from '../src/sim/core/units';
import type { VmKind } from '../src/sim/vmm/vmm';
import { assembleProgram, buildVm, makeWorld } from './world';
import { BenchError, check, fmtBytes, getGc, median, now, table } from './util';

export interface HeapCase {
  id: string;
  label: string;
  kind: VmKind;
  guestBytes: number;
  hostBytes: number;
  firmwareAcceptBytes: number;
  /** The DESIGN.md budget applies to this case. */
  budgeted: boolean;
}

export const HEAP_CASES: readonly HeapCase[] = [
  { id: 'td-4g', label: '4 GiB TD, TDVF accepted 2 MiB', kind: 'tdx', guestBytes: 4 * GiB, hostBytes: 16 * GiB, firmwareAcceptBytes: 2 * MiB, budgeted: true },
  { id: 'td-64g', label: '64 GiB TD, TDVF accepted 2 MiB', kind: 'tdx', guestBytes: 64 * GiB, hostBytes: 128 * GiB, firmwareAcceptBytes: 2 * MiB, budgeted: false },
  { id: 'td-4g-boot', label: '4 GiB TD, TDVF accepted 512 MiB', kind: 'tdx', guestBytes: 4 * GiB, hostBytes: 16 * GiB, firmwareAcceptBytes: 512 * MiB, budgeted: false },
  { id: 'vm-4g', label: '4 GiB ordinary VM (context)', kind: 'default', guestBytes: 4 * GiB, hostBytes: 16 * GiB, firmwareAcceptBytes: 0, budgeted: false },
];

export const BUDGET_BYTES_PER_PAGE = 8;

interface Mem {
  heapUsed: number;
  arrayBuffers: number;
}

interface Delta {
  heapUsed: number;
  arrayBuffers: number;
  total: number;
}

export interface HeapChildResult {
  case: string;
  guestPages: number;
  hostFrames: number;
  buildMs: number;
  flatU32: Delta;
  host: Delta;
  vm: Delta;
  /** What the simulator itself says it allocated (typed-array bytes it can count). */
  internal: {
    hostFrameArrays: number;
    eptAndMirror: number;
    sept: number;
    septMetadataPages: number;
    guestMemfdPageIndex: number;
    vmmPageTable: number;
    guestMemfdPages: number;
    pagesWithContents: number;
    mappedPrivate: number;
    pendingPrivate: number;
    traceEvents: number;
  };
}

// ---- child side -------------------------------------------------------------------------------

export function heapChild(c: HeapCase): HeapChildResult {
  const gc = getGc();
  if (!gc) throw new BenchError('the heap measurement needs global.gc(): run node with --expose-gc');
  const snap = (): Mem => {
    for (let i = 0; i < 4; i++) gc();
    const m = process.memoryUsage();
    return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
  };
  const delta = (a: Mem, b: Mem): Delta => ({ heapUsed: b.heapUsed - a.heapUsed, arrayBuffers: b.arrayBuffers - a.arrayBuffers, total: b.heapUsed - a.heapUsed + (b.arrayBuffers - a.arrayBuffers) });
  const program = assembleProgram('_start:\n    hlt\n');
  const guestPages = c.guestBytes / PAGE_SIZE;

  // 1. warm-up: the same code paths on a small machine, then dropped.
  {
    const w = makeWorld(1 * GiB, 'warm');
    const v = buildVm(w, { name: 'warm', kind: c.kind, memoryBytes: 64 * MiB, program, firmwareAcceptBytes: 2 * MiB });
    check(v.vm.vcpus.length === 1, 'warm-up VM has no vCPU');
  }
  // 2. method check.
  const m0 = snap();
  let flat: Uint32Array | null = new Uint32Array(guestPages);
  flat[guestPages - 1] = 1;
  const m1 = snap();
  const flatU32 = delta(m0, m1);
  check(flat[guestPages - 1] === 1, 'flat array lost');
  flat = null;

  // 3. host, 4. VM.
  const h0 = snap();
  const world = makeWorld(c.hostBytes, 'heap-host');
  const h1 = snap();
  const t0 = now();
  const v = buildVm(world, { name: c.id, kind: c.kind, memoryBytes: c.guestBytes, program, firmwareAcceptBytes: c.firmwareAcceptBytes });
  const buildMs = now() - t0;
  const h2 = snap();

  // Read everything through the live objects after the last snapshot (this also keeps them alive).
  const mem = world.host.memory;
  let gmemPages = 0;
  let withContents = 0;
  v.gmem?.forEachPage((_i, f) => {
    gmemPages++;
    if (mem.hasData(f)) withContents++;
  });
  v.process.forEachPresent(v.ram[0].hva, c.guestBytes, (_hva, f) => {
    if (mem.hasData(f)) withContents++;
  });
  const td = v.vm.td;
  return {
    case: c.id,
    guestPages,
    hostFrames: c.hostBytes / PAGE_SIZE,
    buildMs,
    flatU32,
    host: delta(h0, h1),
    vm: delta(h1, h2),
    internal: {
      hostFrameArrays: mem.metadataBytes,
      eptAndMirror: v.vm.mmu.bytes,
      sept: td ? td.sept.allocatedBytes : 0,
      septMetadataPages: td ? td.septPages[0].size + td.septPages[1].size : 0,
      guestMemfdPageIndex: v.gmem ? v.gmem.pageCacheBytes : 0,
      vmmPageTable: v.process.pageTableBytes,
      guestMemfdPages: gmemPages,
      pagesWithContents: withContents,
      mappedPrivate: td ? td.mappedPages : 0,
      pendingPrivate: td ? td.pendingPages : 0,
      traceEvents: world.trace.size,
    },
  };
}

// ---- parent side ------------------------------------------------------------------------------

export const CHILD_MARK = 'GML_BENCH_HEAP_RESULT ';

function runChild(script: string, c: HeapCase): HeapChildResult {
  // --no-flush-bytecode: V8 otherwise drops the bytecode of functions that have not run for a few
  // GCs, and the forced GCs below would make that show up as tens of KiB of negative noise.
  const execArgv = [...process.execArgv.filter((a) => a !== '--expose-gc' && a !== '--no-flush-bytecode'), '--expose-gc', '--no-flush-bytecode'];
  const r = spawnSync(process.execPath, [...execArgv, script, '--heap-child', c.id], {
    encoding: 'utf8',
    maxBuffer: 64 * MiB,
    timeout: 150_000,
    env: { ...process.env, GML_BENCH_RESPAWNED: '1' },
  });
  if (r.error) throw new BenchError(`heap case ${c.id}: could not run the child process: ${r.error.message}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith(CHILD_MARK));
  if (r.status !== 0 || !line) {
    const tail = (r.stderr || r.stdout || '').trim().split('\n').slice(-12).join('\n    ');
    throw new BenchError(`heap case ${c.id}: the child process ${r.signal ? `was killed by ${r.signal}` : `exited with status ${r.status}`}` +
      `${line ? '' : ' without a result'}:\n    ${tail || '(no output)'}`);
  }
  return JSON.parse(line.slice(CHILD_MARK.length)) as HeapChildResult;
}

export interface HeapResult {
  reps: number;
  method: string;
  cases: {
    id: string;
    label: string;
    guestPages: number;
    hostFrames: number;
    bytesPerGuestPage: number;
    bytesPerGuestPageSamples: number[];
    vmBytes: number;
    hostMetadataBytesPerHostFrame: number;
    flatU32BytesPerPage: number;
    buildMs: number;
    budgetBytesPerPage?: number;
    withinBudget?: boolean;
    children: HeapChildResult[];
  }[];
}

export function runHeap(script: string, reps: number, progress: (s: string) => void): { result: HeapResult; text: string } {
  const cases: HeapResult['cases'] = [];
  for (const c of HEAP_CASES) {
    const children: HeapChildResult[] = [];
    for (let r = 0; r < reps; r++) {
      progress(`heap: ${c.label} (${r + 1}/${reps})`);
      children.push(runChild(script, c));
    }
    const perPage = children.map((x) => x.vm.total / x.guestPages);
    const bpp = median(perPage);
    cases.push({
      id: c.id,
      label: c.label,
      guestPages: c.guestBytes / PAGE_SIZE,
      hostFrames: c.hostBytes / PAGE_SIZE,
      bytesPerGuestPage: bpp,
      bytesPerGuestPageSamples: perPage,
      vmBytes: median(children.map((x) => x.vm.total)),
      hostMetadataBytesPerHostFrame: median(children.map((x) => x.host.total / x.hostFrames)),
      flatU32BytesPerPage: median(children.map((x) => x.flatU32.total / x.guestPages)),
      buildMs: median(children.map((x) => x.buildMs)),
      ...(c.budgeted ? { budgetBytesPerPage: BUDGET_BYTES_PER_PAGE, withinBudget: bpp <= BUDGET_BYTES_PER_PAGE } : {}),
      children,
    });
  }
  const rows: string[][] = [['machine', 'guest pages', 'B/guest page', 'x of 8 B budget', 'VM total', 'host B/frame', 'check: flat u32', 'build', 'budget']];
  for (const c of cases) {
    rows.push([
      c.label, c.guestPages.toLocaleString('en-US'), c.bytesPerGuestPage.toFixed(3), `${(c.bytesPerGuestPage / BUDGET_BYTES_PER_PAGE).toFixed(3)}x`,
      fmtBytes(c.vmBytes), c.hostMetadataBytesPerHostFrame.toFixed(2), `${c.flatU32BytesPerPage.toFixed(2)} B/page`, `${c.buildMs.toFixed(0)} ms`,
      c.withinBudget === undefined ? '' : c.withinBudget ? 'within' : 'OVER',
    ]);
  }
  const detail = cases.map((c) => {
    const i = c.children[0].internal;
    return `   ${c.id}: simulator's own count: EPT+mirror ${fmtBytes(i.eptAndMirror)}, Secure EPT ${fmtBytes(i.sept)}, guest_memfd index ${fmtBytes(i.guestMemfdPageIndex)}, ` +
      `VMM page table ${fmtBytes(i.vmmPageTable)}; ${i.guestMemfdPages.toLocaleString('en-US')} guest_memfd pages, ${i.pagesWithContents} with stored contents, ` +
      `${i.septMetadataPages} S-EPT metadata pages, ${i.traceEvents} trace events; host frame arrays ${fmtBytes(i.hostFrameArrays)} for ${c.hostFrames.toLocaleString('en-US')} frames`;
  });
  const text = [
    `3. Heap per guest page (heapUsed + arrayBuffers after global.gc(), each case in a fresh child process, median of ${reps})`,
    '   B/guest page excludes the host\'s per-frame metadata (HostMemory arrays), which is reported per host frame.',
    table(rows),
    ...detail,
  ].join('\n');
  return { result: { reps, method: 'process.memoryUsage() heapUsed + arrayBuffers deltas around creation, global.gc() x4 before each reading, child node --expose-gc --no-flush-bytecode', cases }, text };
}
