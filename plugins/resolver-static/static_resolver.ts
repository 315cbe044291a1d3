/**
 * A resolver that answers from a fixed map and nothing else: a name that is
 * not in the map fails at once as not found, so no DNS query ever leaves the
 * machine. Tests and labs declare the names they use.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ResolveError, type Resolver } from "../../core/ports/resolver.ts";

const logger = getLogger(["p2proxy", "resolver"]);

/** Names every static map knows unless it declares them otherwise. */
export const BUILTIN_STATIC_HOSTS: Readonly<Record<string, readonly string[]>> = {
  localhost: ["127.0.0.1", "::1"],
};

/** How a name is looked up: case-insensitively, with or without the root's trailing dot. */
export function normalizeHostName(host: string): string {
  return host.toLowerCase().replace(/\.$/, "");
}

/**
 * Resolves from a map of names to addresses (`localhost` built in).
 *
 * @example
 * ```ts
 * const resolver = new StaticResolver({ "dest.test": ["127.0.0.1"] });
 * await resolver.resolve("dest.test"); // ["127.0.0.1"]
 * await resolver.resolve("example.com"); // rejects: ResolveError "not-found"
 * ```
 */
export class StaticResolver implements Resolver {
  readonly #hosts: ReadonlyMap<string, readonly string[]>;

  /** `hosts` adds names to (or replaces) the built-in `localhost`. */
  constructor(hosts: Readonly<Record<string, readonly string[]>> = {}) {
    const merged = new Map<string, readonly string[]>();
    for (const [name, addresses] of Object.entries({ ...BUILTIN_STATIC_HOSTS, ...hosts })) {
      merged.set(normalizeHostName(name), [...addresses]);
    }
    this.#hosts = merged;
  }

  /** The names this resolver knows, normalized. */
  get names(): string[] {
    return [...this.#hosts.keys()];
  }

  /** The declared addresses of `host`; rejects at once for any other name. */
  resolve(host: string, signal?: AbortSignal): Promise<readonly string[]> {
    if (signal?.aborted) {
      return Promise.reject(
        new ResolveError("timeout", host, `Resolving "${host}" was given up before it started.`, {
          cause: signal.reason,
        }),
      );
    }
    const addresses = this.#hosts.get(normalizeHostName(host));
    if (!addresses) {
      logger.debug("Static resolver: {host} is not in the map.", { host });
      return Promise.reject(
        new ResolveError(
          "not-found",
          host,
          `"${host}" is not in the static resolver's map: declare it under ` +
            `plugins["@p2proxy/resolver-static"].hosts, or choose @p2proxy/resolver-system.`,
        ),
      );
    }
    logger.debug("Static resolver: {host} is {addresses}.", {
      host,
      addresses: addresses.join(" "),
    });
    return Promise.resolve([...addresses]);
  }
}
