/**
 * One TCP listener of an inbound port: accepts connections and gives each to a handler (a
 * protocol's, see core/ports/inbound.ts) in its own task, keeps count of the running ones, and
 * on close stops accepting, lets them finish for a grace period, then resets the rest.
 *
 * @module
 */
import { getLogger, type Logger } from "@logtape/logtape";
import { describeError } from "../core/errors.ts";
import { hostPort } from "../core/host_port.ts";
import type { ConnectionHandler } from "../core/ports/inbound.ts";
import { drainWithin } from "./drain.ts";
import { listenError } from "./listen_error.ts";
import { closeQuietly } from "./tcp_conn.ts";

/** How often a closing listener looks whether its reset connections are gone. */
const CLOSE_POLL_MS = 10;

/** Where and for what a listener binds. */
export interface TcpListenerOptions {
  /** The IP address to bind. */
  readonly hostname: string;
  /** The port; 0 picks a free one. */
  readonly port: number;
  /** What listens, for log lines and errors, e.g. `SOCKS5`. */
  readonly purpose: string;
  /** The config key that sets the address, named by a bind failure (e.g. `servers[0].port`). */
  readonly configKey: string;
  /** The logger category of its lines; default `["p2proxy", "listener"]`. */
  readonly category?: readonly string[];
}

/**
 * A running listener.
 *
 * @example
 * ```ts
 * const listener = TcpListener.listen(
 *   { hostname: "127.0.0.1", port: 0, purpose: "echo", configKey: "port" },
 *   async (conn) => void await conn.write(new TextEncoder().encode("hi")),
 * );
 * await listener.close(1_000);
 * ```
 */
export class TcpListener {
  readonly #listener: Deno.TcpListener;
  readonly #handler: ConnectionHandler;
  readonly #logger: Logger;
  readonly #purpose: string;
  readonly #connections = new Map<Deno.Conn, AbortController>();
  readonly #accepting: Promise<void>;

  private constructor(
    listener: Deno.TcpListener,
    handler: ConnectionHandler,
    logger: Logger,
    purpose: string,
  ) {
    this.#listener = listener;
    this.#purpose = purpose;
    this.#handler = handler;
    this.#logger = logger;
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Binds `hostname:port` and starts accepting. A bind failure is a `ListenError` naming the
   * address and `configKey`.
   */
  static listen(options: TcpListenerOptions, handler: ConnectionHandler): TcpListener {
    const logger = getLogger([...(options.category ?? ["p2proxy", "listener"])]);
    let listener: Deno.TcpListener;
    try {
      listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
    } catch (error) {
      throw listenError(error, {
        address: hostPort(options.hostname, options.port),
        purpose: options.purpose,
        configKey: options.configKey,
      });
    }
    logger.info(`${options.purpose} listening on {address}`, {
      address: hostPort(options.hostname, (listener.addr as Deno.NetAddr).port),
    });
    return new TcpListener(listener, handler, logger, options.purpose);
  }

  /** The bound address (the port is the real one when 0 was asked for). */
  get address(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /** Connections being served. */
  get activeConnections(): number {
    return this.#connections.size;
  }

  /** Stops accepting; connections being served keep running. */
  async stopAccepting(): Promise<void> {
    closeQuietly(this.#listener);
    await this.#accepting;
  }

  /** Stops accepting, waits up to `graceMs` for connections to end, then resets the rest. */
  async close(graceMs = 0): Promise<void> {
    await this.stopAccepting();
    await drainWithin(() => this.#connections.size > 0, graceMs);
    for (const abort of this.#connections.values()) {
      abort.abort(new Error("The proxy is shutting down."));
    }
    while (this.#connections.size > 0) {
      await new Promise((resolve) => setTimeout(resolve, CLOSE_POLL_MS));
    }
  }

  async #acceptLoop(): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
          return;
        }
        this.#logger.warn("Accept failed on port {port}: {error}", {
          port: this.address.port,
          error: describeError(error),
        });
        continue;
      }
      const abort = new AbortController();
      this.#connections.set(conn, abort);
      this.#serve(conn, abort.signal)
        .catch((error) =>
          this.#logger.error(`A ${this.#purpose} session failed: {error}`, {
            error: describeError(error),
          })
        )
        .finally(() => {
          closeQuietly(conn);
          this.#connections.delete(conn);
        });
    }
  }

  async #serve(conn: Deno.TcpConn, signal: AbortSignal): Promise<void> {
    try {
      conn.setNoDelay(true);
    } catch {
      // The client may already be gone.
    }
    // A reset session must not wait for a read that never comes: closing the socket ends it.
    const onAbort = () => closeQuietly(conn);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await this.#handler(conn, signal);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}
