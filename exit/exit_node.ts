/**
 * The exit role, assembled: the connect protocol served on the libp2p node
 * under the egress policy and the session limits.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ExitConfig } from "../core/config/exit_config.ts";
import { createEgressPolicy } from "../core/domain/egress_policy.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import type { Resolver } from "../core/ports/resolver.ts";
import { CONNECT_PROTOCOL } from "../wire/connect_protocol.ts";
import { forwardConnectionEvents } from "../wire/connection_events.ts";
import { drainWithin } from "../wire/drain.ts";
import { UDP_PROTOCOL } from "../wire/udp_protocol.ts";
import { ExitService, type ExitServiceOptions } from "./exit_service.ts";
import { UdpExitService } from "./udp_exit_service.ts";

const logger = getLogger(["p2proxy", "exit"]);

/** What the exit is built from. */
export interface ExitNodeDeps {
  readonly config: Pick<ExitConfig, "egress" | "limits" | "bindAddress">;
  readonly network: NetworkNode;
  readonly events: EventSink;
  /** Resolves destination names (the `resolver` capability). */
  readonly resolver: Resolver;
  readonly verifyToken?: ExitServiceOptions["verifyToken"];
}

/** A running exit. */
export class ExitNode {
  readonly service: ExitService;
  /** The UDP associations (`/p2proxy/udp/1.0.0`), under the same policy and limits. */
  readonly udp: UdpExitService;
  readonly #network: NetworkNode;

  readonly #unsubscribe: () => void;

  private constructor(
    service: ExitService,
    udp: UdpExitService,
    network: NetworkNode,
    unsubscribe: () => void,
  ) {
    this.service = service;
    this.udp = udp;
    this.#network = network;
    this.#unsubscribe = unsubscribe;
  }

  /** Builds the egress policy and serves the connect protocol. */
  static async start(deps: ExitNodeDeps): Promise<ExitNode> {
    const { egress, limits, bindAddress } = deps.config;
    const policy = createEgressPolicy({
      allowCidrs: egress.allowCidrs,
      denyCidrs: egress.denyCidrs,
      allowPorts: egress.allowPorts,
      denyPorts: egress.denyPorts,
    });
    if (egress.allowCidrs.length > 0) {
      logger.warn("Egress policy: these normally denied ranges are allowed: {cidrs}.", {
        cidrs: egress.allowCidrs.join(", "),
      });
    }
    const service = new ExitService({
      egress: policy,
      events: deps.events,
      maxSessions: limits.maxSessions,
      maxSessionsPerPeer: limits.maxSessionsPerPeer,
      connectTimeoutMs: limits.connectTimeoutMs,
      idleTimeoutMs: limits.idleTimeoutMs,
      resolver: deps.resolver,
      ...(bindAddress ? { bindAddress } : {}),
      ...(deps.verifyToken ? { verifyToken: deps.verifyToken } : {}),
    });
    const udp = new UdpExitService({
      egress: policy,
      events: deps.events,
      resolver: deps.resolver,
      maxAssociations: limits.maxSessions,
      maxAssociationsPerPeer: limits.maxSessionsPerPeer,
      ...(bindAddress ? { bindAddress } : {}),
      ...(deps.verifyToken ? { verifyToken: deps.verifyToken } : {}),
    });
    await deps.network.handle(CONNECT_PROTOCOL, service.handler);
    await deps.network.handle(UDP_PROTOCOL, udp.handler);
    return new ExitNode(
      service,
      udp,
      deps.network,
      forwardConnectionEvents(deps.network, deps.events),
    );
  }

  /** Stops serving and resets the sessions still running. */
  /**
   * Stops taking new sessions, lets running ones finish for up to `graceMs`,
   * then resets what is left.
   */
  async stop(graceMs = 0): Promise<void> {
    this.#unsubscribe();
    await this.#network.unhandle(CONNECT_PROTOCOL);
    await this.#network.unhandle(UDP_PROTOCOL);
    await drainWithin(() => this.service.activeSessions > 0, graceMs);
    this.service.close();
    this.udp.close();
  }
}
