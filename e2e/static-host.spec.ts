import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';

/**
 * The built lab copied to a department's web server: `dist/` served under a sub-path (/labs/gml/) by
 * the plainest static server there is (this file's own: Content-Type and nothing else, so no
 * cross-origin isolation, no CSP header, no caching rules). The page must load every file from under
 * its own path, run the first lesson with the transfer path, keep its CSP <meta>, and its service
 * worker must take the sub-path as its scope. Served on a port of its own (GML_E2E_PORT + 1), from
 * the build playwright.config.ts made for this run.
 */
const PORT = Number(process.env.GML_E2E_PORT ?? 47391) + 1;
const ORIGIN = `http://127.0.0.1:${PORT}`;
const PREFIX = '/labs/gml/';
const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.webmanifest': 'application/manifest+json', '.json': 'application/json', '.wasm': 'application/wasm',
};

const dist = fileURLToPath(new URL('../dist', import.meta.url));
let server: Server | null = null;
/** Every path asked of the server outside PREFIX (an absolute URL the build left in). */
const outside: string[] = [];

test.beforeAll(async () => {
  if (!existsSync(join(dist, 'index.html'))) throw new Error(`static-host.spec: no build at ${dist} (playwright.config.ts builds it)`);
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (!path.startsWith(PREFIX)) {
      outside.push(path);
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    const rest = path.slice(PREFIX.length);
    const file = join(dist, rest === '' || rest.endsWith('/') ? join(rest, 'index.html') : rest);
    if (!file.startsWith(dist + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve, reject) => {
    server!.once('error', (e) => reject(new Error(`static-host.spec: cannot serve on port ${PORT} (GML_E2E_PORT + 1): ${e.message}`)));
    server!.listen(PORT, '127.0.0.1', resolve);
  });
});

test.afterAll(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

test.beforeEach(() => {
  outside.length = 0;
});

/** Collects the page's CSP violations (the init script runs before the page's own, whatever its CSP). */
async function recordViolations(page: Page): Promise<() => Promise<string[]>> {
  await page.addInitScript(() => {
    const w = window as unknown as { __violations: string[] };
    w.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
  return () => page.evaluate(() => (window as unknown as { __violations: string[] }).__violations);
}

test('served from a sub-path with no special headers, the first lesson runs to its end under its CSP', async ({ page }) => {
  const violations = await recordViolations(page);
  const response = await page.goto(`${ORIGIN}${PREFIX}`);
  expect(Object.keys(response!.headers()).filter((h) => /^(cross-origin|content-security)/.test(h))).toEqual([]);
  // No isolation headers: the worker transfers its arrays instead of sharing them.
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);

  await expect(page.getByRole('heading', { name: 'Guest Memory Lab' })).toBeVisible();
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await page.getByRole('button', { name: 'Run freely' }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
  await expect(page.getByTestId('narration')).toContainText('zeros');
  await expect(page.getByRole('alert')).toHaveCount(0);
  // The lesson's address stays under the sub-path.
  expect(new URL(page.url()).pathname).toBe(PREFIX);

  // The policy travels in the page itself, and it holds: an inline script is refused.
  await expect(page.locator('meta[http-equiv="Content-Security-Policy"]')).toHaveAttribute('content', /script-src 'self'/);
  expect(await violations()).toEqual([]);
  const ran = await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = '(window).__inlineRan = true;';
    document.head.append(s);
    return (window as unknown as { __inlineRan?: boolean }).__inlineRan === true;
  });
  expect(ran).toBe(false);
  await expect.poll(violations).toEqual(['script-src-elem inline']);

  // Every file (page, chunks, worker, styles, icons) came from under the sub-path.
  expect(outside).toEqual([]);
});

test('under a sub-path the manifest, the service worker and lesson links stay inside it, and it works offline', async ({ page, context }) => {
  await page.goto(`${ORIGIN}${PREFIX}`);
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);

  const manifestUrl = await page.locator('link[rel="manifest"]').evaluate((l) => (l as HTMLLinkElement).href);
  expect(manifestUrl).toBe(`${ORIGIN}${PREFIX}manifest.webmanifest`);
  const manifest = await (await page.request.get(manifestUrl)).json() as { start_url: string; scope: string; icons: { src: string }[] };
  expect(new URL(manifest.start_url, manifestUrl).href).toBe(`${ORIGIN}${PREFIX}`);
  expect(new URL(manifest.scope, manifestUrl).href).toBe(`${ORIGIN}${PREFIX}`);
  for (const icon of manifest.icons) expect((await page.request.get(new URL(icon.src, manifestUrl).href)).status()).toBe(200);

  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 30_000 });
  expect(await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r?.scope))).toBe(`${ORIGIN}${PREFIX}`);

  // A lesson's link under the sub-path opens that lesson.
  await page.goto(`${ORIGIN}${PREFIX}?v=2&preset=precopy-converges`);
  await expect(page.getByTestId('migration-panel')).toBeVisible();
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await expect(page.getByRole('alert')).toHaveCount(0);

  // Offline, the service worker answers for the sub-path (its navigation fallback is its own index.html).
  await context.setOffline(true);
  const res = await page.goto(`${ORIGIN}${PREFIX}?v=2&preset=lazy-accept`);
  expect(res?.fromServiceWorker()).toBe(true);
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(outside).toEqual([]);
});
