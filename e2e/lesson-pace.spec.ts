import { expect, test } from '@playwright/test';

// The lesson's pace (issue 13): Space or → runs one scenario step and waits at its end, ← goes back
// a step with time travel, Run freely plays on. Every wait below is for a state (toHaveText,
// toBeVisible), never for time.

const NOTES = [
  'The ordinary VM stores its secret and halts.',
  'The TD runs the same program.',
  "The VMM reads the ordinary guest's page through its own mapping: the secret.",
];

test('a lesson waits at the end of each step; → goes on, ← goes back, Run freely reaches the end', async ({ page }) => {
  await page.goto('/');
  const progress = page.getByTestId('progress');
  const narration = page.getByTestId('narration');
  await expect(progress).toHaveText('Step 1 of 7 · ready');
  // Before a step runs, nothing says what it will show.
  await expect(narration).toHaveText(/Space or → runs step 1/);
  await expect(page.getByText(NOTES[0])).toHaveCount(0);

  await page.keyboard.press('ArrowRight');
  await expect(progress).toHaveText('Step 1 of 7 · done');
  await expect(narration).toHaveText(NOTES[0]);
  await expect(page.getByTestId('step-result')).toContainText('run');
  await expect(page.getByTestId('step-result')).toContainText('Space or → runs step 2');
  // It waits there: the next step's sentence is not shown.
  await expect(page.getByText(NOTES[1])).toHaveCount(0);

  await page.keyboard.press('ArrowRight');
  await expect(progress).toHaveText('Step 2 of 7 · done');
  await expect(narration).toHaveText(NOTES[1]);

  await page.keyboard.press('Space');
  await expect(progress).toHaveText('Step 3 of 7 · done');
  await expect(narration).toHaveText(NOTES[2]);
  await expect(page.getByTestId('step-result')).toContainText('host_read');

  await page.keyboard.press('ArrowLeft');
  await expect(progress).toHaveText('Step 2 of 7 · done');
  await expect(narration).toHaveText(NOTES[1]);
  await page.keyboard.press('ArrowLeft');
  await expect(progress).toHaveText('Step 1 of 7 · done');
  await expect(narration).toHaveText(NOTES[0]);
  await page.getByRole('button', { name: 'Back one lesson step' }).click();
  await expect(progress).toHaveText('Step 1 of 7 · ready');
  await expect(page.getByRole('button', { name: 'Back one lesson step' })).toBeDisabled();

  await page.getByRole('button', { name: 'Next lesson step' }).click();
  await expect(progress).toHaveText('Step 1 of 7 · done');

  await page.getByRole('button', { name: 'Run freely' }).click();
  await expect(progress).toHaveText('Step 7 of 7 · finished');
  await expect(narration).toHaveText("The host reads the TD's private frame directly: zeros.");
  await expect(page.getByRole('button', { name: 'Next lesson step' })).toBeDisabled();

  // The help overlay lists the lesson's keys from the action registry.
  await page.keyboard.press('?');
  const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await expect(help).toContainText('Next lesson step');
  await expect(help).toContainText('Back one lesson step');
  await expect(help).toContainText('Run freely');
});

test('Space and the arrows stay with a text field and the code editor', async ({ page }) => {
  await page.goto('/');
  const progress = page.getByTestId('progress');
  await expect(progress).toHaveText('Step 1 of 7 · ready');
  const search = page.getByRole('searchbox').first();
  await search.fill('KVM');
  await search.press('Space');
  await search.press('ArrowLeft');
  await expect(search).toHaveValue('KVM ');
  const editor = page.locator('.cm-content').first();
  await editor.click();
  await editor.press('ArrowRight');
  await editor.press('ArrowLeft');
  // None of them ran a step: one → from the page runs exactly step 1.
  await progress.click();
  await page.keyboard.press('ArrowRight');
  await expect(progress).toHaveText('Step 1 of 7 · done');
  await expect(page.getByTestId('narration')).toHaveText(NOTES[0]);
});

test('a long step shows how far it is, in what it counts, and the time left at the measured rate', async ({ page }) => {
  test.setTimeout(180_000);
  await page.goto('/?v=1&preset=four-gigabytes');
  const progress = page.getByTestId('progress');
  await expect(progress).toHaveText('Step 1 of 2 · ready', { timeout: 60_000 });
  await page.keyboard.press('ArrowRight');
  await expect(progress).toHaveText('Step 1 of 2 · running');
  await expect(page.getByTestId('narration')).toHaveText('The ordinary VM touches every page of its 4 GiB.');
  const bar = page.getByTestId('step-progress');
  await expect(bar).toContainText(/of at most 20,000,000 instructions of ordinary/);
  await expect(page.getByRole('progressbar', { name: /Step 1: instructions of ordinary/ })).toBeVisible();
  // After a second of it has been measured, an estimate (at most: the guest may halt sooner).
  await expect(page.getByTestId('step-time-left')).toHaveText(/at most .* left/, { timeout: 60_000 });
  await page.keyboard.press('Space');
  await expect(progress).toHaveText('Step 1 of 2 · paused');
  await expect(bar).toBeVisible();
  await expect(page.getByTestId('step-time-left')).toHaveCount(0);
  await page.keyboard.press('ArrowLeft');
  await expect(progress).toHaveText('Step 1 of 2 · ready', { timeout: 60_000 });
  await expect(bar).toHaveCount(0);
});
