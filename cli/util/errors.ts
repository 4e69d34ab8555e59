/** Errors a person reads: one line that names the value at fault and says what to do. */
export class UserError extends Error {
  constructor(
    message: string,
    /** Exit status (Docker uses 125 for errors of the CLI itself, 1 for everything else here). */
    readonly status = 1,
  ) {
    super(message);
  }
}

/** Bad command-line usage (exit status 2, like getopt tools). */
export const usageError = (message: string): UserError => new UserError(message, 2);

/** One line: newlines and runs of whitespace from plugin or tool output folded into spaces. */
export const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, '; ').replace(/\s+/g, ' ').trim();
