import { describe, expect, it } from 'vitest';
import { ACTIONS } from './actions';
import { EXPORT_ACTIONS, exportAction } from './export-actions';
import { mapSource, offerMap, offerTrace, traceSource } from './export';
import { createLabStore, type LabState } from './store';

/** A loaded lesson's state, with `migrations` migrations in its frame. */
function loaded(over: Partial<LabState> = {}, migrations = 0): LabState {
  const packet = { frame: { migrations: Array.from({ length: migrations }, () => ({})) } } as unknown as LabState['packet'];
  return createLabStore({ status: 'ready', packet, ...over }).getState();
}

describe('the export entries of the action registry', () => {
  it('are in the registry, with keys that no other entry answers', () => {
    for (const a of EXPORT_ACTIONS) expect(ACTIONS).toContain(a);
    const keys = [['o', false], ['o', true], ['w', false], ['k', false], ['k', true]] as const;
    for (const [key, shift] of keys) {
      const e = { key: shift ? key.toUpperCase() : key, shiftKey: shift, ctrlKey: false, metaKey: false, altKey: false } as KeyboardEvent;
      const hits = ACTIONS.filter((a) => a.keyTest(e)).map((a) => a.id);
      expect(hits, `${shift ? 'Shift+' : ''}${key}`).toHaveLength(1);
      expect(hits[0]).toMatch(/^export-/);
    }
  });

  it('say why they are disabled: nothing loaded, another view, their panel hidden, no migration', () => {
    const csv = exportAction('export-trace-csv');
    expect(csv.why!(createLabStore().getState())).toBe('No lesson is loaded yet.');
    expect(csv.why!(loaded({ view: 'surface' }))).toBe('The trace panel is in the memory view: press V.');
    expect(csv.why!(loaded({ maximized: 'host' }))).toBe('The trace panel is not shown: restore the grid (Esc).');
    expect(csv.why!(loaded({ maximized: 'trace' }))).toBeNull();
    expect(csv.enabled!(loaded())).toBe(true);
    expect(exportAction('export-map-png').why!(loaded({ maximized: 'host' }))).toBeNull();
    expect(exportAction('export-map-png').why!(loaded({ maximized: 'trace' }))).toBe('The page map is not shown: restore the grid (Esc).');
    expect(exportAction('export-chart-svg').why!(loaded())).toBe('No migration yet: the chart appears once one starts.');
    expect(exportAction('export-chart-png').why!(loaded({}, 1))).toBeNull();
    expect(exportAction('export-report').why!(loaded({ view: 'surface' }))).toBeNull();
  });
});

describe('what the panels offer', () => {
  it('is per store, and withdrawn when the panel goes', () => {
    const a = createLabStore(), b = createLabStore();
    const withdraw = offerTrace(a, () => ({ events: [], notes: [] }));
    expect(traceSource(a)).not.toBeNull();
    expect(traceSource(b)).toBeNull();
    withdraw();
    expect(traceSource(a)).toBeNull();
  });

  it('picks the focused VM\'s page map, else a guest\'s, else a host\'s', () => {
    const s = createLabStore();
    const host = { ref: null, name: 'host0-frames', canvases: () => [] };
    const td = { ref: { host: 'h', vm: 'td' }, name: 'td', canvases: () => [] };
    const vm = { ref: { host: 'h', vm: 'vm' }, name: 'vm', canvases: () => [] };
    offerMap(s, host);
    expect(mapSource(s, null)).toBe(host);
    offerMap(s, td);
    const gone = offerMap(s, vm);
    expect(mapSource(s, null)).toBe(td);
    expect(mapSource(s, { host: 'h', vm: 'vm' })).toBe(vm);
    gone();
    expect(mapSource(s, { host: 'h', vm: 'vm' })).toBe(td);
  });
});
