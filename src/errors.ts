/**
 * An error a person can act on: what went wrong, and what to do next.
 * Everything that reaches the CLI or the HTTP API as a failure is one of these.
 */
export class MmragError extends Error {
  override readonly name = 'MmragError';
  constructor(
    message: string,
    /** What the user can do about it (shown on its own line). */
    readonly hint?: string,
    /** A stable machine-readable code, e.g. `llm_unreachable`. */
    readonly code: string = 'error',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
