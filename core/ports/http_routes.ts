/**
 * A loopback HTTP endpoint that other parts can add routes to (the admin API
 * rides on the metrics port: `POST /servers/{port}/exit`).
 *
 * @module
 */

/** Handles a request whose path matched `pattern`. */
export type HttpRouteHandler = (
  request: Request,
  match: RegExpExecArray,
) => Response | Promise<Response>;

/** Routes on an HTTP endpoint. */
export interface HttpRoutes {
  /** Adds a route; a no-op when the endpoint is disabled. */
  route(method: string, pattern: RegExp, handler: HttpRouteHandler): void;
  /** The endpoint's base URL once listening, e.g. `http://127.0.0.1:9091`; undefined when disabled. */
  baseUrl(): string | undefined;
}
