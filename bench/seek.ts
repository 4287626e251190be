/**
 * Headless seek (time travel) section of `npm run bench`: run a lesson to its end in play-sized
 * slices, then seek to random events (a fixed seed) with Lab.seek, as the worker does; the median and
 * worst ms, and the bytes the keyframes hold. The browser half (bench/browser.ts) measures the same as
 * the page waits for it. Each lesson is measured twice: with the start as the only keyframe (a seek
 * replays from the start: the baseline) and with the snapshot keyframes the worker keeps
 * (snapshotKeyframes, restored in place). `runMs` shows what taking the keyframes costs the run.
 */
import { PRESETS } from '../src/scenarios';
import { Lab, snapshotKeyframes } from '../src/sim/lab';
import { median } from './util';

export interface SeekCase {
  preset: string;
  /** The Lab's keyframes: 'start' (the baseline) or 'snapshots' (snapshotKeyframes, as the worker keeps). */
  keyframeMode: 'start' | 'snapshots';
  events: number;
  runMs: number;
  seeks: number;
  medianMs: number;
  worstMs: number;
  keyframes: number;
  keyframeBytes: number;
}

export function runSeek(o: { seeks: number; heavySeeks: number }, progress: (s: string) => void): { result: { cases: SeekCase[] }; text: string } {
  const cases: SeekCase[] = [];
  for (const keyframeMode of ['start', 'snapshots'] as const) for (const [preset, n] of [['platform-upstream', o.seeks], ['four-gigabytes', o.heavySeeks]] as const) {
    progress(`seek: running ${preset} to its end (keyframes: ${keyframeMode})`);
    const t0 = performance.now();
    const lab = new Lab(PRESETS[preset], keyframeMode === 'snapshots' ? { snapshot: snapshotKeyframes(PRESETS[preset]) } : {});
    while (!lab.done) lab.advance(2000);
    const runMs = performance.now() - t0;
    const events = lab.run.trace.count;
    let seed = 0x2545f491;
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const target = Math.floor((seed / 2 ** 32) * events);
      const s0 = performance.now();
      lab.seek(target);
      times.push(performance.now() - s0);
    }
    progress(`seek: ${preset}, ${n} seeks`);
    const k = lab.keyframeStore;
    cases.push({ preset, keyframeMode, events, runMs, seeks: n, medianMs: median(times), worstMs: Math.max(...times), keyframes: k.size, keyframeBytes: k.bytes });
  }
  const lines = cases.map((c) => `  ${`${c.preset}, ${c.keyframeMode} (${c.events.toLocaleString('en')} events, run ${(c.runMs / 1000).toFixed(1)} s)`.padEnd(64)} ${`${c.medianMs.toFixed(1)} ms`.padStart(10)} ${`${c.worstMs.toFixed(1)} ms`.padStart(10)} ${`${c.keyframes}, ${(c.keyframeBytes / 2 ** 20).toFixed(1)} MiB`.padStart(16)}`);
  const text = `Seek (time travel, headless): seeks to random events after running to the end\n  ${'lesson, keyframes'.padEnd(64)} ${'median'.padStart(10)} ${'worst'.padStart(10)} ${'keyframes'.padStart(16)}\n${lines.join('\n')}`;
  return { result: { cases }, text };
}
