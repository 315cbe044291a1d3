/**
 * The composition root as a library: build any role — proxy, exit, hub, auth service, or the
 * all-in-one demo — from the same config object a config file produces and a plugin list, the
 * way the `p2proxy` commands do. Plugins are created and started in dependency order, then the
 * role's services; `stop` ends them in reverse.
 *
 * @example A proxy from code, no config file, no CLI
 * ```ts
 * import { loadProxyConfig } from "@p2proxy/p2proxy";
 * import { createRole } from "@p2proxy/p2proxy/compose";
 *
 * const config = loadProxyConfig(JSON.stringify({
 *   bootstrap: ["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…"],
 *   servers: [{ port: 1080, country: "NL" }],
 * }));
 * const proxy = await createRole("proxy", config);
 * // curl --socks5-hostname 127.0.0.1:1080 http://example.test/
 * await proxy.stop();
 * ```
 *
 * @module
 */
import type { AuthServiceConfig } from "../core/config/auth_config.ts";
import type { ClientConfig } from "../core/config/client_config.ts";
import type { DemoConfig } from "../core/config/demo_config.ts";
import type { ExitConfig } from "../core/config/exit_config.ts";
import type { HubConfig } from "../core/config/hub_config.ts";
import type { ProxyConfig } from "../core/config/proxy_config.ts";
import type { ExitControl } from "../core/ports/exit_control.ts";
import type { SessionRouter } from "../core/ports/inbound.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import { startAuthService } from "./auth_role.ts";
import { type ClientRole, startClient } from "./client_role.ts";
import { type DemoRole, startDemo } from "./demo.ts";
import { startExit } from "./exit_role.ts";
import { startHub } from "./hub_role.ts";
import { startProxy } from "./proxy_role.ts";
import type { ComposeOptions, RunningRole } from "./role.ts";

export { clientProxyConfig, type ClientRole } from "./client_role.ts";
export { DEMO_ALLOWED_CIDRS, demoClientOptions, type DemoRole, type DemoServer } from "./demo.ts";
export {
  BUILTIN_PLUGIN_LIST,
  type PlanOptions,
  planRole,
  type PluginList,
  type ToolSettings,
} from "./plan.ts";
export type { ComposeOptions, RunningRole } from "./role.ts";
export { capabilitiesOf, type RoleCapabilities } from "./roles.ts";

/** A running proxy, as a program sees it. */
export interface ProxyHandle extends RunningRole {
  /** The proxy role. */
  readonly role: "proxy";
  /** The libp2p node. */
  readonly network: NetworkNode;
  /**
   * Opens confirmed exit sessions, as the doors do: a program may ask it for a stream to an
   * exit without a listener of its own.
   */
  readonly router: SessionRouter;
  /** The bound address of each `servers[]` entry, in config order. */
  readonly listeners: readonly { readonly address: Deno.NetAddr }[];
  /**
   * The operator's view of the exits: each listener's exit, the hub's candidates, a choice by
   * hand and the way back to automatic (what the admin API and the terminal UI call).
   */
  readonly control: ExitControl;
}

/** A running exit. */
export interface ExitHandle extends RunningRole {
  /** The exit role. */
  readonly role: "exit";
  /** The libp2p node. */
  readonly network: NetworkNode;
  /** Resolves once every hub of `bootstrap` has the exit registered (at once without a hub). */
  whenRegistered(signal?: AbortSignal): Promise<void>;
}

/** A running hub. */
export interface HubHandle extends RunningRole {
  /** The hub role. */
  readonly role: "hub";
  /** The libp2p node; its first address is what exits and proxies put in `bootstrap`. */
  readonly network: NetworkNode;
}

/** A running auth service. */
export interface AuthHandle extends RunningRole {
  /** The auth role. */
  readonly role: "auth";
  /** Where Connect and gRPC-web are served, e.g. `http://127.0.0.1:8443`. */
  readonly url: string;
  /** Where gRPC is served (`grpc_port`), when it is. */
  readonly grpcUrl: string | undefined;
  /** Applies a changed config; returns the keys that need a restart. */
  reload(config: AuthServiceConfig): Promise<string[]>;
}

/** Each buildable role's config: what its config file loads into. */
export interface RoleConfigs {
  /** `loadProxyConfig`'s output. */
  readonly proxy: ProxyConfig;
  /** `loadExitConfig`'s output. */
  readonly exit: ExitConfig;
  /** `loadHubConfig`'s output. */
  readonly hub: HubConfig;
  /** `loadAuthConfig`'s output. */
  readonly auth: AuthServiceConfig;
  /** The demo's flags. */
  readonly demo: DemoConfig;
  /** `loadClientConfig`'s output: a proxy without doors (the client library's). */
  readonly client: ClientConfig;
}

/** Each role's running handle. */
export interface RoleHandles {
  /** A running proxy. */
  readonly proxy: ProxyHandle;
  /** A running exit. */
  readonly exit: ExitHandle;
  /** A running hub. */
  readonly hub: HubHandle;
  /** A running auth service. */
  readonly auth: AuthHandle;
  /** A running demo. */
  readonly demo: DemoRole;
  /** A running client. */
  readonly client: ClientRole;
}

const STARTERS: {
  readonly [R in keyof RoleConfigs]: (
    config: RoleConfigs[R],
    options: ComposeOptions,
  ) => Promise<RoleHandles[R]>;
} = {
  proxy: startProxy,
  exit: startExit,
  hub: startHub,
  auth: startAuthService,
  demo: startDemo,
  client: startClient,
};

/**
 * Builds and starts `role` from its config and `options.plugins` (default: the built-ins). The
 * CLI's `p2proxy <role>` commands call this too.
 */
export function createRole<R extends keyof RoleConfigs>(
  role: R,
  config: RoleConfigs[R],
  options: ComposeOptions = {},
): Promise<RoleHandles[R]> {
  return STARTERS[role](config, options);
}
