import { useEffect, useRef, type KeyboardEvent } from 'react';
import { PRESETS } from '../../scenarios';
import { ACTIONS } from '../actions';
import { useLabClient } from '../client-context';
import { answerBook, useAnswers } from '../predict';
import { lessonCards, rememberSeen, startScreen, startStorage } from '../start-screen';
import { useLab, useLabStore } from '../store';
import { DEFAULT_PRESET } from '../url';
import './start-screen.css';

const CARDS = lessonCards();

/**
 * The start screen: what the lab is, "Start the first lesson", and every lesson as a card (its
 * title, what it shows, the question it asks). Closing it any way (a lesson, Close, Esc) remembers
 * that it was seen; H or the toolbar's Lessons opens it again.
 */
export function StartScreen() {
  const client = useLabClient();
  const store = useLabStore();
  const source = useLab((s) => s.source);
  useAnswers();
  const first = useRef<HTMLButtonElement>(null);
  const dialog = useRef<HTMLDivElement>(null);
  const opener = useRef<Element | null>(null);

  useEffect(() => {
    opener.current = document.activeElement;
    first.current?.focus();
    return () => {
      if (opener.current instanceof HTMLElement && opener.current.isConnected) opener.current.focus();
    };
  }, []);

  const close = () => {
    rememberSeen(startStorage);
    startScreen.close();
  };
  const open = (id: string) => {
    close();
    if (id !== source) void client.load(PRESETS[id], id);
  };
  // Keys stay in the dialog: Space on a card is the card's, not the lesson's next step.
  const onKey = (e: KeyboardEvent) => {
    e.stopPropagation();
    if (e.key === 'Escape') close();
    // Tab goes round the dialog's controls, not out to the lab behind it.
    if (e.key === 'Tab' && dialog.current) {
      const all = [...dialog.current.querySelectorAll<HTMLElement>('button:not([disabled])')];
      const at = all.indexOf(document.activeElement as HTMLElement);
      const next = e.shiftKey ? (at <= 0 ? all.length - 1 : -1) : at === all.length - 1 ? 0 : -1;
      if (next >= 0) {
        e.preventDefault();
        all[next].focus();
      }
    }
  };
  const clear = ACTIONS.find((a) => a.id === 'clear-answers')!;
  const kept = answerBook.count();
  const firstTitle = (PRESETS[DEFAULT_PRESET] as { title: string }).title;

  return (
    <div className="overlay start-overlay" onKeyDown={onKey}>
      <div ref={dialog} className="dialog start-screen" role="dialog" aria-modal="true" aria-labelledby="start-title" aria-describedby="start-about" data-testid="start-screen">
        <h2 id="start-title">Guest Memory Lab</h2>
        <div id="start-about" className="start-about">
          <p>
            A simulated Linux host running KVM guests, ordinary VMs and Intel TDX confidential VMs (TDs), whose
            memory you watch page by page: who maps it, who can read it, and what live migration does to it.
          </p>
          <p>
            Each lesson is a scenario of the real calls (KVM ioctls, QEMU commands, TDX module calls), played a
            step at a time: Space or → runs the next step, ← goes back. Before some steps the lab asks you to
            predict what will happen.
          </p>
        </div>
        <div className="start-actions">
          <button ref={first} type="button" className="primary" onClick={() => open(DEFAULT_PRESET)}>Start the first lesson</button>
          <span className="start-first">{firstTitle}</span>
          <button type="button" onClick={close}>Close</button>
        </div>
        <h3 id="start-lessons">The lessons</h3>
        <ul className="start-cards" aria-labelledby="start-lessons">
          {CARDS.map((c, i) => (
            <li key={c.id}>
              <button type="button" className="start-card" onClick={() => open(c.id)} aria-current={c.id === source ? 'true' : undefined}
                aria-label={`Lesson ${i + 1}: ${c.title}`} aria-describedby={`start-card-${c.id}`}>
                <span className="start-card-title">{i + 1}. {c.title}</span>
                <span id={`start-card-${c.id}`} className="start-card-text">
                  <span className="start-card-line">{c.line}</span>
                  {c.question && <span className="start-card-question">Asks: {c.question}</span>}
                </span>
              </button>
            </li>
          ))}
        </ul>
        <p className="start-foot">
          The lab runs in your browser; your answers to its questions stay in this browser{kept > 0 ? ` (${kept} kept)` : ''}.{' '}
          {kept > 0 && <button type="button" className="link" onClick={() => clear.perform({ client, store })}>{clear.short}</button>}
          {' '}H or Lessons in the toolbar brings this screen back.
        </p>
      </div>
    </div>
  );
}
