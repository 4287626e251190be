import { describe, expect, it } from 'vitest';
import type { FramePacket } from '../worker/protocol';
import { ACTIONS, handleKey } from './actions';
import type { LabClient } from './lab-client';
import { questionGate } from './predict';
import { createLabStore } from './store';

/** A packet with what the lesson actions read: playing, the pace, done, at the start, the steps (the first may ask a question). */
const packet = (o: { playing?: boolean; pace?: 'step' | 'free'; done?: boolean; atStart?: boolean; ask?: boolean }): FramePacket => ({
  playing: o.playing ?? false, pace: o.pace ?? 'step',
  frame: {
    done: o.done ?? false, timeline: { atStart: o.atStart ?? false }, stepIndex: 0, stepCount: 1, stepProgress: null,
    steps: [{ do: 'run', note: null, ask: o.ask ? { question: 'Which?', choices: ['a', 'b'], answer: 0, why: 'Because.' } : null }],
  },
}) as unknown as FramePacket;

/** A client that records what it was asked. */
function recorder() {
  const calls: string[] = [];
  const client = {
    play: () => calls.push('play'), playStep: () => calls.push('playStep'), pause: () => calls.push('pause'),
    stepBack: (k: string) => calls.push(`stepBack:${k}`),
  } as unknown as LabClient;
  return { calls, client };
}

/** A keydown as the window sees it: its target (an element's closest() answers `inField`), and whether a control used it. */
function key(k: string, o: { shift?: boolean; inField?: boolean; used?: boolean } = {}) {
  let prevented = o.used ?? false;
  return {
    key: k, shiftKey: o.shift ?? false, ctrlKey: false, metaKey: false, altKey: false,
    target: { closest: () => (o.inField ? {} : null) },
    get defaultPrevented() { return prevented; },
    preventDefault() { prevented = true; },
  } as unknown as KeyboardEvent;
}

function press(k: string, p: FramePacket, o?: Parameters<typeof key>[1]) {
  const store = createLabStore({ status: 'ready', packet: p });
  const { calls, client } = recorder();
  const handled = handleKey(key(k, o), { client, store });
  return { handled, calls };
}

describe('the lesson\'s keys', () => {
  it('Space and → run the next step at the lesson\'s pace, and pause a step that runs', () => {
    expect(press(' ', packet({})).calls).toEqual(['playStep']);
    expect(press('ArrowRight', packet({})).calls).toEqual(['playStep']);
    expect(press(' ', packet({ playing: true })).calls).toEqual(['pause']);
    expect(press('ArrowRight', packet({ playing: true, pace: 'free' })).calls).toEqual(['pause']);
  });

  it('a step that asks a question is not run by Space or →: the question opens; Run freely does not stop at it', () => {
    questionGate.close();
    expect(press(' ', packet({ ask: true })).calls).toEqual([]);
    expect(questionGate.get()).toMatchObject({ step: 0 });
    expect(press('ArrowRight', packet({ ask: true })).calls).toEqual([]);
    expect(press('f', packet({ ask: true })).calls).toEqual(['play']);
    questionGate.close();
  });

  it('← goes back a scenario step; F runs freely, goes on freely from a paced step, and pauses a free run', () => {
    expect(press('ArrowLeft', packet({})).calls).toEqual(['stepBack:step']);
    expect(press('f', packet({})).calls).toEqual(['play']);
    expect(press('f', packet({ playing: true, pace: 'step' })).calls).toEqual(['play']);
    expect(press('F', packet({ playing: true, pace: 'free' })).calls).toEqual(['pause']);
  });

  it('nothing to run at the end, nothing to go back to at the start', () => {
    expect(press(' ', packet({ done: true })).calls).toEqual([]);
    expect(press('f', packet({ done: true })).calls).toEqual([]);
    expect(press('ArrowLeft', packet({ atStart: true })).calls).toEqual([]);
  });

  it('keys typed in a field or the editor, and keys a focused control used, are not taken', () => {
    for (const k of [' ', 'ArrowRight', 'ArrowLeft', 'f']) {
      expect(press(k, packet({}), { inField: true })).toEqual({ handled: false, calls: [] });
      expect(press(k, packet({}), { used: true })).toEqual({ handled: false, calls: [] });
    }
    // Shift+← is not ← (the step-back keys are Shift + a letter).
    expect(press('ArrowLeft', packet({}), { shift: true }).calls).toEqual([]);
  });

  it('every shortcut is one action\'s: no key runs two', () => {
    const keys = [' ', 'ArrowRight', 'ArrowLeft', 'f', 's', 'S', 'n', 'i', 'e'];
    for (const k of keys) {
      for (const shift of [false, true]) {
        const e = key(k, { shift });
        expect(ACTIONS.filter((a) => a.keyTest(e)).length, `${shift ? 'Shift+' : ''}${k}`).toBeLessThanOrEqual(1);
      }
    }
  });
});
