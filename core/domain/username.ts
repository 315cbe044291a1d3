/**
 * The username routing grammar (docs/proxy-behaviour.md#routing-by-username): a client names its
 * account and, in the same username, what its exit must be — `alice-country-de-session-s1-ttl-30`
 * — the form commercial proxy networks use. The same grammar is read from HTTP
 * `Proxy-Authorization: Basic`, SOCKS5 RFC 1929 and the SOCKS4 user id.
 *
 * `<account>(-<key>-<value>)*`, keys (any case):
 * - `country`: ISO 3166-1 alpha-2, any case (`de`, `DE`);
 * - `city`: 1–64 letters, digits, `_` or `.`; `_` reads as a space (`new_york`);
 * - `asn`: an AS number, `1136` or `AS1136`;
 * - `session`: 1–64 of `[A-Za-z0-9_]`: connections with the same id share an exit;
 * - `ttl`: the session's lifetime in minutes without use, 1–1440 (default 10); needs `session`.
 *
 * The account is the part before the first `-`, so an account name holds no `-` while routing is
 * on. Pure and bounded: a name longer than {@link MAX_USERNAME_CHARS} is refused unread.
 *
 * @example
 * ```ts
 * const parsed = parseUsername("alice-country-de-session-s1");
 * if (parsed.ok) parsed.value; // { account: "alice", filters: { country: "DE" }, session: { id: "s1", ttlMinutes: 10 } }
 * ```
 *
 * @module
 */
import { countryName } from "./country.ts";

/** Longest username read: RFC 1929 allows 255 bytes; HTTP Basic has no limit of its own. */
export const MAX_USERNAME_CHARS = 255;

/** Longest `session` id and `city` value. */
export const MAX_USERNAME_VALUE_CHARS = 64;

/** A session's lifetime without use when the username gives no `ttl`. */
export const DEFAULT_SESSION_TTL_MINUTES = 10;

/** Longest `ttl`: a day. */
export const MAX_SESSION_TTL_MINUTES = 1440;

/** Highest AS number (32 bits). */
const MAX_ASN = 4_294_967_295;

/** The keys the grammar knows. */
export const USERNAME_KEYS = ["country", "city", "asn", "session", "ttl"] as const;

/** One key of the grammar. */
export type UsernameKey = (typeof USERNAME_KEYS)[number];

/** Exit filters a username asks for; each overrides the port's filter of the same key. */
export interface UsernameFilters {
  /** ISO 3166-1 alpha-2, upper case. */
  readonly country?: string;
  /** A city name (`_` read as spaces). */
  readonly city?: string;
  /** An AS number. */
  readonly asn?: number;
}

/** A sticky session a username asks for. */
export interface UsernameSession {
  /** The id: connections with the same id (and account) leave from the same exit. */
  readonly id: string;
  /** Minutes without use after which the session ends. */
  readonly ttlMinutes: number;
}

/** What a username asks of the router: the account, and the exit it wants. */
export interface RoutingRequest {
  /** The account (checked against the port's `users`). */
  readonly account: string;
  /** Filters over the port's own; empty when the username gives none. */
  readonly filters: UsernameFilters;
  /** The sticky session, when the username names one. */
  readonly session?: UsernameSession;
}

/** The outcome of {@link parseUsername}: the request, or the part that is wrong and why. */
export type UsernameParse =
  | { readonly ok: true; readonly value: RoutingRequest }
  | {
    readonly ok: false;
    /** The key (or `account`, `username`) the problem is in. */
    readonly key: string;
    /** One sentence naming the offending text and what is allowed. */
    readonly problem: string;
  };

const SESSION_ID = /^[A-Za-z0-9_]+$/;
const CITY = /^[\p{L}\p{N}_.]+$/u;
const ASN = /^(?:AS)?(\d{1,10})$/i;
const WHOLE_NUMBER = /^\d{1,4}$/;

/** Quotes untrusted text for a message: JSON escapes, cut to a readable length. */
function quote(text: string): string {
  const cut = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return JSON.stringify(cut);
}

function bad(key: string, problem: string): UsernameParse {
  return { ok: false, key, problem };
}

/**
 * Reads a username with the grammar. Never throws; a wrong key or value is `ok: false` with the
 * key and a sentence saying what is allowed.
 */
export function parseUsername(username: string): UsernameParse {
  if (username.length > MAX_USERNAME_CHARS) {
    return bad(
      "username",
      `The username is ${username.length} characters long; at most ${MAX_USERNAME_CHARS} are read.`,
    );
  }
  const [account = "", ...rest] = username.split("-");
  if (account === "") {
    return bad("account", `The username ${quote(username)} has no account before its first "-".`);
  }
  const filters: { country?: string; city?: string; asn?: number } = {};
  let sessionId: string | undefined;
  let ttlMinutes: number | undefined;
  const seen = new Set<string>();
  for (let i = 0; i < rest.length; i += 2) {
    const key = rest[i]!.toLowerCase();
    const value = rest[i + 1];
    if (!(USERNAME_KEYS as readonly string[]).includes(key)) {
      return bad(
        rest[i]!,
        `The username key ${quote(rest[i]!)} is unknown; the keys are ${USERNAME_KEYS.join(", ")}.`,
      );
    }
    if (value === undefined || value === "") {
      return bad(key, `The username key "${key}" has no value: write ${key}-<value>.`);
    }
    if (seen.has(key)) return bad(key, `The username gives "${key}" twice: keep one.`);
    seen.add(key);
    switch (key as UsernameKey) {
      case "country": {
        const code = value.toUpperCase();
        if (!/^[A-Z]{2}$/.test(code) || countryName(code) === undefined) {
          return bad(
            key,
            `The country ${quote(value)} is not an ISO 3166-1 alpha-2 code such as DE or nl.`,
          );
        }
        filters.country = code;
        break;
      }
      case "city":
        if (value.length > MAX_USERNAME_VALUE_CHARS || !CITY.test(value)) {
          return bad(
            key,
            `The city ${quote(value)} must be 1 to ${MAX_USERNAME_VALUE_CHARS} letters, digits, ` +
              `"_" or "." ("_" reads as a space, e.g. new_york).`,
          );
        }
        filters.city = value.replaceAll("_", " ");
        break;
      case "asn": {
        const match = ASN.exec(value);
        const asn = match ? Number(match[1]) : NaN;
        if (!Number.isInteger(asn) || asn > MAX_ASN) {
          return bad(
            key,
            `The asn ${quote(value)} is not an AS number such as 1136 or AS1136 (0 to ${MAX_ASN}).`,
          );
        }
        filters.asn = asn;
        break;
      }
      case "session":
        if (value.length > MAX_USERNAME_VALUE_CHARS || !SESSION_ID.test(value)) {
          return bad(
            key,
            `The session id ${quote(value)} must be 1 to ${MAX_USERNAME_VALUE_CHARS} characters ` +
              "of A-Z a-z 0-9 _.",
          );
        }
        sessionId = value;
        break;
      case "ttl": {
        const minutes = WHOLE_NUMBER.test(value) ? Number(value) : NaN;
        if (!(minutes >= 1 && minutes <= MAX_SESSION_TTL_MINUTES)) {
          return bad(
            key,
            `The ttl ${quote(value)} must be a whole number of minutes from 1 to ` +
              `${MAX_SESSION_TTL_MINUTES}.`,
          );
        }
        ttlMinutes = minutes;
        break;
      }
    }
  }
  if (ttlMinutes !== undefined && sessionId === undefined) {
    return bad("ttl", "The username gives a ttl without a session: add session-<id>.");
  }
  return {
    ok: true,
    value: {
      account,
      filters,
      ...(sessionId === undefined ? {} : {
        session: { id: sessionId, ttlMinutes: ttlMinutes ?? DEFAULT_SESSION_TTL_MINUTES },
      }),
    },
  };
}

/** True when the request asks for anything beyond its account (a filter or a session). */
export function asksForRouting(request: RoutingRequest): boolean {
  return request.session !== undefined || Object.keys(request.filters).length > 0;
}
