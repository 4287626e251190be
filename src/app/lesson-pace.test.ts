import { describe, expect, test } from 'vitest';
import type { FramePacket, StepProgress } from '../worker/protocol';
import { formatNs, lessonPosition, progressText, timeLeftMs, timeLeftText } from './lesson-pace';

const steps = [{ do: 'run', note: 'The guest boots.' }, { do: 'host_read', note: null }, { do: 'run_until', note: 'Time passes.' }];

/** A packet with only what lessonPosition reads. */
function packet(stepIndex: number, o: { playing?: boolean; pace?: 'step' | 'free'; progress?: StepProgress | null } = {}): FramePacket {
  const frame = { stepIndex, stepCount: steps.length, steps, done: stepIndex >= steps.length, stepProgress: o.progress ?? null };
  return { playing: o.playing ?? false, pace: o.pace ?? 'step', frame } as unknown as FramePacket;
}
const inStep = (step: number): StepProgress => ({ step, unit: 'instructions', done: 10, total: 100, bound: 'limit', what: 'guest instructions' });

describe('lessonPosition', () => {
  test('at the start the lesson is ready to run step 1, and gives no step\'s note away', () => {
    expect(lessonPosition(packet(0))).toEqual({ phase: 'ready', step: 0, count: 3, free: false, note: null });
  });
  test('a running step is the one the narration is about; so is one paused inside', () => {
    expect(lessonPosition(packet(0, { playing: true }))).toMatchObject({ phase: 'running', step: 0, note: 'The guest boots.', free: false });
    expect(lessonPosition(packet(2, { playing: true, pace: 'free' }))).toMatchObject({ phase: 'running', step: 2, free: true });
    expect(lessonPosition(packet(0, { progress: inStep(0) }))).toMatchObject({ phase: 'paused', step: 0, note: 'The guest boots.' });
  });
  test('between steps the lesson waits at the end of the step that ran; a step without a note says what it does', () => {
    expect(lessonPosition(packet(1))).toMatchObject({ phase: 'waiting', step: 0, note: 'The guest boots.' });
    expect(lessonPosition(packet(2))).toMatchObject({ phase: 'waiting', step: 1, note: 'This step runs host_read.' });
  });
  test('at the end the last step is shown, finished', () => {
    expect(lessonPosition(packet(3))).toMatchObject({ phase: 'finished', step: 2, note: 'Time passes.' });
  });
});

describe('progress and the estimate', () => {
  const p = (done: number, total: number, bound: StepProgress['bound'] = 'target', unit: StepProgress['unit'] = 'instructions'): StepProgress => ({ step: 0, unit, done, total, bound, what: unit === 'ns' ? 'virtual time' : 'guest instructions' });
  test('what is done out of what, saying when the total is only a limit', () => {
    expect(progressText(p(1_200_000, 20_000_000, 'limit'))).toBe('1,200,000 of at most 20,000,000 guest instructions');
    expect(progressText(p(1.2e9, 3e9, 'target', 'ns'))).toBe('1.20 s of 3.00 s virtual time');
    expect([formatNs(850), formatNs(27_000), formatNs(3_400_000)]).toEqual(['850 ns', '27.0 µs', '3.40 ms']);
  });
  test('the time left comes from the rate measured on this step, and only after a second of it', () => {
    const first = { key: '1:0', t: 1000, done: 0 };
    expect(timeLeftMs(first, { key: '1:0', t: 1500, done: 500 }, p(500, 10_000))).toBeNull();
    // 2,000 in 2 s: 1 per ms; 8,000 left: 8 s.
    expect(timeLeftMs(first, { key: '1:0', t: 3000, done: 2000 }, p(2000, 10_000))).toBe(8000);
    expect(timeLeftMs(first, { key: '1:1', t: 3000, done: 2000 }, p(2000, 10_000))).toBeNull();
    expect(timeLeftMs(first, { key: '1:0', t: 3000, done: 0 }, p(0, 10_000))).toBeNull();
    expect(timeLeftMs(null, { key: '1:0', t: 3000, done: 2000 }, p(2000, 10_000))).toBeNull();
  });
  test('the estimate says "at most" when the step may end before its total', () => {
    expect(timeLeftText(8000, 'target')).toBe('about 8 s left');
    expect(timeLeftText(180_000, 'limit')).toBe('at most about 3 min left');
    expect(timeLeftText(400, 'target')).toBe('under a second left');
  });
});
