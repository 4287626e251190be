#!/usr/bin/env node
/**
 * The installed command (package.json `bin`): `guest-memory-lab [run] <scenario.json | preset>`,
 * `--schema`, `--report-schema`, `--steps`, `--list`, `--json-errors`; the same CLI as `npm run
 * sim` (src/cli/sim.ts), built into dist-lib/cli.js with everything it needs (vite.lib.config.ts).
 */
import { processMain } from './sim';

void processMain(process.argv.slice(2), { prog: 'guest-memory-lab' }).then((code) => {
  process.exitCode = code;
});
