/**
 * The proxy role, assembled: the discovery actor choosing exits, one SOCKS5
 * listener per server, and the session opener that gets a stream to an exit
 * which has confirmed the destination connection.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { SOCKS_REPLY } from "../core/codec/socks5.ts";
import type { ProxyConfig, ServerConfig } from "../core/config/proxy_config.ts";
import { ExitConnector } from "../core/domain/connect.ts";
import { StickyState } from "../core/domain/sticky_state.ts";
import { describeError } from "../core/errors.ts";
import type { Multiaddr, PeerId } from "../core/ids.ts";
import type { Authenticator } from "../core/ports/authenticator.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import type { PeerDirectory } from "../core/ports/peer_directory.ts";
import type { StickyStore } from "../core/ports/sticky_store.ts";
import { StreamError } from "../core/ports/stream_opener.ts";
import {
  type ExitSessionOutcome,
  type ExitSessionRequest,
  type ExitSessions,
  Socks5Listener,
} from "../plugins/socks5/socks5_listener.ts";
import { CONNECT_PROTOCOL, ConnectStatus, requestConnect } from "../wire/connect_protocol.ts";
import { forwardConnectionEvents } from "../wire/connection_events.ts";
import { DiscoveryActor, type DiscoveryActorDeps, UnusableExits } from "./discovery_actor.ts";
import { missingRoute } from "../plugins/directory-hub/null_directory.ts";

const logger = getLogger(["p2proxy", "proxy"]);

/** How often relayed byte counts become `bandwidth` events. */
export const BANDWIDTH_EVENT_INTERVAL_MS = 1_000;

/** What the proxy is built from. */
export interface ProxyNodeDeps {
  readonly config: Pick<ProxyConfig, "servers">;
  readonly network: NetworkNode;
  readonly directory: PeerDirectory;
  readonly clock: Clock;
  readonly stickyStore: StickyStore;
  readonly events: EventSink;
  readonly authenticator?: Authenticator;
  /** The hub's relay address (ends in /p2p/<hub>), for circuit routes. */
  readonly relayAddress?: Multiaddr;
  readonly timings?: DiscoveryActorDeps["timings"];
}

/** A running proxy. */
export class ProxyNode implements ExitSessions {
  readonly actor: DiscoveryActor;
  readonly #deps: ProxyNodeDeps;
  readonly #servers: Map<number, ServerConfig>;
  /** Ports that can never get an exit, and why: their clients are answered at once. */
  readonly #routeless: ReadonlyMap<number, string>;
  readonly #listeners: Socks5Listener[] = [];
  readonly #bytes = new Map<PeerId, { up: number; down: number }>();
  #ticker: ReturnType<typeof setInterval> | undefined;
  #unsubscribe: (() => void) | undefined;

  private constructor(
    deps: ProxyNodeDeps,
    actor: DiscoveryActor,
    routeless: ReadonlyMap<number, string>,
  ) {
    this.#deps = deps;
    this.actor = actor;
    this.#servers = new Map(deps.config.servers.map((s) => [s.port, s]));
    this.#routeless = routeless;
  }

  /** Loads the sticky pools, starts choosing exits and opens the SOCKS listeners. */
  static async start(deps: ProxyNodeDeps): Promise<ProxyNode> {
    const sticky = StickyState.fromRecord(await deps.stickyStore.load());
    const unusable = new UnusableExits(() => deps.clock.now());
    const routeless = new Map(deps.config.servers.flatMap((server) => {
      const why = missingRoute(server, deps.directory);
      return why === undefined ? [] : [[server.port, why] as const];
    }));
    for (const why of routeless.values()) logger.error(why);
    const connector = new ExitConnector({
      isUnusable: (peer) => unusable.has(peer),
      directory: deps.directory,
      dialer: deps.network,
      clock: deps.clock,
      events: deps.events,
      sticky,
      ...(deps.relayAddress ? { relayAddress: deps.relayAddress } : {}),
    });
    const actor = new DiscoveryActor({
      // A port without a route gets no discovery: it would retry, and log, forever.
      servers: deps.config.servers.filter((server) => !routeless.has(server.port)),
      network: deps.network,
      directory: deps.directory,
      connector,
      sticky,
      unusable,
      store: deps.stickyStore,
      clock: deps.clock,
      events: deps.events,
      ...(deps.timings ? { timings: deps.timings } : {}),
    });
    const node = new ProxyNode(deps, actor, routeless);
    node.#unsubscribe = forwardConnectionEvents(deps.network, deps.events);
    actor.start();
    try {
      for (const [index, server] of deps.config.servers.entries()) {
        node.#listeners.push(
          Socks5Listener.listen(server, node, deps.events, `servers[${index}].port`),
        );
      }
    } catch (error) {
      await node.stop();
      throw error;
    }
    node.#ticker = setInterval(() => node.#emitBandwidth(), BANDWIDTH_EVENT_INTERVAL_MS);
    return node;
  }

  /** The SOCKS listeners (their bound addresses, for tests and the demo). */
  get listeners(): readonly Socks5Listener[] {
    return this.#listeners;
  }

  /** Stops accepting, drains sessions for up to `graceMs`, then resets the rest and stops choosing. */
  async stop(graceMs = 0): Promise<void> {
    await Promise.all(this.#listeners.map((l) => l.close(graceMs)));
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    this.#emitBandwidth();
    this.#unsubscribe?.();
    await this.actor.stop();
  }

  async open(request: ExitSessionRequest): Promise<ExitSessionOutcome> {
    const server = this.#servers.get(request.port);
    if (!server) {
      return {
        ok: false,
        replyCode: SOCKS_REPLY.generalFailure,
        stage: "no-peer",
        message: "no server",
      };
    }
    const routeless = this.#routeless.get(server.port);
    if (routeless !== undefined) {
      return {
        ok: false,
        replyCode: SOCKS_REPLY.generalFailure,
        stage: "no-peer",
        message: routeless,
      };
    }
    const peer = await this.actor.exitForSession(server.port, request.signal);
    if (!peer) {
      return {
        ok: false,
        replyCode: SOCKS_REPLY.generalFailure,
        stage: "no-peer",
        message: `No exit is available for port ${server.port}.`,
      };
    }
    const started = performance.now();
    let stream;
    try {
      stream = await this.#deps.network.open(peer, {
        protocol: CONNECT_PROTOCOL,
        timeoutMs: server.openTimeoutMs,
        maxConcurrent: server.poolMaxTotal,
        signal: request.signal,
      });
    } catch (error) {
      const code = error instanceof StreamError ? error.code : "io";
      this.#deps.events.emit({
        type: "stream-open-failed",
        peerId: peer,
        code,
        durationMs: performance.now() - started,
      });
      if (error instanceof StreamError && error.isTerminalForPeer) this.actor.reportUnusable(peer);
      return {
        ok: false,
        replyCode: SOCKS_REPLY.generalFailure,
        stage: "stream",
        message: describeError(error),
        peerId: peer,
      };
    }
    this.#deps.events.emit({
      type: "stream-opened",
      peerId: peer,
      durationMs: performance.now() - started,
    });

    try {
      const token = this.#deps.authenticator
        ? await this.#deps.authenticator.token(request.signal)
        : "";
      const deadline = AbortSignal.timeout(server.openTimeoutMs);
      const reply = await requestConnect(
        stream,
        { host: request.host, port: request.targetPort, token, sessionId: request.sessionId },
        AbortSignal.any([deadline, request.signal]),
      );
      if (reply.status !== ConnectStatus.SUCCEEDED) {
        stream.abort();
        return {
          ok: false,
          replyCode: toReplyCode(reply.status),
          stage: "refused",
          message: reply.message || `The exit answered status ${reply.status}.`,
          peerId: peer,
        };
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
      logger.debug("Connect request to {peer} failed: {error}", {
        peer,
        error: describeError(error),
      });
      return {
        ok: false,
        replyCode: SOCKS_REPLY.generalFailure,
        stage: "stream",
        message: describeError(error),
        peerId: peer,
      };
    }
  }

  countBytes(peer: PeerId, direction: "up" | "down", bytes: number): void {
    let entry = this.#bytes.get(peer);
    if (!entry) {
      entry = { up: 0, down: 0 };
      this.#bytes.set(peer, entry);
    }
    entry[direction] += bytes;
  }

  #emitBandwidth(): void {
    for (const [peer, { up, down }] of this.#bytes) {
      if (up > 0 || down > 0) this.#deps.events.emit({ type: "bandwidth", peerId: peer, up, down });
    }
    this.#bytes.clear();
  }
}

/** The exit's status as a SOCKS reply code; anything unknown is a general failure. */
function toReplyCode(status: number): number {
  return Number.isInteger(status) && status >= 1 && status <= 8
    ? status
    : SOCKS_REPLY.generalFailure;
}
