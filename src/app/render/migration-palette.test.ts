import { describe, expect, it } from 'vitest';
import { MIGRATION_PAGE_STATE_INFO } from '../../sim/view-model';
import { FAULT_HOW_COLORS, MIGRATION_STATE_COLORS, migrationPalette } from './migration-palette';
import { colorWord } from './page-palette';

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
const lin = (c: number) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const luminance = (hex: string) => { const [r, g, b] = rgb(hex).map(lin); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const contrast = (a: string, b: string) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
/** Machado et al. (2009) simulation matrices at full severity, on linear RGB. */
const CVD: Record<string, number[][]> = {
  protan: [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
  deutan: [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.01182, 0.04294, 0.968881]],
  tritan: [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.3039]],
};
const seen = (hex: string, m: number[][] | null) => {
  const c = rgb(hex).map(lin);
  const v = m ? m.map((row) => Math.min(1, Math.max(0, row[0] * c[0] + row[1] * c[1] + row[2] * c[2]))) : c;
  return v.map((x) => x ** (1 / 2.2));
};
const distance = (a: number[], b: number[]) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

describe('the migration palette', () => {
  it('colours every migration page state in both themes', () => {
    for (const theme of ['light', 'dark'] as const) {
      for (const s of MIGRATION_PAGE_STATE_INFO) expect(MIGRATION_STATE_COLORS[theme][s.code], `${theme} ${s.label}`).toMatch(/^#[0-9a-f]{6}$/);
      expect(migrationPalette(theme)[15]).toBe(colorWord(MIGRATION_STATE_COLORS[theme][15]));
    }
  });

  it("post-copy's destination states (and the pre-copied pages beside them) stay apart for every kind of colour blindness", () => {
    const shown = [8, 11, 12, 13, 14, 15];
    for (const theme of ['light', 'dark'] as const) {
      const c = MIGRATION_STATE_COLORS[theme];
      for (const [kind, m] of [['normal', null], ...Object.entries(CVD)] as [string, number[][] | null][]) {
        for (const a of shown) for (const b of shown) {
          if (a < b) expect(distance(seen(c[a], m), seen(c[b], m)), `${theme} ${kind}: ${a} vs ${b}`).toBeGreaterThan(0.15);
        }
      }
    }
  });

  it('the fault colours read on the panel: 3:1 against it in both themes', () => {
    expect(contrast(FAULT_HOW_COLORS.light[0], '#ffffff')).toBeGreaterThan(3);
    for (const c of FAULT_HOW_COLORS.light) expect(contrast(c, '#ffffff'), c).toBeGreaterThan(3);
    for (const c of FAULT_HOW_COLORS.dark) expect(contrast(c, '#1d2026'), c).toBeGreaterThan(3);
  });
});
