import { z } from 'zod';
import { MiB, PAGE_SIZE, formatSize } from '../core/units';
import { DIRTY_CPU_BOUND, DIRTY_PATTERNS } from '../guest/kernel/timed';
import { duration, numeric, type ScenarioIssue } from './fields';

/**
 * A VM spec's `workload`: a guest that dirties memory at a rate, described without hand-written
 * assembly. It becomes a program calling the guest kernel's dirty_memory service (guest/kernel/timed.ts)
 * on the boot vCPU — first a sequential pass that touches the whole working set (a running guest's
 * memory is in use, so the first round of a migration has real pages to send), then the workload —
 * while the other vCPUs halt.
 */
export const WorkloadSpec = z.strictObject({
  rate: numeric.describe('bytes dirtied per virtual second (a page write counts 4 KiB)'),
  pattern: z.enum(DIRTY_PATTERNS).default('uniform').describe('uniform, sequential (wrapping), or hot-set (nine writes in ten to the first tenth)'),
  base: numeric.default(4 * MiB).describe('guest-physical address where the working set starts (page aligned)'),
  working_set: numeric.optional().describe('bytes of the working set (default: from base to the end of low memory)'),
  duration: duration.default(3_600_000_000_000).describe('how long it dirties (default one virtual hour)'),
  seed: z.number().int().nonnegative().default(1),
  prefill: z.boolean().default(true).describe('first touch every page of the working set once, sequentially, at 1 GiB/s'),
  cpu_bound: z.boolean().default(false).describe('writes as fast as the vCPU runs: a throttled vCPU dirties less (false: a timed task that catches up)'),
});

export type WorkloadSpecT = z.output<typeof WorkloadSpec>;

/** The prefill's rate: fast, so the set is in use well before a migration starts. */
const PREFILL_RATE = 1024 * MiB;
const PATTERN_CODE: Record<(typeof DIRTY_PATTERNS)[number], number> = { uniform: 0, sequential: 1, 'hot-set': 2 };

/** The working set a workload dirties in a VM of `memory` bytes, or issues at `path`. */
export function workloadRange(w: WorkloadSpecT, memory: number, path: string): { base: number; bytes: number } | ScenarioIssue[] {
  const issues: ScenarioIssue[] = [];
  const low = Math.min(memory, 0x80000000);
  const bytes = w.working_set ?? low - w.base;
  if (w.base % PAGE_SIZE) issues.push({ path: `${path}.base`, message: `the base ${w.base} is not page aligned` });
  if (w.rate <= 0) issues.push({ path: `${path}.rate`, message: 'the rate must be more than 0 bytes per second' });
  if (bytes < PAGE_SIZE) issues.push({ path: `${path}.working_set`, message: `the working set of ${bytes} bytes is smaller than a page` });
  else if (w.base + bytes > low) issues.push({ path: `${path}.working_set`, message: `[${w.base}, +${formatSize(bytes)}) goes past the VM's ${formatSize(low)} of low memory` });
  return issues.length ? issues : { base: w.base, bytes };
}

/** The program a workload runs (assembly for guest/asm). */
export function workloadProgram(w: WorkloadSpecT, base: number, bytes: number): string {
  const call = (rate: number, pattern: number, ns: number, comment: string) => [
    `    ; ${comment}`,
    `    mov rdi, ${base}`,
    `    mov rsi, ${bytes}`,
    `    mov rdx, ${rate}`,
    `    mov rcx, ${pattern}`,
    `    mov r8, ${ns}`,
    `    mov r9, ${w.seed}`,
    '    call dirty_memory',
  ];
  const fillNs = Math.ceil((bytes / PREFILL_RATE) * 1e9) + 4_000_000;
  return [
    '; A workload (the VM spec\'s "workload"): the boot vCPU dirties memory, the others halt.',
    '_start:',
    '    test rdi, rdi',
    '    jnz idle',
    ...(w.prefill ? call(PREFILL_RATE, 1, fillNs, `touch the ${formatSize(bytes)} working set once, sequentially`) : []),
    ...call(w.rate, PATTERN_CODE[w.pattern] | (w.cpu_bound ? DIRTY_CPU_BOUND : 0), w.duration, `dirty it at ${formatSize(w.rate)}/s (${w.pattern}${w.cpu_bound ? ', CPU-bound' : ''})`),
    'idle:',
    '    hlt',
    '    jmp idle',
  ].join('\n');
}
