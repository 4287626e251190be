/** Counted nouns for every panel. */

/** The noun for a count: "1 MSR", "2 MSRs". */
export const noun = (n: number, one: string, many = `${one}s`) => (n === 1 ? one : many);
/** A count with its noun: "1 page", "1,024 pages". */
export const plural = (n: number, one: string, many?: string) => `${n.toLocaleString('en')} ${noun(n, one, many)}`;
