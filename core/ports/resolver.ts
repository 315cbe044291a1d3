/**
 * Name resolution at the exit (socks5h): a destination name becomes the
 * addresses the exit checks against its egress policy and connects to. A
 * port, so that production resolves through the system and tests through a
 * static map that never sends a DNS query off the machine.
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";

/** Resolves destination names to IP addresses. */
export interface Resolver {
  /**
   * The addresses of `host` (a name, never an IP literal: the caller passes
   * literals through), in the order to try them; never empty. Rejects with a
   * {@link ResolveError}: `not-found` when the name has no address,
   * `timeout` when `signal` aborted first (its reason is the `cause`),
   * `failure` for anything else.
   *
   * @example
   * ```ts
   * const addresses = await resolver.resolve("example.com", AbortSignal.timeout(5_000));
   * ```
   */
  resolve(host: string, signal?: AbortSignal): Promise<readonly string[]>;
}

/** Why a name did not resolve. */
export type ResolveErrorCode =
  /** The name has no address (NXDOMAIN, or not in a static map). */
  | "not-found"
  /** The caller's signal aborted (its deadline passed) before an answer came. */
  | "timeout"
  /** The resolver itself failed (no server reachable, no permission, a malformed answer). */
  | "failure";

/**
 * A failed resolution; `host` is the name that was asked for.
 *
 * @example
 * ```ts
 * throw new ResolveError("not-found", "dest.test", 'No address for "dest.test".');
 * ```
 */
export class ResolveError extends P2proxyError<ResolveErrorCode> {
  /** The name that did not resolve. */
  readonly host: string;

  /** An error of `code` for `host`; keep the underlying error as `cause`. */
  constructor(code: ResolveErrorCode, host: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.host = host;
  }
}
