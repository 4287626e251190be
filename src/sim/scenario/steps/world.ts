import { z } from 'zod';
import { LIMITS, WORK_PER_ACTOR, WORK_PER_REPORTED, duration, numeric, ScenarioError, vmName } from '../fields';
import type { World } from '../../world/world';
import type { WorldBudget } from '../../world/run-vcpu';
import type { Link, Transfer } from '../../world/link';
import type { MigrationStatus } from '../../vmm/migration/migration';
import { defineStep, type StepContext, type StepOutcome } from './define';
import { RUN_UNTIL_STATUSES } from './migration';

/** How far a run_until goes when it waits for a migration status and names no time: 10 virtual minutes. */
export const RUN_UNTIL_STATUS_LIMIT_NS = 600_000_000_000;

/** What a run_until waits for: a virtual time, and maybe a migration status before it. */
export interface RunUntilTarget {
  time: number;
  vm?: string;
  statuses?: MigrationStatus[];
  /** The status condition, checked between actors (null: only the time). */
  reached: (() => boolean) | null;
}

/** A run_until step's target (ScenarioError at its path when it names neither a time nor a status, or a VM that does not exist). */
export function runUntilTarget(ctx: StepContext, st: { time?: number; vm?: string; status?: MigrationStatus | MigrationStatus[] }, i: number): RunUntilTarget {
  if (st.status === undefined) {
    if (st.time === undefined) throw new ScenarioError([{ path: `$.steps[${i}]`, message: 'run_until needs "time", or "vm" and "status" (a migration status)' }]);
    if (st.vm !== undefined) throw new ScenarioError([{ path: `$.steps[${i}].vm`, message: '"vm" goes with "status": the migration status to wait for' }]);
    return { time: st.time, reached: null };
  }
  if (st.vm === undefined) throw new ScenarioError([{ path: `$.steps[${i}].vm`, message: 'run_until with a "status" names the VM whose migration it waits for' }]);
  ctx.vmm(st.vm, i);
  const vm = st.vm;
  const statuses = Array.isArray(st.status) ? st.status : [st.status];
  const reached = () => {
    const m = ctx.world.migrationOf(vm);
    return m !== undefined && statuses.includes(m.status);
  };
  return { time: st.time ?? ctx.world.clock.now + RUN_UNTIL_STATUS_LIMIT_NS, vm: st.vm, statuses, reached };
}

/** Guest instructions every vCPU thread of the world has run so far (what a waiting step's budget and a slice count). */
export function guestInstructions(world: World): number {
  let n = 0;
  for (const h of world.hosts) for (const v of h.vmms.values()) for (const t of v.threads) n += t.counts.instructions;
  return n;
}

/**
 * The work the world has done so far, in guest instructions' worth (what a step's budget,
 * LIMITS.runWork, counts): every vCPU's instructions, WORK_PER_ACTOR for each run of a scheduler
 * actor and WORK_PER_REPORTED for each unit of work an actor reported beyond its run (the scheduler's
 * `work`, which slices count, is one per actor run plus those units).
 */
export function worldWork(world: World): number {
  const s = world.scheduler;
  return guestInstructions(world) + s.steps * WORK_PER_ACTOR + (s.work - s.steps) * WORK_PER_REPORTED;
}

/**
 * A step that runs the world while it waits (run_until, a link_send with wait) stops when the world
 * has done LIMITS.runWork work since `from` (worldWork): ten virtual minutes of a guest that spins, or
 * 10^15 ns of one that wakes every jiffy to do little, would otherwise take hours.
 */
export const waitBudgetSpent = (world: World, from: number): boolean => worldWork(world) - from >= LIMITS.runWork;
const budgetWhy = (what: string) => `the world did ${LIMITS.runWork.toLocaleString('en')} instructions' worth of work (guest instructions, ${WORK_PER_ACTOR.toLocaleString('en')} a scheduler actor's run) ${what}; the step stopped at its budget (docs/scenario-format.md, "Limits")`;

/**
 * A run or reboot step's budget for the rest of the world (runVcpu's `world`): LIMITS.runWork of work
 * besides its own vCPU's instructions (max_instructions bounds those), each exit of its vCPU counted
 * as an actor's run. A vCPU waiting on a userfault while another VM spins, or a guest that exits every
 * few instructions, ends in bounded time. `left`: what is left of it (a step in slices keeps it).
 */
export function runWorkBudget(world: World, left: number = LIMITS.runWork): WorldBudget {
  return {
    left, work: () => worldWork(world), perExit: WORK_PER_ACTOR,
    why: `the world did ${LIMITS.runWork.toLocaleString('en')} instructions' worth of work (other vCPUs' instructions, ${WORK_PER_ACTOR.toLocaleString('en')} an exit or a scheduler actor's run) besides this vCPU's instructions; the step stopped at its budget (docs/scenario-format.md, "Limits")`,
  };
}

/** A run_until's result: where the world is, and for a status, whether it was reached (a timeout is not an error); `budget`: stopped at its instruction budget. */
export function runUntilOutcome(ctx: StepContext, u: RunUntilTarget, actors: number, budget = false): StepOutcome {
  const value: Record<string, unknown> = { time_ns: ctx.world.clock.now, actors_run: actors };
  if (u.reached) {
    const m = ctx.world.migrationOf(u.vm!);
    value.status = m?.status ?? 'none';
    value.reached = u.reached();
  }
  const out: StepOutcome = { ret: 0, value };
  if (budget) {
    value.stop = 'budget';
    out.why = budgetWhy(`before ${u.time} ns${u.reached ? ` (the migration of "${u.vm}" is ${value.status})` : ''}`);
  } else if (u.reached && !u.reached()) out.why = `the migration of "${u.vm}" did not reach ${u.statuses!.join(' or ')} by ${u.time} ns`;
  return out;
}

/** link_send's first part: the bytes go on the link. */
export function linkSend(ctx: StepContext, st: { link: string; bytes: number; label: string }, i: number): { link: Link; t: Transfer } {
  const link = linkOf(ctx, st.link, i);
  return { link, t: link.send(st.bytes, st.label) };
}

/** link_send's result once the transfer ended (or, without wait or past the wait's budget, as it is): the bytes delivered, or the errno of a failure. */
export function linkSendOutcome(link: Link, t: Transfer, bytes: number, budget = false): StepOutcome {
  const value = { id: t.id, state: t.state, sent_at: t.sentAt, deliver_at: t.deliverAt, ended_at: t.endedAt };
  if (budget) return { ret: 0, why: budgetWhy('while the transfer was on the wire (it goes on)'), value: { ...value, stop: 'budget' } };
  if (t.state === 'failed') {
    return t.failure === 'link-down'
      ? { ret: -1, errno: 'ENETDOWN', why: `link ${link.name} is down`, value }
      : { ret: -1, errno: 'ECONNRESET', why: `link ${link.name} went down while the transfer was in flight`, value };
  }
  return { ret: t.state === 'delivered' ? bytes : 0, value };
}

/**
 * World-level steps: what happens between hosts and to time itself — waiting for a virtual time
 * while every actor due runs, a link cut or restored (now or at a virtual time), a transfer.
 */

function linkOf(ctx: StepContext, name: string, i: number): Link {
  const l = ctx.world.links.find((x) => x.name === name);
  if (!l) throw new ScenarioError([{ path: `$.steps[${i}].link`, message: `no link named "${name}" (links: ${ctx.world.links.map((x) => x.name).join(', ') || 'none'})` }]);
  return l;
}

/** When a scheduled step acts: `at` a virtual time, or `after` a delay from now; neither: now. */
function whenOf(ctx: StepContext, st: { at?: number; after?: number }, i: number): number | null {
  if (st.at !== undefined && st.after !== undefined) throw new ScenarioError([{ path: `$.steps[${i}]`, message: 'give "at" or "after", not both' }]);
  if (st.at !== undefined) return st.at;
  if (st.after !== undefined) return ctx.world.clock.now + st.after;
  return null;
}

const linkChange = (kind: 'link_down' | 'link_up') => defineStep(kind, 'world', {
  link: z.string().min(1).describe('the name of a link in `links`'),
  at: duration.optional().describe('the virtual time it happens (default: now)'),
  after: duration.optional().describe('or: this long after the step'),
}, { summary: kind === 'link_down' ? 'cut a link (now, at a virtual time, or after a delay): transfers in flight fail' : 'restore a cut link (now, at a virtual time, or after a delay)' },
(ctx, st, i) => {
  const link = linkOf(ctx, st.link, i);
  const act = () => (kind === 'link_down' ? link.cut('the scenario cuts it') : link.restore());
  const when = whenOf(ctx, st, i);
  if (when === null || when <= ctx.world.clock.now) {
    act();
    return { ret: 0, value: { state: link.state } };
  }
  ctx.world.at(when, `${kind} ${link.name}`, kind === 'link_down' ? { kind, args: { link: link.name, why: 'the scenario cuts it' } } : { kind, args: { link: link.name } });
  return { ret: 0, value: { at: when } };
});

export const WORLD_STEPS = [
  defineStep('run_until', 'world', {
    time: duration.optional().describe('the virtual time to run to (with a status: the latest it runs to; default 10 virtual minutes from now)'),
    vm: vmName.optional().describe('with status: the VM whose migration is watched'),
    status: RUN_UNTIL_STATUSES.optional().describe("a migration status (or several): run until the VM's migration has it"),
  }, { summary: "run the world until a virtual time, or until a VM's migration reaches a status: every vCPU, link and timer due meanwhile runs; waiting guests cost nothing" },
  (ctx, st, i) => {
    const now = ctx.world.clock.now;
    const u = runUntilTarget(ctx, st, i);
    if (u.time < now) return { ret: -1, errno: 'EINVAL', why: `the world is already at ${now} ns, past ${u.time} ns` };
    const from = worldWork(ctx.world);
    const r = ctx.world.scheduler.runUntilOr(u.time, () => u.reached?.() === true || waitBudgetSpent(ctx.world, from));
    return runUntilOutcome(ctx, u, r.ran, !r.reached && u.reached?.() !== true);
  }),

  linkChange('link_down'),
  linkChange('link_up'),

  defineStep('link_send', 'world', {
    link: z.string().min(1).describe('the name of a link in `links`'),
    bytes: numeric.describe('how much to send'),
    label: z.string().default('data').describe('what the bytes are, for the trace'),
    wait: z.boolean().default(false).describe('run the world until the transfer is delivered or fails (or the guests have run the budget of a run step meanwhile)'),
  }, { summary: 'send bytes over a link (arrives after bytes / bandwidth + latency); with wait, run until it arrives or fails' },
  (ctx, st, i) => {
    const { link, t } = linkSend(ctx, st, i);
    // Whole, as a test or the CLI's step() runs it; ScenarioRun.advance() runs the same loop in slices.
    const from = worldWork(ctx.world);
    let budget = false;
    if (st.wait) while (t.state === 'in-flight' && !(budget = waitBudgetSpent(ctx.world, from)) && ctx.world.scheduler.step()) { /* until delivered or failed */ }
    return linkSendOutcome(link, t, st.bytes, budget);
  }),
] as const;
