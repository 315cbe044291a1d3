/**
 * One HTTP proxy connection, top to bottom (docs/proxy-behaviour.md#http): read a request head
 * (bounded, within the handshake deadline), authenticate it (`Proxy-Authorization: Basic`, the
 * username grammar), then either
 * - `CONNECT host:port`: ask the router for a stream to an exit that has CONFIRMED the
 *   destination connection, answer `200` only then, and relay; or
 * - an absolute-form request (`GET http://host/path`, any method): forward it, hop-by-hop
 *   headers dropped, over the exit connection of its host (opened on first use, one per host),
 *   stream the body both ways, and read the next request on the same client connection.
 *
 * Failures are one status each, with a one-line body naming the cause: 400 malformed,
 * 407 credentials, 403 the exit's egress policy, 502 refused or unreachable, 503 no exit,
 * 504 timeout, 431 a head over 16 KiB.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  type BodyFraming,
  ChunkedTracker,
  CONNECT_ESTABLISHED,
  forwardRequestHead,
  forwardResponseHead,
  headerValues,
  type HttpRequestHead,
  parseAbsoluteTarget,
  parseConnectTarget,
  parseRequestHead,
  parseResponseHead,
  proxyCredentials,
  requestFraming,
  responseFraming,
  statusResponse,
  wantsClose,
} from "../../core/codec/http1.ts";
import { SOCKS_REPLY } from "../../core/codec/socks5.ts";
import type { ServerConfig } from "../../core/config/proxy_config.ts";
import { authenticateClient, selectionForClient } from "../../core/domain/client_auth.ts";
import type { RoutingRequest } from "../../core/domain/username.ts";
import { describeError } from "../../core/errors.ts";
import { hostPort } from "../../core/host_port.ts";
import type { PeerId } from "../../core/ids.ts";
import type {
  ClientConnection,
  ConnectionHandler,
  InboundContext,
  SessionOutcome,
} from "../../core/ports/inbound.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { closeQuietly, writeAll } from "../../wire/tcp_conn.ts";
import { ByteReader } from "../_shared/byte_reader.ts";
import { relaySession } from "../_shared/relay_session.ts";

const logger = getLogger(["p2proxy", "http"]);

/** The realm of the `Proxy-Authenticate` challenge. */
export const PROXY_REALM = "p2proxy";

/** How long a kept-alive client connection may wait for its next request head. */
export const KEEP_ALIVE_MS = 60_000;

/** How long the destination may take to start its response (then 504). */
export const RESPONSE_HEAD_TIMEOUT_MS = 60_000;

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

const CHALLENGE = [["Proxy-Authenticate", `Basic realm="${PROXY_REALM}"`]] as const;

/**
 * The status an HTTP door answers for a session the router could not open: 503 no exit matches,
 * 504 timeout, 429 the account's connection limit (docs/limits.md), 403 refused by the exit's
 * egress policy or an exhausted quota, 502 anything else the exit or the destination refused.
 *
 * @example
 * ```ts
 * statusForFailure({ ok: false, replyCode: 5, stage: "refused", message: "refused" }); // 502
 * ```
 */
export function statusForFailure(outcome: Extract<SessionOutcome, { ok: false }>): number {
  if (outcome.stage === "no-peer") return 503;
  if (outcome.reason === "timeout" || outcome.replyCode === SOCKS_REPLY.ttlExpired) return 504;
  if (outcome.reason === "limit") return 429;
  if (outcome.replyCode === SOCKS_REPLY.notAllowed && outcome.reason !== "auth") return 403;
  return 502;
}

/** The HTTP handler of one configured server; sessions are numbered `1080-h1`, `1080-h2`… */
export function httpHandler(server: ServerConfig, context: InboundContext): ConnectionHandler {
  let sequence = 0;
  return (conn, signal) =>
    new HttpConnection(conn, server, context, signal, () => `${server.port}-h${++sequence}`)
      .serve();
}

/** One exit connection of a kept-alive client, to one host. */
interface Upstream {
  readonly stream: DuplexStream;
  readonly reader: ByteReader;
  readonly peerId: PeerId;
  readonly sessionId: string;
  bytesUp: number;
  bytesDown: number;
}

/** What the client authenticated as, for the router. */
interface Authorized {
  readonly account?: string;
  readonly routing?: RoutingRequest;
}

/** A client's connection to the HTTP door, with its exit connections by host. */
class HttpConnection {
  readonly #conn: ClientConnection;
  readonly #server: ServerConfig;
  readonly #context: InboundContext;
  readonly #signal: AbortSignal;
  readonly #nextSessionId: () => string;
  readonly #client: ByteReader;
  readonly #upstreams = new Map<string, Upstream>();

  constructor(
    conn: ClientConnection,
    server: ServerConfig,
    context: InboundContext,
    signal: AbortSignal,
    nextSessionId: () => string,
  ) {
    this.#conn = conn;
    this.#server = server;
    this.#context = context;
    this.#signal = signal;
    this.#nextSessionId = nextSessionId;
    this.#client = ByteReader.ofConn(conn);
  }

  /** Serves requests until the client closes, asks to close, or a failure ends the connection. */
  async serve(): Promise<void> {
    const onAbort = () => {
      // The proxy stops: end the client's connection and every exit connection at once.
      closeQuietly(this.#conn);
      for (const upstream of this.#upstreams.values()) upstream.stream.abort();
    };
    this.#signal.addEventListener("abort", onAbort);
    try {
      let first = true;
      while (!this.#signal.aborted) {
        const deadline = setTimeout(
          () => closeQuietly(this.#conn),
          first ? this.#server.handshakeTimeoutMs : KEEP_ALIVE_MS,
        );
        let parsed;
        try {
          parsed = await this.#client.parse(parseRequestHead);
        } catch {
          return; // The deadline or the client closed the connection.
        } finally {
          clearTimeout(deadline);
        }
        first = false;
        if (parsed.kind === "closed") return;
        if (parsed.kind === "error") {
          logger.debug("HTTP request on port {port} refused: {message}", {
            port: this.#server.port,
            message: parsed.message,
          });
          await this.#answer(parsed.status, parsed.message, true);
          return;
        }
        const keep = await this.#request(parsed.head);
        if (!keep) return;
      }
    } catch (error) {
      logger.debug("HTTP connection on port {port} ended: {error}", {
        port: this.#server.port,
        error: describeError(error),
      });
    } finally {
      this.#signal.removeEventListener("abort", onAbort);
      for (const upstream of this.#upstreams.values()) this.#endUpstream(upstream);
    }
  }

  /** Serves one request; true when the connection stays open for the next. */
  async #request(head: HttpRequestHead): Promise<boolean> {
    const framing = requestFraming(head);
    if (typeof framing === "string") {
      await this.#answer(400, framing, true);
      return false;
    }
    // Without a body to skip, a refused request leaves the connection usable.
    const reusable = framing.kind === "none" && !wantsClose(head.version, head.headers);
    const authorized = await this.#authorize(head, reusable);
    if (authorized === undefined) return reusable;
    if (head.method === "CONNECT") {
      await this.#connect(head, authorized);
      return false;
    }
    return await this.#forward(head, framing, authorized);
  }

  /** Checks the request's credentials; undefined (after a 407) when they do not pass. */
  async #authorize(head: HttpRequestHead, reusable: boolean): Promise<Authorized | undefined> {
    const credentials = proxyCredentials(head.headers);
    if (credentials.kind === "malformed") {
      await this.#answer(407, credentials.message, !reusable, CHALLENGE);
      return undefined;
    }
    const outcome = authenticateClient(
      this.#server,
      credentials.kind === "basic" ? credentials : undefined,
    );
    if (!outcome.ok) {
      // A refused username is the operator's to see (it names the bad key); none given is noise.
      logger[outcome.reason === "missing" ? "debug" : "info"](
        "HTTP proxy authentication on port {port} failed: {message}",
        {
          port: this.#server.port,
          message: outcome.message,
        },
      );
      this.#context.events.emit({
        type: "socks-rejected",
        port: this.#server.port,
        reason: "auth",
      });
      await this.#answer(407, outcome.message, !reusable, CHALLENGE);
      return undefined;
    }
    return {
      ...(outcome.account === undefined ? {} : { account: outcome.account }),
      ...(outcome.routing === undefined ? {} : { routing: outcome.routing }),
    };
  }

  /** A CONNECT: the exit's confirmed connection, `200`, then the relay until both ends are done. */
  async #connect(head: HttpRequestHead, authorized: Authorized): Promise<void> {
    const target = parseConnectTarget(head.target);
    if (typeof target === "string") {
      await this.#answer(400, target, true);
      return;
    }
    const sessionId = this.#nextSessionId();
    const outcome = await this.#open(target.host, target.port, sessionId, authorized);
    if (!outcome.ok) return;
    await relaySession(this.#conn, outcome, this.#context, {
      reply: () => CONNECT_ESTABLISHED,
      early: this.#client.take(),
      sessionId,
      port: this.#server.port,
      target: hostPort(target.host, target.port),
      idleTimeoutMs: this.#server.idleTimeoutMs,
      signal: this.#signal,
    });
  }

  /** An absolute-form request: forwarded over its host's exit connection; true to keep alive. */
  async #forward(
    head: HttpRequestHead,
    framing: BodyFraming,
    authorized: Authorized,
  ): Promise<boolean> {
    const target = parseAbsoluteTarget(head.target);
    if (typeof target === "string") {
      await this.#answer(400, target, true);
      return false;
    }
    const key = hostPort(target.host, target.port);
    let upstream = this.#upstreams.get(key);
    const reused = upstream !== undefined;
    if (!upstream) {
      const sessionId = this.#nextSessionId();
      const outcome = await this.#open(target.host, target.port, sessionId, authorized, framing);
      if (!outcome.ok) return framing.kind === "none" && !wantsClose(head.version, head.headers);
      const stream = outcome.stream;
      upstream = {
        stream,
        reader: new ByteReader(() => stream.read()),
        peerId: outcome.peerId,
        sessionId,
        bytesUp: 0,
        bytesDown: 0,
      };
      this.#upstreams.set(key, upstream);
      if (this.#signal.aborted) {
        // The proxy stopped while the exit connected: this connection is not served.
        this.#dropUpstream(key, upstream);
        return false;
      }
      this.#context.events.emit({
        type: "session-new",
        sessionId,
        port: this.#server.port,
        target: key,
        peerId: outcome.peerId,
      });
    }
    const current = upstream;
    const router = this.#context.router;
    const toUpstream = async (chunk: Uint8Array) => {
      await current.stream.write(chunk);
      current.bytesUp += chunk.byteLength;
      router.countBytes?.(current.peerId, "up", chunk.byteLength);
    };
    const toClient = async (chunk: Uint8Array) => {
      await writeAll(this.#conn, chunk);
      current.bytesDown += chunk.byteLength;
      router.countBytes?.(current.peerId, "down", chunk.byteLength);
    };

    // The request: its head, then its body as it comes. A client that waits for "100 Continue"
    // gets it from the proxy (the body is streamed anyway), and the destination never sees it.
    const expectsContinue = headerValues(head.headers, "expect").some((v) =>
      v.toLowerCase() === "100-continue"
    );
    const forwarded = expectsContinue
      ? { ...head, headers: head.headers.filter(([name]) => name.toLowerCase() !== "expect") }
      : head;
    try {
      if (expectsContinue && framing.kind !== "none") await writeAll(this.#conn, CONTINUE);
      await toUpstream(forwardRequestHead(forwarded, target));
      await pipeBody(this.#client, framing, toUpstream);
    } catch (error) {
      this.#dropUpstream(key, current);
      await this.#answer(
        502,
        `Sending the request to ${key} failed: ${describeError(error)}`,
        true,
      );
      return false;
    }

    // The response: its head (1xx heads passed on first), then its body.
    while (true) {
      const timer = setTimeout(
        () => current.stream.abort(new Error("response timeout")),
        RESPONSE_HEAD_TIMEOUT_MS,
      );
      let parsed;
      try {
        parsed = await current.reader.parse(parseResponseHead);
      } catch (error) {
        parsed = { kind: "error" as const, status: 502, message: describeError(error) };
      } finally {
        clearTimeout(timer);
      }
      if (parsed.kind !== "ok") {
        this.#dropUpstream(key, current);
        if (reused && parsed.kind === "closed" && !parsed.partial && framing.kind === "none") {
          // The destination closed a kept-alive connection before this request reached it:
          // a request without a body is sent again once, over a new exit connection.
          return await this.#forward(head, framing, authorized);
        }
        const message = parsed.kind === "closed"
          ? `${key} closed the connection without a response.`
          : parsed.message;
        await this.#answer(/timeout/.test(message) ? 504 : 502, message, true);
        return false;
      }
      const response = parsed.head;
      if (response.status >= 100 && response.status < 200) {
        if (response.status === 101) {
          this.#dropUpstream(key, current);
          await this.#answer(502, "Protocol upgrades are not proxied; use CONNECT.", true);
          return false;
        }
        await toClient(forwardResponseHead(response, false));
        continue;
      }
      const responseBody = responseFraming(response, head.method);
      if (typeof responseBody === "string") {
        this.#dropUpstream(key, current);
        await this.#answer(502, responseBody, true);
        return false;
      }
      const close = wantsClose(head.version, head.headers) ||
        responseBody.kind === "until-close";
      try {
        await toClient(forwardResponseHead(response, close));
        await pipeBody(current.reader, responseBody, toClient);
      } catch (error) {
        this.#dropUpstream(key, current);
        logger.debug("Relaying the response of {target} failed: {error}", {
          target: key,
          error: describeError(error),
        });
        return false;
      }
      if (responseBody.kind === "until-close" || wantsClose(response.version, response.headers)) {
        this.#dropUpstream(key, current);
      }
      return !close;
    }
  }

  /** Asks the router for the session; on failure answers the client and logs why. */
  async #open(
    host: string,
    targetPort: number,
    sessionId: string,
    authorized: Authorized,
    framing?: BodyFraming,
  ): Promise<SessionOutcome> {
    const port = this.#server.port;
    const selection = selectionForClient(this.#server.filters, authorized.routing);
    const outcome = await this.#context.router.open({
      port,
      host,
      targetPort,
      sessionId,
      signal: this.#signal,
      ...(authorized.account === undefined ? {} : { account: authorized.account }),
      ...(selection === undefined ? {} : { selection }),
    });
    if (!outcome.ok) {
      const status = statusForFailure(outcome);
      this.#context.events.emit({
        type: "session-failed",
        port,
        stage: outcome.stage,
        replyCode: outcome.replyCode,
      });
      logger.info("HTTP {target} on port {port} failed ({status}): {message}", {
        target: hostPort(host, targetPort),
        port,
        status,
        message: outcome.message,
      });
      const close = framing !== undefined && framing.kind !== "none";
      await this.#answer(status, outcome.message, close || framing === undefined);
    }
    return outcome;
  }

  /** Writes a status of the proxy's own, ignoring a client already gone. */
  async #answer(
    status: number,
    message: string,
    close: boolean,
    extra: readonly (readonly [string, string])[] = [],
  ): Promise<void> {
    await writeAll(this.#conn, statusResponse(status, message, { extra, close })).catch(() => {});
  }

  #dropUpstream(key: string, upstream: Upstream): void {
    this.#upstreams.delete(key);
    this.#endUpstream(upstream);
  }

  #endUpstream(upstream: Upstream): void {
    upstream.stream.abort();
    this.#context.events.emit({
      type: "session-end",
      sessionId: upstream.sessionId,
      port: this.#server.port,
      peerId: upstream.peerId,
      bytesUp: upstream.bytesUp,
      bytesDown: upstream.bytesDown,
    });
  }
}

/** Passes one message body from `reader` to `sink` as it comes, never holding it whole. */
async function pipeBody(
  reader: ByteReader,
  framing: BodyFraming,
  sink: (chunk: Uint8Array) => Promise<void>,
): Promise<void> {
  switch (framing.kind) {
    case "none":
      return;
    case "length": {
      let remaining = framing.length;
      while (remaining > 0) {
        const chunk = await reader.chunk();
        if (chunk === null) throw new Error(`The body ended ${remaining} bytes early.`);
        const take = Math.min(remaining, chunk.byteLength);
        reader.unread(chunk.subarray(take));
        await sink(chunk.subarray(0, take));
        remaining -= take;
      }
      return;
    }
    case "chunked": {
      const tracker = new ChunkedTracker();
      while (!tracker.done) {
        const chunk = await reader.chunk();
        if (chunk === null) throw new Error("The chunked body ended before its last chunk.");
        const result = tracker.feed(chunk);
        if ("error" in result) throw new Error(result.error);
        reader.unread(chunk.subarray(result.used));
        await sink(chunk.subarray(0, result.used));
      }
      return;
    }
    case "until-close":
      while (true) {
        const chunk = await reader.chunk();
        if (chunk === null) return;
        await sink(chunk);
      }
  }
}
