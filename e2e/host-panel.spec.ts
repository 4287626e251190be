import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';

/** The first lesson, played to the end, with the host view maximised. */
async function firstLessonFinished(page: Page) {
  await page.goto('/');
  await page.getByRole('button', { name: 'Run freely' }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
  const host = page.locator('[data-panel="host"]');
  await host.getByRole('button', { name: /^Maximise/ }).click();
  return host;
}

async function read(host: ReturnType<Page['locator']>, vm: string, gpa: string, via: string) {
  await host.getByRole('radio', { name: 'GPA of a VM' }).check();
  await host.getByRole('combobox', { name: 'VM' }).selectOption(vm);
  await host.getByRole('textbox', { name: 'GPA' }).fill(gpa);
  await host.getByRole('radio', { name: via }).check();
  await host.getByRole('button', { name: 'Read as the host' }).click();
}

test('the host reads the ordinary guest\'s secret from physical memory, and only zeros or EINVAL from the TD', async ({ page }) => {
  const host = await firstLessonFinished(page);
  const result = host.getByTestId('read-result');

  await read(host, 'ordinary', '0x102000', 'physical memory');
  await expect(result).toContainText('host_read(vm=ordinary, gpa=0x102000, length=32, via=physical) → ret 32');
  await expect(host.getByTestId('hex-view')).toContainText('TOP-SECRET-KEY=42');
  await expect(host.getByTestId('hex-view')).toContainText('54 4f 50 2d 53 45 43 52');

  await read(host, 'td', '0x102000', 'physical memory');
  await expect(result).toContainText('host_read(vm=td, gpa=0x102000, length=32, via=physical) → ret 32');
  await expect(host.getByTestId('hex-text')).toHaveText('32 zero bytes');
  await expect(host.getByTestId('read-sentence')).toHaveText(/The line belongs to the TD; the host reads with its own key/);
  // The trace's own sentence for the call, fetched from the worker.
  await expect(result).toContainText(/trace: The host reads host-physical 0x[0-9a-f]+ directly/);

  await read(host, 'td', '0x102000', 'guest_memfd read()');
  await expect(result).toContainText('-1 EINVAL');
  await expect(host.getByTestId('read-sentence')).toContainText('guest_memfd has no read()');
  await expect(host.getByTestId('hex-view')).toHaveCount(0);

  await read(host, 'td', '0x102000', "VMM's mapping");
  await expect(host.getByTestId('read-sentence')).toContainText("only holds the shared view");
});

test('input that is not a number or lies beyond memory is refused inline and nothing is sent', async ({ page }) => {
  const host = await firstLessonFinished(page);
  // A good read first: its result must not stay under the next input's error, as if it were that one's.
  await read(host, 'ordinary', '0x102000', 'physical memory');
  await expect(host.getByTestId('read-result')).toHaveCount(1);
  await read(host, 'ordinary', 'secret', 'physical memory');
  await expect(host.getByRole('alert')).toContainText('is not a number');
  await expect(host.getByTestId('read-result')).toHaveCount(0);
  await host.getByRole('radio', { name: 'host-physical (HPA)' }).check();
  await host.getByRole('textbox', { name: 'HPA' }).fill('0x400000000');
  await host.getByRole('button', { name: 'Read as the host' }).click();
  await expect(host.getByRole('alert')).toContainText('beyond the end of host memory');
  await expect(host.getByTestId('read-result')).toHaveCount(0);
});

test('clicking a frame of the TD\'s guest_memfd shows what it is and fills the HPA', async ({ page }) => {
  const host = await firstLessonFinished(page);
  await expect(host.getByRole('button', { name: /guest_memfd of td\s*16,384 frames \(64 MiB\)/ })).toBeVisible();
  const map = host.getByTestId('frame-map');
  const box = (await map.boundingBox())!;
  // The default range starts after the host kernel, so the middle of the map is the TD's private memory.
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 3);
  await expect(host.getByTestId('frame-hover')).toContainText('guest_memfd of td');
  await page.mouse.down();
  await page.mouse.up();
  const info = host.getByTestId('frame-info');
  await expect(info).toContainText(/page \d+ of guest_memfd \d+/);
  await expect(info).toContainText('VM td');
  await expect(info).toContainText("the TD's private key");
  const hpa = (await map.getAttribute('aria-valuetext'))!.match(/HPA (0x[0-9a-f]+)/)![1];
  await expect(host.getByRole('textbox', { name: 'HPA' })).toHaveValue(hpa);

  // The keyboard moves the selection one frame at a time.
  await map.focus();
  await page.keyboard.press('ArrowRight');
  await expect(map).not.toHaveAttribute('aria-valuetext', new RegExp(hpa));

  // Reading that frame as the host gives zeros: the lines belong to the TD.
  await host.getByRole('button', { name: 'Read as the host' }).click();
  await expect(host.getByTestId('read-sentence')).toContainText('belongs to the TD');
});

test('writing a TD line as the host poisons it', async ({ page }) => {
  const host = await firstLessonFinished(page);
  await host.getByRole('checkbox', { name: 'Write as the host (attack)' }).check();
  await host.getByRole('radio', { name: 'GPA of a VM' }).check();
  await host.getByRole('combobox', { name: 'VM' }).selectOption('td');
  await host.getByRole('textbox', { name: 'GPA' }).fill('0x102000');
  await host.getByRole('radio', { name: 'physical memory' }).check();
  await host.getByRole('button', { name: 'Write (attack)' }).click();
  await expect(host.getByTestId('read-sentence')).toContainText('poisoned');
  await expect(host.getByTestId('read-sentence')).toContainText('machine check');
});

test('the host view has no serious accessibility problems', async ({ page }) => {
  const host = await firstLessonFinished(page);
  await read(host, 'td', '0x102000', 'physical memory');
  await expect(host.getByTestId('read-result')).toBeVisible();
  await host.getByRole('button', { name: /guest_memfd of td/ }).click();
  await expect(host.getByTestId('frame-info')).toContainText('guest_memfd');
  for (const theme of ['light', 'dark']) {
    await page.evaluate((t) => { document.documentElement.dataset.theme = t; }, theme);
    const r = await new AxeBuilder({ page }).include('[data-panel="host"]').analyze();
    const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(bad.map((v) => `${theme}: ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
  }
});

test('the VMM address space shows which guest pages each VMA maps: the ordinary VM\'s program and secret, only the page the host touched in the TD\'s', async ({ page }) => {
  const host = await firstLessonFinished(page);
  const ordinary = host.getByTestId('vmm-space-ordinary').getByRole('list', { name: 'Guest pages pc.ram of ordinary maps' });
  await expect(ordinary.getByRole('listitem')).toHaveText(['GPA 0x100000–0x103fff, 4 pages']);
  const td = host.getByTestId('vmm-space-td');
  await expect(td.getByRole('list', { name: 'Guest pages pc.ram of td maps' }).getByRole('listitem')).toHaveText(['GPA 0x102000–0x102fff, 1 page']);
  await expect(td).toContainText('private pages live in guest_memfd and never appear here');
  await expect(td.getByRole('img', { name: /^Guest-physical 0x0–0x3ffffff of td, pc\.ram: 1 run of resident guest pages/ })).toBeVisible();
});
