import { z } from 'zod';

/**
 * A lesson step's question, asked before the step runs ("predict, then see"; docs/scenario-format.md,
 * "Questions"): choices with the index of the right one, or a number with a tolerance. The lab shows
 * it when the paced lesson reaches the step, runs the step once the student answers (or skips), and
 * then says whether the answer was right and why. The simulator never reads it: a step runs the same
 * with or without one.
 */
export const ASK_LIMITS = { choices: 6, chars: 600 } as const;

const text = (what: string) => z.string().trim().min(1, { error: `${what} must not be empty` })
  .max(ASK_LIMITS.chars, { error: (i) => `${what} is ${String(i.input).length} characters long: at most ${ASK_LIMITS.chars}` });

export const Ask = z.strictObject({
  question: text('the question').describe('what the student predicts, asked before the step runs'),
  choices: z.array(text('a choice')).min(2, { error: 'a question with choices needs at least 2' })
    .max(ASK_LIMITS.choices, { error: `at most ${ASK_LIMITS.choices} choices` }).optional()
    .describe('the possible answers (give `answer` too), or leave out for a numeric answer'),
  answer: z.number().int().nonnegative().optional().describe('the index (from 0) of the right choice'),
  number: z.number().refine(Number.isFinite).optional().describe('the right numeric answer (instead of choices)'),
  tolerance: z.number().nonnegative().optional().describe('how far from `number` an answer still counts as right (default 0)'),
  unit: z.string().trim().min(1).max(40).optional().describe('the numeric answer\'s unit, shown beside the input ("pages", "ms")'),
  why: text('the explanation ("why")').describe('shown after the answer: what the step shows and why it is so'),
}).superRefine((a, ctx) => {
  const bad = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (a.choices !== undefined) {
    if (a.number !== undefined) bad('number', 'give "choices" with "answer", or "number": not both');
    if (a.tolerance !== undefined || a.unit !== undefined) bad(a.tolerance !== undefined ? 'tolerance' : 'unit', '"tolerance" and "unit" belong to a numeric question ("number"), not to one with choices');
    if (a.answer === undefined) bad('answer', `a question with choices needs "answer": the index of the right one, 0 to ${a.choices.length - 1}`);
    else if (a.answer >= a.choices.length) bad('answer', `answer ${a.answer} is not a choice: there are ${a.choices.length}, numbered 0 to ${a.choices.length - 1}`);
    const seen = new Set<string>();
    a.choices.forEach((c, i) => {
      if (seen.has(c)) ctx.addIssue({ code: 'custom', path: ['choices', i], message: `choice ${i} repeats ${JSON.stringify(c)}` });
      seen.add(c);
    });
  } else if (a.number !== undefined) {
    if (a.answer !== undefined) bad('answer', '"answer" is the index of a choice: a numeric question gives its answer as "number"');
  } else {
    bad('question', 'a question needs "choices" (with "answer", the right one\'s index) or "number" (the right value)');
  }
}).describe('predict, then see: a question asked before this step runs');

export type AskT = z.output<typeof Ask>;

