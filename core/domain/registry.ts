/**
 * The hub's directory rules (docs/hub-behaviour.md), pure: what a registration must
 * look like, when an exit is forgotten, which exits a `FindNodes` returns and
 * in what order, and which routes each record carries.
 *
 * Identity: the registered peer id is always the remote peer of the
 * connection the request came on, passed in by the caller; nothing in the
 * message can name another peer (an address whose `/p2p/` names another peer
 * is refused).
 *
 * Order of a `FindNodes` answer (documented in ARCHITECTURE.md):
 * 1. exits with at least one direct address before relay-only exits;
 * 2. within each group, least recently returned first: the hub stamps every
 *    exit it returns with a rising sequence number ({@link ExitRotation}), so
 *    successive queries rotate through all matching exits and spread load;
 * 3. ties (only exits never returned tie) are broken deterministically by
 *    peer id, so answers are reproducible.
 * The rotation is per hub and in memory: hubs sharing a registry rotate
 * independently, and a restarted hub starts over.
 *
 * @module
 */
import { multiaddr } from "@multiformats/multiaddr";
import { P2proxyError } from "../errors.ts";
import { isRelayedAddress, type Multiaddr, type PeerId, peerIdOfAddress } from "../ids.ts";
import type { ExitRegistration, RegistryQuery, RelaySlot } from "../ports/registry_store.ts";
import type { ExitAttributes, ServerFilters } from "./attributes.ts";
import { MAX_BANDWIDTH_BPS } from "./bandwidth.ts";
import { synthesizeCircuit, withPeerId } from "./circuit.ts";
import { normalizeCountry } from "./country.ts";
import { createFilterPredicate } from "./filters.ts";

/** Longest city, region or ISP an exit may register; real names are far shorter. */
export const MAX_ATTRIBUTE_CHARS = 128;

/** Most addresses one registration may carry; a host has a handful of interfaces. */
export const MAX_REGISTERED_ADDRESSES = 16;

/** Longest registered multiaddr; a DNS name plus a peer id fits in well under this. */
export const MAX_ADDRESS_CHARS = 256;

/** Largest autonomous system number (32-bit ASNs, RFC 6793). */
export const MAX_ASN = 4_294_967_295;

/** Most exits one `FindNodes` answer holds, whatever the request or the config say. */
export const FIND_NODES_HARD_LIMIT = 100;

/** Most peer ids one `ResolvePeers` request may name. */
export const MAX_RESOLVE_IDS = 100;

/** Most peer ids one `FindNodes` exclude list may name; a proxy excludes the few it just lost. */
export const MAX_EXCLUDE_IDS = 1_000;

/** Longest string accepted as a peer id in a request (an Ed25519 id is 52 characters). */
export const MAX_PEER_ID_CHARS = 128;

/**
 * Most relay circuits one record carries: one per hub address; more only
 * lengthens the proxy's dial race.
 */
export const MAX_RELAY_ROUTES = 4;

/**
 * Most hubs whose relay slots one record remembers: an exit bootstraps to a
 * handful of hubs; more only lengthens the proxy's dial race.
 */
export const MAX_RELAY_HUBS = 8;

/** Longest value quoted whole in a problem. */
const MAX_QUOTED_CHARS = 64;

// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** Why the hub refused a request. */
export type RegistryErrorCode = "invalid-argument";

/** A registration or query the hub refuses; `problems` lists every reason, one sentence each. */
export class RegistryError extends P2proxyError<RegistryErrorCode> {
  /** Every problem found. */
  readonly problems: readonly string[];

  /** The message joins `problems`. */
  constructor(code: RegistryErrorCode, what: string, problems: readonly string[]) {
    super(code, `${what} was refused: ${problems.join("; ")}.`);
    this.problems = problems;
  }
}

/** What an exit sends to register, as decoded from the wire. */
export interface RegistrationRequest {
  readonly attributes: ExitAttributes;
  /** The exit's own direct addresses; bare ones get `/p2p/<registrant>` appended. */
  readonly addresses: readonly string[];
  readonly relayed: boolean;
}

/** What the hub knows beside the request. */
export interface RegistrationContext {
  /** The remote peer of the connection the request came on: the only id that can be registered. */
  readonly registrant: PeerId;
  /** The hub's clock, in ms since the Unix epoch. */
  readonly now: number;
  readonly heartbeatIntervalMs: number;
  readonly missedHeartbeats: number;
  /** The record this one replaces, if any: its first-registration time is kept. */
  readonly previous?: ExitRegistration;
  /**
   * This hub's own addresses (each ending in `/p2p/<hub>`), for the circuits
   * stored with a relayed exit.
   */
  readonly hubAddresses: readonly Multiaddr[];
  /** This hub holds a relay reservation of the registrant. */
  readonly holdsReservation: boolean;
  /**
   * This hub's peer id, under which its relay slot is recorded; default: the
   * peer id the first of `hubAddresses` ends in.
   */
  readonly hub?: PeerId;
}

/**
 * Validates a registration and turns it into the record to store; the id is
 * `context.registrant`. Expires after `missedHeartbeats` × heartbeat.
 *
 * @throws {RegistryError} `invalid-argument` listing every problem.
 */
export function acceptRegistration(
  request: RegistrationRequest,
  context: RegistrationContext,
): ExitRegistration {
  const problems: string[] = [];
  const attributes = normalizeAttributes(request.attributes, problems);
  const addresses = normalizeAddresses(request.addresses, context.registrant, problems);
  if (problems.length > 0) {
    throw new RegistryError("invalid-argument", "The registration", problems);
  }
  const ownRoutes = request.relayed || context.holdsReservation
    ? circuitsThrough(context.hubAddresses, context.registrant)
    : [];
  const relaySlots = mergeRelaySlots(context, ownRoutes);
  return {
    peerId: context.registrant,
    attributes,
    addresses,
    relayed: request.relayed,
    relayRoutes: relayRoutesOf(relaySlots),
    registeredAt: context.previous?.registeredAt ?? context.now,
    lastSeenAt: context.now,
    expiresAt: expiryOf(context.now, context.heartbeatIntervalMs, context.missedHeartbeats),
    ...(relaySlots.length > 0 ? { relaySlots } : {}),
  };
}

/**
 * The relay slots after this hub accepted a registration: this hub's slot
 * replaced by `ownRoutes` (dropped when empty: the exit no longer listens
 * through it), other hubs' slots kept while they are younger than an expired
 * record (`missedHeartbeats` × heartbeat): a hub the exit stopped registering
 * with (it went down) falls out on its own. Freshest first, at most
 * {@link MAX_RELAY_HUBS}.
 */
export function mergeRelaySlots(
  context: RegistrationContext,
  ownRoutes: readonly Multiaddr[],
): RelaySlot[] {
  const hub = context.hub ?? hubIdOf(context.hubAddresses);
  const others = (context.previous?.relaySlots ?? []).filter((slot) =>
    slot.hub !== hub &&
    expiryOf(slot.seenAt, context.heartbeatIntervalMs, context.missedHeartbeats) > context.now
  );
  const own: RelaySlot[] = hub !== undefined && ownRoutes.length > 0
    ? [{ hub, routes: [...ownRoutes], seenAt: context.now }]
    : [];
  return [...own, ...others]
    .sort((a, b) => b.seenAt - a.seenAt)
    .slice(0, MAX_RELAY_HUBS)
    .map((slot) => ({ hub: slot.hub, routes: [...slot.routes], seenAt: slot.seenAt }));
}

/** Every circuit of the slots, in slot order, without duplicates. */
function relayRoutesOf(slots: readonly RelaySlot[]): Multiaddr[] {
  return [...new Set(slots.flatMap((slot) => slot.routes))];
}

function hubIdOf(hubAddresses: readonly Multiaddr[]): PeerId | undefined {
  const first = hubAddresses[0];
  return first === undefined ? undefined : peerIdOfAddress(first);
}

/** When an exit seen at `now` is forgotten: after `missedHeartbeats` whole heartbeats. */
export function expiryOf(
  now: number,
  heartbeatIntervalMs: number,
  missedHeartbeats: number,
): number {
  return now + heartbeatIntervalMs * missedHeartbeats;
}

/** True once the hub no longer believes the exit is there. */
export function isExpired(registration: ExitRegistration, now: number): boolean {
  return now >= registration.expiresAt;
}

/**
 * The heartbeat a hub announces in whole seconds (the wire field): rounded
 * down, so the exit never re-registers later than the hub expects, and at
 * least 1 (0 means "not said").
 */
export function announcedHeartbeatSecs(heartbeatIntervalMs: number): number {
  return Math.max(1, Math.floor(heartbeatIntervalMs / 1000));
}

// ---------------------------------------------------------------------------
// Attributes

function normalizeAttributes(attrs: ExitAttributes, problems: string[]): ExitAttributes {
  const country = countryOf(attrs.country, problems);
  const city = placeOf("city", attrs.city, problems);
  const region = placeOf("region", attrs.region, problems);
  const isp = textOf("isp", attrs.isp, problems);
  checkAsn(attrs.asn, problems);
  checkBandwidth(attrs.bandwidthBps, problems);
  return {
    bandwidthBps: attrs.bandwidthBps,
    proxy: attrs.proxy === true,
    mobile: attrs.mobile === true,
    hosting: attrs.hosting === true,
    ...(country === undefined ? {} : { country }),
    ...(city === undefined ? {} : { city }),
    ...(region === undefined ? {} : { region }),
    ...(isp === undefined ? {} : { isp }),
    ...(attrs.asn === undefined ? {} : { asn: attrs.asn }),
  };
}

/** An alpha-2 code, any case, upper-cased; empty counts as absent. */
function countryOf(country: string | undefined, problems: string[]): string | undefined {
  if (country === undefined || country.trim() === "") return undefined;
  const code = country.trim().toUpperCase();
  if (/^[A-Z]{2}$/.test(code) && normalizeCountry(code) === code) return code;
  problems.push(
    `attributes.country ${quote(country)} is not a known ISO 3166-1 alpha-2 code: ` +
      'send two letters such as "NL"',
  );
  return undefined;
}

/** Free text, trimmed, bounded, without control characters; empty counts as absent. */
function textOf(field: string, value: string | undefined, problems: string[]): string | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (text.length > MAX_ATTRIBUTE_CHARS) {
    problems.push(
      `attributes.${field} ${
        quote(text)
      } is longer than ${MAX_ATTRIBUTE_CHARS} characters: shorten it`,
    );
    return undefined;
  }
  if (CONTROL_CHARS.test(text)) {
    problems.push(`attributes.${field} ${quote(text)} contains control characters: remove them`);
    return undefined;
  }
  return text;
}

/** A place name: text that cannot hold `;`, which separates the parts of a city filter. */
function placeOf(field: string, value: string | undefined, problems: string[]): string | undefined {
  const text = textOf(field, value, problems);
  if (text === undefined || !text.includes(";")) return text;
  problems.push(
    `attributes.${field} ${quote(text)} contains ";", which separates the parts of a city ` +
      "filter: send the city, region and country in their own fields",
  );
  return undefined;
}

function checkAsn(asn: number | undefined, problems: string[]): void {
  if (asn === undefined || (Number.isInteger(asn) && asn >= 0 && asn <= MAX_ASN)) return;
  problems.push(
    `attributes.asn ${asn} is not an AS number: send a whole number from 0 to ${MAX_ASN}`,
  );
}

function checkBandwidth(bps: number, problems: string[]): void {
  if (Number.isSafeInteger(bps) && bps >= 0 && bps <= MAX_BANDWIDTH_BPS) return;
  problems.push(
    `attributes.bandwidth_bps ${bps} is not a whole number of bits per second from 0 to ` +
      `${MAX_BANDWIDTH_BPS} (1 Pbps)`,
  );
}

// ---------------------------------------------------------------------------
// Addresses

/** Valid, deduplicated direct addresses of `registrant`, each ending in `/p2p/<registrant>`. */
function normalizeAddresses(
  addresses: readonly string[],
  registrant: PeerId,
  problems: string[],
): Multiaddr[] {
  if (addresses.length > MAX_REGISTERED_ADDRESSES) {
    problems.push(
      `${addresses.length} addresses were sent; at most ${MAX_REGISTERED_ADDRESSES} are ` +
        "accepted: send the public ones",
    );
    return [];
  }
  const out: Multiaddr[] = [];
  addresses.forEach((text, index) => {
    const address = addressOf(text, registrant, `addresses[${index}]`, problems);
    if (address !== undefined && !out.includes(address)) out.push(address);
  });
  return out;
}

function addressOf(
  text: string,
  registrant: PeerId,
  where: string,
  problems: string[],
): Multiaddr | undefined {
  const problem = addressProblem(text, registrant);
  if (problem !== undefined) {
    problems.push(`${where} ${quote(text)} ${problem}`);
    return undefined;
  }
  const canonical = multiaddr(text).toString() as Multiaddr;
  return withPeerId(canonical, registrant);
}

/** Why `text` cannot be registered as a direct address of `registrant`, or undefined. */
function addressProblem(text: string, registrant: PeerId): string | undefined {
  if (text.length > MAX_ADDRESS_CHARS) {
    return `is longer than ${MAX_ADDRESS_CHARS} characters: send a shorter address`;
  }
  if (CONTROL_CHARS.test(text)) return "contains control characters: remove them";
  let components;
  try {
    components = multiaddr(text).getComponents();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return `is not a valid multiaddr (${detail}): send one such as /ip4/203.0.113.7/tcp/4001`;
  }
  if (components.length === 0) return "is empty: send an address such as /ip4/203.0.113.7/tcp/4001";
  if (isRelayedAddress(text)) {
    return "is a relay circuit: register direct addresses only and set relayed when the " +
      "exit is reachable through the hub's relay";
  }
  const other = components.find((c) => c.name === "p2p" && c.value !== registrant);
  if (other !== undefined) {
    return `names peer ${quote(other.value ?? "")}, not the registering peer ${registrant}: ` +
      "an exit registers only its own addresses";
  }
  return undefined;
}

/** The circuits `<hub>/p2p-circuit/p2p/<peer>` through each hub address (at most {@link MAX_RELAY_ROUTES}). */
export function circuitsThrough(hubAddresses: readonly Multiaddr[], peer: PeerId): Multiaddr[] {
  const circuits: Multiaddr[] = [];
  for (const address of hubAddresses) {
    const circuit = synthesizeCircuit(address, peer);
    if (circuit !== undefined && !circuits.includes(circuit)) circuits.push(circuit);
    if (circuits.length === MAX_RELAY_ROUTES) break;
  }
  return circuits;
}

/**
 * The routes of an exit, direct addresses first, then circuits through this
 * hub (`hubCircuits`, when it holds the exit's reservation), then the circuits
 * stored with the registration; without duplicates.
 */
export function routesOf(
  registration: ExitRegistration,
  hubCircuits: readonly Multiaddr[] = [],
): Multiaddr[] {
  const routes: Multiaddr[] = [];
  for (const route of [...registration.addresses, ...hubCircuits, ...registration.relayRoutes]) {
    if (!routes.includes(route)) routes.push(route);
  }
  return routes;
}

// ---------------------------------------------------------------------------
// FindNodes

/** A `FindNodes` query, as decoded from the wire. */
export interface FindNodesSelection {
  /** Validated by `createFilterMatcher` (throws `FilterError`). */
  readonly filters: ServerFilters;
  /** Requested maximum; 0 means "as many as the hub gives". */
  readonly limit: number;
  readonly exclude: readonly string[];
}

/** One exit of a `FindNodes` answer. */
export interface SelectedExit {
  readonly registration: ExitRegistration;
  readonly routes: Multiaddr[];
}

/** How many exits one answer may hold: min(request, config, 100); a request of 0 gets the hub's maximum. */
export function findNodesLimit(requested: number, findNodesMax: number): number {
  const hubMax = Math.min(Math.max(0, Math.floor(findNodesMax)), FIND_NODES_HARD_LIMIT);
  if (!(requested > 0)) return hubMax;
  return Math.min(Math.floor(requested), hubMax);
}

/**
 * Remembers when this hub last returned each exit, so that answers rotate
 * through the matching exits: the least recently returned come first.
 */
export class ExitRotation {
  readonly #lastReturned = new Map<PeerId, number>();
  #sequence = 0;

  /** The sequence number `peer` got when last returned; 0 when never returned. */
  lastReturned(peer: PeerId): number {
    return this.#lastReturned.get(peer) ?? 0;
  }

  /**
   * Stamps the peers of one answer with rising sequence numbers, in answer
   * order, so that the next answers continue where this one stopped (a strict
   * round robin over a stable set of matches).
   */
  markReturned(peers: readonly PeerId[]): void {
    for (const peer of peers) this.#lastReturned.set(peer, ++this.#sequence);
  }

  /** Drops a forgotten exit (keeps the map bounded by the registry's size). */
  forget(peer: PeerId): void {
    this.#lastReturned.delete(peer);
  }
}

/** What selection needs beside the query. */
export interface SelectionContext {
  readonly now: number;
  readonly findNodesMax: number;
  readonly rotation: ExitRotation;
  /** Circuits through this hub for an exit whose reservation it holds, else empty. */
  readonly hubCircuits: (peer: PeerId) => readonly Multiaddr[];
}

/**
 * The exits a `FindNodes` answers, in the documented order (module doc):
 * unexpired, not excluded, matching the filters with the core matcher, with
 * at least one route; direct before relay-only, then least recently returned,
 * then peer id. Marks the returned exits in the rotation.
 *
 * @throws {FilterError} when the filters cannot be used.
 */
export function selectExits(
  registrations: readonly ExitRegistration[],
  query: FindNodesSelection,
  context: SelectionContext,
): SelectedExit[] {
  const passes = createFilterPredicate(query.filters);
  const excluded = new Set<string>(query.exclude);
  const limit = findNodesLimit(query.limit, context.findNodesMax);
  // Sort keys are read once per candidate and routes built only for the chosen: a busy hub
  // judges hundreds of candidates per query (docs/hub-behaviour.md#answer-order).
  const candidates: Candidate[] = [];
  for (const registration of registrations) {
    if (isExpired(registration, context.now) || excluded.has(registration.peerId)) continue;
    if (!passes(registration.attributes)) continue;
    const hubCircuits = context.hubCircuits(registration.peerId);
    // Registered addresses are direct by the registration rule; circuits are the other routes.
    const direct = registration.addresses.length > 0;
    if (!direct && hubCircuits.length === 0 && registration.relayRoutes.length === 0) continue;
    candidates.push({
      registration,
      hubCircuits,
      direct,
      lastReturned: context.rotation.lastReturned(registration.peerId),
    });
  }
  const chosen = candidates.sort(compareCandidates).slice(0, limit).map((candidate) => ({
    registration: candidate.registration,
    routes: routesOf(candidate.registration, candidate.hubCircuits),
  }));
  context.rotation.markReturned(chosen.map((exit) => exit.registration.peerId));
  return chosen;
}

/**
 * What a store may narrow a `FindNodes` by: the filters' country and ASN
 * (exact values the record must have); every record matching the filters has
 * them.
 */
export function registryQueryOf(filters: ServerFilters): RegistryQuery {
  return {
    ...(filters.country === undefined ? {} : {
      country: normalizeCountry(filters.country) ?? filters.country.trim().toUpperCase(),
    }),
    ...(filters.asn === undefined ? {} : { asn: filters.asn }),
  };
}

/** A matching exit with its sort keys. */
interface Candidate {
  readonly registration: ExitRegistration;
  readonly hubCircuits: readonly Multiaddr[];
  readonly direct: boolean;
  readonly lastReturned: number;
}

function compareCandidates(a: Candidate, b: Candidate): number {
  const directFirst = Number(!a.direct) - Number(!b.direct);
  if (directFirst !== 0) return directFirst;
  const leastRecent = a.lastReturned - b.lastReturned;
  if (leastRecent !== 0) return leastRecent;
  const peerA = a.registration.peerId;
  const peerB = b.registration.peerId;
  return peerA < peerB ? -1 : peerA > peerB ? 1 : 0;
}

/**
 * Problems with a `FindNodes` exclude list or a `ResolvePeers` id list
 * (empty when fine): too many ids or an absurdly long one.
 */
export function peerListProblems(field: string, ids: readonly string[], max: number): string[] {
  if (ids.length > max) {
    return [`${field} names ${ids.length} peers; at most ${max} are accepted: split the request`];
  }
  const long = ids.findIndex((id) => id.length > MAX_PEER_ID_CHARS);
  if (long >= 0) {
    return [
      `${field}[${long}] ${quote(ids[long] ?? "")} is longer than ${MAX_PEER_ID_CHARS} ` +
      "characters: it is not a peer id",
    ];
  }
  return [];
}

/** JSON-quoted (so control characters are visible) and cut to a readable length. */
function quote(value: string): string {
  return JSON.stringify(
    value.length > MAX_QUOTED_CHARS ? `${value.slice(0, MAX_QUOTED_CHARS)}…` : value,
  );
}
