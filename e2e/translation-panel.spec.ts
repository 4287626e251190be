import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { cellCentre, expectFirstLessonColours } from './page-map';

/**
 * Click the cell of a GFN in a VM's page map, from the layout the renderer exposes on its overlay
 * canvas (pages per row and the zoom transform). Cells of a 64 MiB guest are under 2 px at first, so
 * the wheel zooms in around the page before the click, as a user would.
 */
async function clickPage(page: Page, vm: string, gfn: number) {
  const overlay = page.getByTestId(`page-map-overlay-${vm}`);
  await expect(overlay).toHaveAttribute('data-k', /\d/);
  await overlay.scrollIntoViewIfNeeded();
  const cell = () => cellCentre(overlay, gfn);
  for (let i = 0; i < 6; i++) {
    const c = await cell();
    if (c.k >= 12) break;
    const box = (await overlay.boundingBox())!;
    const before = (await overlay.getAttribute('data-k')) ?? '';
    await page.mouse.move(box.x + c.x, box.y + c.y);
    await page.mouse.wheel(0, -300);
    // The map has zoomed when its scale changes (the loop then reads the new cell position).
    await expect(overlay).not.toHaveAttribute('data-k', before);
  }
  const c = await cell();
  await overlay.click({ position: { x: c.x, y: c.y } });
}

test.describe('address translation panel', () => {
  test.beforeEach(async ({ page }) => {
    await page.goto('/');
    await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
    await page.getByRole('button', { name: 'Run freely' }).click();
    await expect(page.getByTestId('progress')).toHaveText(/finished/);
  });

  test("the TD's secret buffer (GPA 0x102000) walks through guest_memfd and a MAPPED Secure-EPT entry", async ({ page }) => {
    const panel = page.locator('[data-panel="translation"]');
    await expect(panel.getByRole('region', { name: 'Memslots of td' })).toContainText('KVM_MEM_GUEST_MEMFD');
    await clickPage(page, 'td', 0x102);
    const walk = panel.getByTestId('walk');
    await expect(walk.getByRole('heading')).toHaveText(/GPA 0x102000 in td/);
    await expect(walk.locator('[data-hop=memslot]')).toContainText('Memslot 0');
    await expect(walk.locator('[data-hop=attribute]')).toContainText('KVM_MEMORY_ATTRIBUTE_PRIVATE');
    await expect(walk.locator('[data-hop=backing]')).toContainText('guest_memfd');
    await expect(walk.locator('[data-hop=ept]')).toContainText('Secure EPT');
    await expect(walk.locator('[data-hop=ept]')).toContainText('MAPPED');
    await expect(walk.locator('[data-hop=frame]')).toContainText(/hpa\s*0x[0-9a-f]+/);
    await expect(walk.locator('.hop-bad')).toHaveCount(0);
    await expect(panel.getByText(/Selected: GFN 0x102/)).toBeVisible();
  });

  test("the ordinary VM's page walks through the VMM's HVA and a host PTE", async ({ page }) => {
    await clickPage(page, 'ordinary', 0x102);
    const walk = page.getByTestId('walk');
    await expect(walk.getByRole('heading')).toHaveText(/GPA 0x102000 in ordinary/);
    const backing = walk.locator('[data-hop=backing]');
    await expect(backing).toContainText('hva');
    await expect(backing).toContainText(/host_pte\s*present → 0x[0-9a-f]+/);
    await expect(walk.locator('[data-hop=frame]')).toBeVisible();
  });

  test('the keyboard moves the selection and zooms without firing the global shortcuts', async ({ page }) => {
    const map = page.getByTestId('page-map-td');
    await map.focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');
    await expect(page.getByTestId('walk').getByRole('heading')).toHaveText(/GPA 0x1000 in td/);
    const speed = await page.locator('.speed').textContent();
    await page.keyboard.press('+');
    await expect(page.getByTestId('page-map-overlay-td')).toHaveAttribute('data-k', /./);
    expect(await page.locator('.speed').textContent()).toBe(speed);
    await page.getByTestId('goto-td').fill('0x102000');
    await page.getByTestId('goto-td').press('Enter');
    await expect(page.getByTestId('walk').getByRole('heading')).toHaveText(/GPA 0x102000 in td/);
  });

  test('each page is painted in its state\'s colour, by the frame updates and by a full repaint', async ({ page }) => {
    await expectFirstLessonColours(page, 'light');
    // A new palette repaints the whole image (the WebAssembly SIMD lookup where Chromium has it).
    await page.getByRole('button', { name: /theme/i }).click();
    await expectFirstLessonColours(page, 'dark');
  });

  test('with no event selected, the pages of the latest event are outlined and named (the TD\'s secret page)', async ({ page }) => {
    const panel = page.locator('[data-panel="translation"]');
    await expect(panel.getByText(/The latest event on pages, #\d+ read, touched GFN 0x102 \(dashed outline\)/)).toBeVisible();
    // The overlay draws it: pixels of the accent colour around the page, at the overview.
    const overlay = page.getByTestId('page-map-overlay-td');
    const drawn = await overlay.evaluate((el) => {
      const c = el as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    expect(drawn).toBeGreaterThan(20);
  });

  test('the panel has no serious or critical accessibility violations', async ({ page }) => {
    await clickPage(page, 'td', 0x102);
    await expect(page.getByTestId('walk').locator('[data-hop=frame]')).toBeVisible();
    const result = await new AxeBuilder({ page }).include('[data-panel="translation"]').analyze();
    const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)).toEqual([]);
  });
});
