/**
 * A listener that could not be opened, said in one line: which address, for
 * what, and which config key to change. Every listener of every role (libp2p,
 * SOCKS, metrics, the auth service) maps its bind failure to this, so that a
 * port in use reads the same everywhere and the CLI can print it as is.
 *
 * @module
 */
import { P2proxyError } from "../core/errors.ts";

/** `address-in-use`: another socket holds the address; `listen-failed`: anything else. */
export type ListenErrorCode = "address-in-use" | "listen-failed";

/** What failed to listen, for {@link listenError}. */
export interface ListenSite {
  /** `host:port` (IPv6 bracketed) or a multiaddr. */
  readonly address: string;
  /** What the listener is for, e.g. "SOCKS5" or "libp2p". */
  readonly purpose: string;
  /** The config key that sets the address, e.g. `servers[0].port`. */
  readonly configKey: string;
}

/** A listener that could not be opened. */
export class ListenError extends P2proxyError<ListenErrorCode> {
  /** The address that could not be bound. */
  readonly address: string;
  /** The config key that sets it. */
  readonly configKey: string;
  /** What failed to listen, as given to {@link listenError}. */
  readonly site: ListenSite;
  /** How the error was read, as given to {@link listenError}. */
  readonly hints: ListenErrorHints;

  constructor(
    code: ListenErrorCode,
    site: ListenSite,
    hints: ListenErrorHints,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.site = site;
    this.hints = hints;
    this.address = site.address;
    this.configKey = site.configKey;
  }

  /**
   * The same error naming another setting, for a caller that sets the
   * address itself (the demo's `--port` instead of `servers[0].port`).
   */
  withConfigKey(configKey: string): ListenError {
    return listenError(this.cause, { ...this.site, configKey }, this.hints);
  }
}

/**
 * True for "address already in use", as Deno (`Deno.errors.AddrInUse`) and
 * Node-style sockets (`code: "EADDRINUSE"`) report it.
 */
export function isAddressInUse(error: unknown): boolean {
  if (error instanceof Deno.errors.AddrInUse) return true;
  return typeof error === "object" && error !== null &&
    (error as { code?: unknown }).code === "EADDRINUSE";
}

/** How {@link listenError} reads the error, when the error alone cannot tell. */
export interface ListenErrorHints {
  /** Shown instead of the error's own message (multi-line, or another library's advice). */
  readonly detail?: string;
  /** The address is in use (for errors that keep the socket's code only in their text). */
  readonly inUse?: boolean;
}

/**
 * The one-line error for a listener of `site` that failed with `error`.
 *
 * @example
 * ```ts
 * try {
 *   Deno.listen({ hostname: "127.0.0.1", port: 1080 });
 * } catch (error) {
 *   throw listenError(error, { address: "127.0.0.1:1080", purpose: "SOCKS5", configKey: "servers[0].port" });
 * }
 * ```
 */
export function listenError(
  error: unknown,
  site: ListenSite,
  hints: ListenErrorHints = {},
): ListenError {
  if (hints.inUse ?? isAddressInUse(error)) {
    return new ListenError(
      "address-in-use",
      site,
      hints,
      `Cannot listen on ${site.address} (${site.purpose}): another process is using that ` +
        `address. Stop it, or change \`${site.configKey}\`.`,
      { cause: error },
    );
  }
  return new ListenError(
    "listen-failed",
    site,
    hints,
    `Cannot listen on ${site.address} (${site.purpose}): ${hints.detail ?? oneLine(error)}. ` +
      `Check \`${site.configKey}\`.`,
    { cause: error },
  );
}

/** The first line of an error's message, without a trailing period. */
function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split("\n")[0] ?? "").trim().replace(/\.$/, "");
}
