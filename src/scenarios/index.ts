import hostReadsSecret from './host-reads-secret.json';
import sharedBuffer from './shared-buffer.json';
import lazyAccept from './lazy-accept.json';
import selftestByHand from './selftest-by-hand.json';
import fourGigabytes from './four-gigabytes.json';
import msrFilter from './msr-filter.json';
import platformUpstream from './platform-upstream.json';
import platformTalk from './platform-talk.json';
import twoHosts from './two-hosts.json';
import precopyConverges from './precopy-converges.json';
import precopyHotSet from './precopy-hot-set.json';
import precopyDirtyLimit from './precopy-dirty-limit.json';
import dirtyRing from './dirty-ring.json';
import tdMigration from './td-migration.json';
import postcopyFaults from './postcopy-faults.json';
import postcopyLinkFailure from './postcopy-link-failure.json';
import postcopyPrivateMemory from './postcopy-private-memory.json';

/**
 * The preset lessons, by id. The app and the CLI load the same files. Ids come from users (the CLI's
 * argument, `?preset=`), so the table has no prototype (`toString` is not a lesson) and is looked up
 * with `presetById` / `isPresetId`.
 */
export const PRESETS: Readonly<Record<string, unknown>> = Object.freeze(Object.assign(Object.create(null) as Record<string, unknown>, {
  'host-reads-secret': hostReadsSecret,
  'shared-buffer': sharedBuffer,
  'lazy-accept': lazyAccept,
  'selftest-by-hand': selftestByHand,
  'four-gigabytes': fourGigabytes,
  'platform-upstream': platformUpstream,
  'platform-talk': platformTalk,
  'msr-filter': msrFilter,
  'two-hosts': twoHosts,
  'precopy-converges': precopyConverges,
  'precopy-hot-set': precopyHotSet,
  'precopy-dirty-limit': precopyDirtyLimit,
  'dirty-ring': dirtyRing,
  'td-migration': tdMigration,
  'postcopy-faults': postcopyFaults,
  'postcopy-link-failure': postcopyLinkFailure,
  'postcopy-private-memory': postcopyPrivateMemory,
}));

/** Is `id` a preset's id (its own entry, never a name from Object.prototype)? */
export function isPresetId(id: string): boolean {
  return Object.hasOwn(PRESETS, id);
}

/** The preset `id`, or undefined. */
export function presetById(id: string): unknown {
  return isPresetId(id) ? PRESETS[id] : undefined;
}

/**
 * Presets too big to run to the end in a unit test (they touch gigabytes page by page). Tests run
 * them with a capped instruction budget instead (withInstructionCap).
 */
export const HEAVY_PRESETS: ReadonlySet<string> = new Set(['four-gigabytes']);

/** A copy of a scenario whose run steps stop after at most `cap` instructions each. */
export function withInstructionCap(scenario: unknown, cap: number): unknown {
  const s = structuredClone(scenario) as { steps: { do: string; max_instructions?: number }[] };
  for (const st of s.steps) if (st.do === 'run') st.max_instructions = Math.min(st.max_instructions ?? cap, cap);
  return s;
}
