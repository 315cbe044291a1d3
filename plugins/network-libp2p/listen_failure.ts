/**
 * libp2p's "could not listen" error, said in one line. libp2p reports every
 * listen address that failed in one multi-line message (each with a Node
 * stack) that ends in advice about a libp2p option p2proxy does not expose;
 * this keeps the first failed address and its socket error.
 *
 * @module
 */
import { describeError } from "../../core/errors.ts";
import { type ListenError, listenError } from "../../wire/listen_error.ts";

/** The config key of the node's listen addresses (the CLI fills the plugin's `listen` from it). */
const LISTEN_KEY = "listen_addrs";

/** The name libp2p's transport manager gives the error (it exports no class to test against). */
const LIBP2P_LISTEN_ERROR = "UnsupportedListenAddressesError";

/** One failed address of libp2p's message: `  <multiaddr>: [SomeError: ]<error text>`. */
const FAILED_ADDRESS = /^ {2}(\/\S+): (?:[A-Za-z]*Error: )?(.+)$/m;

/** The first address libp2p could not listen on, and why. */
export interface FailedListen {
  /** The multiaddr, as configured. */
  readonly address: string;
  /** The socket's error, e.g. `listen EADDRINUSE: address already in use 127.0.0.1:4001`. */
  readonly detail: string;
}

/**
 * The first failed address in libp2p's listen error, or undefined when the
 * message names none.
 *
 * @example
 * ```ts
 * failedListen(new Error("Some configured addresses failed…:\n\n  /ip4/127.0.0.1/tcp/1: Error: connect ECONNREFUSED 127.0.0.1:1\n"));
 * // { address: "/ip4/127.0.0.1/tcp/1", detail: "connect ECONNREFUSED 127.0.0.1:1" }
 * ```
 */
export function failedListen(error: unknown): FailedListen | undefined {
  const text = error instanceof Error ? error.message : String(error);
  const failed = FAILED_ADDRESS.exec(text);
  if (!failed) return undefined;
  return { address: failed[1]!, detail: failed[2]!.trim().replace(/\.$/, "") };
}

/** Why a listen failed, in one line: the socket's error when libp2p names one. */
export function listenFailureDetail(error: unknown): string {
  return failedListen(error)?.detail ?? describeError(error);
}

/**
 * The {@link ListenError} for libp2p's listen failure at start, or undefined
 * when `error` is something else (it is then rethrown as is).
 *
 * @example
 * ```ts
 * try {
 *   await node.start();
 * } catch (error) {
 *   throw libp2pListenError(error) ?? error;
 * }
 * ```
 */
export function libp2pListenError(error: unknown): ListenError | undefined {
  if (!(error instanceof Error) || error.name !== LIBP2P_LISTEN_ERROR) return undefined;
  const failed = failedListen(error);
  const site = {
    address: failed?.address ?? "the configured addresses",
    purpose: "libp2p",
    configKey: LISTEN_KEY,
  };
  return listenError(error, site, {
    detail: failed?.detail ?? "libp2p could not listen",
    // libp2p keeps only the text of the socket's error: its code survives in the message.
    inUse: failed !== undefined && /\bEADDRINUSE\b/.test(failed.detail),
  });
}
