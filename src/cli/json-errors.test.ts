import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { reportJsonSchema, validateReport } from '../lib/report-schema';
import { main } from './sim';

/** The CLI's main() with argv: its status and what it printed on each stream. */
function cli(...argv: string[]): { code: number; out: string; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(argv, (s) => out.push(s), (s) => err.push(s), () => false, { prog: 'guest-memory-lab' });
  return { code, out: out.join('\n'), err };
}

/** The one line of JSON --json-errors printed on stderr. */
function problems(r: { err: string[] }): { path: string; message: string }[] {
  expect(r.err).toHaveLength(1);
  const list = JSON.parse(r.err[0]) as { path: string; message: string }[];
  for (const p of list) expect(Object.keys(p).sort()).toEqual(['message', 'path']);
  return list;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gml-cli-json-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
function file(content: unknown): string {
  const p = join(dir, `s${n++}.json`);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}
const tiny = (steps: unknown[]) => ({
  version: 2,
  title: 'tiny',
  vms: [{ name: 'vm0', type: 'default', memory: '16M', program: ['_start:', '    hlt'] }],
  steps,
});

describe('--json-errors: refusals as a JSON list of {path, message} on stderr', () => {
  test('an invalid scenario: every problem with its JSON path, exit 1, nothing on stdout', () => {
    const p = file({ ...tiny([{ do: 'run', vm: 'nope' }, { do: 'KVM_FROBNICATE', vm: 'vm0' }]), vms: [{ name: 'vm0', type: 'default', memory: 'lots', program: '_start: hlt' }] });
    const r = cli('--json-errors', 'run', p);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    const list = problems(r);
    expect(list.map((i) => i.path)).toEqual(expect.arrayContaining(['$.vms[0].memory', '$.steps[1].do']));
    expect(list.find((i) => i.path === '$.vms[0].memory')!.message).toContain('"lots"');
    // The same problems, as sentences, without the flag.
    const human = cli(p);
    expect(human.code).toBe(1);
    for (const i of list) expect(human.err).toContain(`${p}: ${i.path}: ${i.message}`);
  });

  test('an assembler error keeps its line and column in the message', () => {
    const s = tiny([{ do: 'run', vm: 'vm0' }]);
    s.vms[0].program = ['_start:', '    mov rax, 1', '    frobnicate rax'];
    const list = problems(cli(file(s), '--json-errors'));
    expect(list).toHaveLength(1);
    expect(list[0].path).toBe('$.vms[0].program');
    expect(list[0].message).toMatch(/line 3/);
  });

  test('the file as a whole: path "$" (not JSON; too big)', () => {
    const notJson = cli('--json-errors', file('{ "version": 2, '));
    expect(notJson.code).toBe(1);
    expect(problems(notJson)).toEqual([{ path: '$', message: expect.stringMatching(/^not valid JSON: /) }]);
    const big = cli('--json-errors', file(' '.repeat(1024 * 1024 + 1)));
    expect(big.code).toBe(1);
    expect(problems(big)).toEqual([{ path: '$', message: expect.stringMatching(/^too big: .* a scenario is at most 1,048,576 bytes/) }]);
  });

  test('the command line: path "" (no such file, unknown option, no argument), exit 2', () => {
    const missing = join(dir, 'missing.json');
    const m = cli('--json-errors', missing);
    expect(m.code).toBe(2);
    expect(problems(m)).toEqual([{ path: '', message: expect.stringContaining(`${missing}: no such file and no such preset`) }]);
    const o = cli('--json-errors', '--frobnicate');
    expect(o.code).toBe(2);
    expect(problems(o)).toEqual([{ path: '', message: 'unknown option --frobnicate' }]);
    const none = cli('--json-errors');
    expect(none.code).toBe(2);
    expect(problems(none)).toEqual([{ path: '', message: 'expected one scenario file or preset (guest-memory-lab --help)' }]);
    const two = cli('--json-errors', 'run', 'a', 'b');
    expect(two.code).toBe(2);
    expect(problems(two)[0].path).toBe('');
  });

  test('control and bidirectional characters reach the terminal only as JSON escapes', () => {
    const r = cli('--json-errors', join(dir, 'evil-\u001b[2J-\u202e-\u009b.json'));
    expect(r.code).toBe(2);
    // eslint-disable-next-line no-control-regex -- no raw control character may reach the terminal
    expect(r.err[0]).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    expect(problems(r)[0].message).toContain('evil-');
  });

  test('a scenario that runs prints its report and nothing on stderr, with or without the flag', () => {
    const r = cli('--json-errors', 'run', 'host-reads-secret');
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(validateReport(JSON.parse(r.out))).toEqual([]);
  });
});

describe('the installed command\'s forms', () => {
  test('`run <preset>` is the same as `<preset>`', () => {
    expect(cli('run', 'host-reads-secret').out).toBe(cli('host-reads-secret').out);
  });

  test('`run` without a scenario, or with an option, is bad usage with the usage text naming the program', () => {
    const r = cli('run');
    expect(r.code).toBe(2);
    expect(r.err.join('\n')).toMatch(/^usage: guest-memory-lab \[run\] <scenario.json \| preset>/);
    const o = cli('run', '--list');
    expect(o.code).toBe(2);
    expect(o.err[0]).toBe('run takes a scenario file or a preset, not --list');
  });

  test('--report-schema prints the report\'s JSON Schema', () => {
    const r = cli('--report-schema');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual(reportJsonSchema());
  });
});
