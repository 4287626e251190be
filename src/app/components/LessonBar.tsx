import { useRef, useState, type ReactNode } from 'react';
import { ACTIONS } from '../actions';
import { useLabClient } from '../client-context';
import { lessonPosition, progressText, timeLeftMs, timeLeftText, type LessonPhase, type RateSample } from '../lesson-pace';
import { useLab, useLabStore } from '../store';
import { useOpenQuestion } from '../predict';
import { Question } from './Question';
import type { StepProgress } from '../../worker/protocol';

const PHASE_TEXT: Record<LessonPhase, string> = {
  ready: 'ready',
  running: 'running',
  paused: 'paused',
  waiting: 'done',
  finished: 'finished',
};

/**
 * The lesson's title and explanation, where the lesson is (step k of n, and what it is doing), the
 * lesson's pace controls, the narration (the step's note, in a live region) and under it the step's
 * result or, while a long step runs, its progress, and at that row's end `aside` (the VM tabs and
 * links: one row less above the panels). The explanation shows (one line) until the first step
 * runs, then only when opened: at 1280×720 the panels need the height.
 */
export function LessonBar({ aside }: { aside?: ReactNode }) {
  const packet = useLab((s) => s.packet);
  // The explanation shows two lines until opened: at 1280×720 the panels need the height.
  const [open, setOpen] = useState(false);
  // While a question is open the explanation is shortened: its later lines may give the answer away.
  const asking = useOpenQuestion() !== null;
  if (!packet) return <section className="lesson" aria-label="Lesson"><p>Loading the lab…</p></section>;
  const frame = packet.frame;
  const at = lessonPosition(packet);
  const result = at.phase === 'waiting' || at.phase === 'finished' ? frame.results.find((r) => r.step === at.step) : undefined;
  const state = at.phase === 'running' && at.free ? 'running freely' : PHASE_TEXT[at.phase];
  return (
    <section className="lesson" aria-label="Lesson">
      <div className="lesson-head">
        <h2 title={frame.title}>{frame.title}</h2>
        <span className="progress" data-testid="progress">Step {at.step + 1} of {at.count} · {state}</span>
        <LessonControls />
        <button type="button" className="link" aria-expanded={open} onClick={() => setOpen(!open)}>{open ? 'Hide the explanation' : 'Explanation'}</button>
      </div>
      {(open || at.phase === 'ready') && <p className={open && !asking ? 'explanation' : 'explanation clamped'}>{frame.explanation}</p>}
      <p className="narration" role="status" aria-live="polite" data-testid="narration" title={at.note ?? undefined}>
        {at.note ?? <>Space or → runs step 1 and waits at its end; Run freely (F) plays the lesson through.</>}
      </p>
      <Question />
      <div className="lesson-detail">
        {frame.stepProgress ? (
          <StepProgressBar progress={frame.stepProgress} playing={packet.playing} run={packet.run} />
        ) : result ? (
          <span className="step-result" data-testid="step-result">
            <code>{result.do}</code> → {result.ret === -1 ? `-1 ${result.errno}` : String(result.ret)}{result.why ? ` (${result.why})` : ''}
            {at.phase === 'waiting' && <span className="lesson-hint"> · Space or → runs step {at.step + 2}, ← goes back</span>}
          </span>
        ) : null}
        <span className="latest-event" data-testid="latest-event" title={frame.narration}>{frame.narration}</span>
        {aside && <div className="world-bar">{aside}</div>}
      </div>
    </section>
  );
}

/** Back, next step (pause while running) and run freely: the registry's lesson actions. */
function LessonControls() {
  const client = useLabClient();
  const store = useLabStore();
  const lesson = ACTIONS.filter((a) => a.group === 'lesson');
  const speed = useLab((s) => s.speed);
  // One string for what the buttons show, so the bar's controls re-render only when it changes.
  const key = useLab((s) => lesson.map((a) => `${a.enabled ? Number(a.enabled(s)) : 1}${a.now ? a.now(s) : ''}`).join('|') + (s.packet?.playing && s.packet.pace === 'free' ? '|free' : ''));
  const parts = key.split('|');
  const free = parts.at(-1) === 'free';
  return (
    <div className="lesson-controls" role="group" aria-label="Lesson steps">
      {lesson.map((a, i) => {
        const enabled = parts[i][0] === '1';
        const label = parts[i].slice(1) || a.label;
        const keys = a.id === 'lesson-next' ? 'Space ArrowRight' : a.id === 'lesson-back' ? 'ArrowLeft Shift+S' : a.shortcut;
        const text = a.id === 'lesson-next' ? (label === 'Pause' ? 'Pause' : 'Next lesson step ▶') : a.id === 'lesson-back' ? '◀ Back' : a.short;
        return (
          <button key={a.id} type="button" title={`${label} (${a.shortcut})`} aria-keyshortcuts={keys} aria-label={label}
            aria-pressed={a.id === 'run-freely' ? free : undefined} disabled={!enabled}
            className={a.id === 'lesson-next' ? 'primary' : undefined} onClick={() => a.perform({ client, store })}>
            {text}
          </button>
        );
      })}
      <span className="speed" title="Guest instructions per frame when running freely (+ / −)">{speed.toLocaleString('en')} instr/frame</span>
    </div>
  );
}

/**
 * A long step's progress: what it has done out of what it counts toward (StepProgress), and, once
 * a second of it was measured while it ran, the time left at the measured rate.
 */
function StepProgressBar({ progress, playing, run }: { progress: StepProgress; playing: boolean; run: number }) {
  const first = useRef<RateSample | null>(null);
  const now: RateSample = { key: `${run}:${progress.step}`, t: performance.now(), done: progress.done };
  // The rate is measured from the first frame of this step while it runs: a pause, a seek (a new
  // run) or another step starts the measure again.
  if (!playing) first.current = null;
  else if (!first.current || first.current.key !== now.key || first.current.done > now.done) first.current = now;
  const left = playing ? timeLeftMs(first.current, now, progress) : null;
  const share = progress.total > 0 ? Math.min(1, progress.done / progress.total) : 0;
  const text = progressText(progress);
  return (
    <span className="step-progress" data-testid="step-progress">
      <span className="step-progress-bar" role="progressbar" aria-label={`Step ${progress.step + 1}: ${progress.what}`}
        aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(share * 100)} aria-valuetext={text}>
        <span className="step-progress-fill" style={{ width: `${share * 100}%` }} />
      </span>
      <span className="step-progress-text">{text}</span>
      {left !== null && (
        <span className="step-progress-left" data-testid="step-time-left" title={`Estimated from the rate measured since this step started running${progress.bound === 'limit' ? '; the step may end sooner' : ''}`}>
          · {timeLeftText(left, progress.bound)}
        </span>
      )}
    </span>
  );
}
