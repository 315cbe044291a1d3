/**
 * The exit's side of `/p2proxy/connect/1.0.0` (docs/exit-behaviour.md): read the request,
 * check the token and the limits, resolve the name here (socks5h, through
 * the `Resolver` port), check
 * EVERY resolved address against the egress policy, connect only to a
 * checked address (no second lookup: no DNS rebinding), answer with a status
 * that mirrors the SOCKS reply codes, then relay.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { SOCKS_REPLY } from "../core/codec/socks5.ts";
import { type EgressPolicy, isIpAddressLiteral } from "../core/domain/egress_policy.ts";
import { describeError } from "../core/errors.ts";
import { hostPort } from "../core/host_port.ts";
import type { PeerId } from "../core/ids.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { Resolver } from "../core/ports/resolver.ts";
import type { ConnectionInfo } from "../core/ports/network.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import {
  ConnectStatus,
  readConnectRequest,
  sendConnectResponse,
} from "../wire/connect_protocol.ts";
import { relay } from "../wire/relay.ts";
import type { ShareLimiter } from "./share_limiter.ts";
import { dialTcp, type TcpDialError } from "./tcp_dial.ts";
import { closeAndDrain } from "../wire/duplex.ts";

const logger = getLogger(["p2proxy", "exit"]);

/** Longest destination host name (RFC 1035 and the SOCKS5 length byte). */
const MAX_HOST_CHARS = 255;

/** Deadline for a proxy to send its ConnectRequest after opening the stream. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** Deadline for resolving a destination name. */
export const DNS_TIMEOUT_MS = 5_000;

/** Verdict of a token check. */
export type TokenVerdict = { readonly ok: true } | { readonly ok: false; readonly message: string };

/** What the exit service needs. */
export interface ExitServiceOptions {
  readonly egress: EgressPolicy;
  readonly events: EventSink;
  readonly maxSessions: number;
  readonly maxSessionsPerPeer: number;
  readonly connectTimeoutMs: number;
  /** 0 = none. */
  readonly idleTimeoutMs: number;
  /** Local address outgoing connections leave from. */
  readonly bindAddress?: string;
  /** Checks a proxy's token; absent = auth off. */
  readonly verifyToken?: (token: string, peer: PeerId) => Promise<TokenVerdict>;
  /** Resolves destination names (IP literals never reach it). */
  readonly resolver: Resolver;
  /** The `share` caps (docs/limits.md#share); absent = none. */
  readonly share?: ShareLimiter;
}

/** Serves connect requests; one instance per exit node. */
export class ExitService {
  readonly #options: ExitServiceOptions;
  readonly #sessions = new Map<string, { peer: PeerId; abort: AbortController }>();
  readonly #perPeer = new Map<PeerId, number>();
  #sequence = 0;
  #closed = false;

  constructor(options: ExitServiceOptions) {
    this.#options = options;
  }

  /** Sessions being served right now. */
  get activeSessions(): number {
    return this.#sessions.size;
  }

  /** The stream handler to register for the connect protocol. */
  readonly handler = (stream: DuplexStream, remote: ConnectionInfo): void => {
    this.#serve(stream, remote).catch((error) => {
      logger.error("An exit session failed unexpectedly: {error}", { error: describeError(error) });
      stream.abort(error instanceof Error ? error : new Error(String(error)));
    });
  };

  /** Stops accepting sessions and resets those still running. */
  close(): void {
    this.#closed = true;
    for (const session of this.#sessions.values()) {
      session.abort.abort(new Error("The exit is shutting down."));
    }
  }

  async #serve(rawStream: DuplexStream, remote: ConnectionInfo): Promise<void> {
    const peer = remote.peerId;
    let request;
    let stream: DuplexStream;
    // A timer cleared as soon as the request is in (AbortSignal.timeout would stay armed for
    // the full 10 s after every CONNECT, with its signal and listeners).
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DOMException("No connect request in time.", "TimeoutError")),
      REQUEST_TIMEOUT_MS,
    );
    try {
      ({ request, stream } = await readConnectRequest(rawStream, deadline.signal));
    } catch (error) {
      logger.debug("Dropped a connect stream from {peer}: {error}", {
        peer,
        error: describeError(error),
      });
      rawStream.abort(new Error("Bad or missing connect request."));
      return;
    } finally {
      clearTimeout(timer);
    }
    const target = hostPort(request.host, request.port);
    const refuse = async (status: ConnectStatus, reason: string, message: string) => {
      // Logged once, by the event sink (which counts a flood of them instead of writing each).
      this.#options.events.emit({ type: "exit-denied", peerId: peer, target, reason, message });
      try {
        await sendConnectResponse(stream, { status, message, reason });
      } catch {
        return stream.abort();
      }
      // Read on to the proxy's end: its reset must reach this stream (a pooled TLS connection).
      await closeAndDrain(stream);
    };

    if (this.#closed) {
      return await refuse(ConnectStatus.GENERAL_FAILURE, "shutdown", "The exit is shutting down.");
    }
    const invalid = invalidTarget(request.host, request.port);
    if (invalid) return await refuse(ConnectStatus.GENERAL_FAILURE, "invalid-request", invalid);

    if (this.#options.verifyToken) {
      const verdict = await this.#options.verifyToken(request.token, peer);
      if (!verdict.ok) return await refuse(ConnectStatus.NOT_ALLOWED, "auth", verdict.message);
    }
    const share = this.#options.share?.admit(this.#sessions.size);
    if (share && !share.ok) {
      // A status the proxy maps to "try another exit" (docs/wire-protocols.md#connect-protocol).
      return await refuse(ConnectStatus.GENERAL_FAILURE, "full", share.message);
    }
    if (this.#sessions.size >= this.#options.maxSessions) {
      return await refuse(
        ConnectStatus.GENERAL_FAILURE,
        "limit",
        `The exit is serving its maximum of ${this.#options.maxSessions} sessions; try again later.`,
      );
    }
    if ((this.#perPeer.get(peer) ?? 0) >= this.#options.maxSessionsPerPeer) {
      return await refuse(
        ConnectStatus.GENERAL_FAILURE,
        "limit",
        `This proxy already has ${this.#options.maxSessionsPerPeer} sessions open on this exit; try again later.`,
      );
    }

    const sessionId = request.sessionId || `exit-${++this.#sequence}`;
    const abort = new AbortController();
    this.#sessions.set(sessionId, { peer, abort });
    this.#perPeer.set(peer, (this.#perPeer.get(peer) ?? 0) + 1);
    this.#options.share?.update(this.#sessions.size);
    try {
      await this.#connectAndRelay(
        stream,
        peer,
        request.host,
        request.port,
        sessionId,
        abort.signal,
        refuse,
      );
    } finally {
      this.#sessions.delete(sessionId);
      const left = (this.#perPeer.get(peer) ?? 1) - 1;
      if (left <= 0) this.#perPeer.delete(peer);
      else this.#perPeer.set(peer, left);
      this.#options.share?.update(this.#sessions.size);
    }
  }

  async #connectAndRelay(
    stream: DuplexStream,
    peer: PeerId,
    host: string,
    port: number,
    sessionId: string,
    signal: AbortSignal,
    refuse: (status: ConnectStatus, reason: string, message: string) => Promise<void>,
  ): Promise<void> {
    let addresses: readonly string[];
    try {
      addresses = await this.#resolve(host, signal);
    } catch (error) {
      return await refuse(ConnectStatus.HOST_UNREACHABLE, "dns", describeError(error));
    }
    const verdict = this.#options.egress.checkAll(addresses, port);
    if (!verdict.allowed) {
      return await refuse(
        ConnectStatus.NOT_ALLOWED,
        verdict.reason,
        `The exit's egress policy refuses ${hostPort(host, port)}: ${verdict.detail}`,
      );
    }

    let dialed;
    let lastError: TcpDialError | undefined;
    for (const address of verdict.addresses) {
      try {
        dialed = await dialTcp(address, port, {
          timeoutMs: this.#options.connectTimeoutMs,
          ...(this.#options.bindAddress ? { bindAddress: this.#options.bindAddress } : {}),
        });
        break;
      } catch (error) {
        lastError = error as TcpDialError;
      }
    }
    if (!dialed) {
      const reason = lastError?.code ?? "failed";
      return await refuse(
        lastError?.replyCode ?? SOCKS_REPLY.generalFailure,
        reason,
        lastError?.message ?? "no address",
      );
    }

    const target = hostPort(host, port);
    try {
      await sendConnectResponse(stream, {
        status: ConnectStatus.SUCCEEDED,
        boundHost: dialed.localHost,
        boundPort: dialed.localPort,
      });
    } catch (error) {
      dialed.conn.close();
      stream.abort();
      logger.debug("The proxy went away before the session started: {error}", {
        error: describeError(error),
      });
      return;
    }
    this.#options.events.emit({ type: "exit-session-start", sessionId, peerId: peer, target });
    const shared = this.#options.share ? this.#options.share.meter(stream) : stream;
    const result = await relay(dialed.conn, shared, {
      idleTimeoutMs: this.#options.idleTimeoutMs,
      signal,
    });
    this.#options.events.emit({
      type: "exit-session-end",
      sessionId,
      peerId: peer,
      bytesUp: result.bytesFromStream,
      bytesDown: result.bytesFromTcp,
    });
  }

  /** An IP literal as it is; a name through the resolver, within {@link DNS_TIMEOUT_MS}. */
  async #resolve(host: string, session: AbortSignal): Promise<readonly string[]> {
    const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
    if (isIpAddressLiteral(bare)) return [bare];
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`No answer within ${DNS_TIMEOUT_MS} ms.`)),
      DNS_TIMEOUT_MS,
    );
    try {
      return await this.#options.resolver.resolve(
        bare,
        AbortSignal.any([session, deadline.signal]),
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Why a requested target is malformed, or undefined when it is fine. */
function invalidTarget(host: string, port: number): string | undefined {
  if (host.length === 0 || host.length > MAX_HOST_CHARS) {
    return `The host must be 1..${MAX_HOST_CHARS} characters.`;
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f\s]/.test(host)) {
    return "The host contains control characters or spaces.";
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return `Port ${port} is not in 1..65535.`;
  }
  return undefined;
}
