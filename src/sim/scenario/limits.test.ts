import { describe, expect, it } from 'vitest';
import { LIMITS, ScenarioError, parseScenario, scenarioJsonSchema } from './schema';
import { WORK_PER_ACTOR } from './fields';
import { ScenarioRun } from './runner';
import { guestInstructions, worldWork } from './steps/world';

/** A small valid scenario with `patch` on top. */
function scenario(patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 2,
    title: 'limits',
    vms: [{ name: 'g', type: 'default', memory: '16M', vcpus: 2, program: ['_start:', '  hlt'] }],
    steps: [{ do: 'run', vm: 'g' }],
    ...patch,
  };
}

/** The issues a scenario is refused with, as "path: message" lines. */
function refusal(input: unknown): string[] {
  try {
    ScenarioRun.fromJson(input);
  } catch (e) {
    if (e instanceof ScenarioError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  throw new Error('the scenario loaded');
}

describe('sizes above the documented limits are refused at load, by JSON path', () => {
  it('host memory: "64T" is refused, not a RangeError allocating the frame tables', () => {
    expect(refusal(scenario({ hosts: [{ name: 'h', memory: '64T' }] }))).toEqual([
      '$.hosts[0].memory: host memory 64 TiB is above the limit of 64 GiB (docs/scenario-format.md, "Limits")',
    ]);
    expect(refusal({ version: 1, title: 'v1', host: { memory: '1T' } })).toEqual([
      '$.host.memory: host memory 1 TiB is above the limit of 64 GiB (docs/scenario-format.md, "Limits")',
    ]);
  });

  it('all hosts together, guest memory, and the counts of hosts, VMs, links and steps', () => {
    const hosts = Array.from({ length: 3 }, (_, k) => ({ name: `h${k}`, memory: '64G' }));
    expect(refusal(scenario({ hosts, vms: [] }))).toEqual(['$.hosts: the hosts have 192 GiB of memory together, above the limit of 128 GiB (docs/scenario-format.md, "Limits")']);
    expect(refusal(scenario({ vms: [{ name: 'g', type: 'tdx', memory: '1T', program: 'hlt' }] }))).toEqual([
      '$.vms[0].memory: guest memory 1 TiB is above the limit of 64 GiB (docs/scenario-format.md, "Limits")',
    ]);
    expect(refusal(scenario({ hosts: Array.from({ length: 9 }, (_, k) => ({ name: `h${k}`, memory: '1G' })), vms: [] })))
      .toEqual(['$.hosts: 9 hosts: the limit is 8 (docs/scenario-format.md, "Limits")']);
    const steps = Array.from({ length: LIMITS.steps + 1 }, () => ({ do: 'run', vm: 'g' }));
    expect(refusal(scenario({ steps }))).toEqual(['$.steps: 10,001 steps: the limit is 10,000 (docs/scenario-format.md, "Limits")']);
    expect(() => parseScenario(scenario({ steps: steps.slice(1) }))).not.toThrow();
  });

  it("a run step's budget of 2^53 - 1 instructions is refused; the limit itself runs and stops at it", () => {
    expect(refusal(scenario({ steps: [{ do: 'run', vm: 'g', max_instructions: 2 ** 53 - 1 }] }))).toEqual([
      '$.steps[0].max_instructions: max_instructions 9007199254740991 is above the limit of 100,000,000 instructions for a run step (docs/scenario-format.md, "Limits")',
    ]);
    // A KVM_RUN (one ioctl, run in slices) and a reboot (in slices, but also bounded by its exits): a tenth of that.
    expect(refusal(scenario({ steps: [{ do: 'KVM_RUN', vm: 'g', max_instructions: 10_000_001 }] }))[0]).toMatch(/^\$\.steps\[0\]\.max_instructions: max_instructions 10000001 is above the limit of 10,000,000 instructions for a KVM_RUN \(one call; it runs in slices\)/);
    expect(refusal(scenario({ steps: [{ do: 'reboot', vm: 'g', max_instructions: 10_000_001 }] }))[0]).toMatch(/^\$\.steps\[0\]\.max_instructions: max_instructions 10000001 is above the limit of 10,000,000 instructions for a reboot \(/);
    const loop = scenario({ vms: [{ name: 'g', type: 'default', memory: '16M', program: '_start: jmp _start' }], steps: [{ do: 'run', vm: 'g', max_instructions: 100_000 }] });
    const r = ScenarioRun.fromJson(loop).runAll();
    expect(r.results[0].value).toMatchObject({ stop: 'budget', instructions: 100_000 });
  });

  it('a program: its length, and 5,000 nested parentheses, with the line and column', () => {
    const deep = `_start: mov rax, ${'('.repeat(5000)}1${')'.repeat(5000)}`;
    expect(refusal(scenario({ vms: [{ name: 'g', type: 'default', program: deep }] }))).toEqual([
      '$.vms[0].program: assembler: line 1, column 82: expression nested more than 64 levels deep',
    ]);
    expect(refusal(scenario({ vms: [{ name: 'g', type: 'default', program: 'nop\n'.repeat(70_000) }] }))).toEqual([
      '$.vms[0].program: the program is 280,000 characters long; the limit is 262,144 (256 KiB)',
    ]);
    expect(refusal(scenario({ vms: [{ name: 'g', type: 'default', program: '_start: constructor 1' }] }))).toEqual([
      "$.vms[0].program: assembler: line 1, column 9: unknown instruction 'constructor'",
    ]);
  });

  it('the JSON Schema reports the limits', () => {
    const schema = scenarioJsonSchema() as { 'x-limits': Record<string, number>; properties: { steps: { maxItems: number }; hosts: { maxItems: number } } };
    expect(schema['x-limits']).toMatchObject({ scenarioBytes: 1024 * 1024, hostMemory: 64 * 2 ** 30, steps: 10_000, runInstructions: 100_000_000, runWork: 100_000_000, wholeStepInstructions: 10_000_000, programChars: 262_144, expressionDepth: 64 });
    expect(schema.properties.steps.maxItems).toBe(10_000);
    expect(schema.properties.hosts.maxItems).toBe(8);
    expect(JSON.stringify(schema)).toContain('at most 64 GiB');
  });
});

describe('what a later step refers to is checked at load, before anything runs', () => {
  const later = (step: Record<string, unknown>) => refusal(scenario({ steps: [{ do: 'run', vm: 'g' }, { do: 'run', vm: 'g' }, step] }));

  it('an unknown capability (the worker died when the step ran)', () => {
    expect(later({ do: 'KVM_CHECK_EXTENSION', cap: 'KVM_CAP_NOPE' })).toEqual([
      '$.steps[2].cap: unknown capability "KVM_CAP_NOPE": give a KVM_CAP_* name from include/uapi/linux/kvm.h or a number',
    ]);
    expect(later({ do: 'KVM_ENABLE_CAP', vm: 'g', cap: 'constructor' })[0]).toMatch(/^\$\.steps\[2\]\.cap: unknown capability "constructor"/);
    expect(() => ScenarioRun.fromJson(scenario({ steps: [{ do: 'KVM_CHECK_EXTENSION', cap: 'KVM_CAP_GUEST_MEMFD' }] }))).not.toThrow();
  });

  it('flag names, including the ones Object.prototype has', () => {
    expect(later({ do: 'fallocate', fd: 3, mode: ['FALLOC_FL_PUNCH_HOLE', 'constructor'], offset: 0, len: 4096 })[0])
      .toMatch(/^\$\.steps\[2\]\.mode\[1\]: unknown flag "constructor" \(known: KVM_MEM_LOG_DIRTY_PAGES, /);
    expect(later({ do: 'KVM_X86_SET_MSR_FILTER', vm: 'g', ranges: [{ flags: ['toString'], base: 0, nmsrs: 1 }] })[0])
      .toMatch(/^\$\.steps\[2\]\.ranges\[0\]\.flags\[0\]: unknown flag "toString"/);
  });

  it('VM, vCPU, host and link names, a program, hex data, at with after', () => {
    expect(later({ do: 'run', vm: 'nope' })).toEqual(['$.steps[2].vm: no VM named "nope" (VMs: "g")']);
    expect(later({ do: 'run', vm: 'g', vcpu: 2 })).toEqual(['$.steps[2].vcpu: VM "g" has 2 vCPU(s): there is no vCPU 2']);
    expect(later({ do: 'mmap', host: 'nope', length: 4096, as: 'm' })).toEqual(['$.steps[2].host: no host named "nope" (hosts: "host0")']);
    expect(later({ do: 'link_down', link: 'wan' })).toEqual(['$.steps[2].link: no link named "wan" (links: none)']);
    expect(later({ do: 'load_program', vm: 'g', program: 'mov rax,' })).toEqual(['$.steps[2].program: assembler: line 1, column 9: operand expected']);
    expect(later({ do: 'host_write', vm: 'g', gpa: 0, data: 'hex:zz', via: 'physical' })).toEqual(['$.steps[2].data: "hex:zz" is not hex bytes']);
    expect(later({ do: 'host_read_phys', hpa: 0, length: '1M' })).toEqual(['$.steps[2].length: a host read shows what it read: at most 65,536 bytes (docs/scenario-format.md, "Limits"), not 1,048,576']);
    expect(later({ do: 'link_send', link: 'x', bytes: 1 })[0]).toMatch(/^\$\.steps\[2\]\.link: no link named "x"/);
  });

  it('names the scenario itself gives with "as" may be used before or after they are made (they fail at run time, as Linux would)', () => {
    const s = scenario({
      vms: [],
      steps: [
        { do: 'KVM_CREATE_VCPU', vm: 'byhand', id: 0 },
        { do: 'KVM_CREATE_VM', as: 'byhand', type: 0 },
      ],
    });
    const r = ScenarioRun.fromJson(s);
    expect(() => r.step()).toThrow(/no VM named "byhand"/);
  });
});

describe("a migration's destination VM may be named by later steps", () => {
  // Found by the migration-stream invariant (src/sim/test-invariants.ts): "guest@dst" was refused at
  // load as "no VM named", though -incoming makes it before the first step.
  const twoHosts = (steps: unknown[]) => ({
    version: 2, title: 'dst', hosts: [{ name: 'src', memory: '256M' }, { name: 'dst', memory: '256M' }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '10Gbit', latency: '50us' }],
    vms: [{ name: 'g', host: 'src', type: 'default', memory: '16M', program: ['_start:', '  mov byte [0x200000], 0x5a', '  hlt'] }],
    steps: [{ do: 'run', vm: 'g' }, ...steps],
  });
  const wait = { do: 'run_until', vm: 'g', status: 'completed', time: '10s' };

  it('by its default name "<vm>@<to>" and by "as"; it reads what the guest wrote on the source', () => {
    for (const [migrate, dst] of [[{}, 'g@dst'], [{ as: 'there' }, 'there']] as const) {
      const r = ScenarioRun.fromJson(twoHosts([{ do: 'migrate', vm: 'g', to: 'dst', link: 'wan', ...migrate }, wait,
        { do: 'host_read', vm: dst, gpa: '0x200000', length: 1, via: 'vmm_mapping' }])).runAll();
      expect(r.results[3].value).toMatchObject({ hex: '5a' });
    }
  });

  it('a name no migrate makes is still refused', () => {
    expect(refusal(twoHosts([{ do: 'migrate', vm: 'g', to: 'dst', link: 'wan', as: 'there' }, { do: 'host_read', vm: 'g@dst', gpa: 0, length: 1, via: 'vmm_mapping' }])))
      .toEqual(['$.steps[2].vm: no VM named "g@dst" (VMs: "g", "there")']);
  });
});

describe("what acts on a migration, or waits for one, is checked at load (it stopped the run mid-way)", () => {
  const twoHosts = (steps: unknown[]) => ({
    version: 2, title: 'mig', hosts: [{ name: 'src', memory: '256M' }, { name: 'dst', memory: '256M' }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '10Gbit', latency: '50us' }],
    vms: [{ name: 'g', host: 'src', type: 'default', memory: '16M', program: ['_start:', '  hlt'] }],
    steps,
  });
  const migrate = { do: 'migrate', vm: 'g', to: 'dst', link: 'wan', capabilities: ['postcopy-ram'] };

  it('query_migrate, migrate_cancel and read_migration_stream need a migrate step before them', () => {
    expect(refusal(twoHosts([{ do: 'query_migrate', vm: 'g' }, { do: 'migrate_cancel', vm: 'g' }, { do: 'read_migration_stream', vm: 'g', gpa: 0 }, { do: 'query_migrate', vm: 'g@dst' }, migrate]))).toEqual([
      '$.steps[0].vm: VM "g" is not migrated by an earlier step: query_migrate needs a migration to act on (a "migrate" step before it, of this VM or to it)',
      '$.steps[1].vm: VM "g" is not migrated by an earlier step: migrate_cancel needs a migration to act on (a "migrate" step before it of this VM)',
      '$.steps[2].vm: VM "g" is not migrated by an earlier step: read_migration_stream needs a migration to act on (a "migrate" step before it of this VM)',
      '$.steps[3].vm: VM "g@dst" is not migrated by an earlier step: query_migrate needs a migration to act on (a "migrate" step before it, of this VM or to it)',
    ]);
    // After it, on either side; post-copy's steps answer as QEMU does (an errno), whenever they come.
    const r = ScenarioRun.fromJson(twoHosts([{ do: 'migrate_start_postcopy', vm: 'g' }, { do: 'migrate_recover', vm: 'g@dst' }, migrate,
      { do: 'query_migrate', vm: 'g@dst' }, { do: 'query_migrate', vm: 'g' }, { do: 'migrate_cancel', vm: 'g' }])).runAll();
    expect(r.results.map((x) => x.errno ?? x.ret)).toEqual(['EINVAL', 'EINVAL', 0, 0, 0, 0]);
    expect(r.results[0].why).toBe('Enable postcopy with migrate_set_capability before the start of migration');
  });

  it('a VMM-level step, or a run_until waiting for a migration, on a VM made by hand', () => {
    const s = twoHosts([{ do: 'KVM_CREATE_VM', host: 'src', as: 'byhand', type: 0 }, { do: 'migrate_start_postcopy', vm: 'byhand' }, { do: 'cont', vm: 'byhand' },
      { do: 'run_until', vm: 'byhand', status: 'completed', time: '1s' }, { do: 'KVM_CHECK_EXTENSION', vm: 'byhand', cap: 'KVM_CAP_GUEST_MEMFD' }]);
    expect(refusal(s)).toEqual([
      '$.steps[1].vm: migrate_start_postcopy acts on a VM the VMM built, and "byhand" is not one (it is made by a step with "as"; VMs the VMM built: "g")',
      '$.steps[2].vm: cont acts on a VM the VMM built, and "byhand" is not one (it is made by a step with "as"; VMs the VMM built: "g")',
      '$.steps[3].vm: run_until acts on a VM the VMM built, and "byhand" is not one (it is made by a step with "as"; VMs the VMM built: "g")',
    ]);
  });

  it("run_until's fields: a time, or a VM with a status", () => {
    expect(refusal(twoHosts([{ do: 'run_until' }, { do: 'run_until', vm: 'g', time: '1s' }, { do: 'run_until', status: 'completed' }]))).toEqual([
      '$.steps[0]: run_until needs "time", or "vm" and "status" (a migration status)',
      '$.steps[1].vm: "vm" goes with "status": the migration status to wait for',
      '$.steps[2].vm: run_until with a "status" names the VM whose migration it waits for',
    ]);
  });
});

describe('reproducers the fuzzers found (src/fuzz/targets.ts)', () => {
  it('a 6-byte host with a TD: refused at load (it crashed building the TD: no frame for its metadata)', () => {
    expect(refusal({ version: 2, title: 'f', hosts: [{ name: 'h', memory: '6' }], vms: [{ name: 'g', type: 'tdx', program: 'hlt' }] })).toEqual([
      '$.hosts[0].memory: host memory 6 B is below the minimum of 128 MiB (docs/scenario-format.md, "Limits")',
    ]);
    // Just big enough for the host's kernel, not for the TD: a clean refusal naming the VM, not an Error.
    expect(refusal({ version: 2, title: 'f', hosts: [{ name: 'h', memory: '128M' }], vms: [{ name: 'g', type: 'tdx', memory: '64M', program: 'hlt' }] }))
      .toEqual(['$.vms[0]: cannot build VM "g": host memory is exhausted']);
  });

  it('a host running out of memory inside a step run by slices: -1 ENOMEM as the step run whole says it (by slices, a SysError escaped the run)', () => {
    // npm run fuzz, scenario target, seed 1407, input 15,321: a 256 MiB software-protected guest
    // (the default size) migrates in post-copy with KVM Userfault to a 256 MiB host, whose kernel keeps 64 MiB.
    const doc = {
      version: 2, title: 'fuzz: a migration', seed: 97,
      hosts: [{ name: 'src', memory: '256M' }, { name: 'dst', memory: '256M', kernel_series: ['kvm-userfault'] }],
      links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '1Gbit', latency: '50us' }],
      vms: [{ name: 'guest', host: 'src', type: 'sw-protected', workload: { rate: '1M', pattern: 'uniform', base: '4M', working_set: '2M' } }],
      steps: [
        { do: 'cont', vm: 'guest' }, { do: 'run_until', time: '30ms' },
        { do: 'migrate', vm: 'guest', to: 'dst', link: 'wan', capabilities: ['postcopy-ram', 'postcopy-preempt'], td_design: 'kvm-userfault' },
        { do: 'migrate_start_postcopy', vm: 'guest' }, { do: 'run_until', vm: 'guest', status: 'postcopy-paused', time: '1030ms' },
        { do: 'query_migrate', vm: 'guest@dst' },
      ],
    };
    const whole = JSON.stringify(ScenarioRun.fromJson(doc).runAll());
    const run = ScenarioRun.fromJson(doc);
    while (!run.done) run.advance(100_000);
    const sliced = JSON.stringify(run.report());
    expect(sliced).toBe(whole);
    expect(run.results[4]).toMatchObject({ do: 'run_until', ret: -1, errno: 'ENOMEM', why: 'host memory is exhausted' });
  });

  it('a reboot of a guest that exits at every few instructions stops at the exit budget (it ran 24 s at 1 M instructions)', () => {
    const s = { version: 2, title: 'd', hosts: [{ name: 'h', memory: '256M' }], vms: [{ name: 'g', type: 'sw-protected', memory: '16M', program: '.l:\n  mov [0x200000 + rcx*8], rcx\n  loop .l' }], steps: [{ do: 'reboot', vm: 'g' }] };
    const r = ScenarioRun.fromJson(s).runAll();
    expect(r.results[0].value).toMatchObject({ stop: 'budget', exits: LIMITS.wholeStepExits });
    expect(r.results[0].why).toBe("the guest made 20000 exits to user space without halting; the run stopped at the step's exit budget");
  });
  it("a run_until to 10^15 ns of a guest that wakes every jiffy to do little stops at the world's work budget (it ran for hours: the budget counted guest instructions only)", () => {
    // npm run fuzz, scenario target, seed 1407, input 50,779: a timed workload halts between its
    // wake-ups, so a wake-up is three exits and a few instructions but an actor's run of 25 to 80 µs.
    const doc = {
      version: 2, title: 'fuzz: a migration', seed: 841,
      hosts: [{ name: 'src', memory: '256M' }, { name: 'dst', memory: '256M' }],
      links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '1Gbit', latency: '1ms' }],
      vms: [{ name: 'guest', host: 'src', type: 'default', memory: '8M', vcpus: 1, workload: { rate: '1M', pattern: 'hot-set', base: '4M', working_set: '2M', prefill: false } }],
      steps: [{ do: 'cont', vm: 'guest' }, { do: 'run_until', time: 1e15 }],
    };
    const run = ScenarioRun.fromJson(doc);
    const from = run.world.scheduler.steps;
    // Slices count an actor's run as 1: ten slices of 10,000 are 100,000 runs, twice the budget's.
    for (let k = 0; k < 10 && !run.done; k++) run.advance(10_000);
    expect(run.done).toBe(true);
    const until = run.results[1];
    expect(until.value).toMatchObject({ stop: 'budget', actors_run: LIMITS.runWork / WORK_PER_ACTOR });
    expect((until.value as { time_ns: number }).time_ns).toBeLessThan(1e15);
    expect(until.why).toMatch(/^the world did 100,000,000 instructions' worth of work \(guest instructions, 2,000 a scheduler actor's run\) before 1000000000000000 ns; the step stopped at its budget/);
    expect(run.world.scheduler.steps - from).toBe(50_000);
  }, 60_000);
});

describe("steps that run the world stop at the world's work budget", () => {
  // npm run fuzz (seed 20261206), scenario target: two vCPUs spinning, then a run_until waiting for
  // a migration status with no migration: ten virtual minutes of two spinning vCPUs, hours of work.
  it("a run_until (status, no time) and a link_send with wait, while two vCPUs spin: each stops at 100,000,000 instructions' worth of work", () => {
    const doc = {
      version: 2, title: 'spin', hosts: [{ name: 'a', memory: '128M' }, { name: 'b', memory: '128M' }],
      links: [{ name: 'wan', from: 'a', to: 'b', bandwidth: '1Mbit', latency: 0 }],
      vms: [{ name: 'g', host: 'a', type: 'default', memory: '16M', vcpus: 2, program: '_start:\n  add rax, 1\n  jmp _start' }],
      steps: [
        { do: 'cont', vm: 'g' },
        { do: 'run_until', vm: 'g', status: 'device' },
        { do: 'link_send', link: 'wan', bytes: '1G', wait: true },
        { do: 'run_until', time: '1ms' },
      ],
    };
    const r = ScenarioRun.fromJson(doc);
    let slices = 0;
    // The guests' instructions when each step began.
    const ran = [guestInstructions(r.world)];
    while (!r.done) {
      if (r.advance(1_000_000)) ran.push(guestInstructions(r.world));
      slices++;
    }
    const [, until, send, after] = r.report().results;
    expect(until.value).toMatchObject({ stop: 'budget', status: 'none', reached: false });
    expect(until.why).toBe(`the world did 100,000,000 instructions' worth of work (guest instructions, 2,000 a scheduler actor's run) before 600000003000 ns (the migration of "g" is none); the step stopped at its budget (docs/scenario-format.md, "Limits")`);
    // Each vCPU returns to the scheduler every 10,000 instructions (an actor's run, worth 2,000):
    // the guests ran 100,000,000 / 1.2 instructions in each step.
    for (const k of [1, 2]) {
      expect(ran[k + 1] - ran[k]).toBeGreaterThan(83_300_000);
      expect(ran[k + 1] - ran[k]).toBeLessThanOrEqual(83_340_000);
    }
    expect(send).toMatchObject({ ret: 0, value: { state: 'in-flight', stop: 'budget' } });
    expect(send.why).toMatch(/^the world did 100,000,000 instructions' worth of work \(guest instructions, 2,000 a scheduler actor's run\) while the transfer was on the wire \(it goes on\)/);
    // The world went on: a later step runs (here: the time is already past, EINVAL).
    expect(after.errno).toBe('EINVAL');
    expect(slices).toBeGreaterThan(150);
    // In slices or whole, the same stops at the same instructions.
    expect(JSON.stringify(ScenarioRun.fromJson(doc).runAll())).toBe(JSON.stringify(r.report()));
  }, 60_000);

  it("a run step whose guest exits every other instruction stops after 50,000 exits (2,000 each), not after hours; in slices or whole", () => {
    const doc = scenario({ vms: [{ name: 'g', type: 'default', memory: '16M', program: '_start:\n  out 0x80, al\n  jmp _start' }], steps: [{ do: 'run', vm: 'g', max_instructions: LIMITS.runInstructions }] });
    const r = ScenarioRun.fromJson(doc);
    while (!r.done) r.advance(2000);
    const [run] = r.report().results;
    expect(run.value).toMatchObject({ stop: 'budget', exits: 50_000 });
    expect(run.why).toBe(`the world did 100,000,000 instructions' worth of work (other vCPUs' instructions, 2,000 an exit or a scheduler actor's run) besides this vCPU's instructions; the step stopped at its budget (docs/scenario-format.md, "Limits")`);
    expect(JSON.stringify(ScenarioRun.fromJson(doc).runAll())).toBe(JSON.stringify(r.report()));
  }, 60_000);
});

describe('the work budget fits the sizes the lab is for', () => {
  it('a 256 MiB guest migrates in a sixteenth of one step\'s budget: a 4 GiB guest (a million pages) migrates in one run_until', () => {
    const run = ScenarioRun.fromJson({
      version: 2, title: 'a migration against the work budget', seed: 1,
      hosts: [{ name: 'src', memory: '1G' }, { name: 'dst', memory: '1G' }],
      links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '10Gbit', latency: '50us' }],
      vms: [{ name: 'g', host: 'src', type: 'default', memory: '256M', workload: { rate: '4M', pattern: 'uniform', working_set: '64M', seed: 1 } }],
      steps: [{ do: 'cont', vm: 'g' }, { do: 'run_until', time: '20ms' }, { do: 'migrate', vm: 'g', to: 'dst', link: 'wan' }, { do: 'run_until', vm: 'g', status: ['completed', 'failed'], time: '60s' }],
    });
    for (let i = 0; i < 3; i++) run.step();
    const before = worldWork(run.world);
    const r = run.step();
    expect(r.value).toMatchObject({ status: 'completed', reached: true });
    expect((r.value as { stop?: string }).stop).toBeUndefined();
    expect(worldWork(run.world) - before).toBeLessThan(LIMITS.runWork / 16);
  });
});

describe("names from Object.prototype are nobody's names", () => {
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('"%s" is no step kind, VM, mmap or guest_memfd, and no capability or flag', (word) => {
    const s = (steps: unknown[]) => scenario({ steps });
    expect(refusal(s([{ do: word, vm: 'g' }]))[0]).toMatch(new RegExp(`^\\$\\.steps\\[0\\]\\.do: unknown step ${JSON.stringify(word)}`));
    expect(refusal(s([{ do: 'run', vm: word }]))).toEqual([`$.steps[0].vm: no VM named ${JSON.stringify(word)} (VMs: "g")`]);
    expect(refusal(s([{ do: 'KVM_CHECK_EXTENSION', cap: word }]))[0]).toMatch(/^\$\.steps\[0\]\.cap: unknown capability/);
    expect(refusal(s([{ do: 'KVM_CREATE_GUEST_MEMFD', vm: 'g', size: 4096, flags: [word], as: 'gm' }]))[0]).toMatch(/^\$\.steps\[0\]\.flags\[0\]: unknown flag/);
    // Made by the scenario itself, so known only when the step runs: a scenario error then.
    const run = ScenarioRun.fromJson(s([{ do: 'fallocate', fd: word, mode: 0, offset: 0, len: 4096 }]));
    expect(() => run.step()).toThrow(`$.steps[0].fd: no guest_memfd named "${word}"`);
  });

  it('a "__proto__" key in the JSON is an unknown field, and pollutes nothing', () => {
    expect(refusal(JSON.parse('{"version":2,"title":"t","__proto__":{"polluted":1}}'))).toEqual(['$: Unrecognized key: "__proto__"']);
    expect(({} as { polluted?: number }).polluted).toBeUndefined();
  });
});
