/**
 * How a script run ends early. A failure is the stack (or the script) not
 * doing what the script says; "unsupported" is the interpreter not being
 * able to run something the script uses. Neither is a crash: the runner
 * turns both into a ScriptResult.
 */

export class ScriptFailure extends Error {
  readonly line: number | null;
  /** For packet mismatches: both packets in script form. */
  readonly expected: string | undefined;
  readonly actual: string | undefined;

  constructor(line: number | null, message: string, expected?: string, actual?: string) {
    super(message);
    this.name = 'ScriptFailure';
    this.line = line;
    this.expected = expected;
    this.actual = actual;
  }
}

export class ScriptUnsupported extends Error {
  readonly feature: string;
  readonly line: number | null;

  constructor(feature: string, line: number | null = null) {
    super(`unsupported: ${feature}`);
    this.name = 'ScriptUnsupported';
    this.feature = feature;
    this.line = line;
  }
}
