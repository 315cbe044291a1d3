/**
 * Route shaping: relay circuits synthesised through the hub, direct-first
 * ordering, and tagging a bare address with the peer it reaches.
 *
 * @module
 */
import { asMultiaddr, isRelayedAddress, type Multiaddr, type PeerId } from "../ids.ts";

/**
 * The route `<relay>/p2p-circuit/p2p/<peer>` through the hub's relay. Used when
 * the hub cannot say where a peer is; it only reaches peers that hold a
 * reservation on that relay.
 *
 * Undefined when the relay address does not end in `/p2p/<relayId>` (js-libp2p
 * needs the relay's id to dial a circuit), is itself a circuit, or when `peer`
 * is the relay.
 *
 * @example
 * ```ts
 * synthesizeCircuit(asMultiaddr("/dns4/hub.example/tcp/4001/p2p/12D3KooWHub"), asPeerId("12D3KooWExit"));
 * // "/dns4/hub.example/tcp/4001/p2p/12D3KooWHub/p2p-circuit/p2p/12D3KooWExit"
 * ```
 */
export function synthesizeCircuit(relay: Multiaddr, peer: PeerId): Multiaddr | undefined {
  const base = withoutTrailingSlash(relay);
  if (!peer || isRelayedAddress(base)) return undefined;
  const relayId = trailingPeerId(base);
  if (relayId === undefined || relayId === peer) return undefined;
  return asMultiaddr(`${base}/p2p-circuit/p2p/${peer}`);
}

/**
 * Splits routes into direct ones and relay circuits, dropping duplicates and
 * keeping the first-seen order in each, so that circuits are dialled only
 * when no direct route connects.
 */
export function partitionDirectFirst(
  addresses: Iterable<Multiaddr>,
): { direct: Multiaddr[]; relayed: Multiaddr[] } {
  const seen = new Set<Multiaddr>();
  const direct: Multiaddr[] = [];
  const relayed: Multiaddr[] = [];
  for (const address of addresses) {
    if (seen.has(address)) continue;
    seen.add(address);
    (isRelayedAddress(address) ? relayed : direct).push(address);
  }
  return { direct, relayed };
}

/**
 * `address` ending in `/p2p/<peer>`: returned as is when it already names
 * `peer`, tagged when it names no peer, undefined when it names another peer.
 * A remembered bare address must be tagged: the dialer learns whom it reached
 * from that suffix.
 */
export function withPeerId(address: Multiaddr, peer: PeerId): Multiaddr | undefined {
  const base = withoutTrailingSlash(address);
  if (!peer || base === "") return undefined;
  const named = trailingPeerId(base);
  if (named === undefined) return asMultiaddr(`${base}/p2p/${peer}`);
  return named === peer ? asMultiaddr(base) : undefined;
}

/** The id of a multiaddr that ends in `/p2p/<id>`, else undefined. */
function trailingPeerId(address: string): PeerId | undefined {
  const parts = address.split("/");
  const id = parts[parts.length - 1];
  if (parts.length < 3 || parts[parts.length - 2] !== "p2p" || !id) return undefined;
  return id as PeerId;
}

function withoutTrailingSlash(address: string): string {
  return address.replace(/\/+$/, "");
}
