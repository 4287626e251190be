/**
 * Slicing must not change time: a scenario advanced in slices of any sizes (ScenarioRun.advance,
 * what the UI's play loop and time travel's replay do) gives the same trace, byte for byte (the
 * report's kept events), and the same report as the scenario run whole. A run step's slice may cut a
 * vCPU's KVM_RUN short (virtual time inside a KVM_RUN is exact, so no event moves); a run_until's
 * pauses between two of the scheduler's actors. run_until steps are sliced too.
 * FUZZ_RUNS=n runs the property n times (default 100).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../test-properties';
import { PRESETS } from '../scenarios';
import { ScenarioRun } from './scenario/runner';
import { LIMITS } from './scenario/fields';
import { same, scenarioOf, text, whole } from './test-reports';

const IDS = Object.keys(PRESETS);

/** Run `id` (a preset, or a scenario) to its end by slices (the sizes used in turn); how many advance() calls paused inside a step. */
function sliced(id: string | object, sizes: readonly number[]): { report: string; paused: Map<string, number>; calls: number } {
  const run = ScenarioRun.fromJson(typeof id === 'string' ? scenarioOf(id) : id);
  const paused = new Map<string, number>();
  let calls = 0;
  for (let k = 0; !run.done; k++) {
    const kind = run.scenario.steps[run.next].do;
    if (run.advance(sizes[k % sizes.length]) === null && !run.done) paused.set(kind, (paused.get(kind) ?? 0) + 1);
    calls = k + 1;
  }
  return { report: text(run.report()), paused, calls };
}

describe('slicing', () => {
  it('every preset run in slices of random sizes gives the trace and report of the run whole', () => {
    fc.assert(
      fc.property(fc.constantFrom(...IDS), fc.array(fc.integer({ min: 1, max: 50_000 }), { minLength: 1, maxLength: 20 }), (id, sizes) => {
        same(sliced(id, sizes).report, whole(id), `${id} in slices [${sizes.join(', ')}]`);
      }),
      propertyRuns(0x511ce),
    );
  }, 1_800_000);

  it('run_until advances in slices: two-hosts pauses inside its run_until steps and inside its run-to-halt guests', () => {
    const { report, paused } = sliced('two-hosts', [20]);
    same(report, whole('two-hosts'), 'two-hosts in slices of 20');
    // Stopped inside run_until many times (the guests run thousands of writes meanwhile), and inside
    // the link_send steps that wait for their transfer.
    expect(paused.get('run_until') ?? 0).toBeGreaterThan(10);
    expect(paused.get('link_send') ?? 0).toBeGreaterThan(0);
  });

  /** Two hosts joined by a slow link; a guest on src dirties memory at a rate (a timer wake-up per page), so the world has work while bytes are on the wire. */
  const busyWorld = (steps: unknown[], busy = true) => ({
    version: 2, title: 'a long wait', seed: 3,
    hosts: [{ name: 'src', memory: '256M' }, { name: 'dst', memory: '256M' }],
    links: [{ name: 'wan', from: 'src', to: 'dst', bandwidth: '1Mbit', latency: '1ms' }],
    vms: [{ name: 'g', host: 'src', type: 'default', memory: '16M', ...(busy ? { workload: { rate: '1M', pattern: 'sequential', base: '4M', working_set: '8M' } } : { program: '_start: hlt' }) }],
    steps: [{ do: 'cont', vm: 'g' }, ...steps],
  });

  it('a long link_send with wait yields: each advance() returns within its slice while the transfer is on the wire, and the result is the step run whole', () => {
    // 1 MiB at 1 Mbit/s: about 8.4 virtual seconds, during which the guest writes about 2,000 pages.
    const doc = busyWorld([{ do: 'link_send', link: 'wan', bytes: '1M', label: 'long', wait: true }, { do: 'link_send', link: 'wan', bytes: '4K', wait: true }]);
    const want = text(ScenarioRun.fromJson(doc).runAll());
    const { report, paused } = sliced(doc, [50]);
    same(report, want, 'a long link_send in slices of 50');
    expect(paused.get('link_send') ?? 0).toBeGreaterThan(20);
    const r = JSON.parse(report) as { results: { do: string; ret: number; value: { state: string; ended_at: number } }[] };
    expect(r.results[1]).toMatchObject({ do: 'link_send', ret: 1024 * 1024, value: { state: 'delivered' } });
    expect(r.results[1].value.ended_at).toBeGreaterThan(8e9);

    // One slice's work is bounded: a slice of 50 units never runs more than one actor past it.
    const run = ScenarioRun.fromJson(doc);
    run.advance(50);
    const threads = () => run.vmms.get('g')!.threads.reduce((n, t) => n + t.counts.instructions, 0);
    while (run.next === 1) {
      const before = threads() + run.world.scheduler.steps;
      run.advance(50);
      if (run.next === 1) expect(threads() + run.world.scheduler.steps - before).toBeLessThan(50 + 20_000);
    }
  });

  it('a link_send that fails while waited for (the link cut mid-transfer) gives the same ECONNRESET sliced as whole', () => {
    const doc = busyWorld([{ do: 'link_down', link: 'wan', at: '2s' }, { do: 'link_send', link: 'wan', bytes: '1M', wait: true }]);
    const want = text(ScenarioRun.fromJson(doc).runAll());
    const { report, paused } = sliced(doc, [7, 300]);
    same(report, want, 'a failing link_send in slices');
    expect(paused.get('link_send') ?? 0).toBeGreaterThan(2);
    expect((JSON.parse(report) as { results: { errno?: string }[] }).results[2].errno).toBe('ECONNRESET');
  });

  it('a reboot runs in slices like a run: it pauses at any instruction of its boot and gives the report of the step run whole', () => {
    const doc = {
      version: 2, title: 'reboot', hosts: [{ name: 'h', memory: '256M' }],
      vms: [{ name: 'g', type: 'sw-protected', memory: '16M', program: ['_start:', '  mov rcx, 300', '.l:', '  mov [0x200000 + rcx*8], rcx', '  loop .l', '  hlt'] }],
      steps: [{ do: 'run', vm: 'g' }, { do: 'reboot', vm: 'g' }, { do: 'host_read', vm: 'g', gpa: '0x200008', length: 8, via: 'vmm_mapping' }],
    };
    const want = text(ScenarioRun.fromJson(doc).runAll());
    for (const sizes of [[1], [7, 100], [1000]]) {
      const { report, paused } = sliced(doc, sizes);
      same(report, want, `a reboot in slices [${sizes.join(', ')}]`);
      if (sizes[0] < 100) expect(paused.get('reboot') ?? 0).toBeGreaterThan(5);
    }
  });

  it("a run_until waiting for a migration status with no time stops 10 virtual minutes after the step began, however it is sliced (the limit moved with every slice)", () => {
    // Three timers give the slices somewhere to pause; no migration ever reaches "completed".
    const doc = busyWorld([
      { do: 'link_down', link: 'wan', at: '1s' }, { do: 'link_up', link: 'wan', at: '2s' }, { do: 'link_down', link: 'wan', at: '3s' },
      { do: 'run_until', vm: 'g', status: 'completed' },
    ], false);
    const whole = ScenarioRun.fromJson(doc).runAll();
    expect(whole.results[4].value).toMatchObject({ reached: false });
    const end = (whole.results[4].value as { time_ns: number }).time_ns;
    expect(end).toBeGreaterThanOrEqual(600e9);
    expect(end).toBeLessThan(601e9);
    const { report, paused } = sliced(doc, [1]);
    same(report, text(whole), 'run_until with a status in slices of 1');
    expect(paused.get('run_until')).toBeGreaterThanOrEqual(3);
  });

  it('a slice of one instruction pauses a run step at every instruction and still gives the whole trace', () => {
    for (const id of ['msr-filter', 'shared-buffer', 'host-reads-secret']) {
      const { report, paused } = sliced(id, [1]);
      same(report, whole(id), `${id} in slices of 1`);
      // Every instruction of a run step but its last is a pause (inside KVM_RUNs too).
      const runs = (JSON.parse(whole(id)) as { results: { do: string; value?: { instructions?: number } }[] }).results.filter((r) => r.do === 'run');
      const instructions = runs.reduce((a, r) => a + (r.value?.instructions ?? 0), 0);
      expect(instructions).toBeGreaterThan(runs.length);
      expect(paused.get('run') ?? 0).toBeGreaterThanOrEqual(instructions - runs.length);
    }
  });
});

describe('slicing a migration', () => {
  it("a slice counts the pages a migration sends, so one slice of a run_until never carries a whole pre-copy", () => {
    const run = ScenarioRun.fromJson(scenarioOf('precopy-converges'));
    while (!run.done && run.world.migrations.length === 0) run.advance(1_000);
    const m = run.world.migrations[0];
    expect(m).toBeDefined();
    const pagesSent = () => m.stats.normal + m.stats.duplicate;
    let most = 0;
    let slices = 0;
    while (!run.done && m.status !== 'completed') {
      const before = pagesSent();
      run.advance(1_000);
      most = Math.max(most, pagesSent() - before);
      slices++;
    }
    expect(m.status).toBe('completed');
    // 1,000 units are at most 250 pages' worth, plus the one batch a slice may end inside of.
    expect(slices).toBeGreaterThan(5);
    expect(most).toBeLessThan(8_192);
  });
});

describe('slicing a raw KVM_RUN', () => {
  /**
   * A VM made by hand, as a selftest does: its guest counts a loop, reports with OUT, reads a byte
   * with IN (user space answers it through `complete`), stores it, reports it, then loops for ever.
   */
  const byHand = (budget: number) => ({
    version: 2, title: 'a long KVM_RUN', seed: 1, hosts: [{ name: 'h', memory: '256M' }],
    steps: [
      { do: 'KVM_CREATE_VM', as: 'vm', type: 0 },
      { do: 'mmap', length: '1M', as: 'mem' },
      { do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: 0, guest_phys_addr: 0, memory_size: '1M', userspace_addr: 'mem' },
      { do: 'KVM_CREATE_VCPU', vm: 'vm', id: 0 },
      { do: 'load_program', vm: 'vm', gpa: '0x1000', program: [
        '_start:', '  mov dx, 0x3f8', '  mov rcx, 3000',
        '.l:', '  mov [0x80000 + rcx*8], rcx', '  loop .l',
        '  out dx, al', '  in al, dx', '  mov [0x90000], al', '  out dx, al',
        '.spin:', '  add rax, 1', '  jmp .spin',
      ] },
      { do: 'KVM_RUN', vm: 'vm' },
      { do: 'KVM_RUN', vm: 'vm' },
      { do: 'KVM_RUN', vm: 'vm', complete: { data: '0x41' } },
      { do: 'KVM_RUN', vm: 'vm', max_instructions: budget },
    ],
  });
  type Results = { results: { do: string; ret: number; errno?: string; why?: string; exit?: { reason: string; io?: { data: number } }; value?: { instructions: number } }[] };

  it('a KVM_RUN in slices of any size gives the trace and report of the call whole: exits, the completion, and EINTR at its budget', () => {
    const doc = byHand(200_000);
    const want = text(ScenarioRun.fromJson(doc).runAll());
    const r = JSON.parse(want) as Results;
    // The loop's exit after about 6,000 instructions, IN answered with 0x41 and reported back, the budget used up.
    expect(r.results[5]).toMatchObject({ do: 'KVM_RUN', ret: 0, exit: { reason: 'KVM_EXIT_IO' } });
    expect(r.results[5].value!.instructions).toBeGreaterThan(6_000);
    expect(r.results[7].exit?.io?.data).toBe(0x41);
    expect(r.results[8]).toMatchObject({ ret: -1, errno: 'EINTR', exit: { reason: 'KVM_EXIT_INTR' }, why: 'the guest ran 200000 instructions without exiting', value: { instructions: 200_000 } });
    for (const sizes of [[1], [7, 1000], [4_999, 50_000], [200_000]]) {
      if (sizes[0] === 1) {
        // One instruction a slice: the whole report still, over a shorter spin.
        const short = byHand(2_000);
        const w = text(ScenarioRun.fromJson(short).runAll());
        const { report, paused } = sliced(short, sizes);
        same(report, w, 'KVM_RUNs in slices of 1');
        expect(paused.get('KVM_RUN') ?? 0).toBeGreaterThan(6_000 + 2_000);
        continue;
      }
      const { report, paused } = sliced(doc, sizes);
      same(report, want, `KVM_RUNs in slices [${sizes.join(', ')}]`);
      if (sizes[0] < 10_000) expect(paused.get('KVM_RUN') ?? 0).toBeGreaterThan(4);
    }
  });

  it('one slice of a KVM_RUN runs exactly its instructions, so the worker answers between slices however long the call', () => {
    const run = ScenarioRun.fromJson(byHand(LIMITS.wholeStepInstructions));
    while (run.next < 8) run.advance(1_000_000);
    expect(run.scenario.steps[run.next].do).toBe('KVM_RUN');
    for (let k = 1; k <= 20; k++) {
      expect(run.advance(2_000)).toBeNull();
      expect(run.instructionsIntoStep).toBe(2_000 * k);
    }
    // Advancing by the difference from an earlier point stops exactly there (what time travel relies on).
    expect(run.partialStep).toMatchObject({ step: 8, units: 40_000 });
  });
});
