import { describe, expect, test } from 'vitest';
import { PRESETS } from '../../scenarios';
import { ScenarioError, parseScenario, STEP_KINDS } from './schema';

/** The problems parseScenario reports for the first lesson with one change made. */
function issuesAfter(change: (s: { vms: Record<string, unknown>[]; steps: Record<string, unknown>[] }) => void) {
  const s = structuredClone(PRESETS['host-reads-secret']) as unknown as { vms: Record<string, unknown>[]; steps: Record<string, unknown>[] };
  change(s);
  try {
    parseScenario(s);
  } catch (e) {
    if (e instanceof ScenarioError) return e.issues;
    throw e;
  }
  throw new Error('the scenario was accepted');
}

describe('parseScenario messages', () => {
  test('a value of the wrong type names what was expected and what was there', () => {
    expect(issuesAfter((s) => { s.vms[0].program = 5; })).toEqual([{ path: '$.vms[0].program', message: 'expected a string or an array, not a number (5)' }]);
    expect(issuesAfter((s) => { s.vms[0].memory = true; })).toEqual([{ path: '$.vms[0].memory', message: 'expected a number or a string, not a boolean (true)' }]);
  });

  test('an unknown step kind lists the kinds and suggests the nearest', () => {
    const [i] = issuesAfter((s) => { s.steps[0].do = 'host_raed'; });
    expect(i.path).toBe('$.steps[0].do');
    expect(i.message).toMatch(/^unknown step "host_raed" \(did you mean "host_read"\?\): "do" must be one of VMM level: run, convert, .*; Host level: host_read, /);
    expect(i.message).toContain(STEP_KINDS.at(-1));
    const [far] = issuesAfter((s) => { s.steps[0].do = 'teleport'; });
    expect(far.message).toMatch(/^unknown step "teleport": "do" must be one of/);
  });

  test('a bad field of a known step is not called an unknown step', () => {
    const [i] = issuesAfter((s) => { s.steps.push({ do: 'fallocate', fd: 3, mode: true, offset: 0, len: 4096 }); });
    expect(i.path).toMatch(/^\$\.steps\[\d+\]\.mode$/);
    expect(i.message).toMatch(/^expected a number or a string or an array, not a boolean/);
  });
});

/** A valid two-host version-2 scenario; tests break one thing in a copy. */
function twoHosts() {
  return {
    version: 2,
    title: 'two hosts',
    hosts: [{ name: 'src', memory: '1G' }, { name: 'dst', memory: '1G' }] as Record<string, unknown>[],
    links: [{ name: 'wire', from: 'src', to: 'dst', bandwidth: '10Gbit', latency: '50us' }] as Record<string, unknown>[],
    vms: [
      { name: 'a', host: 'src', type: 'default', memory: '16M', program: ['_start:', '    hlt'] },
      { name: 'b', host: 'dst', type: 'default', memory: '16M', program: ['_start:', '    hlt'] },
    ] as Record<string, unknown>[],
    steps: [] as Record<string, unknown>[],
  };
}

function issuesOf(input: unknown) {
  try {
    parseScenario(input);
  } catch (e) {
    if (e instanceof ScenarioError) return e.issues;
    throw e;
  }
  throw new Error('the scenario was accepted');
}

describe('version 2: hosts, links, vms[].host', () => {
  test('a two-host scenario parses: units in bytes per second and ns, each VM on its host', () => {
    const s = parseScenario(twoHosts());
    expect(s.hosts).toEqual([{ name: 'src', memory: 1 << 30 }, { name: 'dst', memory: 1 << 30 }]);
    expect(s.links).toEqual([{ name: 'wire', from: 'src', to: 'dst', bandwidth: 1_250_000_000, latency: 50_000 }]);
    expect(s.vms.map((v) => [v.name, v.host, v.vcpus])).toEqual([['a', 'src', 1], ['b', 'dst', 1]]);
    expect(s.notes).toEqual([]);
  });

  test('bandwidth and latency accept numbers, bit rates, sizes per second and durations', () => {
    const s = twoHosts();
    s.links = [
      { name: 'l1', from: 'src', to: 'dst', bandwidth: '1GiB', latency: '2ms' },
      { name: 'l2', from: 'dst', to: 'src', bandwidth: 1000, latency: 7 },
      { name: 'l3', from: 'dst', to: 'src', bandwidth: '100 Mbit/s', latency: '1.5s' },
    ];
    expect(parseScenario(s).links.map((l) => [l.bandwidth, l.latency])).toEqual([[1 << 30, 2_000_000], [1000, 7], [12_500_000, 1_500_000_000]]);
    s.links = [{ name: 'l', from: 'src', to: 'dst', bandwidth: 'fast', latency: 'soon' }];
    expect(issuesOf(s)).toEqual([
      { path: '$.links[0].bandwidth', message: '"fast" is not a bandwidth (bytes per second, "10Gbit", "100 Mbit/s", "1GiB")' },
      { path: '$.links[0].latency', message: '"soon" is not a duration (nanoseconds, or "50us", "2ms", "1s")' },
    ]);
  });

  test('a VM or a link naming a host that does not exist is refused, naming the hosts', () => {
    const s = twoHosts();
    s.vms[1].host = 'dts';
    s.links[0].from = 'scr';
    expect(issuesOf(s)).toEqual([
      { path: '$.links[0].from', message: 'no host named "scr" (hosts: "src", "dst")' },
      { path: '$.vms[1].host', message: 'no host named "dts" (hosts: "src", "dst")' },
    ]);
  });

  test('duplicate host, link and VM names are refused where the second one is', () => {
    const s = twoHosts();
    s.hosts[1].name = 'src';
    s.links.push({ ...s.links[0], from: 'src', to: 'src' });
    s.vms[1].name = 'a';
    s.vms[1].host = 'src';
    expect(issuesOf(s)).toEqual(expect.arrayContaining([
      { path: '$.hosts[1].name', message: 'duplicate host name "src"' },
      { path: '$.links[1].name', message: 'duplicate link name "wire"' },
      { path: '$.vms[1].name', message: 'duplicate VM name "a"' },
    ]));
  });

  test('a link from a host to itself is refused', () => {
    const s = twoHosts();
    s.links[0].to = 'src';
    expect(issuesOf(s)).toEqual([{ path: '$.links[0].to', message: 'link "wire" goes from host "src" to itself: a link joins two different hosts' }]);
  });

  test('with several hosts a VM must name its host; with one it defaults to it', () => {
    const s = twoHosts();
    delete s.vms[0].host;
    expect(issuesOf(s)).toEqual([{ path: '$.vms[0].host', message: 'VM "a" must name its host: there are several (hosts: "src", "dst")' }]);
    s.hosts = [{ name: 'only' }];
    s.links = [];
    delete s.vms[1].host;
    expect(parseScenario(s).vms.map((v) => v.host)).toEqual(['only', 'only']);
  });

  test('vcpus is 1 to 8', () => {
    const s = twoHosts();
    s.vms[0].vcpus = 8;
    expect(parseScenario(s).vms[0].vcpus).toBe(8);
    s.vms[0].vcpus = 9;
    expect(issuesOf(s)[0].path).toBe('$.vms[0].vcpus');
    s.vms[0].vcpus = 0;
    expect(issuesOf(s)[0].path).toBe('$.vms[0].vcpus');
  });

  test('version 1 is upgraded to one host named after its host, with a note', () => {
    const v1 = { version: 1, title: 'old', host: { name: 'box', memory: '2G' }, vms: [{ name: 'g', type: 'default', program: 'hlt' }], steps: [] };
    const s = parseScenario(v1);
    expect(s.version).toBe(2);
    expect(s.hosts).toEqual([{ name: 'box', memory: 2 * 2 ** 30 }]);
    expect(s.links).toEqual([]);
    expect(s.vms[0].host).toBe('box');
    expect(s.notes).toEqual(['version 1 scenario upgraded to version 2: its host "box" (2 GiB) is the world\'s only host, every VM runs on it, and there are no links']);
    // Version 1 had neither hosts nor a VM's host: such a field in a version-1 file is a typo, refused.
    expect(issuesOf({ ...v1, hosts: [] })[0]).toMatchObject({ path: '$' });
    expect(issuesOf({ ...v1, vms: [{ ...v1.vms[0], host: 'box' }] })[0]).toMatchObject({ path: '$.vms[0]' });
  });
});

describe('a step\'s question ("ask")', () => {
  const choice = { question: 'What will the host read?', choices: ['zeros', 'the secret'], answer: 0, why: 'The frame is private.' };
  const parsedAsk = (ask: unknown) => parseScenario({ ...(structuredClone(PRESETS['host-reads-secret']) as object), steps: [{ do: 'run', vm: 'ordinary', ask }] }).steps[0].ask;

  test('choices with the right one, or a number with a tolerance and a unit, load as given', () => {
    expect(parsedAsk(choice)).toEqual(choice);
    const numeric = { question: 'How many pages?', number: 448, tolerance: 2, unit: 'pages', why: 'The ring holds 512 less 64 reserved.' };
    expect(parsedAsk(numeric)).toEqual(numeric);
  });

  test('an answer out of range, a missing answer, both kinds, or neither is refused at its JSON path with a sentence', () => {
    const at = (ask: Record<string, unknown>) => issuesAfter((s) => { s.steps[1].ask = ask; });
    expect(at({ ...choice, answer: 2 })).toEqual([{ path: '$.steps[1].ask.answer', message: 'answer 2 is not a choice: there are 2, numbered 0 to 1' }]);
    expect(at({ ...choice, answer: undefined })).toEqual([{ path: '$.steps[1].ask.answer', message: 'a question with choices needs "answer": the index of the right one, 0 to 1' }]);
    expect(at({ ...choice, number: 3 })).toEqual([{ path: '$.steps[1].ask.number', message: 'give "choices" with "answer", or "number": not both' }]);
    expect(at({ question: 'Q?', why: 'W.' })).toEqual([{ path: '$.steps[1].ask.question', message: 'a question needs "choices" (with "answer", the right one\'s index) or "number" (the right value)' }]);
    expect(at({ question: 'Q?', number: 1, answer: 0, why: 'W.' })[0].path).toBe('$.steps[1].ask.answer');
    expect(at({ ...choice, choices: ['zeros'], answer: 0 })).toEqual([{ path: '$.steps[1].ask.choices', message: 'a question with choices needs at least 2' }]);
    expect(at({ ...choice, choices: ['a', 'a'] })).toEqual([{ path: '$.steps[1].ask.choices[1]', message: 'choice 1 repeats "a"' }]);
    expect(at({ ...choice, why: ' ' })).toEqual([{ path: '$.steps[1].ask.why', message: 'the explanation ("why") must not be empty' }]);
    expect(at({ ...choice, hint: 'x' })[0].path).toBe('$.steps[1].ask');
    expect(at({ question: 'Q?', number: 1, tolerance: -1, why: 'W.' })[0].path).toBe('$.steps[1].ask.tolerance');
  });
});
