import { expect, test } from '@playwright/test';

test('the first lesson: the host reads the ordinary guest\'s secret and not the TD\'s', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Guest Memory Lab' })).toBeVisible();
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await page.getByRole('button', { name: 'Run freely' }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
  await expect(page.getByTestId('narration')).toContainText('zeros');
});

test('every preset loads and runs without an error (the 4 GiB one for a few seconds)', async ({ page }) => {
  // Every lesson in one test: building the 4 GiB guests alone takes seconds on a loaded machine, and
  // the migration lessons simulate seconds of a guest that writes. The fastest speed (+ three times
  // from the default) runs them freely as fast as the worker can; each still gets a minute.
  test.setTimeout(600_000);
  await page.goto('/');
  await expect(page.getByTestId('progress')).toBeVisible();
  for (let i = 0; i < 3; i++) await page.keyboard.press('+');
  await expect(page.getByText('500,000 instr/frame')).toBeVisible();
  const picker = page.getByRole('combobox', { name: 'Lesson' });
  const options = await picker.locator('option').allTextContents();
  expect(options.length).toBeGreaterThanOrEqual(5);
  for (const title of options) {
    await picker.selectOption({ label: title });
    await expect(page.getByRole('heading', { level: 2, name: title })).toBeVisible();
    await page.getByRole('button', { name: 'Run freely', exact: true }).click({ timeout: 30_000 });
    if (title.startsWith('Four gigabytes')) {
      // Touching 2 × 4 GiB page by page takes minutes at presenter speed: check that it runs.
      await expect(page.getByTestId('latest-event')).toContainText(/EPT|get_user_pages|KVM/, { timeout: 15_000 });
      await page.getByRole('button', { name: 'Pause' }).click();
    } else {
      await expect(page.getByTestId('progress')).toHaveText(/finished/, { timeout: 60_000 });
    }
    await expect(page.getByRole('alert')).toHaveCount(0);
  }
});
