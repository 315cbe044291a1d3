/**
 * A loopback HTTP endpoint for the admin API alone, for the demo's
 * `--admin-port` (a proxy serves the admin API on its metrics port). Same
 * guard as the metrics endpoint (`core/local_http_guard.ts`): a request whose
 * `Host` is not a loopback name of this listener, or that carries an
 * `Origin`, is refused with 403 before it is read.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { describeError } from "../core/errors.ts";
import { hostPort } from "../core/host_port.ts";
import { localRequestRefusal } from "../core/local_http_guard.ts";
import type { HttpRouteHandler, HttpRoutes } from "../core/ports/http_routes.ts";
import { isAddressInUse, listenError } from "../wire/listen_error.ts";

const logger = getLogger(["p2proxy", "admin"]);

/** Where the admin server listens: loopback only. */
export const ADMIN_SERVER_HOSTNAME = "127.0.0.1";

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly handler: HttpRouteHandler;
}

/**
 * Routes on 127.0.0.1:`port` behind the local-request guard.
 *
 * @example
 * ```ts
 * const server = new AdminServer(0);
 * registerAdminRoutes(server, { control });
 * const { port } = server.start();
 * await server.stop();
 * ```
 */
export class AdminServer implements HttpRoutes {
  readonly #port: number;
  readonly #configKey: string;
  readonly #routes: Route[] = [];
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;

  /** `port` 0 picks a free one; `configKey` names the setting in a "port in use" error. */
  constructor(port: number, configKey = "--admin-port") {
    this.#port = port;
    this.#configKey = configKey;
  }

  route(method: string, pattern: RegExp, handler: HttpRouteHandler): void {
    this.#routes.push({ method: method.toUpperCase(), pattern, handler });
  }

  baseUrl(): string | undefined {
    const address = this.#server?.addr;
    return address ? `http://${hostPort(address.hostname, address.port)}` : undefined;
  }

  /** Listens; returns the bound port. Throws a `ListenError` when the port is in use. */
  start(): { port: number } {
    try {
      this.#server = Deno.serve({
        hostname: ADMIN_SERVER_HOSTNAME,
        port: this.#port,
        onListen: () => {},
        onError: (error) => {
          logger.warn("An admin request failed: {error}", { error: describeError(error) });
          return new Response("Internal error.\n", { status: 500 });
        },
      }, (request, info) => this.#handle(request, info.remoteAddr));
    } catch (error) {
      if (!isAddressInUse(error)) throw error;
      throw listenError(error, {
        address: hostPort(ADMIN_SERVER_HOSTNAME, this.#port),
        purpose: "admin API",
        configKey: this.#configKey,
      });
    }
    return { port: this.#server.addr.port };
  }

  /** Stops listening and closes open connections; safe before `start` and twice. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    await server?.shutdown();
  }

  async #handle(request: Request, remote: Deno.NetAddr): Promise<Response> {
    const path = new URL(request.url).pathname;
    const refusal = localRequestRefusal(request.headers, this.#server?.addr.port ?? this.#port);
    if (refusal) {
      logger.info("Refused {method} {path} from {remote}: {reason}", {
        method: request.method,
        path,
        remote: hostPort(remote.hostname, remote.port),
        reason: refusal.message,
      });
      return new Response(`${refusal.message}\n`, { status: 403 });
    }
    const matching = this.#routes.filter((route) => route.pattern.test(path));
    const route = matching.find((r) => r.method === request.method);
    if (!route) {
      await request.body?.cancel().catch(() => {});
      return matching.length > 0
        ? new Response("Method not allowed.\n", {
          status: 405,
          headers: { allow: [...new Set(matching.map((r) => r.method))].join(", ") },
        })
        : new Response("Not found: the admin API is under /v1/.\n", { status: 404 });
    }
    return await route.handler(
      request,
      route.pattern.exec(path)!,
      { remoteAddress: hostPort(remote.hostname, remote.port) },
    );
  }
}
