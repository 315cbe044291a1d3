/**
 * The proxy's doors: one TCP listener per configured server (`servers[]`), each handing its
 * connections to the handler of the server's `protocol` (an `inbound` plugin, SOCKS5 by default).
 *
 * @module
 */
import type { ServerConfig } from "../core/config/proxy_config.ts";
import { P2proxyError } from "../core/errors.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { InboundProtocol, SessionRouter } from "../core/ports/inbound.ts";
import { TcpListener } from "../wire/tcp_listener.ts";

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
        const door = byProtocol.get(server.protocol);
        if (!door) {
          // No loaded door speaks the server's protocol.
          throw new P2proxyError(
            "unknown-protocol",
            `servers[${index}].protocol is "${server.protocol}", but no loaded plugin serves it ` +
              `(loaded: ${[...byProtocol.keys()].join(", ") || "none"}). Add the plugin that ` +
              "provides it to p2proxy.plugins in deno.json.",
          );
        }
        listeners.push(TcpListener.listen(
          {
            hostname: server.bind,
            port: server.port,
            purpose: server.protocol.toUpperCase(),
            configKey: `servers[${index}].port`,
            category: ["p2proxy", server.protocol],
          },
          door.handler(server, { router: deps.router, events: deps.events }),
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
