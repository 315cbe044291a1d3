/**
 * The base error of p2proxy. Every domain has its own subclass with a closed
 * set of codes (like connect-es's `ConnectError`), so callers branch on
 * `code`, never on message text.
 *
 * @module
 */

/** Base class: a message for people and a `code` for programs. */
export class P2ProxyError<Code extends string = string> extends Error {
  /** Machine-readable reason. */
  readonly code: Code;

  /**
   * An error with a code.
   *
   * @param code The machine-readable reason.
   * @param message What is wrong and what to do, for people.
   * @param options `cause`: the underlying error.
   */
  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Renders any thrown value as one line for a log. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
