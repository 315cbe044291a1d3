/**
 * The client library's options (`createClient`, docs/client.md): what a program — a serverless
 * function, a scraper — needs to reach exits without running a proxy: the hubs, a token or an
 * auth service, default exit filters, and limits. The options are plain JSON, so
 * `p2proxy demo --client-config FILE` can write them and a program can read them back. Keys are
 * camelCase, as a JavaScript API's are; unknown keys are refused with a "did you mean".
 *
 * @module
 */
import { z } from "zod";
import type { FlagPolicy, ServerFilters } from "../domain/attributes.ts";
import { validateFilters } from "../domain/filters.ts";
import type { Multiaddr } from "../ids.ts";
import {
  apiKeySchema,
  asnSchema,
  type AuthSettings,
  bandwidthSchema,
  bootstrapSchema,
  choiceSchema,
  cityFilterSchema,
  countrySchema,
  durationSecsSchema,
  fail,
  ispPatternSchema,
  nonEmptyStringSchema,
} from "./common.ts";
import { type ConfigNotes, loadConfig, type RoleSpec } from "./loader.ts";
import { DEFAULT_MIN_BANDWIDTH, DEFAULT_OPEN_TIMEOUT_SECS } from "./proxy_config.ts";

/** Default deadline of `connect()`: exit selection, the stream and the exit's answer together. */
export const CLIENT_DEFAULT_CONNECT_TIMEOUT_SECS = 60;
/** Default idle time after which a session id ends (its next use may get another exit). */
export const CLIENT_DEFAULT_SESSION_IDLE_SECS = 600;
/** Default bound on the selections (filter sets and session ids) kept at once. */
export const CLIENT_DEFAULT_MAX_SESSIONS = 1_024;
/** Most selections a client may keep: each holds at most one exit connection. */
const MAX_SESSIONS_LIMIT = 100_000;
/** The network plugin a client uses unless `transport` names another. */
export const CLIENT_DEFAULT_TRANSPORT = "network-libp2p";
/** Longest PEM text accepted in `caCerts`: a chain of a few certificates. */
const MAX_PEM_CHARS = 64 * 1024;

/** The client's normalised options. */
export interface ClientConfig {
  /** Hub multiaddrs, each ending in `/p2p/<id>`, at least one. */
  readonly bootstrap: readonly Multiaddr[];
  /** How the client gets its token: a pre-shared one (`static`) or the auth service (`connect`). */
  readonly auth?: AuthSettings;
  /** The auth service's API key (`auth.apiKey`); absent: `P2PROXY_API_KEY` is read. */
  readonly apiKey?: string;
  /** An identity key file to use (read, created when missing); absent: a throwaway identity. */
  readonly keypairPath?: string;
  /** Exit filters every call starts from; a call's own filters replace them key by key. */
  readonly filters: ServerFilters;
  /** The network plugin that carries the streams (`network-libp2p`). */
  readonly transport: string;
  /** Deadline of one `connect()` until the exit has connected, in ms. */
  readonly connectTimeoutMs: number;
  /** Deadline of one stream open to an exit, in ms. */
  readonly openTimeoutMs: number;
  /** A session id (or filter set) unused this long ends, in ms. */
  readonly sessionIdleMs: number;
  /** Most session ids and filter sets kept at once (least recently used dropped first). */
  readonly maxSessions: number;
  /** PEM root certificates `fetch()` trusts for `https://` instead of the built-in ones. */
  readonly caCerts: readonly string[];
}

const flagPolicySchema = choiceSchema<FlagPolicy>(["allow", "deny", "require"]);

/** Filters a call may set: those of a proxy server, in camelCase. */
const filterShape = {
  country: countrySchema.optional(),
  city: cityFilterSchema.optional(),
  isp: ispPatternSchema.optional(),
  asn: asnSchema.optional(),
};

const exitSchema = z.strictObject({
  ...filterShape,
  minBandwidth: bandwidthSchema.prefault(DEFAULT_MIN_BANDWIDTH),
  proxy: flagPolicySchema.default("allow"),
  mobile: flagPolicySchema.default("allow"),
  hosting: flagPolicySchema.default("allow"),
}).transform((raw, ctx): ServerFilters => {
  const filters: ServerFilters = {
    minBandwidthBps: raw.minBandwidth,
    proxy: raw.proxy,
    mobile: raw.mobile,
    hosting: raw.hosting,
    ...withoutUndefined({ country: raw.country, city: raw.city, isp: raw.isp, asn: raw.asn }),
  };
  const problems = validateFilters(filters);
  if (problems.length > 0) fail(ctx, `The filters cannot be used: ${problems.join("; ")}.`);
  return filters;
});

const authSchema = z.strictObject({
  url: z.url({
    protocol: /^https?$/,
    error: 'Give the auth service\'s base URL, such as "http://127.0.0.1:8443".',
  }),
  apiKey: apiKeySchema.optional(),
  transport: z.enum(["connect", "grpc-web", "grpc"]).default("connect"),
  networkId: nonEmptyStringSchema.default("p2proxy"),
  caCert: nonEmptyStringSchema.optional(),
});

const pemSchema = z.string().max(MAX_PEM_CHARS).refine(
  (text) => text.includes("-----BEGIN CERTIFICATE-----"),
  'Expected a PEM certificate ("-----BEGIN CERTIFICATE-----…"); read the file and pass its text.',
);

const clientSchema = z.strictObject({
  bootstrap: bootstrapSchema.refine(
    (hubs) => hubs.length > 0,
    'A client needs at least one hub to find exits: `bootstrap: ["/ip4/…/tcp/4001/p2p/12D3KooW…"]`.',
  ),
  token: z.string().min(1).max(4096).optional(),
  auth: authSchema.optional(),
  keypairPath: nonEmptyStringSchema.optional(),
  exit: exitSchema.prefault({}),
  transport: nonEmptyStringSchema.default(CLIENT_DEFAULT_TRANSPORT),
  connectTimeoutSecs: durationSecsSchema({ allowZero: false })
    .prefault(CLIENT_DEFAULT_CONNECT_TIMEOUT_SECS),
  openTimeoutSecs: durationSecsSchema({ allowZero: false }).prefault(DEFAULT_OPEN_TIMEOUT_SECS),
  sessionIdleSecs: durationSecsSchema({ allowZero: false })
    .prefault(CLIENT_DEFAULT_SESSION_IDLE_SECS),
  maxSessions: z.number().int().min(1).max(MAX_SESSIONS_LIMIT).default(
    CLIENT_DEFAULT_MAX_SESSIONS,
  ),
  caCerts: z.array(pemSchema).max(64).default([]),
}).transform((raw, ctx): ClientConfig => {
  if (raw.token !== undefined && raw.auth !== undefined) {
    fail(
      ctx,
      "Give either `token` (a pre-shared token) or `auth` (the auth service), not both.",
      ["token"],
    );
  }
  const auth: AuthSettings | undefined = raw.token !== undefined
    ? {
      provider: "static",
      token: raw.token,
      transport: "connect",
      networkId: "p2proxy",
      publicKeys: [],
    }
    : raw.auth === undefined
    ? undefined
    : {
      provider: "connect",
      url: raw.auth.url,
      transport: raw.auth.transport,
      networkId: raw.auth.networkId,
      publicKeys: [],
      ...(raw.auth.caCert === undefined ? {} : { caCert: raw.auth.caCert }),
    };
  return {
    bootstrap: raw.bootstrap,
    ...(auth ? { auth } : {}),
    ...(raw.auth?.apiKey === undefined ? {} : { apiKey: raw.auth.apiKey }),
    ...(raw.keypairPath === undefined ? {} : { keypairPath: raw.keypairPath }),
    filters: raw.exit,
    transport: raw.transport,
    connectTimeoutMs: raw.connectTimeoutSecs,
    openTimeoutMs: raw.openTimeoutSecs,
    sessionIdleMs: raw.sessionIdleSecs,
    maxSessions: raw.maxSessions,
    caCerts: raw.caCerts,
  };
});

/** What `createClient` validates its options with (and `p2proxy check --role client`). */
export const CLIENT_ROLE: RoleSpec<ClientConfig> = {
  role: "client",
  schema: clientSchema,
  env: [],
};

/**
 * Validates client options (an object, or the JSON text `demo --client-config` writes).
 *
 * @throws {ConfigError} `invalid` listing every problem, each at its key.
 * @example
 * ```ts
 * const config = loadClientConfig({ bootstrap: ["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…"], exit: { country: "NL" } });
 * config.filters.country; // "NL"
 * ```
 */
export function loadClientConfig(
  options: unknown,
  source = "createClient options",
): ClientConfig & ConfigNotes {
  const text = typeof options === "string" ? options : JSON.stringify(options ?? {});
  return loadConfig(CLIENT_ROLE, text, { source });
}

/** A call's own filters (`connect(address, { country, city, asn, isp })`), before checking. */
export interface FilterOverrides {
  /** ISO 3166 alpha-2 or alpha-3 code, or an English name. */
  readonly country?: string;
  /** A city, or `City; Region; Country`. */
  readonly city?: string;
  /** The AS number, `1136` or `"AS1136"`. */
  readonly asn?: number | string;
  /** A regular expression over the ISP's name. */
  readonly isp?: string;
}

const overridesSchema = z.object(filterShape);

/**
 * `base` with a call's filters applied key by key (a username's filters are applied the same
 * way), or the problems that make them unusable.
 *
 * @example
 * ```ts
 * applyFilterOverrides(config.filters, { country: "de" }); // { ok: true, filters: { …, country: "DE" } }
 * applyFilterOverrides(config.filters, { country: "Germny" }); // { ok: false, message: 'country: Unknown country "Germny"… Did you mean "Germany"?' }
 * ```
 */
export function applyFilterOverrides(
  base: ServerFilters,
  overrides: FilterOverrides,
): { readonly ok: true; readonly filters: ServerFilters } | {
  readonly ok: false;
  readonly message: string;
} {
  const given = withoutUndefined({
    country: overrides.country,
    city: overrides.city,
    asn: overrides.asn,
    isp: overrides.isp,
  });
  const parsed = overridesSchema.safeParse(given);
  if (!parsed.success) {
    const message = parsed.error.issues
      .map((issue) => `${issue.path.join(".")}: ${issue.message}`)
      .join("; ");
    return { ok: false, message };
  }
  const filters: ServerFilters = { ...base, ...withoutUndefined(parsed.data) };
  const problems = validateFilters(filters);
  if (problems.length > 0) return { ok: false, message: problems.join("; ") };
  return { ok: true, filters };
}

/** `record` without its undefined values (for `exactOptionalPropertyTypes`-style objects). */
function withoutUndefined<T extends Record<string, unknown>>(
  record: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(
    Object.entries(record).filter(([, value]) => value !== undefined),
  ) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
