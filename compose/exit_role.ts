/**
 * The exit role, composed (docs/exit-behaviour.md): the token verifier (when `auth` is set), the
 * connect service under the egress policy, and the registrar that keeps the exit in its hubs'
 * directories.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ExitConfig } from "../core/config/exit_config.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import { ExitNode } from "../exit/exit_node.ts";
import { ExitRegistrar } from "../exit/exit_registrar.ts";
import { type ComposeOptions, composeRole, type RunningRole } from "./role.ts";
import { startTokenVerifier } from "./token_verifier.ts";

const logger = getLogger(["p2proxy", "exit"]);

/** A running exit. */
export interface ExitRole extends RunningRole {
  /** The exit role. */
  readonly role: "exit";
  /** The libp2p node. */
  readonly network: NetworkNode;
  /** The connect service. */
  readonly node: ExitNode;
  /** The hub registrations; undefined without `bootstrap`. */
  readonly registrar: ExitRegistrar | undefined;
  /** Resolves once every hub of `bootstrap` has the exit registered (at once without a hub). */
  whenRegistered(signal?: AbortSignal): Promise<void>;
}

/**
 * Starts an exit from its config (the object `loadExitConfig` makes of a config file) and a
 * plugin list.
 *
 * @example
 * ```ts
 * const exit = await startExit(loadExitConfig(JSON.stringify({ bootstrap: [hubAddress] })));
 * await exit.whenRegistered(AbortSignal.timeout(10_000));
 * ```
 */
export function startExit(config: ExitConfig, options: ComposeOptions = {}): Promise<ExitRole> {
  return composeRole({ role: "exit", config }, options, async (composition, events) => {
    const network = composition.get("network");
    const clock = composition.get("clock");
    const verifier = await startTokenVerifier(composition, config.auth, "this exit");
    const node = await composition.startService("exit-node", () =>
      ExitNode.start({
        config,
        network,
        events,
        resolver: composition.get("resolver"),
        ...(verifier ? { verifyToken: (token, peer) => verifier.check(token, peer, "proxy") } : {}),
      }));
    const authenticator = composition.find("authenticator");
    const registrar = config.bootstrap.length > 0
      ? await composition.startService("exit-registrar", () =>
        ExitRegistrar.start({
          network,
          hubs: config.bootstrap,
          attributes: config.attributes,
          heartbeatIntervalMs: config.heartbeatIntervalMs,
          clock,
          events,
          full: () => node.share.full,
          ...(authenticator ? { token: () => authenticator.token() } : {}),
        }))
      : undefined;
    // A change of fullness goes to the hubs at once, not at the next heartbeat.
    if (registrar) node.share.onChange(() => registrar.refresh());
    if (!registrar) {
      logger.warn("No hub in `bootstrap`: only proxies that pin this exit's address can use it.");
    }
    return {
      role: "exit" as const,
      network,
      node,
      registrar,
      whenRegistered: (signal?: AbortSignal) =>
        registrar?.whenRegistered(signal) ?? Promise.resolve(),
    };
  });
}
