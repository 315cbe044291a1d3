/**
 * Keeps an exit registered with every hub (docs/exit-behaviour.md#registration): one loop per hub
 * registers at start, re-registers every heartbeat (the interval the hub
 * answers, else the configured one), and after a failure retries with
 * backoff (1 s ×2 up to 30 s). A connection to the hub that closes (the hub
 * went away) or opens (the hub is back, perhaps restarted and empty) wakes
 * the loop at once. Every wait is bounded and cancelled by `stop()`.
 *
 * What it registers: the node's direct (non-circuit) addresses, at most 16,
 * and `relayed: true` while the node listens through that hub's relay
 * (`<hub>/p2p/<HUB>/p2p-circuit` among its addresses).
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { getLogger } from "@logtape/logtape";
import type { ExitAttributes } from "../core/domain/attributes.ts";
import { Backoff } from "../core/domain/backoff.ts";
import { MAX_REGISTERED_ADDRESSES } from "../core/domain/registry.ts";
import { describeError } from "../core/errors.ts";
import { formatDelay } from "../core/format_delay.ts";
import { isRelayedAddress, type Multiaddr, type PeerId } from "../core/ids.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import { DirectoryRequestSchema } from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { attributesToWire, DIRECTORY_RESPONSE_TIMEOUT_MS } from "../wire/directory_protocol.ts";
import {
  askHub,
  type HubTarget,
  hubTargets,
  type TokenSupplier,
} from "../wire/directory_client.ts";

const logger = getLogger(["p2proxy", "exit", "registrar"]);

/** First pause after a failed registration: 1 s ×2 up to 30 s, like every background retry. */
export const REGISTER_RETRY_INITIAL_MS = 1_000;
/** Growth factor of the retry pause. */
export const REGISTER_RETRY_FACTOR = 2;
/** Cap of the retry pause. */
export const REGISTER_RETRY_MAX_MS = 30_000;
/** Longest heartbeat taken from a hub's answer (the config's own maximum, one day). */
export const MAX_HEARTBEAT_MS = 86_400_000;

/** How the registrar is built. */
export interface ExitRegistrarOptions {
  /** The exit's node: its addresses are registered, its connections watched. */
  readonly network: NetworkNode;
  /** Hubs to register with, each ending in `/p2p/<hub id>`. */
  readonly hubs: readonly Multiaddr[];
  /** What the exit says about itself (the exit config's `attributes`). */
  readonly attributes: ExitAttributes;
  /** Re-registration interval until a hub answers with its own. */
  readonly heartbeatIntervalMs: number;
  /** Sleeps between attempts (cancellable). */
  readonly clock: Clock;
  /** The exit's token (role exit), for hubs with auth on; absent sends an empty token. */
  readonly token?: TokenSupplier;
  /** Deadline of one registration, dial included; default 10 s. */
  readonly timeoutMs?: number;
  /** Receives a `hub-registration` event per attempt (the terminal UI shows them). */
  readonly events?: EventSink;
  /** Whether the exit is at a sharing cap right now (docs/limits.md#share); absent: never. */
  readonly full?: () => boolean;
}

/** Where the registration with one hub stands. */
export interface HubRegistrationStatus {
  /** The hub's peer id. */
  readonly hub: PeerId;
  /** True since the last attempt succeeded. */
  readonly registered: boolean;
  /** Successful registrations so far. */
  readonly registrations: number;
  /** Failed attempts in a row. */
  readonly failures: number;
  /** The last failure, while failing. */
  readonly lastError?: string;
  /** The heartbeat in use for this hub. */
  readonly heartbeatIntervalMs: number;
}

/** One hub's loop state. */
class HubLoop {
  readonly target: HubTarget;
  registered = false;
  registrations = 0;
  failures = 0;
  lastError: string | undefined;
  heartbeatIntervalMs: number;
  attempting = false;
  /** A refresh came during an attempt: register again right after it. */
  again = false;
  wake: AbortController = new AbortController();
  readonly waiters = new Set<() => void>();

  constructor(target: HubTarget, heartbeatIntervalMs: number) {
    this.target = target;
    this.heartbeatIntervalMs = heartbeatIntervalMs;
  }

  status(): HubRegistrationStatus {
    return {
      hub: this.target.peer,
      registered: this.registered,
      registrations: this.registrations,
      failures: this.failures,
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
    };
  }
}

/** Keeps an exit registered with its hubs. Start with `ExitRegistrar.start`. */
export class ExitRegistrar {
  readonly #options: ExitRegistrarOptions;
  readonly #loops: HubLoop[];
  readonly #stop = new AbortController();
  readonly #running: Promise<void>[] = [];
  readonly #unsubscribe: () => void;

  private constructor(options: ExitRegistrarOptions) {
    this.#options = options;
    this.#loops = hubTargets(options.hubs).map((target) =>
      new HubLoop(target, options.heartbeatIntervalMs)
    );
    this.#unsubscribe = options.network.onConnection((event) => {
      const loop = this.#loops.find((l) => l.target.peer === event.connection.peerId);
      if (!loop || loop.attempting) return;
      // Closed: the hub went away, start retrying. Opened: it is back, maybe without our record.
      if (event.kind === "open" || event.remaining === 0) loop.wake.abort();
    });
  }

  /** Starts one loop per hub; does not wait for the first registrations (see `whenRegistered`). */
  static start(options: ExitRegistrarOptions): ExitRegistrar {
    const registrar = new ExitRegistrar(options);
    for (const loop of registrar.#loops) registrar.#running.push(registrar.#run(loop));
    return registrar;
  }

  /** Where the registration with each hub stands. */
  status(): HubRegistrationStatus[] {
    return this.#loops.map((loop) => loop.status());
  }

  /**
   * Resolves once every hub (or the one given) has accepted a registration
   * since this call; rejects with `signal`'s reason, or when stopped.
   */
  whenRegistered(signal?: AbortSignal, hub?: PeerId): Promise<void> {
    const loops = this.#loops.filter((loop) => hub === undefined || loop.target.peer === hub);
    return Promise.all(loops.map((loop) => this.#nextRegistration(loop, signal))).then(() => {});
  }

  /**
   * Registers again with every hub now (not at the next heartbeat): what the exit says about
   * itself changed, e.g. it became full or takes sessions again.
   */
  refresh(): void {
    for (const loop of this.#loops) {
      if (loop.attempting) loop.again = true;
      else loop.wake.abort();
    }
  }

  /** Cancels every wait and attempt; resolves when the loops have ended. */
  async stop(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort(new Error("The exit registrar stopped."));
    this.#unsubscribe();
    await Promise.allSettled(this.#running);
  }

  #nextRegistration(loop: HubLoop, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const signals = [this.#stop.signal, ...(signal ? [signal] : [])];
      const aborted = signals.find((s) => s.aborted);
      if (aborted) return reject(aborted.reason);
      const done = () => {
        loop.waiters.delete(done);
        for (const s of signals) s.removeEventListener("abort", onAbort);
      };
      const onAbort = (event: Event) => {
        done();
        reject((event.target as AbortSignal).reason);
      };
      for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
      loop.waiters.add(() => {
        done();
        resolve();
      });
    });
  }

  async #run(loop: HubLoop): Promise<void> {
    const backoff = new Backoff(
      REGISTER_RETRY_INITIAL_MS,
      REGISTER_RETRY_FACTOR,
      REGISTER_RETRY_MAX_MS,
    );
    while (!this.#stop.signal.aborted) {
      loop.wake = new AbortController();
      let waitMs: number;
      try {
        loop.attempting = true;
        await this.#register(loop);
        backoff.reset();
        waitMs = loop.heartbeatIntervalMs;
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        waitMs = backoff.next();
        this.#failed(loop, error, waitMs);
      } finally {
        loop.attempting = false;
      }
      // A refresh during the attempt may have sent the old state: go again at once.
      if (loop.again) {
        loop.again = false;
        continue;
      }
      await this.#wait(loop, waitMs);
    }
  }

  async #register(loop: HubLoop): Promise<void> {
    const { network, attributes } = this.#options;
    const token = this.#options.token ? await this.#options.token() : "";
    const request = create(DirectoryRequestSchema, {
      request: {
        case: "register",
        value: {
          attributes: attributesToWire(attributes),
          addresses: directAddresses(network.addresses()),
          relayed: listensThrough(network.addresses(), loop.target.peer),
          full: this.#options.full?.() ?? false,
          token,
        },
      },
    });
    const answer = await askHub(network, loop.target, request, "register", {
      timeoutMs: this.#options.timeoutMs ?? DIRECTORY_RESPONSE_TIMEOUT_MS,
      signal: this.#stop.signal,
    });
    if (answer.heartbeatSecs > 0) {
      loop.heartbeatIntervalMs = Math.min(answer.heartbeatSecs * 1000, MAX_HEARTBEAT_MS);
    }
    if (!loop.registered) {
      logger.info("Registered with hub {hub}; re-registering every {seconds} s.", {
        hub: loop.target.peer,
        seconds: loop.heartbeatIntervalMs / 1000,
      });
    }
    loop.registered = true;
    loop.registrations++;
    loop.failures = 0;
    loop.lastError = undefined;
    this.#options.events?.emit({
      type: "hub-registration",
      hub: loop.target.peer,
      registered: true,
      failures: 0,
    });
    for (const waiter of [...loop.waiters]) waiter();
  }

  #failed(loop: HubLoop, error: unknown, retryInMs: number): void {
    const message = describeError(error);
    // One line per attempt; the backoff keeps them few (at most one per 30 s).
    logger.warn("Registering with hub {hub} failed: {error}. Retrying in {retryIn}.", {
      hub: loop.target.peer,
      error: message,
      retryIn: formatDelay(retryInMs),
      retryInMs,
      attempt: loop.failures + 1,
    });
    logger.debug("Registering with hub {hub} failed: {stack}", {
      hub: loop.target.peer,
      stack: error instanceof Error ? error.stack : String(error),
    });
    loop.registered = false;
    loop.failures++;
    loop.lastError = message;
    this.#options.events?.emit({
      type: "hub-registration",
      hub: loop.target.peer,
      registered: false,
      failures: loop.failures,
      error: message,
    });
  }

  /** Sleeps `ms` on the clock unless stopped or woken by a connection event first. */
  async #wait(loop: HubLoop, ms: number): Promise<void> {
    const signal = AbortSignal.any([this.#stop.signal, loop.wake.signal]);
    try {
      await this.#options.clock.sleep(ms, signal);
    } catch {
      // Woken or stopped: the loop decides what next.
    }
  }
}

/** The node's direct addresses, deduplicated, at most what a hub accepts. */
export function directAddresses(addresses: readonly Multiaddr[]): string[] {
  return [...new Set(addresses.filter((address) => !isRelayedAddress(address)))]
    .slice(0, MAX_REGISTERED_ADDRESSES);
}

/** True when one of the node's addresses is a circuit through `hub`'s relay. */
export function listensThrough(addresses: readonly Multiaddr[], hub: PeerId): boolean {
  return addresses.some((address) => address.includes(`/p2p/${hub}/p2p-circuit`));
}
