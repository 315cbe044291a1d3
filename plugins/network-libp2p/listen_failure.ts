/**
 * libp2p's "could not listen" error, said in one line. libp2p reports every
 * listen address that failed in one multi-line message (each with a Node
 * stack) that ends in advice about a libp2p option p2proxy does not expose;
 * this names the first failed address and the config key instead.
 *
 * @module
 */
import { type ListenError, listenError } from "../../runtime/listen_error.ts";

/** The config key of the node's listen addresses (the CLI fills the plugin's `listen` from it). */
const LISTEN_KEY = "listen_addrs";

/** The name libp2p's transport manager gives the error (it exports no class to test against). */
const LIBP2P_LISTEN_ERROR = "UnsupportedListenAddressesError";

/** One failed address of libp2p's message: `  <multiaddr>: <error text>`. */
const FAILED_ADDRESS = /^ {2}(\/\S+): (.+)$/m;

/**
 * The {@link ListenError} for libp2p's listen failure, or undefined when
 * `error` is something else (it is then rethrown as is).
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
  const failed = FAILED_ADDRESS.exec(error.message);
  const address = failed?.[1] ?? "the configured addresses";
  const detail = failed?.[2]?.trim() ?? "libp2p could not listen";
  return listenError(error, { address, purpose: "libp2p", configKey: LISTEN_KEY }, {
    detail: stripErrorPrefix(detail),
    // libp2p keeps only the text of the socket's error: its code survives in the message.
    inUse: /\bEADDRINUSE\b/.test(detail),
  });
}

/** `Error: listen EACCES: permission denied 0.0.0.0:80` → `listen EACCES: permission denied 0.0.0.0:80`. */
function stripErrorPrefix(text: string): string {
  return text.replace(/^[A-Za-z]*Error: /, "").replace(/\.$/, "");
}
