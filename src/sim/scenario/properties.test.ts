/**
 * The isolation invariants (src/sim/test-invariants.ts) in CI: each at least 100 runs from its own
 * seed (propertyRuns: FUZZ_RUNS for more; npm run fuzz runs each 10,000 times), with what the runs
 * must have covered; and every preset's report is the same twice.
 */
import { describe, expect, it } from 'vitest';
import { HEAVY_PRESETS, PRESETS, withInstructionCap } from '../../scenarios';
import { propertyRuns } from '../../test-properties';
import { INVARIANTS, checkInvariant, type Tally } from '../test-invariants';
import { ScenarioRun } from './runner';

/** What each invariant's runs must reach, or the property proved nothing (names as the tally counts them). */
const MUST_COVER: Record<string, (t: Tally) => void> = {
  'vmm-never-maps-gmem': (t) => {
    for (const k of ['sw-protected', 'tdx', 'sw-protected, discard_on_convert', 'tdx, discard_on_convert']) expect(t.get(k), k).toBeGreaterThan(0);
  },
  'content-rules': (t) => {
    for (const k of ['converted back to shared', 'punched a private page', 'host read a private page whose private bytes differ']) expect(t.get(k), k).toBeGreaterThan(0);
  },
  'no-host-read-of-private': (t) => {
    expect(t.get('tdx: private bytes written')).toBeGreaterThan(0);
    // The control: the same scan finds private bytes where they are readable.
    expect(t.get('sw-protected: a physical read shows private bytes (it encrypts nothing)')).toBeGreaterThan(0);
  },
  'migration-stream': (t) => {
    expect(t.get('default: migration completed')).toBeGreaterThan(0);
    // TDs migrate (the TDX module's and the talk's designs) with their secret nowhere the host can read.
    expect(t.get('tdx: migration completed')).toBeGreaterThan(0);
  },
  determinism: (t) => expect(t.get('ran')).toBeGreaterThan(0),
  'postcopy-exactly-once': (t) => {
    for (const k of ['post-copy', 'post-copy with a link cut and a recovery', 'a vCPU faulted', 'a TD through the TDX module']) expect(t.get(k), k).toBeGreaterThan(0);
  },
};

describe('isolation invariants', () => {
  it.each(INVARIANTS.map((inv) => [inv.name, inv] as const))('%s', (name, inv) => {
    const r = checkInvariant(inv, propertyRuns(inv.seed));
    expect(r.failure ?? null, `${inv.claim}\n`).toBeNull();
    expect(r.runs).toBeGreaterThanOrEqual(100);
    MUST_COVER[name](r.tally);
  }, 300_000);

  it('every invariant says what its runs must cover', () => {
    expect(Object.keys(MUST_COVER).sort()).toEqual(INVARIANTS.map((i) => i.name).sort());
  });
});

describe('determinism of the presets', () => {
  it.each(Object.keys(PRESETS))('preset %s gives the same report twice', (id) => {
    const input = HEAVY_PRESETS.has(id) ? withInstructionCap(PRESETS[id], 200_000) : PRESETS[id];
    const a = JSON.stringify(ScenarioRun.fromJson(input).runAll());
    const b = JSON.stringify(ScenarioRun.fromJson(input).runAll());
    expect(a).toBe(b);
    expect(a.length).toBeGreaterThan(1000);
  });
});
