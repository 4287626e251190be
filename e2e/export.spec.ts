import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Download, type Locator, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Export from the UI: each save is triggered (its button, or its key), the download captured, and
 * the file read back: the CSV has a header and a record per listed row, the JSON parses into the
 * report's shape, the whole report is what the CLI prints, a PNG starts with PNG's signature, an
 * SVG parses. Every step waits for the state it needs (the lesson finished, a count shown), never a time.
 */

const trace = (page: Page) => page.locator('[data-panel="trace"]');
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const COLUMNS = ['seq', 't_ns', 'host', 'vm', 'vcpu', 'layer', 'name', 'text', 'args', 'gfn_first', 'gfn_count'];

async function playToTheEnd(page: Page, preset: string) {
  await page.goto(`/?v=1&preset=${preset}`);
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/, { timeout: 120_000 });
}

/** Click (or press) and capture the file it saves. */
async function save(page: Page, trigger: () => Promise<void>): Promise<{ name: string; bytes: Buffer }> {
  const [download] = await Promise.all([page.waitForEvent('download'), trigger()]);
  return { name: download.suggestedFilename(), bytes: readFileSync((await (download as Download).path())!) };
}

/** The trace's Save menu's button `name`. */
async function traceSave(page: Page, name: RegExp): Promise<Locator> {
  const menu = trace(page).getByTestId('trace-save');
  await menu.locator('summary').click();
  const b = menu.getByRole('button', { name });
  await expect(b).toBeVisible();
  return b;
}

/** "N of M events": the rows listed and the events kept. */
async function counts(page: Page): Promise<{ listed: number; kept: number }> {
  const t = ((await trace(page).getByTestId('trace-count').textContent()) ?? '').replace(/,/g, '');
  const m = t.match(/^(\d+) of (\d+) events/);
  if (!m) throw new Error(`trace count "${t}"`);
  return { listed: Number(m[1]), kept: Number(m[2]) };
}

/** RFC 4180: records end with CRLF; a quoted field may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '', record: string[] = [], i = 0, quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; } else if (c === '"') { quoted = false; i++; } else { field += c; i++; }
    } else if (c === '"' && field === '') { quoted = true; i++; }
    else if (c === ',') { record.push(field); field = ''; i++; }
    else if (c === '\r' && text[i + 1] === '\n') { record.push(field); records.push(record); record = []; field = ''; i += 2; }
    else if (c === '\r' || c === '\n' || c === '"') throw new Error(`a bare ${JSON.stringify(c)} outside quotes at ${i}`);
    else { field += c; i++; }
  }
  if (quoted || field !== '' || record.length) throw new Error('the last record does not end with CRLF');
  return records;
}

test('the trace saves as CSV and JSON (the rows listed), and the whole report is what the CLI prints', async ({ page }) => {
  await playToTheEnd(page, 'shared-buffer');
  // The panel has every event: a fast run's frames skip some, fetched once it stops ("N of N events",
  // nothing skipped, nothing "in all" beyond what it keeps). Exported before that, the count would move.
  await expect(trace(page).getByTestId('trace-skipped')).toHaveCount(0);
  await expect(trace(page).getByTestId('trace-count')).toHaveText(/^([1-9][\d,]*) of \1 events$/);
  const all = await counts(page);

  const csv = await save(page, async () => (await traceSave(page, /trace as CSV/)).click());
  expect(csv.name).toBe('shared-buffer-trace.csv');
  const records = parseCsv(csv.bytes.toString('utf8'));
  expect(records[0]).toEqual(COLUMNS);
  expect(records.length - 1).toBe(all.listed);
  expect(records.every((r) => r.length === COLUMNS.length)).toBe(true);

  // Filtered: the files hold the rows listed, through the keys O and Shift+O.
  await trace(page).getByRole('searchbox').fill('KVM_EXIT');
  await expect(trace(page).getByTestId('trace-count')).not.toHaveText(/^([\d,]+) of \1 events/);
  const some = await counts(page);
  expect(some.listed).toBeGreaterThan(0);
  await trace(page).getByTestId('trace-list').focus();
  const filtered = parseCsv((await save(page, () => page.keyboard.press('o'))).bytes.toString('utf8'));
  expect(filtered.length - 1).toBe(some.listed);
  expect(filtered.slice(1).every((r) => r[6].includes('KVM_EXIT'))).toBe(true);
  const json = await save(page, () => page.keyboard.press('Shift+O'));
  expect(json.name).toBe('shared-buffer-trace.json');
  const doc = JSON.parse(json.bytes.toString('utf8'));
  expect(doc).toMatchObject({ format: 'guest-memory-lab/report', version: 2, title: 'Sharing a buffer with the host, and taking it back' });
  expect(doc.events).toHaveLength(some.listed);
  expect(doc.notes.join(' ')).toContain('KVM_EXIT');
  expect(Object.keys(doc.events[0])).toEqual(expect.arrayContaining(['seq', 't', 'host', 'vm', 'vcpu', 'layer', 'name', 'args', 'text']));
  expect(doc.events.map((e: { seq: number }) => e.seq)).toEqual(filtered.slice(1).map((r) => Number(r[0])));

  // The whole report: the same bytes as `npm run sim -- shared-buffer` prints for the same run.
  const report = await save(page, async () => (await traceSave(page, /whole report/)).click());
  expect(report.name).toBe('shared-buffer-report.json');
  const text = report.bytes.toString('utf8');
  const parsed = JSON.parse(text);
  expect(parsed.format).toBe('guest-memory-lab/report');
  expect(parsed.events).toHaveLength(all.kept);
  const cli = execFileSync('npx', ['tsx', 'src/cli/sim.ts', 'shared-buffer'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  expect(text).toBe(cli);
});

test('a page map saves as a PNG at its zoom, the migration chart as SVG and PNG', async ({ page }) => {
  await playToTheEnd(page, 'precopy-converges');
  const panel = page.locator('[data-panel="migration"]');
  await expect(panel.getByTestId('migration-status').first()).toHaveText('completed');

  // The source page map, zoomed in: the PNG is the canvas as shown, pixel for pixel.
  const map = panel.getByTestId('mig-map-src');
  await map.getByRole('button', { name: /^Zoom in/ }).click();
  const png = await save(page, () => map.getByRole('button', { name: /^Save the Source page map .* as PNG/ }).click());
  expect(png.name).toMatch(/^precopy-converges-migration-.*-source\.png$/);
  expect([...png.bytes.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
  const size = await map.locator('canvas.pm-static').evaluate((c: HTMLCanvasElement) => [c.width, c.height]);
  // IHDR: width and height, big-endian, at bytes 16 and 20.
  expect([png.bytes.readUInt32BE(16), png.bytes.readUInt32BE(20)]).toEqual(size);

  const svg = await save(page, () => panel.getByRole('button', { name: /migration chart as SVG/ }).first().click());
  expect(svg.name).toMatch(/-rounds\.svg$/);
  const shape = await page.evaluate((text) => {
    const d = new DOMParser().parseFromString(text, 'image/svg+xml');
    return {
      error: d.querySelector('parsererror')?.textContent ?? null, root: d.documentElement.localName,
      panels: d.documentElement.querySelectorAll(':scope > svg').length, bars: d.querySelectorAll('svg > svg rect').length,
      words: d.documentElement.textContent ?? '',
    };
  }, svg.bytes.toString('utf8'));
  expect(shape.error).toBeNull();
  expect(shape.root).toBe('svg');
  expect(shape.panels).toBe(3);
  expect(shape.bars).toBeGreaterThanOrEqual(3);
  expect(shape.words).toContain('stop-and-copy');

  const chartPng = await save(page, () => page.keyboard.press('Shift+K'));
  expect([...chartPng.bytes.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
  const figure = await panel.locator('figure.mig-chart').first().boundingBox();
  // Drawn at twice the size the page lays the chart out at.
  expect(chartPng.bytes.readUInt32BE(16)).toBe(2 * Math.ceil(figure!.width));

  // K: the focused VM's page map in the translation panel.
  const focused = await save(page, () => page.keyboard.press('k'));
  expect(focused.name).toMatch(/^precopy-converges-guest.*-page-map\.png$/);
  expect([...focused.bytes.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
});

test('the trace reads as a table: headings, times with units, whole sentences when selected or maximised; axe finds nothing', async ({ page }) => {
  await playToTheEnd(page, 'shared-buffer');
  const head = trace(page).getByTestId('trace-head');
  await expect(head).toContainText('What happened');
  await expect(head.getByText('VM', { exact: true })).toHaveAttribute('title', /VM the event is about/);

  // Maximised, every row shows its whole sentence: nothing clipped, nothing cut with an ellipsis.
  await trace(page).getByRole('button', { name: 'Maximise Trace' }).click();
  const rows = trace(page).getByTestId('trace-row');
  await expect(rows.last()).toBeInViewport();
  await expect(rows.last().locator('.trace-time')).toHaveText(/^[\d.,]+ (ns|µs|ms|s)$/);
  await expect(rows.last().locator('.trace-time')).toHaveAttribute('title', /^[\d,]+ ns of virtual time/);
  const clipped = async () => rows.evaluateAll((els) => els.map((r) => r.querySelector('.trace-text') as HTMLElement)
    .filter((t) => t.scrollHeight > t.clientHeight + 1 || t.scrollWidth > t.clientWidth + 1 || t.getBoundingClientRect().bottom > t.parentElement!.getBoundingClientRect().bottom + 1)
    .map((t) => t.textContent));
  expect(await clipped()).toEqual([]);
  // Some sentence needed a second line (the lesson has sentences of 190 characters).
  expect(await rows.evaluateAll((els) => els.some((r) => r.getBoundingClientRect().height > 40))).toBe(true);
  const axe = async () => {
    const r = await new AxeBuilder({ page }).include('[data-panel="trace"]').analyze();
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  };
  expect(await axe()).toEqual([]);

  // In the grid, a selected row grows to its whole sentence, under the row's cells where the column is narrow.
  await trace(page).getByRole('button', { name: 'Restore Trace' }).click();
  // Rows are keyed by position: name the row by its event, which stays put when the list moves.
  const seq = await rows.nth(1).getAttribute('data-seq');
  const row = trace(page).locator(`[data-testid="trace-row"][data-seq="${seq}"]`);
  await row.click();
  await expect(row).toHaveAttribute('aria-selected', 'true');
  await expect(row).toHaveClass(/\bwrap\b/);
  const text = row.locator('.trace-text');
  expect(await text.evaluate((t) => t.scrollHeight <= t.clientHeight + 1 && t.getBoundingClientRect().bottom <= t.parentElement!.getBoundingClientRect().bottom + 1)).toBe(true);
  await trace(page).getByTestId('trace-save').locator('summary').click();
  await expect(trace(page).getByRole('button', { name: /whole report/ })).toBeVisible();
  expect(await axe()).toEqual([]);
  // And in the other theme, the headings and the open menu included.
  const theme = await page.locator('html').getAttribute('data-theme');
  await page.keyboard.press('t');
  await expect(page.locator('html')).toHaveAttribute('data-theme', theme === 'dark' ? 'light' : 'dark');
  expect(await axe()).toEqual([]);
});
