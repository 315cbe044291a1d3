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

/** Who started the server, for the error that names the flag to change. */
export interface WhoamiOwner {
  /** What the server is for, as the port-in-use error says it. */
  readonly purpose: string;
  /** The flag that moves it. */
  readonly portFlag: string;
}

/** The demo's whoami server, as errors name it. */
const DEMO_OWNER: WhoamiOwner = { purpose: "demo whoami server", portFlag: "--whoami-port" };

/**
 * Serves `you came from <address>` on `hostname:port` (0 = any free port).
 *
 * @example
 * ```ts
 * const server = startWhoamiServer(0);
 * await server.shutdown();
 * ```
 */
export function startWhoamiServer(
  port: number,
  hostname = "127.0.0.1",
  owner: WhoamiOwner = DEMO_OWNER,
): WhoamiServer {
  const serve = () =>
    Deno.serve({ hostname, port, onListen() {} }, (_request, info) => {
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
      address: hostPort(hostname, port),
      purpose: owner.purpose,
      configKey: owner.portFlag,
    });
  }
  return { port: (server.addr as Deno.NetAddr).port, shutdown: () => server.shutdown() };
}
