/**
 * The demo's destination: a tiny HTTP server that answers with the source
 * address it sees, so a user (and a test) can tell which exit carried the
 * request.
 *
 * @module
 */
import { hostPort } from "../core/host_port.ts";
import { listenError } from "../wire/listen_error.ts";

/** A running whoami server. */
export interface WhoamiServer {
  readonly port: number;
  shutdown(): Promise<void>;
}

/** Serves `you came from <address>` on 127.0.0.1:`port` (0 = any free port). */
export function startWhoamiServer(port: number): WhoamiServer {
  const serve = () =>
    Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (_request, info) => {
      const remote = info.remoteAddr as Deno.NetAddr;
      return new Response(`you came from ${remote.hostname}\n`, {
        headers: { "content-type": "text/plain" },
      });
    });
  let server: Deno.HttpServer;
  try {
    server = serve();
  } catch (error) {
    throw listenError(error, {
      address: hostPort("127.0.0.1", port),
      purpose: "demo whoami server",
      configKey: "--whoami-port",
    });
  }
  return { port: (server.addr as Deno.NetAddr).port, shutdown: () => server.shutdown() };
}
