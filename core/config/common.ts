/**
 * Field schemas shared by the proxy, exit and hub configs (docs/config-reference.md).
 *
 * Schemas read the snake_case keys of the file and produce normalised
 * values: peer ids and multiaddrs validated and branded, countries as
 * alpha-2, bandwidths in bits per second, durations in milliseconds. Each
 * field reports its own problems with a message that quotes the value and
 * says what to write instead.
 *
 * @module
 */
import { z } from "zod";
import ipaddr from "ipaddr.js";
import { multiaddr } from "@multiformats/multiaddr";
import { peerIdFromString } from "@libp2p/peer-id";
import { asMultiaddr, asPeerId, type Multiaddr } from "../ids.ts";
import { NO_FILTERS, type ServerFilters } from "../domain/attributes.ts";
import { parseBandwidth } from "../domain/bandwidth.ts";
import { normalizeCountry, suggestCountries } from "../domain/country.ts";
import { isIpAddressLiteral } from "../domain/egress_policy.ts";
import { validateFilters } from "../domain/filters.ts";
import type { PinnedPeer } from "../domain/server.ts";
import { describeError } from "../errors.ts";
import { closestMatch } from "./did_you_mean.ts";
import { describeValue, type PathSegment, quote } from "./problems.ts";

// ---------------------------------------------------------------------------
// Constants

/** Largest TCP/UDP port number. */
export const PORT_MAX = 65_535;

/**
 * When a proxy carries an exit's sessions over QUIC, and whether an exit serves QUIC
 * (docs/proxy-behaviour.md#quic): `auto` uses it where both sides have it and falls back to
 * libp2p streams, `always` refuses to fall back, `never` turns it off.
 */
export type QuicMode = "auto" | "always" | "never";

/** The values of the `quic` key of the proxy and exit configs. */
export const QUIC_MODES: readonly QuicMode[] = ["auto", "always", "never"];

/**
 * Whether a proxy carries an exit's sessions over pooled TLS connections when the exit offers
 * them, and whether an exit serves them (docs/proxy-behaviour.md#tls-connections): `auto` (the default) uses
 * them before QUIC streams wherever both sides have QUIC; `never` keeps to QUIC streams.
 */
export type TlsMode = "auto" | "never";

/** The values of the `tls` key of the proxy and exit configs. */
export const TLS_MODES: readonly TlsMode[] = ["auto", "never"];

/** Default `log_level`. */
export const DEFAULT_LOG_LEVEL: LogLevel = "info";

/** Default `metrics_bind` and SOCKS `bind`: loopback, so nothing is exposed by accident. */
export const DEFAULT_BIND_ADDRESS = "127.0.0.1";

/** Default `state_dir`: the working directory, as the anchor kept its files there. */
export const DEFAULT_STATE_DIR = ".";

/** Default `keypair_path`, relative to `state_dir` (the anchor's file name). */
export const DEFAULT_KEYPAIR_PATH = "node_keypair.bin";

/**
 * Longest duration a `*_secs` key accepts: one day. Timers above ~24.8 days
 * overflow `setTimeout`; a day is far beyond any sensible timeout and catches
 * values typed in milliseconds by mistake.
 */
export const MAX_DURATION_SECS = 86_400;

/** Longest free-text value (city, region, isp, plugin names); real values are far shorter. */
const MAX_TEXT_CHARS = 256;

/** Longest list of addresses or peers; a real config has a handful. */
const MAX_LIST_ENTRIES = 256;

/** The log levels, least to most severe. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;

/** A `log_level` value. */
export type LogLevel = typeof LOG_LEVELS[number];

// ---------------------------------------------------------------------------
// Helpers

/** The context a zod transform receives. */
type Ctx = z.core.$RefinementCtx;

/** Adds a custom issue at `path` (relative to the field) and returns zod's "no value" marker. */
export function fail(ctx: Ctx, message: string, path: readonly PathSegment[] = []): never {
  ctx.addIssue({ code: "custom", message, path: [...path], input: ctx.value });
  return z.NEVER;
}

/** Either a value or the sentence explaining why there is none. */
export type Parsed<T> = { readonly ok: true; readonly value: T } | {
  readonly ok: false;
  readonly message: string;
};

function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

function bad<T>(message: string): Parsed<T> {
  return { ok: false, message };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date) && !(value instanceof Uint8Array);
}

/** Upper-cases the first letter, so borrowed messages read as sentences. */
function sentence(text: string): string {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.?!]$/.test(capital) ? capital : `${capital}.`;
}

/**
 * A list of strings, each parsed by `parseItem`. A single string is accepted
 * as a one-entry list when `allowSingle` is set (`bootstrap: /ip4/…`).
 * Every bad entry is reported, each at its index.
 */
function stringList<T>(
  what: string,
  parseItem: (text: string) => Parsed<T>,
  options: { allowSingle: boolean; nonEmpty: boolean },
) {
  return z.unknown().transform((value, ctx): T[] => {
    const single = typeof value === "string" && options.allowSingle;
    const items: unknown = single ? [value] : value;
    if (!Array.isArray(items)) {
      const accepted = options.allowSingle ? `${what} or a list of them` : `a list of ${what}`;
      return fail(ctx, `Expected ${accepted}, got ${describeValue(value)}.`);
    }
    if (items.length === 0 && options.nonEmpty) {
      return fail(ctx, `The list is empty: give at least one ${what.replace(/^an? /, "")}.`);
    }
    if (items.length > MAX_LIST_ENTRIES) {
      return fail(
        ctx,
        `The list has ${items.length} entries; at most ${MAX_LIST_ENTRIES} are allowed.`,
      );
    }
    const parsed: T[] = [];
    items.forEach((item, index) => {
      const at = single ? [] : [index];
      if (typeof item !== "string") {
        fail(ctx, `Expected ${what}, got ${describeValue(item)}.`, at);
        return;
      }
      const result = parseItem(item.trim());
      if (result.ok) parsed.push(result.value);
      else fail(ctx, result.message, at);
    });
    return parsed;
  });
}

// ---------------------------------------------------------------------------
// Scalars

/** A TCP port a listener binds: 1..65535. */
export const tcpPortSchema = z.number().int().min(1).max(PORT_MAX);

/** A port where 0 has a meaning (any port, or "disabled"): 0..65535. */
export const portOrZeroSchema = z.number().int().min(0).max(PORT_MAX);

/** `log_level`: one of {@link LOG_LEVELS}, case-insensitive (`warning` is read as `warn`). */
export const logLevelSchema = z.unknown().transform((value, ctx): LogLevel => {
  if (typeof value !== "string") {
    return fail(ctx, `Expected one of ${LOG_LEVELS.join(", ")}, got ${describeValue(value)}.`);
  }
  const folded = value.trim().toLowerCase();
  const level = folded === "warning" ? "warn" : folded;
  const known = LOG_LEVELS.find((candidate) => candidate === level);
  if (known !== undefined) return known;
  return fail(ctx, `Unknown log level ${quote(value)}: use one of ${LOG_LEVELS.join(", ")}.`);
});

/**
 * A `*_secs` duration, produced in milliseconds. `allowZero` is for keys
 * where 0 means "none"; otherwise the duration must be positive.
 */
export function durationSecsSchema(options: { allowZero: boolean }) {
  const base = z.number().max(MAX_DURATION_SECS);
  const bounded = options.allowZero ? base.min(0) : base.positive();
  return bounded.transform((secs) => Math.round(secs * 1000));
}

/** A whole count within `[min, max]`. */
export function countSchema(min: number, max: number) {
  return z.number().int().min(min).max(max);
}

/** Free text such as a city or an ISP name: trimmed, at most 256 characters; `""` reads as absent. */
export const optionalTextSchema = z.string().max(MAX_TEXT_CHARS).transform((text) =>
  text.trim() === "" ? undefined : text.trim()
);

/** A non-empty string (a path, a name). */
export const nonEmptyStringSchema = z.string().trim().min(1);

/** `api_key`: a secret string; `""` reads as absent (an unset placeholder). */
export const apiKeySchema = z.string().transform((text) =>
  text.trim() === "" ? undefined : text.trim()
);

/**
 * Parses an IP literal for a listener's bind address. Canonical forms only
 * (the egress policy's rule): `127.0.0.1`, `::1`, `[::1]`. A host name is
 * refused because binding to a name would need a DNS lookup at start-up.
 */
export function parseIpLiteral(text: string): Parsed<string> {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (!isIpAddressLiteral(bare)) {
    const hint = bare === "localhost" ? " (for localhost write 127.0.0.1)" : "";
    return bad(`Expected an IP address such as 127.0.0.1 or ::1, got ${quote(text)}${hint}.`);
  }
  return ok(ipaddr.parse(bare).toString());
}

/** An IP literal (see {@link parseIpLiteral}), normalised. */
export const ipLiteralSchema = z.string().transform((text, ctx): string => {
  const parsed = parseIpLiteral(text.trim());
  return parsed.ok ? parsed.value : fail(ctx, parsed.message);
});

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms: the addresses only this host reaches. */
export function isLoopbackAddress(address: string): boolean {
  try {
    return ipaddr.process(address).range() === "loopback";
  } catch {
    return false;
  }
}

/** True for 0.0.0.0 and `::`: every interface of the host. */
export function isUnspecifiedAddress(address: string): boolean {
  try {
    return ipaddr.process(address).range() === "unspecified";
  } catch {
    return false;
  }
}

/**
 * One of a fixed set of words, case-insensitive, with `_` read as `-`
 * (`Socks5` → `socks5`, `WITH_BACKOFF` → `with-backoff`).
 */
export function choiceSchema<const T extends string>(choices: readonly T[]) {
  return z.unknown().transform((value, ctx): T => {
    const folded = typeof value === "string" ? value.trim().toLowerCase().replaceAll("_", "-") : "";
    const known = choices.find((choice) => choice === folded);
    if (known !== undefined) return known;
    const match = typeof value === "string" ? closestMatch(value, choices) : undefined;
    const hint = match === undefined ? "" : ` Did you mean \`${match}\`?`;
    return fail(ctx, `Expected one of ${choices.join(", ")}, got ${describeValue(value)}.${hint}`);
  });
}

// ---------------------------------------------------------------------------
// Bandwidth, country, ASN

/**
 * Parses a bandwidth (`50Mbps`, `1Gbps 500Mbps`) to bits per second. A bare
 * number is refused: `50` could be bits, kilobits or megabits.
 */
export const bandwidthSchema = z.unknown().transform((value, ctx): number => {
  if (typeof value === "number") {
    return fail(
      ctx,
      `The bare number ${value} has no unit: write it with one, e.g. "${value}Mbps".`,
    );
  }
  if (typeof value !== "string") {
    return fail(ctx, `Expected a bandwidth such as "50Mbps", got ${describeValue(value)}.`);
  }
  try {
    return parseBandwidth(value);
  } catch (error) {
    return fail(ctx, sentence(describeError(error)));
  }
});

/** Parses a country (alpha-2, alpha-3 or English name) to alpha-2, with suggestions when unknown. */
export function parseCountry(text: string): Parsed<string> {
  const alpha2 = normalizeCountry(text);
  if (alpha2 !== undefined) return ok(alpha2);
  const suggestions = suggestCountries(text, 3);
  const hint = suggestions.length === 0
    ? ""
    : ` Did you mean ${suggestions.map((name) => quote(name)).join(" or ")}?`;
  return bad(
    `Unknown country ${quote(text)}: use an ISO 3166-1 alpha-2 code (NL), an alpha-3 code (NLD) ` +
      `or an English name (Netherlands).${hint}`,
  );
}

/** `country`: normalised to alpha-2; `""` reads as absent, as in the anchor. */
export const countrySchema = z.string().transform((text, ctx): string | undefined => {
  if (text.trim() === "") return undefined;
  const parsed = parseCountry(text.trim());
  return parsed.ok ? parsed.value : fail(ctx, parsed.message);
});

/** Largest autonomous system number (32-bit ASNs, RFC 6793). */
const MAX_ASN = 4_294_967_295;

/** `asn`: a whole number, or the usual `AS1234` spelling. */
export const asnSchema = z.unknown().transform((value, ctx): number => {
  const text = typeof value === "string" ? value.trim() : undefined;
  const match = text === undefined ? undefined : /^(?:AS)?(\d{1,10})$/i.exec(text);
  const asn = typeof value === "number" ? value : match ? Number(match[1]) : NaN;
  if (!Number.isInteger(asn) || asn < 0 || asn > MAX_ASN) {
    return fail(
      ctx,
      `Expected an AS number such as 1136 or "AS1136" (0 to ${MAX_ASN}), got ${
        describeValue(value)
      }.`,
    );
  }
  return asn;
});

/** `isp` filter: a regular expression, checked the way the hub will compile it. */
export const ispPatternSchema = z.string().transform((pattern, ctx): string | undefined => {
  if (pattern.trim() === "") return undefined;
  const problems = validateFilters({ ...NO_FILTERS, isp: pattern });
  return problems.length === 0 ? pattern : fail(ctx, sentence(problems.join("; ")));
});

/** `city` filter: a city name or `City; Region; Country`, checked the way the hub will read it. */
export const cityFilterSchema = z.string().max(MAX_TEXT_CHARS).transform(
  (city, ctx): string | undefined => {
    if (city.trim() === "") return undefined;
    const filters: ServerFilters = { ...NO_FILTERS, city: city.trim() };
    const problems = validateFilters(filters);
    return problems.length === 0 ? city.trim() : fail(ctx, sentence(problems.join("; ")));
  },
);

// ---------------------------------------------------------------------------
// Peer ids and multiaddrs

/** Parses a multiaddr, keeping its canonical text. */
export function parseMultiaddr(text: string): Parsed<Multiaddr> {
  if (!text.startsWith("/")) {
    return bad(
      `Invalid multiaddr ${
        quote(text)
      }: a multiaddr starts with "/", e.g. /ip4/203.0.113.7/tcp/4001.`,
    );
  }
  try {
    return ok(asMultiaddr(multiaddr(text).toString()));
  } catch (error) {
    return bad(`Invalid multiaddr ${quote(text)}: ${describeError(error)}.`);
  }
}

/** Validates a peer id (`12D3KooW…`, `Qm…` or a CIDv1), returning its canonical base58 text. */
export function parsePeerId(text: string): Parsed<string> {
  try {
    return ok(peerIdFromString(text).toString());
  } catch (error) {
    return bad(
      `Invalid peer id ${quote(text)} (${describeError(error)}): give a peer id such as ` +
        `12D3KooW… or a multiaddr ending in /p2p/<peer id>.`,
    );
  }
}

/** A multiaddr's components, as `[name, value]` pairs. */
function componentsOf(address: Multiaddr): Array<{ name: string; value?: string }> {
  return multiaddr(address).getComponents().map(({ name, value }) => ({ name, value }));
}

/**
 * Parses one `destination_peers` entry: a bare peer id, or a multiaddr
 * whose last component is `/p2p/<id>` (kept verbatim to dial, unless it is
 * only `/p2p/<id>`; as in the anchor, the last `/p2p/` is the target of a
 * circuit address).
 */
export function parsePinnedPeer(text: string): Parsed<PinnedPeer> {
  if (text === "") {
    return bad("The entry is empty: give a peer id or a multiaddr ending in /p2p/<peer id>.");
  }
  if (!text.startsWith("/")) {
    const id = parsePeerId(text);
    return id.ok ? ok({ peerId: asPeerId(id.value) }) : id;
  }
  const address = parsePeerAddress(text);
  if (!address.ok) return address;
  const { peerId, bare } = address.value;
  return ok(bare ? { peerId } : { peerId, address: address.value.address });
}

/** A multiaddr ending in `/p2p/<id>`, with that id and whether it is only `/p2p/<id>`. */
interface PeerAddress {
  readonly address: Multiaddr;
  readonly peerId: ReturnType<typeof asPeerId>;
  readonly bare: boolean;
}

function parsePeerAddress(text: string): Parsed<PeerAddress> {
  const address = parseMultiaddr(text);
  if (!address.ok) return address;
  const components = componentsOf(address.value);
  const last = components.at(-1);
  if (last?.name !== "p2p" || last.value === undefined) {
    return bad(
      `Multiaddr ${quote(text)} does not end in /p2p/<peer id>: append the peer's id, ` +
        `e.g. ${address.value}/p2p/12D3KooW….`,
    );
  }
  const id = parsePeerId(last.value);
  if (!id.ok) return bad(`Multiaddr ${quote(text)} ends in an invalid peer id: ${id.message}`);
  return ok({ address: address.value, peerId: asPeerId(id.value), bare: components.length === 1 });
}

/**
 * `destination_peers`: an ordered, non-empty list of distinct peers (rank 0
 * first). A single string is accepted as a one-entry list.
 */
export const pinnedPeersSchema = stringList("a peer id or multiaddr", parsePinnedPeer, {
  allowSingle: true,
  nonEmpty: true,
}).transform((peers, ctx): PinnedPeer[] => {
  const firstIndex = new Map<string, number>();
  peers.forEach((peer, index) => {
    const earlier = firstIndex.get(peer.peerId);
    if (earlier === undefined) firstIndex.set(peer.peerId, index);
    else {
      fail(
        ctx,
        `Peer ${peer.peerId} is listed twice (also entry ${earlier}): keep one entry per peer.`,
        [index],
      );
    }
  });
  return peers;
});

/** Parses a hub address: a dialable multiaddr ending in `/p2p/<id>`. */
export function parseHubAddress(text: string): Parsed<Multiaddr> {
  const address = parsePeerAddress(text);
  if (!address.ok) return address;
  if (address.value.bare) {
    return bad(
      `Hub address ${quote(text)} has a peer id but no address to dial: write it like ` +
        `/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW….`,
    );
  }
  return ok(address.value.address);
}

/** `bootstrap`: hub multiaddrs, each ending in `/p2p/<id>`; one string or a list (may be empty). */
export const bootstrapSchema = stringList("a hub multiaddr", parseHubAddress, {
  allowSingle: true,
  nonEmpty: false,
});

/**
 * Reads the anchor's socket-address form of a listen address
 * (`0.0.0.0:45445`, `[::]:45445`) as the equivalent TCP multiaddr.
 */
function socketAddressToMultiaddr(text: string): string | undefined {
  const match = /^\[?([0-9A-Fa-f:.]+?)\]?:(\d{1,5})$/.exec(text);
  if (!match?.[1] || !match[2]) return undefined;
  const host = parseIpLiteral(match[1]);
  if (!host.ok) return undefined;
  const family = host.value.includes(":") ? "ip6" : "ip4";
  return `/${family}/${host.value}/tcp/${match[2]}`;
}

/** Parses a libp2p listen or announce address; accepts the anchor's `host:port` form. */
export function parseListenAddress(text: string): Parsed<Multiaddr> {
  if (text.startsWith("/")) return parseMultiaddr(text);
  const converted = socketAddressToMultiaddr(text);
  return converted === undefined ? parseMultiaddr(text) : parseMultiaddr(converted);
}

/** `listen_addrs`: a non-empty list of multiaddrs (a single string is accepted). */
export const listenAddrsSchema = stringList("a multiaddr", parseListenAddress, {
  allowSingle: true,
  nonEmpty: true,
});

/**
 * `listen_addrs` of a role that can work dial-only (the proxy): an empty list
 * means "listen nowhere".
 */
export const dialOnlyListenAddrsSchema = stringList("a multiaddr", parseListenAddress, {
  allowSingle: true,
  nonEmpty: false,
});

/** `announce_addrs`: multiaddrs other peers should dial (may be empty). */
export const announceAddrsSchema = stringList("a multiaddr", parseListenAddress, {
  allowSingle: true,
  nonEmpty: false,
});

/** Matches the TCP component of a canonical multiaddr. */
const TCP_COMPONENT = /\/tcp\/\d+/g;

/** True when a multiaddr has a `/tcp/<port>` component for `port` to change. */
export function hasTcpPort(address: string): boolean {
  return address.match(TCP_COMPONENT) !== null;
}

/**
 * Applies the `port` shorthand: the TCP port of every listen address
 * becomes `port` (the flag and env var of the same name move it).
 */
export function withTcpPort(
  addresses: readonly Multiaddr[],
  port: number | undefined,
): Multiaddr[] {
  if (port === undefined) return [...addresses];
  return addresses.map((address) => asMultiaddr(address.replace(TCP_COMPONENT, `/tcp/${port}`)));
}

// ---------------------------------------------------------------------------
// Plugins, providers, auth

/** Options of one plugin: passed through as written; the plugin host validates them. */
export type PluginOptions = Readonly<Record<string, unknown>>;

/** `plugins`: plugin name → its options (an empty value means "no options"). */
export const pluginsSchema = z.record(
  z.string().min(1).max(MAX_TEXT_CHARS),
  z.unknown().transform((options, ctx): PluginOptions => {
    if (options === null || options === undefined) return {};
    if (isPlainObject(options)) return options;
    return fail(ctx, `Expected the plugin's options as a mapping, got ${describeValue(options)}.`);
  }),
);

/** `providers`: capability → the plugin chosen when several plugins provide it. */
export const providersSchema = z.record(
  z.string().min(1).max(MAX_TEXT_CHARS),
  z.string().trim().min(1).max(MAX_TEXT_CHARS),
);

/** Transports to the auth service. */
export const AUTH_SERVICE_TRANSPORTS = ["connect", "grpc-web", "grpc"] as const;

/**
 * `auth` (docs/authentication.md): how this node gets its token and how it checks others'.
 * `provider: connect` exchanges `api_key` with the auth service at `url` for
 * short-lived tokens, which hubs and exits verify offline with the service's
 * public keys; `provider: static` uses one pre-shared `token` (or
 * `P2PROXY_TOKEN`) that hubs and exits compare. Absent: auth off (loopback
 * labs and the demo only), stated loudly in the log. Another plugin name
 * selects a third-party authenticator, with its options under `plugins`.
 */
export interface AuthSettings {
  /** `connect`, `static`, or a plugin's name. */
  readonly provider: string;
  /** The auth service's base URL (`connect`); the anchor's `grpc_url`. */
  readonly url?: string;
  /** How to reach the service at `url` (`connect` by default). */
  readonly transport: typeof AUTH_SERVICE_TRANSPORTS[number];
  /** The network tokens must name (hubs and exits check it). */
  readonly networkId: string;
  /** Verification keys to use instead of fetching them from `url` (hubs and exits). */
  readonly publicKeys: readonly string[];
  /** The pre-shared token (`static`); P2PROXY_TOKEN when absent. */
  readonly token?: string;
  /** A PEM CA certificate to trust for `url`. */
  readonly caCert?: string;
  /** Refresh a token at this fraction of its lifetime. */
  readonly refreshAt?: number;
  /** Deadline of one call to the auth service. */
  readonly timeoutSecs?: number;
}

/** Schema of {@link AuthSettings}; `provider` defaults to `connect` when `url` is set. */
export const authSchema = z.strictObject({
  provider: z.string().trim().min(1).max(MAX_TEXT_CHARS).optional(),
  url: z.url({
    protocol: /^https?$/,
    error: 'Give the auth service\'s base URL, e.g. "http://127.0.0.1:8443".',
  })
    .optional(),
  transport: z.enum(AUTH_SERVICE_TRANSPORTS).default("connect"),
  network_id: z.string().trim().min(1).max(MAX_TEXT_CHARS).default("p2proxy"),
  public_keys: z.array(z.string().trim().min(1).max(4096)).default([]),
  token: z.string().min(1).max(4096).optional(),
  ca_cert: z.string().min(1).max(MAX_TEXT_CHARS).optional(),
  refresh_at: z.number().min(0.1).max(0.95).optional(),
  timeout_secs: z.number().positive().max(60).optional(),
}).transform((raw, ctx): AuthSettings => {
  const provider = raw.provider ?? (raw.url !== undefined ? "connect" : undefined);
  if (provider === undefined) {
    return fail(
      ctx,
      "Set `auth.provider` (connect or static), or remove `auth` to run without authentication.",
    );
  }
  if (provider === "connect" && raw.url === undefined && raw.public_keys.length === 0) {
    return fail(ctx, "`auth.provider: connect` needs `auth.url`, the auth service's address.");
  }
  return {
    provider,
    transport: raw.transport,
    networkId: raw.network_id,
    publicKeys: raw.public_keys,
    ...(raw.url === undefined ? {} : { url: raw.url }),
    ...(raw.token === undefined ? {} : { token: raw.token }),
    ...(raw.ca_cert === undefined ? {} : { caCert: raw.ca_cert }),
    ...(raw.refresh_at === undefined ? {} : { refreshAt: raw.refresh_at }),
    ...(raw.timeout_secs === undefined ? {} : { timeoutSecs: raw.timeout_secs }),
  };
});

// ---------------------------------------------------------------------------
// The keys every role shares

/** Settings every role has, after normalisation. */
export interface CommonConfig {
  /** libp2p listen addresses, with the `port` shorthand applied. */
  readonly listenAddrs: readonly Multiaddr[];
  /** Default log level (`--log-level` and `P2PROXY_LOG_LEVEL` override it). */
  readonly logLevel: LogLevel;
  /** Port of the Prometheus `/metrics` endpoint; 0 disables it. */
  readonly metricsPort: number;
  /** Address the metrics endpoint binds to (loopback unless set). */
  readonly metricsBind: string;
  /** Directory for the keypair and other state files. */
  readonly stateDir: string;
  /** Identity key file; a relative path is relative to `stateDir`. */
  readonly keypairPath: string;
  /** Per-plugin options, keyed by plugin name, not validated here. */
  readonly plugins: Readonly<Record<string, PluginOptions>>;
  /** Capability → plugin name, for capabilities that several plugins provide. */
  readonly providers: Readonly<Record<string, string>>;
  /** Authentication plugin choice and options; absent means the default (none, or the plugin list's). */
  readonly auth?: AuthSettings;
}

/** Per-role defaults of the shared keys. */
export interface CommonDefaults {
  readonly listenAddrs: readonly string[];
  /** The role works without listening (`listen_addrs: []` is accepted). */
  readonly mayListenNowhere?: boolean;
  readonly metricsPort: number;
}

/** The zod shape of the keys every role shares. */
export function commonShape(defaults: CommonDefaults) {
  return {
    listen_addrs: (defaults.mayListenNowhere ? dialOnlyListenAddrsSchema : listenAddrsSchema)
      .optional(),
    port: portOrZeroSchema.optional(),
    log_level: logLevelSchema.default(DEFAULT_LOG_LEVEL),
    metrics_port: portOrZeroSchema.default(defaults.metricsPort),
    metrics_bind: ipLiteralSchema.default(DEFAULT_BIND_ADDRESS),
    state_dir: nonEmptyStringSchema.default(DEFAULT_STATE_DIR),
    keypair_path: nonEmptyStringSchema.default(DEFAULT_KEYPAIR_PATH),
    plugins: pluginsSchema.default({}),
    providers: providersSchema.default({}),
    auth: authSchema.optional(),
  };
}

/** The raw (parsed, snake_case) values of the shared keys. */
export interface CommonRaw {
  readonly listen_addrs?: Multiaddr[] | undefined;
  readonly port?: number | undefined;
  readonly log_level: LogLevel;
  readonly metrics_port: number;
  readonly metrics_bind: string;
  readonly state_dir: string;
  readonly keypair_path: string;
  readonly plugins: Record<string, PluginOptions>;
  readonly providers: Record<string, string>;
  readonly auth?: AuthSettings | undefined;
}

/** Maps the shared keys to their camelCase output, applying the `port` shorthand. */
export function commonOutput(raw: CommonRaw, defaults: CommonDefaults): CommonConfig {
  const listen = raw.listen_addrs ?? defaults.listenAddrs.map(asMultiaddr);
  return {
    listenAddrs: withTcpPort(listen, raw.port),
    logLevel: raw.log_level,
    metricsPort: raw.metrics_port,
    metricsBind: raw.metrics_bind,
    stateDir: raw.state_dir,
    keypairPath: raw.keypair_path,
    plugins: raw.plugins,
    providers: raw.providers,
    ...(raw.auth === undefined ? {} : { auth: raw.auth }),
  };
}
