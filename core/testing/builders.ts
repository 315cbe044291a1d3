/**
 * Builders of test data: servers, peer ids, addresses, directory records.
 * Deterministic, so a failing test prints the same ids every run.
 *
 * @module
 */
import { asMultiaddr, asPeerId, type Multiaddr, type PeerId } from "../ids.ts";
import { type ExitAttributes, NO_FILTERS } from "../domain/attributes.ts";
import type { ExitSelectionSettings, PinnedPeer } from "../domain/server.ts";
import type { PeerRecord } from "../ports/peer_directory.ts";

const BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/** Identity multihash (0x00, 32+4 bytes) of a protobuf Ed25519 public key (type 1, 32 bytes). */
const ED25519_PEER_ID_PREFIX = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/** Peer id numbers at and above this are reserved for relays made by `aRelayPeerId`. */
const RELAY_PEER_BASE = 1_000_000;

/**
 * A deterministic peer id for `n`: the base58 form of an Ed25519 identity
 * multihash (`12D3KooW…`, 52 characters), so it parses like a real one.
 * Different `n` give different ids.
 */
export function aPeerId(n: number): PeerId {
  const key = pseudoRandomBytes(n, 32);
  return asPeerId(base58(Uint8Array.from([...ED25519_PEER_ID_PREFIX, ...key])));
}

/** The peer id of a hub/relay (never equal to an `aPeerId(n)` of a small `n`). */
export function aRelayPeerId(n = 0): PeerId {
  return aPeerId(RELAY_PEER_BASE + n);
}

/** A direct TCP address of `peer` in TEST-NET-2, ending in `/p2p/<peer>`; `n` varies the host. */
export function aDirectAddress(peer: PeerId, n = 7): Multiaddr {
  return asMultiaddr(`/ip4/198.51.100.${n % 256}/tcp/4001/p2p/${peer}`);
}

/** The hub's relay address, ending in `/p2p/<relay>`. */
export function aRelayAddress(relay: PeerId = aRelayPeerId()): Multiaddr {
  return asMultiaddr(`/dns4/hub.example.com/tcp/4001/p2p/${relay}`);
}

/** A circuit to `peer` through the relay at `relayAddress`. */
export function aCircuitAddress(
  peer: PeerId,
  relayAddress: Multiaddr = aRelayAddress(),
): Multiaddr {
  return asMultiaddr(`${relayAddress}/p2p-circuit/p2p/${peer}`);
}

/** Exit attributes that pass the default filters, with `overrides` applied. */
export function someAttributes(overrides: Partial<ExitAttributes> = {}): ExitAttributes {
  return {
    country: "NL",
    city: "Amsterdam",
    isp: "Example Hosting B.V.",
    asn: 64_496,
    bandwidthBps: 100_000_000,
    proxy: false,
    mobile: false,
    hosting: false,
    ...overrides,
  };
}

/** A directory record of `peer`; by default one direct route and some attributes. */
export function aPeerRecord(
  peer: PeerId,
  routes: readonly Multiaddr[] = [aDirectAddress(peer)],
  attributes: ExitAttributes = someAttributes(),
): PeerRecord {
  return { peerId: peer, routes: [...routes], attributes };
}

/** A discovery server on port 1080 (sticky, `with-backoff`, pool of 30), with `overrides` applied. */
export function aServer(overrides: Partial<ExitSelectionSettings> = {}): ExitSelectionSettings {
  return {
    port: 1080,
    filters: NO_FILTERS,
    pinned: [],
    fallbackToDiscovery: false,
    sticky: true,
    stickyReconnect: "with-backoff",
    poolMaxTotal: 30,
    ...overrides,
  };
}

/** The `pinned` list of a server pinned to `peers` in rank order, by bare id. */
export function pinnedTo(...peers: PeerId[]): PinnedPeer[] {
  return peers.map((peerId) => ({ peerId }));
}

/** xorshift32 seeded by `seed`: enough to spread ids, not cryptography. */
function pseudoRandomBytes(seed: number, length: number): number[] {
  let state = (Math.imul(seed + 1, 0x9e3779b1) ^ 0x5bd1e995) >>> 0 || 1;
  const bytes: number[] = [];
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes.push(state & 0xff);
  }
  return bytes;
}

function base58(bytes: Uint8Array): string {
  let value = 0n;
  for (const byte of bytes) value = value * 256n + BigInt(byte);
  let text = "";
  while (value > 0n) {
    text = BASE58_ALPHABET[Number(value % 58n)] + text;
    value /= 58n;
  }
  for (const byte of bytes) {
    if (byte !== 0) break;
    text = "1" + text;
  }
  return text;
}
