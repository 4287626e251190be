import { readdirSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { nextLessonStep, stepAtOnce } from './lesson-step';

/*
 * Every lesson's panels are big enough to use at the sizes a class meets them (docs/layout.md):
 * a projector's 1280×720, a 1920×1080 screen, and 1280×720 at 150 % browser zoom (853×480 CSS px
 * at a device scale factor of 1.5, which is what the zoom does to CSS px). The useful area of a
 * panel is its body's content box (client size less padding: what the panel draws in, below its
 * title bar), in CSS px; the attack-surface view's is its section's. The minimums below are
 * docs/layout.md's: change them together.
 */
const SIZES = [
  { name: '1280×720', viewport: { width: 1280, height: 720 }, scale: 1, min: { width: 580, height: 180 }, oneRowHeader: true, mapAboveLegend: true },
  { name: '1920×1080', viewport: { width: 1920, height: 1080 }, scale: 1, min: { width: 900, height: 330 }, oneRowHeader: true, mapAboveLegend: true },
  { name: '1280×720 at 150 %', viewport: { width: 853, height: 480 }, scale: 1.5, min: { width: 780, height: 180 }, oneRowHeader: false, mapAboveLegend: false },
] as const;

const LESSONS = readdirSync(new URL('../src/scenarios/', import.meta.url)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();

interface Area { panel: string; width: number; height: number }

/** Each shown panel's useful area (every panel of the grid, also those scrolled to in the stacked layout). */
async function panelAreas(page: Page): Promise<Area[]> {
  return page.evaluate(() => [...document.querySelectorAll<HTMLElement>('[data-panel] > .panel-body, [data-testid="surface-view"]')].map((el) => {
    const cs = getComputedStyle(el);
    return {
      panel: el.closest<HTMLElement>('[data-panel]')?.dataset.panel ?? 'surface',
      width: Math.floor(el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)),
      height: Math.floor(el.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom)),
    };
  }));
}

for (const size of SIZES) {
  test.describe(`at ${size.name}`, () => {
    test.use({ viewport: size.viewport, deviceScaleFactor: size.scale });

    test('every lesson\'s panels keep their useful area; one header row; the page-state legend in view', async ({ page }, info) => {
      test.setTimeout(180_000);
      expect(LESSONS.length).toBeGreaterThanOrEqual(17);
      const small: string[] = [];
      for (const lesson of LESSONS) {
        await page.goto(`/?v=2&preset=${lesson}`);
        await expect(page.getByTestId('progress')).toHaveText(/^Step 1 of \d+ · ready$/, { timeout: 30_000 });
        // The platform lessons open in the attack-surface view (their first step's show), fetched when first shown.
        await expect(page.locator('[data-panel], [data-testid="surface-view"]').first()).toBeVisible();
        const areas = await panelAreas(page);
        expect(areas.length, lesson).toBeGreaterThanOrEqual(1);
        for (const a of areas) {
          if (a.width < size.min.width || a.height < size.min.height) small.push(`${lesson}: ${a.panel} ${a.width}×${a.height}`);
        }
        if (size.oneRowHeader) {
          // One row: the header is as high as its tallest control, not two rows.
          const header = await page.locator('header.header').boundingBox();
          const select = await page.getByRole('combobox', { name: 'Lesson' }).boundingBox();
          expect(header!.height, `${lesson}: the header wraps`).toBeLessThan(select!.height * 2);
        }
        // The translation panel's legend stays in view while its body scrolls.
        const legend = page.locator('[data-panel="translation"] .tx-legend');
        if (await legend.count()) {
          const body = (await page.locator('[data-panel="translation"] > .panel-body').boundingBox())!;
          const box = (await legend.boundingBox())!;
          expect(box.y + box.height, `${lesson}: the legend is below the panel's fold`).toBeLessThanOrEqual(body.y + body.height + 1);
          expect(box.y, lesson).toBeGreaterThanOrEqual(body.y - 1);
          const stages = page.locator('[data-panel="translation"] .pm-stage');
          if (size.mapAboveLegend && (await stages.count())) {
            // The first page map fits between the panel's top and the legend (it used to run under it,
            // leaving a strip at 1280×720): its whole stage is above the legend, and at least 64 px high.
            const stage = (await stages.first().boundingBox())!;
            expect(stage.y + stage.height, `${lesson}: the page map runs under the legend`).toBeLessThanOrEqual(box.y + 1);
            expect(stage.height, `${lesson}: the page map's height`).toBeGreaterThanOrEqual(64);
          }
        }
        if (small.length && !info.attachments.length) await info.attach(`${lesson}.png`, { body: await page.screenshot(), contentType: 'image/png' });
      }
      expect(small, `panels under ${size.min.width}×${size.min.height} CSS px`).toEqual([]);
    });
  });
}

test.describe('the migration maps at 150 %', () => {
  test.use({ viewport: { width: 853, height: 480 }, deviceScaleFactor: 1.5 });

  test('each map keeps at least 100 CSS px in view with its legend under it, not over it', async ({ page }) => {
    await page.goto('/?v=2&preset=precopy-converges');
    await expect(page.getByTestId('progress')).toHaveText(/^Step 1 of \d+ · ready$/, { timeout: 30_000 });
    // Step 3 (migrate) brings the migration panel forward (its `show`).
    for (let k = 1; k <= 3; k++) await nextLessonStep(page, k);
    await expect(page.locator('[data-panel]')).toHaveAttribute('data-panel', 'migration');
    const body = (await page.locator('[data-panel="migration"] > .panel-body').boundingBox())!;
    for (const side of ['src', 'dst']) {
      const map = page.getByTestId(`mig-map-${side}`);
      const stage = (await map.locator('.mig-stage').boundingBox())!;
      const legend = (await map.locator('.mig-map-legend').boundingBox())!;
      expect(legend.y, `${side}: the legend covers the map`).toBeGreaterThanOrEqual(stage.y + stage.height - 1);
      const seen = Math.min(stage.y + stage.height, body.y + body.height) - Math.max(stage.y, body.y);
      expect(seen, `${side}: CSS px of the map in view`).toBeGreaterThanOrEqual(100);
    }
  });
});

test.describe('maximised at 1280×720', () => {
  test.use({ viewport: { width: 1280, height: 720 } });

  test('a maximised panel keeps at least 1200×460 CSS px; a step\'s show brings the migration panel forward with its maps in view', async ({ page }) => {
    await page.goto('/?v=2&preset=precopy-converges');
    await expect(page.getByTestId('progress')).toHaveText(/^Step 1 of \d+ · ready$/, { timeout: 30_000 });
    for (const id of ['translation', 'host', 'migration', 'trace']) {
      await page.locator(`[data-panel="${id}"]`).getByRole('button', { name: /^Maximise/ }).click();
      const [a] = await panelAreas(page);
      expect(a.panel).toBe(id);
      expect(a.width, id).toBeGreaterThanOrEqual(1200);
      expect(a.height, id).toBeGreaterThanOrEqual(460);
      await page.getByRole('button', { name: /^Restore/ }).click();
      await expect(page.locator('[data-panel]')).toHaveCount(4);
    }
    // Step 3 (migrate) names the migration panel in its `show`: the lesson brings it forward.
    for (let k = 1; k <= 3; k++) await nextLessonStep(page, k);
    await expect(page.locator('[data-panel]')).toHaveCount(1);
    await expect(page.locator('[data-panel]')).toHaveAttribute('data-panel', 'migration');
    const maps = page.getByRole('list', { name: 'Destination legend' });
    await expect(maps).toBeInViewport();
  });

  test("a step's show.row: the trace comes forward with that event selected, and in view once the rows skipped while running arrive", async ({ page }) => {
    test.setTimeout(180_000);
    await page.goto('/?v=2&preset=precopy-dirty-limit');
    await expect(page.getByTestId('progress')).toHaveText(/^Step 1 of \d+ · ready$/, { timeout: 30_000 });
    for (let k = 1; k <= 8; k++) await stepAtOnce(page, k);
    // Step 9 runs the migration on: a frame carries only the newest events, so the row its `show`
    // selects (migration_dirty_limit_guest) reaches the list only when the step ends.
    await nextLessonStep(page, 9);
    await expect(page.locator('[data-panel]')).toHaveAttribute('data-panel', 'trace');
    const row = page.getByTestId('trace-list').locator('[role="option"][aria-selected="true"]');
    await expect(row).toContainText('migration_dirty_limit_guest', { timeout: 30_000 });
    await expect(row).toBeInViewport();
  });

  test('post-copy, maximised: the migration the step is about leads, with its fault timeline in view', async ({ page }) => {
    test.setTimeout(180_000);
    await page.goto('/?v=2&preset=postcopy-faults');
    await expect(page.getByTestId('progress')).toHaveText(/^Step 1 of \d+ · ready$/, { timeout: 30_000 });
    // Steps 1–8 at once (S), step 9 (to 700 ms: guest-a runs on dst) at the lesson's pace: its `show` maximises the panel and focuses guest-a.
    for (let k = 1; k <= 8; k++) await stepAtOnce(page, k);
    await nextLessonStep(page, 9);
    const panel = page.locator('[data-panel]');
    await expect(panel).toHaveCount(1);
    await expect(panel).toHaveAttribute('data-panel', 'migration');
    // guest-b migrates at the same time (and started later): guest-a's card is first all the same.
    const card = panel.locator('.mig-card').first();
    await expect(card).toHaveAttribute('aria-label', /^Migration of guest-a to /, { timeout: 30_000 });
    // Its fault timeline, chart and legend, is inside the 720 px without scrolling.
    const timeline = card.getByTestId('fault-timeline');
    await expect(timeline).toBeVisible({ timeout: 30_000 });
    const box = (await timeline.boundingBox())!;
    const legend = (await timeline.getByRole('list', { name: 'Fault timeline legend' }).boundingBox())!;
    expect(box.y, 'the fault timeline\'s top').toBeLessThan(720);
    expect(legend.y + legend.height, 'the fault timeline\'s legend is below the fold').toBeLessThanOrEqual(720);
  });
});
