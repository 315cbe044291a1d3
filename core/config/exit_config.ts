/**
 * The exit role's configuration, `Exit.yaml` (docs/exit-behaviour.md): where it listens,
 * which hubs it registers with and what it says about itself, its egress
 * policy (security-critical: validated here with the same parser the policy
 * uses), and its limits.
 *
 * @module
 */
import { z } from "zod";
import { type UdpLimits, udpLimitsSchema } from "./udp_config.ts";
import type { Multiaddr } from "../ids.ts";
import type { ExitAttributes } from "../domain/attributes.ts";
import { createEgressPolicy, DEFAULT_DENY_PORTS } from "../domain/egress_policy.ts";
import { describeError } from "../errors.ts";
import {
  announceAddrsSchema,
  apiKeySchema,
  asnSchema,
  bandwidthSchema,
  bootstrapSchema,
  choiceSchema,
  type CommonConfig,
  commonOutput,
  commonShape,
  countrySchema,
  countSchema,
  durationSecsSchema,
  fail,
  ipLiteralSchema,
  optionalTextSchema,
  QUIC_MODES,
  type QuicMode,
  tcpPortSchema,
  TLS_MODES,
  type TlsMode,
} from "./common.ts";
import { rewriteTopLevel } from "./_legacy.ts";
import { checkPortShorthand } from "./_checks.ts";
import { type ShareLimits, shareLimitsSchema } from "./limits_config.ts";
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

/** Every IPv4 interface, a port the OS picks; set `port` or `listen_addrs` for a reachable exit. */
export const EXIT_DEFAULT_LISTEN_ADDRS: readonly string[] = ["/ip4/0.0.0.0/tcp/0"];
/** One above the proxy's 9091, so a proxy and an exit on one host do not clash. */
export const EXIT_DEFAULT_METRICS_PORT = 9092;
/** Advertised bandwidth when the operator says nothing: above the proxy's 50 Mbps default floor. */
export const DEFAULT_EXIT_BANDWIDTH = "1Gbps";
/** Concurrent sessions per exit (docs/exit-behaviour.md#limits). */
export const DEFAULT_MAX_SESSIONS = 4096;
/** Concurrent sessions per proxy peer, so one proxy cannot take every slot. */
export const DEFAULT_MAX_SESSIONS_PER_PEER = 1024;
/** Deadline for the exit's TCP connect to a destination. */
export const DEFAULT_CONNECT_TIMEOUT_SECS = 10;
/** 0: no idle timeout unless configured. */
export const DEFAULT_EXIT_IDLE_TIMEOUT_SECS = 0;
/** Re-registration interval (docs/exit-behaviour.md#registration). */
export const DEFAULT_HEARTBEAT_SECS = 30;
/** Most sessions a limit may name; far above what one process can serve. */
const MAX_SESSIONS_LIMIT = 1_000_000;

// ---------------------------------------------------------------------------
// Output types

/**
 * When to reserve a slot on the hub's circuit relay: `auto` when the exit
 * has no public address, `always`, or `never`.
 */
export type RelayMode = "auto" | "always" | "never";

/** The egress policy's operator settings (see `core/domain/egress_policy.ts`). */
export interface EgressSettings {
  /** Networks allowed even inside a default-denied range. */
  readonly allowCidrs: readonly string[];
  /** Networks always denied; beats `allowCidrs`. */
  readonly denyCidrs: readonly string[];
  /** When non-empty, only these destination ports are allowed. */
  readonly allowPorts: readonly number[];
  /** Destination ports always denied; beats `allowPorts`. */
  readonly denyPorts: readonly number[];
}

/** Session limits of an exit. */
export interface ExitLimits {
  /** Concurrent sessions the exit serves; more are refused with a clear status. */
  readonly maxSessions: number;
  /** Concurrent sessions one proxy peer may hold. */
  readonly maxSessionsPerPeer: number;
  /** Deadline for connecting to a destination. */
  readonly connectTimeoutMs: number;
  /** 0 = none. */
  readonly idleTimeoutMs: number;
  /** Bounds of each UDP association (`limits.udp`); absent: the defaults (`DEFAULT_UDP_LIMITS`). */
  readonly udp?: UdpLimits;
}

/** The exit role's configuration. */
export interface ExitConfig extends CommonConfig, ConfigNotes {
  /** Key for the auth service (`api_key`, alias `bitping_api_key`). */
  readonly apiKey?: string;
  /** Hubs to register with, each ending in `/p2p/<id>`. */
  readonly bootstrap: readonly Multiaddr[];
  /** Addresses to advertise instead of the observed ones; empty = advertise what libp2p finds. */
  readonly announceAddrs: readonly Multiaddr[];
  /** What the exit registers with the hub. */
  readonly attributes: ExitAttributes;
  /** Extensions of the default egress policy. */
  readonly egress: EgressSettings;
  /** Local address outgoing connections leave from; absent = the OS chooses. */
  readonly bindAddress?: string;
  /** Session limits. */
  readonly limits: ExitLimits;
  /** What the exit gives away: rate, quota and sessions caps (docs/limits.md#share); {} = no caps. */
  readonly share: ShareLimits;
  /** How often the exit re-registers with its hubs. */
  readonly heartbeatIntervalMs: number;
  /** When to reserve a relay slot on the hub. */
  readonly relay: RelayMode;
  /**
   * Sessions over QUIC where both sides have it (`auto`, the default), only over QUIC
   * (`always`), or never (docs/proxy-behaviour.md#quic); read by the QUIC network plugin.
   */
  readonly quic?: QuicMode;
  /**
   * Sessions over pooled TLS-over-TCP connections where the exit offers them (`auto`, the
   * default), else QUIC streams (`never`: QUIC streams only); read by the QUIC network plugin
   * (docs/proxy-behaviour.md#tls-connections).
   */
  readonly tls?: TlsMode;
}

// ---------------------------------------------------------------------------
// Schema

/** A place name an exit registers; `;` separates the parts of a city filter, so it cannot appear in one part. */
const placeSchema = optionalTextSchema.transform((text, ctx): string | undefined => {
  if (text === undefined || !text.includes(";")) return text;
  return fail(
    ctx,
    `${JSON.stringify(text)} contains ";", which separates the parts of a city filter: ` +
      "give the city, region and country in their own keys.",
  );
});

const attributesShape = {
  country: countrySchema.optional(),
  city: placeSchema.optional(),
  region: placeSchema.optional(),
  isp: optionalTextSchema.optional(),
  asn: asnSchema.optional(),
  bandwidth: bandwidthSchema.prefault(DEFAULT_EXIT_BANDWIDTH),
  proxy: z.boolean().default(false),
  mobile: z.boolean().default(false),
  hosting: z.boolean().default(false),
};

const attributesSchema = z.strictObject(attributesShape).transform((raw): ExitAttributes => ({
  bandwidthBps: raw.bandwidth,
  proxy: raw.proxy,
  mobile: raw.mobile,
  hosting: raw.hosting,
  ...(raw.country === undefined ? {} : { country: raw.country }),
  ...(raw.city === undefined ? {} : { city: raw.city }),
  ...(raw.region === undefined ? {} : { region: raw.region }),
  ...(raw.isp === undefined ? {} : { isp: raw.isp }),
  ...(raw.asn === undefined ? {} : { asn: raw.asn }),
}));

/** A CIDR (or single address), checked by the egress policy's own parser so the two never disagree. */
function cidrSchema(field: "allowCidrs" | "denyCidrs") {
  return z.string().transform((text, ctx): string => {
    const cidr = text.trim();
    try {
      createEgressPolicy({ [field]: [cidr] });
      return cidr;
    } catch (error) {
      return fail(ctx, `${describeError(error).replace(/[.\s]*$/, "")}.`);
    }
  });
}

const egressSchema = z.strictObject({
  allow_cidrs: z.array(cidrSchema("allowCidrs")).default([]),
  deny_cidrs: z.array(cidrSchema("denyCidrs")).default([]),
  allow_ports: z.array(tcpPortSchema).default([]),
  deny_ports: z.array(tcpPortSchema).default([...DEFAULT_DENY_PORTS]),
}).transform((raw): EgressSettings => ({
  allowCidrs: raw.allow_cidrs,
  denyCidrs: raw.deny_cidrs,
  allowPorts: raw.allow_ports,
  denyPorts: raw.deny_ports,
}));

const limitsSchema = z.strictObject({
  max_sessions: countSchema(1, MAX_SESSIONS_LIMIT).default(DEFAULT_MAX_SESSIONS),
  max_sessions_per_peer: countSchema(1, MAX_SESSIONS_LIMIT).default(DEFAULT_MAX_SESSIONS_PER_PEER),
  connect_timeout_secs: durationSecsSchema({ allowZero: false }).prefault(
    DEFAULT_CONNECT_TIMEOUT_SECS,
  ),
  idle_timeout_secs: durationSecsSchema({ allowZero: true }).prefault(
    DEFAULT_EXIT_IDLE_TIMEOUT_SECS,
  ),
  udp: udpLimitsSchema.prefault({}),
}).transform((raw): ExitLimits => ({
  maxSessions: raw.max_sessions,
  maxSessionsPerPeer: raw.max_sessions_per_peer,
  connectTimeoutMs: raw.connect_timeout_secs,
  idleTimeoutMs: raw.idle_timeout_secs,
  udp: raw.udp,
}));

const EXIT_DEFAULTS = {
  listenAddrs: EXIT_DEFAULT_LISTEN_ADDRS,
  metricsPort: EXIT_DEFAULT_METRICS_PORT,
};

/** The schema of an exit config file (snake_case in, {@link ExitConfig} without notes out). */
export const exitConfigSchema: z.ZodType<Omit<ExitConfig, "warnings">> = z.strictObject({
  api_key: apiKeySchema.optional(),
  bootstrap: bootstrapSchema.prefault([]),
  announce_addrs: announceAddrsSchema.prefault([]),
  attributes: attributesSchema.prefault({}),
  egress: egressSchema.prefault({}),
  bind_address: ipLiteralSchema.optional(),
  limits: limitsSchema.prefault({}),
  share: shareLimitsSchema.prefault({}),
  heartbeat_secs: durationSecsSchema({ allowZero: false }).prefault(DEFAULT_HEARTBEAT_SECS),
  relay: choiceSchema<RelayMode>(["auto", "always", "never"]).default("auto"),
  quic: choiceSchema<QuicMode>(QUIC_MODES).default("auto"),
  tls: choiceSchema<TlsMode>(TLS_MODES).default("auto"),
  ...commonShape(EXIT_DEFAULTS),
}).transform((raw): Omit<ExitConfig, "warnings"> => ({
  ...commonOutput(raw, EXIT_DEFAULTS),
  ...(raw.api_key === undefined ? {} : { apiKey: raw.api_key }),
  bootstrap: raw.bootstrap,
  announceAddrs: raw.announce_addrs,
  attributes: raw.attributes,
  egress: raw.egress,
  ...(raw.bind_address === undefined ? {} : { bindAddress: raw.bind_address }),
  limits: raw.limits,
  share: raw.share,
  heartbeatIntervalMs: raw.heartbeat_secs,
  relay: raw.relay,
  quic: raw.quic,
  tls: raw.tls,
}));

/** The environment variables the exit reads (`P2PROXY_<KEY>`). */
export const EXIT_ENV: readonly EnvBinding[] = [
  envBinding("api_key", "string"),
  envBinding("api_key", "string", "P2PROXY_BITPING_API_KEY"),
  envBinding("log_level", "string"),
  envBinding("metrics_port", "integer"),
  envBinding("metrics_bind", "string"),
  envBinding("state_dir", "string"),
  envBinding("keypair_path", "string"),
  envBinding("port", "integer"),
  envBinding("listen_addrs", "list"),
  envBinding("announce_addrs", "list"),
  envBinding("bootstrap", "list"),
  envBinding("bind_address", "string"),
  envBinding("heartbeat_secs", "number"),
  envBinding("relay", "string"),
  envBinding("quic", "string"),
  envBinding("tls", "string"),
] as const;

/** Everything the generic loader needs to load an exit config. */
export const EXIT_ROLE: RoleSpec<Omit<ExitConfig, "warnings">> = {
  role: "exit",
  schema: exitConfigSchema,
  env: EXIT_ENV,
  aliases: { bitping_api_key: "api_key", bootstrap_address: "bootstrap" },
  legacy: (raw, recorder) => rewriteTopLevel(raw, recorder, { apiKey: true, bootstrap: true }),
  check: checkPortShorthand,
};

/**
 * Loads an exit config from the text of `Exit.yaml` (or `.json`), the
 * environment and command-line overrides. An empty text gives the defaults.
 *
 * @throws {ConfigError} listing every problem found.
 */
export function loadExitConfig(text: string, options: LoadOptions): ExitConfig {
  return loadConfig(EXIT_ROLE, text, options);
}
