/**
 * The lab's URL names a moment, versioned (Relay's explorer does the same):
 *
 *   ?v=2&preset=<id>[&e=<event>][&c=<commands>]
 *   ?v=2&scenario=<scenario>[&e=<event>][&c=<commands>]
 *
 * `preset` is a lesson's id; `scenario` an imported or edited scenario as base64url of its JSON
 * (UTF-8). `e` is the event number of the moment: opening the link lands right after that event
 * (Lab.seek). `c` is the user's commands, base64url of a JSON list of {step, instr, command}, each
 * applied where it was given. Version 1 links (`?v=1&preset=<id>`) named only a lesson: they open its
 * start, as they always did. Anything else that cannot be read gets a message and the first lesson's start,
 * never a broken lab.
 */
import { PRESETS, isPresetId } from '../scenarios';

export const URL_VERSION = '2';
/** The most scenario JSON the lab takes from a link or a file: LIMITS.scenarioBytes (url.test.ts checks they agree), refused before it is parsed. */
export const MAX_SCENARIO_BYTES = 1024 * 1024;
/** A base64url text of at most MAX_SCENARIO_BYTES bytes is at most this long. */
const MAX_PARAM_CHARS = Math.ceil(MAX_SCENARIO_BYTES / 3) * 4;
export const DEFAULT_PRESET = 'host-reads-secret';

/** What a link asks for. */
export interface LinkState {
  /** A preset id, or null with `scenario` set. */
  preset: string | null;
  scenario: unknown;
  /** The user's commands, as Lab.parseCommands reads them (checked there). */
  commands: unknown[];
  /** The moment's event number; null: the lesson's start. */
  event: number | null;
}

export interface UrlState extends LinkState {
  /** Why the link was not followed as it is (then the state is the first lesson's start), or a note. */
  problem: string | null;
}

const START: LinkState = { preset: DEFAULT_PRESET, scenario: null, commands: [], event: null };

function encode(value: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decode(text: string, what: string): unknown {
  let bin: string;
  try {
    bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    throw new Error(`its ${what} is not base64url text`);
  }
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Error(`its ${what} is not JSON (${(e as Error).message})`);
  }
}

const fallback = (problem: string): UrlState => ({ ...START, problem: `${problem}. Showing the start of the first lesson instead.` });

/** Flags a link may carry beside the moment, kept when the address bar follows the lesson: debug=1 (test hooks), present=1 (presenter mode). */
export const FLAGS: readonly string[] = ['debug', 'present'];

/** Read a link's query string. Never throws: a link that cannot be followed says why. */
export function readUrl(search: string): UrlState {
  const q = new URLSearchParams(search);
  const v = q.get('v');
  if (v === null && [...q.keys()].every((k) => FLAGS.includes(k))) return { ...START, problem: null };
  // Version 1 named a lesson and nothing else: its start is all it meant, so it still opens as it did.
  if (v === '1' && [...q.keys()].every((k) => k === 'v' || k === 'preset' || FLAGS.includes(k))) {
    const p = q.get('preset');
    if (p === null) return { ...START, problem: null };
    if (!isPresetId(p)) return fallback(`There is no lesson "${p}" (lessons: ${Object.keys(PRESETS).join(', ')})`);
    return { ...START, preset: p, problem: null };
  }
  if (v !== URL_VERSION) return fallback(`This link is for lab URL version ${v ?? '(none)'}; this lab reads version ${URL_VERSION}`);
  const preset = q.get('preset');
  const scenarioText = q.get('scenario');
  if ((preset === null) === (scenarioText === null)) return fallback('The link must name either a lesson (preset=) or a scenario (scenario=), and not both');
  if (preset !== null && !isPresetId(preset)) return fallback(`There is no lesson "${preset}" (lessons: ${Object.keys(PRESETS).join(', ')})`);
  for (const [name, what] of [['scenario', 'scenario'], ['c', 'command list']] as const) {
    const text = q.get(name);
    if (text !== null && text.length > MAX_PARAM_CHARS) return fallback(`The link's ${what} is ${text.length.toLocaleString('en')} characters long, more than a ${MAX_SCENARIO_BYTES / 1024 / 1024} MiB scenario can be`);
  }
  let scenario: unknown = null;
  let commands: unknown[] = [];
  try {
    if (scenarioText !== null) scenario = decode(scenarioText, 'scenario');
    const c = q.get('c');
    if (c !== null) {
      const parsed = decode(c, 'command list');
      if (!Array.isArray(parsed)) throw new Error('its command list is not a list');
      commands = parsed;
    }
  } catch (e) {
    return fallback(`The link could not be read: ${(e as Error).message}`);
  }
  const e = q.get('e');
  let event: number | null = null;
  if (e !== null) {
    if (!/^\d{1,15}$/.test(e)) return fallback(`The link's event number "${e}" is not a whole number`);
    event = Number(e);
  }
  return { preset, scenario, commands, event, problem: null };
}

/** The query string of a link to a moment. */
export function printUrl(s: LinkState): string {
  const q = new URLSearchParams({ v: URL_VERSION });
  if (s.preset !== null) q.set('preset', s.preset);
  else q.set('scenario', encode(s.scenario));
  if (s.event !== null) q.set('e', String(s.event));
  if (s.commands.length) q.set('c', encode(s.commands));
  return `?${q.toString()}`;
}

/** Put a link in the address bar (replacing the entry: moving through a lesson is not navigation). */
export function writeUrl(s: LinkState | null): void {
  const url = new URL(window.location.href);
  const flags = FLAGS.map((f) => [f, url.searchParams.get(f)] as const);
  url.search = s ? printUrl(s) : '';
  for (const [f, value] of flags) if (value !== null) url.searchParams.set(f, value);
  if (url.href !== window.location.href) window.history.replaceState(null, '', url);
}
