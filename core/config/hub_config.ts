/**
 * The hub role's configuration, `Hub.yaml` (docs/hub-behaviour.md): where it listens, how
 * long it remembers exits, and its circuit relay limits (raised for
 * registered exits, libp2p's defaults for everyone else: not an open relay).
 *
 * @module
 */
import { z } from "zod";
import type { Multiaddr } from "../ids.ts";
import {
  announceAddrsSchema,
  type CommonConfig,
  commonOutput,
  commonShape,
  countSchema,
  durationSecsSchema,
} from "./common.ts";
import { rewriteTopLevel } from "./_legacy.ts";
import { checkPortShorthand } from "./_checks.ts";
import {
  type ConfigNotes,
  type EnvBinding,
  envBinding,
  loadConfig,
  type LoadOptions,
  type RoleSpec,
} from "./loader.ts";

// ---------------------------------------------------------------------------
// Defaults

/** A fixed, well-known port: proxies and exits must be told where the hub is. */
export const HUB_DEFAULT_LISTEN_ADDRS: readonly string[] = ["/ip4/0.0.0.0/tcp/4001"];
/** Next to the proxy's 9091 and the exit's 9092. */
export const HUB_DEFAULT_METRICS_PORT = 9093;
/** The interval exits re-register at (docs/exit-behaviour.md#registration). */
export const DEFAULT_HUB_HEARTBEAT_SECS = 30;
/** The hub forgets an exit after this many missed heartbeats (docs/hub-behaviour.md#expiry). */
export const DEFAULT_MISSED_HEARTBEATS = 3;
/** Relay reservations held at once (js-libp2p's circuit relay server default). */
export const DEFAULT_MAX_RESERVATIONS = 128;
/** Relayed data per connection for strangers: js-libp2p's default 128 KiB. */
export const DEFAULT_RELAY_DATA_LIMIT_BYTES = 131_072;
/** Relayed connection lifetime for strangers: js-libp2p's default 2 minutes. */
export const DEFAULT_RELAY_DURATION_LIMIT_SECS = 120;
/** FindNodes answers at most this many exits (docs/hub-behaviour.md#findnodes). */
export const MAX_FIND_NODES = 100;
/** Most reservations a hub may hold; bounds memory. */
const MAX_RESERVATIONS_LIMIT = 1_000_000;
/** Most heartbeats a hub may wait for before forgetting an exit. */
const MAX_MISSED_HEARTBEATS = 100;

// ---------------------------------------------------------------------------
// Output types

/** Circuit relay limits: unlimited (0) or raised for registered exits, bounded for everyone else. */
export interface HubRelayLimits {
  /** Relay reservations held at once. */
  readonly maxReservations: number;
  /** Bytes per relayed connection to a registered exit; 0 = unlimited. */
  readonly exitDataLimitBytes: number;
  /** Lifetime of a relayed connection to a registered exit; 0 = unlimited. */
  readonly exitDurationLimitMs: number;
  /** Bytes per relayed connection for other peers (never unlimited). */
  readonly defaultDataLimitBytes: number;
  /** Lifetime of a relayed connection for other peers (never unlimited). */
  readonly defaultDurationLimitMs: number;
}

/** The hub role's configuration. */
export interface HubConfig extends CommonConfig, ConfigNotes {
  /** Addresses to advertise instead of the observed ones; empty = advertise what libp2p finds. */
  readonly announceAddrs: readonly Multiaddr[];
  /** The interval exits are expected to re-register at. */
  readonly heartbeatIntervalMs: number;
  /** Missed heartbeats after which an exit is forgotten. */
  readonly missedHeartbeats: number;
  /** Circuit relay limits. */
  readonly relay: HubRelayLimits;
  /** Most exits one FindNodes answer holds (1..100). */
  readonly findNodesMax: number;
}

// ---------------------------------------------------------------------------
// Schema

const relaySchema = z.strictObject({
  max_reservations: countSchema(1, MAX_RESERVATIONS_LIMIT).default(DEFAULT_MAX_RESERVATIONS),
  exit_data_limit_bytes: countSchema(0, Number.MAX_SAFE_INTEGER).default(0),
  exit_duration_limit_secs: durationSecsSchema({ allowZero: true }).prefault(0),
  // Never 0: an unlimited relay for strangers is an open relay
  // (docs/hub-behaviour.md#circuit-relay).
  default_data_limit_bytes: countSchema(1, Number.MAX_SAFE_INTEGER).default(
    DEFAULT_RELAY_DATA_LIMIT_BYTES,
  ),
  default_duration_limit_secs: durationSecsSchema({ allowZero: false }).prefault(
    DEFAULT_RELAY_DURATION_LIMIT_SECS,
  ),
}).transform((raw): HubRelayLimits => ({
  maxReservations: raw.max_reservations,
  exitDataLimitBytes: raw.exit_data_limit_bytes,
  exitDurationLimitMs: raw.exit_duration_limit_secs,
  defaultDataLimitBytes: raw.default_data_limit_bytes,
  defaultDurationLimitMs: raw.default_duration_limit_secs,
}));

const HUB_DEFAULTS = {
  listenAddrs: HUB_DEFAULT_LISTEN_ADDRS,
  metricsPort: HUB_DEFAULT_METRICS_PORT,
};

/** The schema of a hub config file (snake_case in, {@link HubConfig} without notes out). */
export const hubConfigSchema: z.ZodType<Omit<HubConfig, "warnings">> = z.strictObject({
  announce_addrs: announceAddrsSchema.prefault([]),
  heartbeat_secs: durationSecsSchema({ allowZero: false }).prefault(DEFAULT_HUB_HEARTBEAT_SECS),
  missed_heartbeats: countSchema(1, MAX_MISSED_HEARTBEATS).default(DEFAULT_MISSED_HEARTBEATS),
  relay: relaySchema.prefault({}),
  find_nodes_max: countSchema(1, MAX_FIND_NODES).default(MAX_FIND_NODES),
  ...commonShape(HUB_DEFAULTS),
}).transform((raw): Omit<HubConfig, "warnings"> => ({
  ...commonOutput(raw, HUB_DEFAULTS),
  announceAddrs: raw.announce_addrs,
  heartbeatIntervalMs: raw.heartbeat_secs,
  missedHeartbeats: raw.missed_heartbeats,
  relay: raw.relay,
  findNodesMax: raw.find_nodes_max,
}));

/** The environment variables the hub reads (`P2PROXY_<KEY>`). */
export const HUB_ENV: readonly EnvBinding[] = [
  envBinding("log_level", "string"),
  envBinding("metrics_port", "integer"),
  envBinding("metrics_bind", "string"),
  envBinding("state_dir", "string"),
  envBinding("keypair_path", "string"),
  envBinding("port", "integer"),
  envBinding("listen_addrs", "list"),
  envBinding("announce_addrs", "list"),
  envBinding("heartbeat_secs", "number"),
  envBinding("missed_heartbeats", "integer"),
  envBinding("find_nodes_max", "integer"),
] as const;

/** Everything the generic loader needs to load a hub config. */
export const HUB_ROLE: RoleSpec<Omit<HubConfig, "warnings">> = {
  role: "hub",
  schema: hubConfigSchema,
  env: HUB_ENV,
  legacy: (raw, recorder) => rewriteTopLevel(raw, recorder, { apiKey: false, bootstrap: false }),
  check: checkPortShorthand,
};

/**
 * Loads a hub config from the text of `Hub.yaml` (or `.json`), the
 * environment and command-line overrides. An empty text gives the defaults.
 *
 * @throws {ConfigError} listing every problem found.
 */
export function loadHubConfig(text: string, options: LoadOptions): HubConfig {
  return loadConfig(HUB_ROLE, text, options);
}
