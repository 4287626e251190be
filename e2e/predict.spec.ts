import AxeBuilder from '@axe-core/playwright';
import { expect as baseExpect, test, type Page } from '@playwright/test';

// Each wait is for a state; on a loaded machine the lab's first load (worker, scenario) and a step
// can take longer than Playwright's default 5 s to get there.
const expect = baseExpect.configure({ timeout: 30_000 });
test.describe.configure({ timeout: 180_000 });

// Predict, then see (issue 13): Space or → before a step that asks opens its question instead of
// running it; answering (or skipping) runs it, then the verdict and the why show. Answers persist in
// localStorage and can be cleared; Run freely never stops at a question. Every wait is for a state.

/** The first lesson's step 5 (index 4) asks about read() on guest_memfd; step 7 about the physical read. */
const STEP5_NOTE = "The VMM tries read() on the TD's guest_memfd: refused.";
const STEP4_NOTE = 'The host kernel reads the physical frame: the secret again.';

async function toEndOfStep4(page: Page) {
  const progress = page.getByTestId('progress');
  await expect(progress).toHaveText('Step 1 of 7 · ready');
  for (let k = 1; k <= 4; k++) {
    await page.keyboard.press('ArrowRight');
    await expect(progress).toHaveText(`Step ${k} of 7 · done`);
  }
  await expect(page.getByTestId('question')).toHaveCount(0);
}

async function seriousViolations(page: Page, selector: string): Promise<string[]> {
  const r = await new AxeBuilder({ page }).include(selector).analyze();
  return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

test('a step that asks shows its question before it runs, hides its outcome, runs on the answer and says why; the answer outlives a reload and can be cleared', async ({ page }) => {
  await page.goto('/');
  const progress = page.getByTestId('progress');
  const narration = page.getByTestId('narration');
  await toEndOfStep4(page);
  // Step 4's show maximised the host panel: back to the grid, to watch the trace's count.
  await page.keyboard.press('Escape');
  // The trace panel is shown again: its count reads "0 of 0" until its rows have come from the worker.
  await expect(page.getByTestId('trace-count')).toHaveText(/^[1-9][\d,]* of [\d,]+ events/);
  const events = await page.getByTestId('trace-count').textContent();

  // → opens the question; the step does not run and nothing of it shows.
  await page.keyboard.press('ArrowRight');
  const question = page.getByTestId('question');
  await expect(question).toContainText("calls read() on the TD's guest_memfd");
  await expect(question.getByRole('radio')).toHaveCount(4);
  await expect(question.getByRole('radio').first()).toBeFocused();
  await expect(progress).toHaveText('Step 4 of 7 · done');
  await expect(narration).toHaveText(STEP4_NOTE);
  await expect(page.getByText(STEP5_NOTE)).toHaveCount(0);
  await expect(page.getByTestId('trace-count')).toHaveText(events!);
  await expect(question.getByRole('button', { name: 'Answer and run step 5' })).toBeDisabled();
  expect(await seriousViolations(page, '[data-testid="question"]')).toEqual([]);

  // Another → from the page does not run it either: the keyboard goes back to the question.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press('ArrowRight');
  await expect(question.getByRole('radio').first()).toBeFocused();
  await expect(progress).toHaveText('Step 4 of 7 · done');

  // A wrong answer: the step runs, then the verdict, the right answer and why.
  await question.getByRole('radio', { name: 'The secret', exact: true }).check();
  await question.getByRole('button', { name: 'Answer and run step 5' }).click();
  await expect(progress).toHaveText('Step 5 of 7 · done');
  await expect(narration).toHaveText(STEP5_NOTE);
  const feedback = page.getByTestId('question-feedback');
  await expect(feedback.getByTestId('question-verdict')).toHaveText(/Not quite: you said The secret; the answer is Nothing: read\(\) fails with EINVAL/);
  await expect(feedback.getByTestId('question-why')).toContainText('guest_memfd has no read() or write()');
  await expect(page.getByTestId('question')).toHaveCount(0);
  expect(await seriousViolations(page, '[data-testid="question-feedback"]')).toEqual([]);

  // The link names this moment: a reload comes back to it, with the answer as given.
  await page.reload();
  await expect(progress).toHaveText('Step 5 of 7 · done');
  await expect(feedback.getByTestId('question-verdict')).toHaveText(/Not quite: you said The secret/);

  // Clearing forgets it: the feedback goes, and going back asks again.
  await feedback.getByRole('button', { name: 'Clear my answers' }).click();
  await expect(feedback).toHaveCount(0);
  await page.keyboard.press('ArrowLeft');
  await expect(progress).toHaveText('Step 4 of 7 · done');
  await page.keyboard.press('ArrowRight');
  await expect(question).toBeVisible();
  // Skip runs the step without an answer kept.
  await question.getByRole('button', { name: 'Skip: run it' }).click();
  await expect(progress).toHaveText('Step 5 of 7 · done');
  await expect(page.getByTestId('question-feedback')).toHaveCount(0);

  // Back before step 5 again, answered rightly this time, then revisited: no question, the verdict shows with the step.
  await page.keyboard.press('ArrowLeft');
  await expect(progress).toHaveText('Step 4 of 7 · done');
  await page.keyboard.press('ArrowRight');
  await question.getByRole('radio', { name: /read\(\) fails with EINVAL/ }).check();
  await question.getByRole('button', { name: 'Answer and run step 5' }).click();
  await expect(feedback.getByTestId('question-verdict')).toHaveText(/Right: Nothing: read\(\) fails with EINVAL/);
  await page.keyboard.press('ArrowLeft');
  await expect(progress).toHaveText('Step 4 of 7 · done');
  await expect(page.getByTestId('question-feedback')).toHaveCount(0);
  await page.keyboard.press('ArrowRight');
  await expect(progress).toHaveText('Step 5 of 7 · done');
  await expect(feedback.getByTestId('question-verdict')).toHaveText(/Right/);
});

test('Run freely is never stopped by a question', async ({ page }) => {
  await page.goto('/');
  const progress = page.getByTestId('progress');
  await toEndOfStep4(page);
  await page.keyboard.press('ArrowRight');
  await expect(page.getByTestId('question')).toBeVisible();
  // F from the page (not from a field): the lesson plays through both questions to its end.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press('f');
  await expect(progress).toHaveText('Step 7 of 7 · finished');
  await expect(page.getByTestId('question')).toHaveCount(0);
  await expect(page.getByTestId('narration')).toHaveText("The host reads the TD's private frame directly: zeros.");
});

test('a numeric question takes a number, refuses what is not one, and judges within its tolerance', async ({ page }) => {
  await page.goto('/?v=2&preset=two-hosts');
  const progress = page.getByTestId('progress');
  await expect(progress).toHaveText('Step 1 of 11 · ready');
  for (let k = 1; k <= 3; k++) {
    await page.keyboard.press('ArrowRight');
    await expect(progress).toHaveText(`Step ${k} of 11 · done`);
  }
  await page.keyboard.press('ArrowRight');
  const question = page.getByTestId('question');
  await expect(question).toContainText('How long will 256 MiB take on the wire at 10 Gbit/s?');
  const input = question.getByRole('textbox', { name: 'Your answer' });
  await expect(input).toBeFocused();
  await input.fill('about 200');
  await expect(input).toHaveAttribute('aria-invalid', 'true');
  await expect(question.getByRole('button', { name: 'Answer and run step 4' })).toBeDisabled();
  await input.fill('212');
  await input.press('Enter');
  await expect(progress).toHaveText('Step 4 of 11 · done');
  await expect(page.getByTestId('question-verdict')).toHaveText('✓ Right: 212 ms.');
  await expect(page.getByTestId('question-why')).toContainText('214.7 ms');
});
