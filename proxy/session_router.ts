/**
 * The proxy's half of one CONNECT (docs/proxy-behaviour.md): the `SessionRouter` a door asks for
 * a stream. Top to bottom: the port's exit (from the discovery actor, waiting for its one shared
 * connect when it has none), a stream to it (the `stream-opener` capability, under the server's
 * open timeout and per-peer limit), the ConnectRequest with this node's token, and the exit's
 * answer — success only once the exit has connected to the destination.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { SOCKS_REPLY } from "../core/codec/socks5.ts";
import type { ServerConfig } from "../core/config/proxy_config.ts";
import { describeFilters } from "../core/domain/filters.ts";
import type { ExitSelection } from "../core/domain/server.ts";
import { describeError } from "../core/errors.ts";
import type { PeerId } from "../core/ids.ts";
import type { Authenticator } from "../core/ports/authenticator.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type {
  SessionOutcome,
  SessionRequest,
  SessionRouter,
  UdpAssociationOutcome,
  UdpAssociationRequest,
} from "../core/ports/inbound.ts";
import { type DuplexStream, StreamError, type StreamOpener } from "../core/ports/stream_opener.ts";
import { CONNECT_PROTOCOL, ConnectStatus, requestConnect } from "../wire/connect_protocol.ts";
import { requestUdpAssociation, UDP_PROTOCOL } from "../wire/udp_protocol.ts";
import type { AccountLease, AccountLimiter } from "./account_limiter.ts";

const logger = getLogger(["p2proxy", "proxy"]);

/** Where the router gets a port's exit; the discovery actor is one. */
export interface ExitChooser {
  /** The port's exit, waiting (bounded) for its connect when it has none; undefined when none came. */
  exitForSession(port: number, signal?: AbortSignal): Promise<PeerId | undefined>;
  /** The exit does not speak the connect protocol: forget it and choose another. */
  reportUnusable(peer: PeerId): void;
  /**
   * The exit of a selection that came with the session (its own filters and session id),
   * waiting (bounded) for its connect; undefined when none came.
   */
  exitForSelection?(selection: ExitSelection, signal?: AbortSignal): Promise<PeerId | undefined>;
  /**
   * The exit refused a session because it is at its sharing cap (reason `full`): choose another
   * for a while (docs/limits.md#share).
   */
  reportFull?(peer: PeerId): void;
}

/** What the router asks of the account limits (proxy/account_limiter.ts). */
export type SessionAdmission = Pick<AccountLimiter, "admit">;

/** Exits tried after one that said `full`, before the client gets that answer. */
export const FULL_EXIT_RETRIES = 2;

/** True when the exit refused the session for being at its sharing cap. */
function isFull(outcome: SessionOutcome): outcome is SessionOutcome & { ok: false } {
  return !outcome.ok && outcome.reason === "full" && outcome.peerId !== undefined;
}

/** The open timeout and per-peer open limit of sessions that came in on no configured port. */
export type SelectionLimits = Pick<ServerConfig, "openTimeoutMs" | "poolMaxTotal">;

/** What the router is built from. */
export interface ExitSessionRouterDeps {
  /** The configured servers, by port. */
  readonly servers: readonly ServerConfig[];
  /** Ports that can never get an exit, and why: their clients are answered at once. */
  readonly routeless?: ReadonlyMap<number, string>;
  readonly exits: ExitChooser;
  readonly streams: StreamOpener;
  readonly events: EventSink;
  /** Supplies the token sent with each ConnectRequest; absent = auth off (an empty token). */
  readonly authenticator?: Authenticator;
  /** Limits of sessions that bring their own selection on no configured port (the client). */
  readonly selectionLimits?: SelectionLimits;
  /** Per-account limits and usage (docs/limits.md); absent = none. */
  readonly limiter?: SessionAdmission;
}

/** Opens confirmed exit sessions for the proxy's doors, and counts the bytes they relay. */
export class ExitSessionRouter implements SessionRouter {
  readonly #deps: ExitSessionRouterDeps;
  readonly #servers: Map<number, ServerConfig>;
  readonly #bytes = new Map<PeerId, { up: number; down: number }>();

  /** A router over `deps.servers`. */
  constructor(deps: ExitSessionRouterDeps) {
    this.#deps = deps;
    this.#servers = new Map(deps.servers.map((s) => [s.port, s]));
  }

  /**
   * A stream to the port's exit, connected to `host:targetPort`, or why there is none. The
   * account's limits admit the session first (a refusal has the reason `limit` or `quota`), and
   * meter its stream; an exit at its sharing cap (reason `full`) is passed over for another.
   */
  async open(request: SessionRequest): Promise<SessionOutcome> {
    const admission = await this.#admit(request);
    if (!admission.ok) return admission.refusal;
    let outcome = await this.#openOnce(request);
    for (let retry = 0; retry < FULL_EXIT_RETRIES && isFull(outcome); retry++) {
      // The exit gives no more (docs/limits.md#share): another exit, not an error for the client.
      this.#deps.exits.reportFull?.(outcome.peerId!);
      outcome = await this.#openOnce(request);
    }
    return metered(admission.lease, outcome);
  }

  /** The account's limits admit the session (or say why not) before any exit is asked. */
  async #admit(
    request: UdpAssociationRequest,
  ): Promise<
    | { ok: true; lease?: AccountLease }
    | { ok: false; refusal: SessionOutcome & { ok: false } }
  > {
    const admission = (await this.#deps.limiter?.admit(
      request.port,
      request.account,
      request.selection?.filters.country,
    )) ?? { ok: true };
    if (admission.ok) return admission;
    return {
      ok: false,
      refusal: {
        ok: false,
        replyCode: SOCKS_REPLY.notAllowed,
        stage: "refused",
        message: admission.message,
        reason: admission.reason,
      },
    };
  }

  async #openOnce(request: SessionRequest): Promise<SessionOutcome> {
    const opened = await this.#openStream(request, CONNECT_PROTOCOL);
    if (!opened.ok) return opened;
    const { server, peer, stream, token, started } = opened;

    // 3. The ConnectRequest, and the exit's answer within the open timeout (a deadline released
    // at the answer, not left armed for the whole timeout after every CONNECT).
    const deadline = sessionDeadline(server.openTimeoutMs, request.signal);
    try {
      const reply = await requestConnect(
        stream,
        { host: request.host, port: request.targetPort, token, sessionId: request.sessionId },
        deadline.signal,
      );
      if (reply.status !== ConnectStatus.SUCCEEDED) {
        stream.abort();
        return exitRefused(reply, peer);
      }
      return {
        ok: true,
        stream: reply.stream,
        peerId: peer,
        boundHost: reply.boundHost,
        boundPort: reply.boundPort,
      };
    } catch (error) {
      stream.abort(error instanceof Error ? error : undefined);
      return this.#requestFailed("Connect", peer, error, started, deadline.expired);
    } finally {
      deadline.clear();
    }
  }

  /**
   * A UDP association through the exit a CONNECT on the same port (or with the same selection)
   * would use: a stream of the UDP protocol, the request with this node's token, the exit's
   * answer within the open timeout (docs/proxy-behaviour.md#udp-associate).
   */
  async openUdp(request: UdpAssociationRequest): Promise<UdpAssociationOutcome> {
    // Limited and counted like a CONNECT (docs/limits.md#udp): its stream carries the datagrams.
    const admission = await this.#admit(request);
    if (!admission.ok) return admission.refusal;
    return metered(admission.lease, await this.#openUdpOnce(request));
  }

  async #openUdpOnce(request: UdpAssociationRequest): Promise<UdpAssociationOutcome> {
    const opened = await this.#openStream(request, UDP_PROTOCOL);
    if (!opened.ok) return opened;
    const { server, peer, stream, token, started } = opened;
    const deadline = sessionDeadline(server.openTimeoutMs, request.signal);
    try {
      const reply = await requestUdpAssociation(
        stream,
        { token, sessionId: request.sessionId },
        deadline.signal,
      );
      if (reply.status !== ConnectStatus.SUCCEEDED) {
        stream.abort();
        return exitRefused(reply, peer);
      }
      return { ok: true, stream: reply.stream, peerId: peer };
    } catch (error) {
      stream.abort(error instanceof Error ? error : undefined);
      return this.#requestFailed("UDP association", peer, error, started, deadline.expired);
    } finally {
      deadline.clear();
    }
  }

  /** Steps 1 and 2 of both: the exit, a stream of `protocol` to it, and the token to send. */
  async #openStream(
    request: UdpAssociationRequest,
    protocol: string,
  ): Promise<
    | {
      ok: true;
      server: Pick<ServerConfig, "openTimeoutMs" | "poolMaxTotal">;
      peer: PeerId;
      stream: DuplexStream;
      token: string;
      started: number;
    }
    | SessionOutcome & { ok: false }
  > {
    // 1. The port's exit, or the one the session asks for.
    const chosen = await this.#exitFor(request);
    if (!chosen.ok) return chosen;
    const { server, peer } = chosen;

    // 2. A stream to it. Lazy: the protocol negotiation goes out with the first request, so
    // the exit's answer is one round trip away (docs/wire-protocols.md#connect-protocol).
    const started = performance.now();
    let stream;
    try {
      stream = await this.#deps.streams.open(peer, {
        protocol,
        timeoutMs: server.openTimeoutMs,
        maxConcurrent: server.poolMaxTotal,
        signal: request.signal,
        lazy: true,
      });
    } catch (error) {
      return this.#streamFailed(peer, error, started);
    }
    this.#deps.events.emit({
      type: "stream-opened",
      peerId: peer,
      durationMs: performance.now() - started,
    });

    let token = "";
    try {
      if (this.#deps.authenticator) token = await this.#deps.authenticator.token(request.signal);
    } catch (error) {
      stream.abort();
      return {
        ok: false,
        replyCode: SOCKS_REPLY.generalFailure,
        stage: "stream",
        message: `No token to send the exit: ${describeError(error)}`,
        reason: "auth",
        peerId: peer,
      };
    }
    return { ok: true, server, peer, stream, token, started };
  }

  /** The session's exit: the one its selection asks for, else its port's. */
  async #exitFor(
    request: UdpAssociationRequest,
  ): Promise<
    | { ok: true; server: Pick<ServerConfig, "openTimeoutMs" | "poolMaxTotal">; peer: PeerId }
    | SessionOutcome & { ok: false }
  > {
    const configured = this.#servers.get(request.port);
    if (request.selection) {
      const limits = configured ?? this.#deps.selectionLimits;
      const exits = this.#deps.exits;
      if (!limits || !exits.exitForSelection) return noPeer("This router takes no selections.");
      const peer = await exits.exitForSelection(request.selection, request.signal);
      if (!peer) {
        // Nothing matches what the session asked for: "network unreachable", which HTTP doors
        // answer 503 (docs/proxy-behaviour.md#routing-by-username).
        return {
          ok: false,
          replyCode: SOCKS_REPLY.networkUnreachable,
          stage: "no-peer",
          message: noExitMessage(request.selection),
          reason: "no-exit",
        };
      }
      return { ok: true, server: limits, peer };
    }
    if (!configured) return noPeer("no server");
    const routeless = this.#deps.routeless?.get(configured.port);
    if (routeless !== undefined) return noPeer(routeless);
    const peer = await this.#deps.exits.exitForSession(configured.port, request.signal);
    if (!peer) return noPeer(`No exit is available for port ${configured.port}.`);
    return { ok: true, server: configured, peer };
  }

  /**
   * Step 3 of both failed: the request was sent, no answer came. One classification for CONNECT
   * and UDP ASSOCIATE, so a door answers a timeout the same way for both (reply 01 with reason
   * `timeout`: SOCKS5 01, HTTP 504; 06 stays the exit's own connect timeout).
   */
  #requestFailed(
    request: string,
    peer: PeerId,
    error: unknown,
    started: number,
    deadlineExpired: boolean,
  ): SessionOutcome & { ok: false } {
    // The exit did not answer within the open timeout, whichever layer noticed it first (the
    // frame reader reports the deadline as an aborted read; a lazily opened QUIC stream reports
    // the abort as a StreamError).
    const timedOut = deadlineExpired ||
      (error instanceof DOMException && error.name === "TimeoutError");
    // A lazily negotiated stream learns here that the exit does not speak the protocol.
    if (error instanceof StreamError && !timedOut) {
      return this.#streamFailed(peer, error, started);
    }
    logger.debug("{request} request to {peer} failed: {error}", {
      request,
      peer,
      error: describeError(error),
    });
    return {
      ok: false,
      replyCode: SOCKS_REPLY.generalFailure,
      stage: "stream",
      message: describeError(error),
      ...(timedOut ? { reason: "timeout" } : {}),
      peerId: peer,
    };
  }

  /** A stream that could not be opened (or negotiated): counted, and the exit dropped if final. */
  #streamFailed(peer: PeerId, error: unknown, started: number): SessionOutcome & { ok: false } {
    const code = error instanceof StreamError ? error.code : "io";
    const timedOut = code === "open-timeout";
    this.#deps.events.emit({
      type: "stream-open-failed",
      peerId: peer,
      code,
      durationMs: performance.now() - started,
    });
    if (error instanceof StreamError && error.isTerminalForPeer) {
      this.#deps.exits.reportUnusable(peer);
    }
    return {
      ok: false,
      replyCode: SOCKS_REPLY.generalFailure,
      stage: "stream",
      message: describeError(error),
      ...(timedOut ? { reason: "timeout" } : {}),
      peerId: peer,
    };
  }

  /** Adds a relayed chunk to the exit's counters (the hot path: a map update, nothing more). */
  countBytes(peer: PeerId, direction: "up" | "down", bytes: number): void {
    let entry = this.#bytes.get(peer);
    if (!entry) {
      entry = { up: 0, down: 0 };
      this.#bytes.set(peer, entry);
    }
    entry[direction] += bytes;
  }

  /** Turns the counts since the last call into one `bandwidth` event per exit. */
  emitBandwidth(): void {
    for (const [peer, { up, down }] of this.#bytes) {
      if (up > 0 || down > 0) this.#deps.events.emit({ type: "bandwidth", peerId: peer, up, down });
    }
    this.#bytes.clear();
  }
}

/**
 * `AbortSignal.any([AbortSignal.timeout(ms), parent])` that `clear` releases: the timer and the
 * listener on the session's signal go away with the answer.
 */
function sessionDeadline(ms: number, parent: AbortSignal) {
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new DOMException(`No answer within ${ms} ms.`, "TimeoutError"));
  }, ms);
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    clear() {
      clearTimeout(timer);
      parent.removeEventListener("abort", onAbort);
    },
  };
}

/** Why a selection got no exit, naming what it asked for. */
function noExitMessage(selection: ExitSelection): string {
  const wanted = describeFilters(selection.filters);
  const session = selection.session === undefined ? "" : ` (session "${selection.session}")`;
  return wanted === "no filters"
    ? `No exit was found${session}.`
    : `No exit matching ${wanted} was found${session}.`;
}

/** The exit answered, and not with success: its status as the client's reply code. */
function exitRefused(
  reply: { readonly status: number; readonly message: string; readonly reason?: string },
  peer: PeerId,
): SessionOutcome & { ok: false } {
  return {
    ok: false,
    replyCode: toReplyCode(reply.status),
    stage: "refused",
    message: reply.message || `The exit answered status ${reply.status}.`,
    ...(reply.reason ? { reason: reply.reason } : {}),
    peerId: peer,
  };
}

/** A session that got no exit: a general failure. */
function noPeer(message: string): SessionOutcome & { ok: false } {
  return { ok: false, replyCode: SOCKS_REPLY.generalFailure, stage: "no-peer", message };
}

/** The exit's status as a SOCKS reply code; anything unknown is a general failure. */
function toReplyCode(status: number): number {
  return Number.isInteger(status) && status >= 1 && status <= 8
    ? status
    : SOCKS_REPLY.generalFailure;
}

/** The outcome with its stream metered by the account's lease; a failure gives the slot back. */
function metered<T extends { ok: true; stream: DuplexStream } | { ok: false }>(
  lease: AccountLease | undefined,
  outcome: T,
): T {
  if (!lease) return outcome;
  if (!outcome.ok) {
    lease.fail();
    return outcome;
  }
  return { ...outcome, stream: lease.wrap((outcome as { stream: DuplexStream }).stream) };
}
