import { expect, test } from '@playwright/test';
import { expectFirstLessonColours } from './page-map';

/**
 * Served without COOP/COEP (a static host that cannot set headers), the page is not cross-origin
 * isolated: the worker transfers copies of the page-state and host-owner arrays, leaving out those
 * the page already has. The lab must work the same.
 */
test('without cross-origin isolation the frames come by transfer and every map still fills', async ({ page }) => {
  await page.route('**/*', async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    delete headers['cross-origin-opener-policy'];
    delete headers['cross-origin-embedder-policy'];
    await route.fulfill({ response, headers });
  });
  await page.goto('/');
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await page.getByRole('button', { name: 'Run freely' }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
  await expectFirstLessonColours(page, 'light');
  // The host map counted the TD's guest_memfd frames from the transferred owners.
  const host = page.locator('[data-panel="host"]');
  await expect(host.getByRole('list', { name: /Frame owners/ })).toContainText(/guest_memfd of td\s*[1-9][\d,]* frames/);
  // A restart is a new Lab: its arrays are sent again, and the maps show the new run from its start.
  await page.getByRole('button', { name: 'Restart the scenario' }).click();
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await page.getByRole('button', { name: 'Run freely' }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
  await expectFirstLessonColours(page, 'light');
});
