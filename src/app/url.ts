/**
 * The lab's URL state, versioned: `?v=1&preset=<id>`. An unknown version or preset gets a message
 * and the default lesson, never a blank page.
 */
import { PRESETS } from '../scenarios';

export const URL_VERSION = '1';
export const DEFAULT_PRESET = 'host-reads-secret';

export interface UrlState {
  preset: string;
  problem: string | null;
}

export function readUrl(search: string): UrlState {
  const q = new URLSearchParams(search);
  const v = q.get('v');
  if (v !== null && v !== URL_VERSION) return { preset: DEFAULT_PRESET, problem: `This link is for lab URL version ${v}; this lab reads version ${URL_VERSION}. Showing the first lesson instead.` };
  const p = q.get('preset');
  if (p === null) return { preset: DEFAULT_PRESET, problem: null };
  if (!(p in PRESETS)) return { preset: DEFAULT_PRESET, problem: `There is no lesson "${p}" (lessons: ${Object.keys(PRESETS).join(', ')}). Showing the first lesson instead.` };
  return { preset: p, problem: null };
}

export function writeUrl(preset: string | null): void {
  const url = new URL(window.location.href);
  url.search = preset ? `?v=${URL_VERSION}&preset=${encodeURIComponent(preset)}` : '';
  window.history.replaceState(null, '', url);
}
