import { expect, type Locator, type Page } from '@playwright/test';
import { PageState } from '../src/sim/inspect';
import { PAGE_STATE_COLORS } from '../src/app/render/page-palette';

/** Where a GFN's cell centre is on a page map, in CSS px from the overlay's top-left, and the zoom (px per page). */
export async function cellCentre(overlay: Locator, gfn: number): Promise<{ k: number; x: number; y: number }> {
  const d = await overlay.evaluate((el) => ({ ...(el as HTMLElement).dataset }));
  const cols = Number(d.cols), k = Number(d.k), x = Number(d.x), y = Number(d.y);
  return { k, x: x + ((gfn % cols) + 0.5) * k, y: y + (Math.floor(gfn / cols) + 0.5) * k };
}

/** The colour on a page map's static canvas at the centre of a page's cell, once "Go to GPA" zoomed in on it. */
export async function pageColour(page: Page, vm: string, gfn: number): Promise<string> {
  await page.getByTestId(`goto-${vm}`).fill(`0x${(gfn * 4096).toString(16)}`);
  await page.getByTestId(`goto-${vm}`).press('Enter');
  const overlay = page.getByTestId(`page-map-overlay-${vm}`);
  await expect(overlay).toHaveAttribute('data-k', /^(1[6-9]|[2-9]\d)/);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const c = await cellCentre(overlay, gfn);
  return overlay.evaluate((el, { x, y }) => {
    const canvas = el.parentElement!.querySelector('canvas.pm-static') as HTMLCanvasElement;
    const dpr = canvas.width / canvas.clientWidth;
    const px = canvas.getContext('2d')!.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data;
    return `#${[px[0], px[1], px[2]].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
  }, c);
}

/** After the first lesson: the ordinary VM's secret page is shared and mapped, the TD's private and mapped, and untouched memory not mapped. */
export async function expectFirstLessonColours(page: Page, theme: 'light' | 'dark'): Promise<void> {
  const c = PAGE_STATE_COLORS[theme];
  expect(await pageColour(page, 'ordinary', 0x100)).toBe(c[PageState.SHARED_MAPPED]);
  expect(await pageColour(page, 'td', 0x102)).toBe(c[PageState.PRIVATE_MAPPED]);
  expect(await pageColour(page, 'ordinary', 0x3000)).toBe(c[PageState.SHARED_UNMAPPED]);
}
