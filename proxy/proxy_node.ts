/**
 * The proxy role's core service (docs/proxy-behaviour.md): the discovery actor choosing and
 * keeping each port's exit, and the session router that opens confirmed streams to it. The doors
 * that accept clients (proxy/inbound_listeners.ts) are a service of their own on top, so a
 * program can use the router with no listener at all.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { join } from "node:path";
import { describeError } from "../core/errors.ts";
import {
  DEFAULT_OPEN_TIMEOUT_SECS,
  DEFAULT_POOL_MAX_TOTAL,
  type ProxyConfig,
} from "../core/config/proxy_config.ts";
import { ExitConnector } from "../core/domain/connect.ts";
import type { ExitSelectionSettings } from "../core/domain/server.ts";
import { StickyState } from "../core/domain/sticky_state.ts";
import type { Multiaddr } from "../core/ids.ts";
import type { Authenticator } from "../core/ports/authenticator.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { Dialer } from "../core/ports/dialer.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import type { PeerDirectory } from "../core/ports/peer_directory.ts";
import type { StickyStore } from "../core/ports/sticky_store.ts";
import type { StreamOpener } from "../core/ports/stream_opener.ts";
import { forwardConnectionEvents } from "../wire/connection_events.ts";
import type { QuotaStore } from "../core/ports/quota_store.ts";
import { FileQuotaStore } from "../wire/quota_book.ts";
import { StateFile } from "../wire/state_file.ts";
import { AccountLimiter } from "./account_limiter.ts";
import { QuotaTally } from "./quota_tally.ts";
import { UsageBook, type UsageRecord } from "./usage_book.ts";
import { DiscoveryActor, type DiscoveryActorDeps, UnusableExits } from "./discovery_actor.ts";
import { ExitSessionRouter, type SelectionLimits } from "./session_router.ts";

const logger = getLogger(["p2proxy", "proxy"]);

/** How often relayed byte counts become `bandwidth` events. */
export const BANDWIDTH_EVENT_INTERVAL_MS = 1_000;

/** The quota counts' file in the state directory (docs/limits.md#quota). */
export const QUOTA_FILE = "usage_quota.json";
/** The hourly usage file in the state directory (docs/limits.md#usage-file). */
export const USAGE_FILE = "usage_hourly.jsonl";

/** What the proxy is built from. */
export interface ProxyNodeDeps {
  readonly config: Pick<ProxyConfig, "servers"> & Partial<Pick<ProxyConfig, "stateDir">>;
  /** Connection events and pings of the exits in use (the `network` capability). */
  readonly network: NetworkNode;
  /** Dials exits over their routes (the `dialer` capability; default: `network`). */
  readonly dialer?: Dialer;
  /** Opens the connect streams (the `stream-opener` capability; default: `network`). */
  readonly streams?: StreamOpener;
  readonly directory: PeerDirectory;
  readonly clock: Clock;
  readonly stickyStore: StickyStore;
  /**
   * Where quota totals are counted (the `quota-store` capability; default: `usage_quota.json` in
   * the state directory, or memory without one).
   */
  readonly quotaStore?: QuotaStore;
  readonly events: EventSink;
  readonly authenticator?: Authenticator;
  /** The hub's relay address (ends in /p2p/<hub>), for circuit routes. */
  readonly relayAddress?: Multiaddr;
  readonly timings?: DiscoveryActorDeps["timings"];
  /**
   * Sessions that bring their own exit selection (the client library, per-connection filters):
   * how many selections are kept and for how long, and their open timeout and per-peer limit.
   */
  readonly selections?: DiscoveryActorDeps["selections"] & Partial<SelectionLimits>;
}

/** Open timeout and per-peer open limit of selection sessions, as a server's defaults. */
const DEFAULT_SELECTION_LIMITS: SelectionLimits = {
  openTimeoutMs: DEFAULT_OPEN_TIMEOUT_SECS * 1000,
  poolMaxTotal: DEFAULT_POOL_MAX_TOTAL,
};

/** A running proxy: exits chosen, sessions routed. */
export class ProxyNode {
  /** Chooses, keeps and replaces each port's exit. */
  readonly actor: DiscoveryActor;
  /** Opens confirmed exit sessions (what the doors ask). */
  readonly router: ExitSessionRouter;
  /** Usage per account (what `GET /v1/usage` and the hourly file show). */
  readonly usage: UsageBook;
  readonly #limiter: AccountLimiter;
  readonly #quota: QuotaTally;
  /** The quota store this node opened itself (none given), which it stops. */
  readonly #ownQuotaStore: FileQuotaStore | undefined;
  readonly #usageFile: UsageFile | undefined;
  readonly #events: EventSink;
  readonly #ticker: ReturnType<typeof setInterval>;
  readonly #unsubscribe: () => void;

  private constructor(
    actor: DiscoveryActor,
    router: ExitSessionRouter,
    accounting: Accounting,
    unsubscribe: () => void,
  ) {
    this.actor = actor;
    this.router = router;
    this.usage = accounting.usage;
    this.#limiter = accounting.limiter;
    this.#quota = accounting.quota;
    this.#ownQuotaStore = accounting.ownQuotaStore;
    this.#usageFile = accounting.usageFile;
    this.#unsubscribe = unsubscribe;
    this.#events = accounting.events;
    this.#ticker = setInterval(() => {
      router.emitBandwidth();
      this.#limiter.flush();
      void this.#quota.sync();
      this.#emitUsage();
    }, BANDWIDTH_EVENT_INTERVAL_MS);
  }

  /** Loads the sticky pools and starts choosing exits. */
  static async start(deps: ProxyNodeDeps): Promise<ProxyNode> {
    const sticky = StickyState.fromRecord(await deps.stickyStore.load());
    // Username sessions, when the store keeps them (docs/proxy-behaviour.md#sessions).
    const sessions = await deps.stickyStore.loadSessions?.();
    const unusable = new UnusableExits(() => deps.clock.now());
    const routeless = new Map(deps.config.servers.flatMap((server) => {
      const why = missingRoute(server, deps.directory);
      return why === undefined ? [] : [[server.port, why] as const];
    }));
    for (const why of routeless.values()) logger.error(why);
    const connector = new ExitConnector({
      isUnusable: (peer) => unusable.has(peer),
      directory: deps.directory,
      dialer: deps.dialer ?? deps.network,
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
      ...(deps.selections ? { selections: deps.selections } : {}),
      ...(sessions ? { sessions } : {}),
    });
    const accounting = await startAccounting(deps);
    const router = new ExitSessionRouter({
      limiter: accounting.limiter,
      servers: deps.config.servers,
      routeless,
      exits: actor,
      streams: deps.streams ?? deps.network,
      events: deps.events,
      ...(deps.authenticator ? { authenticator: deps.authenticator } : {}),
      selectionLimits: {
        openTimeoutMs: deps.selections?.openTimeoutMs ?? DEFAULT_SELECTION_LIMITS.openTimeoutMs,
        poolMaxTotal: deps.selections?.poolMaxTotal ?? DEFAULT_SELECTION_LIMITS.poolMaxTotal,
      },
    });
    const unsubscribe = forwardConnectionEvents(deps.network, deps.events);
    actor.start();
    return new ProxyNode(actor, router, accounting, unsubscribe);
  }

  /** Closes the hour when it is over, and sends each account's new usage to the event sinks. */
  #emitUsage(): void {
    this.usage.roll();
    for (const delta of this.usage.takeDeltas()) {
      this.#events.emit({
        type: "account-usage",
        account: delta.account,
        country: delta.country,
        up: delta.bytes_up,
        down: delta.bytes_down,
        sessions: delta.sessions,
        errors: delta.errors,
        refused: delta.refused,
      });
    }
  }

  /** Stops the bandwidth reports (flushing the last counts) and stops choosing exits. */
  async stop(): Promise<void> {
    clearInterval(this.#ticker);
    this.router.emitBandwidth();
    this.#unsubscribe();
    await this.actor.stop();
    this.#limiter.flush();
    this.#emitUsage();
    await this.#quota.stop();
    await this.#ownQuotaStore?.stop();
    // The hour in progress is written too (marked partial): its counts would be lost otherwise.
    await this.#usageFile?.append(this.usage.records({ sinceMs: Date.now() }), true);
  }
}

/** The limits, the quota counts and the usage records of a proxy. */
interface Accounting {
  readonly events: EventSink;
  readonly limiter: AccountLimiter;
  readonly quota: QuotaTally;
  readonly ownQuotaStore?: FileQuotaStore;
  readonly usage: UsageBook;
  readonly usageFile?: UsageFile;
}

/**
 * The quota counts (the quota store given, else a file in the state directory when a server has a
 * quota) and the usage records (written hourly to the state directory when one is configured).
 */
async function startAccounting(deps: ProxyNodeDeps): Promise<Accounting> {
  const stateDir = deps.config.stateDir;
  const hasQuota = deps.config.servers.some((server) =>
    server.limits?.quota !== undefined ||
    [...(server.limits?.accounts.values() ?? [])].some((limits) => limits.quota !== undefined)
  );
  const ownQuotaStore = deps.quotaStore ? undefined : await FileQuotaStore.open(
    hasQuota && stateDir !== undefined ? new StateFile(join(stateDir, QUOTA_FILE)) : undefined,
  );
  const usageFile = stateDir === undefined ? undefined : new UsageFile(join(stateDir, USAGE_FILE));
  const now = () => deps.clock.now();
  const usage = new UsageBook(now, (records) => void usageFile?.append(records, false));
  const quota = new QuotaTally((deps.quotaStore ?? ownQuotaStore)!, now);
  return {
    events: deps.events,
    limiter: new AccountLimiter(deps.config.servers, now, quota, usage),
    quota,
    ...(ownQuotaStore ? { ownQuotaStore } : {}),
    usage,
    ...(usageFile ? { usageFile } : {}),
  };
}

/** The hourly usage file: one JSON line per account and hour (docs/limits.md#usage-file). */
class UsageFile {
  readonly #path: string;
  #tail: Promise<void> = Promise.resolve();
  #warned = false;

  constructor(path: string) {
    this.#path = path;
  }

  /** Appends `records` (`partial`: the hour was still running); never rejects. */
  append(records: readonly UsageRecord[], partial: boolean): Promise<void> {
    if (records.length === 0) return this.#tail;
    const text = records.map((r) => JSON.stringify(partial ? { ...r, partial } : r) + "\n").join(
      "",
    );
    this.#tail = this.#tail.then(async () => {
      try {
        await Deno.writeTextFile(this.#path, text, { append: true, create: true });
      } catch (error) {
        if (this.#warned) return;
        this.#warned = true;
        logger.warn("Could not append the usage records to {path}: {error}", {
          path: this.#path,
          error: describeError(error),
        });
      }
    });
    return this.#tail;
  }
}

/**
 * Why `server` can never get an exit through `directory`, or undefined when
 * it can: a server that pins no exit needs a directory to discover one. The config
 * loader refuses such a server (`servers[i]`); this catches a library caller
 * that builds one by hand, so its clients are answered at once, with the
 * reason, instead of waiting out a discovery that cannot succeed.
 *
 * @example
 * ```ts
 * missingRoute({ port: 1080, pinned: [] }, { unavailable: "No hub is configured." } as PeerDirectory);
 * // "Port 1080 can never reach an exit: …"
 * ```
 */
export function missingRoute(
  server: Pick<ExitSelectionSettings, "port" | "pinned">,
  directory: PeerDirectory,
): string | undefined {
  if (server.pinned.length > 0 || directory.unavailable === undefined) return undefined;
  return `Port ${server.port} can never reach an exit: its server pins none ` +
    "(`destination_peers`) and the proxy has no hub to find one (`bootstrap` is empty). Add a " +
    "hub to `bootstrap`, or `destination_peers` to this server.";
}
