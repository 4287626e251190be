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
  await page.getByRole('button', { name: 'Play', exact: true }).click();
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
  const href = await page.locator('link[rel="manifest"]').getAttribute('href');
  expect(href).toBe('/manifest.webmanifest');
  const manifest = await (await page.request.get(href!)).json() as {
    name: string; display: string; start_url: string; icons: { src: string; sizes: string; type: string; purpose?: string }[];
  };
  expect(manifest.name).toBe('Guest Memory Lab');
  expect(manifest.display).toBe('standalone');
  expect(manifest.start_url).toBe('/');
  for (const size of ['192x192', '512x512']) {
    const icon = manifest.icons.find((i) => i.sizes === size && i.type === 'image/png' && i.purpose === undefined);
    expect(icon, `a ${size} PNG icon`).toBeDefined();
    const r = await page.request.get(icon!.src);
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
