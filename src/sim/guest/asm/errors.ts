/** An error in a guest program's source, with the 1-based line and column where it was found. */
export class AsmError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    message: string,
  ) {
    super(message);
    this.name = 'AsmError';
  }

  override toString(): string {
    return `line ${this.line}, column ${this.column}: ${this.message}`;
  }
}
