import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';

/*
 * Presenter mode (src/app/components/Presenter.tsx): large type from one setting (the root font
 * size), one panel at a time with the narration under it, no editing chrome, the lesson's link and
 * its QR code, driven by the keyboard. The smallest text it shows must be at least 18 px at
 * 1280×720 (a projector read from the back of a room): measured on every visible text node.
 */
const MIN_TEXT_PX = 18;

test.use({ viewport: { width: 1280, height: 720 } });

const presenter = (page: Page) => page.getByTestId('presenter');
const shown = (page: Page) => presenter(page).locator('[data-panel]');

/** The smallest computed font size of the visible text in presenter mode, with where it is. */
async function smallestText(page: Page): Promise<{ px: number; where: string }> {
  return presenter(page).evaluate((root) => {
    let min = { px: Infinity, where: '' };
    const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const el = n.parentElement;
      if (!el || !n.textContent?.trim()) continue;
      const r = el.getBoundingClientRect();
      if (r.width < 2 || r.height < 2 || r.bottom <= 0 || r.top >= innerHeight || r.right <= 0 || r.left >= innerWidth) continue;
      const px = parseFloat(getComputedStyle(el).fontSize);
      if (px < min.px) min = { px, where: `${el.tagName.toLowerCase()}.${el.className}: "${n.textContent.trim().slice(0, 40)}"` };
    }
    return min;
  });
}

test('presenter mode by key: one panel, number keys switch, text at least 18 px, the link and its QR code, Esc leaves', async ({ page }) => {
  await page.goto('/?v=2&preset=host-reads-secret');
  await expect(page.getByTestId('progress')).toHaveText('Step 1 of 7 · ready', { timeout: 30_000 });
  await page.locator('body').press('z');
  await expect(presenter(page)).toBeVisible();
  await expect(page).toHaveURL(/[?&]present=1/);
  // No editing chrome: no toolbar, lesson picker or file menu; one panel.
  await expect(page.getByRole('navigation', { name: 'Controls' })).toHaveCount(0);
  await expect(page.getByRole('combobox', { name: 'Lesson' })).toHaveCount(0);
  await expect(shown(page)).toHaveCount(1);
  // The lesson's first step is about the translation of the ordinary VM's secret page (its `show`).
  await expect(shown(page)).toHaveAttribute('data-panel', 'translation');
  expect(await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize))).toBeGreaterThan(20);
  // Both VMs' page maps side by side, on screen (in large type the TD's used to wrap below the fold).
  const maps = shown(page).locator('.tx-vm .pm-stage');
  await expect(maps).toHaveCount(2);
  for (const k of [0, 1]) await expect(maps.nth(k)).toBeInViewport({ ratio: 1 });

  // Number keys pick the panel.
  await page.keyboard.press('4');
  await expect(shown(page)).toHaveAttribute('data-panel', 'trace');
  await page.keyboard.press('2');
  await expect(shown(page)).toHaveAttribute('data-panel', 'host');
  await expect(page.getByRole('button', { name: /Host$/ })).toHaveAttribute('aria-pressed', 'true');

  // The lesson's keys pace it; the narration is the step's note.
  await page.keyboard.press('ArrowRight');
  await expect(page.getByTestId('progress')).toHaveText('Step 1 of 7 · done');
  await expect(page.getByTestId('narration')).toHaveText('The ordinary VM stores its secret and halts.');

  for (const key of ['1', '2', '3', '4']) {
    await page.keyboard.press(key);
    await expect(shown(page)).toHaveCount(1);
    const small = await smallestText(page);
    expect(small.px, `panel ${key}: ${small.where}`).toBeGreaterThanOrEqual(MIN_TEXT_PX);
  }

  // The lesson's link as text and as a QR code drawn here (one path of dark modules).
  await expect(page.getByTestId('lesson-link')).toHaveText(/\/\?v=2&preset=host-reads-secret$/);
  const qr = page.getByTestId('lesson-qr');
  await expect(qr).toBeVisible();
  expect(await qr.locator('path').getAttribute('d')).toMatch(/^M\d+ \d+h1v1h-1z(M\d+ \d+h1v1h-1z){100,}$/);
  const box = await qr.boundingBox();
  expect(box!.width).toBeGreaterThanOrEqual(80);

  await page.keyboard.press('Escape');
  await expect(presenter(page)).toHaveCount(0);
  await expect(page.getByRole('navigation', { name: 'Controls' })).toBeVisible();
  await expect(page).not.toHaveURL(/present=1/);
  expect(await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize))).toBe(16);
});

test('presenter mode from the URL, in the help overlay, and clean under an axe scan in both themes', async ({ page }) => {
  await page.goto('/?v=2&preset=lazy-accept&present=1');
  await expect(presenter(page)).toBeVisible();
  await expect(page.getByTestId('progress')).toHaveText(/^Step 1 of 5 · ready$/, { timeout: 30_000 });
  await page.keyboard.press('?');
  await expect(page.getByRole('dialog', { name: 'Keyboard shortcuts' })).toContainText('Presenter mode (large type, one panel)');
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);
  // Esc closed the overlay only.
  await expect(presenter(page)).toBeVisible();
  // lazy-accept's first step asks a question first: presenter mode shows it to the room; skip it.
  await page.keyboard.press('Space');
  const question = presenter(page).getByTestId('question');
  await expect(question).toBeVisible();
  await question.getByRole('button', { name: 'Skip: run it' }).click();
  await expect(page.getByTestId('progress')).toHaveText('Step 1 of 5 · done');
  for (const key of ['1', '4']) {
    await page.keyboard.press(key);
    await expect(shown(page)).toHaveCount(1);
    for (const theme of ['light', 'dark']) {
      await page.evaluate((t) => (document.documentElement.dataset.theme = t), theme);
      const r = await new AxeBuilder({ page }).analyze();
      const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      expect(bad.map((v) => `panel ${key}, ${theme}: ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
    }
  }
  await page.keyboard.press('z');
  await expect(presenter(page)).toHaveCount(0);
});

test('presenter mode with a question open keeps the panel, shows the question whole and the narration unclamped', async ({ page }) => {
  // lazy-accept's first step asks the longest of the lessons' first questions; its explanation and
  // first note are among the longest texts the narration shows.
  await page.goto('/?v=2&preset=lazy-accept&present=1');
  await expect(page.getByTestId('progress')).toHaveText(/^Step 1 of 5 · ready$/, { timeout: 30_000 });
  await page.keyboard.press('Space');
  const question = presenter(page).getByTestId('question');
  await expect(question).toBeVisible();
  // The panel keeps at least 220 CSS px of body (it shrank to about 120 px), and the question's buttons are on screen.
  const body = (await shown(page).locator('.panel-body').boundingBox())!;
  expect(body.height, 'the panel\'s body with a question open').toBeGreaterThanOrEqual(220);
  await expect(question.getByRole('button', { name: 'Skip: run it' })).toBeInViewport({ ratio: 1 });
  await expect(question.getByRole('button', { name: /^Answer and run step 1/ })).toBeInViewport({ ratio: 1 });
  await question.getByRole('button', { name: 'Skip: run it' }).click();
  await expect(page.getByTestId('progress')).toHaveText('Step 1 of 5 · done');
  // The step's note (about 270 characters) shows whole: nothing clamped or cut off.
  const narration = page.getByTestId('narration');
  await expect(narration).toContainText('td-careless has SEPT_VE_DISABLE');
  const clip = await narration.evaluate((el) => el.scrollHeight - el.clientHeight);
  expect(clip, 'the narration is cut off').toBeLessThanOrEqual(1);
  await expect(narration).toBeInViewport({ ratio: 1 });
});

test.describe('at 150 % zoom (853×480 CSS px)', () => {
  test.use({ viewport: { width: 853, height: 480 }, deviceScaleFactor: 1.5 });

  test('the presenter bar keeps one row: the panel tabs by their numbers, named by their words', async ({ page }) => {
    await page.goto('/?v=2&preset=host-reads-secret&present=1');
    await expect(page.getByTestId('progress')).toHaveText('Step 1 of 7 · ready', { timeout: 30_000 });
    const bar = (await presenter(page).locator('.presenter-bar').boundingBox())!;
    const leave = (await page.getByRole('button', { name: 'Leave (Esc)' }).boundingBox())!;
    expect(bar.height, 'the presenter bar wraps').toBeLessThan(leave.height * 2);
    // The word is the tab's name still (visually hidden): the keys and the names agree.
    await expect(page.getByRole('button', { name: /Host$/ })).toBeVisible();
    const small = await smallestText(page);
    expect(small.px, small.where).toBeGreaterThanOrEqual(MIN_TEXT_PX);
  });

  test('an open question has the screen, whole, and the panel comes back once it is skipped', async ({ page }) => {
    await page.goto('/?v=2&preset=lazy-accept&present=1');
    await expect(page.getByTestId('progress')).toHaveText(/^Step 1 of 5 · ready$/, { timeout: 30_000 });
    await page.keyboard.press('Space');
    const question = presenter(page).getByTestId('question');
    await expect(question).toBeVisible();
    // 480 CSS px in 21 px type hold the question or the panel, not both: the question, every choice and both buttons.
    await expect(question).toBeInViewport({ ratio: 1 });
    await expect(question.getByRole('radio')).toHaveCount(4);
    await expect(shown(page)).toBeHidden();
    await question.getByRole('button', { name: 'Skip: run it' }).click();
    await expect(page.getByTestId('progress')).toHaveText('Step 1 of 5 · done', { timeout: 60_000 });
    await expect(shown(page)).toBeVisible();
    const body = (await shown(page).locator('.panel-body').boundingBox())!;
    expect(body.height).toBeGreaterThanOrEqual(100);
  });
});
