import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { nextLessonStep } from './lesson-step';

/**
 * Run the lesson's first `n` scenario steps with S (at once: no question stops it, and a step's
 * show is not brought forward), each awaited to its end by the progress line (no timing): a long
 * step runs in slices and the line says "running" meanwhile.
 */
async function runSteps(page: Page, n: number): Promise<void> {
  const progress = page.getByTestId('progress');
  for (let k = 1; k <= n; k++) {
    await page.locator('body').press('s');
    await expect(progress).toHaveText(new RegExp(`^Step ${k} of \\d+ · done`), { timeout: 120_000 });
  }
}

/** The number a legend entry prints for migration page state `code` on `side`. */
async function legendCount(page: Page, side: 'src' | 'dst', code: number): Promise<number> {
  const t = (await page.getByTestId(`mig-count-${side}-${code}`).textContent()) ?? '';
  return Number(t.replace(/,/g, ''));
}

/**
 * A lesson that migrates a guest shows the migration panel in the guest's place: query-migrate with
 * QEMU's names as the migration goes, and the rounds as a chart. Driven to the states it checks (the
 * lesson's end), never timed.
 */
test('precopy-converges: the migration panel shows the rounds and query-migrate, completed at the end', async ({ page }) => {
  await page.goto('/?v=2&preset=precopy-converges');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  const panel = page.locator('[data-panel="migration"]');
  await expect(panel.getByRole('heading', { name: /Migration/ })).toBeVisible();
  await expect(panel.getByText(/No migration yet/)).toBeVisible();
  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/, { timeout: 120_000 });
  await expect(panel.getByTestId('migration-status')).toHaveText('completed');
  // Rounds that shrink: several bars, the last the stop-and-copy.
  const bars = panel.locator('svg rect');
  expect(await bars.count()).toBeGreaterThanOrEqual(3);
  await expect(panel.locator('rect.mig-bar.final')).toHaveCount(1);
  // query-migrate's fields with QEMU's names, each explained on hover.
  const dirtySync = panel.getByRole('row', { name: /ram\.dirty-sync-count/ });
  await expect(dirtySync).toHaveAttribute('title', /synced from KVM/);
  await expect(dirtySync.getByRole('cell')).toHaveText(/^\d+$/);
  await expect(panel.getByRole('row', { name: /^downtime/ }).getByRole('cell')).toHaveText(/\d+ ms/);
  // A finished migration has nothing to cancel.
  await expect(panel.getByRole('button', { name: 'Cancel the migration' })).toBeDisabled();
  await expect(panel.getByRole('button', { name: 'Cancel the migration' })).toHaveAttribute('title', 'No migration is running.');
  // Completed: every page arrived on the destination's map.
  expect(await legendCount(page, 'dst', 7)).toBe(0);
  expect(await legendCount(page, 'dst', 8) + await legendCount(page, 'dst', 9)).toBe(8192);
  const axe = await new AxeBuilder({ page }).include('[data-panel="migration"]').analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
});

test('precopy-hot-set: while it cannot converge, the panel cancels it through the lab, and the status says so', async ({ page }) => {
  // Up to a dozen whole steps, each a few virtual seconds of migration: slow on a loaded machine.
  test.setTimeout(240_000);
  await page.goto('/?v=2&preset=precopy-hot-set');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  const panel = page.locator('[data-panel="migration"]');
  // Step through the lesson until a migration is running, a step at a time, each waited for to its end
  // (the lesson then waits): cont, run_until 50ms, migrate, and five seconds in which it cannot converge.
  // Clicking again before a step ended could run on into the lesson's own migrate_cancel.
  const cancel = panel.getByRole('button', { name: 'Cancel the migration' });
  for (let k = 1; k <= 4; k++) await nextLessonStep(page, k);
  await expect(panel.getByTestId('migration-status').first()).toHaveText('active');
  await expect(cancel).toBeEnabled();
  // Capabilities are fixed for a running migration: QEMU's refusal, shown as it says it.
  await panel.getByRole('button', { name: /^Turn auto-converge on \/ off/ }).click();
  await expect(panel.getByTestId('migration-notice')).toHaveText("migrate_set_capabilities failed: There's a migration process in progress");
  await cancel.click();
  await expect(panel.getByTestId('migration-status').first()).toHaveText(/cancel/);
});

test('precopy-converges mid-migration: both page maps show the migration state, and the controls act on the running migration', async ({ page }) => {
  await page.goto('/?v=2&preset=precopy-converges');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  const panel = page.locator('[data-panel="migration"]');
  // cont, run_until 100ms, migrate, run_until 600ms: half a second into round 0.
  await runSteps(page, 4);
  await expect(panel.getByTestId('migration-status')).toHaveText('active');
  const src = (code: number) => legendCount(page, 'src', code);
  const dst = (code: number) => legendCount(page, 'dst', code);
  // Source: sent pages (clean, zero, dirtied again) and pages the first pass has not reached.
  expect(await src(1)).toBeGreaterThan(1000);
  expect(await src(4)).toBeGreaterThan(500);
  expect(await src(6)).toBeGreaterThan(500);
  expect(await src(5)).toBeGreaterThan(0);
  // Destination: what has not arrived is what the source has not sent; what the source dirtied again is stale there.
  expect(await dst(7)).toBe(await src(1));
  expect(await dst(10)).toBe(await src(2) + await src(5));
  expect(await dst(8)).toBeGreaterThan(500);
  let total = 0;
  for (const code of [1, 2, 3, 4, 5, 6]) total += await src(code);
  expect(total).toBe(8192);
  // The maps are the canvas page-map renderer, one per host.
  await expect(panel.getByTestId('mig-map-src').locator('canvas')).toHaveCount(2);
  await expect(panel.getByTestId('mig-map-dst').locator('canvas')).toHaveCount(2);

  // The controls are the action registry's: the help overlay lists them with their shortcuts.
  await page.locator('body').press('?');
  const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await expect(help.getByRole('row', { name: /Shift\+M Start the migration/ })).toBeVisible();
  await expect(help.getByRole('row', { name: /^X Cut \/ restore the migration link/ })).toBeVisible();
  await help.getByRole('button', { name: 'Close' }).click();

  // B doubles max-bandwidth through migrate-set-parameters; the running migration reports it.
  await expect(panel.getByTestId('migration-params')).toContainText('max-bandwidth 16 MiB/s');
  await page.locator('body').press('b');
  await expect(panel.getByTestId('migration-notice')).toHaveText('migrate-set-parameters max-bandwidth = 32 MiB/s');
  await expect(panel.getByTestId('migration-params')).toContainText('max-bandwidth 32 MiB/s');
  await panel.getByRole('button', { name: 'Double downtime-limit' }).click();
  await expect(panel.getByTestId('migration-params')).toContainText('downtime-limit 200 ms');

  // Cutting the link fails the pre-copy, and the source keeps running.
  await panel.getByRole('button', { name: /^Cut \/ restore the migration link/ }).click();
  await expect(panel.getByTestId('migration-status')).toHaveText('failed');
  await expect(panel.getByText(/link wan went down/)).toBeVisible();
  await expect(panel.getByRole('button', { name: /Restore link wan/ })).toBeVisible();
  await expect(panel.getByRole('button', { name: 'Start the migration' })).toBeEnabled();
  // X restores the link and Shift+M migrates again: a new migration starts over it.
  await page.locator('body').press('x');
  await expect(panel.getByRole('button', { name: /Cut link wan/ })).toBeVisible();
  await page.locator('body').press('Shift+M');
  await expect(panel.getByTestId('migration-notice')).toHaveText('migrate guest to dst over wan');
  await expect(panel.getByTestId('migration-status').first()).toHaveText(/setup|active/);
  // The failed one stays listed under it, with its status.
  await expect(panel.getByTestId('migration-status')).toHaveText([/setup|active/, 'failed']);
  // The lesson's migrate step brought the migration panel forward (its show): back to the grid.
  await page.getByRole('button', { name: /^Restore Migration/ }).click();
  await expect(page.locator('[data-panel]')).toHaveCount(4);
  // The trace has the commands with their real names.
  const trace = page.locator('[data-panel="trace"]');
  await trace.getByRole('searchbox').fill('migrate-set-parameters');
  await expect(trace.getByText('migrate-set-parameters', { exact: true })).toHaveCount(2);
  await trace.getByRole('searchbox').fill('link_down');
  await expect(trace.getByText('link_down', { exact: true })).toHaveCount(1);
});

/**
 * The other migration lessons play to their end in the browser: the hot set (cancelled, then
 * converging under auto-converge), dirty-limit (cancelled, then converging under the per-vCPU
 * limit), and the dirty ring's by-hand lesson (no migration panel: the guest panel stays).
 */
for (const preset of ['precopy-hot-set', 'precopy-dirty-limit', 'dirty-ring']) {
  test(`${preset} plays to its end`, async ({ page }) => {
    await page.goto(`/?v=2&preset=${preset}`);
    await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
    await page.getByRole('button', { name: 'Run freely', exact: true }).click();
    await expect(page.getByTestId('progress')).toHaveText(/finished/, { timeout: 180_000 });
    await expect(page.getByText(/The simulation stopped/)).toHaveCount(0);
    const statuses = page.locator('[data-panel="migration"]').getByTestId('migration-status');
    if (preset === 'dirty-ring') await expect(statuses).toHaveCount(0);
    else {
      // Newest first: the second migration completed; the first was cancelled by the lesson.
      await expect(statuses).toHaveText(['completed', 'cancelled']);
    }
  });
}
