/**
 * The exit role, assembled: the connect protocol served on the libp2p node
 * under the egress policy and the session limits.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { join } from "node:path";
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
import { QuotaBook } from "../wire/quota_book.ts";
import { StateFile } from "../wire/state_file.ts";
import { ShareLimiter } from "./share_limiter.ts";

const logger = getLogger(["p2proxy", "exit"]);

/** The exit's share quota count, in the state directory (docs/limits.md#share). */
export const SHARE_QUOTA_FILE = "share_quota.json";
/** How often the exit looks whether it is still full (a quota's new period starts). */
const SHARE_CHECK_INTERVAL_MS = 1_000;

/** What the exit is built from. */
export interface ExitNodeDeps {
  readonly config:
    & Pick<ExitConfig, "egress" | "limits" | "bindAddress">
    & Partial<Pick<ExitConfig, "share" | "stateDir">>;
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
  /** The `share` caps: whether the exit is full, and a listener for changes (the registrar's). */
  readonly share: ShareLimiter;
  readonly #network: NetworkNode;
  readonly #quota: QuotaBook;
  readonly #ticker: ReturnType<typeof setInterval> | undefined;

  readonly #unsubscribe: () => void;

  private constructor(
    service: ExitService,
    udp: UdpExitService,
    share: ShareLimiter,
    quota: QuotaBook,
    network: NetworkNode,
    unsubscribe: () => void,
  ) {
    this.service = service;
    this.udp = udp;
    this.share = share;
    this.#quota = quota;
    this.#network = network;
    this.#unsubscribe = unsubscribe;
    this.#ticker = share.active
      ? setInterval(() => share.update(service.activeSessions), SHARE_CHECK_INTERVAL_MS)
      : undefined;
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
    const shareConfig = deps.config.share ?? {};
    const stateDir = deps.config.stateDir;
    const quota = await QuotaBook.open(
      shareConfig.quota && stateDir !== undefined
        ? new StateFile(join(stateDir, SHARE_QUOTA_FILE))
        : undefined,
    );
    const share = new ShareLimiter(shareConfig, () => Date.now(), quota);
    share.update(0);
    const service = new ExitService({
      ...(share.active ? { share } : {}),
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
      ...(limits.udp ?? {}),
      ...(bindAddress ? { bindAddress } : {}),
      ...(deps.verifyToken ? { verifyToken: deps.verifyToken } : {}),
    });
    await deps.network.handle(CONNECT_PROTOCOL, service.handler);
    await deps.network.handle(UDP_PROTOCOL, udp.handler);
    return new ExitNode(
      service,
      udp,
      share,
      quota,
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
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    this.share.flush();
    await this.#quota.stop();
  }
}
