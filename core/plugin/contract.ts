/**
 * The plugin contract: what a plugin declares and how the host builds it.
 *
 * A plugin implements one or more ports ("capabilities"). It declares the
 * plugin-API major it was built for, what it provides and requires, typed
 * options with defaults (a zod schema), and the Deno permissions it needs for
 * given options. The host validates all of that before any socket opens.
 *
 * @example
 * ```ts
 * export const plugin = definePlugin({
 *   name: "@acme/sticky-redis",
 *   version: "1.0.0",
 *   api: 1,
 *   provides: ["sticky-store"],
 *   options: z.object({ url: z.string().default("redis://127.0.0.1:6379") }).strict(),
 *   permissions: (o) => ({ net: [new URL(o.url).host] }),
 *   create: (o) => ({ provides: { "sticky-store": new RedisStickyStore(o.url) } }),
 * });
 * ```
 *
 * @module
 */
import type { z } from "zod";
import type { AuthServiceConfig } from "../config/auth_config.ts";
import type { DemoConfig } from "../config/demo_config.ts";
import type { ExitConfig } from "../config/exit_config.ts";
import type { HubConfig } from "../config/hub_config.ts";
import type { ProxyConfig } from "../config/proxy_config.ts";
import { P2proxyError } from "../errors.ts";
import type { Authenticator } from "../ports/authenticator.ts";
import type { Clock } from "../ports/clock.ts";
import type { Dialer } from "../ports/dialer.ts";
import type { EventSink } from "../ports/event_sink.ts";
import type { GeoIp } from "../ports/geoip.ts";
import type { HttpRoutes } from "../ports/http_routes.ts";
import type { Identity } from "../ports/identity.ts";
import type { InboundProtocol } from "../ports/inbound.ts";
import type { NetworkNode } from "../ports/network.ts";
import type { OperatorConsole } from "../ports/operator_console.ts";
import type { PeerDirectory } from "../ports/peer_directory.ts";
import type { QuotaStore } from "../ports/quota_store.ts";
import type { RegistryStore } from "../ports/registry_store.ts";
import type { Resolver } from "../ports/resolver.ts";
import type { StickyStore } from "../ports/sticky_store.ts";
import type { StreamOpener } from "../ports/stream_opener.ts";
import type { PermissionSet } from "./permissions.ts";

/** The plugin-API major this core implements. A plugin built for another major is rejected. */
export const PLUGIN_API_VERSION = 1;

/** The roles a node can run. `tool` is a CLI command that runs no role (keygen, check…). */
export type Role = "proxy" | "exit" | "hub" | "auth" | "demo" | "tool";

/**
 * A role's loaded config, as a plugin's `configure` hook sees it: the options object the config
 * file produces (or a program builds), tagged with its role.
 */
export type RoleSettings =
  | { readonly role: "proxy"; readonly config: ProxyConfig }
  | { readonly role: "exit"; readonly config: ExitConfig }
  | { readonly role: "hub"; readonly config: HubConfig }
  | { readonly role: "auth"; readonly config: AuthServiceConfig }
  | { readonly role: "demo"; readonly config: DemoConfig };

/**
 * Capability name → the port it stands for. Third-party plugins may add
 * capabilities by augmenting this interface (`declare module`).
 */
export interface Capabilities {
  /** Time and sleeps (system or fake). */
  "clock": Clock;
  /** The node's key pair and peer id. */
  "identity": Identity;
  /** Where the proxy remembers the exits that worked, per server. */
  "sticky-store": StickyStore;
  /** Supplies the token this node presents to hubs and exits. */
  "authenticator": Authenticator;
  /** Receives every event (log lines, metrics); all providers serve at once. */
  "event-sink": EventSink;
  /** Finds exits by filter and resolves peer ids to routes (the hub's directory). */
  "peer-directory": PeerDirectory;
  /** Connects to a peer over any of its routes. */
  "dialer": Dialer;
  /** Opens a protocol stream to a connected peer. */
  "stream-opener": StreamOpener;
  /** The node itself: protocol handlers, connection events, pings. */
  "network": NetworkNode;
  /** An HTTP endpoint others add routes to (the metrics port, which carries the admin API). */
  "http-routes": HttpRoutes;
  /** The hub's registry of exits. */
  "registry-store": RegistryStore;
  /** The proxy's quota totals per account and period (a file, or one shared by proxies). */
  "quota-store": QuotaStore;
  /** Turns a destination name into addresses at the exit (system resolver, or a static map). */
  "resolver": Resolver;
  /** An inbound door (SOCKS5…): serves client connections; every provider serves at once. */
  "inbound": InboundProtocol;
  /** The live terminal UI of a role (it is an event sink too). */
  "operator-console": OperatorConsole;
  /** Locates an exit's observed address (the hub verifies declared locations with it). */
  "geoip": GeoIp;
}

/** A capability name. */
export type CapabilityName = keyof Capabilities & string;

/** What the host passes to `permissions()`. */
export interface PermissionContext {
  /** Absolute or relative path of the node's state directory. */
  readonly stateDir: string;
  /** The role being composed. */
  readonly role: Role;
}

/** What the host passes to `create()`. */
export interface PluginContext extends PermissionContext {
  /** The provider of a capability this plugin `requires` (throws for one it did not declare). */
  get<K extends CapabilityName>(capability: K): Capabilities[K];
  /**
   * The provider of a capability this plugin `wants`, or undefined when the role has none
   * (throws for one it declared in neither list).
   */
  find<K extends CapabilityName>(capability: K): Capabilities[K] | undefined;
}

/** A created plugin: the ports it implements and an optional lifecycle. */
export interface PluginInstance<P extends CapabilityName = CapabilityName> {
  /** One implementation per capability the plugin declared in `provides`. */
  readonly provides: { readonly [K in P]: Capabilities[K] };
  /** Called in dependency order after every plugin is created. */
  start?(): Promise<void> | void;
  /** Called in reverse start order at shutdown. */
  stop?(): Promise<void> | void;
}

/**
 * zod's own schema and output types, under local names: Deno's doc lint counts
 * types from npm packages as private and would ask to re-export zod's whole API.
 * zod documents them.
 *
 * @internal
 */
type ZodSchema<T> = z.ZodType<T>;
/** @internal */
type ZodOutput<S> = z.output<S>;

/** Any zod schema whose output is an options object. */
// deno-lint-ignore no-explicit-any
export type OptionsSchema = ZodSchema<Record<string, any>>;

/** What a plugin module declares. */
export interface PluginDefinition<
  S extends OptionsSchema = OptionsSchema,
  P extends CapabilityName = CapabilityName,
> {
  /** Package-style name, e.g. `@p2proxy/sticky-file`. Config keys options by it. */
  readonly name: string;
  /** The plugin's own semver version. */
  readonly version: string;
  /** The plugin-API major it was built for (compare `PLUGIN_API_VERSION`). */
  readonly api: number;
  /** One line for `p2proxy plugins`. */
  readonly description: string;
  /** The capabilities `create` returns implementations of. */
  readonly provides: readonly P[];
  /** Capabilities it takes from other plugins through `ctx.get` (created before it). */
  readonly requires?: readonly CapabilityName[];
  /**
   * Capabilities it uses when the role has them (`ctx.find`): created before it when some
   * chosen plugin provides them, never chosen because of this list (e.g. the token an
   * authenticator supplies, when auth is on).
   */
  readonly wants?: readonly CapabilityName[];
  /**
   * Capabilities this plugin provides by wrapping another plugin's provider of the same one
   * (the QUIC network wraps the libp2p network: libp2p stays the control plane, streams move to
   * QUIC). The host also chooses the other provider, creates it first, and `ctx.get` hands this
   * plugin that provider's port; the role and every other plugin get this plugin's. A loaded
   * wrapper is chosen over what it wraps unless the config's `providers` says otherwise. Each
   * must also be in `provides`.
   */
  readonly wraps?: readonly CapabilityName[];
  /**
   * Typed options with defaults, strict (unknown keys refused). Parsing `{}`
   * must succeed, unless an option has no sensible default (a service URL):
   * then refusing `{}` names it.
   */
  readonly options: S;
  /**
   * Maps the role's config to this plugin's options (`listen_addrs` → the network's `listen`,
   * `keypair_path` → the identity file…), so that a new plugin brings its own mapping. The
   * host calls it only for a plugin it chose; the config's `plugins: { <name>: {…} }` wins key
   * by key. Return undefined when the config says nothing this plugin reads.
   */
  configure?(settings: RoleSettings): Record<string, unknown> | undefined;
  /** The Deno permissions this plugin needs with these options. */
  permissions?(options: ZodOutput<S>, ctx: PermissionContext): PermissionSet;
  /** Builds the plugin's ports from its parsed options; the host starts and stops them. */
  create(options: ZodOutput<S>, ctx: PluginContext): PluginInstance<P> | Promise<PluginInstance<P>>;
}

/** Why the host refused a plugin set. */
export type PluginErrorCode =
  | "invalid-definition"
  | "api-mismatch"
  | "missing-capability"
  | "ambiguous-provider"
  | "unknown-provider"
  | "bad-options"
  | "unknown-plugin"
  | "duplicate-plugin"
  | "dependency-cycle"
  | "load-failed"
  | "start-failed";

/** A refused plugin set; `plugin` names the plugin at fault when there is one. */
export class PluginError extends P2proxyError<PluginErrorCode> {
  /** The name of the plugin at fault, when one is. */
  readonly plugin?: string;

  /**
   * A refusal of the plugin set.
   *
   * @param code Why the plugin set was refused.
   * @param message What is wrong and what to do, quoting the offending value.
   * @param plugin The plugin at fault, when one is.
   * @param options `cause`: the underlying error.
   */
  constructor(code: PluginErrorCode, message: string, plugin?: string, options?: ErrorOptions) {
    super(code, message, options);
    if (plugin !== undefined) this.plugin = plugin;
  }
}

const NAME_PATTERN = /^(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/;
const VERSION_PATTERN = /^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/;

/**
 * Declares a plugin. Checks the declaration's shape at once, so a broken
 * plugin fails when its module loads, naming itself.
 */
export function definePlugin<S extends OptionsSchema, P extends CapabilityName>(
  definition: PluginDefinition<S, P>,
): PluginDefinition<S, P> {
  const problems = definitionProblems(definition as unknown as PluginDefinition);
  if (problems.length > 0) {
    throw new PluginError(
      "invalid-definition",
      `Plugin "${String(definition.name)}" is not a valid plugin: ${problems.join("; ")}.`,
      String(definition.name),
    );
  }
  return Object.freeze(definition);
}

/** Problems with a plugin declaration (empty when it is valid). Used for modules not built with `definePlugin`. */
export function definitionProblems(definition: PluginDefinition): string[] {
  const problems: string[] = [];
  if (typeof definition !== "object" || definition === null) return ["it is not an object"];
  if (typeof definition.name !== "string" || !NAME_PATTERN.test(definition.name)) {
    problems.push(`name must look like "@scope/name" (got ${JSON.stringify(definition.name)})`);
  }
  if (typeof definition.version !== "string" || !VERSION_PATTERN.test(definition.version)) {
    problems.push(`version must be semver (got ${JSON.stringify(definition.version)})`);
  }
  if (!Number.isInteger(definition.api) || definition.api < 1) {
    problems.push(`api must be a positive integer (got ${JSON.stringify(definition.api)})`);
  }
  if (!Array.isArray(definition.provides) || definition.provides.length === 0) {
    problems.push("provides must list at least one capability");
  }
  if (definition.requires !== undefined && !Array.isArray(definition.requires)) {
    problems.push("requires must be a list of capabilities");
  }
  if (definition.wants !== undefined && !Array.isArray(definition.wants)) {
    problems.push("wants must be a list of capabilities");
  }
  if (definition.wraps !== undefined) {
    if (!Array.isArray(definition.wraps)) problems.push("wraps must be a list of capabilities");
    else {
      const provided = new Set<string>(
        Array.isArray(definition.provides) ? definition.provides : [],
      );
      const stray = definition.wraps.filter((capability) => !provided.has(capability));
      if (stray.length > 0) {
        problems.push(`wraps names capabilities it does not provide (${stray.join(", ")})`);
      }
    }
  }
  if (definition.configure !== undefined && typeof definition.configure !== "function") {
    problems.push("configure must be a function");
  }
  if (typeof definition.options?.safeParse !== "function") {
    problems.push("options must be a zod schema");
  }
  if (typeof definition.create !== "function") problems.push("create must be a function");
  return problems;
}
