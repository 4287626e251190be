import { expect, test } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { nextLessonStep } from './lesson-step';
import { fileURLToPath } from 'node:url';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

test('the simulation runs in a web worker, not on the main thread', async ({ page }) => {
  await page.goto('/?debug=1');
  await expect(page.getByTestId('progress')).toBeVisible();
  expect(page.workers().length).toBeGreaterThanOrEqual(1);
  const info = await page.evaluate(() => (window as unknown as { __gml: { info(): Promise<{ inWorker: boolean }> } }).__gml.info());
  expect(info.inWorker).toBe(true);
});

test('importing a scenario with an assembler typo names the place and changes nothing', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await page.getByTestId('import-file').setInputFiles(fixture('broken-scenario.json'));
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('That scenario was not loaded');
  await expect(alert).toContainText('$.vms[0].program');
  await expect(alert).toContainText('line 2, column 5');
  // The lesson that was loaded is still there.
  await expect(page.getByRole('heading', { level: 2, name: "Who can read the guest's secret?" })).toBeVisible();
  await page.getByTestId('import-file').setInputFiles(fixture('bad-step.json'));
  await expect(page.getByRole('alert')).toContainText('$.steps[1]');
});

test('an odd URL gets a message and the first lesson', async ({ page }) => {
  await page.goto('/?v=1&preset=no-such-lesson');
  await expect(page.getByRole('alert')).toContainText('There is no lesson "no-such-lesson"');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await expect(page).toHaveURL(/\?v=2&preset=host-reads-secret$/);
  await page.goto('/?v=9&preset=lazy-accept');
  await expect(page.getByRole('alert')).toContainText('URL version 9');
});

test('if the worker dies, the UI says so and a restart reloads the same scenario', async ({ page }) => {
  await page.goto('/?v=1&preset=lazy-accept&debug=1');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await nextLessonStep(page, 1);
  await page.evaluate(() => (window as unknown as { __gml: { crashWorker(): Promise<void> } }).__gml.crashWorker());
  await expect(page.getByRole('alert')).toContainText('The simulation stopped');
  await page.getByRole('button', { name: 'Restart the lab' }).click();
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of \d+ · ready/);
  await expect(page.getByRole('combobox', { name: 'Lesson' })).toHaveValue('lazy-accept');
});

test('keyboard: space runs a lesson step, ? opens the shortcuts, T switches the theme', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await page.keyboard.press('?');
  await expect(page.getByRole('dialog', { name: 'Keyboard shortcuts' })).toContainText('Next lesson step');
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);
  const before = await page.evaluate(() => document.documentElement.dataset.theme);
  await page.keyboard.press('t');
  expect(await page.evaluate(() => document.documentElement.dataset.theme)).not.toBe(before);
  await page.locator('body').click({ position: { x: 5, y: 700 } });
  await page.keyboard.press(' ');
  await expect(page.getByTestId('progress')).toHaveText('Step 1 of 7 · done');
});

test('the whole page passes an axe scan in both themes', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('progress')).toBeVisible();
  await page.getByRole('button', { name: 'Run freely' }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
  for (const theme of ['light', 'dark']) {
    await page.evaluate((t) => (document.documentElement.dataset.theme = t), theme);
    const r = await new AxeBuilder({ page }).analyze();
    const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(bad.map((v) => `${theme}: ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
  }
});

test('at 1 instruction per frame a lesson plays slowly enough to pause: the speed is per display frame', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  for (let i = 0; i < 4; i++) await page.keyboard.press('-');
  await expect(page.getByText('1 instr/frame')).toBeVisible();
  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  // The two guests run about 110 instructions each: at one a frame that is seconds. Wait until the
  // guest has run a few (it is playing), then pause: the lesson must not have finished meanwhile.
  await expect(page.locator('[data-panel="guest"]').getByTestId('instruction-count')).toHaveText(/^([3-9]|\d{2,}) instructions/);
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  await expect(page.getByTestId('progress')).not.toHaveText(/finished/);
});
