/**
 * The system resolver (`getaddrinfo` through `node:dns` `lookup`): what the
 * operating system would answer, /etc/hosts and the configured DNS servers
 * included. The production default; tests use the static resolver, since the
 * system's DNS server is usually off the machine.
 *
 * @module
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { getLogger } from "@logtape/logtape";
import { describeError } from "../../core/errors.ts";
import { ResolveError, type Resolver } from "../../core/ports/resolver.ts";

const logger = getLogger(["p2proxy", "resolver"]);

/**
 * Starts the debug line logged before every system lookup. Tests that must
 * not send DNS queries off the machine look for it in an exit's log.
 */
export const SYSTEM_LOOKUP_LOG_PREFIX = "System resolver: looking up";

/** One answer of `lookup(host, { all: true })`. */
export interface LookupAddress {
  readonly address: string;
  readonly family: number;
}

/** The shape of `node:dns/promises` `lookup` with `all: true` that the resolver calls. */
export type LookupAll = (
  host: string,
  options: { all: true; verbatim: true },
) => Promise<readonly LookupAddress[]>;

/** getaddrinfo codes that mean "this name has no address", not "the resolver failed". */
const NOT_FOUND_CODES: ReadonlySet<string> = new Set(["ENOTFOUND", "ENODATA", "EAI_NONAME"]);

/**
 * Resolves through the operating system. `lookup` cannot be cancelled, so an
 * aborted signal settles the call at once and the lookup's late answer is
 * dropped.
 *
 * @example
 * ```ts
 * const addresses = await new SystemResolver().resolve("example.com", AbortSignal.timeout(5_000));
 * ```
 */
export class SystemResolver implements Resolver {
  readonly #lookup: LookupAll;

  /** `lookup` is `node:dns/promises` `lookup` unless a test injects another. */
  constructor(lookup: LookupAll = dnsLookup as unknown as LookupAll) {
    this.#lookup = lookup;
  }

  /** All addresses of `host` in the system's order (`verbatim`: IPv4 not forced first). */
  async resolve(host: string, signal?: AbortSignal): Promise<readonly string[]> {
    const timedOut = () =>
      new ResolveError(
        "timeout",
        host,
        `Resolving "${host}" was given up: the deadline passed or the session ended first.`,
        { cause: signal?.reason },
      );
    if (signal?.aborted) throw timedOut();
    logger.debug(`${SYSTEM_LOOKUP_LOG_PREFIX} {host}.`, { host });
    let answers: readonly LookupAddress[];
    try {
      answers = await raceAbort(this.#lookup(host, { all: true, verbatim: true }), signal);
    } catch (error) {
      if (error === ABORTED) throw timedOut();
      throw classify(host, error);
    }
    if (answers.length === 0) {
      throw new ResolveError("not-found", host, `"${host}" has no address.`);
    }
    return answers.map((answer) => answer.address);
  }
}

/** Thrown by {@link raceAbort} when the signal won. */
const ABORTED = Symbol("aborted");

/** Settles with `promise`, or rejects with {@link ABORTED} as soon as `signal` aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** A lookup error as a {@link ResolveError}: not-found for NXDOMAIN-like codes, failure otherwise. */
function classify(host: string, error: unknown): ResolveError {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && NOT_FOUND_CODES.has(code)) {
    return new ResolveError("not-found", host, `"${host}" has no address (${code}).`, {
      cause: error,
    });
  }
  const hint = code === "EPERM" || (error instanceof Error && error.name === "NotCapable")
    ? " Grant the exit --allow-net (the system resolver needs net access to every name it looks up)."
    : "";
  return new ResolveError(
    "failure",
    host,
    `The system resolver failed for "${host}": ${describeError(error)}.${hint}`,
    { cause: error },
  );
}
