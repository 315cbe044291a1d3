/**
 * The discovery actor (ARCHITECTURE.md, "The two actors"): owns the sticky state and the active
 * exit of every server, and drives the core's connect algorithm. Sessions read the active exit as a
 * plain field (no message round trip on the hot path); everything that changes it runs here.
 *
 * It is an actor: each public method, network event, timer and finished task is a message in its
 * mailbox, and messages are handled one at a time, each to its end, in the order they arrived (one
 * posted while another is handled waits its turn), so the state needs no locks. Handlers never
 * wait: slow work (a connect, a ping, a dial, a hub lookup, a save) runs as a task a handler
 * starts, and its outcome comes back as a message. Every timer comes from the Clock port, so tests
 * drive the actor by moving a fake clock.
 *
 * - start: one connect per server, retried in the background forever (1 s ×2 up to 30 s);
 * - loss: a peer is lost when its LAST connection closes; its ports
 *   rediscover (avoiding it), at once the first time and then at most once
 *   per cooldown — unless a client is waiting (JIT), which never waits;
 * - JIT: a client on a port with no exit waits up to 30 s for the port's one
 *   shared connect (20 waiters, one discovery);
 * - prefer direct: a direct connection to a pool member replaces a relayed exit;
 * - liveness: ping active exits every 15 s, 10 s timeout, 3 strikes hang up;
 * - manual selection; unusable exits (no connect protocol) are forgotten;
 * - selections: a session that brings its own filters (and session id) gets a server of its own,
 *   keyed by what it asks for, kept while used (idle timeout, least recently used first past a
 *   bound); such a server connects only when a client waits for it and never retries on its own.
 *   A username session's exit is saved in the sticky store (when it keeps sessions), so after a
 *   restart the session tries that exit first; a session whose exit is gone moves, logged and
 *   counted (`session-moved`).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Backoff } from "../core/domain/backoff.ts";
import {
  BACKGROUND_RETRY_FACTOR,
  BACKGROUND_RETRY_INITIAL_MS,
  BACKGROUND_RETRY_MAX_MS,
  JIT_WAIT_MS,
  REDISCOVERY_COOLDOWN_MS,
} from "../core/domain/constants.ts";
import {
  type ConnectedDestination,
  ExitConnectError,
  type ExitConnector,
  pinnedCandidateRoutes,
  shouldPreferDirect,
} from "../core/domain/connect.ts";
import { selectionKey, serverFingerprint } from "../core/domain/fingerprint.ts";
import { describeFilters } from "../core/domain/filters.ts";
import {
  filterConflict,
  hardPinConflict,
  type ManualChoiceConflict,
  needsFilterCheck,
  type PeerAttributesLookup,
} from "../core/domain/manual_choice.ts";
import type { ExitSelection, ExitSelectionSettings } from "../core/domain/server.ts";
import type { StickyState } from "../core/domain/sticky_state.ts";
import { describeError } from "../core/errors.ts";
import type { DestinationSource } from "../core/events.ts";
import { formatDelay } from "../core/format_delay.ts";
import { asMultiaddr, type Multiaddr, type PeerId } from "../core/ids.ts";
import type { Clock, ClockTimer } from "../core/ports/clock.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { ConnectionEvent, NetworkNode } from "../core/ports/network.ts";
import type { PeerDirectory } from "../core/ports/peer_directory.ts";
import {
  STICKY_SESSIONS_VERSION,
  type StickySessionRecord,
  type StickySessionsRecord,
  type StickyStore,
} from "../core/ports/sticky_store.ts";

const logger = getLogger(["p2proxy", "discovery"]);

/**
 * Liveness (docs/proxy-behaviour.md#liveness): ping every 15 s, 10 s timeout, 3 strikes close the
 * connection.
 */
export const PING_INTERVAL_MS = 15_000;
/** See {@link PING_INTERVAL_MS}. */
export const PING_TIMEOUT_MS = 10_000;
/** See {@link PING_INTERVAL_MS}. */
export const PING_STRIKES = 3;

/**
 * How often a port served by a lower-ranked pinned exit tries to get back to a
 * better rank (docs/proxy-behaviour.md#pinned-exits): rank 0 returns within this.
 */
export const PINNED_RECLAIM_INTERVAL_MS = 10_000;

/** How long an exit that does not speak the connect protocol stays out of selection (it may be upgraded). */
export const UNUSABLE_EXIT_MS = 10 * 60_000;

/** How long an exit that said it is full (its sharing cap, docs/limits.md#share) is passed over. */
export const FULL_EXIT_MS = 60_000;

/** Exits found not to speak the connect protocol, each until a deadline. */
export class UnusableExits {
  readonly #until = new Map<PeerId, number>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Marks `peer` unusable for `ms` ({@link UNUSABLE_EXIT_MS} unless said). */
  add(peer: PeerId, ms = UNUSABLE_EXIT_MS): void {
    this.#until.set(peer, this.#now() + ms);
  }

  /** True while `peer` is marked. */
  has(peer: PeerId): boolean {
    const until = this.#until.get(peer);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    this.#until.delete(peer);
    return false;
  }
}

/**
 * The first port number of the servers made for selections (docs/client.md#sessions): above
 * every TCP port, so they never share a configured server's events or sticky pool.
 */
export const SELECTION_PORT_BASE = 65_536;
/** Most selections kept at once; past it the least recently used one is dropped. */
export const MAX_SELECTIONS = 1_024;
/** A selection (a session id) unused this long ends: its next session may get another exit. */
export const SELECTION_IDLE_MS = 10 * 60_000;
/** Most selections one owner (a username's account) keeps; past it its least recently used goes. */
export const MAX_SELECTIONS_PER_OWNER = 256;
/**
 * Discovery queries of a selection's connect (1 s apart): a client waits on the answer, and
 * none of the port's background retries follows, so "no exit" comes in seconds, not 20.
 */
export const SELECTION_DISCOVERY_ATTEMPTS = 3;

/**
 * What a selection's server is besides its filters: discovery only (no pins), nothing
 * remembered — it lives in memory while it is used, so a sticky pool would outlive it for nothing.
 */
const SELECTION_SERVER: Omit<ExitSelectionSettings, "port" | "filters"> = {
  pinned: [],
  fallbackToDiscovery: false,
  sticky: false,
  stickyReconnect: "fail-fast",
  poolMaxTotal: 30,
};

/**
 * How stale a saved session's last use may get before it is saved again: a tenth of its lifetime,
 * at most this (so a restart ends a session at most this much early).
 */
export const SESSION_TOUCH_SAVE_MS = 30_000;

/** A server made for a selection, and when it was last asked for. */
interface SelectionServer {
  readonly key: string;
  readonly server: ExitSelectionSettings;
  usedAt: number;
  /** Unused this long, it is dropped. */
  readonly idleMs: number;
  /** The account it belongs to, bounded per account. */
  readonly owner?: string;
  /** The username session id, when it is one (then it is saved in the sticky store). */
  readonly session?: string;
  /** The exit the session last left from (after a restart: the saved one). */
  peer?: PeerId;
  /** The exit to try first, once, before any discovery: the saved one after a restart. */
  prefer?: PeerId;
  /** `usedAt` as last saved. */
  savedUsedAt: number;
}

/** A server's current exit. */
export interface ActiveExit {
  readonly peerId: PeerId;
  readonly source: DestinationSource;
}

/** A manual selection's request: who asks, and whether the config's promises may be broken. */
export interface ManualSelectionRequest {
  /** Who or what asks, for the log line: e.g. `admin API from 127.0.0.1:53012`. */
  readonly by: string;
  /**
   * Choose the peer even when it contradicts the port's hard pin or filters
   * (neither is then checked). Default false: such a choice is refused.
   */
  readonly override?: boolean;
}

/** What a manual selection came to. */
export type ManualSelectionOutcome =
  /** The peer was reached and is the port's exit now. */
  | { readonly kind: "selected"; readonly exit: ActiveExit }
  /** The choice contradicts the port's config and was not overridden; nothing was dialled. */
  | { readonly kind: "refused"; readonly conflict: ManualChoiceConflict }
  /** The peer could not be reached; the port keeps its exit. */
  | { readonly kind: "unreachable" }
  /** No server listens on that port. */
  | { readonly kind: "unknown-port" };

/** Where a port stands after {@link DiscoveryActor.resumeAutomatic}. */
export type AutomaticOutcome =
  /** The port's exit was chosen automatically (now, or already before). */
  | { readonly kind: "automatic"; readonly exit: ActiveExit }
  /** No exit yet: the search goes on in the background. */
  | { readonly kind: "searching" }
  /** No server listens on that port. */
  | { readonly kind: "unknown-port" };

/** What the actor works with. */
export interface DiscoveryActorDeps {
  readonly servers: readonly ExitSelectionSettings[];
  readonly network: Pick<
    NetworkNode,
    "onConnection" | "ping" | "hangUp" | "connectedRoute" | "dialAny"
  >;
  /** Resolves pinned peers to routes when a better rank is retried. */
  readonly directory: PeerDirectory;
  readonly connector: ExitConnector;
  readonly sticky: StickyState;
  /** Shared with the connector (`isUnusable`), so selection skips these exits. */
  readonly unusable: UnusableExits;
  readonly store: StickyStore;
  readonly clock: Clock;
  readonly events: EventSink;
  /** Overrides for tests (defaults: the documented values, docs/proxy-behaviour.md#timings). */
  readonly timings?: Partial<{
    rediscoveryCooldownMs: number;
    jitWaitMs: number;
    pingIntervalMs: number;
    pingTimeoutMs: number;
    pinnedReclaimIntervalMs: number;
  }>;
  /** Bounds of the selections' servers (defaults: {@link MAX_SELECTIONS}, {@link SELECTION_IDLE_MS}). */
  readonly selections?: Partial<{ max: number; idleMs: number; perOwner: number }>;
  /** The username sessions the store kept (`loadSessions`), tried first when used again. */
  readonly sessions?: StickySessionsRecord;
}

// ---------------------------------------------------------------------------
// The mailbox's messages, and what they carry

/** How a task ended: its value, or what it threw. */
type Outcome<T> = { readonly ok: true; readonly value: T } | {
  readonly ok: false;
  readonly error: unknown;
};

/** A client waiting for its port's exit (JIT). */
interface Waiter {
  readonly port: number;
  readonly signal: AbortSignal | undefined;
  readonly answer: (peer: PeerId | undefined) => void;
  /** Set while it waits: cancels its JIT timer and drops its abort listener. */
  release?: () => void;
}

/** A manual selection on its way: the caller's promise, settled by the actor. */
interface Selection {
  readonly port: number;
  readonly peer: PeerId;
  readonly request: ManualSelectionRequest;
  readonly resolve: (outcome: ManualSelectionOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/** A caller of `resumeAutomatic` waiting for its port's automatic choice. */
interface Resumer {
  readonly port: number;
  readonly request: Pick<ManualSelectionRequest, "by">;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (outcome: AutomaticOutcome) => void;
  /** Set while it waits: drops its abort listener. */
  release?: () => void;
}

/** A port's one connect, tried again with backoff until it lands. */
interface PortConnect {
  readonly server: ExitSelectionSettings;
  /** The exit just lost: avoided by the first attempt only. */
  readonly avoid: PeerId | undefined;
  readonly backoff: Backoff;
  attempt: number;
  /** A manual selection landed while this ran: when it lands, the operator's choice stays. */
  overtaken: boolean;
  /** Ends this connect's attempts: the actor stops, or the selection's server is dropped. */
  readonly abort: AbortController;
}

/** A ping in flight, with its timeout. */
interface Ping {
  readonly peer: PeerId;
  readonly controller: AbortController;
  cancelTimeout: () => void;
}

/** A pinned peer of a better rank that answered a reclaim pass. */
interface RankBack {
  readonly server: ExitSelectionSettings;
  readonly rank: number;
  readonly peer: PeerId;
}

/** Everything the actor reacts to. */
type Message =
  | { readonly type: "start" }
  | { readonly type: "stop"; readonly done: (saved: Promise<void>) => void }
  | { readonly type: "connection"; readonly event: ConnectionEvent }
  | { readonly type: "client-waiting"; readonly waiter: Waiter }
  | {
    readonly type: "selection-waiting";
    readonly selection: ExitSelection;
    readonly waiter: Omit<Waiter, "port">;
  }
  /** The client left (its signal aborted) or waited out the JIT window. */
  | { readonly type: "client-gone"; readonly waiter: Waiter }
  | { readonly type: "select"; readonly selection: Selection }
  | {
    readonly type: "manual-reached";
    readonly selection: Selection;
    readonly server: ExitSelectionSettings;
    readonly destination: ConnectedDestination;
  }
  | { readonly type: "resume"; readonly resumer: Resumer }
  /** The caller of `resumeAutomatic` stopped waiting (its signal aborted). */
  | { readonly type: "resume-gone"; readonly resumer: Resumer }
  | { readonly type: "unusable"; readonly peer: PeerId }
  | { readonly type: "full"; readonly peer: PeerId }
  | {
    readonly type: "connect-done";
    readonly connect: PortConnect;
    readonly outcome: Outcome<ConnectedDestination>;
  }
  | { readonly type: "retry-due"; readonly connect: PortConnect }
  | { readonly type: "rediscovery-due"; readonly port: number; readonly lost: PeerId }
  | { readonly type: "ping-due" }
  | { readonly type: "ping-overdue"; readonly ping: Ping }
  | { readonly type: "ping-done"; readonly ping: Ping; readonly outcome: Outcome<number> }
  | { readonly type: "reclaim-due" }
  | { readonly type: "pinned-rank-back"; readonly back: RankBack }
  | { readonly type: "reclaim-done" };

// ---------------------------------------------------------------------------

/** Chooses, keeps and replaces the exit of every server. */
export class DiscoveryActor {
  readonly #deps: DiscoveryActorDeps;
  readonly #servers: Map<number, ExitSelectionSettings>;
  readonly #timings: Required<NonNullable<DiscoveryActorDeps["timings"]>>;

  // The mailbox.
  readonly #mailbox: Message[] = [];
  #handling = false;
  #stopped = false;
  /** Aborts every task the actor started (connects, pings, lookups, dials) when it stops. */
  readonly #stop = new AbortController();
  /** Every clock timer set and not yet fired, so stop() cancels them all. */
  readonly #timers = new Set<ClockTimer>();
  #unsubscribe: (() => void) | undefined;

  // The state, written only by handlers. `#active` is also read by sessions.
  readonly #active = new Map<number, ActiveExit>();
  /** The one connect of each port that has one running (SingleFlight: callers join it). */
  readonly #connects = new Map<number, PortConnect>();
  readonly #waiters = new Map<number, Set<Waiter>>();
  /** Callers of `resumeAutomatic`, answered by the port's next automatic choice. */
  readonly #resumers = new Map<number, Set<Resumer>>();
  readonly #lastRediscovery = new Map<number, number>();
  /** Ports whose rediscovery waits out the cooldown. */
  readonly #scheduled = new Set<number>();
  /**
   * Hard-pinned ports (no fallback) whose pinned exits all failed a whole
   * connect: new clients are answered at once instead of waiting out the JIT
   * window, while the background retries go on.
   */
  readonly #pinnedDown = new Set<number>();
  /** The exit each port lost and has not replaced yet: a JIT connect must treat it as lost too. */
  readonly #lost = new Map<number, PeerId>();
  readonly #strikes = new Map<PeerId, number>();
  #reclaiming = false;
  #saving: Promise<void> = Promise.resolve();
  /** The selections' servers by selection key, least recently used first. */
  readonly #selections = new Map<string, SelectionServer>();
  /** Ports of dropped selections' servers, for the next one (so ports stay few). */
  readonly #freeSelectionPorts: number[] = [];
  #nextSelectionPort = SELECTION_PORT_BASE;
  readonly #selectionBounds: {
    readonly max: number;
    readonly idleMs: number;
    readonly perOwner: number;
  };
  /** Saved sessions not used since the start (each becomes a selection when used again). */
  readonly #restored: Map<string, StickySessionRecord>;
  #savingSessions: Promise<void> = Promise.resolve();
  #sessionsSaveQueued = false;

  constructor(deps: DiscoveryActorDeps) {
    this.#deps = deps;
    this.#servers = new Map(deps.servers.map((s) => [s.port, s]));
    this.#timings = {
      rediscoveryCooldownMs: deps.timings?.rediscoveryCooldownMs ?? REDISCOVERY_COOLDOWN_MS,
      jitWaitMs: deps.timings?.jitWaitMs ?? JIT_WAIT_MS,
      pingIntervalMs: deps.timings?.pingIntervalMs ?? PING_INTERVAL_MS,
      pingTimeoutMs: deps.timings?.pingTimeoutMs ?? PING_TIMEOUT_MS,
      pinnedReclaimIntervalMs: deps.timings?.pinnedReclaimIntervalMs ?? PINNED_RECLAIM_INTERVAL_MS,
    };
    this.#selectionBounds = {
      max: Math.max(1, deps.selections?.max ?? MAX_SELECTIONS),
      idleMs: deps.selections?.idleMs ?? SELECTION_IDLE_MS,
      perOwner: Math.max(1, deps.selections?.perOwner ?? MAX_SELECTIONS_PER_OWNER),
    };
    this.#restored = new Map(Object.entries(deps.sessions?.sessions ?? {}));
  }

  // -------------------------------------------------------------------------
  // The public surface: each call is a message, except the hot path's read of the active exit

  /** Subscribes to connection events and starts one background connect per server. */
  start(): void {
    this.#post({ type: "start" });
  }

  /** Cancels every connect, timer and ping, unsubscribes, and saves the sticky state. */
  stop(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#post({ type: "stop", done: resolve });
    return promise;
  }

  /** The active exit of a port: the hot path reads this plain value. */
  activeExit(port: number): ActiveExit | undefined {
    return this.#active.get(port);
  }

  /**
   * The exit for a new session: the active one (read at once), or (JIT) the
   * result of the port's one shared connect within the JIT wait. Undefined
   * when none came, or when `signal` aborted first.
   */
  exitForSession(port: number, signal?: AbortSignal): Promise<PeerId | undefined> {
    const active = this.#active.get(port);
    if (active) return Promise.resolve(active.peerId);
    return new Promise((answer) => {
      this.#post({ type: "client-waiting", waiter: { port, signal, answer } });
    });
  }

  /**
   * The exit for a session that brings its own selection (filters, session id): the active exit
   * of the selection's server — made on first use, kept while used — or (JIT) the result of its
   * one shared connect within the JIT wait. Undefined when none came, or `signal` aborted first.
   */
  exitForSelection(selection: ExitSelection, signal?: AbortSignal): Promise<PeerId | undefined> {
    return new Promise((answer) => {
      this.#post({ type: "selection-waiting", selection, waiter: { signal, answer } });
    });
  }

  /** The selections' servers alive now (for tests and the admin view). */
  get selectionCount(): number {
    return this.#selections.size;
  }

  /**
   * Manual selection (TUI, admin API): reach `peer` and make it the port's
   * exit. A choice that contradicts the port's hard pin or filters is refused
   * before anything is dialled unless `request.override` says so; the peer's
   * attributes come from the directory. Every change is logged with
   * `request.by`. An unreachable peer leaves the active exit as it was.
   */
  selectExit(
    port: number,
    peer: PeerId,
    request: ManualSelectionRequest,
  ): Promise<ManualSelectionOutcome> {
    return new Promise((resolve, reject) => {
      this.#post({ type: "select", selection: { port, peer, request, resolve, reject } });
    });
  }

  /**
   * Back to automatic (TUI Esc, admin API `DELETE /v1/listeners/{name}/exit`): drops a
   * hand-picked exit from the port's sticky pool and chooses again as at start (pinned → sticky
   * → discovery). The hand-picked exit serves until the new one is reached. A port whose exit was
   * not chosen by hand is left alone. `signal` bounds only this caller's wait (then: `searching`);
   * the search goes on.
   */
  resumeAutomatic(
    port: number,
    request: Pick<ManualSelectionRequest, "by">,
    signal?: AbortSignal,
  ): Promise<AutomaticOutcome> {
    return new Promise((resolve) => {
      this.#post({ type: "resume", resumer: { port, request, signal, resolve } });
    });
  }

  /**
   * A session found that `peer` does not speak the connect protocol: forget it
   * everywhere and find other exits for the ports it served. Done when this returns.
   */
  reportUnusable(peer: PeerId): void {
    this.#post({ type: "unusable", peer });
  }

  /** The exit is at its sharing cap: pass it over for {@link FULL_EXIT_MS}, choose another now. */
  reportFull(peer: PeerId): void {
    this.#post({ type: "full", peer });
  }

  // -------------------------------------------------------------------------
  // The mailbox

  /**
   * Queues `message` and, unless a message is being handled, handles the queue
   * to its end. Synchronous: a message posted from outside has been handled
   * when this returns; one posted by a handler (or by a callback it caused) is
   * handled right after it.
   */
  #post(message: Message): void {
    this.#mailbox.push(message);
    if (this.#handling) return;
    this.#handling = true;
    try {
      for (let next = this.#mailbox.shift(); next !== undefined; next = this.#mailbox.shift()) {
        this.#handleSafely(next);
      }
    } finally {
      this.#handling = false;
    }
  }

  #handleSafely(message: Message): void {
    try {
      if (this.#stopped) this.#handleAfterStop(message);
      else this.#handle(message);
    } catch (error) {
      // A bug, not a condition: say so once, answer whoever waits, and keep the mailbox going.
      logger.error("The discovery actor failed on a {type} message: {error}", {
        type: message.type,
        error: describeError(error),
      });
      this.#answerAfterFailure(message, error);
    }
  }

  #handle(message: Message): void {
    switch (message.type) {
      case "start":
        return this.#onStart();
      case "stop":
        return this.#onStop(message.done);
      case "connection":
        return this.#onConnection(message.event);
      case "client-waiting":
        return this.#onClientWaiting(message.waiter);
      case "selection-waiting":
        return this.#onClientWaiting({
          ...message.waiter,
          port: this.#serverForSelection(message.selection).port,
        });
      case "client-gone":
        // No exit came in time (a port with waiters has no active exit: setActive answers them).
        return this.#answerWaiter(message.waiter, undefined);
      case "select":
        return this.#onSelect(message.selection);
      case "manual-reached":
        return this.#onManualReached(message.selection, message.server, message.destination);
      case "resume":
        return this.#onResume(message.resumer);
      case "resume-gone":
        return this.#answerResumer(message.resumer, { kind: "searching" });
      case "unusable":
        return this.#onUnusable(message.peer);
      case "full":
        return this.#onFull(message.peer);
      case "connect-done":
        return this.#onConnectDone(message.connect, message.outcome);
      case "retry-due":
        return this.#attempt(message.connect);
      case "rediscovery-due":
        return this.#onRediscoveryDue(message.port, message.lost);
      case "ping-due":
        return this.#onPingDue();
      case "ping-overdue":
        return message.ping.controller.abort(
          new DOMException(
            `No answer to the ping within ${this.#timings.pingTimeoutMs} ms.`,
            "TimeoutError",
          ),
        );
      case "ping-done":
        return this.#onPingDone(message.ping, message.outcome);
      case "reclaim-due":
        return this.#onReclaimDue();
      case "pinned-rank-back":
        return this.#onPinnedRankBack(message.back);
      case "reclaim-done":
        this.#reclaiming = false;
        return;
    }
  }

  /** After stop() only callers still get answers; late events, timers and task results are dropped. */
  #handleAfterStop(message: Message): void {
    switch (message.type) {
      case "stop":
        this.#persist();
        return message.done(this.#saved());
      case "client-waiting":
      case "selection-waiting":
        return message.waiter.answer(undefined);
      case "select":
      case "manual-reached":
        return message.selection.reject(this.#stop.signal.reason);
      case "resume":
        return message.resumer.resolve({ kind: "searching" });
      default:
        return;
    }
  }

  #answerAfterFailure(message: Message, error: unknown): void {
    if (message.type === "stop") message.done(this.#saved());
    if (message.type === "selection-waiting") message.waiter.answer(undefined);
    if (message.type === "client-waiting" || message.type === "client-gone") {
      this.#answerWaiter(message.waiter, undefined);
      message.waiter.answer(undefined); // in case it failed before it was registered
    }
    if (message.type === "select" || message.type === "manual-reached") {
      message.selection.reject(error);
    }
    if (message.type === "resume" || message.type === "resume-gone") {
      this.#answerResumer(message.resumer, { kind: "searching" });
      message.resumer.resolve({ kind: "searching" }); // in case it failed before it was registered
    }
  }

  /** Sets a clock timer that posts `message`; returns its cancel. stop() cancels every timer. */
  #after(ms: number, message: Message): () => void {
    const timer = this.#deps.clock.setTimer(ms, () => {
      this.#timers.delete(timer);
      this.#post(message);
    });
    this.#timers.add(timer);
    return () => {
      this.#timers.delete(timer);
      timer.cancel();
    };
  }

  /** Runs `work` outside the mailbox; its outcome comes back as the message `reply` makes of it. */
  #spawn<T>(work: () => Promise<T>, reply: (outcome: Outcome<T>) => Message): void {
    let running: Promise<T>;
    try {
      running = work();
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (value) => this.#post(reply({ ok: true, value })),
      (error: unknown) => this.#post(reply({ ok: false, error })),
    );
  }

  // -------------------------------------------------------------------------
  // Handlers: they never await

  #onStart(): void {
    this.#unsubscribe = this.#deps.network.onConnection((event) =>
      this.#post({ type: "connection", event })
    );
    for (const port of this.#servers.keys()) {
      this.#deps.events.emit({ type: "active-destination", port });
      this.#connect(port, undefined);
    }
    this.#after(this.#timings.pingIntervalMs, { type: "ping-due" });
    if ([...this.#servers.values()].some((s) => s.pinned.length > 1)) {
      this.#after(this.#timings.pinnedReclaimIntervalMs, { type: "reclaim-due" });
    }
  }

  #onStop(done: (saved: Promise<void>) => void): void {
    this.#stopped = true;
    this.#stop.abort(new Error("The proxy is stopping."));
    this.#unsubscribe?.();
    for (const timer of this.#timers) timer.cancel();
    this.#timers.clear();
    for (const waiters of this.#waiters.values()) {
      for (const waiter of waiters) this.#answerWaiter(waiter, undefined);
    }
    for (const resumers of this.#resumers.values()) {
      for (const resumer of resumers) this.#answerResumer(resumer, { kind: "searching" });
    }
    this.#connects.clear();
    this.#scheduled.clear();
    this.#persist();
    this.#persistSessions();
    done(this.#saved());
  }

  /** Resolves once the queued saves of the pools and the sessions are done. */
  #saved(): Promise<void> {
    return Promise.all([this.#saving, this.#savingSessions]).then(() => {});
  }

  #onClientWaiting(waiter: Waiter): void {
    const { port } = waiter;
    const active = this.#active.get(port);
    if (active) return waiter.answer(active.peerId);
    if (this.#pinnedDown.has(port) || !this.#servers.has(port)) return waiter.answer(undefined);
    this.#deps.events.emit({ type: "jit-discovery", port });
    // After a loss, the lost exit gets its `sticky_reconnect` treatment here too (with-backoff
    // retries it, fail-fast skips it): a client arriving during the cooldown must not bypass it.
    this.#connect(port, this.#lost.get(port));
    if (waiter.signal?.aborted) return waiter.answer(undefined);
    const gone = () => this.#post({ type: "client-gone", waiter });
    const cancelTimer = this.#after(this.#timings.jitWaitMs, { type: "client-gone", waiter });
    waiter.signal?.addEventListener("abort", gone, { once: true });
    waiter.release = () => {
      cancelTimer();
      waiter.signal?.removeEventListener("abort", gone);
    };
    let waiters = this.#waiters.get(port);
    if (!waiters) this.#waiters.set(port, waiters = new Set());
    waiters.add(waiter);
  }

  /** Answers `waiter` unless it was answered already (its timer and its signal may both fire). */
  #answerWaiter(waiter: Waiter, peer: PeerId | undefined): void {
    const waiters = this.#waiters.get(waiter.port);
    if (!waiters?.delete(waiter)) return;
    if (waiters.size === 0) this.#waiters.delete(waiter.port);
    waiter.release?.();
    waiter.answer(peer);
  }

  #onSelect(selection: Selection): void {
    const server = this.#servers.get(selection.port);
    if (!server) return selection.resolve({ kind: "unknown-port" });
    this.#reachChoice(server, selection).catch(selection.reject);
  }

  /** A task: checks the choice against the config, then reaches the peer; adopting it is a message. */
  async #reachChoice(server: ExitSelectionSettings, selection: Selection): Promise<void> {
    const { port, peer, request } = selection;
    if (request.override !== true) {
      const conflict = hardPinConflict(server, peer) ?? await this.#filterConflict(server, peer);
      if (conflict) {
        logger.warn("Refused exit {peer} for port {port}, chosen by {by}: {reason}", {
          peer,
          port,
          by: request.by,
          reason: conflict.message,
        });
        return selection.resolve({ kind: "refused", conflict });
      }
    }
    const destination = await this.#deps.connector.selectPeer(server, peer, this.#stop.signal);
    if (!destination) {
      logger.warn(
        "Could not reach exit {peer} for port {port}, chosen by {by}; it keeps its exit.",
        { peer, port, by: request.by },
      );
      return selection.resolve({ kind: "unreachable" });
    }
    this.#post({ type: "manual-reached", selection, server, destination });
  }

  async #filterConflict(
    server: ExitSelectionSettings,
    peer: PeerId,
  ): Promise<ManualChoiceConflict | undefined> {
    if (!needsFilterCheck(server, peer)) return undefined;
    return filterConflict(server, peer, await this.#lookUpAttributes(peer));
  }

  /** What the hub says `peer` is; a failure is a reason, not an error: the caller refuses. */
  async #lookUpAttributes(peer: PeerId): Promise<PeerAttributesLookup> {
    let records;
    try {
      records = await this.#deps.directory.describePeers([peer], this.#stop.signal);
    } catch (error) {
      return { known: false, reason: `the hub could not be asked: ${describeError(error)}` };
    }
    const record = records.get(peer);
    if (!record) {
      return {
        known: false,
        reason: "the hub does not know it: it is not registered, or its registration expired",
      };
    }
    if (!record.attributes) return { known: false, reason: "the hub sent no attributes for it" };
    return { known: true, attributes: record.attributes };
  }

  #onManualReached(
    selection: Selection,
    server: ExitSelectionSettings,
    destination: ConnectedDestination,
  ): void {
    // A connect already running for this port must not undo the operator's choice when it lands.
    const running = this.#connects.get(server.port);
    if (running) running.overtaken = true;
    this.#setActive(server, destination, selection.request);
    selection.resolve({
      kind: "selected",
      exit: { peerId: destination.peerId, source: destination.source },
    });
  }

  #onResume(resumer: Resumer): void {
    const { port } = resumer;
    if (!this.#servers.has(port)) return resumer.resolve({ kind: "unknown-port" });
    const active = this.#active.get(port);
    if (active?.source.kind !== "manual") {
      return resumer.resolve(active ? { kind: "automatic", exit: active } : { kind: "searching" });
    }
    logger.info("Port {port} chooses its exit automatically again, asked by {by}.", {
      port,
      by: resumer.request.by,
    });
    if (this.#deps.sticky.forgetPeer(port, active.peerId)) this.#persist();
    if (resumer.signal?.aborted) resumer.resolve({ kind: "searching" });
    else {
      const gone = () => this.#post({ type: "resume-gone", resumer });
      resumer.signal?.addEventListener("abort", gone, { once: true });
      resumer.release = () => resumer.signal?.removeEventListener("abort", gone);
      let resumers = this.#resumers.get(port);
      if (!resumers) this.#resumers.set(port, resumers = new Set());
      resumers.add(resumer);
    }
    // A connect still running (overtaken by the hand-picked exit) now adopts what it finds.
    const running = this.#connects.get(port);
    if (running) running.overtaken = false;
    else this.#connect(port, undefined);
  }

  /** Answers `resumer` unless it was answered already. */
  #answerResumer(resumer: Resumer, outcome: AutomaticOutcome): void {
    const resumers = this.#resumers.get(resumer.port);
    if (!resumers?.delete(resumer)) return;
    if (resumers.size === 0) this.#resumers.delete(resumer.port);
    resumer.release?.();
    resumer.resolve(outcome);
  }

  #onUnusable(peer: PeerId): void {
    logger.warn(
      "Exit {peer} does not speak the connect protocol; not choosing it for {minutes} min.",
      { peer, minutes: UNUSABLE_EXIT_MS / 60_000 },
    );
    this.#deps.unusable.add(peer);
    this.#deps.connector.markUnusable(peer);
    this.#persist();
    for (const [port, active] of this.#active) {
      if (active.peerId !== peer) continue;
      this.#clearActive(port);
      this.#connect(port, undefined);
    }
  }

  #onFull(peer: PeerId): void {
    if (this.#deps.unusable.has(peer)) return;
    logger.info("Exit {peer} is full (its sharing cap); choosing another for {secs} s.", {
      peer,
      secs: FULL_EXIT_MS / 1000,
    });
    this.#deps.unusable.add(peer, FULL_EXIT_MS);
    for (const [port, active] of this.#active) {
      if (active.peerId !== peer) continue;
      this.#clearActive(port);
      this.#connect(port, peer);
    }
  }

  /** Starts the port's connect unless one is running (then callers share it). */
  #connect(port: number, avoid: PeerId | undefined): void {
    if (this.#connects.has(port)) return;
    const server = this.#servers.get(port);
    if (!server) return;
    // Only a connect after a loss is a rediscovery (docs/proxy-behaviour.md#losing-an-exit): the
    // start-up connect must not throttle the first loss.
    if (avoid !== undefined) this.#lastRediscovery.set(port, this.#deps.clock.now());
    const connect: PortConnect = {
      server,
      avoid,
      backoff: new Backoff(
        BACKGROUND_RETRY_INITIAL_MS,
        BACKGROUND_RETRY_FACTOR,
        BACKGROUND_RETRY_MAX_MS,
      ),
      attempt: 0,
      overtaken: false,
      abort: new AbortController(),
    };
    this.#connects.set(port, connect);
    this.#deps.events.emit({ type: "connection-connecting", port });
    this.#attempt(connect);
  }

  /**
   * One bounded try of the core's connect algorithm, as a task. A restored session first tries
   * its saved exit (once); when that fails, the discovery avoids it.
   */
  #attempt(connect: PortConnect): void {
    const { server } = connect;
    const entry = isSelectionPort(server.port) ? this.#selectionOnPort(server.port) : undefined;
    const prefer = entry?.prefer;
    if (entry) delete entry.prefer;
    const avoid = prefer ?? connect.avoid;
    const signal = AbortSignal.any([this.#stop.signal, connect.abort.signal]);
    const discover = () =>
      this.#deps.connector.connect(server, {
        ...(connect.attempt === 0 && avoid ? { avoid } : {}),
        ...(isSelectionPort(server.port)
          ? { discoveryAttempts: SELECTION_DISCOVERY_ATTEMPTS }
          : {}),
        signal,
      });
    this.#spawn(
      async (): Promise<ConnectedDestination> => {
        if (prefer !== undefined && !this.#deps.unusable.has(prefer)) {
          const reached = await this.#deps.connector.reachSpecificPeer(server, prefer, signal);
          if (reached === prefer) return { peerId: prefer, source: { kind: "sticky" } };
          logger.info("The saved exit {peer} of session {session} did not answer.", {
            peer: prefer,
            session: entry?.session,
          });
        }
        return await discover();
      },
      (outcome) => ({ type: "connect-done", connect, outcome }),
    );
  }

  #onConnectDone(connect: PortConnect, outcome: Outcome<ConnectedDestination>): void {
    const { server } = connect;
    if (this.#connects.get(server.port) !== connect) return;
    if (outcome.ok) {
      this.#connects.delete(server.port);
      if (connect.overtaken && this.#active.has(server.port)) return;
      return this.#setActive(server, outcome.value);
    }
    const { error } = outcome;
    if (error instanceof ExitConnectError && error.code === "aborted") {
      this.#connects.delete(server.port);
      return;
    }
    if (isSelectionPort(server.port)) return this.#onSelectionConnectFailed(connect, error);
    if (error instanceof ExitConnectError && error.code === "pinned-exhausted") {
      this.#pinnedDown.add(server.port);
    }
    // The background retry: a port never stays dark for good.
    const delayMs = connect.backoff.next();
    // The connector has said why (an `error` event); this line says when it tries again.
    const expected = error instanceof ExitConnectError;
    logger[expected ? "info" : "warn"](
      expected
        ? "Port {port}: looking for an exit again in {retryIn}."
        : "Port {port}: looking for an exit failed ({error}); trying again in {retryIn}.",
      { port: server.port, error: describeError(error), retryIn: formatDelay(delayMs) },
    );
    connect.attempt++;
    this.#after(delayMs, { type: "retry-due", connect });
  }

  /** Adopts `destination` and answers the port's waiting clients; `manual` names who chose it. */
  #setActive(
    server: ExitSelectionSettings,
    destination: ConnectedDestination,
    manual?: ManualSelectionRequest,
  ): void {
    this.#lost.delete(server.port);
    this.#pinnedDown.delete(server.port);
    if (isSelectionPort(server.port)) this.#noteSessionExit(server.port, destination.peerId);
    this.#active.set(server.port, { peerId: destination.peerId, source: destination.source });
    this.#deps.events.emit({
      type: "active-destination",
      port: server.port,
      peerId: destination.peerId,
      source: destination.source,
    });
    if (manual) {
      const template = manual.override === true
        ? "Port {port} now leaves through {peer} ({source}), chosen by {by} with override: " +
          "its pin and filters were not checked."
        : "Port {port} now leaves through {peer} ({source}), chosen by {by}.";
      logger.info(template, {
        port: server.port,
        peer: destination.peerId,
        source: destination.source.kind,
        by: manual.by,
      });
    } else {
      logger.info("Port {port} now leaves through {peer} ({source}).", {
        port: server.port,
        peer: destination.peerId,
        source: destination.source.kind,
      });
    }
    for (const waiter of this.#waiters.get(server.port) ?? []) {
      this.#answerWaiter(waiter, destination.peerId);
    }
    // A hand-picked exit landing meanwhile leaves them waiting: their own signal ends the wait.
    if (!manual) {
      const exit = { peerId: destination.peerId, source: destination.source };
      for (const resumer of this.#resumers.get(server.port) ?? []) {
        this.#answerResumer(resumer, { kind: "automatic", exit });
      }
    }
    this.#persist();
  }

  #clearActive(port: number): void {
    this.#active.delete(port);
    this.#deps.events.emit({ type: "active-destination", port });
  }

  #onConnection(event: ConnectionEvent): void {
    const { connection } = event;
    if (event.kind === "open") return this.#onOpen(event);
    if (event.remaining > 0) return;
    this.#strikes.delete(connection.peerId);
    for (const [port, active] of this.#active) {
      if (active.peerId !== connection.peerId) continue;
      this.#lost.set(port, active.peerId);
      this.#clearActive(port);
      // A selection's server finds another exit when a client next asks for it.
      if (isSelectionPort(port)) continue;
      logger.warn("Lost exit {peer} of port {port}.", { peer: active.peerId, port });
      this.#scheduleRediscovery(port, active.peerId);
    }
  }

  #onOpen(event: ConnectionEvent): void {
    const { connection } = event;
    if (!connection.relayed) {
      const bare = connection.address.replace(/\/p2p\/[^/]+$/, "");
      if (
        this.#deps.sticky.noteDirectAddress(
          connection.peerId,
          asMultiaddr(bare),
          this.#deps.clock.now(),
        )
      ) {
        this.#persist();
      }
    }
    for (const server of this.#servers.values()) {
      const active = this.#active.get(server.port);
      const switchToDirect = shouldPreferDirect({
        active: active?.peerId,
        activeSource: active?.source,
        activeRoute: active ? this.#deps.network.connectedRoute(active.peerId) : undefined,
        candidate: connection.peerId,
        candidateRoute: { address: connection.address, relayed: connection.relayed },
        pool: this.#deps.sticky.pool(server.port, serverFingerprint(server.port, server.filters)),
      });
      if (!switchToDirect) continue;
      this.#setActive(
        server,
        this.#deps.connector.adopt(server, connection.peerId, { kind: "sticky" }),
      );
    }
  }

  /** Rediscovers at once, unless this port rediscovered within the cooldown (then later, once). */
  #scheduleRediscovery(port: number, lost: PeerId): void {
    if (this.#connects.has(port) || this.#scheduled.has(port)) return;
    const since = this.#deps.clock.now() - (this.#lastRediscovery.get(port) ?? -Infinity);
    const delay = Math.max(0, this.#timings.rediscoveryCooldownMs - since);
    if (delay === 0) return this.#connect(port, lost);
    logger.info(
      "Rediscovery for port {port} throttled for {delay} ms (a client arriving sooner triggers it).",
      { port, delay },
    );
    this.#scheduled.add(port);
    this.#after(delay, { type: "rediscovery-due", port, lost });
  }

  #onRediscoveryDue(port: number, lost: PeerId): void {
    this.#scheduled.delete(port);
    // The port may have lost another exit while this waited: avoid the latest one.
    if (!this.#active.has(port)) this.#connect(port, this.#lost.get(port) ?? lost);
  }

  #onPingDue(): void {
    this.#after(this.#timings.pingIntervalMs, { type: "ping-due" });
    const peers = new Set([...this.#active.values()].map((a) => a.peerId));
    for (const peer of peers) {
      const ping: Ping = { peer, controller: new AbortController(), cancelTimeout: () => {} };
      ping.cancelTimeout = this.#after(this.#timings.pingTimeoutMs, { type: "ping-overdue", ping });
      const signal = AbortSignal.any([ping.controller.signal, this.#stop.signal]);
      this.#spawn(
        () => this.#deps.network.ping(peer, signal),
        (outcome) => ({ type: "ping-done", ping, outcome }),
      );
    }
  }

  #onPingDone(ping: Ping, outcome: Outcome<number>): void {
    ping.cancelTimeout();
    const { peer } = ping;
    if (outcome.ok) {
      this.#strikes.delete(peer);
      this.#deps.events.emit({ type: "ping", peerId: peer, rttMs: outcome.value });
      return;
    }
    const strikes = (this.#strikes.get(peer) ?? 0) + 1;
    this.#strikes.set(peer, strikes);
    this.#deps.events.emit({ type: "ping-failed", peerId: peer, strikes });
    logger.warn("Ping to exit {peer} failed ({strikes}/{max}): {error}", {
      peer,
      strikes,
      max: PING_STRIKES,
      error: describeError(outcome.error),
    });
    if (strikes < PING_STRIKES) return;
    this.#strikes.delete(peer);
    // Closing its last connection makes this a loss like any other (a `connection` message).
    this.#deps.network.hangUp(peer).catch((error) =>
      logger.warn("Hanging up on exit {peer} failed: {error}", {
        peer,
        error: describeError(error),
      })
    );
  }

  /**
   * A port on pinned rank r > 0 tries ranks 0..r-1 again (one pass at a time,
   * never blocking sessions): the first that connects becomes the exit for new
   * sessions; sessions already running stay where they are.
   */
  #onReclaimDue(): void {
    this.#after(this.#timings.pinnedReclaimIntervalMs, { type: "reclaim-due" });
    if (this.#reclaiming) return;
    const ranked = [...this.#servers.values()].flatMap((server) => {
      const source = this.#active.get(server.port)?.source;
      return source?.kind === "pinned" && source.rank > 0 ? [{ server, rank: source.rank }] : [];
    });
    if (ranked.length === 0) return;
    this.#reclaiming = true;
    this.#spawn(() => this.#reclaimPass(ranked), () => ({ type: "reclaim-done" }));
  }

  /** A task: for each port, dials its better ranks in order; the first that answers is posted. */
  async #reclaimPass(
    ranked: readonly { server: ExitSelectionSettings; rank: number }[],
  ): Promise<void> {
    for (const { server, rank: current } of ranked) {
      const better = server.pinned.slice(0, current);
      let resolved = new Map<PeerId, Multiaddr[]>();
      try {
        resolved = await this.#deps.directory.resolvePeers(
          better.map((p) => p.peerId),
          this.#stop.signal,
        );
      } catch {
        // No hub, or it failed: the verbatim multiaddrs are still worth a try.
      }
      for (const [rank, entry] of better.entries()) {
        if (this.#deps.unusable.has(entry.peerId)) continue;
        const routes = pinnedCandidateRoutes(entry, resolved);
        if (routes.length === 0) continue;
        try {
          const peerId = await this.#deps.network.dialAny(routes, this.#stop.signal);
          if (peerId !== entry.peerId) continue;
        } catch {
          continue;
        }
        this.#post({ type: "pinned-rank-back", back: { server, rank, peer: entry.peerId } });
        break;
      }
    }
  }

  #onPinnedRankBack({ server, rank, peer }: RankBack): void {
    // The pass ran outside the mailbox: an operator's choice, or a rank at least as good, that
    // landed meanwhile stays.
    const source = this.#active.get(server.port)?.source;
    if (source?.kind === "manual") return;
    if (source?.kind === "pinned" && source.rank <= rank) return;
    logger.info("Pinned rank {rank} of port {port} is back.", { rank, port: server.port });
    this.#setActive(server, { peerId: peer, source: { kind: "pinned", rank } });
  }

  /**
   * The server of `selection`: the one it already has (now the most recently used), or a new
   * one; idle selections are dropped first, and the least recently used when there are too many.
   */
  #serverForSelection(selection: ExitSelection): ExitSelectionSettings {
    const key = selectionKey(selection);
    const now = this.#deps.clock.now();
    // Each selection may have its own lifetime (a username's ttl): look at every one.
    for (const entry of [...this.#selections.values()]) {
      if (now - entry.usedAt >= entry.idleMs) this.#dropSelection(entry, "idle");
    }
    let entry = this.#selections.get(key);
    if (entry) {
      this.#selections.delete(key);
      const stale = now - entry.savedUsedAt >= Math.min(SESSION_TOUCH_SAVE_MS, entry.idleMs / 10);
      if (entry.session !== undefined && entry.peer !== undefined && stale) {
        entry.savedUsedAt = now;
        this.#persistSessions();
      }
    } else {
      const oldest = this.#selections.values().next().value;
      if (oldest && this.#selections.size >= this.#selectionBounds.max) {
        this.#dropSelection(oldest, "least recently used");
      }
      if (selection.owner !== undefined) this.#boundOwner(selection.owner);
      const port = this.#freeSelectionPorts.pop() ?? this.#nextSelectionPort++;
      entry = {
        key,
        server: {
          ...SELECTION_SERVER,
          port,
          filters: selection.filters,
          ...(selection.session === undefined ? {} : { spreadKey: selection.session }),
        },
        usedAt: now,
        savedUsedAt: now,
        idleMs: selection.idleMs ?? this.#selectionBounds.idleMs,
        ...(selection.owner === undefined ? {} : { owner: selection.owner }),
        ...(selection.session === undefined ? {} : { session: selection.session }),
      };
      const saved = this.#restored.get(key);
      if (saved !== undefined) {
        this.#restored.delete(key);
        // A saved session still within its lifetime leaves from its saved exit if it can.
        if (selection.session !== undefined && now - saved.used_at < saved.idle_ms) {
          entry.peer = entry.prefer = saved.peer_id as PeerId;
        }
      }
      this.#servers.set(port, entry.server);
    }
    entry.usedAt = now;
    this.#selections.set(key, entry);
    return entry.server;
  }

  /** Keeps an owner below its bound of selections, dropping its least recently used one. */
  #boundOwner(owner: string): void {
    const owned = [...this.#selections.values()].filter((entry) => entry.owner === owner);
    if (owned.length >= this.#selectionBounds.perOwner) {
      this.#dropSelection(owned[0]!, `least recently used of ${owner}`);
    }
  }

  #dropSelection(entry: SelectionServer, why: string): void {
    const { port } = entry.server;
    logger.debug("Dropping the selection {key} ({why}).", { key: entry.key, why });
    this.#selections.delete(entry.key);
    if (entry.session !== undefined) this.#persistSessions();
    this.#servers.delete(port);
    for (const waiter of [...(this.#waiters.get(port) ?? [])]) {
      this.#answerWaiter(waiter, undefined);
    }
    this.#connects.get(port)?.abort.abort(new Error("The selection was dropped."));
    this.#connects.delete(port);
    if (this.#active.has(port)) this.#clearActive(port);
    this.#lost.delete(port);
    this.#lastRediscovery.delete(port);
    this.#freeSelectionPorts.push(port);
  }

  /** A selection's connect failed: its waiting clients get no exit now (it does not retry). */
  #onSelectionConnectFailed(connect: PortConnect, error: unknown): void {
    const { port, filters } = connect.server;
    this.#connects.delete(port);
    logger.info("No exit for {filters}: {error}", {
      filters: describeFilters(filters),
      error: describeError(error),
    });
    for (const waiter of [...(this.#waiters.get(port) ?? [])]) {
      this.#answerWaiter(waiter, undefined);
    }
  }

  /** The selection whose server has `port`. */
  #selectionOnPort(port: number): SelectionServer | undefined {
    for (const entry of this.#selections.values()) if (entry.server.port === port) return entry;
    return undefined;
  }

  /** A session's server got `peer`: a different exit than before is a move (logged, counted). */
  #noteSessionExit(port: number, peer: PeerId): void {
    const entry = this.#selectionOnPort(port);
    if (entry?.session === undefined || entry.peer === peer) return;
    const from = entry.peer;
    entry.peer = peer;
    entry.savedUsedAt = entry.usedAt;
    this.#persistSessions();
    if (from === undefined) return;
    logger.info("Session {session} moved from exit {from} to {to}: its exit is gone.", {
      session: entry.session,
      from,
      to: peer,
    });
    this.#deps.events.emit({
      type: "session-moved",
      session: entry.session,
      ...(entry.owner === undefined ? {} : { account: entry.owner }),
      from,
      to: peer,
    });
  }

  /**
   * The sessions to save: those in use with an exit, then saved ones not used since the start
   * and still within their lifetime, most recent first, within the bounds of the selections.
   */
  #sessionsRecord(): StickySessionsRecord {
    const now = this.#deps.clock.now();
    const candidates: [string, StickySessionRecord][] = [];
    for (const entry of this.#selections.values()) {
      if (entry.session === undefined || entry.peer === undefined) continue;
      candidates.push([entry.key, {
        peer_id: entry.peer,
        owner: entry.owner ?? null,
        idle_ms: entry.idleMs,
        used_at: entry.savedUsedAt,
      }]);
    }
    for (const [key, saved] of this.#restored) {
      if (now - saved.used_at < saved.idle_ms) candidates.push([key, saved]);
    }
    candidates.sort(([, a], [, b]) => b.used_at - a.used_at);
    const perOwner = new Map<string | null, number>();
    const kept: [string, StickySessionRecord][] = [];
    for (const [key, session] of candidates) {
      const owned = perOwner.get(session.owner) ?? 0;
      if (owned >= this.#selectionBounds.perOwner || kept.length >= this.#selectionBounds.max) {
        continue;
      }
      perOwner.set(session.owner, owned + 1);
      kept.push([key, session]);
    }
    return { version: STICKY_SESSIONS_VERSION, sessions: Object.fromEntries(kept) };
  }

  /** Saves the sessions (when the store keeps them); saves run one after another, coalesced. */
  #persistSessions(): void {
    const store = this.#deps.store;
    if (store.saveSessions === undefined || this.#sessionsSaveQueued) return;
    this.#sessionsSaveQueued = true;
    this.#savingSessions = this.#savingSessions.then(async () => {
      this.#sessionsSaveQueued = false;
      await store.saveSessions?.(this.#sessionsRecord());
    }).catch((error) =>
      logger.warn("Saving the sessions failed: {error}", { error: describeError(error) })
    );
  }

  /** Saves the sticky state when it changed; saves run one after another. */
  #persist(): void {
    const sticky = this.#deps.sticky;
    if (!sticky.dirty) return;
    this.#saving = this.#saving.then(async () => {
      if (!sticky.dirty) return;
      const revision = sticky.revision;
      await this.#deps.store.save(sticky.toRecord());
      sticky.markClean(revision);
    }).catch((error) =>
      logger.warn("Saving the sticky pools failed: {error}", { error: describeError(error) })
    );
  }
}

/** True for the port of a selection's server (never a configured one). */
function isSelectionPort(port: number): boolean {
  return port >= SELECTION_PORT_BASE;
}
