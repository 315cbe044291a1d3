/**
 * The proxy (entry) role's configuration, `Config.yaml` (docs/config-reference.md). The keys
 * are the anchor's, so an anchor config keeps working; its legacy spellings
 * are rewritten (see `_legacy.ts`), and the anchor's holes are closed:
 * unknown keys, duplicate ports, empty pins, bad peers, bad bandwidths and
 * countries, bad regexes and open proxies are all refused, all at once.
 *
 * @module
 */
import { z } from "zod";
import { type UdpLimits, udpLimitsSchema } from "./udp_config.ts";
import type { Multiaddr } from "../ids.ts";
import type { FlagPolicy, ServerFilters } from "../domain/attributes.ts";
import { serverFingerprint } from "../domain/fingerprint.ts";
import { validateFilters } from "../domain/filters.ts";
import type { ExitSelectionSettings, StickyReconnect } from "../domain/server.ts";
import {
  apiKeySchema,
  asnSchema,
  bandwidthSchema,
  bootstrapSchema,
  choiceSchema,
  cityFilterSchema,
  type CommonConfig,
  commonOutput,
  commonShape,
  countrySchema,
  countSchema,
  DEFAULT_BIND_ADDRESS,
  durationSecsSchema,
  fail,
  ipLiteralSchema,
  isLoopbackAddress,
  ispPatternSchema,
  isUnspecifiedAddress,
  parseIpLiteral,
  pinnedPeersSchema,
  QUIC_MODES,
  type QuicMode,
  tcpPortSchema,
  TLS_MODES,
  type TlsMode,
} from "./common.ts";
import { rewriteServer, rewriteTopLevel } from "./_legacy.ts";
import { type PortLimits, portLimitsSchema } from "./limits_config.ts";
import { checkPortShorthand, isRecord, rawPort } from "./_checks.ts";
import {
  type ConfigNotes,
  type EnvBinding,
  envBinding,
  type LegacyRecorder,
  loadConfig,
  type LoadOptions,
  type Report,
  type RoleSpec,
} from "./loader.ts";

// ---------------------------------------------------------------------------
// Defaults (the anchor's values where it had the key)

/** libp2p listens on every IPv4 interface, on a port the OS picks. */
export const PROXY_DEFAULT_LISTEN_ADDRS: readonly string[] = ["/ip4/0.0.0.0/tcp/0"];
/** The anchor's metrics port. */
export const PROXY_DEFAULT_METRICS_PORT = 9091;
/** The anchor's default bandwidth floor. */
export const DEFAULT_MIN_BANDWIDTH = "50Mbps";
/** The anchor's `pool.max_total`: sticky pool size and concurrent stream opens per peer. */
export const DEFAULT_POOL_MAX_TOTAL = 30;
/** Most `pool.max_total` accepted: far above any real pool; bounds the sticky file. */
const MAX_POOL_MAX_TOTAL = 10_000;
/** The anchor's `pool.open_timeout_secs`. */
export const DEFAULT_OPEN_TIMEOUT_SECS = 20;
/** SOCKS handshake deadline against slowloris clients (docs/proxy-behaviour.md#handshake). */
export const DEFAULT_HANDSHAKE_TIMEOUT_SECS = 10;
/** 0: sessions have no idle timeout unless configured. */
export const DEFAULT_IDLE_TIMEOUT_SECS = 0;
/** RFC 1929 caps username and password at 255 bytes each. */
const MAX_CREDENTIAL_BYTES = 255;
/** Shortest `admin_token`: 16 random characters are past guessing over HTTP. */
export const MIN_ADMIN_TOKEN_CHARS = 16;
/** Longest `admin_token`: a header value, not a document. */
export const MAX_ADMIN_TOKEN_CHARS = 256;

// ---------------------------------------------------------------------------
// Output types

/** One RFC 1929 username/password pair. */
export interface UserCredentials {
  /** 1..255 bytes of UTF-8. */
  readonly username: string;
  /** 1..255 bytes of UTF-8. */
  readonly password: string;
}

/**
 * What a server's port speaks: `mixed` tells SOCKS5, SOCKS4/4a and HTTP apart by the first byte
 * (docs/proxy-behaviour.md#protocols).
 */
export type ServerProtocol = (typeof SERVER_PROTOCOLS)[number];

/** The `servers[].protocol` values, the default first. */
export const SERVER_PROTOCOLS = ["mixed", "socks5", "socks4", "http"] as const;

/** One listener, normalised: what the proxy runtime starts. */
export interface ServerConfig extends ExitSelectionSettings {
  /** What the port speaks; `mixed` (the default) serves every loaded door by first byte. */
  readonly protocol: ServerProtocol;
  /** IP address the listener binds (loopback unless configured). */
  readonly bind: string;
  /** Credentials clients must give; empty means no authentication. */
  readonly users: readonly UserCredentials[];
  /**
   * With `users`, clients that give no credentials are served too (`allow_anonymous`); wrong
   * credentials are still refused. The demo's port works this way.
   */
  readonly allowAnonymous: boolean;
  /**
   * Usernames are read with the routing grammar `<account>(-<key>-<value>)*`
   * (`username_routing`, default true; core/domain/username.ts); false: the whole name is the
   * account.
   */
  readonly usernameRouting: boolean;
  /** Deadline for opening one stream to the exit (`pool.open_timeout_secs`). */
  readonly openTimeoutMs: number;
  /** Idle session timeout; 0 = none. */
  readonly idleTimeoutMs: number;
  /** Deadline for a client's SOCKS handshake. */
  readonly handshakeTimeoutMs: number;
  /** Port + filters identity; a change invalidates this server's sticky pool. */
  readonly fingerprint: string;
  /** Rate, connection and quota limits per account (docs/limits.md); absent = none. */
  readonly limits?: PortLimits;
  /** Bounds of each SOCKS5 UDP association (`udp`); absent: the defaults (`DEFAULT_UDP_LIMITS`). */
  readonly udp?: UdpLimits;
}

/** The proxy role's configuration. */
export interface ProxyConfig extends CommonConfig, ConfigNotes {
  /** The SOCKS5 listeners, at least one, each on its own port. */
  readonly servers: readonly ServerConfig[];
  /** Key for the auth service (`api_key`, alias `bitping_api_key`). */
  readonly apiKey?: string;
  /** Hub multiaddrs, each ending in `/p2p/<id>`. */
  readonly bootstrap: readonly Multiaddr[];
  /** Allows SOCKS listeners on non-loopback addresses without `users`. */
  readonly allowOpenProxy: boolean;
  /** The admin API's bearer token (`admin_token`); absent: requests need none. */
  readonly adminToken?: string;
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

const utf8 = new TextEncoder();

function credentialSchema(what: "username" | "password") {
  return z.string().transform((text, ctx): string => {
    const bytes = utf8.encode(text).length;
    if (bytes >= 1 && bytes <= MAX_CREDENTIAL_BYTES) return text;
    return fail(
      ctx,
      `The ${what} is ${bytes} bytes long; SOCKS5 (RFC 1929) allows 1 to ` +
        `${MAX_CREDENTIAL_BYTES} bytes of UTF-8.`,
    );
  });
}

const usersSchema = z.array(
  z.strictObject({
    username: credentialSchema("username"),
    password: credentialSchema("password"),
  }),
).min(1).transform((users, ctx): UserCredentials[] => {
  const seen = new Set<string>();
  users.forEach((user, index) => {
    if (seen.has(user.username)) {
      fail(ctx, `Username "${user.username}" is listed twice: keep one entry per user.`, [index]);
    }
    seen.add(user.username);
  });
  return users;
});

/**
 * `admin_token`: what `Authorization: Bearer` must carry. The characters are
 * RFC 6750's b64token, so the token fits the header as written; `""` reads as
 * absent (an unset placeholder). The value is never echoed in a message.
 */
const adminTokenSchema = z.string().transform((text, ctx): string | undefined => {
  const token = text.trim();
  if (token === "") return undefined;
  const fits = token.length >= MIN_ADMIN_TOKEN_CHARS && token.length <= MAX_ADMIN_TOKEN_CHARS &&
    /^[A-Za-z0-9\-._~+/]+=*$/.test(token);
  if (fits) return token;
  return fail(
    ctx,
    `The admin token must be ${MIN_ADMIN_TOKEN_CHARS} to ${MAX_ADMIN_TOKEN_CHARS} characters ` +
      `of A-Z a-z 0-9 - . _ ~ + / (then any "="), as a Bearer token allows; this one is ` +
      `${token.length} characters long. Generate one with \`openssl rand -hex 32\`.`,
  );
});

const flagPolicySchema = choiceSchema<FlagPolicy>(["allow", "deny", "require"]);
const stickyReconnectSchema = choiceSchema<StickyReconnect>(["with-backoff", "fail-fast"]);

const poolSchema = z.strictObject({
  max_total: countSchema(1, MAX_POOL_MAX_TOTAL).default(DEFAULT_POOL_MAX_TOTAL),
  open_timeout_secs: durationSecsSchema({ allowZero: false }).prefault(DEFAULT_OPEN_TIMEOUT_SECS),
});

const serverShape = {
  protocol: choiceSchema(SERVER_PROTOCOLS).default("mixed"),
  port: tcpPortSchema,
  bind: ipLiteralSchema.default(DEFAULT_BIND_ADDRESS),
  users: usersSchema.optional(),
  allow_anonymous: z.boolean().default(false),
  username_routing: z.boolean().default(true),
  min_bandwidth: bandwidthSchema.prefault(DEFAULT_MIN_BANDWIDTH),
  country: countrySchema.optional(),
  city: cityFilterSchema.optional(),
  isp: ispPatternSchema.optional(),
  asn: asnSchema.optional(),
  proxy: flagPolicySchema.default("allow"),
  mobile: flagPolicySchema.default("allow"),
  hosting: flagPolicySchema.default("allow"),
  destination_peers: pinnedPeersSchema.optional(),
  fallback_to_discovery: z.boolean().default(false),
  sticky: z.boolean().default(true),
  sticky_reconnect: stickyReconnectSchema.default("with-backoff"),
  pool: poolSchema.prefault({}),
  idle_timeout_secs: durationSecsSchema({ allowZero: true }).prefault(DEFAULT_IDLE_TIMEOUT_SECS),
  handshake_timeout_secs: durationSecsSchema({ allowZero: false }).prefault(
    DEFAULT_HANDSHAKE_TIMEOUT_SECS,
  ),
  limits: portLimitsSchema.optional(),
  udp: udpLimitsSchema.prefault({}),
};

type RawServer = z.output<z.ZodObject<typeof serverShape>>;

/** Builds the runtime's view of one server from its validated keys. */
function toServerConfig(raw: RawServer, ctx: z.core.$RefinementCtx): ServerConfig {
  const filters: ServerFilters = {
    minBandwidthBps: raw.min_bandwidth,
    proxy: raw.proxy,
    mobile: raw.mobile,
    hosting: raw.hosting,
    ...(raw.country === undefined ? {} : { country: raw.country }),
    ...(raw.city === undefined ? {} : { city: raw.city }),
    ...(raw.isp === undefined ? {} : { isp: raw.isp }),
    ...(raw.asn === undefined ? {} : { asn: raw.asn }),
  };
  // The hub validates filters with the same function; a disagreement is caught here, not there.
  const problems = validateFilters(filters);
  if (problems.length > 0) fail(ctx, `The filters cannot be used: ${problems.join("; ")}.`);
  const users = raw.users ?? [];
  const dashed = users.findIndex((user) => user.username.includes("-"));
  if (raw.username_routing && dashed !== -1) {
    // The grammar reads everything after the first "-" as routing: this account could never log in.
    fail(
      ctx,
      `The username ${JSON.stringify(users[dashed]!.username)} holds a "-", which username ` +
        "routing reads as the start of a key: rename the account, or set " +
        "`username_routing: false`.",
      ["users", dashed, "username"],
    );
  }
  return {
    port: raw.port,
    filters,
    pinned: raw.destination_peers ?? [],
    fallbackToDiscovery: raw.fallback_to_discovery,
    sticky: raw.sticky,
    stickyReconnect: raw.sticky_reconnect,
    poolMaxTotal: raw.pool.max_total,
    protocol: raw.protocol,
    bind: raw.bind,
    users: raw.users ?? [],
    allowAnonymous: raw.allow_anonymous,
    usernameRouting: raw.username_routing,
    openTimeoutMs: raw.pool.open_timeout_secs,
    idleTimeoutMs: raw.idle_timeout_secs,
    handshakeTimeoutMs: raw.handshake_timeout_secs,
    fingerprint: serverFingerprint(raw.port, filters),
    ...(raw.limits === undefined ? {} : { limits: raw.limits }),
    udp: raw.udp,
  };
}

const serverSchema = z.strictObject(serverShape).transform(toServerConfig);

const PROXY_DEFAULTS = {
  listenAddrs: PROXY_DEFAULT_LISTEN_ADDRS,
  metricsPort: PROXY_DEFAULT_METRICS_PORT,
  // A proxy only dials (exits, hubs, relays); its listener serves identify and ping.
  mayListenNowhere: true,
};

const SERVERS_REQUIRED =
  "A proxy needs `servers`: a list of SOCKS5 listeners, e.g. `servers: [{ port: 1080 }]`.";

/** The schema of a proxy config file (snake_case in, {@link ProxyConfig} without notes out). */
export const proxyConfigSchema: z.ZodType<Omit<ProxyConfig, "warnings">> = z.strictObject({
  servers: z.array(serverSchema, {
    error: (issue) => issue.input === undefined ? SERVERS_REQUIRED : undefined,
  }).min(1, SERVERS_REQUIRED),
  api_key: apiKeySchema.optional(),
  bootstrap: bootstrapSchema.prefault([]),
  allow_open_proxy: z.boolean().default(false),
  admin_token: adminTokenSchema.optional(),
  quic: choiceSchema<QuicMode>(QUIC_MODES).default("auto"),
  tls: choiceSchema<TlsMode>(TLS_MODES).default("auto"),
  ...commonShape(PROXY_DEFAULTS),
}).transform((raw): Omit<ProxyConfig, "warnings"> => ({
  ...commonOutput(raw, PROXY_DEFAULTS),
  servers: raw.servers,
  ...(raw.api_key === undefined ? {} : { apiKey: raw.api_key }),
  bootstrap: raw.bootstrap,
  allowOpenProxy: raw.allow_open_proxy,
  ...(raw.admin_token === undefined ? {} : { adminToken: raw.admin_token }),
  quic: raw.quic,
  tls: raw.tls,
}));

// ---------------------------------------------------------------------------
// Environment, legacy spellings, cross-field checks

/** The environment variables the proxy reads (`P2PROXY_<KEY>`). */
export const PROXY_ENV: readonly EnvBinding[] = [
  envBinding("api_key", "string"),
  envBinding("api_key", "string", "P2PROXY_BITPING_API_KEY"),
  envBinding("log_level", "string"),
  envBinding("metrics_port", "integer"),
  envBinding("metrics_bind", "string"),
  envBinding("state_dir", "string"),
  envBinding("keypair_path", "string"),
  envBinding("port", "integer"),
  envBinding("listen_addrs", "list"),
  envBinding("bootstrap", "list"),
  envBinding("allow_open_proxy", "boolean"),
  envBinding("admin_token", "string"),
  envBinding("quic", "string"),
  envBinding("tls", "string"),
] as const;

function rewriteProxyLegacy(raw: Record<string, unknown>, recorder: LegacyRecorder): void {
  rewriteTopLevel(raw, recorder, { apiKey: true, bootstrap: true });
  if (!Array.isArray(raw.servers)) return;
  raw.servers.forEach((server, index) => {
    if (isRecord(server)) rewriteServer(server, ["servers", index], recorder);
  });
}

/** Refused unless `allow_open_proxy: true` (docs/operations.md#security-defaults). */
function openProxyMessage(bind: string): string {
  return `Refusing to serve a proxy port on ${bind}, a non-loopback address, without \`users\` ` +
    "(or with `allow_anonymous: true`): anyone who can reach it could use this proxy. Add " +
    "`users`, bind to 127.0.0.1, or set `allow_open_proxy: true` to run an open proxy on purpose.";
}

function checkProxy(raw: Readonly<Record<string, unknown>>, report: Report): void {
  checkPortShorthand(raw, report);
  const servers = Array.isArray(raw.servers) ? raw.servers : [];
  const portOwners = new Map<number, number>();
  servers.forEach((server, index) => {
    if (!isRecord(server)) return;
    const port = rawPort(server.port, 1);
    if (port !== undefined) {
      const owner = portOwners.get(port);
      if (owner === undefined) portOwners.set(port, index);
      else {
        report(
          ["servers", index, "port"],
          `Port ${port} is already used by servers[${owner}]: give each server its own port.`,
        );
      }
    }
    checkOpenProxy(raw, server, index, report);
  });
  checkRoutes(raw, servers, report);
  checkMetricsPortClash(raw, servers, report);
}

/** Refused: without a pinned exit or a hub to ask, a server can only ever answer "no exit". */
const NO_ROUTE_MESSAGE = "This server can never reach an exit: it pins none " +
  "(`destination_peers`) and the proxy has no hub to find one (`bootstrap` is empty). Add " +
  "`bootstrap: [/ip4/…/tcp/4001/p2p/<hub peer id>]` at the top level (or P2PROXY_BOOTSTRAP), " +
  "or `destination_peers` to this server.";

/** A server needs a way to an exit: pinned peers, or a hub (`bootstrap`) to discover them. */
function checkRoutes(
  raw: Readonly<Record<string, unknown>>,
  servers: readonly unknown[],
  report: Report,
): void {
  // A malformed `bootstrap` is reported by its own check; only a certainly empty one counts here.
  const noHub = raw.bootstrap === undefined ||
    (Array.isArray(raw.bootstrap) && raw.bootstrap.length === 0);
  if (!noHub) return;
  servers.forEach((server, index) => {
    if (isRecord(server) && server.destination_peers === undefined) {
      report(["servers", index], NO_ROUTE_MESSAGE);
    }
  });
}

function checkOpenProxy(
  raw: Readonly<Record<string, unknown>>,
  server: Record<string, unknown>,
  index: number,
  report: Report,
): void {
  if (raw.allow_open_proxy === true || typeof server.bind !== "string") return;
  const bind = parseIpLiteral(server.bind.trim());
  if (!bind.ok || isLoopbackAddress(bind.value)) return;
  const hasUsers = Array.isArray(server.users) && server.users.length > 0;
  if (!hasUsers || server.allow_anonymous === true) {
    report(["servers", index, "bind"], openProxyMessage(bind.value));
  }
}

/** Two listeners on one port and overlapping addresses cannot both start. */
function checkMetricsPortClash(
  raw: Readonly<Record<string, unknown>>,
  servers: readonly unknown[],
  report: Report,
): void {
  const metricsPort = raw.metrics_port === undefined
    ? PROXY_DEFAULT_METRICS_PORT
    : rawPort(raw.metrics_port, 1);
  if (metricsPort === undefined) return;
  const metricsBind = bindOf(raw.metrics_bind);
  servers.forEach((server, index) => {
    if (!isRecord(server) || rawPort(server.port, 1) !== metricsPort) return;
    const serverBind = bindOf(server.bind);
    if (metricsBind === undefined || serverBind === undefined) return;
    const overlap = metricsBind === serverBind || isUnspecifiedAddress(metricsBind) ||
      isUnspecifiedAddress(serverBind);
    if (!overlap) return;
    report(
      ["metrics_port"],
      `Port ${metricsPort} is also the SOCKS port of servers[${index}]: choose another ` +
        "`metrics_port`, or 0 to disable metrics.",
    );
  });
}

function bindOf(value: unknown): string | undefined {
  if (value === undefined) return DEFAULT_BIND_ADDRESS;
  if (typeof value !== "string") return undefined;
  const parsed = parseIpLiteral(value.trim());
  return parsed.ok ? parsed.value : undefined;
}

/** Everything the generic loader needs to load a proxy config. */
export const PROXY_ROLE: RoleSpec<Omit<ProxyConfig, "warnings">> = {
  role: "proxy",
  schema: proxyConfigSchema,
  env: PROXY_ENV,
  aliases: { bitping_api_key: "api_key", bootstrap_address: "bootstrap" },
  legacy: rewriteProxyLegacy,
  check: checkProxy,
};

/**
 * Loads a proxy config from the text of `Config.yaml` (or `.json`), the
 * environment and command-line overrides (precedence: overrides > env >
 * file > defaults).
 *
 * @throws {ConfigError} listing every problem found.
 * @example
 * ```ts
 * const config = loadProxyConfig("servers:\n  - port: 1080\n", { source: "Config.yaml" });
 * config.servers[0]?.filters.minBandwidthBps; // 50_000_000
 * ```
 */
export function loadProxyConfig(text: string, options: LoadOptions): ProxyConfig {
  return loadConfig(PROXY_ROLE, text, options);
}
