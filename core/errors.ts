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

/**
 * Renders any thrown value as one line for a log: its message, without the
 * stack frames some libraries paste into messages, line breaks folded into
 * spaces. (The stack itself belongs in a debug line, if anywhere.)
 *
 * @example
 * ```ts
 * describeError(new Error("dial failed:\n  connect ECONNREFUSED 127.0.0.1:1\n    at connect (net.ts:1:1)"));
 * // "dial failed: connect ECONNREFUSED 127.0.0.1:1"
 * ```
 */
export function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  if (!text.includes("\n")) return text;
  return text.split("\n")
    .filter((line) => !STACK_FRAME.test(line))
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .join(" ");
}

/** A line of a V8 stack trace: `    at name (file:line:column)`. */
const STACK_FRAME = /^\s+at\s/;
