/**
 * Section 4 of the benchmark: snapshots (src/sim/snapshot.ts) of a booted 4 GiB TD and of the two
 * 4 GiB guests of the four-gigabytes lesson, each run to the end of its lesson. Reports the size of
 * the snapshot as structured-clone data (v8.serialize, what postMessage and a keyframe store carry),
 * the time to save it (snapshotRun), to serialize it, and to restore it (restoreRun: a fresh run built
 * from the scenario, then every part's state loaded), with the build of the fresh run apart. Ratios
 * are against a baseline measured in the same run: copying a byte array of the snapshot's serialized
 * size (Uint8Array.slice: moving that many bytes, nothing more).
 */
import v8 from 'node:v8';
import { PRESETS } from '../src/scenarios';
import { ScenarioRun } from '../src/sim/scenario/runner';
import { restoreRun, snapshotRun } from '../src/sim/snapshot';
import { check, fmtBytes, fmtInt, fmtX, median, settle, table, timed } from './util';

export interface SnapshotOptions {
  reps: number;
}

interface CaseResult {
  label: string;
  events: number;
  framesUsed: number;
  /** v8.serialize(snapshot).length. */
  bytes: number;
  saveMs: number[];
  serializeMs: number[];
  restoreMs: number[];
  /** Of restoreMs: building the fresh run from the scenario (the constructors). */
  buildMs: number[];
  baselineCopyMs: number[];
}

export interface SnapshotResult {
  reps: number;
  cases: Record<string, CaseResult & { saveMedianMs: number; restoreMedianMs: number; saveVsCopy: number; restoreVsCopy: number }>;
}

type Doc = { vms: { name: string }[]; steps: { vm?: string }[] };

/** The four-gigabytes lesson with only its TD (its RAM all accepted and touched by the end). */
function tdOnly(): unknown {
  const d = structuredClone(PRESETS['four-gigabytes']) as Doc;
  d.vms = d.vms.filter((v) => v.name === 'td');
  d.steps = d.steps.filter((s) => s.vm === 'td');
  check(d.vms.length === 1 && d.steps.length > 0, 'four-gigabytes no longer has a VM named "td" with steps');
  return d;
}

const CASES: { id: string; label: string; scenario: () => unknown }[] = [
  { id: 'td-4g', label: 'booted 4 GiB TD, memory all touched', scenario: tdOnly },
  { id: 'two-4g', label: 'two 4 GiB guests (VM + TD)', scenario: () => PRESETS['four-gigabytes'] },
];

export function runSnapshot(o: SnapshotOptions, progress: (s: string) => void): { result: SnapshotResult; text: string } {
  const cases: SnapshotResult['cases'] = {};
  for (const c of CASES) {
    progress(`snapshot: ${c.id}: running the lesson to its end`);
    const sc = c.scenario();
    const run = ScenarioRun.fromJson(sc);
    run.runAll();
    const r: CaseResult = {
      label: c.label, events: run.trace.count, framesUsed: run.host.memory.framesUsed, bytes: 0,
      saveMs: [], serializeMs: [], restoreMs: [], buildMs: [], baselineCopyMs: [],
    };
    for (let i = 0; i < o.reps; i++) {
      progress(`snapshot: ${c.id}: repetition ${i + 1}/${o.reps}`);
      settle();
      const [snap, saveMs] = timed(() => snapshotRun(run));
      const [buf, serializeMs] = timed(() => v8.serialize(snap));
      r.bytes = buf.length;
      settle();
      const copy = new Uint8Array(buf.length).fill(1);
      r.baselineCopyMs.push(timed(() => copy.slice())[1]);
      settle();
      r.buildMs.push(timed(() => ScenarioRun.fromJson(sc))[1]);
      settle();
      const [restored, restoreMs] = timed(() => restoreRun(sc, snap));
      check(restored.trace.count === run.trace.count && restored.clock.now === run.clock.now,
        `${c.id}: the restored run is at event ${restored.trace.count}, ${restored.clock.now} ns; the saved one at ${run.trace.count}, ${run.clock.now} ns`);
      r.saveMs.push(saveMs);
      r.serializeMs.push(serializeMs);
      r.restoreMs.push(restoreMs);
    }
    const copyMs = median(r.baselineCopyMs);
    cases[c.id] = {
      ...r, saveMedianMs: median(r.saveMs), restoreMedianMs: median(r.restoreMs),
      saveVsCopy: median(r.saveMs) / copyMs, restoreVsCopy: median(r.restoreMs) / copyMs,
    };
  }
  const rows: string[][] = [['what', 'frames used', 'events', 'snapshot size', 'save', 'serialize', 'restore', 'of it: build', 'copy baseline', 'save vs copy', 'restore vs copy']];
  for (const c of CASES) {
    const x = cases[c.id];
    const ms = (v: number): string => `${v.toFixed(1)} ms`;
    rows.push([x.label, fmtInt(x.framesUsed), fmtInt(x.events), fmtBytes(x.bytes), ms(x.saveMedianMs), ms(median(x.serializeMs)),
      ms(x.restoreMedianMs), ms(median(x.buildMs)), ms(median(x.baselineCopyMs)), fmtX(x.saveVsCopy), fmtX(x.restoreVsCopy)]);
  }
  const text = [
    `4. Snapshots (src/sim/snapshot.ts) at the end of the four-gigabytes lesson; medians of ${o.reps} repetitions`,
    '   size = v8.serialize(snapshot) bytes; restore = build a fresh run from the scenario + load every part; baseline = copying that many bytes (Uint8Array.slice)',
    table(rows),
  ].join('\n');
  return { result: { reps: o.reps, cases }, text };
}
