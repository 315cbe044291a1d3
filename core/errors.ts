/**
 * The one error type of p2proxy (like connect-es's `ConnectError`): a message for people, a
 * `code` for programs, and the `cause` it wraps. Callers branch on `code`
 * ({@link isP2proxyError}), never on message text. A subclass exists only where a caller
 * branches on its type or reads a field of its own (`StreamError.isTerminalForPeer`,
 * `ListenError.configKey`, `PluginError.plugin`…); everything else throws `P2proxyError` itself.
 *
 * @module
 */
import type { AuthErrorCode } from "./ports/authenticator.ts";
import type { DialErrorCode } from "./ports/dialer.ts";
import type { DirectoryErrorCode } from "./ports/peer_directory.ts";
import type { ResolveErrorCode } from "./ports/resolver.ts";
import type { StreamErrorCode } from "./ports/stream_opener.ts";
import type { FrameErrorCode } from "./codec/frame.ts";
import type { Socks5ErrorCode } from "./codec/socks5.ts";
import type { ConfigErrorCode } from "./config/problems.ts";
import type { BandwidthErrorCode } from "./domain/bandwidth.ts";
import type { ExitConnectErrorCode } from "./domain/connect.ts";
import type { EgressConfigErrorCode } from "./domain/egress_policy.ts";
import type { FilterErrorCode } from "./domain/filters.ts";
import type { RegistryErrorCode } from "./domain/registry.ts";
import type { PluginErrorCode } from "./plugin/contract.ts";

/**
 * The codes the core's errors carry. Role services and plugins add their own (a string of
 * their choosing, e.g. `idle-timeout`, `unavailable`); the docs of each throwing function name
 * the codes it uses.
 */
export type CoreErrorCode =
  | AuthErrorCode
  | BandwidthErrorCode
  | ConfigErrorCode
  | DialErrorCode
  | DirectoryErrorCode
  | EgressConfigErrorCode
  | ExitConnectErrorCode
  | FilterErrorCode
  | FrameErrorCode
  | PluginErrorCode
  | RegistryErrorCode
  | ResolveErrorCode
  | Socks5ErrorCode
  | StreamErrorCode;

/** Any error code: the core's (listed, for completion and narrowing) or a plugin's own. */
// `string & {}` keeps the listed codes visible to editors while any string is allowed.
// deno-lint-ignore ban-types
export type P2proxyErrorCode = CoreErrorCode | (string & {});

/** The error of p2proxy: a message for people, a `code` for programs, the `cause` it wraps. */
export class P2proxyError<Code extends string = P2proxyErrorCode> extends Error {
  /** Machine-readable reason. */
  readonly code: Code;

  /**
   * An error with a code.
   *
   * @param code The machine-readable reason.
   * @param message What is wrong and what to do, for people, quoting the offending value.
   * @param options `cause`: the underlying error.
   */
  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The former name of {@link P2proxyError}.
 *
 * @deprecated Use `P2proxyError`.
 */
export const P2ProxyError: typeof P2proxyError = P2proxyError;
/**
 * The former name of {@link P2proxyError}.
 *
 * @deprecated Use `P2proxyError`.
 */
export type P2ProxyError<Code extends string = P2proxyErrorCode> = P2proxyError<Code>;

/**
 * True when `error` is a p2proxy error, with `code` when one is given: how callers branch.
 *
 * @example
 * ```ts
 * if (isP2proxyError(error, "unsupported-protocol")) forgetExit(peer);
 * ```
 */
export function isP2proxyError<C extends P2proxyErrorCode>(
  error: unknown,
  code?: C,
): error is P2proxyError<C> {
  return error instanceof P2proxyError && (code === undefined || error.code === code);
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
