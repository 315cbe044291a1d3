/**
 * The hub role, composed (docs/hub-behaviour.md): the token verifier (when `auth` is set), the
 * directory server and relay policy on the network and registry the plugins provide (and the
 * geolocation database, when one is configured: docs/hub-behaviour.md#verified-locations), and the
 * `hub-stats` reports for the metrics.
 *
 * @module
 */
import type { HubConfig } from "../core/config/hub_config.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import { HubNode } from "../hub/hub_node.ts";
import { type ComposeOptions, composeRole, type RunningRole } from "./role.ts";
import { startTokenVerifier } from "./token_verifier.ts";

/** How often the hub's counters become a `hub-stats` event (for Prometheus). */
export const HUB_STATS_INTERVAL_MS = 5_000;

/** A running hub. */
export interface HubRole extends RunningRole {
  /** The hub role. */
  readonly role: "hub";
  /** The libp2p node (with its relay server). */
  readonly network: NetworkNode;
  /** The directory server, relay policy and sweeper. */
  readonly node: HubNode;
}

/**
 * Starts a hub from its config (the object `loadHubConfig` makes of a config file) and a plugin
 * list.
 *
 * @example
 * ```ts
 * const hub = await startHub(loadHubConfig(JSON.stringify({ listen_addrs: ["/ip4/127.0.0.1/tcp/0"] })));
 * hub.network.addresses()[0]; // /ip4/127.0.0.1/tcp/…/p2p/12D3KooW…
 * ```
 */
export function startHub(config: HubConfig, options: ComposeOptions = {}): Promise<HubRole> {
  return composeRole({ role: "hub", config }, options, async (composition, events) => {
    const network = composition.get("network");
    const clock = composition.get("clock");
    const verifier = await startTokenVerifier(composition, config.auth, "this hub's directory");
    // Present only when the config opted in (compose/roles.ts): declared locations stand otherwise.
    const geoip = composition.find("geoip");
    const node = await composition.startService("hub-node", () =>
      HubNode.start({
        config,
        network,
        registry: composition.get("registry-store"),
        clock,
        events,
        ...(geoip ? { geoip } : {}),
        ...(verifier
          ? {
            verifyToken: async (token, peer, role) => {
              // Registering needs an exit token; finding and resolving, a proxy's (or an exit's).
              const verdict = await verifier.check(
                token,
                peer,
                role === "exit" ? "exit" : ["proxy", "exit"],
              );
              if (verdict.ok) return verdict;
              const code = verdict.denied ? "permission-denied" : "unauthenticated";
              return { ok: false, code, message: verdict.message };
            },
          }
          : {}),
      }));
    await composition.startService("hub-stats", () => {
      const report = async () => events.emit({ type: "hub-stats", ...(await node.metrics()) });
      const ticker = setInterval(() => report().catch(() => {}), HUB_STATS_INTERVAL_MS);
      report().catch(() => {}); // at once too, so the terminal UI has figures from the start
      return { stop: () => clearInterval(ticker) };
    });
    return { role: "hub" as const, network, node };
  });
}
