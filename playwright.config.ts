import { existsSync } from 'node:fs';
import { chromium, defineConfig } from '@playwright/test';
import { chooseBrowser } from './scripts/browser-choice';

// CHROMIUM_PATH, else Debian's /usr/bin/chromium, else Playwright's own (`npx playwright install
// chromium`); with none, the run stops here, before building or starting a test, saying what to install.
const { executablePath } = chooseBrowser({ env: process.env, exists: existsSync, playwrightChromium: () => chromium.executablePath() });

// A port of our own: never 4173 (vite's default, which another checkout's preview may hold), and
// never a server this run did not start (reuseExistingServer: false), so a second checkout's server
// can never answer for this one. GML_E2E_PORT lets each worktree pick its own.
const port = Number(process.env.GML_E2E_PORT ?? 47391);
if (!Number.isInteger(port) || port < 1024 || port > 65535) {
  throw new Error(`GML_E2E_PORT must be an integer port in 1024..65535, got '${process.env.GML_E2E_PORT}'`);
}
const origin = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: 'e2e',
  timeout: 60_000,
  retries: 0,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: origin,
    launchOptions: {
      executablePath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    },
  },
  webServer: {
    command: `npx vite build && npx vite preview --host 127.0.0.1 --port ${port} --strictPort`,
    url: origin,
    reuseExistingServer: false,
    timeout: 120_000,
  },
});
