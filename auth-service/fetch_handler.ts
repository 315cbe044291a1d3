/**
 * The auth service as one fetch handler, `(Request) → Response`: every RPC of
 * `p2proxy.auth.v1.AuthService` in the Connect protocol (JSON and binary) and
 * gRPC-web, dispatched by path, plus a health check. `auth serve` runs it on
 * `Deno.serve`; the `./auth-handler` export hands it to `deno serve` or a
 * serverless Deno platform unchanged (docs/authentication.md#serverless).
 *
 * @module
 */
import { createConnectRouter } from "@connectrpc/connect";
import { createFetchHandler } from "@connectrpc/connect/protocol";
import { RPC_MAX_MESSAGE_BYTES } from "../auth/constants.ts";
import type { AuthTokenService } from "./auth_service.ts";

/** A health check path for load balancers and scripts; answers `ok`. */
export const HEALTH_PATH = "/healthz";

/** What the HTTP server tells the handler about a request (`Deno.ServeHandlerInfo` fits). */
export interface RequestInfo {
  /** Settles once the response has been sent (or the request was abandoned). */
  readonly completed?: Promise<void>;
}

/** Answers one HTTP request to the auth service. */
export type AuthFetchHandler = (request: Request, info?: RequestInfo) => Promise<Response>;

/**
 * The fetch handler of `service`: the RPC routes it registers, `GET /healthz`, and a 404 naming
 * the service for anything else.
 *
 * @example
 * ```ts
 * const handle = authFetchHandler(service);
 * Deno.serve({ hostname: "127.0.0.1", port: 8443 }, handle);
 * ```
 */
export function authFetchHandler(service: AuthTokenService): AuthFetchHandler {
  const router = createConnectRouter({
    readMaxBytes: RPC_MAX_MESSAGE_BYTES,
    writeMaxBytes: RPC_MAX_MESSAGE_BYTES,
  });
  service.register(router);
  const handlers = new Map(
    router.handlers.map((handler) => [handler.requestPath, createFetchHandler(handler)]),
  );
  return (request, info) => {
    const path = new URL(request.url).pathname;
    if (path === HEALTH_PATH && request.method === "GET") {
      return Promise.resolve(new Response("ok\n"));
    }
    const handler = handlers.get(path);
    if (handler === undefined) {
      return Promise.resolve(
        new Response(`No RPC at ${path}: this is p2proxy.auth.v1.AuthService.\n`, { status: 404 }),
      );
    }
    return handler(detachSignal(request, info));
  };
}

/**
 * The same request with a signal of its own, which aborts once the response is done when the
 * server says when that is. Connect's handler reads `request.signal`, and `Deno.serve`'s own
 * signal still has legacy semantics that print a warning when read.
 */
function detachSignal(request: Request, info: RequestInfo | undefined): Request {
  const controller = new AbortController();
  info?.completed?.finally(() => controller.abort()).catch(() => {});
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal: controller.signal,
  });
}
