import { useState } from 'react';
import { useLab } from '../store';

/** The lesson's title and explanation, where the scenario is, and the narration line. */
export function LessonBar() {
  const frame = useLab((s) => s.packet?.frame);
  // The explanation shows two lines until opened: at 1280×720 the panels need the height.
  const [open, setOpen] = useState(false);
  if (!frame) return <section className="lesson" aria-label="Lesson"><p>Loading the lab…</p></section>;
  const next = frame.steps[frame.stepIndex];
  const last = frame.results[frame.results.length - 1];
  return (
    <section className="lesson" aria-label="Lesson">
      <div className="lesson-head">
        <h2>{frame.title}</h2>
        <span className="progress" data-testid="progress">
          Step {Math.min(frame.stepIndex + (frame.done ? 0 : 1), frame.stepCount)} of {frame.stepCount}{frame.done ? ' · finished' : ''}
        </span>
        <button type="button" className="link" aria-expanded={open} onClick={() => setOpen(!open)}>{open ? 'Shorten the explanation' : 'Read the whole explanation'}</button>
      </div>
      <p className={open ? 'explanation' : 'explanation clamped'}>{frame.explanation}</p>
      <p className="next">
        {next ? <>Next: <code>{next.do}</code>{next.note ? ` — ${next.note}` : ''}</> : last ? <>Last step: <code>{last.do}</code> → {last.ret === -1 ? `-1 ${last.errno}` : String(last.ret)}{last.why ? ` (${last.why})` : ''}</> : null}
      </p>
      <p className="narration" role="status" aria-live="polite" data-testid="narration">{frame.narration}</p>
    </section>
  );
}
