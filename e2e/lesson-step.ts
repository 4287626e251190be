import { expect, type Page } from '@playwright/test';

/**
 * Run lesson step `k` (1-based) at the lesson's pace with the lesson bar's Next lesson step, and
 * wait for it to end. A step that asks a question first (predict, then see) shows it: the answer
 * is skipped ("Skip: run it"), which runs the step. Driven to each state, never timed.
 */
export async function nextLessonStep(page: Page, k: number, timeout = 120_000): Promise<void> {
  const progress = page.getByTestId('progress');
  const done = new RegExp(`^Step ${k} of \\d+ · (done|finished)`);
  await page.getByRole('button', { name: 'Next lesson step' }).click();
  const question = page.getByTestId('question');
  await expect(question.or(progress.filter({ hasText: done }))).toBeVisible({ timeout });
  if (await question.isVisible()) await question.getByRole('button', { name: 'Skip: run it' }).click();
  await expect(progress).toHaveText(done, { timeout });
}

/** Run lesson step `k` at once with S (no question stops it, no `show` is brought forward), and wait for its end. */
export async function stepAtOnce(page: Page, k: number, timeout = 120_000): Promise<void> {
  await page.locator('body').press('s');
  await expect(page.getByTestId('progress')).toHaveText(new RegExp(`^Step ${k} of \\d+ · (done|finished)`), { timeout });
}
