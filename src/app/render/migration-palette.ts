/**
 * Colours of the migration page states (src/sim/core/migration-page-state.ts), one list per theme,
 * for both page maps of the migration panel; the legend reads the same list. Families: to send =
 * grey (not yet) and vermilion (dirty again after a sync); on the wire = blue; sent = bluish green
 * (pale for zero pages); written after its send = amber; on the destination, a stale copy = reddish
 * purple. Okabe–Ito colours, so they stay apart for colour-blind viewers.
 *
 * Post-copy on the destination (codes 11..15, shown beside "arrived" for the pages pre-copy kept):
 * missing = the same grey as awaiting (not here yet); requested = vermilion, the loudest colour of
 * the map (a vCPU waits for it); in the background = sky blue; by a fault = reddish purple; zero =
 * yellow. None of them is green, so the pre-copied pages stay apart; the five differ in lightness as
 * well as hue (they still read apart on a washed-out projector and in greyscale).
 */
import { colorWord, type PaletteTheme } from './page-palette';

export const MIGRATION_STATE_COLORS: Record<PaletteTheme, readonly string[]> = {
  light: [
    'transparent',
    '#c4c4c4', // 1 src: not sent yet
    '#d55e00', // 2 src: dirty since the last sync
    '#0072b2', // 3 src: being sent
    '#009e73', // 4 src: sent, clean
    '#e69f00', // 5 src: sent, dirtied again
    '#a8dcc8', // 6 src: sent as zero page
    '#c4c4c4', // 7 dst: awaiting
    '#009e73', // 8 dst: arrived
    '#a8dcc8', // 9 dst: arrived as zero
    '#cc79a7', // 10 dst: stale
    '#c4c4c4', // 11 dst post-copy: missing
    '#d55e00', // 12 dst post-copy: requested (in flight)
    '#56b4e9', // 13 dst post-copy: in the background
    '#a2367f', // 14 dst post-copy: by a fault
    '#f0e442', // 15 dst post-copy: zero page
  ],
  dark: [
    'transparent',
    '#4c4f55',
    '#ff7a3d',
    '#4fb3ff',
    '#1fc49a',
    '#ffb11f',
    '#2f6b59',
    '#4c4f55',
    '#1fc49a',
    '#2f6b59',
    '#e59ac4',
    '#4c4f55',
    '#ff6a1f',
    '#2d7fb8',
    '#e59ac4',
    '#e8dc3a',
  ],
};

const cache = new Map<PaletteTheme, Uint32Array>();

/** The palette as 256 words for the page-map renderer (unknown codes magenta). */
export function migrationPalette(theme: PaletteTheme): Uint32Array {
  let p = cache.get(theme);
  if (!p) {
    p = new Uint32Array(256).fill(colorWord('#ff00ff'));
    MIGRATION_STATE_COLORS[theme].forEach((c, i) => (p![i] = colorWord(c)));
    cache.set(theme, p);
  }
  return p;
}

/**
 * The fault timeline's colours, by how a fault was served (POSTCOPY_FAULT_INFO): requested =
 * vermilion, like a requested page on the map; already on its way in the background = blue, like
 * the background stream; arrived meanwhile = bluish green. Bars are thin, so all three keep a 3:1
 * contrast with the panel in their theme.
 */
export const FAULT_HOW_COLORS: Record<PaletteTheme, readonly string[]> = {
  light: ['#d55e00', '#0072b2', '#00805d'],
  dark: ['#ff6a1f', '#56b4e9', '#1fc49a'],
};
