/**
 * Whether an operator's manual exit choice (admin API, TUI) contradicts what
 * the port's config promises: a hard pin (`destination_peers` without
 * `fallback_to_discovery`) names the only exits the port may use, and the
 * filters name what any exit it discovers must be. A pinned peer passes both:
 * pins are never filtered. The caller refuses a conflicting choice unless the
 * operator overrides it explicitly.
 *
 * @module
 */
import type { ExitAttributes } from "./attributes.ts";
import { createFilterMatcher, describeFilters } from "./filters.ts";
import type { ExitSelectionSettings } from "./server.ts";
import type { PeerId } from "../ids.ts";

/** Which promise of the config a manual choice would break. */
export type ManualChoiceRule =
  /** The port is hard-pinned and the peer is not among its pins. */
  | "hard-pin"
  /** The peer's attributes fail the port's filters. */
  | "filters"
  /** The port has filters and the peer's attributes could not be learned, so they cannot be checked. */
  | "filters-unverifiable";

/** A manual choice that contradicts the config, and why, in a sentence naming the rule. */
export interface ManualChoiceConflict {
  /** The rule the choice breaks. */
  readonly rule: ManualChoiceRule;
  /** One sentence naming the port, the rule and the peer. */
  readonly message: string;
}

/** What the directory said about the chosen peer: its attributes, or why they are unknown. */
export type PeerAttributesLookup =
  | { readonly known: true; readonly attributes: ExitAttributes }
  | { readonly known: false; readonly reason: string };

/** True when `peer` is one of `server`'s `destination_peers`. */
export function isPinnedPeer(server: ExitSelectionSettings, peer: PeerId): boolean {
  return server.pinned.some((entry) => entry.peerId === peer);
}

/**
 * The hard-pin conflict of choosing `peer` for `server`, or undefined.
 *
 * @example
 * ```ts
 * hardPinConflict(aServer({ pinned: pinnedTo(A) }), B)?.rule; // "hard-pin"
 * hardPinConflict(aServer({ pinned: pinnedTo(A), fallbackToDiscovery: true }), B); // undefined
 * ```
 */
export function hardPinConflict(
  server: ExitSelectionSettings,
  peer: PeerId,
): ManualChoiceConflict | undefined {
  if (server.pinned.length === 0 || server.fallbackToDiscovery || isPinnedPeer(server, peer)) {
    return undefined;
  }
  const pins = server.pinned.map((entry) => entry.peerId).join(", ");
  return {
    rule: "hard-pin",
    message: `Port ${server.port} is hard-pinned to destination_peers [${pins}] ` +
      `(fallback_to_discovery is false), and ${peer} is not among them.`,
  };
}

/**
 * True when choosing `peer` for `server` must be checked against filters:
 * the peer is not pinned and the filters restrict something.
 */
export function needsFilterCheck(server: ExitSelectionSettings, peer: PeerId): boolean {
  return !isPinnedPeer(server, peer) && describeFilters(server.filters) !== "no filters";
}

/**
 * The filter conflict of choosing `peer` for `server`, given what the
 * directory said about it, or undefined when its attributes pass (or no
 * check is needed, see {@link needsFilterCheck}).
 *
 * @example
 * ```ts
 * const server = aServer({ filters: { ...NO_FILTERS, country: "NL" } });
 * filterConflict(server, B, { known: true, attributes: someAttributes({ country: "DE" }) })?.message;
 * // 'Port 1080's filters (country=NL) refuse … : country "DE" is not "NL".'
 * ```
 */
export function filterConflict(
  server: ExitSelectionSettings,
  peer: PeerId,
  lookup: PeerAttributesLookup,
): ManualChoiceConflict | undefined {
  if (!needsFilterCheck(server, peer)) return undefined;
  const filters = describeFilters(server.filters);
  if (!lookup.known) {
    return {
      rule: "filters-unverifiable",
      message: `Port ${server.port} has filters (${filters}), and what ${peer} is cannot be ` +
        `learned (${lookup.reason}), so the choice cannot be checked against them.`,
    };
  }
  const verdict = createFilterMatcher(server.filters)(lookup.attributes);
  if (verdict.matches) return undefined;
  return {
    rule: "filters",
    message: `Port ${server.port}'s filters (${filters}) refuse ${peer}: ` +
      `${verdict.reasons.join("; ")}.`,
  };
}
