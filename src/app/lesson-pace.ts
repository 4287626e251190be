/**
 * The lesson's pace as the lesson bar shows it: which scenario step the narration is about and what
 * the lesson is doing with it (ready to run it, running it, paused inside it, waiting at its end,
 * finished), read from a frame; and the progress of a long step with an estimate of the time left
 * from the rate measured while it runs. Pure functions (no React, no store): lesson-pace.test.ts.
 */
import type { FramePacket, StepProgress } from '../worker/protocol';

/**
 * ready: at the start, nothing run yet; running: a step runs (at the lesson's pace or freely);
 * paused: stopped inside a step; waiting: at the end of a step, the next one not begun; finished.
 */
export type LessonPhase = 'ready' | 'running' | 'paused' | 'waiting' | 'finished';

export interface LessonPosition {
  phase: LessonPhase;
  /** The step the narration is about (0-based): the one to run (ready), running, paused in, or just ended. */
  step: number;
  count: number;
  /** Running with pace 'free' (Run freely). */
  free: boolean;
  /** The sentence for the step: its note, or what it does when it has none. Null when ready. */
  note: string | null;
}

/** Where the lesson is in its steps (see LessonPhase). */
export function lessonPosition(p: FramePacket): LessonPosition {
  const f = p.frame;
  const count = f.stepCount;
  const at = (phase: LessonPhase, step: number): LessonPosition => {
    const st = f.steps[step];
    const note = phase === 'ready' || !st ? null : st.note ?? `This step runs ${st.do}.`;
    return { phase, step, count, free: p.playing && p.pace === 'free', note };
  };
  if (f.done) return at('finished', Math.max(0, count - 1));
  if (p.playing) return at('running', f.stepIndex);
  if (f.stepProgress) return at('paused', f.stepIndex);
  if (f.stepIndex === 0) return at('ready', 0);
  return at('waiting', f.stepIndex - 1);
}

/** The progress line's text: "1,200,000 of at most 20,000,000 instructions of ordinary", "1.20 s of 3.00 s virtual time". */
export function progressText(p: StepProgress): string {
  const of = p.bound === 'limit' ? 'of at most' : 'of';
  if (p.unit === 'ns') return `${formatNs(p.done)} ${of} ${formatNs(p.total)} ${p.what}`;
  return `${p.done.toLocaleString('en')} ${of} ${p.total.toLocaleString('en')} ${p.what}`;
}

/** A virtual duration for a person: "850 ns", "27.0 µs", "3.40 ms", "1.20 s". */
export function formatNs(ns: number): string {
  const a = Math.abs(ns);
  if (a < 1e3) return `${Math.round(ns)} ns`;
  if (a < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (a < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toPrecision(3)} s`;
}

/** A sample of a step's progress at a wall-clock moment (ms, performance.now()). */
export interface RateSample {
  /** Which machine and step it was measured on: a new run (load, seek) or another step starts again. */
  key: string;
  t: number;
  done: number;
}

/** Less measured than this, and no estimate is given (the first frames of a step say little). */
export const MIN_MEASURE_MS = 1000;

/**
 * The estimate of the wall-clock time left, in ms, from the rate measured since `first` (the step's
 * first sample while it ran): null until MIN_MEASURE_MS of it were measured or when nothing moved.
 */
export function timeLeftMs(first: RateSample | null, now: RateSample, p: StepProgress): number | null {
  if (!first || first.key !== now.key) return null;
  const ms = now.t - first.t;
  const moved = now.done - first.done;
  if (ms < MIN_MEASURE_MS || moved <= 0) return null;
  return Math.max(0, p.total - p.done) / (moved / ms);
}

/** "about 12 s left", "at most about 3 min left" (a step bounded by a limit may end sooner). */
export function timeLeftText(ms: number, bound: StepProgress['bound']): string {
  const s = ms / 1000;
  const t = s < 1 ? 'under a second' : s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`;
  const about = s < 1 ? t : `about ${t}`;
  return bound === 'limit' ? `at most ${about} left` : `${about} left`;
}
