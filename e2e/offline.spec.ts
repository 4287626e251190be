import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';

/**
 * Offline and installable (vite.config.ts `offline()`): after the first load the service worker has
 * cached the whole lab, so a reload with no network still opens and runs a lesson, and the page
 * meets Chromium's installability checks. These run against the built preview (playwright.config.ts).
 */

/** The service worker has cached every file and controls the page (it claims it on its first install). */
async function controlledByServiceWorker(page: Page) {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 30_000 });
}

test('after the first load the lab works offline: a reload with no network opens and plays the first lesson', async ({ page, context }) => {
  await page.goto('/');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await controlledByServiceWorker(page);

  await context.setOffline(true);
  // The network is gone: the page itself now comes from the cache.
  expect(await page.evaluate(() => fetch('/?not-cached', { cache: 'no-store' }).then(() => 'online', () => 'offline')))
    .toBe('offline');
  const res = await page.reload();
  expect(res?.fromServiceWorker()).toBe(true);
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  // The worker (the simulator) and the lazily loaded guest panel and editor come from the cache too.
  const guest = page.locator('[data-panel="guest"]');
  await expect(guest.locator('.cm-content')).toContainText('secret stored');
  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
  await expect(guest.getByTestId('console')).toHaveText(/secret stored/);
  await expect(page.getByRole('alert')).toHaveCount(0);

  // A lesson's link opened offline (any URL of the lab gets the cached page), with its own lazy panel.
  await page.goto('/?v=2&preset=precopy-converges');
  await expect(page.getByTestId('migration-panel')).toBeVisible();
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await expect(page.getByRole('alert')).toHaveCount(0);
});

test('the lab can be installed: its manifest and icons are served, and Chromium finds no installability error', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  // Relative URLs (vite.config.ts base './'): the lab works from any path, so the manifest's are resolved against it.
  const href = await page.locator('link[rel="manifest"]').evaluate((l) => (l as HTMLLinkElement).href);
  expect(new URL(href).pathname).toBe('/manifest.webmanifest');
  const manifest = await (await page.request.get(href)).json() as {
    name: string; display: string; start_url: string; icons: { src: string; sizes: string; type: string; purpose?: string }[];
  };
  expect(manifest.name).toBe('Guest Memory Lab');
  expect(manifest.display).toBe('standalone');
  expect(new URL(manifest.start_url, href).pathname).toBe('/');
  for (const size of ['192x192', '512x512']) {
    const icon = manifest.icons.find((i) => i.sizes === size && i.type === 'image/png' && i.purpose === undefined);
    expect(icon, `a ${size} PNG icon`).toBeDefined();
    const r = await page.request.get(new URL(icon!.src, href).href);
    expect(r.status()).toBe(200);
    expect(r.headers()['content-type']).toContain('image/png');
  }
  await controlledByServiceWorker(page);
  // Chromium's own verdict. Playwright's contexts are incognito ones, which Chromium never installs
  // from: that error is the test's, not the lab's.
  const installabilityErrors = async () => {
    const cdp = await page.context().newCDPSession(page);
    const r = await cdp.send('Page.getInstallabilityErrors') as { installabilityErrors: { errorId: string }[] };
    await cdp.detach();
    return r.installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito');
  };
  // (Beside 'in-incognito' Chromium still lists the manifest's faults: with no icons of 144 px or
  // more, say, 'manifest-missing-suitable-icon'.)
  expect(await installabilityErrors()).toEqual([]);
});

/*
 * An update: the browser finds other bytes in sw.js. The suite's server must not change under the
 * other tests, so this one serves its own copy of the build (the one playwright.config.ts made for
 * this run) from a server of its own on its own port, and changes sw.js there.
 */
// Beside the suite's own port (GML_E2E_PORT; static-host.spec.ts takes the next one), so that two
// checkouts' runs never meet.
const UPDATE_PORT = Number(process.env.GML_E2E_PORT ?? 47391) + 2;
const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.webmanifest': 'application/manifest+json', '.json': 'application/json',
};

test.describe('updates', () => {
  let root = '';
  let server: Server | null = null;
  test.beforeAll(async () => {
    const dist = fileURLToPath(new URL('../dist', import.meta.url));
    if (!existsSync(join(dist, 'sw.js'))) throw new Error(`offline.spec: no built service worker at ${dist}/sw.js (playwright.config.ts builds it)`);
    root = mkdtempSync(join(tmpdir(), 'gml-offline-'));
    cpSync(dist, root, { recursive: true });
    server = createServer((req, res) => {
      // (A URL's path has no '..' left in it: the URL parser resolves them.)
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const file = join(root, path === '/' ? 'index.html' : path);
      if (!file.startsWith(root + sep) || !existsSync(file) || extname(file) === '') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-cache' });
      res.end(readFileSync(file));
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', (e) => reject(new Error(`offline.spec: cannot serve on port ${UPDATE_PORT} (GML_E2E_PORT + 2): ${e.message}`)));
      server!.listen(UPDATE_PORT, '127.0.0.1', resolve);
    });
  });
  test.afterAll(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('a new version is offered in a banner and taken only on Reload; the lesson is never reloaded under the reader', async ({ page }) => {
    const origin = `http://127.0.0.1:${UPDATE_PORT}`;
    const waiting = () => page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r?.waiting?.state ?? null));
    // A mark that a reload wipes.
    const mark = () => page.evaluate(() => { (window as unknown as { __mark: boolean }).__mark = true; });
    const marked = () => page.evaluate(() => (window as unknown as { __mark?: boolean }).__mark === true);
    await page.goto(`${origin}/`);
    await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
    await controlledByServiceWorker(page);
    await mark();

    // A new version on the server; the browser checks for it (as it does at each visit).
    appendFileSync(join(root, 'sw.js'), '\n// the next version\n');
    await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r!.update()));
    const banner = page.getByTestId('update-banner');
    await expect(banner).toContainText('A new version is available', { timeout: 20_000 });
    // Offered, not forced: the new version waits, the page was not reloaded, the lesson plays on.
    expect(await waiting()).toBe('installed');
    expect(await marked()).toBe(true);
    await page.getByRole('button', { name: 'Run freely', exact: true }).click();
    await expect(page.getByTestId('progress')).toHaveText(/finished/);
    await expect(banner).toBeVisible();

    // Later: the banner goes and the new version keeps waiting; the next visit offers it again.
    await banner.getByRole('button', { name: 'Later' }).click();
    await expect(banner).toHaveCount(0);
    expect(await waiting()).toBe('installed');
    expect(await marked()).toBe(true);
    await page.reload();
    await expect(banner).toContainText('A new version is available', { timeout: 20_000 });
    expect(await waiting()).toBe('installed');

    // Reload: the new version takes over and the page reloads under it, at the same moment of the
    // lesson (the address names it).
    await expect(page.getByTestId('progress')).toHaveText(/finished/);
    await mark();
    const reloaded = page.waitForEvent('load');
    await banner.getByRole('button', { name: 'Reload' }).click();
    await reloaded;
    await expect(page.getByTestId('progress')).toHaveText(/finished/);
    expect(await marked()).toBe(false);
    await controlledByServiceWorker(page);
    expect(await waiting()).toBe(null);
    await expect(banner).toHaveCount(0);
  });
});
