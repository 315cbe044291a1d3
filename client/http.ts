/**
 * `fetch()` through exits (docs/client.md#fetch): HTTP/1.1 over `connect()` sockets, with TLS
 * from the client to the destination for `https://` (the exit relays only ciphertext).
 *
 * Why these libraries:
 * - **undici** (npm) is the HTTP/1.1 client Node's own `fetch` is built on: a WHATWG `fetch`
 *   (redirects as `fetch` follows them, streamed bodies both ways, chunked and Content-Length,
 *   decompression, keep-alive) whose `Agent` takes a `connect` function returning any
 *   `node:stream` Duplex. Under Deno 2.9.6 it runs over such a Duplex with `--allow-net` alone.
 *   So there is no hand-written HTTP parser here.
 * - **`node:tls` `connect({ socket })`** wraps a Duplex (here: `Duplex.fromWeb` over the socket's
 *   streams) in a TLS client. Deno 2.9.6 implements it for any Duplex, not only `net.Socket`,
 *   and verifies the chain and the host name as Node does. `Deno.startTls` would need a
 *   `Deno.TcpConn`, and a loopback socket pair would need a listening port, which a client must
 *   not open.
 *
 * One undici `Agent` per selection (filters + session), so pooled keep-alive connections never
 * cross selections; agents are bounded (least recently used closed first) and all closed by
 * `close()`.
 *
 * @module
 */
import { isIP } from "node:net";
import { Duplex } from "node:stream";
import tls from "node:tls";
import { Agent, fetch as undiciFetch } from "undici";
import { ClientError } from "./client_error.ts";
import type { P2proxySocket } from "./socket.ts";

/** Most agents (selections with pooled connections) kept at once. */
export const MAX_HTTP_AGENTS = 64;
/** Deadline of a TLS handshake with the destination. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** An idle pooled connection is closed after this long (undici's own default is 4 s). */
const KEEP_ALIVE_TIMEOUT_MS = 4_000;
/** Statuses whose responses have no body (`new Response` refuses one). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** Opens a socket to `hostname:port` for the selection an agent serves. */
export type SocketOpener = (hostname: string, port: number) => P2proxySocket;

/** A `fetch` over sockets from exits; one per client. */
export class ExitHttp {
  readonly #agents = new Map<string, Agent>();
  readonly #caCerts: readonly string[];

  /** `caCerts`: PEM root certificates to trust instead of the built-in ones (a test's CA). */
  constructor(caCerts: readonly string[]) {
    this.#caCerts = caCerts;
  }

  /**
   * Fetches `input` with connections from `open`; `key` names the selection those connections
   * serve, so requests of one selection share pooled connections and no others do.
   */
  async fetch(
    input: string | URL | Request,
    init: RequestInit,
    key: string,
    open: SocketOpener,
  ): Promise<Response> {
    const dispatcher = this.#agentFor(key, open);
    const request = await toUndiciInit(input, init);
    let response;
    try {
      response = await undiciFetch(request.url, { ...request.init, dispatcher });
    } catch (error) {
      throw unwrapFetchError(error);
    }
    return toStandardResponse(response);
  }

  /** Closes every agent and its pooled connections. */
  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map((agent) => agent.destroy().catch(() => {})));
  }

  #agentFor(key: string, open: SocketOpener): Agent {
    let agent = this.#agents.get(key);
    if (agent) {
      this.#agents.delete(key);
    } else {
      agent = new Agent({
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        connect: (options, callback) => {
          this.#connect(options, open).then(
            (socket) => callback(null, socket as unknown as tls.TLSSocket),
            (error: Error) => callback(error, null),
          );
        },
      });
      const oldest = this.#agents.entries().next().value;
      if (oldest && this.#agents.size >= MAX_HTTP_AGENTS) {
        this.#agents.delete(oldest[0]);
        oldest[1].close().catch(() => {});
      }
    }
    this.#agents.set(key, agent);
    return agent;
  }

  /** A Duplex to the destination through an exit: plain, or TLS from here for `https:`. */
  async #connect(
    options: { hostname: string; port: string; protocol: string; servername?: string },
    open: SocketOpener,
  ): Promise<Duplex> {
    const hostname = options.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(options.port || (options.protocol === "https:" ? 443 : 80));
    const socket = open(hostname, port);
    await socket.opened;
    const plain = Duplex.fromWeb({ readable: socket.readable, writable: socket.writable });
    if (options.protocol !== "https:") return plain;
    return await this.#startTls(plain, hostname, options.servername);
  }

  #startTls(plain: Duplex, hostname: string, servername: string | undefined): Promise<Duplex> {
    const secure = tls.connect({
      socket: plain,
      host: hostname,
      // SNI carries names only (RFC 6066); the certificate is still checked against an IP.
      ...(isIP(hostname) === 0 ? { servername: servername || hostname } : {}),
      ALPNProtocols: ["http/1.1"],
      // As Node's `ca` (and Deno's node:tls, tried): these roots replace the built-in ones.
      // Adding them to `tls.rootCertificates` instead would need `--allow-sys=ca`.
      ...(this.#caCerts.length > 0 ? { ca: [...this.#caCerts] } : {}),
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        fail(
          new ClientError(
            "timeout",
            `The TLS handshake with ${hostname} took longer than ${TLS_HANDSHAKE_TIMEOUT_MS} ms.`,
          ),
        );
      }, TLS_HANDSHAKE_TIMEOUT_MS);
      const fail = (error: Error) => {
        clearTimeout(timer);
        secure.destroy();
        plain.destroy();
        reject(error);
      };
      secure.once("error", fail);
      secure.once("secureConnect", () => {
        clearTimeout(timer);
        secure.off("error", fail);
        resolve(secure);
      });
    });
  }
}

/** A request in the form undici's `fetch` takes, from any `fetch` input. */
async function toUndiciInit(
  input: string | URL | Request,
  init: RequestInit,
): Promise<{ url: string; init: Parameters<typeof undiciFetch>[1] }> {
  const base = input instanceof Request ? input : undefined;
  const url = base ? base.url : String(input);
  const headers = new Headers(init.headers ?? base?.headers);
  let body: unknown = init.body !== undefined ? init.body : base?.body ?? null;
  // FormData and URLSearchParams are serialised here (with their content type): undici knows
  // only its own classes of them.
  if (body instanceof FormData || body instanceof URLSearchParams) {
    const encoded = new Response(body);
    const type = encoded.headers.get("content-type");
    if (type && !headers.has("content-type")) headers.set("content-type", type);
    body = new Uint8Array(await encoded.arrayBuffer());
  }
  const signal = init.signal ?? base?.signal;
  const redirect = init.redirect ?? base?.redirect;
  return {
    url,
    init: {
      method: init.method ?? base?.method ?? "GET",
      headers: [...headers],
      body: body as never,
      ...(body instanceof ReadableStream ? { duplex: "half" as const } : {}),
      ...(signal ? { signal } : {}),
      ...(redirect ? { redirect } : {}),
    },
  };
}

/**
 * Each body stream handed out, to the undici Response it came from. undici cancels a fetch
 * Response's body stream once that Response is garbage collected (a FinalizationRegistry in
 * undici's body.js) if the stream is still unread; the platform Response that now owns the stream
 * does not keep undici's alive, so a GC between `fetch()` and `text()` left a cancelled body
 * ("Body already consumed"). Keyed by the stream (not the platform Response) so a caller that
 * keeps only `response.body` is covered too. A WeakMap holds the undici Response no longer than
 * the stream lives, so dropping an unread body still ends as dropping undici's Response does.
 */
const undiciResponseOfBody = new WeakMap<object, object>();

/** undici's Response as the platform's own, with its url and redirected flag. */
function toStandardResponse(response: Awaited<ReturnType<typeof undiciFetch>>): Response {
  const headers = new Headers();
  for (const [name, value] of response.headers) headers.append(name, value);
  const body = NULL_BODY_STATUSES.has(response.status)
    ? null
    : response.body as unknown as ReadableStream<Uint8Array> | null;
  if (body) undiciResponseOfBody.set(body, response);
  const standard = new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
  Object.defineProperty(standard, "url", { value: response.url });
  Object.defineProperty(standard, "redirected", { value: response.redirected });
  return standard;
}

/**
 * fetch's `TypeError: fetch failed` hides why; a connect failure through an exit is more use to
 * the caller as the {@link ClientError} it wraps. Anything else (an abort, a bad certificate) is
 * thrown as `fetch` throws it.
 */
function unwrapFetchError(error: unknown): unknown {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof ClientError) return cause;
  }
  return error;
}
