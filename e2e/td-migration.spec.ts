import { expect, test } from '@playwright/test';
import { nextLessonStep } from './lesson-step';

/**
 * The td-migration lesson loads and plays in the browser: the migration panel shows the ordinary VM's
 * migration completed, the TD's upstream attempt failed, and the TD's two not-upstream designs
 * completed. Driven step by step to the states it checks, never timed.
 */
test('td-migration: upstream fails, the talk\'s and the TDX module\'s designs complete, each in its own card', async ({ page }) => {
  test.setTimeout(240_000);
  await page.goto('/?v=2&preset=td-migration');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 17/);
  const panel = page.locator('[data-panel="migration"]');
  await expect(panel.getByRole('heading', { name: /Migration/ })).toBeVisible();
  await expect(panel.getByText(/No migration yet/)).toBeVisible();
  const card = (from: string, to: string) => panel.locator(`section[aria-label="Migration of ${from} to ${to}"]`);
  // Through the upstream attempt (step 8: run_until the TD's migration ends).
  for (let i = 1; i <= 8; i++) await nextLessonStep(page, i);
  await expect(card('guest', 'guest@dst').getByTestId('migration-status')).toHaveText('completed');
  await expect(card('td', 'td@dst').getByTestId('migration-status')).toHaveText('failed');
  // The talk's design (steps 10–11) and the TDX module's (steps 14–15).
  for (let i = 9; i <= 15; i++) await nextLessonStep(page, i);
  await expect(card('td@dst', 'td-home').getByTestId('migration-status')).toHaveText('completed');
  await expect(panel.getByTestId('migration-status')).toHaveText(['completed', 'completed', 'failed', 'completed']);
});
