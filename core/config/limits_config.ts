/**
 * The `limits` key of a proxy server and the `share` key of an exit (docs/limits.md; every key in
 * docs/config-reference.md): rates parse like every bandwidth in the config (`10Mbps`,
 * bits per second), sizes like `50GB` (bytes), periods are `day`, `week` or `month`.
 *
 * @module
 */
import { z } from "zod";
import { parseByteSize } from "../domain/byte_size.ts";
import { type Quota, QUOTA_PERIODS, type QuotaPeriod } from "../domain/quota.ts";
import { describeError } from "../errors.ts";
import { bandwidthSchema, choiceSchema, countSchema, fail } from "./common.ts";
import { describeValue } from "./problems.ts";

/** Most connections or sessions a limit may name; far above what one process serves. */
const MAX_CONNECTIONS_LIMIT = 1_000_000;
/** Most accounts with limits of their own on one port: bounds the config and the lookups. */
export const MAX_LIMITED_ACCOUNTS = 10_000;
/** Longest account name (RFC 1929's username limit). */
const MAX_ACCOUNT_CHARS = 255;

/** What one account may use on a port; an absent key is no limit. */
export interface AccountLimits {
  /** Bits per second in each direction (client → exit and back, each on its own). */
  readonly rateBps?: number;
  /** Connections open at once. */
  readonly connections?: number;
  /** Bytes per period, both directions summed. */
  readonly quota?: Quota;
}

/** A server's `limits`: the default for every account, and accounts with their own. */
export interface PortLimits extends AccountLimits {
  /**
   * Accounts with limits of their own: these replace the port's default entirely (an account
   * listed with `{}` has none).
   */
  readonly accounts: ReadonlyMap<string, AccountLimits>;
  /**
   * What the quota counts are kept under in place of the port number (`quota_scope`): ports with
   * the same scope — in this process or in others sharing the quota store — count one total per
   * account (docs/limits.md#shared-quota).
   */
  readonly quotaScope?: string;
}

/** What an exit gives away (`share`); an absent key is no cap. */
export interface ShareLimits {
  /** Bits per second in each direction, over all its sessions together. */
  readonly rateBps?: number;
  /** Bytes per period over all its sessions, both directions summed. */
  readonly quota?: Quota;
  /** Sessions served at once. */
  readonly sessions?: number;
}

/** `50GB`, `512MiB`: a byte size (bare numbers are refused, like bare bandwidths). */
export const byteSizeSchema = z.unknown().transform((value, ctx): number => {
  if (typeof value === "number") {
    return fail(ctx, `The bare number ${value} has no unit: write it with one, e.g. "${value}MB".`);
  }
  if (typeof value !== "string") {
    return fail(ctx, `Expected a size such as "50GB", got ${describeValue(value)}.`);
  }
  try {
    return parseByteSize(value);
  } catch (error) {
    return fail(ctx, describeError(error));
  }
});

/** A positive rate: `0bps` would stop all traffic, which a limit should not do by accident. */
const rateSchema = bandwidthSchema.transform((bps, ctx): number => {
  if (bps >= 8) return bps;
  return fail(ctx, `A rate of ${bps} bps stops the traffic: give at least 8bps (1 byte/s).`);
});

const quotaSchema = z.strictObject({
  bytes: byteSizeSchema,
  period: choiceSchema<QuotaPeriod>(QUOTA_PERIODS),
}).transform((raw): Quota => ({ bytes: raw.bytes, period: raw.period }));

const accountLimitsShape = {
  rate: rateSchema.optional(),
  connections: countSchema(1, MAX_CONNECTIONS_LIMIT).optional(),
  quota: quotaSchema.optional(),
};

function toAccountLimits(raw: z.output<z.ZodObject<typeof accountLimitsShape>>): AccountLimits {
  return {
    ...(raw.rate === undefined ? {} : { rateBps: raw.rate }),
    ...(raw.connections === undefined ? {} : { connections: raw.connections }),
    ...(raw.quota === undefined ? {} : { quota: raw.quota }),
  };
}

const accountLimitsSchema = z.strictObject(accountLimitsShape).transform(toAccountLimits);

const accountsSchema = z.record(z.string(), accountLimitsSchema).transform((raw, ctx) => {
  const accounts = new Map<string, AccountLimits>();
  for (const [account, limits] of Object.entries(raw)) {
    if (account.length === 0 || account.length > MAX_ACCOUNT_CHARS) {
      fail(ctx, `Account names are 1 to ${MAX_ACCOUNT_CHARS} characters long.`, [account]);
    }
    accounts.set(account, limits);
  }
  if (accounts.size > MAX_LIMITED_ACCOUNTS) {
    fail(ctx, `At most ${MAX_LIMITED_ACCOUNTS} accounts may have limits of their own on a port.`);
  }
  return accounts;
});

/**
 * A server's `limits: { rate, connections, quota: { bytes, period }, accounts: { name: {…} } }`.
 *
 * @example
 * ```ts
 * portLimitsSchema.parse({ rate: "8Mbps", accounts: { alice: { connections: 2 } } });
 * // { rateBps: 8_000_000, accounts: Map { "alice" => { connections: 2 } } }
 * ```
 */
export const portLimitsSchema = z.strictObject({
  ...accountLimitsShape,
  accounts: accountsSchema.optional(),
  quota_scope: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, {
    message: 'quota_scope must be 1 to 64 letters, digits or _ . - (e.g. "eu-pool")',
  }).optional(),
}).transform((raw): PortLimits => ({
  ...toAccountLimits(raw),
  accounts: raw.accounts ?? new Map(),
  ...(raw.quota_scope === undefined ? {} : { quotaScope: raw.quota_scope }),
}));

/**
 * An exit's `share: { rate, quota: { bytes, period }, sessions }`.
 *
 * @example
 * ```ts
 * shareLimitsSchema.parse({ sessions: 200 }); // { sessions: 200 }
 * ```
 */
export const shareLimitsSchema = z.strictObject({
  rate: rateSchema.optional(),
  quota: quotaSchema.optional(),
  sessions: countSchema(1, MAX_CONNECTIONS_LIMIT).optional(),
}).transform((raw): ShareLimits => ({
  ...(raw.rate === undefined ? {} : { rateBps: raw.rate }),
  ...(raw.quota === undefined ? {} : { quota: raw.quota }),
  ...(raw.sessions === undefined ? {} : { sessions: raw.sessions }),
}));

/**
 * The limits that apply to `account` on a port: its own when listed, else the port's default.
 * A session without an account (a port without users) counts as the account `""`.
 *
 * @example
 * ```ts
 * limitsOf(portLimits, "alice");
 * ```
 */
export function limitsOf(limits: PortLimits, account: string): AccountLimits {
  return limits.accounts.get(account) ?? limits;
}

/** True when `limits` limits nothing. */
export function isUnlimited(limits: AccountLimits): boolean {
  return limits.rateBps === undefined && limits.connections === undefined &&
    limits.quota === undefined;
}
