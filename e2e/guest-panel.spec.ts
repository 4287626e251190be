import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';

const guest = (page: Page) => page.locator('[data-panel="guest"]');

async function playToTheEnd(page: Page) {
  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
}

/** Put the cursor on a line of the program (1-based) at the end of its indentation. */
/** Put the cursor at the start of a line (CodeMirror renders only the lines in view, so go by keys). */
async function gotoLine(page: Page, line: number) {
  await guest(page).locator('.cm-content').click();
  await page.keyboard.press('Control+Home');
  for (let i = 1; i < line; i++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Home');
}

test('the ordinary VM prints on its console; the TD\'s registers are hidden from the host', async ({ page }) => {
  await page.goto('/');
  await expect(guest(page).locator('.cm-content')).toContainText('secret stored');
  await playToTheEnd(page);
  await expect(guest(page).getByTestId('console')).toHaveText(/secret stored/);
  await expect(guest(page).getByTestId('regs')).toContainText('rip');
  await expect(guest(page).getByTestId('instruction-count')).toHaveText(/[1-9][\d,]* instructions/);
  // The guest halted at the end of its program: its one vCPU says so.
  await expect(guest(page).getByTestId('vcpu-list').locator('li')).toHaveCount(1);
  await expect(guest(page).getByTestId('vcpu-list')).toContainText('vCPU 0 halted');

  await page.getByRole('tab', { name: /^td/ }).click();
  await expect(guest(page).getByTestId('guest-view')).toHaveAttribute('data-vm', 'td');
  await expect(guest(page).getByTestId('regs-note')).toContainText('KVM_GET_REGS');
  await expect(guest(page).getByTestId('regs')).toHaveCount(0);
});

test('stepping highlights the next instruction\'s line and the registers it changed', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  // Stepping is the toolbar's (one set of controls): the guest panel follows it.
  const next = page.getByRole('button', { name: 'Next instruction', exact: true });
  await next.click();
  await expect(guest(page).getByTestId('instruction-count')).not.toHaveText('0 instructions');
  await next.click();
  await expect(guest(page).getByTestId('next-instruction')).toContainText('Next:');
  await expect(guest(page).locator('.cm-line.asm-next-line')).toHaveCount(1);
  await expect(guest(page).locator('.regs-table td.changed').first()).toBeVisible();
});

test('a typo is marked at its line and column; applying it keeps the text, a valid edit reloads', async ({ page }) => {
  await page.goto('/');
  await playToTheEnd(page);
  const editor = guest(page).locator('.cm-content');
  await expect(editor).toContainText('mov rcx, secret_len');

  // Line 5 is "    mov rcx, secret_len": turn its mov into mvo.
  await gotoLine(page, 5);
  for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+ArrowRight');
  await page.keyboard.type('mvo');
  // Typing in the editor must not reach the global shortcuts (e, i, t ...).
  await expect(page.getByTestId('progress')).toHaveText(/finished/);

  const errors = guest(page).getByTestId('asm-errors');
  await expect(errors).toContainText("line 5, column 5: unknown instruction 'mvo'");
  await expect(guest(page).locator('.cm-line.asm-error-line')).toHaveCount(1);
  await expect(guest(page).locator('.cm-line.asm-error-line')).toContainText('mvo rcx, secret_len');

  await guest(page).getByRole('button', { name: 'Apply and restart' }).click();
  await expect(errors).toContainText('Not applied');
  await expect(errors).toContainText("unknown instruction 'mvo'");
  await expect(editor).toContainText('mvo rcx, secret_len');
  await expect(page.getByTestId('progress')).toHaveText(/finished/);

  // Fix it and add a comment: a valid edit is applied and the scenario starts again.
  await gotoLine(page, 5);
  for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+ArrowRight');
  await page.keyboard.type('mov');
  await page.keyboard.press('End');
  await page.keyboard.type(' ; edited in class');
  await expect(guest(page).getByText('Assembles without errors.')).toBeVisible();
  await guest(page).getByRole('button', { name: 'Apply and restart' }).click();
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await expect(editor).toContainText('mov rcx, secret_len ; edited in class');
  await expect(page.getByRole('combobox', { name: 'Lesson' })).toContainText('(edited)');
  await expect(guest(page).getByRole('button', { name: 'Apply and restart' })).toBeDisabled();
  await playToTheEnd(page);
  await expect(guest(page).getByTestId('console')).toHaveText(/secret stored/);
});

test('edits survive switching VM tabs', async ({ page }) => {
  await page.goto('/');
  await expect(guest(page).locator('.cm-content')).toContainText('secret stored');
  await gotoLine(page, 5);
  await page.keyboard.press('End');
  await page.keyboard.type(' ; kept');
  await page.getByRole('tab', { name: /^td/ }).click();
  await expect(guest(page).getByTestId('guest-view')).toHaveAttribute('data-vm', 'td');
  await expect(guest(page).locator('.cm-content')).not.toContainText('; kept');
  await page.getByRole('tab', { name: /^ordinary/ }).click();
  await expect(guest(page).locator('.cm-content')).toContainText('mov rcx, secret_len ; kept');
});

test('the guest panel has no serious accessibility violations', async ({ page }) => {
  for (const theme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: theme });
    await page.goto('/');
    await playToTheEnd(page);
    await expect(guest(page).locator('.cm-content')).toBeVisible();
    for (const vm of ['ordinary', 'td']) {
      await page.getByRole('tab', { name: new RegExp(`^${vm}`) }).click();
      const r = await new AxeBuilder({ page }).include('[data-panel="guest"]').analyze();
      const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      expect(bad.map((v) => `${theme}/${vm}: ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
    }
  }
});
