/**
 * The proxy's doors: one TCP listener per configured server (`servers[]`), each handing its
 * connections to the handler of the server's `protocol` (an `inbound` plugin, SOCKS5 by default).
 *
 * @module
 */
import type { ServerConfig } from "../core/config/proxy_config.ts";
import { P2proxyError } from "../core/errors.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type {
  ConnectionHandler,
  InboundContext,
  InboundProtocol,
  SessionRouter,
} from "../core/ports/inbound.ts";
import { prefixedConn } from "../wire/prefixed_conn.ts";
import { closeQuietly } from "../wire/tcp_conn.ts";
import { TcpListener } from "../wire/tcp_listener.ts";

/** The `servers[].protocol` of a port that serves every loaded door, told apart by first byte. */
export const MIXED_PROTOCOL = "mixed";

/** The door a mixed port gives a connection whose first byte no door names. */
export const FALLBACK_PROTOCOL = "http";

/**
 * The handler of a mixed port (docs/proxy-behaviour.md#protocols): reads the first byte (within
 * the handshake deadline) and hands the connection, byte included, to the door whose
 * `firstBytes` name it (`0x05` SOCKS5, `0x04` SOCKS4), else to the HTTP door; a connection no
 * loaded door can take is closed.
 */
export function mixedHandler(
  server: ServerConfig,
  doors: readonly InboundProtocol[],
  context: InboundContext,
): ConnectionHandler {
  const byFirstByte = new Map<number, ConnectionHandler>();
  let fallback: ConnectionHandler | undefined;
  for (const door of doors) {
    const handler = door.handler(server, context);
    for (const byte of door.firstBytes) byFirstByte.set(byte, handler);
    if (door.protocol === FALLBACK_PROTOCOL) fallback = handler;
  }
  return async (conn, signal) => {
    const first = new Uint8Array(1);
    const deadline = setTimeout(() => closeQuietly(conn), server.handshakeTimeoutMs);
    let n: number | null;
    try {
      n = await conn.read(first);
    } catch {
      return; // Closed by the deadline or the client.
    } finally {
      clearTimeout(deadline);
    }
    if (n === null || n === 0) return;
    const handler = byFirstByte.get(first[0]!) ?? fallback;
    if (!handler) return;
    await handler(prefixedConn(conn, first), signal);
  };
}

/** What the doors are built from. */
export interface InboundListenersDeps {
  /** The servers to listen for, in config order (their index names them in errors). */
  readonly servers: readonly ServerConfig[];
  /** Every loaded door (the `inbound` capability's providers). */
  readonly protocols: readonly InboundProtocol[];
  /** Where the doors' sessions go. */
  readonly router: SessionRouter;
  readonly events: EventSink;
}

/** The running listeners of every server. */
export class InboundListeners {
  /** One per server, in config order (their bound addresses, for tests and the demo). */
  readonly listeners: readonly TcpListener[];

  private constructor(listeners: readonly TcpListener[]) {
    this.listeners = listeners;
  }

  /**
   * Binds every server's address. A server whose protocol no door serves, or an address that
   * cannot be bound, stops the start (listeners already open are closed).
   */
  static async start(deps: InboundListenersDeps): Promise<InboundListeners> {
    const byProtocol = new Map(deps.protocols.map((door) => [door.protocol, door]));
    const listeners: TcpListener[] = [];
    try {
      for (const [index, server] of deps.servers.entries()) {
        const context = { router: deps.router, events: deps.events };
        let handler: ConnectionHandler;
        if (server.protocol === MIXED_PROTOCOL) {
          handler = mixedHandler(server, deps.protocols, context);
        } else {
          const door = byProtocol.get(server.protocol);
          if (!door) {
            // No loaded door speaks the server's protocol.
            throw new P2proxyError(
              "unknown-protocol",
              `servers[${index}].protocol is "${server.protocol}", but no loaded plugin serves ` +
                `it (loaded: ${[...byProtocol.keys()].join(", ") || "none"}). Add the plugin ` +
                "that provides it to p2proxy.plugins in deno.json, or use `protocol: mixed`.",
            );
          }
          handler = door.handler(server, context);
        }
        listeners.push(TcpListener.listen(
          {
            hostname: server.bind,
            port: server.port,
            purpose: server.protocol === MIXED_PROTOCOL
              ? "SOCKS5/SOCKS4/HTTP"
              : server.protocol.toUpperCase(),
            configKey: `servers[${index}].port`,
            category: ["p2proxy", server.protocol],
          },
          handler,
        ));
      }
    } catch (error) {
      await Promise.all(listeners.map((listener) => listener.close()));
      throw error;
    }
    return new InboundListeners(listeners);
  }

  /** Stops accepting, lets sessions finish for up to `graceMs`, then resets the rest. */
  async stop(graceMs = 0): Promise<void> {
    await Promise.all(this.listeners.map((listener) => listener.close(graceMs)));
  }
}
