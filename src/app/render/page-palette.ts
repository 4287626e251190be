/**
 * Colours of the guest page states (src/sim/inspect.ts PageState), one list per theme. The legend and
 * the canvas read the same list. Families: shared = teal/blue, private = purple, pending = amber,
 * blocked = red, not mapped = grey; "no memslot" is transparent so that the hatching behind the image
 * shows through. Chosen from the Okabe–Ito set where possible so that they stay apart for
 * colour-blind viewers, with lightness differences between neighbours of the same family.
 */
export type PaletteTheme = 'light' | 'dark';

export const PAGE_STATE_COLORS: Record<PaletteTheme, readonly string[]> = {
  light: [
    'transparent', // 0 no memslot (hatched)
    '#cfcfcf', // 1 shared, not mapped
    '#dccbf2', // 2 private, not mapped
    '#009e73', // 3 shared, mapped
    '#56b4e9', // 4 shared, write-protected
    '#5e3c99', // 5 private, mapped
    '#e69f00', // 6 private, pending
    '#c8102e', // 7 private, blocked
  ],
  dark: [
    'transparent',
    '#4c4f55',
    '#4a3a68',
    '#1fc49a',
    '#79c9f4',
    '#a57cf0',
    '#ffb11f',
    '#ff4d5e',
  ],
};

/** "#rrggbb" (or "transparent") → 0xAABBGGRR, the word an ImageData pixel is on a little-endian machine. */
export function colorWord(css: string): number {
  if (!css.startsWith('#')) return 0;
  const v = parseInt(css.slice(1), 16);
  const r = (v >> 16) & 255, g = (v >> 8) & 255, b = v & 255;
  return LITTLE_ENDIAN ? ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const cache = new Map<PaletteTheme, Uint32Array>();

/** The palette as 256 words (unknown codes draw as magenta, so a new state cannot hide). */
export function pagePalette(theme: PaletteTheme): Uint32Array {
  let p = cache.get(theme);
  if (!p) {
    p = new Uint32Array(256).fill(colorWord('#ff00ff'));
    PAGE_STATE_COLORS[theme].forEach((c, i) => (p![i] = colorWord(c)));
    cache.set(theme, p);
  }
  return p;
}

/** Canvas colours for the marks, axis and hatching, matching app.css's theme variables. */
export const MAP_COLORS: Record<PaletteTheme, { bg: string; fg: string; muted: string; line: string; accent: string }> = {
  light: { bg: '#ffffff', fg: '#111111', muted: '#3d3d3d', line: '#b3b3b3', accent: '#1747b5' },
  dark: { bg: '#1d2026', fg: '#f1f1f1', muted: '#c8c8c8', line: '#565d69', accent: '#7fa6ff' },
};
