/**
 * Which Chromium the browser tests launch (playwright.config.ts): `CHROMIUM_PATH` when it is set,
 * else Debian's `/usr/bin/chromium` when it is there, else Playwright's own Chromium (the one
 * `npx playwright install chromium` downloads) when that is there. With none of them the choice
 * fails with one sentence saying how to install one, before any test starts. Pure: the environment,
 * the file test and Playwright's path are given, so the unit test can try every case.
 */

/** Debian's (and Ubuntu's apt) Chromium. */
export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

export interface BrowserChoiceInput {
  /** The process environment (only CHROMIUM_PATH is read). */
  env: Readonly<Record<string, string | undefined>>;
  /** Whether a file exists (node:fs existsSync in the config). */
  exists: (path: string) => boolean;
  /** Where Playwright's own Chromium would be (chromium.executablePath()), or undefined when Playwright cannot say. */
  playwrightChromium: () => string | undefined;
}

export interface BrowserChoice {
  executablePath: string;
  /** Which rule chose it. */
  source: 'CHROMIUM_PATH' | 'debian' | 'playwright';
}

export class NoBrowserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoBrowserError';
  }
}

/** The browser to launch, or a NoBrowserError whose message says what to install. */
export function chooseBrowser({ env, exists, playwrightChromium }: BrowserChoiceInput): BrowserChoice {
  const fromEnv = env.CHROMIUM_PATH;
  if (fromEnv !== undefined && fromEnv !== '') {
    // A path the user named is taken as it is; one that is not there is their mistake to hear about now.
    if (!exists(fromEnv)) throw new NoBrowserError(`CHROMIUM_PATH is set to '${fromEnv}', but there is no file there: point it at a Chromium or Chrome executable, or unset it to use ${DEBIAN_CHROMIUM} or Playwright's own Chromium (npx playwright install chromium).`);
    return { executablePath: fromEnv, source: 'CHROMIUM_PATH' };
  }
  if (exists(DEBIAN_CHROMIUM)) return { executablePath: DEBIAN_CHROMIUM, source: 'debian' };
  let own: string | undefined;
  try {
    own = playwrightChromium();
  } catch {
    own = undefined;
  }
  if (own && exists(own)) return { executablePath: own, source: 'playwright' };
  throw new NoBrowserError(`No Chromium for the browser tests: install Playwright's with \`npx playwright install chromium\` (or Debian's with \`sudo apt-get install chromium\`), or set CHROMIUM_PATH to a Chromium or Chrome executable.`);
}
