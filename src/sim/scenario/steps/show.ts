import { z } from 'zod';
import { hostName, vmName } from '../fields';

/** The lab's panels a step may bring forward (`surface`: the attack-surface view). */
export const SHOW_PANELS = ['translation', 'host', 'guest', 'trace', 'migration', 'surface'] as const;

const ADDRESS = String.raw`(0x[0-9a-f]+|\d+)`;
const RANGE = new RegExp(String.raw`^\s*${ADDRESS}\s*(?:-\s*${ADDRESS}\s*)?$`, 'i');
const PAGE = 4096;

/**
 * "0x1000-0x3fff" (inclusive) or one address, "0x2000": the guest pages it covers, as the first
 * GFN and a count.
 */
export const pageRange = z.string().transform((v, ctx) => {
  const m = RANGE.exec(v);
  const a = m ? Number(m[1]) : NaN;
  const b = m ? Number(m[2] ?? m[1]) : NaN;
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || b < a) {
    ctx.addIssue({ code: 'custom', message: `pages ${JSON.stringify(v)}: give a guest-physical range "start-end" (inclusive, hex or decimal, start <= end), e.g. "0x1000-0x3fff", or one address` });
    return z.NEVER;
  }
  const first = Math.floor(a / PAGE);
  return { first, count: Math.floor(b / PAGE) - first + 1 };
}).describe('guest-physical addresses "start-end" (inclusive), e.g. "0x1000-0x3fff": the page map zooms to those pages and selects the first');

/**
 * What a lesson step is about, for the lab to bring forward when the lesson reaches the step
 * (docs/scenario-format.md, "What a step shows"): the panel (maximised, or the attack-surface
 * view), the VM, the pages of its map, the trace's row. Ignored by the simulator and the CLI.
 */
export const StepShow = z.strictObject({
  panel: z.enum(SHOW_PANELS).optional().describe('the panel to maximise (translation, host, guest, trace, migration) or "surface" for the attack-surface view'),
  vm: vmName.optional().describe('the VM to focus (its tab; the page map of `pages`)'),
  host: hostName.optional().describe('the host of `vm` when VM names repeat across hosts'),
  pages: pageRange.optional(),
  row: z.number().int().nonnegative().optional().describe('a trace event by its number (#n in the trace): selected and scrolled into view'),
}).describe('what the step is about: the lab brings it forward when the lesson reaches the step');

export type StepShowT = z.output<typeof StepShow>;
