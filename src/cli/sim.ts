/**
 * npm run sim -- <scenario.json | preset>
 * npm run sim -- --schema
 * npm run sim -- --steps
 * npm run sim -- --list
 *
 * Prints the JSON report on stdout. Exit status: 0 when the scenario ran (whatever the guest did),
 * 1 for an invalid scenario (the message names the JSON path), 2 for bad usage.
 */
import { readFileSync } from 'node:fs';
import { PRESETS, isPresetId } from '../scenarios';
import { ScenarioRun } from '../sim/scenario/runner';
import { ScenarioError, scenarioJsonSchema } from '../sim/scenario/schema';
import { stepTablesMarkdown } from '../sim/scenario/steps';

const USAGE = `usage: npm run sim -- <scenario.json | preset>   run a scenario, print the JSON report
       npm run sim -- --schema                       print the scenario JSON Schema (version 2)
       npm run sim -- --steps                        print the step tables (markdown, from the step registry)
       npm run sim -- --list                         list the presets
presets: ${Object.keys(PRESETS).join(', ')}`;

export function main(argv: string[], out: (s: string) => void, err: (s: string) => void): number {
  const args = argv.filter((a) => a !== '--');
  if (args.length !== 1) {
    err(USAGE);
    return 2;
  }
  const a = args[0];
  if (a === '--help' || a === '-h') {
    out(USAGE);
    return 0;
  }
  if (a === '--schema') {
    out(JSON.stringify(scenarioJsonSchema(), null, 2));
    return 0;
  }
  if (a === '--steps') {
    out(stepTablesMarkdown());
    return 0;
  }
  if (a === '--list') {
    for (const [id, p] of Object.entries(PRESETS)) out(`${id}\t${(p as { title: string }).title}`);
    return 0;
  }
  if (a.startsWith('-')) {
    err(`unknown option ${a}\n${USAGE}`);
    return 2;
  }
  let input: unknown;
  let source = a;
  if (isPresetId(a)) input = PRESETS[a];
  else {
    let text: string;
    try {
      text = readFileSync(a, 'utf8');
    } catch {
      err(`${a}: no such file and no such preset (presets: ${Object.keys(PRESETS).join(', ')})`);
      return 2;
    }
    try {
      input = JSON.parse(text);
    } catch (e) {
      err(`${a}: not valid JSON: ${(e as Error).message}`);
      return 1;
    }
    source = a;
  }
  try {
    const report = ScenarioRun.fromJson(input).runAll();
    out(JSON.stringify(report, null, 2));
    return 0;
  } catch (e) {
    if (e instanceof ScenarioError) {
      for (const i of e.issues) err(`${source}: ${i.path}: ${i.message}`);
      return 1;
    }
    throw e;
  }
}

const isMain = process.argv[1] && /sim\.(ts|js)$/.test(process.argv[1]);
if (isMain) {
  const code = main(process.argv.slice(2), (s) => process.stdout.write(s + '\n'), (s) => process.stderr.write(s + '\n'));
  process.exitCode = code;
}
