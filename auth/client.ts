/**
 * A client of `p2proxy.auth.v1.AuthService` over any of its three
 * transports: the Connect protocol (binary, over fetch: HTTP/1.1 or h2),
 * gRPC-web (over fetch), or gRPC (HTTP/2 through `node:http2`; needs the
 * service's `grpc_port`).
 *
 * @module
 */
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { AuthService } from "../proto/gen/p2proxy/auth/v1/auth_pb.ts";
import { describeError } from "../core/errors.ts";
import { DEFAULT_RPC_TIMEOUT_MS, RPC_MAX_MESSAGE_BYTES } from "./constants.ts";
import type { SignedIssueTokenRequest } from "./issue_request.ts";

/** A token and when it expires. */
export interface IssuedToken {
  readonly token: string;
  readonly expiresAtMs: bigint;
}

/** One published key. */
export interface PublishedKey {
  readonly keyId: string;
  readonly algorithm: string;
  readonly publicKey: Uint8Array;
}
/** The transports a client can use. */
export const AUTH_TRANSPORTS = ["connect", "grpc-web", "grpc"] as const;

/** How a client talks to the service. */
export type AuthTransportKind = typeof AUTH_TRANSPORTS[number];

/** HTTP/2 sessions of the gRPC transport close after this long unused (keeps idle sockets off). */
const GRPC_IDLE_CONNECTION_TIMEOUT_MS = 15_000;

/** Where and how to reach the service. */
export interface AuthClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:8443` (the gRPC port for `grpc`). */
  readonly url: string;
  readonly transport?: AuthTransportKind;
  /** Deadline of one call. */
  readonly timeoutMs?: number;
  /** A PEM CA certificate to trust besides the system's (a private CA or a self-signed service). */
  readonly caCert?: string;
}

/** Whether a failed call is worth retrying. */
export type RpcFailureKind =
  /** The service answered no: retrying cannot help until the configuration changes. */
  | "refused"
  /** The service could not be reached or failed: retry later. */
  | "unreachable";

/** What went wrong with a call, for a person and for the retry logic. */
export interface RpcFailure {
  readonly kind: RpcFailureKind;
  /** The Connect code name, e.g. `unauthenticated`. */
  readonly code: string;
  readonly message: string;
}

/** Codes that are a definitive answer about this client's request. */
const REFUSAL_CODES = new Set<Code>([
  Code.Unauthenticated,
  Code.PermissionDenied,
  Code.InvalidArgument,
  Code.FailedPrecondition,
  // A URL that serves something else answers 404, which Connect reads as unimplemented.
  Code.Unimplemented,
]);

/** Classifies a thrown error of a call. */
export function describeRpcFailure(error: unknown): RpcFailure {
  const connect = ConnectError.from(error);
  const code = Code[connect.code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
  return {
    kind: REFUSAL_CODES.has(connect.code) ? "refused" : "unreachable",
    code,
    message: connect.rawMessage || describeError(error),
  };
}

/** A client of the auth service. Call `close()` when done: it holds connections. */
export class AuthServiceClient {
  readonly url: string;
  readonly transport: AuthTransportKind;
  readonly #client: ReturnType<typeof createClient<typeof AuthService>>;
  readonly #timeoutMs: number;
  readonly #sessions: Http2SessionManager | undefined;
  readonly #httpClient: Deno.HttpClient | undefined;

  /** A client for `options.url`; nothing is connected until the first call. */
  constructor(options: AuthClientOptions) {
    this.url = options.url;
    this.transport = options.transport ?? "connect";
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
    let transport: Transport;
    if (this.transport === "grpc") {
      this.#sessions = new Http2SessionManager(
        options.url,
        { idleConnectionTimeoutMs: GRPC_IDLE_CONNECTION_TIMEOUT_MS },
        options.caCert === undefined ? {} : { ca: options.caCert },
      );
      transport = createGrpcTransport({
        baseUrl: options.url,
        sessionManager: this.#sessions,
        readMaxBytes: RPC_MAX_MESSAGE_BYTES,
      });
    } else {
      this.#httpClient = options.caCert === undefined
        ? undefined
        : Deno.createHttpClient({ caCerts: [options.caCert] });
      const client = this.#httpClient;
      const fetchFn: typeof fetch = client === undefined
        ? (input, init) => fetch(input, init)
        : (input, init) => fetch(input, { ...init, client });
      const common = { baseUrl: options.url, fetch: fetchFn, readMaxBytes: RPC_MAX_MESSAGE_BYTES };
      transport = this.transport === "grpc-web"
        ? createGrpcWebTransport(common)
        : createConnectTransport({ ...common, useBinaryFormat: true });
    }
    this.#client = createClient(AuthService, transport);
  }

  /** Calls IssueToken. Throws what the transport throws (see {@link describeRpcFailure}). */
  async issueToken(request: SignedIssueTokenRequest, signal?: AbortSignal): Promise<IssuedToken> {
    const response = await this.#client.issueToken(
      { ...request },
      { timeoutMs: this.#timeoutMs, ...(signal ? { signal } : {}) },
    );
    return { token: response.token, expiresAtMs: response.expiresAtMs };
  }

  /** Calls PublicKeys. */
  async publicKeys(signal?: AbortSignal): Promise<PublishedKey[]> {
    const response = await this.#client.publicKeys(
      {},
      { timeoutMs: this.#timeoutMs, ...(signal ? { signal } : {}) },
    );
    return response.keys.map(({ keyId, algorithm, publicKey }) => ({
      keyId,
      algorithm,
      publicKey,
    }));
  }

  /** Closes the connections the client holds. */
  close(): void {
    this.#sessions?.abort();
    this.#httpClient?.close();
  }
}
