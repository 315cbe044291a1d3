/**
 * The proxy's {@link ExitControl}: the one place where the admin API and the
 * terminal UI read listeners and candidates and choose exits, on top of the
 * discovery actor (which owns the active exits) and the hub's directory.
 *
 * @module
 */
import type { ServerConfig } from "../core/config/proxy_config.ts";
import { describeFilters } from "../core/domain/filters.ts";
import { describeError } from "../core/errors.ts";
import { isRelayedAddress, type Multiaddr, type PeerId } from "../core/ids.ts";
import type {
  AutomaticChoiceOutcome,
  ExitCandidate,
  ExitChoiceOutcome,
  ExitControl,
  ExitsReport,
  ListenerStatus,
  OperatorRequest,
} from "../core/ports/exit_control.ts";
import type { PeerDirectory, PeerRecord } from "../core/ports/peer_directory.ts";
import type { DiscoveryActor } from "./discovery_actor.ts";

/**
 * Candidates asked of the hub per listener when listing them: more than one
 * discovery asks for (25), within the hub's cap of 100.
 */
export const CANDIDATE_LIST_LIMIT = 50;

/** The parts of a server the control shows and selects on. */
export type ListenerSettings = Pick<
  ServerConfig,
  "protocol" | "bind" | "port" | "filters" | "pinned" | "fallbackToDiscovery"
>;

/** What the control is built from. */
export interface ProxyExitControlDeps {
  /** The actor that owns the active exits. */
  readonly actor: Pick<DiscoveryActor, "activeExit" | "selectExit" | "resumeAutomatic">;
  /** The proxy's servers, in config order. */
  readonly servers: readonly ListenerSettings[];
  /** The hub's directory (or the null directory of a proxy without a hub). */
  readonly directory: PeerDirectory;
}

/**
 * A listener's name in the admin API: `<protocol>-<port>`.
 *
 * @example
 * ```ts
 * listenerName({ protocol: "socks5", port: 1080 }); // "socks5-1080"
 * ```
 */
export function listenerName(server: Pick<ListenerSettings, "protocol" | "port">): string {
  return `${server.protocol}-${server.port}`;
}

/**
 * The operator's view of one proxy.
 *
 * @example
 * ```ts
 * const control = new ProxyExitControl({ actor: proxy.actor, servers: config.servers, directory });
 * control.listeners(); // [{ name: "socks5-1080", exit: { peerId: "12D3…", source: … }, … }]
 * ```
 */
export class ProxyExitControl implements ExitControl {
  readonly #deps: ProxyExitControlDeps;

  /** The control works on `deps`; it keeps no state of its own. */
  constructor(deps: ProxyExitControlDeps) {
    this.#deps = deps;
  }

  listeners(): ListenerStatus[] {
    return this.#deps.servers.map((server) => this.#status(server));
  }

  async exits(signal?: AbortSignal): Promise<ExitsReport> {
    const listeners = this.listeners();
    const byPeer = new Map<PeerId, { record: PeerRecord; offeredFor: string[] }>();
    const problems: { listener: string; message: string }[] = [];
    // One query per distinct filter set: listeners with the same filters get the same answer.
    const queries = new Map<string, Promise<PeerRecord[]>>();
    await Promise.all(this.#deps.servers.map(async (server) => {
      const name = listenerName(server);
      const { records, error } = await this.#candidatesOf(server, queries, signal);
      if (error !== undefined) problems.push({ listener: name, message: describeError(error) });
      for (const record of records) {
        const entry = byPeer.get(record.peerId) ?? { record, offeredFor: [] };
        if (!entry.record.attributes && record.attributes) entry.record = record;
        entry.offeredFor.push(name);
        byPeer.set(record.peerId, entry);
      }
    }));
    const candidates: ExitCandidate[] = [...byPeer.values()].map(({ record, offeredFor }) => ({
      peerId: record.peerId,
      ...(record.attributes ? { attributes: record.attributes } : {}),
      routes: directFirst(record.routes),
      relayedOnly: record.routes.length > 0 && record.routes.every(isRelayedAddress),
      offeredFor: this.#inConfigOrder(offeredFor),
      usedBy: listeners.filter((l) => l.exit?.peerId === record.peerId).map((l) => l.name),
    }));
    problems.sort((a, b) => a.listener.localeCompare(b.listener));
    return { listeners, candidates, problems };
  }

  async choose(
    listener: string,
    peer: PeerId,
    request: OperatorRequest & { readonly override?: boolean },
  ): Promise<ExitChoiceOutcome> {
    const server = this.#find(listener);
    if (!server) return { kind: "unknown-listener" };
    const outcome = await this.#deps.actor.selectExit(server.port, peer, {
      by: request.by,
      override: request.override ?? false,
    });
    switch (outcome.kind) {
      case "selected":
        return { kind: "selected", listener: this.#status(server) };
      case "refused":
        return { kind: "refused", conflict: outcome.conflict };
      case "unreachable":
        return { kind: "unreachable" };
      case "unknown-port":
        return { kind: "unknown-listener" };
    }
  }

  async automatic(
    listener: string,
    request: OperatorRequest,
    signal?: AbortSignal,
  ): Promise<AutomaticChoiceOutcome> {
    const server = this.#find(listener);
    if (!server) return { kind: "unknown-listener" };
    const outcome = await this.#deps.actor.resumeAutomatic(server.port, request, signal);
    if (outcome.kind === "unknown-port") return { kind: "unknown-listener" };
    return { kind: outcome.kind, listener: this.#status(server) };
  }

  /** A listener by name, or by its port as digits. */
  #find(listener: string): ListenerSettings | undefined {
    return this.#deps.servers.find((server) =>
      listenerName(server) === listener || String(server.port) === listener
    );
  }

  #status(server: ListenerSettings): ListenerStatus {
    const exit = this.#deps.actor.activeExit(server.port);
    return {
      name: listenerName(server),
      protocol: server.protocol,
      bind: server.bind,
      port: server.port,
      ...(exit ? { exit: { peerId: exit.peerId, source: exit.source } } : {}),
    };
  }

  /**
   * The pinned exits as the hub describes them (a pinned exit it does not know
   * is listed with its configured address), then — unless the listener is
   * hard-pinned — what the hub finds for its filters. A failed query keeps the
   * pins and says why.
   */
  async #candidatesOf(
    server: ListenerSettings,
    queries: Map<string, Promise<PeerRecord[]>>,
    signal: AbortSignal | undefined,
  ): Promise<{ records: PeerRecord[]; error?: unknown }> {
    const records: PeerRecord[] = [];
    if (server.pinned.length > 0) {
      const described = await this.#deps.directory
        .describePeers(server.pinned.map((p) => p.peerId), signal)
        .catch(() => new Map<PeerId, PeerRecord>());
      for (const pin of server.pinned) {
        records.push(
          described.get(pin.peerId) ??
            { peerId: pin.peerId, routes: pin.address ? [pin.address] : [] },
        );
      }
      if (!server.fallbackToDiscovery) return { records };
    }
    const key = describeFilters(server.filters);
    let query = queries.get(key);
    if (!query) {
      query = this.#deps.directory.findNodes(
        { filters: server.filters, limit: CANDIDATE_LIST_LIMIT, exclude: [] },
        signal,
      );
      queries.set(key, query);
    }
    try {
      return { records: [...records, ...await query] };
    } catch (error) {
      return { records, error };
    }
  }

  #inConfigOrder(names: readonly string[]): string[] {
    const order = this.#deps.servers.map(listenerName);
    return [...names].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  }
}

function directFirst(routes: readonly Multiaddr[]): Multiaddr[] {
  return [...routes.filter((r) => !isRelayedAddress(r)), ...routes.filter(isRelayedAddress)];
}
