import { describe, expect, test } from 'vitest';
import { DEBIAN_CHROMIUM, NoBrowserError, chooseBrowser } from './browser-choice';

const PLAYWRIGHT = '/home/u/.cache/ms-playwright/chromium-1255/chrome-linux64/chrome';

/** A file system holding exactly `files`. */
const fsWith = (...files: string[]) => (p: string) => files.includes(p);

describe('the browser the e2e tests launch', () => {
  test('CHROMIUM_PATH wins over Debian\'s and Playwright\'s when set', () => {
    const custom = '/opt/chrome/chrome';
    expect(chooseBrowser({ env: { CHROMIUM_PATH: custom }, exists: fsWith(custom, DEBIAN_CHROMIUM, PLAYWRIGHT), playwrightChromium: () => PLAYWRIGHT }))
      .toEqual({ executablePath: custom, source: 'CHROMIUM_PATH' });
  });

  test('CHROMIUM_PATH naming no file is refused with the path in the message', () => {
    expect(() => chooseBrowser({ env: { CHROMIUM_PATH: '/nope/chrome' }, exists: fsWith(DEBIAN_CHROMIUM), playwrightChromium: () => PLAYWRIGHT }))
      .toThrow(/CHROMIUM_PATH is set to '\/nope\/chrome', but there is no file there/);
  });

  test('without CHROMIUM_PATH (or with it empty), Debian\'s /usr/bin/chromium when it exists', () => {
    for (const env of [{}, { CHROMIUM_PATH: '' }]) {
      expect(chooseBrowser({ env, exists: fsWith(DEBIAN_CHROMIUM, PLAYWRIGHT), playwrightChromium: () => PLAYWRIGHT }))
        .toEqual({ executablePath: DEBIAN_CHROMIUM, source: 'debian' });
    }
  });

  test('else Playwright\'s own Chromium when its file exists', () => {
    expect(chooseBrowser({ env: {}, exists: fsWith(PLAYWRIGHT), playwrightChromium: () => PLAYWRIGHT }))
      .toEqual({ executablePath: PLAYWRIGHT, source: 'playwright' });
  });

  test('none: one sentence naming `npx playwright install chromium` (Playwright\'s path missing, unknown, or throwing)', () => {
    const providers = [() => PLAYWRIGHT, () => undefined, () => { throw new Error('no registry'); }];
    for (const playwrightChromium of providers) {
      let error: unknown;
      try {
        chooseBrowser({ env: {}, exists: fsWith(), playwrightChromium });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(NoBrowserError);
      const message = (error as Error).message;
      expect(message).toContain('npx playwright install chromium');
      expect(message).toContain('apt-get install chromium');
      // One sentence: a single full stop, at the end.
      expect(message.trim().endsWith('.')).toBe(true);
      expect(message.slice(0, -1)).not.toMatch(/\.\s/);
    }
  });
});
