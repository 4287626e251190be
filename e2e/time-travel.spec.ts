import { expect, test, type Page } from '@playwright/test';

/**
 * Time travel in the first lesson: steps back undo steps forward, the trace's "Go to this moment"
 * puts every panel back where it was, and a link names a moment. Every wait is for a state.
 */
const trace = (page: Page) => page.locator('[data-panel="trace"]');
const events = (page: Page) =>
  page.evaluate(() => (window as unknown as { __gml: { progress(): { events: number } } }).__gml.progress().events);

/** The register values (the panel also marks those that changed last, which depends on what it showed before). */
const regsOf = (text: string | null) => (text ?? '').replace(/ \(changed\)/g, '');

/** What the panels show of the machine. */
async function panels(page: Page) {
  return {
    progress: (await page.getByTestId('progress').textContent())!,
    narration: (await page.getByTestId('narration').textContent())!,
    regs: regsOf(await page.getByTestId('regs').first().textContent()),
    instructions: (await page.getByTestId('instruction-count').first().textContent())!,
    count: (await trace(page).getByTestId('trace-count').textContent())!,
  };
}

/** Wait until the panels show `p` (they follow the worker's frames). */
async function expectPanels(page: Page, p: Awaited<ReturnType<typeof panels>>) {
  await expect(page.getByTestId('progress')).toHaveText(p.progress);
  await expect(page.getByTestId('narration')).toHaveText(p.narration);
  await expect.poll(async () => regsOf(await page.getByTestId('regs').first().textContent())).toBe(p.regs);
  await expect(page.getByTestId('instruction-count').first()).toHaveText(p.instructions);
  await expect(trace(page).getByTestId('trace-count')).toHaveText(p.count);
}

async function stepEvent(page: Page) {
  const n = await events(page);
  await page.getByRole('button', { name: 'Next event', exact: true }).click();
  await expect.poll(() => events(page)).toBeGreaterThan(n);
  // The text panels have taken that frame too.
  await expect(trace(page).getByTestId('trace-count')).toHaveText(new RegExp(`^${await events(page)} of ${await events(page)} events$`));
}

test('stepping back and forward again shows the same panels', async ({ page }) => {
  await page.goto('/?v=2&preset=host-reads-secret&debug=1');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await expect(page.getByRole('button', { name: 'Previous event' })).toBeDisabled();
  for (let i = 0; i < 6; i++) await stepEvent(page);
  const before = await panels(page);
  await stepEvent(page);
  const after = await panels(page);
  expect(after).not.toEqual(before);

  await page.getByRole('button', { name: 'Previous event' }).click();
  await expectPanels(page, before);
  await page.getByRole('button', { name: 'Next event', exact: true }).click();
  await expectPanels(page, after);
  // The same with the keyboard: Shift goes back.
  await page.keyboard.press('Shift+N');
  await expectPanels(page, before);
  await page.keyboard.press('n');
  await expectPanels(page, after);
  // One instruction back and forward; one scenario step back (to the lesson's start) and forward.
  await page.keyboard.press('Shift+I');
  await expect(page.getByTestId('instruction-count').first()).not.toHaveText(after.instructions);
  await page.keyboard.press('i');
  await expectPanels(page, after);
  await page.getByRole('button', { name: 'Back one lesson step' }).click();
  await expect(page.getByTestId('instruction-count').first()).toHaveText('0 instructions');
  await expect(page.getByRole('button', { name: 'Previous event' })).toBeDisabled();
  await expect(page).toHaveURL(/\?v=2&preset=host-reads-secret&debug=1$/);
});

test('"Go to this moment" on a trace row, and a link to that moment', async ({ page, context }) => {
  await page.goto('/?v=2&preset=host-reads-secret&debug=1');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  // Forward, one event at a time, to the first moment event 45 exists: what a seek to it must show.
  while ((await events(page)) <= 45) await stepEvent(page);
  const at45 = await panels(page);

  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
  // Select event 45 with the keyboard (every event is listed, so row i is event i), then go there.
  const list = trace(page).getByTestId('trace-list');
  await list.focus();
  await page.keyboard.press('Home');
  for (let i = 0; i < 45; i++) await page.keyboard.press('ArrowDown');
  await expect(trace(page).locator('[aria-selected="true"]')).toHaveAttribute('data-seq', '45');
  await trace(page).getByRole('button', { name: 'Go to this moment' }).click();
  await expectPanels(page, at45);
  await expect(trace(page).locator('[aria-selected="true"]')).toHaveAttribute('data-seq', '45');
  await expect(page).toHaveURL(/[?&]e=45(&|$)/);

  // The link opens at the same moment, with the same event selected.
  const other = await context.newPage();
  await other.goto(page.url());
  await expectPanels(other, at45);
  await expect(trace(other).locator('[aria-selected="true"]')).toHaveAttribute('data-seq', '45');
  await expect(other.getByRole('alert')).toHaveCount(0);

  // G on the focused list goes to the selected event's moment (here an earlier one).
  await list.focus();
  for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowUp');
  await expect(trace(page).locator('[aria-selected="true"]')).toHaveAttribute('data-seq', '35');
  await page.keyboard.press('g');
  await expect(page).toHaveURL(/[?&]e=35(&|$)/);
  await expect(trace(page).getByTestId('trace-count')).not.toHaveText(at45.count);
});

test('a malformed link, or one whose moment cannot be reached, says so and opens the lesson\'s start', async ({ page }) => {
  await page.goto('/?v=2&preset=host-reads-secret&c=%25%25');
  await expect(page.getByRole('alert')).toContainText('That link could not be followed');
  await expect(page.getByRole('alert')).toContainText('command list is not base64url');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await expect(page).toHaveURL(/\?v=2&preset=host-reads-secret$/);

  const commands = Buffer.from(JSON.stringify([{ step: 0, instr: 999_999, command: { do: 'interrupt', vm: 'ordinary' } }])).toString('base64url');
  await page.goto(`/?v=2&preset=lazy-accept&e=100000&c=${commands}`);
  await expect(page.getByRole('alert')).toContainText('the moment could not be reached');
  await expect(page.getByRole('alert')).toContainText('$.commands[0]');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await expect(page.getByRole('combobox', { name: 'Lesson' })).toHaveValue('lazy-accept');
});
