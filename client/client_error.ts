/**
 * The client library's one error class (docs/client.md#errors): a `code` a program branches on,
 * mapped from the connect protocol's statuses (which are SOCKS5 reply codes) and the exit's reason.
 *
 * @module
 */
import { P2proxyError } from "../core/errors.ts";
import type { SessionOutcome } from "../core/ports/inbound.ts";

/** Why a `connect()` (or a `fetch()`'s connection) failed. */
export type ClientErrorCode =
  /** The exit's egress policy refused the destination (a private address, a denied port…). */
  | "policy_denied"
  /** The destination refused the connection. */
  | "refused"
  /** The destination's network or host is unreachable, or its name did not resolve at the exit. */
  | "unreachable"
  /** Nothing answered in time: the stream to the exit, the exit's answer, or its connect. */
  | "timeout"
  /** No exit matches the filters (or none could be reached). */
  | "no_exit"
  /** No token could be had, or the exit refused it. */
  | "auth"
  /** The exit failed for another reason (at its session limit, stopping, a broken stream). */
  | "exit_failed"
  /** The caller's signal aborted the connect. */
  | "aborted"
  /** The socket or the client was closed. */
  | "closed"
  /** The address or the filters are not valid (the message says which). */
  | "invalid";

/** A failed connection through an exit. */
export class ClientError extends P2proxyError<ClientErrorCode> {
  /** The exit that answered, when one was reached. */
  readonly exit: string | undefined;

  /**
   * An error with a code; `options.exit` names the exit that answered.
   *
   * @example
   * ```ts
   * try {
   *   await client.connect({ hostname: "10.0.0.1", port: 80 }).opened;
   * } catch (error) {
   *   if (error instanceof ClientError && error.code === "policy_denied") console.log(error.message);
   * }
   * ```
   */
  constructor(
    code: ClientErrorCode,
    message: string,
    options: ErrorOptions & { readonly exit?: string } = {},
  ) {
    super(code, message, options);
    this.exit = options.exit;
  }
}

/** SOCKS5 reply codes (= connect statuses) → client codes; 1 and unknown ones are `exit_failed`. */
const STATUS_CODES: Readonly<Record<number, ClientErrorCode>> = {
  2: "policy_denied",
  3: "unreachable",
  4: "unreachable",
  5: "refused",
  6: "timeout",
};

/**
 * The error for a session the router could not open to `target`.
 *
 * @example
 * ```ts
 * errorOfOutcome({ ok: false, replyCode: 5, stage: "refused", message: "ECONNREFUSED" }, "127.0.0.1:9").code;
 * // "refused"
 * ```
 */
export function errorOfOutcome(
  outcome: SessionOutcome & { readonly ok: false },
  target: string,
): ClientError {
  const code = codeOf(outcome);
  const exit = outcome.peerId === undefined ? "" : ` (exit ${outcome.peerId})`;
  return new ClientError(
    code,
    `Could not connect to ${target} through an exit${exit}: ${outcome.message}`,
    outcome.peerId === undefined ? {} : { exit: outcome.peerId },
  );
}

function codeOf(outcome: SessionOutcome & { readonly ok: false }): ClientErrorCode {
  if (outcome.reason === "auth") return "auth";
  if (outcome.reason === "timeout") return "timeout";
  if (outcome.stage === "no-peer") return "no_exit";
  return STATUS_CODES[outcome.replyCode] ?? "exit_failed";
}
