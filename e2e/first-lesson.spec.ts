import { expect, test } from '@playwright/test';

test('the first lesson runs in a worker: the host reads the ordinary guest\'s secret and not the TD\'s', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Guest Memory Lab' })).toBeVisible();
  await page.getByRole('button', { name: 'Run' }).click();
  await expect(page.getByTestId('ran-in')).toHaveText(/Simulated in a web worker/);
  // Ordinary VM: the VMM's mapping and physical memory both show the secret.
  await expect(page.getByTestId('step-2')).toContainText('TOP-SECRET-KEY=42');
  await expect(page.getByTestId('step-3')).toContainText('TOP-SECRET-KEY=42');
  // TD: read() on guest_memfd fails, the mapping and the physical page give zeros.
  await expect(page.getByTestId('step-4')).toContainText('-1 EINVAL');
  await expect(page.getByTestId('step-5')).not.toContainText('TOP-SECRET');
  await expect(page.getByTestId('step-6')).toContainText('00 00 00 00');
  await expect(page.getByTestId('step-6')).not.toContainText('TOP-SECRET');
});

test('every preset runs in the browser without an error', async ({ page }) => {
  await page.goto('/');
  const options = await page.getByRole('combobox', { name: 'Lesson' }).locator('option').allTextContents();
  expect(options.length).toBeGreaterThanOrEqual(4);
  for (const title of options) {
    await page.getByRole('combobox', { name: 'Lesson' }).selectOption({ label: title });
    await page.getByRole('button', { name: 'Run' }).click();
    await expect(page.getByTestId('ran-in')).toBeVisible();
    await expect(page.getByRole('alert')).toHaveCount(0);
  }
});
