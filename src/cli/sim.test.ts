import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PRESETS } from '../scenarios';
import { Step, parseScenario, scenarioJsonSchema } from '../sim/scenario/schema';
import { main } from './sim';

/** Runs the CLI's main() with argv, capturing what it prints. */
function cli(...argv: string[]): { code: number; out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(argv, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gml-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A small valid scenario; tests break one thing in a copy of it. */
function base(): Record<string, unknown> & { vms: Record<string, unknown>[]; steps: Record<string, unknown>[] } {
  return {
    version: 1,
    title: 'tiny',
    vms: [{ name: 'vm0', type: 'default', memory: '16M', program: ['_start:', '    mov al, 0x41', '    mov dx, 0x3f8', '    out dx, al', '    hlt'] }],
    steps: [{ do: 'run', vm: 'vm0' }],
  };
}

let fileNo = 0;
function writeScenario(content: unknown): string {
  const p = join(dir, `scenario-${fileNo++}.json`);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return p;
}

describe('exit 0: the scenario ran', () => {
  test('a preset by name prints a JSON report', () => {
    const r = cli('selftest-by-hand');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const report = JSON.parse(r.out);
    expect(report.format).toBe('guest-memory-lab/report');
    expect(report.version).toBe(2);
    expect(report.title).toBe((PRESETS['selftest-by-hand'] as { title: string }).title);
    expect(report.results.length).toBe((PRESETS['selftest-by-hand'] as { steps: unknown[] }).steps.length);
    expect(Array.isArray(report.events)).toBe(true);
    expect(report.summary.vms[0].type).toBe('KVM_X86_SW_PROTECTED_VM');
  });

  test('"--" before the argument is ignored, as npm run passes it', () => {
    expect(cli('--', 'host-reads-secret').code).toBe(0);
  });

  test('a scenario file prints its report; a file with the content of a preset gives the same report', () => {
    const r = cli(writeScenario(base()));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.results[0]).toMatchObject({ do: 'run', ret: 0, value: { stop: 'halted', console: 'A' } });
    expect(cli(writeScenario(PRESETS['host-reads-secret'])).out).toBe(cli('host-reads-secret').out);
  });

  test('exit 0 even when the guest comes to a bad end (the scenario still ran)', () => {
    const s = base();
    s.steps = [{ do: 'KVM_RUN', vm: 'vm0' }, { do: 'host_read', vm: 'vm0', gpa: '0x200000000', via: 'vmm_mapping' }];
    const r = cli(writeScenario(s));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.results[1]).toMatchObject({ ret: -1, errno: 'EFAULT' });
  });

  test('--schema prints a JSON Schema with properties.steps', () => {
    const r = cli('--schema');
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.out);
    expect(schema.type).toBe('object');
    expect(schema.properties.steps).toBeDefined();
    expect(schema.properties.vms).toBeDefined();
    expect(schema.required).toContain('version');
  });

  test('--list names every preset with its title; --help prints the usage', () => {
    const r = cli('--list');
    expect(r.code).toBe(0);
    for (const [id, p] of Object.entries(PRESETS)) expect(r.out).toContain(`${id}\t${(p as { title: string }).title}`);
    const h = cli('--help');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/^usage:/);
  });
});

describe('exit 2: bad usage', () => {
  test('no arguments', () => {
    const r = cli();
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^usage:/);
    expect(r.out).toBe('');
  });

  test('too many arguments', () => {
    expect(cli('host-reads-secret', 'lazy-accept').code).toBe(2);
  });

  test('an unknown option', () => {
    const r = cli('--frobnicate');
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown option --frobnicate');
  });

  test('a file that does not exist (and is no preset)', () => {
    const missing = join(dir, 'no-such-scenario.json');
    const r = cli(missing);
    expect(r.code).toBe(2);
    expect(r.err).toContain(missing);
    expect(r.err).toContain('no such file and no such preset');
    expect(r.out).toBe('');
  });

  test.each(['toString', 'constructor', 'hasOwnProperty', '__proto__'])('%s is no preset (Object.prototype is not the preset table)', (name) => {
    const r = cli(name);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`${name}: no such file and no such preset (presets: ${Object.keys(PRESETS).join(', ')})`);
    expect(r.out).toBe('');
  });
});

describe('exit 1: an invalid scenario, with the JSON path in the message', () => {
  const invalid = (content: unknown): { code: number; out: string; err: string } => {
    const p = writeScenario(content);
    const r = cli(p);
    expect(r.out).toBe('');
    expect(r.err.startsWith(`${p}: `)).toBe(true);
    return r;
  };

  test('not JSON at all', () => {
    const r = invalid('{ "version": 1, ');
    expect(r.code).toBe(1);
    expect(r.err).toContain('not valid JSON');
  });

  test('an unknown step kind', () => {
    const s = base();
    s.steps = [{ do: 'run', vm: 'vm0' }, { do: 'KVM_FROBNICATE', vm: 'vm0' }];
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.steps[1]');
    expect(r.err).toContain('unknown step');
  });

  test('an unknown field in a step', () => {
    const s = base();
    s.steps = [{ do: 'run', vm: 'vm0', budget: 5 }];
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.steps[0]');
    expect(r.err).toContain('budget');
  });

  test('a negative size', () => {
    const s = base();
    s.vms[0].memory = -4096;
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.vms[0].memory');
  });

  test('a garbage size', () => {
    const s = base();
    s.vms[0].memory = 'lots';
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.vms[0].memory');
    expect(r.err).toContain('"lots"');
  });

  test('a garbage length in a step', () => {
    const s = base();
    s.steps.push({ do: 'host_read', vm: 'vm0', gpa: '0x1000', length: '12 bananas', via: 'vmm_mapping' });
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.steps[1].length');
  });

  // Known bug (src/sim/scenario/schema.ts, `numeric`): the hex pattern accepts a leading minus, so
  // "-0x10" passes validation as -16 and host_read then throws a RangeError from new Uint8Array(-16)
  // instead of the CLI reporting $.steps[1].length. Flip to `test` when numeric rejects negatives.
  test('a negative hex length in a step', () => {
    const s = base();
    s.steps.push({ do: 'host_read', vm: 'vm0', gpa: '0x1000', length: '-0x10', via: 'vmm_mapping' });
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.steps[1].length');
  });

  test('a typo in a guest program names the program and the line and column', () => {
    const s = base();
    s.vms[0].program = ['_start:', '    mov al, 0x41', '    mvo dx, 0x3f8', '    hlt'];
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.vms[0].program');
    expect(r.err).toMatch(/line 3, column 5/);
    expect(r.err).toContain('mvo');
  });

  test('a typo in a load_program step names that step', () => {
    const s = base();
    s.vms = [];
    s.steps = [
      { do: 'KVM_CREATE_VM', as: 'vm', type: 0 },
      { do: 'mmap', length: '64K', as: 'mem' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, guest_phys_addr: 0, memory_size: '64K', userspace_addr: 'mem' },
      { do: 'KVM_CREATE_VCPU', vm: 'vm' },
      { do: 'load_program', vm: 'vm', program: ['_start:', '    jmp nowhere'] },
    ];
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.steps[4].program');
    expect(r.err).toMatch(/line 2/);
  });

  test('a step naming a VM that does not exist', () => {
    const s = base();
    s.steps = [{ do: 'run', vm: 'vm1' }];
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.steps[0].vm');
    expect(r.err).toContain('"vm1"');
  });

  test('two VMs with the same name', () => {
    const s = base();
    s.vms.push({ ...s.vms[0] });
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.vms[1].name');
  });

  test('version 3', () => {
    const s = base();
    s.version = 3;
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.version');
    expect(r.err).toContain('unknown scenario version 3; this lab reads versions 1 and 2');
  });

  test('a missing required field', () => {
    const s = base();
    delete s.title;
    const r = invalid(s);
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.title');
  });
});

describe('docs/scenario-format.md', () => {
  const doc = readFileSync(new URL('../../docs/scenario-format.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]);
  const kinds = (scenarioJsonSchema() as { properties: { steps: { items: { oneOf: { properties: { do: { const: string } } }[] } } } })
    .properties.steps.items.oneOf.map((o) => o.properties.do.const);

  test('has a valid example for every step kind in the schema', () => {
    const examples = blocks.filter((b) => b.trimStart().startsWith('{ "do"')).map((b) => JSON.parse(b) as { do: string });
    for (const e of examples) expect(Step.safeParse(e).success, JSON.stringify(e)).toBe(true);
    const documented = new Set(examples.map((e) => e.do));
    for (const k of kinds) expect(documented.has(k), `an example of "${k}"`).toBe(true);
    for (const k of kinds) expect(doc).toContain('#### `' + k + '`');
  });

  test('its first example is a scenario that runs', () => {
    const first = blocks.find((b) => b.includes('"version": 2') && b.includes('"steps"'))!;
    const scenario: unknown = JSON.parse(first);
    expect(() => parseScenario(scenario)).not.toThrow();
    const r = cli(writeScenario(scenario));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).results[1].value.hex).toBe('00');
  });
});

describe('a world of two hosts', () => {
  /** Two VMs, one on each host, each printing its letter; the host reads its own physical memory. */
  const twoHosts = () => ({
    version: 2,
    title: 'two hosts',
    hosts: [{ name: 'src', memory: '512M' }, { name: 'dst', memory: '1G' }],
    links: [{ name: 'wire', from: 'src', to: 'dst', bandwidth: '10Gbit', latency: '50us' }],
    vms: [
      { name: 'a', host: 'src', type: 'default', memory: '16M', program: ['_start:', '    mov al, 0x41', '    mov dx, 0x3f8', '    out dx, al', '    hlt'] },
      { name: 'b', host: 'dst', type: 'tdx', memory: '64M', vcpus: 2, tdx: { firmware_accept: '1M' }, program: ['_start:', '    mov byte [0x200000], 0x42', '    hlt'] },
    ],
    steps: [
      { do: 'run', vm: 'a' },
      { do: 'run', vm: 'b' },
      { do: 'host_read', vm: 'b', gpa: '0x200000', length: 1, via: 'physical' },
      { do: 'host_read_phys', host: 'src', hpa: '0x10000000', length: 4 },
    ] as Record<string, unknown>[],
  });

  test('runs from the CLI; every event names its host, and each VM its own', () => {
    const r = cli(writeScenario(twoHosts()));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.results.map((x: { ret: number }) => x.ret)).toEqual([0, 0, 1, 4]);
    expect(report.results[0].value.console).toBe('A');
    // The TD's private byte, read from dst's physical memory with the host key: zero.
    expect(report.results[2].value).toMatchObject({ hex: '00', td_owned_lines: 1 });
    const events = report.events as { seq: number; host: string | null; vm: string | null; name: string }[];
    expect(events.every((e) => e.host === 'src' || e.host === 'dst')).toBe(true);
    for (const e of events.filter((x) => x.vm === 'a')) expect(e.host).toBe('src');
    for (const e of events.filter((x) => x.vm === 'b')) expect(e.host).toBe('dst');
    expect(events.some((e) => e.host === 'dst' && e.name === 'TDH.MEM.PAGE.AUG')).toBe(true);
    const [from, to] = report.results[3].events;
    expect(events.slice(from, to).map((e) => [e.host, e.name])).toEqual([['src', 'read']]);
    expect(report.summary.hosts.map((h: { name: string; memory: string }) => [h.name, h.memory])).toEqual([['src', '512 MiB'], ['dst', '1 GiB']]);
    expect(report.summary.hosts[1].frames_by_owner['guest_memfd']).toBeGreaterThan(0);
    expect(report.summary.hosts[0].frames_by_owner['guest_memfd']).toBeUndefined();
    expect(report.summary.links).toEqual([{ name: 'wire', from: 'src', to: 'dst', bandwidth: 1_250_000_000, latency: 50_000, state: 'up', stats: { delivered: 0, failed: 0, bytesDelivered: 0, cuts: 0 } }]);
    expect(report.summary.vms.map((v: { name: string; host: string; vcpus: unknown[] }) => [v.name, v.host, v.vcpus.length])).toEqual([['a', 'src', 1], ['b', 'dst', 2]]);
    expect(report.notes).toEqual([]);
  });

  test('the same scenario gives the same report, byte for byte', () => {
    const file = writeScenario(twoHosts());
    const a = cli(file);
    const b = cli(file);
    expect(a.code).toBe(0);
    expect(b.out).toBe(a.out);
  });

  test('a host step without "host" in a two-host world names the hosts', () => {
    const s = twoHosts();
    s.steps = [{ do: 'host_read_phys', hpa: 0 }];
    const r = cli(writeScenario(s));
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.steps[0].host: this step acts on a host and there are several: name it with "host" (hosts: "src", "dst")');
    s.steps = [{ do: 'KVM_CREATE_VM', host: 'nowhere', as: 'v', type: 0 }];
    expect(cli(writeScenario(s)).err).toContain('$.steps[0].host: no host named "nowhere" (hosts: "src", "dst")');
  });

  test('an mmap on one host cannot back a memslot of a VM on the other', () => {
    const s = twoHosts();
    s.steps = [
      { do: 'mmap', host: 'src', length: '1M', as: 'mem' },
      { do: 'KVM_CREATE_VM', host: 'dst', as: 'v', type: 0 },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'v', slot: 0, guest_phys_addr: 0, memory_size: '1M', userspace_addr: 'mem' },
    ];
    const r = cli(writeScenario(s));
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.steps[2].userspace_addr: mmap "mem" is on host "src", VM "v" on host "dst": a memslot maps memory of its own host');
  });

  test('an unknown step kind suggests the nearest', () => {
    const s = twoHosts();
    s.steps = [{ do: 'host_raed', vm: 'a', gpa: 0, via: 'physical' }];
    const r = cli(writeScenario(s));
    expect(r.code).toBe(1);
    expect(r.err).toContain('$.steps[0].do: unknown step "host_raed" (did you mean "host_read"?)');
  });
});

describe('--steps and the version 1 upgrade', () => {
  test('--steps prints the step tables of docs/scenario-format.md', () => {
    const r = cli('--steps');
    expect(r.code).toBe(0);
    expect(readFileSync(new URL('../../docs/scenario-format.md', import.meta.url), 'utf8')).toContain(r.out);
    expect(r.out).toContain('| `host_read_phys` | `host` (optional), `hpa`, `length` (default `64`) |');
  });

  test('a version-1 file runs with a note, and its report equals the version-2 file\'s but for the note', () => {
    const v1 = cli(writeScenario(base()));
    const v2 = cli(writeScenario({ ...base(), version: 2 }));
    expect(v1.code).toBe(0);
    const r1 = JSON.parse(v1.out);
    const r2 = JSON.parse(v2.out);
    expect(r1.notes).toEqual(['version 1 scenario upgraded to version 2: its host "host0" (16 GiB) is the world\'s only host, every VM runs on it, and there are no links']);
    expect(r2.notes).toEqual([]);
    expect({ ...r1, notes: [] }).toEqual(r2);
    expect(r1.events.every((e: { host: string }) => e.host === 'host0')).toBe(true);
  });
});

describe('a Unix tool', () => {
  const loop = (steps: number, budget: number) => ({
    version: 2,
    title: 'a guest that never halts',
    vms: [{ name: 'g', type: 'default', memory: '16M', program: ['_start:', '  add rax, 1', '  jmp _start'] }],
    steps: Array.from({ length: steps }, () => ({ do: 'run', vm: 'g', max_instructions: budget })),
  });

  test('file names and quoted strings are printed with control characters escaped', () => {
    const evil = join(dir, 'evil-\u001b]0;pwned\u0007-\u001b[2J-\u202e.json');
    const r = cli(evil);
    expect(r.code).toBe(2);
    expect(r.err).toContain('evil-\\e]0;pwned\\x07-\\e[2J-\\u202e.json: no such file');
    // eslint-disable-next-line no-control-regex -- no raw control character may reach the terminal
    expect(r.err).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f\u202e]/);
    const s = base();
    s.steps = [{ do: 'run', vm: 'vm\u001b[31mred' }];
    const bad = cli(writeScenario(s));
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('no VM named "vm\\u001b[31mred"');
    expect(bad.err).not.toContain('\u001b');
  });

  test('a scenario above 1 MiB is refused by its size before it is parsed (a regular file, and /dev/zero)', () => {
    const big = writeScenario(' '.repeat(1024 * 1024) + '{}');
    const r = cli(big);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`${big}: too big: 1,048,578 bytes; a scenario is at most 1,048,576 bytes (docs/scenario-format.md, "Limits")`);
    expect(cli('/dev/zero').err).toBe('/dev/zero: too big: more than 1,048,576 bytes; a scenario is at most 1,048,576 bytes (docs/scenario-format.md, "Limits")');
    expect(cli(dir).err).toBe(`${dir}: cannot read it (EISDIR)`);
  });

  test("a run that reaches its budget stops there: exit 0, the stop in the report", () => {
    const r = cli(writeScenario(loop(2, 50_000)));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.results.map((x: { value: { stop: string; instructions: number } }) => [x.value.stop, x.value.instructions])).toEqual([['budget', 50_000], ['budget', 50_000]]);
  });

  test('interrupted (Ctrl-C) between slices: exit 130, the report of the steps that ran, and a line saying where it stopped', () => {
    let asked = 0;
    const out: string[] = [];
    const err: string[] = [];
    // Interrupted at the fourth look: after three slices of 500,000 instructions, inside the second step.
    const code = main([writeScenario(loop(5, 1_000_000))], (s) => out.push(s), (s) => err.push(s), () => ++asked > 3);
    expect(code).toBe(130);
    const report = JSON.parse(out.join('\n'));
    expect(report.results).toHaveLength(1);
    expect(report.notes).toEqual(['interrupted (SIGINT) during step 1 ("run"): 1 of 5 steps ran; their results are below']);
    expect(err.join('\n')).toMatch(/: interrupted during step 1 \("run"\): 1 of 5 steps ran \(the report of those is on stdout\)$/);
  });

  test('a closed stdout (| head -c 100) ends it quietly, exit 0, nothing on stderr', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/sim.ts', 'host-reads-secret'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The reader goes away before the report is written: the write meets a closed pipe.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  }, 60_000);
});
