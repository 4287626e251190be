#!/usr/bin/env node
/**
 * Sweep QEMU's max-bandwidth over the precopy-converges lesson and print what each run did: how many
 * rounds pre-copy took, the bytes sent, the total time and the downtime (query-migrate's fields).
 *
 *   node examples/sweep-bandwidth.mjs [MiB/s ...]     default: 6 8 12 16 32 64
 *
 * In this repository run `npm run build:lib` first (the example imports the built package, as it
 * would once installed: `npm install guest-memory-lab-*.tgz`, then
 * `node node_modules/guest-memory-lab/examples/sweep-bandwidth.mjs`). Every run is deterministic:
 * the same arguments print the same table.
 */
import { preset, runScenario, validateReport } from 'guest-memory-lab';

const args = process.argv.slice(2);
const sweep = (args.length ? args : ['6', '8', '12', '16', '32', '64']).map((a) => {
  const n = Number(a);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`sweep-bandwidth: "${a}" is not a bandwidth in MiB/s (a positive number)`);
    process.exit(2);
  }
  return n;
});

const rows = [];
for (const mib of sweep) {
  const scenario = preset('precopy-converges');
  const migrate = scenario.steps.find((s) => s.do === 'migrate');
  migrate.parameters = { ...migrate.parameters, 'max-bandwidth': `${mib}MiB` };
  // The lesson waits up to 30 virtual seconds for the migration to complete; a slow link needs longer.
  for (const s of scenario.steps) if (s.do === 'run_until' && s.status === 'completed') s.time = '120s';
  const report = runScenario(scenario);
  const problems = validateReport(report);
  if (problems.length) throw new Error(`the report of the run at ${mib} MiB/s does not match the report schema: ${JSON.stringify(problems.slice(0, 3))}`);
  const m = report.summary.migrations[0];
  rows.push({
    'max-bandwidth': `${mib} MiB/s`,
    status: m.info.status,
    rounds: m.rounds.length,
    'dirty-sync-count': m.info.ram?.['dirty-sync-count'] ?? '-',
    transferred: m.info.ram ? `${(m.info.ram.transferred / 2 ** 20).toFixed(1)} MiB` : '-',
    'total-time': m.info['total-time'] !== undefined ? `${m.info['total-time']} ms` : '-',
    downtime: m.info.downtime !== undefined ? `${m.info.downtime} ms` : '-',
  });
}

// A plain text table: one header, one line per run.
const cols = Object.keys(rows[0]);
const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
const line = (cells) => cells.map((c, i) => String(c).padStart(width[i])).join('  ');
console.log(line(cols));
for (const r of rows) console.log(line(cols.map((c) => r[c])));
