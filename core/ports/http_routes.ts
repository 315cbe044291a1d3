/**
 * A loopback HTTP endpoint that other parts can add routes to (the admin API
 * rides on the metrics port: `POST /servers/{port}/exit`).
 *
 * @module
 */

/** Who sent a request, as the endpoint saw it. */
export interface HttpClient {
  /** The peer's `host:port` (IPv6 in brackets), e.g. `127.0.0.1:53012`: for logs. */
  readonly remoteAddress: string;
}

/**
 * Handles a request whose path matched `pattern`. The endpoint has already
 * refused requests a web page could have sent (foreign `Host`, any `Origin`).
 */
export type HttpRouteHandler = (
  request: Request,
  match: RegExpExecArray,
  client: HttpClient,
) => Response | Promise<Response>;

/** Routes on an HTTP endpoint. */
export interface HttpRoutes {
  /** Adds a route; a no-op when the endpoint is disabled. */
  route(method: string, pattern: RegExp, handler: HttpRouteHandler): void;
  /** The endpoint's base URL once listening, e.g. `http://127.0.0.1:9091`; undefined when disabled. */
  baseUrl(): string | undefined;
}
