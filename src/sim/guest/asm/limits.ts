/**
 * What the assembler takes on, so that no program can make it run out of stack or memory
 * (docs/scenario-format.md, "Limits"): the source's length, the assembled image's size (from the
 * origin to the last byte, `org` gaps, `resb` and `times` included) and how deeply an expression nests.
 */
export const ASM_LIMITS = {
  /** Characters of source. */
  sourceChars: 256 * 1024,
  /** Bytes of the assembled image. */
  imageBytes: 1024 * 1024,
  /** Parentheses and unary operators nested in one expression. */
  exprDepth: 64,
  /** Numbers, symbols and operators in one expression. */
  exprNodes: 1024,
  /** Repetitions of one `times` line (each is assembled apart: a million took seconds). */
  timesCount: 65_536,
} as const;
