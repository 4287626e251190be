import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { ACTIONS } from '../actions';
import { useLabClient } from '../client-context';
import {
  answerBook, answeredQuestion, givenText, lessonOf, questionGate, rightAnswerText, upcomingQuestion, useAnswers, useOpenQuestion,
  type AskT, type Given, type StoredAnswer,
} from '../predict';
import { useLab, useLabStore } from '../store';
import './question.css';

/**
 * Predict, then see (predict.ts): under the narration, the open question of the step the student
 * asked to run (choices or a number; Answer runs the step, Skip runs it unanswered), or, once the
 * step runs, what they answered, whether it was right and why.
 */
export function Question() {
  const packet = useLab((s) => s.packet);
  const source = useLab((s) => s.source);
  useAnswers();
  const open = useOpenQuestion();
  if (!packet) return null;
  const lesson = lessonOf({ source, packet });
  const lookup = (step: number, ask: AskT) => answerBook.get(lesson, step, ask.question);
  const upcoming = upcomingQuestion(packet, (step, ask) => lookup(step, ask) !== null);
  const asking = open && upcoming && open.lesson === lesson && open.step === upcoming.step ? upcoming : null;
  if (asking && open) return <Ask key={`${lesson}:${asking.step}`} lesson={lesson} step={asking.step} ask={asking.ask} focus={open.focus} count={packet.frame.stepCount} />;
  const answered = answeredQuestion(packet, lookup);
  if (answered) return <Feedback step={answered.step} ask={answered.ask} answer={answered.answer} />;
  return <CloseStale open={open !== null} />;
}

/** An open question the lesson moved away from (Run freely, ←, another lesson) is closed. */
function CloseStale({ open }: { open: boolean }) {
  useEffect(() => {
    if (open) questionGate.close();
  }, [open]);
  return null;
}

function Ask({ lesson, step, ask, focus, count }: { lesson: string; step: number; ask: AskT; focus: number; count: number }) {
  const client = useLabClient();
  const id = useId();
  const form = useRef<HTMLFormElement>(null);
  const [choice, setChoice] = useState<number | null>(null);
  const [text, setText] = useState('');
  const numeric = ask.choices === undefined;
  const number = text.trim() === '' ? NaN : Number(text);
  const given: Given | null = numeric ? (Number.isFinite(number) ? { number } : null) : choice !== null ? { choice } : null;

  // Opening the question (and every further Space or →) puts the keyboard on it.
  useEffect(() => {
    const f = form.current;
    (f?.querySelector<HTMLInputElement>('input:checked') ?? f?.querySelector<HTMLInputElement>('input'))?.focus();
  }, [focus]);

  const run = () => {
    questionGate.close();
    void client.playStep();
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!given) return;
    answerBook.put(lesson, step, ask, given);
    run();
  };
  return (
    <section className="question" aria-labelledby={`${id}-q`} data-testid="question">
      <form ref={form} onSubmit={submit}>
        <p className="question-text" id={`${id}-q`}>
          <span className="question-tag">Predict · before step {step + 1} of {count}</span> {ask.question}
        </p>
        {numeric ? (
          <div className="question-number">
            <label htmlFor={`${id}-n`}>Your answer</label>
            <input id={`${id}-n`} type="text" inputMode="decimal" autoComplete="off" value={text} onChange={(e) => setText(e.target.value)}
              aria-describedby={`${id}-q ${id}-u`} aria-invalid={text.trim() !== '' && !Number.isFinite(number)} />
            <span id={`${id}-u`}>{ask.unit ?? ''}</span>
            {text.trim() !== '' && !Number.isFinite(number) && <span className="question-error" role="alert">a number, please (digits, a point, an exponent)</span>}
          </div>
        ) : (
          <div className="question-choices" role="radiogroup" aria-labelledby={`${id}-q`}>
            {ask.choices!.map((c, i) => (
              <label key={c} className={choice === i ? 'chosen' : undefined}>
                <input type="radio" name={`${id}-choice`} value={i} checked={choice === i} onChange={() => setChoice(i)} />
                {c}
              </label>
            ))}
          </div>
        )}
        <div className="question-actions">
          <button type="submit" className="primary" disabled={!given}>Answer and run step {step + 1}</button>
          <button type="button" onClick={run}>Skip: run it</button>
          <span className="question-hint">Nothing of step {step + 1} is shown until it runs.</span>
        </div>
      </form>
    </section>
  );
}

function Feedback({ step, ask, answer }: { step: number; ask: AskT; answer: StoredAnswer }) {
  const client = useLabClient();
  const store = useLabStore();
  const clear = ACTIONS.find((a) => a.id === 'clear-answers')!;
  return (
    <section className={answer.right ? 'question answered right' : 'question answered wrong'} aria-label={`Your answer to step ${step + 1}'s question`} data-testid="question-feedback">
      <p className="question-text">
        <span className="question-tag">Step {step + 1} asked</span> {ask.question}
      </p>
      <p role="status" data-testid="question-verdict">
        {answer.right
          ? <><strong className="verdict">✓ Right:</strong> {givenText(ask, answer.given)}.</>
          : <><strong className="verdict">✗ Not quite:</strong> you said {givenText(ask, answer.given)}; the answer is {rightAnswerText(ask)}.</>}
      </p>
      <p className="question-why" data-testid="question-why">{ask.why}</p>
      <button type="button" className="link" title={clear.label} onClick={() => clear.perform({ client, store })}>{clear.short}</button>
    </section>
  );
}
