import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';

/** A platform lesson played to the end, then the attack-surface view. */
async function surfaceView(page: Page, preset: string) {
  await page.goto(`/?v=1&preset=${preset}`);
  await expect(page.getByTestId('progress')).toBeVisible();
  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/, { timeout: 30_000 });
  await page.getByRole('group', { name: 'View' }).getByRole('button', { name: 'Attack surface' }).click();
  const view = page.getByTestId('surface-view');
  await expect(view).toBeVisible();
  return view;
}

/** Open a section of the view (they are <details>; Devices starts open). */
async function open(page: Page, section: string) {
  const d = page.locator(`details[data-section="${section}"]`);
  if (!(await d.evaluate((e) => (e as HTMLDetailsElement).open))) await d.locator('> summary').click();
  return d;
}

const card = (page: Page, vm: string) => page.getByTestId(`surface-card-${vm}`);
const total = async (page: Page, vm: string) => Number(await card(page, vm).getByTestId('surface-total').textContent());
/** A row of a VM's port or MMIO map, by the start of its range. */
const range = (page: Page, map: 'ports' | 'mmio', vm: string, start: string) =>
  page.getByTestId(`${map}-${vm}`).getByRole('row').filter({ has: page.getByRole('cell', { name: new RegExp(`^${start}(–|$)`) }) });

test('platform-talk: the talk VM boots with the proposal, its allow-list and frozen devices, and a smaller figure', async ({ page }) => {
  await surfaceView(page, 'platform-talk');
  const talk = card(page, 'talk');
  const upstream = card(page, 'upstream');
  await expect(talk.getByTestId('surface-total')).toHaveText(/^\d+$/);
  await expect(talk.getByRole('radio', { name: "the talk's proposal" })).toBeChecked();
  await expect(upstream.getByRole('radio', { name: 'upstream today' })).toBeChecked();
  await expect(talk.getByTestId('surface-status')).toContainText(/Allow-list:\s*in force/);
  await expect(talk.getByTestId('surface-status')).toContainText(/Device state:\s*frozen/);
  await expect(upstream.getByTestId('surface-status')).toContainText(/Allow-list:\s*none/);
  await expect(upstream.getByTestId('surface-status')).toContainText(/Device state:\s*live/);
  // Frozen already: nothing more to freeze.
  await expect(talk.getByRole('button', { name: 'Freeze devices' })).toBeDisabled();
  expect(await total(page, 'talk')).toBeLessThan(await total(page, 'upstream'));

  await open(page, 'ports');
  // The attack wrote APM_CNT: the talk's allow-list refused it before any device code, upstream QEMU answered.
  const apmTalk = range(page, 'ports', 'talk', '0xb2');
  await expect(apmTalk).toHaveCount(1);
  await expect(apmTalk).toContainText('denied');
  await expect(apmTalk.getByRole('cell').last()).not.toHaveText('0');
  await expect(range(page, 'ports', 'upstream', '0xb2')).toContainText('present');
  await expect(page.getByTestId('ports-talk').getByRole('row').filter({ hasText: 'frozen' }).first()).toBeVisible();
  await expect(page.getByTestId('ports-upstream').getByRole('row').filter({ hasText: /frozen|denied/ })).toHaveCount(0);

  await open(page, 'boot');
  for (const vm of ['upstream', 'talk']) {
    await expect(page.getByTestId(`boot-log-${vm}`)).toContainText('Hypervisor detected: KVM');
    await expect(page.getByTestId(`boot-log-${vm}`)).toContainText(/linux_boot: \d+ devices found/);
  }
});

test('platform-upstream: the talk\'s proposal needs a reboot, then Freeze works and the figure drops', async ({ page }) => {
  await surfaceView(page, 'platform-upstream');
  const c = card(page, 'ordinary');
  await expect(c.getByTestId('surface-total')).toHaveText(/^\d+$/);
  const before = await total(page, 'ordinary');
  const freeze = c.getByRole('button', { name: 'Freeze devices' });
  await expect(freeze).toBeDisabled();
  await expect(c).toContainText("Freezing device state is the talk's proposal");

  // The radio shows the worker's answer: it is checked once the command has been applied.
  await c.getByRole('radio', { name: "the talk's proposal" }).click();
  await expect(c.getByRole('radio', { name: "the talk's proposal" })).toBeChecked();
  await expect(c.getByTestId('reboot')).toContainText(/needs a reboot/i);
  await expect(c.getByTestId('reboot')).toContainText(/design mode: the talk's proposal/);
  // Chosen for the next boot: the running guest is still upstream.
  await expect(c.getByTestId('surface-status')).toContainText(/Running:\s*upstream today\s*· Allow-list:\s*none/);
  await expect(c).toContainText("Freezing device state is the talk's proposal: reboot to start it.");
  await expect(freeze).toBeDisabled();
  expect(await total(page, 'ordinary')).toBe(before);

  await c.getByRole('button', { name: 'Reboot ordinary' }).click();
  await expect(c.getByTestId('reboot')).not.toContainText(/needs a reboot/i);
  await expect(c.getByRole('radio', { name: "the talk's proposal" })).toBeChecked();
  await expect(c.getByTestId('surface-status')).toContainText(/Running:\s*the talk's proposal\s*· Allow-list:\s*in force/);
  await expect(c.getByTestId('surface-status')).toContainText(/Device state:\s*live/);
  await expect(c.getByTestId('surface-status')).toContainText(/Boot 2/);
  await expect(freeze).toBeEnabled();

  await freeze.click();
  await expect(c.getByTestId('surface-status')).toContainText(/Device state:\s*frozen/);
  await expect(freeze).toBeDisabled();
  await expect(page.getByTestId('devices-ordinary').getByTestId('device-pic')).toContainText('frozen');
  await open(page, 'ports');
  await expect(range(page, 'ports', 'ordinary', '0x20')).toContainText('frozen');
  await expect(range(page, 'ports', 'ordinary', '0x3f0')).toContainText('denied');
  expect(await total(page, 'ordinary')).toBeLessThan(before);
  await expect(c).toContainText(new RegExp(`down from ${before}`));
  // The TD keeps the upstream design.
  await expect(card(page, 'td').getByRole('radio', { name: 'upstream today' })).toBeChecked();
});

test('MSR filter: denying reads of IA32_MISC_ENABLE sends them to the VMM, which has no handler: the next boot gets #GP', async ({ page }) => {
  await surfaceView(page, 'platform-upstream');
  await open(page, 'msrs');
  const row = page.getByTestId('msrs-ordinary').getByTestId('msr-0x1a0');
  await expect(row).toContainText('IA32_MISC_ENABLE');
  await expect(row).toContainText('read: VM exit → KVM emulates');
  const read = row.getByRole('combobox', { name: 'Filter read of IA32_MISC_ENABLE (0x1a0)' });
  await expect(read).toHaveValue('allow');
  await expect(page.getByTestId('msrs-ordinary')).toContainText('No MSR filter is set');

  await read.selectOption('deny');
  // The select shows the worker's answer, and the row's read path now goes through the filter to the VMM.
  await expect(read).toHaveValue('deny');
  await expect(row.getByRole('combobox', { name: 'Filter write of IA32_MISC_ENABLE (0x1a0)' })).toHaveValue('allow');
  await expect(row).toContainText(/read: VM exit → kvm_msr_allowed: denied → KVM_EXIT_X86_RDMSR \(KVM_MSR_EXIT_REASON_FILTER\)/);
  await expect(row).toContainText('write: VM exit → KVM emulates');
  const msrs = page.getByTestId('msrs-ordinary');
  await expect(msrs).toContainText('KVM_X86_SET_MSR_FILTER: default allow');
  await expect(msrs).toContainText('0x1a0 +1 (KVM_MSR_FILTER_READ)');
  await expect(msrs).toContainText('KVM_CAP_X86_USER_SPACE_MSR: KVM_MSR_EXIT_REASON_FILTER');
  // The changed row stands out among dozens, and stays readable in both themes.
  await expect(row).toHaveClass(/policy-set/);
  for (const theme of ['light', 'dark']) {
    await page.evaluate((t) => { document.documentElement.dataset.theme = t; }, theme);
    const r = await new AxeBuilder({ page }).include('[data-testid="msrs-ordinary"] [data-testid="msr-0x1a0"]').analyze();
    expect(r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${theme}: ${v.id}`)).toEqual([]);
  }
  // The TD's row is untouched.
  await expect(page.getByTestId('msrs-td').getByTestId('msr-0x1a0')
    .getByRole('combobox', { name: 'Filter read of IA32_MISC_ENABLE (0x1a0)' })).toHaveValue('allow');

  await open(page, 'boot');
  const log = page.getByTestId('boot-log-ordinary');
  await expect(log).not.toContainText('unchecked MSR access error');
  await card(page, 'ordinary').getByRole('button', { name: 'Reboot ordinary' }).click();
  await expect(card(page, 'ordinary').getByTestId('surface-status')).toContainText(/Boot 2/);
  // Linux's message for a #GP on RDMSR (arch/x86/mm/extable.c), marked as a line worth a look.
  await expect(log.locator('mark.flagged', { hasText: 'unchecked MSR access error: RDMSR from 0x1a0' }).first()).toBeVisible();
  await expect(page.getByTestId('boot-log-td')).not.toContainText('unchecked MSR access error');

  // The trace of that reboot: the filter's exit to the VMM, the VMM's refusal, the #GP.
  await page.getByRole('group', { name: 'View' }).getByRole('button', { name: 'Memory' }).click();
  const trace = page.locator('[data-panel="trace"]');
  await trace.getByRole('searchbox', { name: 'Name' }).fill('KVM_EXIT_X86_RDMSR');
  const rows = trace.getByTestId('trace-row');
  await expect(rows.first()).toBeVisible();
  await rows.first().click();
  const details = trace.getByTestId('trace-details');
  await expect(details).toContainText('KVM_EXIT_X86_RDMSR');
  await expect(details).toContainText('0x1a0');
  await expect(details).toContainText('KVM_MSR_EXIT_REASON_FILTER');
  await trace.getByRole('searchbox', { name: 'Name' }).fill('kvm_handle_rdmsr');
  await expect(rows.first()).toBeVisible();
});

test('the talk\'s fixed-value constraint on an MSR: set through the row, shown in its paths', async ({ page }) => {
  await surfaceView(page, 'platform-upstream');
  await open(page, 'msrs');
  const row = page.getByTestId('msrs-ordinary').getByTestId('msr-0x277');
  const who = 'IA32_PAT (0x277)';
  const constraint = row.getByRole('combobox', { name: `Constraint on ${who}` });
  await expect(constraint).toHaveValue('none');
  await constraint.selectOption('fixed');
  const value = row.getByRole('textbox', { name: `Fixed value of ${who}` });
  await expect(value).toBeVisible();

  // A value that is not a 64-bit number is refused in the row, nothing is sent.
  await value.fill('0xZZ');
  await row.getByRole('button', { name: 'Set' }).click();
  await expect(row.getByRole('alert')).toContainText('Give a 64-bit value');
  await expect(value).toHaveAttribute('aria-invalid', 'true');
  await expect(row).toContainText('write: VM exit → KVM emulates');

  await value.fill('0x7040600070406');
  await row.getByRole('button', { name: 'Set' }).click();
  await expect(value).toHaveCount(0);
  await expect(constraint).toHaveValue('fixed');
  await expect(row).toContainText('= 0x7040600070406');
  await expect(row).toContainText('read: VM exit → constraint (proposal): KVM returns 0x7040600070406');
  await expect(row).toContainText('write: VM exit → constraint (proposal): KVM drops the write');
  // The filter is not involved: the constraint is the talk's addition, not KVM_X86_SET_MSR_FILTER.
  await expect(row.getByRole('combobox', { name: `Filter read of ${who}` })).toHaveValue('allow');

  // Back to none: the row goes back to KVM's emulation.
  await constraint.selectOption('none');
  await expect(row).toContainText('read: VM exit → KVM emulates');
  await expect(row).not.toContainText('= 0x7040600070406');
});
