/**
 * An in-memory stand-in for the network actor, for unit tests of code that
 * takes `Pick<NetworkNode, …>` (the discovery actor): scripted reachability
 * like `FakeDialer`, plus connection events with the peer's `remaining`
 * count, scripted pings and recorded hang-ups. Dials can be held open to
 * observe work in flight. Everything answers on a microtask; no timers.
 *
 * @module
 */
import {
  isRelayedAddress,
  type Multiaddr,
  type PeerId,
  peerIdOfAddress,
  type Route,
} from "../core/ids.ts";
import { DialError } from "../core/ports/dialer.ts";
import type { ConnectionEvent, ConnectionInfo, NetworkNode } from "../core/ports/network.ts";

/** The part of `NetworkNode` the fake provides (a `Dialer`, events, pings, hang-ups). */
export type FakeNetworkNode = Pick<
  NetworkNode,
  "onConnection" | "ping" | "hangUp" | "connectedRoute" | "dialAny" | "isConnected"
>;

/** Round-trip time a ping reports when nothing is scripted for its peer. */
export const FAKE_PING_RTT_MS = 1;

/**
 * A scripted network. A dialled address connects when its target peer
 * (`/p2p/<id>` suffix) is in `reachablePeers` and the address is not in
 * `deadAddresses`; the first such address of a `dialAny` list wins. A dial to
 * a peer that is already connected reuses the connection (no event), as
 * libp2p does; a new connection emits `open`, and closing one emits `close`
 * with the number of the peer's connections still open.
 *
 * @example
 * ```ts
 * const network = new FakeNetwork();
 * network.reachablePeers.add(peer);
 * const hold = network.holdDials(); // dials wait here until hold() is called
 * network.close(peer); // the peer's last connection: `remaining` is 0
 * ```
 */
export class FakeNetwork implements FakeNetworkNode {
  /** The address list of every `dialAny` call, in order. */
  readonly dials: Multiaddr[][] = [];
  /** Peers whose addresses connect. */
  readonly reachablePeers: Set<PeerId> = new Set();
  /** Addresses that never connect, even when their peer is reachable. */
  readonly deadAddresses: Set<Multiaddr> = new Set();
  /** Every pinged peer, in order. */
  readonly pings: PeerId[] = [];
  /** Every peer hung up on, in order. */
  readonly hangUps: PeerId[] = [];
  readonly #connections = new Map<PeerId, ConnectionInfo[]>();
  readonly #listeners = new Set<(event: ConnectionEvent) => void>();
  readonly #pingScripts = new Map<PeerId, (number | Error)[]>();
  #held: { promise: Promise<void>; release: () => void } | undefined;

  /** Starts with `peers` reachable. */
  constructor(...peers: PeerId[]) {
    for (const peer of peers) this.reachablePeers.add(peer);
  }

  /** How many listeners are subscribed (0 once everyone unsubscribed). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Every address dialled, across calls, in order. */
  get dialedAddresses(): Multiaddr[] {
    return this.dials.flat();
  }

  /** Subscribes to connection events; returns the unsubscribe function. */
  onConnection(listener: (event: ConnectionEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Makes every dial (already waiting or still to come) wait until the
   * returned function is called; an aborted dial stops waiting and rejects.
   */
  holdDials(): () => void {
    let release = () => {};
    const promise = new Promise<void>((resolve) => (release = resolve));
    const held = { promise, release };
    this.#held = held;
    return () => {
      if (this.#held === held) this.#held = undefined;
      held.release();
    };
  }

  /** Records the list, then connects the first address that connects (see the class doc). */
  async dialAny(addresses: readonly Multiaddr[], signal?: AbortSignal): Promise<PeerId> {
    signal?.throwIfAborted();
    this.dials.push([...addresses]);
    await this.#waitWhileHeld(signal);
    signal?.throwIfAborted();
    const winner = addresses.find((address) => this.#connects(address));
    const peer = winner === undefined ? undefined : peerIdOfAddress(winner);
    if (winner === undefined || peer === undefined) {
      throw new DialError("none-connected", `None of ${addresses.length} addresses connected.`);
    }
    if (!this.isConnected(peer)) this.open(peer, winner, "outbound");
    return peer;
  }

  /** Opens a connection to `peer` over `address` (an inbound one by default) and emits `open`. */
  open(
    peer: PeerId,
    address: Multiaddr,
    direction: ConnectionInfo["direction"] = "inbound",
  ): ConnectionInfo {
    const connection: ConnectionInfo = {
      peerId: peer,
      address,
      relayed: isRelayedAddress(address),
      direction,
    };
    const open = [...this.connections(peer), connection];
    this.#connections.set(peer, open);
    this.#emit({ kind: "open", connection, remaining: open.length });
    return connection;
  }

  /**
   * Closes one connection to `peer` (the one over `address`, else the first)
   * and emits `close` with the count still open. False when none was open.
   */
  close(peer: PeerId, address?: Multiaddr): boolean {
    const open = this.connections(peer);
    const index = address === undefined ? 0 : open.findIndex((c) => c.address === address);
    const connection = open[index];
    if (connection === undefined) return false;
    open.splice(index, 1);
    if (open.length === 0) this.#connections.delete(peer);
    else this.#connections.set(peer, open);
    this.#emit({ kind: "close", connection, remaining: open.length });
    return true;
  }

  /** The open connections to `peer`, oldest first. */
  connections(peer: PeerId): ConnectionInfo[] {
    return [...(this.#connections.get(peer) ?? [])];
  }

  /** True while a connection to `peer` is open. */
  isConnected(peer: PeerId): boolean {
    return this.connections(peer).length > 0;
  }

  /** The direct connection to `peer` if any, else its first relayed one. */
  connectedRoute(peer: PeerId): Route | undefined {
    const open = this.connections(peer);
    const best = open.find((c) => !c.relayed) ?? open[0];
    return best === undefined ? undefined : { address: best.address, relayed: best.relayed };
  }

  /** Queues the answers of the next pings to `peer`: an RTT in ms, or an error to reject with. */
  scriptPings(peer: PeerId, ...answers: (number | Error)[]): void {
    this.#pingScripts.set(peer, [...(this.#pingScripts.get(peer) ?? []), ...answers]);
  }

  /** Records the ping and answers from the peer's script, then {@link FAKE_PING_RTT_MS}. */
  async ping(peer: PeerId, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    this.pings.push(peer);
    const answer = this.#pingScripts.get(peer)?.shift() ?? FAKE_PING_RTT_MS;
    await Promise.resolve();
    if (answer instanceof Error) throw answer;
    return answer;
  }

  /** Records the hang-up and closes every connection to `peer`, emitting each `close`. */
  hangUp(peer: PeerId): Promise<void> {
    this.hangUps.push(peer);
    while (this.close(peer));
    return Promise.resolve();
  }

  #emit(event: ConnectionEvent): void {
    for (const listener of [...this.#listeners]) listener(event);
  }

  #connects(address: Multiaddr): boolean {
    if (this.deadAddresses.has(address)) return false;
    const peer = peerIdOfAddress(address);
    return peer !== undefined && this.reachablePeers.has(peer);
  }

  async #waitWhileHeld(signal: AbortSignal | undefined): Promise<void> {
    while (this.#held !== undefined) {
      const { promise } = this.#held;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal?.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
        promise.then(() => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        });
      });
    }
  }
}
