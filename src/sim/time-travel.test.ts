/**
 * Time travel is exact: after any mix of play slices, steps, user commands, seeks and steps back,
 * seeking to an event gives the machine a fresh run has when it is driven, one unit of work at a
 * time (applying the logged commands where they applied), to the first point where that event exists.
 * The reference below is deliberately naive (no keyframes, no marks, no slices), so it checks the
 * Lab's bookkeeping rather than sharing it.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { propertyRuns } from '../test-properties';
import { PRESETS, withInstructionCap } from '../scenarios';
import { gfnSpan, pageStates } from './inspect';
import { Lab, snapshotKeyframes, type LabOptions } from './lab';
import { ScenarioRun } from './scenario/runner';
import { ScenarioError, Step } from './scenario/schema';
import type { Cpu } from './cpu/cpu';
import type { LoggedCommand } from './timeline';

/** Light presets whose whole run single-steps in well under a second, and a reboot (it runs in slices too, by instruction). */
const SCENARIOS: Record<string, unknown> = {
  ...Object.fromEntries(['host-reads-secret', 'lazy-accept', 'shared-buffer', 'msr-filter', 'selftest-by-hand'].map((id) => [id, PRESETS[id]])),
  reboot: {
    version: 2, title: 'a reboot', hosts: [{ name: 'h', memory: '256M' }],
    vms: [{ name: 'g', type: 'default', memory: '16M', program: ['_start:', '  mov rcx, 40', '  mov dx, 0x3f8', '.l:', '  mov al, 0x41', '  out dx, al', '  mov [0x200000 + rcx*8], rcx', '  loop .l', '  hlt'] }],
    steps: [{ do: 'run', vm: 'g' }, { do: 'reboot', vm: 'g' }, { do: 'host_read', vm: 'g', gpa: '0x200000', length: 8, via: 'vmm_mapping' }],
  },
};
const IDS = Object.keys(SCENARIOS);

/** What the panels show, and the whole trace: equal summaries mean the same machine as far as anyone can see. */
function summary(run: ScenarioRun): Record<string, string> {
  const vms = run.kvm.vms.map((vm) => {
    const n = Math.min(1 << 16, gfnSpan(vm));
    return {
      name: vm.name,
      regs: vm.vcpus.map((v) => { const c = v.cpu as Cpu | null; return c && `${[...c.r].join(',')}:${c.rip}:${c.cf}${c.zf}${c.sf}${c.of}`; }),
      instructions: vm.vcpus[0]?.cpu?.instructionsRetired ?? 0,
      dead: vm.dead,
      console: run.vmms.get(vm.name)?.console ?? '',
      states: Buffer.from(pageStates(vm, new Uint8Array(n), 0, n)).toString('base64'),
    };
  });
  const parts: Record<string, unknown> = {
    t: run.clock.now, next: run.next, into: run.instructionsIntoStep, results: run.results, framesUsed: run.host.memory.framesUsed,
    // Event times are left out (they once depended on how the run was sliced; the test below now
    // holds them equal, so they could come back); the clock itself (t, above) is checked.
    events: run.trace.range(run.trace.first, run.trace.count).map(({ t, ...e }) => (void t, e)), vms,
  };
  return Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, JSON.stringify(v)]));
}

/** Equal summaries; on a difference, the first field and where in it the two part (not both whole). */
function expectSame(a: Record<string, string>, b: Record<string, string>, what: string): void {
  for (const k of Object.keys(a)) {
    if (a[k] === b[k]) continue;
    let i = 0;
    while (a[k][i] === b[k][i]) i++;
    expect.fail(`${what}: ${k} differs at ${i}: ${a[k].slice(Math.max(0, i - 200), i + 200)}\n  vs ${b[k].slice(Math.max(0, i - 200), i + 200)}`);
  }
}

/** A fresh run driven a unit at a time until event `n` exists (or the run ends). */
function reference(scenario: unknown, log: readonly LoggedCommand[], n: number): ScenarioRun {
  const run = ScenarioRun.fromJson(scenario);
  let k = 0;
  for (;;) {
    if (run.trace.count > n) return run;
    const c = log[k];
    if (c && c.step === run.next && c.instr === run.instructionsIntoStep) {
      run.runOne(Step.parse(c.command));
      k++;
      continue;
    }
    if (run.done) return run;
    run.advance(1);
  }
}

type Op =
  | { op: 'advance'; n: number }
  | { op: 'instruction' | 'event' | 'exit' | 'step' }
  | { op: 'back'; kind: 'instruction' | 'event' | 'exit' | 'step' }
  | { op: 'command'; which: number }
  | { op: 'seek'; at: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('advance' as const), n: fc.integer({ min: 1, max: 3000 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('instruction' as const, 'event' as const, 'exit' as const, 'step' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('back' as const), kind: fc.constantFrom('instruction' as const, 'event' as const, 'exit' as const, 'step' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('command' as const), which: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('seek' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
);

/** Commands a user could give in the lesson's VMs (some fail as Linux would: that is part of the timeline too). */
function commandFor(lab: Lab, which: number): unknown {
  const vm = lab.run.kvm.vms[0]?.name;
  if (!vm) return { do: 'host_read_phys', hpa: 0x1000 * (which + 1), length: 16 };
  return [
    { do: 'host_read', vm, gpa: 0x1000, length: 16, via: 'vmm_mapping' },
    { do: 'host_write', vm, gpa: 0x2000 + which, data: 'hex:de ad be ef', via: 'vmm_mapping' },
    { do: 'convert', vm, gpa: 0x200000, size: 0x1000, to: 'shared' },
    { do: 'convert', vm, gpa: 0x200000, size: 0x1000, to: 'private' },
    { do: 'interrupt', vm },
    { do: 'host_read', vm, gpa: 0x3000, length: 8, via: 'physical' },
  ][which];
}

function apply(lab: Lab, o: Op): void {
  switch (o.op) {
    case 'advance': lab.advance(o.n); break;
    case 'instruction': lab.stepInstruction(); break;
    case 'event': lab.stepEvent(); break;
    case 'exit': lab.stepExit(); break;
    case 'step': lab.step(); break;
    case 'back': lab.stepBack(o.kind); break;
    case 'command':
      try {
        lab.command(commandFor(lab, o.which));
      } catch (e) {
        // Refused (no such VM yet in a lesson that makes its VMs by hand): nothing changed, nothing logged.
        if (!(e instanceof ScenarioError)) throw e;
      }
      break;
    case 'seek': lab.seek(Math.floor(o.at * lab.run.trace.count)); break;
  }
}

/**
 * Keyframes taken often, each restored by rebuilding the run and replaying to its point (what a
 * snapshot gives, made the slow way): seeks then start from many places, not only the start.
 */
function replayKeyframes(scenario: unknown, lab: () => Lab | undefined): LabOptions {
  return {
    keyframeEvery: 50,
    snapshot: (run) => {
      const at = { next: run.next, into: run.instructionsIntoStep };
      // The Lab takes its first keyframe (the start) while it is being made: no commands yet.
      const l = lab();
      const log = l ? l.commands.slice(0, l.position.cmds) : [];
      return { bytes: 1000, buffers: [], restore: () => runTo(scenario, log, at) };
    },
  };
}

/** A fresh run at cursor `at` with all of `log` applied. */
function runTo(scenario: unknown, log: readonly LoggedCommand[], at: { next: number; into: number }): ScenarioRun {
  const run = ScenarioRun.fromJson(scenario);
  let k = 0;
  for (;;) {
    const c = log[k];
    if (c && c.step === run.next && c.instr === run.instructionsIntoStep) {
      run.runOne(Step.parse(c.command));
      k++;
      continue;
    }
    if (run.next === at.next && run.instructionsIntoStep === at.into) {
      expect(k).toBe(log.length);
      return run;
    }
    let n = run.next === at.next ? at.into - run.instructionsIntoStep : 1_000_000_000;
    if (c && c.step === run.next) n = Math.min(n, c.instr - run.instructionsIntoStep);
    run.advance(n);
  }
}

describe('time travel', () => {
  test.each(['start only', 'replayed', 'snapshots'] as const)('seeking to any event gives the machine a fresh run has there (keyframes: %s)', (keyframes) => {
    fc.assert(fc.property(fc.constantFrom(...IDS), fc.array(opArb, { minLength: 1, maxLength: 14 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 3 }), (id, ops, seeks) => {
      const scenario = SCENARIOS[id];
      const made: { lab?: Lab } = {};
      const options: LabOptions = keyframes === 'start only' ? { snapshot: null } : keyframes === 'replayed' ? replayKeyframes(scenario, () => made.lab) : { keyframeEvery: 200, snapshot: snapshotKeyframes(scenario) };
      const lab: Lab = (made.lab = new Lab(scenario, options));
      for (const o of ops) apply(lab, o);
      for (const f of seeks) {
        const n = Math.floor(f * lab.run.trace.count);
        lab.seek(n);
        expectSame(summary(lab.run), summary(reference(scenario, lab.commands, n)), `${id}: seek(${n}) after ${JSON.stringify(ops)}`);
      }
    }), propertyRuns(0x7e1e, { runs: 34, share: 1 / 3 }));
  }, 300_000);

  test('a step back, then the same step forward, comes back to the same machine', () => {
    fc.assert(fc.property(fc.constantFrom(...IDS), fc.array(opArb, { maxLength: 10 }), fc.constantFrom('instruction' as const, 'event' as const, 'exit' as const, 'step' as const), (id, ops, kind) => {
      const l = new Lab(SCENARIOS[id]);
      for (const o of ops) apply(l, o);
      // Arrive by the forward step of this kind, so that its step back is its inverse.
      const forward = () => {
        if (kind === 'instruction') return l.stepInstruction();
        if (kind === 'event') return l.stepEvent();
        if (kind === 'exit') return l.stepExit();
        return l.step();
      };
      // A step to the next exit that ends at a step's end (or gives up) has no exit to come back to.
      if (forward() === false && kind === 'exit') return;
      const here = summary(l.run);
      const at = l.position;
      if (!l.stepBack(kind)) return;
      expect(l.position).not.toEqual(at);
      forward();
      expect(l.position, `${id} ${kind} after ${JSON.stringify(ops)}`).toEqual(at);
      expectSame(summary(l.run), here, `${id} ${kind} after ${JSON.stringify(ops)}`);
    }), propertyRuns(0xbac));
  }, 300_000);

  // The step-back property's counterexample once it was seeded (before, a CI run found it by chance):
  // from the end of lazy-accept, whose last run ends in a guest panic one unit after its last
  // instruction, a step back went to the last point the lab had stopped at, anywhere in that run.
  test('a step back by instruction from the end of a run, then forward again, comes back to its end (also when the guest panicked)', () => {
    const l = new Lab(SCENARIOS['lazy-accept']);
    l.step(); l.step(); l.step(); l.step(); l.advance(50); l.advance(1_000_000);
    const end = l.position;
    expect(end).toEqual({ step: 5, instr: 0, cmds: 0 });
    const here = summary(l.run);
    expect(l.stepBack('instruction')).toBe(true);
    expect(l.position).toEqual({ step: 4, instr: 109, cmds: 0 });
    l.stepInstruction();
    expect(l.position).toEqual(end);
    expectSame(summary(l.run), here, 'lazy-accept: back one instruction from the end and forward');
    // host-reads-secret's runs end at their halt: one unit before the next step is the HLT itself.
    const h = new Lab(SCENARIOS['host-reads-secret']);
    h.step();
    const ran = (h.run.results[0].value as { instructions: number }).instructions;
    h.stepBack('instruction');
    expect(h.position).toEqual({ step: 0, instr: ran - 1, cmds: 0 });
    h.stepInstruction();
    expect(h.position).toEqual({ step: 1, instr: 0, cmds: 0 });
  });

  // Once a known bug (a .fails test): the clock charged a KVM_RUN call's instructions when the call
  // returned, so one-instruction slices stamped events later than one big slice. Slices now pause
  // only between scheduler actors, so a seek's replay stamps events as the original run did.
  test('event times do not depend on how the run is sliced', () => {
    const whole = ScenarioRun.fromJson(PRESETS['host-reads-secret']);
    const single = ScenarioRun.fromJson(PRESETS['host-reads-secret']);
    while (!whole.done) whole.advance(1000);
    while (!single.done) single.advance(1);
    expect(single.trace.range(0, single.trace.count).map((e) => e.t)).toEqual(whole.trace.range(0, whole.trace.count).map((e) => e.t));
  });

  test('a malformed command log names the entry at fault', () => {
    expect(() => Lab.parseCommands('x')).toThrow(/expected a list of commands/);
    expect(() => Lab.parseCommands([{ step: -1, instr: 0, command: { do: 'interrupt', vm: 'vm' } }])).toThrow(/commands\[0\]\.step/);
    expect(() => Lab.parseCommands([{ step: 0, instr: 0, command: { do: 'nope' } }])).toThrow(/commands\[0\]/);
    expect(() => Lab.parseCommands([
      { step: 2, instr: 0, command: { do: 'interrupt', vm: 'vm' } },
      { step: 1, instr: 0, command: { do: 'interrupt', vm: 'vm' } },
    ])).toThrow(/commands\[1\].*comes before/);
    // A command at a point the run never stops at is found when the run gets there.
    const l = new Lab(PRESETS['host-reads-secret']);
    const vm = l.run.kvm.vms[0].name;
    l.setCommands([{ step: 0, instr: 100_000, command: { do: 'interrupt', vm } }]);
    expect(() => l.seek(1_000_000)).toThrow(/commands\[0\].*never stops there|after the end/);
  });

  test('seek past the end lands at the end; a seek back and forward again keeps the commands ahead', () => {
    const l = new Lab(PRESETS['host-reads-secret']);
    const vm = l.run.kvm.vms[0].name;
    l.step();
    l.command({ do: 'host_read', vm, gpa: 0x1000, length: 16, via: 'vmm_mapping' });
    while (!l.done) l.advance(1000);
    const end = summary(l.run);
    const total = l.run.trace.count;
    expect(l.seek(total + 100)).toBe(total - 1);
    expectSame(summary(l.run), end, 'seek past the end');
    l.seek(0);
    expect(l.position.cmds).toBe(0);
    while (!l.done) l.advance(7);
    expect(l.commands).toHaveLength(1);
    expectSame(summary(l.run), end, 'forward again');
  });
});

describe('step by instruction', () => {
  const retired = (l: Lab) => l.frame().vms.map((v) => v.vcpus[0]?.instructions ?? 0);
  const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

  test("moves the first lesson's vCPU by exactly one instruction each time until its run step ends, and back by one", () => {
    const l = new Lab(PRESETS['host-reads-secret']);
    const steps = (PRESETS['host-reads-secret'] as { steps: { do: string }[] }).steps;
    let units = 0;
    for (let s = 0; steps[s]?.do === 'run'; s++) {
      expect(l.position.step).toBe(s);
      let stepUnits = 0;
      while (l.position.step === s) {
        const before = retired(l);
        expect(l.stepInstruction()).toBe(true);
        const after = retired(l);
        stepUnits++;
        if (l.position.step !== s) {
          // The unit that ends the step: its last instruction, or none (KVM_RUN again finds the
          // vCPU halted after the VMM handled its HLT exit).
          expect(total(after) - total(before)).toBeLessThanOrEqual(1);
          break;
        }
        // One vCPU moved, by exactly one instruction, and the step's count with it.
        expect(total(after) - total(before)).toBe(1);
        expect(after.filter((x, i) => x !== before[i])).toHaveLength(1);
        expect(l.position.instr).toBe(stepUnits);
        if (stepUnits % 5 === 0) {
          // One instruction back is where one instruction forward started.
          const at = l.position;
          expect(l.stepBack('instruction')).toBe(true);
          expect(l.position).toEqual({ ...at, instr: at.instr - 1 });
          expect(retired(l)).toEqual(before);
          expect(l.stepInstruction()).toBe(true);
          expect(l.position).toEqual(at);
          expect(retired(l)).toEqual(after);
        }
      }
      // The run step ran more than a pause point's worth (it used to pause only at exits and quanta).
      expect(stepUnits).toBeGreaterThan(7);
      units += stepUnits;
    }
    expect(units).toBeGreaterThan(0);
  });
});

describe('seeking into a unit that costs much to replay', () => {
  test('platform-upstream: a seek into a boot instruction keyframes its end, and the next seek there goes straight to it, landing on the same machine', () => {
    const scenario = PRESETS['platform-upstream'];
    const lab = new Lab(scenario, { snapshot: snapshotKeyframes(scenario) });
    while (!lab.done) lab.advance(2000);
    // The events of the first VM's boot: recorded inside single instructions that exit thousands of times.
    const end = lab.run.trace.count;
    const targets = [Math.floor(end * 0.15), Math.floor(end * 0.2), Math.floor(end * 0.25)];
    const before = lab.keyframeStore.size;
    lab.seek(targets[0]);
    const landing = lab.position;
    expect(landing.instr).toBeGreaterThan(0);
    // A keyframe where the seek landed (the boot instruction's end), behind the newest.
    expect(lab.keyframeStore.size).toBe(before + 1);
    expect(lab.keyframeStore.atOrBefore(landing).at).toEqual(landing);
    for (const n of targets) {
      lab.seek(end - 1);
      const got = lab.seek(n);
      expect(got).toBe(n);
      expectSame(summary(lab.run), summary(reference(scenario, lab.commands, n)), `platform-upstream: seek(${n}) after a seek to the end`);
      expect(lab.timeline().firstEvent).not.toBeNull();
      expect(lab.timeline().firstEvent!).toBeLessThanOrEqual(n);
    }
  }, 300_000);
});

describe('keyframes evicted while the trace rolls', () => {
  test('four-gigabytes (capped): a small keyframe budget evicts often, the trace reuses the chunks no keyframe holds, and every seek still lands on the machine a fresh run has there', () => {
    // About 400,000 events: the trace's 200,000-event ring rolls, so full chunks keyframes shared
    // leave it, are retired, and are reused once the keyframes holding them are evicted.
    const scenario = withInstructionCap(PRESETS['four-gigabytes'], 800_000);
    const lab = new Lab(scenario, { snapshot: snapshotKeyframes(scenario), keyframeEvery: 150_000, keyframeBudget: 48 * 2 ** 20 });
    while (!lab.done) lab.advance(2000);
    const end = lab.run.trace.count;
    expect(end).toBeGreaterThan(250_000);
    let seed = 7;
    for (let i = 0; i < 2; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const n = Math.floor((0.5 + (seed / 2 ** 32) / 2) * end);
      lab.seek(n);
      const ref = reference(scenario, lab.commands, n);
      expectSame(summary(lab.run), summary(ref), `four-gigabytes (capped): seek(${n})`);
      // The kept events at the moment are those of a fresh run there (a reused chunk overwritten
      // under a keyframe would show here).
      const from = Math.max(ref.trace.first, lab.run.trace.first, n - 200_000);
      expect(JSON.stringify(lab.run.trace.range(from, n + 1))).toBe(JSON.stringify(ref.trace.range(from, n + 1)));
    }
    expect(lab.keyframeStore.bytes).toBeLessThanOrEqual(48 * 2 ** 20);
    expect(lab.run.trace.reusedChunks).toBeGreaterThan(10);
  }, 600_000);
});

describe('keyframes a budget cannot hold', () => {
  test('when the pages a guest wrote are alone over the budget, no keyframe is taken (each would be evicted at once), tries back off, and a seek still lands on the machine a fresh run has there', () => {
    // A program writes a qword into each page of 16 MiB: 4,096 pages of stored contents against a
    // 1 MiB budget.
    const scenario = {
      version: 2, title: 'keyframes over the budget', seed: 3,
      vms: [{ name: 'g', type: 'default', memory: '64M', program: [
        '_start:', '    mov r12, 0x200000', '    mov r13, 0x1200000',
        '.page:', '    cmp r12, r13', '    jae .out', '    mov [r12], r12', '    add r12, 0x1000', '    jmp .page',
        '.out:', '    hlt',
      ] }],
      steps: [{ do: 'run', vm: 'g', max_instructions: 100_000 }],
    };
    let snapshots = 0;
    const snap = snapshotKeyframes(scenario);
    const lab = new Lab(scenario, { snapshot: (run) => { snapshots++; return snap(run); }, keyframeEvery: 2_000, keyframeBudget: 2 ** 20 });
    let advances = 0;
    while (!lab.done) {
      lab.advance(200);
      advances++;
    }
    const stored = lab.run.world.hosts[0].host.memory.storedBytes;
    expect(stored).toBeGreaterThan(4 * 2 ** 20);
    // The start, and those while the written pages still fitted; none after. (Before, once one was
    // evicted a keyframe was taken at every advance: 102 snapshots here.)
    expect(advances).toBeGreaterThan(50);
    expect(snapshots).toBeLessThan(8);
    expect(lab.keyframeStore.bytes).toBeLessThanOrEqual(2 ** 20);
    const end = lab.run.trace.count;
    const n = Math.floor(end * 0.6);
    lab.seek(n);
    expectSame(summary(lab.run), summary(reference(scenario, lab.commands, n)), `seek(${n})`);
  }, 300_000);
});
