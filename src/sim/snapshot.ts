/**
 * Snapshots of a whole run: its world (World.saveState: the clock, the trace, the random numbers,
 * every host's memory, processes, KVM, TDX module, VMMs with their devices, guest CPUs and kernels)
 * and the runner's position (ScenarioRun.savePosition: next step, the run step in progress, results
 * so far), as one plain, structured-clonable value. Restoring builds a fresh run from the same
 * scenario (the constructors make the structure and its wiring: closures, notifiers, compiled
 * programs), loads the world's state into it (making again the parts steps made since) and then the
 * position. The restored run behaves exactly as the original would have (snapshot.test.ts proves it
 * on every preset).
 */
import { ScenarioRun, type RunPosition } from './scenario/runner';
import { parseScenario, type ScenarioT } from './scenario/schema';
import type { WorldState } from './world/world';

export const SNAPSHOT_FORMAT = 'guest-memory-lab/snapshot';
export const SNAPSHOT_VERSION = 1;

/** A saved run: plain data (structuredClone and postMessage carry it; JSON does not: typed arrays, bigints, Maps). */
export interface RunSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: typeof SNAPSHOT_VERSION;
  /** The scenario's title and seed, to catch a snapshot restored with another scenario. */
  title: string;
  seed: number;
  /** Where the run was, for a reader (the same values are in `run` and `world`). */
  next: number;
  events: number;
  time_ns: number;
  world: WorldState;
  run: RunPosition;
}

/** Save a run, wherever it is (between steps or inside a run step advanced by slices). */
export function snapshotRun(run: ScenarioRun): RunSnapshot {
  return {
    format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, title: run.scenario.title, seed: run.scenario.seed,
    next: run.next, events: run.trace.count, time_ns: run.clock.now,
    world: run.world.saveState(), run: run.savePosition(),
  };
}

/**
 * A fresh run of `scenario` put in the state `snap` saved: it continues exactly as the saved run
 * would have. Throws with a clear message when the snapshot is not one, or is of another scenario.
 */
export function restoreRun(scenario: ScenarioT | unknown, snap: RunSnapshot): ScenarioRun {
  if (snap?.format !== SNAPSHOT_FORMAT) throw new Error(`not a snapshot (format is ${JSON.stringify(snap?.format)}, expected "${SNAPSHOT_FORMAT}")`);
  if (snap.version !== SNAPSHOT_VERSION) throw new Error(`snapshot version ${snap.version} is not supported (this build reads version ${SNAPSHOT_VERSION})`);
  const sc = parseScenario(scenario);
  if (sc.title !== snap.title || sc.seed !== snap.seed)
    throw new Error(`the snapshot is of scenario "${snap.title}" (seed ${snap.seed}), not of "${sc.title}" (seed ${sc.seed})`);
  return restoreRunInto(new ScenarioRun(sc), snap);
}

/**
 * Put an existing run of the same scenario (at any point of any timeline) in the state `snap`
 * saved, in place: what the fresh run's constructors would build (hosts' frame arrays, the VMs the
 * scenario declares, booted firmware) is reused instead of built again, which is most of a
 * restore's cost. Parts the run made after the snapshot are dropped, parts it lacks are made; the
 * run then continues exactly as the saved one would have (snapshot.test.ts). Returns `run`.
 */
export function restoreRunInto(run: ScenarioRun, snap: RunSnapshot): ScenarioRun {
  if (snap?.format !== SNAPSHOT_FORMAT) throw new Error(`not a snapshot (format is ${JSON.stringify(snap?.format)}, expected "${SNAPSHOT_FORMAT}")`);
  if (run.scenario.title !== snap.title || run.scenario.seed !== snap.seed)
    throw new Error(`the snapshot is of scenario "${snap.title}" (seed ${snap.seed}), not of "${run.scenario.title}" (seed ${run.scenario.seed})`);
  run.world.loadState(snap.world);
  run.loadPosition(snap.run);
  return run;
}
