/**
 * Identifiers the core passes around. The core never holds a libp2p object:
 * peer ids and multiaddrs are plain strings with a brand, so that a peer id
 * cannot be passed where an address is expected.
 *
 * @module
 */

/** A libp2p peer id in its string form (`12D3KooW…`). */
export type PeerId = string & { readonly __brand: "PeerId" };

/** A multiaddr in its string form (`/ip4/127.0.0.1/tcp/4001/p2p/12D3…`). */
export type Multiaddr = string & { readonly __brand: "Multiaddr" };

/** Brands a string as a peer id. Validation happens at the edges (config, wire). */
export function asPeerId(value: string): PeerId {
  return value as PeerId;
}

/** Brands a string as a multiaddr. Validation happens at the edges (config, wire). */
export function asMultiaddr(value: string): Multiaddr {
  return value as Multiaddr;
}

/** A route to a peer: an address and whether it goes through a relay. */
export interface Route {
  /** The multiaddr to dial, ending in `/p2p/<peer id>`. */
  readonly address: Multiaddr;
  /** True for a `/p2p-circuit` route through a hub's relay. */
  readonly relayed: boolean;
}

/** True when the multiaddr goes through a circuit relay. */
export function isRelayedAddress(address: string): boolean {
  return address.includes("/p2p-circuit");
}

/** The `/p2p/<id>` suffix of a multiaddr (the last one, the target of a circuit), if any. */
export function peerIdOfAddress(address: string): PeerId | undefined {
  const parts = address.split("/");
  for (let i = parts.length - 2; i >= 0; i--) {
    if (parts[i] === "p2p" && parts[i + 1]) return parts[i + 1] as PeerId;
  }
  return undefined;
}
