import { expect, test } from '@playwright/test';

test('the first lesson: the host reads the ordinary guest\'s secret and not the TD\'s', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Guest Memory Lab' })).toBeVisible();
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await page.getByRole('button', { name: 'Play' }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
  await expect(page.getByTestId('narration')).toContainText('zeros');
});

test('every preset loads and runs to the end without an error', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('progress')).toBeVisible();
  const picker = page.getByRole('combobox', { name: 'Lesson' });
  const options = await picker.locator('option').allTextContents();
  expect(options.length).toBeGreaterThanOrEqual(4);
  for (const title of options) {
    await picker.selectOption({ label: title });
    await page.getByRole('button', { name: 'Play' }).click();
    await expect(page.getByTestId('progress')).toHaveText(/finished/);
    await expect(page.getByRole('alert')).toHaveCount(0);
  }
});
