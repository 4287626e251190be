import { z } from 'zod';
import { STEP_LEVELS, type StepDef, type StepLevel } from './define';
import { HOST_STEPS } from './host';
import { KVM_STEPS } from './kvm';
import { VMM_STEPS } from './vmm';
import { MIGRATION_HOST_STEPS, MIGRATION_STEPS } from './migration';
import { WORLD_STEPS } from './world';
import { UFFD_STEPS } from './uffd';

/**
 * The step registry: every step kind a scenario may use, each with its schema, its executor and its
 * documentation, in the order the documentation lists them (by level). The scenario schema's step
 * union, the runner, `npm run sim -- --steps` and docs/scenario-format.md's step tables are all made
 * from it. A new step is one entry in the file of its level.
 */
export const STEPS = [...VMM_STEPS, ...MIGRATION_STEPS, ...HOST_STEPS, ...MIGRATION_HOST_STEPS, ...UFFD_STEPS, ...KVM_STEPS, ...WORLD_STEPS] as const;

export type AnyStepDef = (typeof STEPS)[number];

export const STEP_BY_KIND: ReadonlyMap<string, StepDef> = new Map(STEPS.map((d) => [d.kind, d as unknown as StepDef]));

/** The step kinds, as "do" names them. */
export const STEP_KINDS: readonly string[] = STEPS.map((d) => d.kind);

export const LEVEL_TITLES: Record<StepLevel, string> = {
  vmm: 'VMM level',
  host: 'Host level',
  kvm: 'KVM level',
  world: 'World level',
};

/** The union of every step's schema, discriminated by `do`. */
export const Step = z.discriminatedUnion('do', STEPS.map((d) => d.schema) as unknown as [AnyStepDef['schema'], ...AnyStepDef['schema'][]]);

export type StepT = z.output<typeof Step>;

/** How a field's value is given in the step tables: required, optional, or its default. */
function fieldUse(f: z.ZodType): string {
  const def = (f as unknown as { def: { type: string; defaultValue?: unknown; innerType?: z.ZodType } }).def;
  if (def.type === 'default') {
    const v = def.defaultValue;
    return `default \`${JSON.stringify(v)}\``;
  }
  if (def.type === 'optional') return 'optional';
  return 'required';
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** One level's step table, as markdown: each kind, its fields (how given), and what it does. */
export function stepTable(level: StepLevel): string {
  const rows = STEPS.filter((d) => d.level === level).map((d) => {
    const shape = d.schema.shape as Record<string, z.ZodType>;
    const fields = Object.entries(shape)
      .filter(([k]) => k !== 'do' && k !== 'note' && k !== 'show' && k !== 'ask')
      .map(([k, f]) => {
        const use = fieldUse(f);
        return use === 'required' ? `\`${k}\`` : `\`${k}\` (${use})`;
      });
    return `| \`${d.kind}\` | ${cell(fields.join(', ') || 'none')} | ${cell(d.doc.summary)} |`;
  });
  if (rows.length === 0) return `_No ${LEVEL_TITLES[level]} steps yet._`;
  return ['| `do` | Fields | What it does |', '|---|---|---|', ...rows].join('\n');
}

/** Every level's table between the markers docs/scenario-format.md carries (`<!-- steps:LEVEL -->` ... `<!-- /steps:LEVEL -->`). */
export function stepTables(): { level: StepLevel; markdown: string }[] {
  return STEP_LEVELS.map((level) => ({ level, markdown: stepTable(level) }));
}

/** The step tables as one markdown document (npm run sim -- --steps). */
export function stepTablesMarkdown(): string {
  return stepTables().map(({ level, markdown }) => `### ${LEVEL_TITLES[level]}\n\n<!-- steps:${level} -->\n${markdown}\n<!-- /steps:${level} -->`).join('\n\n');
}
