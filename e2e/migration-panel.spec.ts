import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@playwright/test';

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
  await page.getByRole('button', { name: 'Play', exact: true }).click();
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
  await expect(panel.getByRole('button', { name: 'Cancel migration' })).toHaveCount(0);
  const axe = await new AxeBuilder({ page }).include('[data-panel="migration"]').analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
});

test('precopy-hot-set: while it cannot converge, the panel cancels it through the lab, and the status says so', async ({ page }) => {
  await page.goto('/?v=2&preset=precopy-hot-set');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  const panel = page.locator('[data-panel="migration"]');
  // Step through the lesson until a migration is running (a step at a time: no timing).
  const next = page.getByRole('button', { name: 'Run the next scenario step' });
  for (let i = 0; i < 12 && !(await panel.getByRole('button', { name: 'Cancel migration' }).isVisible()); i++) await next.click();
  await expect(panel.getByRole('button', { name: 'Cancel migration' })).toBeVisible();
  await panel.getByRole('button', { name: 'Cancel migration' }).click();
  await expect(panel.getByTestId('migration-status').first()).toHaveText(/cancel/);
});
