import { describe, expect, it } from 'vitest';
import type { FramePacket } from '../worker/protocol';
import { shownStep, showPatch } from './step-show';
import { createLabStore } from './store';

type Show = NonNullable<FramePacket['frame']['steps'][number]['show']>;

/** A packet at `stepIndex` (steps done), stopped, with these steps' shows. */
const packet = (stepIndex: number, shows: (Show | null)[], pace: 'step' | 'free' = 'step'): FramePacket => ({
  playing: false, pace, run: 1,
  frame: {
    done: false, stepIndex, stepCount: shows.length, stepProgress: null, timeline: { atStart: stepIndex === 0 },
    steps: shows.map((show) => ({ do: 'run', note: 'n', show })),
    vms: [{ name: 'a', host: 'h0' }, { name: 'b', host: 'h0' }],
  },
}) as unknown as FramePacket;

describe('a lesson step\'s show', () => {
  it('is the show of the step the narration is about: the first step at the start, the one just ended after', () => {
    const shows: Show[] = [{ panel: 'surface' }, { panel: 'trace', row: 4 }];
    expect(shownStep(packet(0, shows))).toEqual({ step: 0, show: { panel: 'surface' } });
    expect(shownStep(packet(2, shows))?.step).toBe(1);
    expect(shownStep(packet(1, [null, { panel: 'host' }]))).toBeNull();
  });

  it('is brought forward at the lesson\'s pace and at its start, not while running freely or stepping before any paced play', () => {
    const shows: Show[] = [{ panel: 'surface' }, { panel: 'trace' }];
    expect(shownStep(packet(0, shows, 'free'))?.step).toBe(0);
    expect(shownStep(packet(2, shows, 'free'))).toBeNull();
    expect(shownStep(packet(2, shows, 'step'))?.step).toBe(1);
  });

  it('maximises the panel or opens the surface view, focuses the VM, zooms to its pages, selects the row', () => {
    const s = createLabStore({ packet: packet(0, []) }).getState();
    expect(showPatch(s, { panel: 'surface' })).toMatchObject({ view: 'surface', maximized: null });
    const p = showPatch(s, { panel: 'translation', vm: 'b', pages: { first: 0x200, count: 2 }, row: 7 });
    expect(p).toMatchObject({
      view: 'memory', maximized: 'translation', focusVm: { host: 'h0', vm: 'b' },
      focusPages: { host: 'h0', vm: 'b', first: 0x200, count: 2 }, selection: { host: 'h0', vm: 'b', gfn: 0x200 },
      selectedEvent: { seq: 7 },
    });
    // The same pages asked again are a new request (the map is brought back to them).
    expect(showPatch(s, { pages: { first: 1, count: 1 } }).focusPages!.key).not.toBe(p.focusPages!.key);
    // Without a vm, the pages are the focused VM's, else the first's.
    expect(showPatch(s, { pages: { first: 1, count: 1 } }).focusPages!.vm).toBe('a');
  });
});
