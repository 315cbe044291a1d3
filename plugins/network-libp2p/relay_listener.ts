/**
 * Listening through a hub's relay (`<hub>/p2p/<HUB>/p2p-circuit`), kept up.
 *
 * Handed to libp2p as plain listen addresses, a circuit address has two
 * problems for an exit behind NAT: libp2p's start fails when the hub is
 * unreachable at that moment, and after the hub restarts the reservation is
 * gone for good (js-libp2p drops it with the connection and never makes a
 * new one for a configured relay). So the network takes circuit addresses
 * out of libp2p's listen list and this keeper listens on each after start:
 * a failure is retried with backoff (1 s ×2 up to 30 s) and as soon as a
 * connection to the hub opens again; a lost reservation is made again.
 *
 * It listens through libp2p's transport manager (reached as a libp2p
 * service, the sanctioned way to get components), so the transport manager
 * owns the listener: its addresses are advertised and it is closed on stop.
 *
 * @module
 */
import type { Listener } from "@libp2p/interface";
import { getLogger } from "@logtape/logtape";
import { type Multiaddr as Libp2pMultiaddr, multiaddr } from "@multiformats/multiaddr";
import { Backoff } from "../../core/domain/backoff.ts";
import { formatDelay } from "../../core/format_delay.ts";
import { listenFailureDetail } from "./listen_failure.ts";
import { isRelayedAddress, type PeerId, peerIdOfAddress } from "../../core/ids.ts";

const logger = getLogger(["p2proxy", "network"]);

/** First pause before retrying a relay listen: 1 s ×2 up to 30 s, like every background retry. */
export const RELAY_LISTEN_RETRY_INITIAL_MS = 1_000;
/** Growth of the retry pause. */
export const RELAY_LISTEN_RETRY_FACTOR = 2;
/** Cap of the retry pause: a hub that comes back is used again within this long at worst. */
export const RELAY_LISTEN_RETRY_MAX_MS = 30_000;

/** The libp2p service name the keeper's component hook is registered under. */
export const RELAY_LISTEN_SERVICE_NAME = "p2proxyRelayListen";

/** The parts of libp2p's components the keeper uses. */
interface KeeperComponents {
  readonly transportManager: {
    listen(addrs: Libp2pMultiaddr[]): Promise<void>;
    getListeners(): Listener[];
  };
  /** Read only, to tell "the relay is unreachable" from "the relay said no" in the log. */
  readonly connectionManager?: {
    getConnections(): ReadonlyArray<{ readonly remotePeer: { toString(): string } }>;
  };
}

/** True for `<relay>/p2p/<id>/p2p-circuit`: an address to listen through a specific relay. */
export function isRelayListenAddress(address: string): boolean {
  const trimmed = address.replace(/\/+$/, "");
  if (!trimmed.endsWith("/p2p-circuit") || !isRelayedAddress(trimmed)) return false;
  return peerIdOfAddress(trimmed.slice(0, -"/p2p-circuit".length)) !== undefined;
}

/**
 * A libp2p service that only hands the keeper the transport manager. (Not
 * the components object itself: libp2p calls lifecycle hooks on every
 * service, and on the components that would recurse.)
 */
export function relayListenService(): (components: KeeperComponents) => KeeperComponents {
  return (components) => ({
    get transportManager() {
      return components.transportManager;
    },
    get connectionManager() {
      return components.connectionManager;
    },
  });
}

/** Keeps one listener per relay address up. */
export class RelayListenKeeper {
  readonly #components: KeeperComponents;
  readonly #addresses: readonly string[];
  readonly #stop = new AbortController();
  readonly #wakers = new Map<PeerId, () => void>();
  readonly #loops: Promise<void>[] = [];

  /** `addresses` are relay listen addresses (see {@link isRelayListenAddress}). */
  constructor(components: KeeperComponents, addresses: readonly string[]) {
    this.#components = components;
    this.#addresses = addresses;
  }

  /**
   * Listens on each address once, in turn (so each listener can be told
   * apart), then keeps them up in the background. Never throws: a relay
   * that is down is retried.
   */
  async start(): Promise<void> {
    for (const address of this.#addresses) {
      const listener = await this.#firstListen(address);
      if (listener) this.#loops.push(this.#keep(address, listener));
    }
  }

  /** Wakes the keeper of a relay whose connection just opened. */
  connectionOpened(peer: PeerId): void {
    this.#wakers.get(peer)?.();
  }

  /** Stops retrying; libp2p closes the listeners. */
  async stop(): Promise<void> {
    this.#stop.abort();
    for (const wake of this.#wakers.values()) wake();
    await Promise.allSettled(this.#loops);
  }

  /** Lets the transport manager create (and own) the listener; returns it even when listening failed. */
  async #firstListen(address: string): Promise<Listener | undefined> {
    const before = new Set(this.#components.transportManager.getListeners());
    try {
      await this.#components.transportManager.listen([multiaddr(address)]);
      logger.info("Listening through the relay {address}.", { address });
    } catch (error) {
      const fields = { address, error: listenFailureDetail(error) };
      if (this.#connectedTo(address)) {
        // The hub is there but refused the reservation: only this line says so.
        logger.warn("The relay {address} refused to carry this node: {error}. Retrying.", fields);
      } else {
        // The hub is unreachable: the exit's registrar warns about it on every attempt.
        logger.info(
          "Will listen through the relay {address} once it is reachable ({error}).",
          fields,
        );
      }
      logger.debug("Relay listen on {address} failed: {stack}", {
        address,
        stack: error instanceof Error ? error.stack : String(error),
      });
    }
    const created = this.#components.transportManager.getListeners().filter((l) => !before.has(l));
    if (created.length !== 1) {
      logger.error("Cannot keep listening through {address}: libp2p made no single listener.", {
        address,
      });
      return undefined;
    }
    return created[0];
  }

  async #keep(address: string, listener: Listener): Promise<void> {
    const relay = peerIdOfAddress(address.replace(/\/p2p-circuit\/?$/, ""));
    if (!relay) return;
    const backoff = new Backoff(
      RELAY_LISTEN_RETRY_INITIAL_MS,
      RELAY_LISTEN_RETRY_FACTOR,
      RELAY_LISTEN_RETRY_MAX_MS,
    );
    const ma = multiaddr(address);
    while (!this.#stop.signal.aborted) {
      let failure: string | undefined;
      if (listener.getAddrs().length > 0) {
        backoff.reset();
        await this.#waitFor(relay, listener, undefined);
        continue;
      }
      try {
        await listener.listen(ma);
      } catch (error) {
        failure = listenFailureDetail(error);
      }
      if (listener.getAddrs().length > 0) {
        logger.info("Listening through the relay {address} again.", { address });
      } else {
        const delayMs = backoff.next();
        logger.debug("Listening through {address} failed again: {error}. Retrying in {retryIn}.", {
          address,
          error: failure ?? "no relay address yet",
          retryIn: formatDelay(delayMs),
        });
        await this.#waitFor(relay, listener, delayMs);
      }
    }
  }

  /** True while this node has a connection to the relay of `address`. */
  #connectedTo(address: string): boolean {
    const relay = peerIdOfAddress(address.replace(/\/p2p-circuit\/?$/, ""));
    const connections = this.#components.connectionManager?.getConnections() ?? [];
    return relay !== undefined && connections.some((c) => c.remotePeer.toString() === relay);
  }

  /**
   * Resolves when the listener's addresses change (e.g. the reservation was
   * lost), a connection to the relay opens, the keeper stops, or after
   * `timeoutMs` when given.
   */
  #waitFor(relay: PeerId, listener: Listener, timeoutMs: number | undefined): Promise<void> {
    if (this.#stop.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        listener.removeEventListener("listening", done);
        if (this.#wakers.get(relay) === done) this.#wakers.delete(relay);
        resolve();
      };
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
      listener.addEventListener("listening", done);
      this.#wakers.set(relay, done);
    });
  }
}
