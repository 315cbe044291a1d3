/**
 * Serves the auth service over HTTP.
 *
 * - The main listener is `Deno.serve` running the service's fetch handler
 *   (`fetch_handler.ts`): the Connect protocol (JSON and binary) and
 *   gRPC-web, over HTTP/1.1 and h2c.
 * - Real gRPC needs HTTP/2 response trailers, which `Deno.serve` does not
 *   send (a gRPC client fails with "missing status"), so gRPC gets an
 *   optional second port served by `node:http2` with `connectNodeAdapter`.
 *   That port speaks HTTP/2 only (prior knowledge, or ALPN with TLS) and
 *   serves all three protocols to HTTP/2 clients.
 *
 * With TLS files, both listeners use TLS (the gRPC port also accepts
 * HTTP/1.1 through ALPN then).
 *
 * @module
 */
import { hostPort } from "../core/host_port.ts";
import { listenError } from "../wire/listen_error.ts";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { getLogger } from "@logtape/logtape";
import * as http2 from "node:http2";
import type { AuthTokenService } from "./auth_service.ts";
import { RPC_MAX_MESSAGE_BYTES } from "../auth/constants.ts";
import { authFetchHandler } from "./fetch_handler.ts";

const logger = getLogger(["p2proxy", "auth"]);

/** How long a stopping gRPC listener waits for open HTTP/2 sessions before cutting them. */
const GRPC_CLOSE_GRACE_MS = 2_000;

/** Where and how to serve. */
export interface AuthServerOptions {
  readonly service: AuthTokenService;
  /** An IP literal to bind both listeners to. */
  readonly hostname: string;
  /** Port of the Connect/gRPC-web listener; 0 lets the OS pick. */
  readonly port: number;
  /** Port of the gRPC listener; absent = no gRPC; 0 lets the OS pick. */
  readonly grpcPort?: number;
  /** PEM contents of the certificate chain and its key; absent = plain HTTP. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** A running auth server. */
export interface RunningAuthServer {
  /** Base URL of the Connect/gRPC-web listener, e.g. `http://127.0.0.1:8443`. */
  readonly url: string;
  readonly port: number;
  /** Base URL of the gRPC listener, when there is one. */
  readonly grpcUrl?: string;
  readonly grpcPort?: number;
  /** Stops both listeners; requests in flight finish first. */
  shutdown(): Promise<void>;
}

/** Starts the listeners; rejects when a port cannot be bound. */
export async function startAuthServer(options: AuthServerOptions): Promise<RunningAuthServer> {
  const scheme = options.tls ? "https" : "http";
  let main: Deno.HttpServer<Deno.NetAddr>;
  try {
    main = serveConnect(options);
  } catch (error) {
    throw listenError(error, {
      address: hostPort(options.hostname, options.port),
      purpose: "auth service",
      configKey: "listen",
    });
  }
  let grpc: GrpcListener | undefined;
  try {
    grpc = options.grpcPort === undefined ? undefined : await serveGrpc(options, options.grpcPort);
  } catch (error) {
    await main.shutdown();
    throw listenError(error, {
      address: hostPort(options.hostname, options.grpcPort ?? 0),
      purpose: "auth service gRPC",
      configKey: "grpc_port",
    });
  }
  const port = (main.addr as Deno.NetAddr).port;
  return {
    url: `${scheme}://${hostPort(options.hostname, port)}`,
    port,
    ...(grpc === undefined
      ? {}
      : { grpcUrl: `${scheme}://${hostPort(options.hostname, grpc.port)}`, grpcPort: grpc.port }),
    async shutdown() {
      await Promise.all([main.shutdown(), grpc?.close()]);
    },
  };
}

function serveConnect(options: AuthServerOptions): Deno.HttpServer<Deno.NetAddr> {
  const handle = authFetchHandler(options.service);
  return Deno.serve({
    hostname: options.hostname,
    port: options.port,
    ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
    onListen() {},
    onError(error) {
      logger.error("The auth service failed to answer a request: {error}", { error });
      return new Response("internal error\n", { status: 500 });
    },
  }, handle);
}

interface GrpcListener {
  readonly port: number;
  close(): Promise<void>;
}

async function serveGrpc(options: AuthServerOptions, port: number): Promise<GrpcListener> {
  const handler = connectNodeAdapter({
    routes: (router) => options.service.register(router),
    readMaxBytes: RPC_MAX_MESSAGE_BYTES,
    writeMaxBytes: RPC_MAX_MESSAGE_BYTES,
  });
  const server = options.tls
    ? http2.createSecureServer(
      { cert: options.tls.cert, key: options.tls.key, allowHTTP1: true },
      handler,
    )
    : http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error: Error) => {
    logger.error("The gRPC listener failed: {error}", { error });
  });
  const bound = server.address();
  return {
    port: typeof bound === "object" && bound !== null ? bound.port : port,
    close: () => closeHttp2(server, sessions),
  };
}

/** Stops accepting, asks open sessions to finish, and cuts them after a grace period. */
function closeHttp2(
  server: http2.Http2Server | http2.Http2SecureServer,
  sessions: Set<http2.ServerHttp2Session>,
): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      for (const session of sessions) session.destroy();
    }, GRPC_CLOSE_GRACE_MS);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    for (const session of sessions) session.close();
  });
}
