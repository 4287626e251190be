import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { validateReport } from './report-schema';

/**
 * The package as a user gets it: `npm pack` (which builds dist-lib/ through `prepack`), installed
 * into an empty directory outside the repository with npm offline and an empty cache (so it can need
 * nothing from a registry), then its command, its library and its example run there with plain
 * Node: no tsx, no source tree, no node_modules of ours.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let dir = '';
let app = '';

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_offline: 'true', npm_config_cache: join(dir, 'npm-cache'), npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  expect(r.status, `${what} failed (status ${r.status}):\n${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gml-pack-'));
  // (prepack's build prints on stdout before npm's JSON.)
  const out = ok(run('npm', ['pack', '--json', '--pack-destination', dir], ROOT), 'npm pack');
  const packed = JSON.parse(out.startsWith('[') ? out : out.slice(out.lastIndexOf('\n[') + 1)) as { filename: string; files: { path: string }[] }[];
  const files = packed[0].files.map((f) => f.path);
  // What the package carries: the built library and command, their types, the example; no sources.
  expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist-lib/cli.js', 'dist-lib/index.js', 'dist-lib/types/lib/index.d.ts', 'examples/sweep-bandwidth.mjs']));
  expect(files.filter((f) => f.startsWith('src/') || f.startsWith('node_modules/'))).toEqual([]);
  app = join(dir, 'app');
  run('mkdir', [app], dir);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'sweep', private: true, type: 'module' }));
  ok(run('npm', ['install', '--ignore-scripts', join(dir, packed[0].filename)], app), 'npm install (offline) of the packed package');
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed package, installed offline into an empty directory', () => {
  test('it installed nothing but itself (no dependencies to fetch)', () => {
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
    expect(Object.keys(lock.packages).filter((p) => p !== '')).toEqual(['node_modules/guest-memory-lab']);
  });

  test('its bin runs a preset, lists, prints both schemas, and refuses in JSON', () => {
    const bin = join(app, 'node_modules', '.bin', 'guest-memory-lab');
    const list = ok(run(bin, ['--list'], app), 'guest-memory-lab --list');
    expect(list).toMatch(/^host-reads-secret\t/);
    const report = JSON.parse(ok(run(bin, ['run', 'host-reads-secret'], app), 'guest-memory-lab run'));
    expect(validateReport(report)).toEqual([]);
    writeFileSync(join(app, 'mine.json'), JSON.stringify({ version: 2, title: 'mine', vms: [{ name: 'g', type: 'default', memory: '16M', program: ['_start:', '  mov al, 0x41', '  mov dx, 0x3f8', '  out dx, al', '  hlt'] }], steps: [{ do: 'run', vm: 'g' }] }));
    const mine = JSON.parse(ok(run(bin, ['run', 'mine.json'], app), 'guest-memory-lab run mine.json'));
    expect(mine.results[0].value).toMatchObject({ stop: 'halted', console: 'A' });
    expect(JSON.parse(ok(run(bin, ['--schema'], app), '--schema')).properties.steps).toBeDefined();
    expect(JSON.parse(ok(run(bin, ['--report-schema'], app), '--report-schema')).properties.events).toBeDefined();
    const refused = run(bin, ['--json-errors', 'run', 'no-such.json'], app);
    expect(refused.status).toBe(2);
    expect(JSON.parse(refused.stderr)).toEqual([{ path: '', message: expect.stringContaining('no-such.json: no such file') }]);
    expect(run(bin, ['--help'], app).stdout).toMatch(/^usage: guest-memory-lab \[run\]/);
  });

  test('its example sweeps max-bandwidth and prints a table', () => {
    const out = ok(run(process.execPath, [join(app, 'node_modules', 'guest-memory-lab', 'examples', 'sweep-bandwidth.mjs'), '16', '32'], app), 'the example');
    const lines = out.trim().split('\n');
    expect(lines[0].trim().split(/\s{2,}/)).toEqual(['max-bandwidth', 'status', 'rounds', 'dirty-sync-count', 'transferred', 'total-time', 'downtime']);
    expect(lines.slice(1).map((l) => l.trim().split(/\s{2,}/).slice(0, 2))).toEqual([['16 MiB/s', 'completed'], ['32 MiB/s', 'completed']]);
    // A faster link: fewer rounds, less time.
    const [r16, r32] = lines.slice(1).map((l) => l.trim().split(/\s{2,}/));
    expect(Number(r32[2])).toBeLessThan(Number(r16[2]));
  });

  test('its library loads, steps, queries and reports; its types check in a TypeScript consumer', () => {
    writeFileSync(join(app, 'use.ts'), `
import { loadScenario, openLab, runScenario, validateReport, type Report, type StepResult } from 'guest-memory-lab';
const run = loadScenario('host-reads-secret');
const first: StepResult = run.step();
const lab = openLab('host-reads-secret');
while (!lab.done) lab.step();
const hops = lab.walk(lab.refOf('td'), 0x102000);
const report: Report = runScenario('host-reads-secret');
// @ts-expect-error a report's title is a string
const wrong: number = report.title;
console.log(JSON.stringify({ first: first.do, hops: hops.length, steps: report.results.length, valid: validateReport(run.report()).length === 0, wrong: typeof wrong }));
`);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['use.ts'] }));
    ok(run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app), 'tsc on a consumer');
    // The same code as plain JavaScript (the types stripped by hand: no tsx here).
    const js = readFileSync(join(app, 'use.ts'), 'utf8').replace(', type Report, type StepResult', '').replace(/: (StepResult|Report|number) =/g, ' =');
    writeFileSync(join(app, 'use.mjs'), js);
    const got = JSON.parse(ok(run(process.execPath, ['use.mjs'], app), 'the library from Node'));
    expect(got).toEqual({ first: expect.any(String), hops: expect.any(Number), steps: 7, valid: true, wrong: 'string' });
    expect(got.hops).toBeGreaterThan(2);
  });
});
