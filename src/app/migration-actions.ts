/**
 * The migration controls, as entries of the action registry (actions.ts): what an operator asks
 * QEMU's monitor while a guest migrates — migrate, migrate_cancel, migrate-start-postcopy,
 * migrate-set-parameters (downtime-limit, max-bandwidth), migrate-set-capabilities (auto-converge,
 * dirty-limit, postcopy-preempt) — and the
 * world's link_down / link_up. Each sends a scenario step to the worker as a user command (Lab.command:
 * in the trace, in the command log a link carries), and the panel shows QEMU's answer; a control is
 * disabled, with the reason as its tooltip, when the lesson gives it nothing to act on.
 */
import type { LinkView, MigrationRoute, MigrationView } from '../sim/lab';
import type { Action, ActionContext } from './action-types';
import type { LabState } from './store';

const plain = (e: KeyboardEvent) => !e.ctrlKey && !e.metaKey && !e.altKey;
const key = (k: string, shift: boolean) => (e: KeyboardEvent) => plain(e) && e.shiftKey === shift && e.key.toLowerCase() === k;

const POSTCOPY = new Set(['postcopy-active', 'postcopy-paused', 'postcopy-recover-setup', 'postcopy-recover']);
const ACTIVE = new Set(['setup', 'active', 'device', 'cancelling', ...POSTCOPY]);
const MiB = 1024 * 1024;

/** What the controls act on: the lesson's migration route (the newest migration's, else the first) and its newest migration. */
export function migrationTarget(s: LabState): { route: MigrationRoute | null; migration: MigrationView | null; link: LinkView | null } {
  const f = (s.live ?? s.packet)?.frame;
  if (!f || s.status !== 'ready') return { route: null, migration: null, link: null };
  const newest = f.migrations?.at(-1) ?? null;
  const routes = f.migrationRoutes ?? [];
  const route = (newest && routes.find((r) => r.vm === newest.vm)) ?? routes[0] ?? null;
  const migration = route ? f.migrations.findLast((m) => m.vm === route.vm) ?? null : null;
  const link = route ? f.links.find((l) => l.name === route.link) ?? null : null;
  return { route, migration, link };
}

const running = (m: MigrationView | null) => m !== null && ACTIVE.has(m.info.status);
const NO_ROUTE = 'This lesson migrates nothing: no migrate step names a destination host and link.';

/** Send a step as a user command; tell the panel what QEMU answered. */
async function send({ client, store }: ActionContext, step: Record<string, unknown>, did: string): Promise<void> {
  const r = await client.command(step);
  if (!r) return;
  let notice: LabState['migrationNotice'];
  if (!r.ok) notice = { text: `${String(step.do)} refused: ${r.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, error: true };
  else if (r.result.ret < 0) notice = { text: `${String(step.do)} failed${r.result.why ? `: ${r.result.why}` : ''}`, error: true };
  else notice = { text: did, error: false };
  store.setState({ migrationNotice: notice });
}

function setParameter(param: 'downtime-limit' | 'max-bandwidth', factor: number, ctx: ActionContext): void {
  const { route } = migrationTarget(ctx.store.getState());
  if (!route) return;
  const now = route.parameters[param];
  const next = param === 'downtime-limit' ? Math.max(1, Math.min(2_000_000, Math.round(now * factor))) : Math.max(64 * 1024, Math.round(now * factor));
  const shown = param === 'downtime-limit' ? `${next} ms` : `${(next / MiB).toFixed(next < MiB ? 2 : 0)} MiB/s`;
  void send(ctx, { do: 'migrate_set_parameters', vm: route.vm, parameters: { [param]: next } }, `migrate-set-parameters ${param} = ${shown}`);
}

function toggleCapability(cap: 'auto-converge' | 'dirty-limit' | 'postcopy-preempt', ctx: ActionContext): void {
  const { route } = migrationTarget(ctx.store.getState());
  if (!route) return;
  const state = !route.capabilities[cap];
  void send(ctx, { do: 'migrate_set_capabilities', vm: route.vm, capabilities: [{ capability: cap, state }] }, `migrate-set-capabilities ${cap} ${state ? 'on' : 'off'}: the next migrate uses it`);
}

const routeWhy = (s: LabState) => (migrationTarget(s).route ? null : NO_ROUTE);

type MigrationAction = Omit<Action, 'why' | 'enabled'> & { why: (s: LabState) => string | null };

const ENTRIES: readonly MigrationAction[] = [
  {
    id: 'migrate-start', label: 'Start the migration', short: 'Migrate', shortcut: 'Shift+M', group: 'migration',
    keyTest: key('m', true),
    why: (s) => {
      const { route, migration } = migrationTarget(s);
      if (!route) return NO_ROUTE;
      if (running(migration)) return `A migration of ${route.vm} is ${migration!.info.status}: cancel it first.`;
      if (route.runState === 'postmigrate') return `${route.vm} has been migrated: its guest runs on ${route.to} now.`;
      if (route.runState === 'prelaunch') return `${route.vm} has not started yet: run the lesson's first step.`;
      return null;
    },
    perform: (ctx) => {
      const { route } = migrationTarget(ctx.store.getState());
      if (route) void send(ctx, { do: 'migrate', vm: route.vm, to: route.to, link: route.link }, `migrate ${route.vm} to ${route.to} over ${route.link}`);
    },
  },
  {
    id: 'migrate-cancel', label: 'Cancel the migration', short: 'Cancel', shortcut: 'C', group: 'migration',
    keyTest: key('c', false),
    why: (s) => {
      const { route, migration } = migrationTarget(s);
      if (!route) return NO_ROUTE;
      if (migration && POSTCOPY.has(migration.info.status)) return `The migration is ${migration.info.status}: the guest runs on ${migration.to} with part of its memory still on the source, so it cannot be cancelled.`;
      return running(migration) && migration!.info.status !== 'cancelling' ? null : 'No migration is running.';
    },
    perform: (ctx) => {
      const { route } = migrationTarget(ctx.store.getState());
      if (route) void send(ctx, { do: 'migrate_cancel', vm: route.vm }, 'migrate_cancel: the migration stops; the guest keeps running on the source');
    },
  },
  {
    id: 'postcopy-start', label: 'Start post-copy', short: 'Start post-copy', shortcut: 'P', group: 'migration',
    keyTest: key('p', false),
    why: (s) => {
      const { route, migration } = migrationTarget(s);
      if (!route) return NO_ROUTE;
      if (!migration || !running(migration)) return 'No migration is running: post-copy switches a running pre-copy.';
      if (!migration.capabilities.includes('postcopy-ram')) return 'This migration runs without the postcopy-ram capability (it must be set on both sides before migrate).';
      if (migration.info.status !== 'setup' && migration.info.status !== 'active') return `The migration is ${migration.info.status}: only a pre-copy (setup or active) can switch to post-copy.`;
      return null;
    },
    perform: (ctx) => {
      const { route } = migrationTarget(ctx.store.getState());
      if (route) void send(ctx, { do: 'migrate_start_postcopy', vm: route.vm }, 'migrate-start-postcopy: at its next pass the source stops the guest and starts it on the destination; its missing pages follow');
    },
  },
  {
    id: 'downtime-up', label: 'Double downtime-limit', short: 'downtime ×2', shortcut: 'D', group: 'migration',
    keyTest: key('d', false), why: routeWhy, perform: (ctx) => setParameter('downtime-limit', 2, ctx),
  },
  {
    id: 'downtime-down', label: 'Halve downtime-limit', short: 'downtime ÷2', shortcut: 'Shift+D', group: 'migration',
    keyTest: key('d', true), why: routeWhy, perform: (ctx) => setParameter('downtime-limit', 0.5, ctx),
  },
  {
    id: 'bandwidth-up', label: 'Double max-bandwidth', short: 'bandwidth ×2', shortcut: 'B', group: 'migration',
    keyTest: key('b', false), why: routeWhy, perform: (ctx) => setParameter('max-bandwidth', 2, ctx),
  },
  {
    id: 'bandwidth-down', label: 'Halve max-bandwidth', short: 'bandwidth ÷2', shortcut: 'Shift+B', group: 'migration',
    keyTest: key('b', true), why: routeWhy, perform: (ctx) => setParameter('max-bandwidth', 0.5, ctx),
  },
  {
    id: 'auto-converge', label: 'Turn auto-converge on / off', short: 'auto-converge', shortcut: 'A', group: 'migration',
    keyTest: key('a', false), why: routeWhy,
    now: (s) => `auto-converge: ${migrationTarget(s).route?.capabilities['auto-converge'] ? 'on' : 'off'}`,
    perform: (ctx) => toggleCapability('auto-converge', ctx),
  },
  {
    id: 'dirty-limit', label: 'Turn dirty-limit on / off', short: 'dirty-limit', shortcut: 'L', group: 'migration',
    keyTest: key('l', false), why: routeWhy,
    now: (s) => `dirty-limit: ${migrationTarget(s).route?.capabilities['dirty-limit'] ? 'on' : 'off'}`,
    perform: (ctx) => toggleCapability('dirty-limit', ctx),
  },
  {
    id: 'postcopy-preempt', label: 'Turn postcopy-preempt on / off', short: 'postcopy-preempt', shortcut: 'Shift+P', group: 'migration',
    keyTest: key('p', true), why: routeWhy,
    now: (s) => `postcopy-preempt: ${migrationTarget(s).route?.capabilities['postcopy-preempt'] ? 'on' : 'off'}`,
    perform: (ctx) => toggleCapability('postcopy-preempt', ctx),
  },
  {
    id: 'link-toggle', label: 'Cut / restore the migration link', short: 'link', shortcut: 'X', group: 'migration',
    keyTest: key('x', false),
    why: (s) => {
      const { route, link } = migrationTarget(s);
      if (!route) return NO_ROUTE;
      return link ? null : `No link named ${route.link}.`;
    },
    now: (s) => {
      const { link } = migrationTarget(s);
      return link?.state === 'down' ? `Restore link ${link.name}` : `Cut link ${link?.name ?? ''}`.trim();
    },
    perform: (ctx) => {
      const { link } = migrationTarget(ctx.store.getState());
      if (!link) return;
      const down = link.state === 'down';
      void send(ctx, { do: down ? 'link_up' : 'link_down', link: link.name }, down ? `link_up ${link.name}: the hosts can talk again` : `link_down ${link.name}: transfers in flight fail`);
    },
  },
];

export const MIGRATION_ACTIONS: readonly Action[] = ENTRIES.map((a) => ({ ...a, enabled: (s: LabState) => a.why(s) === null }));
