import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';

const trace = (page: Page) => page.locator('[data-panel="trace"]');
const rows = (page: Page) => trace(page).getByTestId('trace-row');

async function playToTheEnd(page: Page, preset = 'shared-buffer') {
  await page.goto(`/?v=1&preset=${preset}`);
  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
}

test('a lesson\'s first events are listed as soon as it loads, from the URL and from the picker', async ({ page }) => {
  const all = async () => {
    // "N of N events": every event the machine recorded at load, none counted as "not kept".
    await expect(trace(page).getByTestId('trace-count')).toHaveText(/^([1-9][\d,]*) of \1 events$/);
    await expect(trace(page).getByTestId('trace-gap')).toHaveCount(0);
  };
  await page.goto('/?v=1&preset=lazy-accept');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await all();
  await page.getByRole('combobox', { name: 'Lesson' }).selectOption('shared-buffer');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await all();
  await page.getByRole('button', { name: 'Restart the scenario' }).click();
  await all();
});

test('the list is virtualised: far fewer rows in the DOM than events', async ({ page }) => {
  await playToTheEnd(page);
  await trace(page).getByRole('button', { name: 'Maximise Trace' }).click();
  // "N of N events (M in all)": the filter shows everything kept; M counts what the frames could not carry too.
  const count = (await trace(page).getByTestId('trace-count').textContent())!;
  const [, shown, kept, all] = count.replace(/,/g, '').match(/^(\d+) of (\d+) events(?: \((\d+) in all\))?/)!;
  expect(shown).toBe(kept);
  const total = Number(all ?? kept);
  expect(Number(kept)).toBeGreaterThan(300);
  expect(await rows(page).count()).toBeLessThan(60);
  // Following the newest: the last event is on screen.
  await expect(rows(page).last()).toHaveAttribute('data-seq', String(total - 1));
  await expect(rows(page).last()).toBeInViewport();
});

test('while a fast guest runs, the list is redrawn a few times a second, not at every display frame', async ({ page }) => {
  await page.goto('/?v=1&preset=four-gigabytes');
  await expect(page.getByTestId('progress')).toBeVisible();
  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  await expect(rows(page).first()).toBeVisible();
  // Batches of changes to the list's rows in 1.5 s: the text panels refresh four times a second.
  const batches = await trace(page).getByTestId('trace-list').evaluate(async (list) => {
    let n = 0;
    const mo = new MutationObserver(() => n++);
    mo.observe(list, { childList: true, subtree: true, characterData: true, attributes: true });
    await new Promise((r) => setTimeout(r, 1500));
    mo.disconnect();
    return n;
  });
  expect(batches).toBeGreaterThan(0);
  expect(batches).toBeLessThanOrEqual(12);
});

test('a fast run skips events between frames; when it ends the panel fetches them and keeps every one', async ({ page }) => {
  // The run goes to its end whatever the machine's speed; nothing here depends on how long it takes.
  test.setTimeout(120_000);
  await page.goto('/?v=1&preset=four-gigabytes');
  await expect(page.getByTestId('progress')).toBeVisible();
  // The fastest speed: far more events per display frame than a frame carries (250).
  for (let i = 0; i < 4; i++) await page.keyboard.press('+');
  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  // While it runs the history has holes (the frames carry only the newest events): wait for the first
  // frame that shows one and read the counts in that same moment. A run that ended first would not
  // show a hole, so this only passes once the state under test was reached.
  const counts = await trace(page).getByTestId('trace-panel').evaluate((el) => new Promise<{
    shown: number; kept: number; all: number; skipped: number; dropped: number;
  }>((resolve) => {
    const num = (id: string) => Number((el.querySelector(`[data-testid="${id}"]`)?.textContent ?? '0').replace(/,/g, '').match(/\d+/)?.[0] ?? 0);
    const read = () => {
      if (!el.querySelector('[data-testid="trace-skipped"]')) return false;
      const c = (el.querySelector('[data-testid="trace-count"]')!.textContent ?? '').replace(/,/g, '');
      const [, shown, kept, all] = c.match(/^(\d+) of (\d+) events(?: \((\d+) in all\))?/)!;
      resolve({ shown: Number(shown), kept: Number(kept), all: Number(all ?? kept), skipped: num('trace-skipped'), dropped: num('trace-gap') });
      return true;
    };
    if (read()) return;
    const mo = new MutationObserver(() => read() && mo.disconnect());
    mo.observe(el, { childList: true, subtree: true, characterData: true });
  }));
  expect(counts.skipped).toBeGreaterThan(0);
  // The counts describe one moment: shown = kept (no filter), and kept + skipped + not kept = in all.
  expect(counts.shown).toBe(counts.kept);
  expect(counts.kept + counts.skipped + counts.dropped).toBe(counts.all);
  // When the run ends, what the frames skipped is fetched from the worker until no hole is left.
  await expect(page.getByTestId('progress')).toHaveText(/finished/, { timeout: 90_000 });
  await expect(trace(page).getByTestId('trace-skipped')).toHaveCount(0, { timeout: 30_000 });
  // The events held are consecutive: the last rows on screen are numbered one after the other.
  const seqs = await rows(page).evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
  expect(seqs.length).toBeGreaterThan(5);
  seqs.forEach((s, i) => i > 0 && expect(s).toBe(seqs[i - 1] + 1));
});

test('filter by layer: only the TDX module\'s SEAMCALLs, TDCALLs and #VE remain', async ({ page }) => {
  await playToTheEnd(page);
  for (const layer of ['guest', 'KVM', 'VMM', 'host', 'link']) {
    await trace(page).getByRole('checkbox', { name: layer, exact: true }).uncheck();
  }
  await expect(rows(page).first()).toBeVisible();
  const names = await rows(page).locator('.trace-name').allTextContents();
  expect(names.length).toBeGreaterThan(5);
  for (const n of names) expect(n).toMatch(/^(TDH\.|TDG\.|#VE$)/);
  const badges = await rows(page).locator('.trace-badge').allTextContents();
  expect(new Set(badges)).toEqual(new Set(['TDX module']));
});

test('filter by name, select an event and read its arguments', async ({ page }) => {
  await playToTheEnd(page);
  const theme = await page.locator('html').getAttribute('data-theme');
  await trace(page).getByRole('searchbox', { name: 'Name' }).fill('');
  await trace(page).getByRole('searchbox', { name: 'Name' }).pressSequentially('kvm_exit');
  // Typing in the filter does not reach the global shortcuts (t toggles the theme).
  expect(await page.locator('html').getAttribute('data-theme')).toBe(theme);
  await expect(rows(page).first()).toBeVisible();
  const names = await rows(page).locator('.trace-name').allTextContents();
  expect(names.length).toBeGreaterThan(0);
  for (const n of names) expect(n).toContain('KVM_EXIT');

  await rows(page).last().click();
  await expect(rows(page).last()).toHaveAttribute('aria-selected', 'true');
  const details = trace(page).getByTestId('trace-details');
  await expect(details).toContainText('KVM_EXIT');
  await expect(details.getByRole('table', { name: /Arguments of KVM_EXIT/ })).toBeVisible();
  await expect(details.getByRole('rowheader').first()).toBeVisible();
});

test('keyboard: arrows move the selection through the list and set the selected event', async ({ page }) => {
  await playToTheEnd(page, 'host-reads-secret');
  const list = trace(page).getByRole('listbox', { name: /Trace events/ });
  await list.focus();
  await page.keyboard.press('End');
  const last = trace(page).locator('[role=option][aria-selected=true]');
  const lastSeq = Number(await last.getAttribute('data-seq'));
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  await expect(trace(page).locator('[role=option][aria-selected=true]')).toHaveAttribute('data-seq', String(lastSeq - 2));
  await expect(list).toHaveAttribute('aria-activedescendant', /ev-/);
  await expect(trace(page).getByRole('button', { name: /Jump to newest/ })).toBeVisible();
  await page.keyboard.press('Home');
  await expect(trace(page).locator('[role=option][aria-selected=true]')).toHaveAttribute('data-seq', '0');
  await expect(trace(page).getByTestId('trace-details').locator('dd').first()).toHaveText('0');
  await trace(page).getByRole('button', { name: /Jump to newest/ }).click();
  await expect(rows(page).last()).toHaveAttribute('data-seq', String(lastSeq));
  await expect(rows(page).last()).toBeInViewport();
});

test('the trace panel has no serious accessibility violations', async ({ page }) => {
  for (const theme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: theme });
    await playToTheEnd(page, 'host-reads-secret');
    await rows(page).last().click();
    const r = await new AxeBuilder({ page }).include('[data-panel="trace"]').analyze();
    const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(bad.map((v) => `${theme}: ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
  }
});
