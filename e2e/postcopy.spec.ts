import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';

/** The control that runs the lesson to its end without stopping (Play, or Run freely once the lesson has a pace). */
const runToEnd = (page: Page) => page.getByRole('button', { name: /^(Play|Run freely)$/ });

/** The number a legend entry prints for destination page state `code`. */
async function dstCount(page: Page, code: number): Promise<number> {
  const t = (await page.getByTestId(`mig-count-dst-${code}`).first().textContent()) ?? '';
  return Number(t.replace(/,/g, ''));
}

/**
 * postcopy-faults: two guests switched to post-copy, one without postcopy-preempt and one with it.
 * The panel's Start post-copy control sends migrate-start-postcopy while a pre-copy with postcopy-ram
 * runs; at the end the newest migration shows the destination's post-copy page states in its map's
 * legend and a fault timeline with a bar per fault, blocktime and latency beside it; the earlier one
 * keeps its figures in its line. Driven to the states it checks, never timed.
 */
test('postcopy-faults: Start post-copy, then the fault timeline and the post-copy page states', async ({ page }) => {
  test.setTimeout(240_000);
  await page.goto('/?v=2&preset=postcopy-faults');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  const panel = page.locator('[data-panel="migration"]');
  const start = panel.getByRole('button', { name: 'Start post-copy' });
  await expect(start).toBeDisabled();
  await expect(start).toHaveAttribute('title', /No migration is running/);

  // Step until a pre-copy with postcopy-ram runs: the control is enabled; P sends migrate-start-postcopy.
  // A step at a time, each waited for to its end (cont, cont, run_until 50ms, migrate guest-a): clicking
  // again before a step ended could run on into the lesson's own migrate_start_postcopy.
  const next = page.getByRole('button', { name: 'Next lesson step' });
  for (let k = 1; k <= 4; k++) {
    await next.click();
    await expect(page.getByTestId('progress')).toHaveText(new RegExp(`^Step ${k} of \\d+ · done`), { timeout: 120_000 });
  }
  await expect(start).toBeEnabled();
  await page.locator('body').press('p');
  await expect(panel.getByTestId('migration-notice')).toHaveText(/^migrate-start-postcopy: at its next pass/);

  await runToEnd(page).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/, { timeout: 200_000 });
  await expect(page.getByText(/The simulation stopped/)).toHaveCount(0);
  await expect(panel.getByTestId('migration-status')).toHaveText(['completed', 'completed']);

  // The newest migration's destination map is post-copy's: its legend counts pages placed in the
  // background and by faults, and nothing is missing or in flight at the end.
  const legend = panel.getByRole('list', { name: 'Destination legend' });
  await expect(legend.getByText('post-copy: by a fault')).toBeVisible();
  await expect(legend.getByText('post-copy: requested')).toBeVisible();
  expect(await dstCount(page, 14)).toBeGreaterThan(0);
  expect(await dstCount(page, 13)).toBeGreaterThan(0);
  expect(await dstCount(page, 11)).toBe(0);
  expect(await dstCount(page, 12)).toBe(0);
  await expect(panel.getByTestId('mig-flash-legend')).toBeVisible();

  // The fault timeline: bars, a row per vCPU, the legend from how a fault was served; blocktime and latency with units.
  const pc = panel.getByTestId('postcopy');
  await expect(pc.getByTestId('postcopy-status')).toHaveText('completed');
  const timeline = pc.getByTestId('fault-timeline');
  expect(Number(await timeline.getAttribute('data-bars'))).toBeGreaterThan(10);
  await expect(timeline).toHaveAttribute('data-waiting', '0');
  await expect(timeline.locator('path.pc-bar').first()).toBeVisible();
  // Hovering a bar tells its fault.
  // (The first rectangle of the first bars' path, in page coordinates: the SVG is drawn 1:1.)
  await timeline.locator('svg').scrollIntoViewIfNeeded();
  const bar = await timeline.locator('path.pc-bar').first().evaluate((el) => {
    const [x, y, , h] = (el.getAttribute('d') ?? '').match(/^M([\d.-]+) ([\d.-]+)h([\d.-]+)v([\d.-]+)/)!.slice(1).map(Number);
    const box = (el as SVGPathElement).ownerSVGElement!.getBoundingClientRect();
    return { x: box.left + x, y: box.top + y + h / 2 };
  });
  await page.mouse.move(bar.x + 1, bar.y);
  await expect(timeline.getByTestId('fault-tip')).toHaveText(/^Fault [\d,]+: vCPU \d+ touched page 0x[0-9a-f]+; woke after/);
  await expect(timeline.getByTestId('fault-newest')).toHaveText(/^Newest: Fault [\d,]+: vCPU/);
  await expect(timeline.getByText('vCPU 0', { exact: true })).toBeVisible();
  await expect(timeline.getByRole('list', { name: 'Fault timeline legend' }).getByText('requested')).toBeVisible();
  await expect(pc.getByTestId('postcopy-times')).toContainText(/postcopy-latency\s*[\d.]+ (µs|ms)/);
  await expect(pc.getByTestId('postcopy-times')).toContainText(/postcopy-blocktime\s*[\d,]+ ms/);
  expect(Number((await pc.getByTestId('pc-faults').textContent())!.replace(/,/g, ''))).toBeGreaterThan(10);
  // The earlier migration (without postcopy-preempt) keeps its post-copy figures in its line.
  await expect(panel.getByTestId('postcopy-summary')).toHaveText(/post-copy, faults caught by userfaultfd: [\d,]+ faults, [\d,]+ requests, postcopy-blocktime [\d,]+ ms, postcopy-latency/);
  // query-migrate explains post-copy's field on hover.
  await expect(panel.getByRole('row', { name: /ram\.postcopy-requests/ }).first()).toHaveAttribute('title', /MIG_RP_MSG_REQ_PAGES/);

  // Nothing runs now: Start post-copy says why; the preempt toggle changes the capability for the next migration.
  await expect(start).toBeDisabled();
  const preempt = panel.getByRole('button', { name: /^Turn postcopy-preempt on \/ off, postcopy-preempt: (on|off)$/ });
  const before = (await preempt.textContent()) ?? '';
  const after = before.endsWith('on') ? 'off' : 'on';
  await page.locator('body').press('Shift+P');
  await expect(panel.getByTestId('migration-notice')).toHaveText(`migrate-set-capabilities postcopy-preempt ${after}: the next migrate uses it`);
  await expect(preempt).toHaveText(`postcopy-preempt: ${after}`);

  const axe = await new AxeBuilder({ page }).include('[data-panel="migration"]').analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
});
