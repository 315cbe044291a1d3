/**
 * The HTTP endpoint Prometheus scrapes: `GET /metrics` in the text
 * exposition format, on loopback unless remote access is allowed, with a
 * hook for more routes (admin endpoints of the proxy).
 *
 * What a web page cannot do to it (`core/local_http_guard.ts`): on a
 * loopback listener, every request, `/metrics` included, is refused with 403
 * before it is read when its `Host` is not a loopback name of the listener
 * (DNS rebinding) or when it carries an `Origin` (a browser's cross-site
 * request). A scraper on the same host sends `Host: 127.0.0.1:<port>` and no
 * Origin, so it is served. On a non-loopback listener (`allow_remote`) the
 * network may read `/metrics` on purpose, so the Host is not checked there,
 * but an `Origin` is still refused and added routes are not served at all:
 * they are for local tools only.
 *
 * @module
 */
import { hostPort } from "../../core/host_port.ts";
import { getLogger } from "@logtape/logtape";
import { describeError } from "../../core/errors.ts";
import { localRequestRefusal } from "../../core/local_http_guard.ts";
import type { HttpClient } from "../../core/ports/http_routes.ts";
import {
  DEFAULT_BIND_ADDRESS,
  isLoopbackAddress,
  parseIpLiteral,
  PORT_MAX,
} from "../../core/config/common.ts";
import { PROXY_DEFAULT_METRICS_PORT } from "../../core/config/proxy_config.ts";
import { isAddressInUse, type ListenError, listenError } from "../../wire/listen_error.ts";
import { MetricsError } from "./metrics_error.ts";

const logger = getLogger(["p2proxy", "metrics"]);

/** The path Prometheus scrapes. */
export const METRICS_PATH = "/metrics";

/** What the server renders on a scrape; a prom-client `Registry` is one. */
export interface MetricsSource {
  /** The content type of `metrics()`'s text. */
  readonly contentType: string;
  /** The exposition text. */
  metrics(): Promise<string>;
}

/** Options of {@link MetricsServer}. */
export interface MetricsServerOptions {
  /** TCP port; 0 lets the system pick a free one (read it from `address`). Default 9091. */
  readonly port?: number;
  /** IP address to listen on. Default `127.0.0.1`. */
  readonly bind?: string;
  /** Allows a non-loopback `bind`: the metrics (and any added route) become reachable from the network. */
  readonly allowRemote?: boolean;
}

/** Where the server listens. */
export interface MetricsAddress {
  /** The IP address listened on. */
  readonly hostname: string;
  /** The TCP port listened on. */
  readonly port: number;
}

/**
 * Handles a request whose path matched a route's pattern; `client` names the
 * peer. Only requests that passed the endpoint's Host/Origin checks get here.
 */
export type RouteHandler = (
  request: Request,
  match: RegExpExecArray,
  client: HttpClient,
) => Response | Promise<Response>;

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly handler: RouteHandler;
}

/** The URL of the metrics page at `address`, e.g. `http://127.0.0.1:9091/metrics`. */
export function metricsUrl(address: MetricsAddress, path = METRICS_PATH): string {
  return `http://${hostPort(address.hostname, address.port)}${path}`;
}

/**
 * Serves `GET /metrics` from a registry with `Deno.serve`. Construction
 * checks the address (loopback only unless `allowRemote`); `start()` listens;
 * `stop()` closes the socket and every connection.
 *
 * @example
 * ```ts
 * const server = new MetricsServer(sink.registry, { port: 0 });
 * server.route("POST", /^\/servers\/(\d+)\/exit$/, (_req, m) => new Response(m[1]));
 * const address = await server.start();
 * console.log(metricsUrl(address));
 * await server.stop();
 * ```
 */
export class MetricsServer {
  readonly #source: MetricsSource;
  readonly #hostname: string;
  readonly #port: number;
  readonly #routes: Route[] = [];
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #address: MetricsAddress | undefined;

  /** Checks the options; throws a `MetricsError` for a bad or refused address. */
  constructor(source: MetricsSource, options: MetricsServerOptions = {}) {
    this.#source = source;
    this.#hostname = checkedBind(
      options.bind ?? DEFAULT_BIND_ADDRESS,
      options.allowRemote ?? false,
    );
    this.#port = checkedPort(options.port ?? PROXY_DEFAULT_METRICS_PORT);
  }

  /**
   * Adds a route, tried in the order added for paths other than `/metrics`
   * (which cannot be shadowed). `pattern` is matched against the URL path.
   * Routes may be added before or after `start()`.
   */
  route(method: string, pattern: RegExp, handler: RouteHandler): this {
    this.#routes.push({ method: method.toUpperCase(), pattern, handler });
    return this;
  }

  /** The bound address once started (with the real port when `port` was 0). */
  get address(): MetricsAddress | undefined {
    return this.#address;
  }

  /** Listens; resolves with the bound address. Calling it again returns the same address. */
  start(): Promise<MetricsAddress> {
    if (this.#address) return Promise.resolve(this.#address);
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: this.#hostname,
        port: this.#port,
        onListen: () => {},
        onError: (error) => internalError(error),
      }, (request, info) => this.#handle(request, info.remoteAddr));
    } catch (error) {
      return Promise.reject(this.#listenError(error));
    }
    this.#server = server;
    this.#address = { hostname: server.addr.hostname, port: server.addr.port };
    return Promise.resolve(this.#address);
  }

  /** Stops listening and closes open connections. Safe to call more than once or before `start()`. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#address = undefined;
    if (!server) return;
    await server.shutdown();
  }

  async #handle(request: Request, remote: Deno.NetAddr): Promise<Response> {
    const path = new URL(request.url).pathname;
    const listener = { hostname: this.#hostname, port: this.#address?.port ?? this.#port };
    const refusal = metricsRequestRefusal(request.headers, path, listener);
    if (refusal !== undefined) {
      logger.info("Refused {method} {path} from {remote}: {reason}", {
        method: request.method,
        path,
        remote: hostPort(remote.hostname, remote.port),
        reason: refusal,
      });
      return plain(403, `${refusal}\n`);
    }
    if (path === METRICS_PATH) return await this.#scrape(request);
    const client: HttpClient = { remoteAddress: hostPort(remote.hostname, remote.port) };
    let pathMatched = false;
    for (const route of this.#routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      pathMatched = true;
      if (route.method === request.method) return await route.handler(request, match, client);
    }
    return pathMatched
      ? plain(405, "Method not allowed.\n", { allow: this.#methodsFor(path) })
      : plain(404, "Not found. Metrics are at /metrics.\n");
  }

  async #scrape(request: Request): Promise<Response> {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return plain(405, "Method not allowed.\n", { allow: "GET, HEAD" });
    }
    const body = await this.#source.metrics();
    return new Response(request.method === "HEAD" ? null : body, {
      headers: { "content-type": this.#source.contentType },
    });
  }

  #methodsFor(path: string): string {
    const methods = new Set(this.#routes.filter((r) => r.pattern.test(path)).map((r) => r.method));
    return [...methods].join(", ");
  }

  #listenError(error: unknown): MetricsError | ListenError {
    if (isAddressInUse(error)) {
      const address = hostPort(this.#hostname, this.#port);
      return listenError(error, { address, purpose: "metrics", configKey: "metrics_port" });
    }
    const where = metricsUrl({ hostname: this.#hostname, port: this.#port }, "");
    const fix = error instanceof Deno.errors.NotCapable
      ? `run with --allow-net=${where.slice("http://".length)} (see \`p2proxy permissions\`)`
      : "check `metrics_bind` and `metrics_port`";
    return new MetricsError(
      "listen-failed",
      `Could not serve metrics on ${where}: ${describeError(error)}; ${fix}.`,
      { cause: error },
    );
  }
}

/**
 * Why the endpoint listening on `listener` refuses a request for `path`
 * before reading it (see the module doc), or undefined to serve it.
 *
 * @example
 * ```ts
 * const listener = { hostname: "127.0.0.1", port: 9091 };
 * metricsRequestRefusal(new Headers({ host: "127.0.0.1:9091" }), "/metrics", listener); // undefined
 * metricsRequestRefusal(new Headers({ host: "evil.example" }), "/metrics", listener); // "Refused: …"
 * ```
 */
export function metricsRequestRefusal(
  headers: Headers,
  path: string,
  listener: MetricsAddress,
): string | undefined {
  if (isLoopbackAddress(listener.hostname)) {
    return localRequestRefusal(headers, listener.port)?.message;
  }
  if (headers.has("origin")) {
    return "Refused: the request carries an Origin header, so a web page sent it.";
  }
  if (path === METRICS_PATH) return undefined;
  return `Refused: ${path} is served only when the metrics endpoint listens on loopback ` +
    `(it listens on ${listener.hostname}).`;
}

function checkedBind(bind: string, allowRemote: boolean): string {
  const parsed = parseIpLiteral(bind);
  if (!parsed.ok) {
    throw new MetricsError(
      "bad-bind",
      `Metrics bind address ${JSON.stringify(bind)}: ${parsed.message}`,
    );
  }
  if (!allowRemote && !isLoopbackAddress(parsed.value)) {
    throw new MetricsError(
      "remote-bind",
      `Refusing to serve metrics on ${JSON.stringify(bind)}, a non-loopback address: anyone who ` +
        "reaches it could read them. Use 127.0.0.1, or set `allow_remote: true` in the " +
        "@p2proxy/metrics-prometheus options to expose them on purpose.",
    );
  }
  return parsed.value;
}

function checkedPort(port: number): number {
  if (Number.isInteger(port) && port >= 0 && port <= PORT_MAX) return port;
  throw new MetricsError(
    "bad-port",
    `Metrics port ${
      JSON.stringify(port)
    } is not a TCP port: use 1–${PORT_MAX}, or 0 for any free port.`,
  );
}

function plain(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(text, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

function internalError(error: unknown): Response {
  logger.warn("A metrics request failed: {error}", { error: describeError(error) });
  return plain(500, "Internal error.\n");
}
