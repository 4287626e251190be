import { expect as baseExpect, test, type Page } from '@playwright/test';
import { nextLessonStep } from './lesson-step';

// Each wait is for a state; on a loaded machine the lab's first load (worker, scenario) can take
// longer than Playwright's default 5 s to get there (what must be prompt says its own timeout).
const expect = baseExpect.configure({ timeout: 30_000 });
test.describe.configure({ timeout: 180_000 });

/**
 * Hostile input and faults in the browser: the Content-Security-Policy is in force (and nothing the
 * lab does violates it), a worker that goes away is noticed, a looping guest does not hold the page.
 */

type Gml = { __gml: { closeWorker(): Promise<void>; progress(): { playing: boolean; instructions: number } }; __csp: string[] };

/** Every CSP violation and every console error the page sees, from before its first script runs. */
async function watchCsp(page: Page): Promise<string[]> {
  const seen: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) seen.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => seen.push(`page error: ${e.message}`));
  await page.addInitScript(() => {
    (window as unknown as Gml).__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as Gml).__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  return seen;
}

async function violations(page: Page, seen: string[]): Promise<string[]> {
  return [...seen, ...(await page.evaluate(() => (window as unknown as Gml).__csp))];
}

/** base64url of a scenario's JSON, for ?scenario=. */
const link = (scenario: unknown) => `/?v=2&scenario=${Buffer.from(JSON.stringify(scenario)).toString('base64url')}`;

test('the page is served with a strict Content-Security-Policy, as a header and in the built page', async ({ page }) => {
  const res = await page.goto('/');
  const headers = res!.headers();
  const csp = headers['content-security-policy'];
  expect(headers['x-content-type-options']).toBe('nosniff');
  const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
  expect(directives.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
  expect(directives.get('worker-src')).toEqual(["'self'"]);
  expect(directives.get('object-src')).toEqual(["'none'"]);
  expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
  for (const [name, sources] of directives) {
    expect(sources, name).not.toContain("'unsafe-eval'");
    if (name !== 'style-src') expect(sources, name).not.toContain("'unsafe-inline'");
  }
  const meta = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  expect(meta).toBe(csp.replace("; frame-ancestors 'none'", ''));
  // No inline script in the built page: every script has a src.
  expect(await page.locator('script:not([src])').count()).toBe(0);
});

test('a lesson played to its end, the guest editor and the attack-surface view cause no CSP violation', async ({ page }) => {
  const seen = await watchCsp(page);
  await page.goto('/');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  await expect(page.getByTestId('progress')).toHaveText(/finished/);
  // The guest panel's editor (CodeMirror puts its theme in a <style>), the page maps (the WebAssembly painter).
  await expect(page.locator('[data-panel="guest"] .cm-editor')).toBeVisible();
  await page.getByRole('combobox', { name: 'Lesson' }).selectOption('platform-talk');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await page.getByRole('button', { name: 'Attack surface' }).click();
  await expect(page.getByRole('button', { name: 'Attack surface' })).toHaveAttribute('aria-pressed', 'true');
  expect(await violations(page, seen)).toEqual([]);
  // The policy is in force: an inline script is refused, and the page hears of it (once for the
  // header's policy, once for the meta's).
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true';
    document.head.appendChild(s);
  });
  await expect.poll(() => page.evaluate(() => (window as unknown as Gml).__csp.length)).toBeGreaterThanOrEqual(1);
  expect(await page.evaluate(() => (window as unknown as { __inlineRan?: boolean }).__inlineRan)).toBeUndefined();
});

test('a worker that closes itself is noticed: the page says so and the restart brings the lesson back', async ({ page }) => {
  await page.goto('/?v=2&preset=lazy-accept&debug=1');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of/);
  await nextLessonStep(page, 1);
  await page.evaluate(() => (window as unknown as Gml).__gml.closeWorker());
  // No error event comes from a worker that closes: the watchdog's unanswered ping (5 s) tells.
  await expect(page.getByRole('alert')).toContainText('has not answered', { timeout: 20_000 });
  await page.getByRole('button', { name: 'Restart the lab' }).click();
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of \d+ · ready/);
  await nextLessonStep(page, 1);
});

/** Two 100-million-instruction runs of a loop: several seconds each (the worker ran such a step whole before). */
const LOOP = {
  version: 2,
  title: 'A guest that never halts',
  vms: [{ name: 'g', type: 'default', memory: '16M', program: ['_start:', '  add rax, 1', '  jmp _start'] }],
  steps: [{ do: 'run', vm: 'g', max_instructions: 100_000_000 }, { do: 'run', vm: 'g', max_instructions: 100_000_000 }],
};

/** Open the loop scenario (debug hooks on) and wait until it is loaded, at its first step. */
async function openLoop(page: Page): Promise<void> {
  await page.goto(`${link(LOOP)}&debug=1`);
  await expect(page.getByRole('heading', { level: 2, name: LOOP.title })).toBeVisible();
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 2 · ready/);
}

/** Wait until the guest has run a good many instructions (it is looping, the worker publishing as it goes). */
async function looping(page: Page): Promise<void> {
  await expect.poll(() => page.evaluate(() => (window as unknown as Gml).__gml.progress().instructions), { timeout: 20_000 }).toBeGreaterThan(200_000);
}

/** While it loops, pick another lesson: it must take effect within seconds (it took 20 s; 10 s leaves room for a loaded machine). */
async function switchLessonPromptly(page: Page): Promise<void> {
  await page.getByRole('combobox', { name: 'Lesson' }).selectOption('lazy-accept');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of \d+ · ready/, { timeout: 10_000 });
  await expect(page.getByRole('combobox', { name: 'Lesson' })).toHaveValue('lazy-accept');
}

test('switching lessons takes effect promptly while a guest loops at full speed', async ({ page }) => {
  await openLoop(page);
  // Fastest speed, then play.
  for (let i = 0; i < 8; i++) await page.keyboard.press('+');
  await page.getByRole('button', { name: 'Run freely', exact: true }).click();
  await looping(page);
  await switchLessonPromptly(page);
});

test('S (run the next lesson step at once) on a long run is sliced: frames come while it runs, and switching lessons takes effect promptly', async ({ page }) => {
  await openLoop(page);
  await page.locator('body').press('s');
  // The step's progress arrives mid-step: the worker publishes between its slices.
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 2 · running/);
  await looping(page);
  await expect(page.getByTestId('step-progress')).toContainText('of at most 100,000,000 instructions of g');
  await switchLessonPromptly(page);
});

test('a raw KVM_RUN runs in slices in the browser: one instruction into it, then the rest, with the result of the call whole', async ({ page }) => {
  const byHand = {
    version: 2,
    title: 'One long KVM_RUN',
    hosts: [{ name: 'h', memory: '256M' }],
    steps: [
      { do: 'KVM_CREATE_VM', as: 'vm', type: 0 },
      { do: 'mmap', length: '1M', as: 'mem' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, guest_phys_addr: 0, memory_size: '1M', userspace_addr: 'mem' },
      { do: 'KVM_CREATE_VCPU', vm: 'vm', id: 0 },
      { do: 'load_program', vm: 'vm', gpa: '0x1000', program: ['_start:', '  add rax, 1', '  jmp _start'] },
      { do: 'KVM_RUN', vm: 'vm', max_instructions: 10_000_000 },
    ],
  };
  await page.goto(link(byHand));
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 6 · ready/);
  const next = { click: () => page.locator('body').press('s') };
  for (let k = 1; k <= 5; k++) {
    await next.click();
    await expect(page.getByTestId('progress')).toHaveText(new RegExp(`^Step ${k} of 6 · done`));
  }
  // One instruction into the call (it ran whole before: the step ended here).
  await page.getByRole('button', { name: 'Next instruction' }).click();
  await expect(page.getByTestId('progress')).toHaveText(/^Step 6 of 6 · paused/);
  await expect(page.getByTestId('step-progress')).toContainText('1 of at most 10,000,000 instructions of vm vCPU 0 in one KVM_RUN');
  await page.getByRole('button', { name: 'Next instruction' }).click();
  await expect(page.getByTestId('step-progress')).toContainText('2 of at most 10,000,000 instructions');
  // The rest of it: the call returns as it would have whole, -EINTR at its budget.
  await next.click();
  await expect(page.getByTestId('progress')).toHaveText(/^Step 6 of 6 · finished/, { timeout: 60_000 });
  await expect(page.getByTestId('step-result')).toContainText('KVM_RUN → -1 EINTR (the guest ran 10000000 instructions without exiting)');
});

test('a file above 1 MiB is refused by its size, before it is read', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('progress')).toHaveText(/Step 1 of 7/);
  await page.getByTestId('import-file').setInputFiles({ name: 'huge.json', mimeType: 'application/json', buffer: Buffer.alloc(1024 * 1024 + 1, 0x20) });
  await expect(page.getByRole('alert')).toContainText('huge.json');
  await expect(page.getByRole('alert')).toContainText('the file is 1,048,577 bytes; a scenario is at most 1,048,576 bytes (1 MiB)');
  await expect(page.getByRole('heading', { level: 2, name: "Who can read the guest's secret?" })).toBeVisible();
});
