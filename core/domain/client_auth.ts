/**
 * Who may use a proxy port (docs/proxy-behaviour.md#authentication): every door — SOCKS5 RFC 1929,
 * HTTP `Proxy-Authorization: Basic`, the SOCKS4 user id — asks this one function, so the rules
 * are the same whatever the protocol:
 * - a port without `users` serves everyone; a username given anyway is still read for routing;
 * - a port with `users` needs an account and password that match one (compared in constant time),
 *   unless `allow_anonymous` lets clients without credentials in;
 * - with `username_routing` on, the username is read with the grammar (core/domain/username.ts):
 *   an unknown key or bad value fails, naming it; off, the whole name is the account.
 *
 * @example
 * ```ts
 * const users = [{ username: "demo", password: "demo" }];
 * const port = { users, allowAnonymous: false, usernameRouting: true };
 * authenticateClient(port, { username: "demo-country-de", password: "demo" }).ok; // true
 * authenticateClient(port, undefined).ok; // false: credentials are required
 * ```
 *
 * @module
 */
import { constantTimeEqualText } from "../constant_time.ts";
import type { ServerFilters } from "./attributes.ts";
import type { ExitSelection } from "./server.ts";
import { asksForRouting, parseUsername, type RoutingRequest } from "./username.ts";

/** What a port's authentication depends on (a `ServerConfig` fits). */
export interface ClientAuthSettings {
  /** The accounts; empty: no authentication. */
  readonly users: readonly ClientCredentials[];
  /** With `users`, clients without credentials are served too. */
  readonly allowAnonymous: boolean;
  /** Usernames are read with the routing grammar. */
  readonly usernameRouting: boolean;
}

/** Credentials as a client gave them. */
export interface ClientCredentials {
  /** The username as given (with routing, account and keys). */
  readonly username: string;
  /** The password as given; never logged. */
  readonly password: string;
}

/** Why a client was refused. */
export type ClientAuthFailure =
  /** The port needs credentials and the client gave none. */
  | "missing"
  /** The username breaks the grammar (an unknown key, a bad value). */
  | "username-grammar"
  /** No user has this account and password. */
  | "wrong";

/** The outcome of {@link authenticateClient}. */
export type ClientAuthOutcome =
  | {
    readonly ok: true;
    /**
     * The account the client authenticated as; undefined for an anonymous client (no
     * credentials, or a port without users).
     */
    readonly account?: string;
    /** What the username asks of the router; undefined when it asks for nothing. */
    readonly routing?: RoutingRequest;
  }
  | {
    readonly ok: false;
    readonly reason: ClientAuthFailure;
    /** One line for the log and (HTTP) the 407 body; never contains the password. */
    readonly message: string;
  };

/**
 * Decides whether a client with `credentials` (undefined: it gave none) may use the port, and
 * what its username asks for.
 */
export function authenticateClient(
  port: ClientAuthSettings,
  credentials: ClientCredentials | undefined,
): ClientAuthOutcome {
  const needsUser = port.users.length > 0;
  if (credentials === undefined) {
    if (!needsUser || port.allowAnonymous) return { ok: true };
    return {
      ok: false,
      reason: "missing",
      message: "This port needs a username and password.",
    };
  }
  let account = credentials.username;
  let routing: RoutingRequest | undefined;
  if (port.usernameRouting) {
    const parsed = parseUsername(credentials.username);
    if (!parsed.ok) {
      return {
        ok: false,
        reason: "username-grammar",
        message: `The username cannot be read (${parsed.key}): ${parsed.problem}`,
      };
    }
    account = parsed.value.account;
    if (asksForRouting(parsed.value)) routing = parsed.value;
  }
  if (needsUser && !matchesAUser(port.users, account, credentials.password)) {
    return {
      ok: false,
      reason: "wrong",
      message: `Wrong username or password for account ${JSON.stringify(account.slice(0, 64))}.`,
    };
  }
  // Only a checked account is one (limits and usage are kept by it); a port without users
  // still routes by the name, but the client is anonymous.
  return {
    ok: true,
    ...(needsUser ? { account } : {}),
    ...(routing === undefined ? {} : { routing }),
  };
}

/** Compares with every user, without stopping at a match, so timing tells nothing. */
function matchesAUser(
  users: readonly ClientCredentials[],
  account: string,
  password: string,
): boolean {
  let matched = 0;
  for (const user of users) {
    matched |= Number(constantTimeEqualText(user.username, account)) &
      Number(constantTimeEqualText(user.password, password));
  }
  return matched === 1;
}

/**
 * The exit selection a client's username asks for on a port with `portFilters`, or undefined
 * when it asks for nothing (the port's own exit serves it). Username filters override the
 * port's filter of the same key and AND with the rest; a session id is the account's own
 * (`alice/s1`: another account's `s1` is another session), lives `ttl` minutes unused, and
 * counts toward the account's bound.
 *
 * @example
 * ```ts
 * const routing = { account: "alice", filters: { country: "DE" } };
 * selectionForClient(NO_FILTERS, routing)?.filters.country; // "DE"
 * ```
 */
export function selectionForClient(
  portFilters: ServerFilters,
  routing: RoutingRequest | undefined,
): ExitSelection | undefined {
  if (routing === undefined) return undefined;
  const owner = routing.account;
  return {
    filters: { ...portFilters, ...routing.filters },
    owner,
    ...(routing.session === undefined ? {} : {
      session: `${owner}/${routing.session.id}`,
      idleMs: routing.session.ttlMinutes * 60_000,
    }),
  };
}
