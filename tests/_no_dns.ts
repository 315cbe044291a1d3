/**
 * Proof that a test's exits never asked the system's resolver, whose DNS
 * server is off the machine.
 *
 * How it is proved, and why this way: every exit the tests start chooses
 * `@p2proxy/resolver-static` (scripts/cluster.ts), and the exit resolves
 * names only through its `resolver` capability (`node:dns` is imported by
 * the resolver-system plugin alone; plugins/resolver-system's tests check
 * that). Both plugins log each lookup at debug level, so an exit run at
 * `log_level: debug` leaves a line per name it resolved. The suites then
 * check the real exit process's log: no line of the system resolver, and the
 * static map's lines for the names the suite sent — so the check cannot pass
 * merely because no name was resolved at all. Counting lines in the log of
 * the real process (rather than swapping in an instrumented resolver) checks
 * the configuration the tests actually run.
 *
 * @module
 */
import assert from "node:assert/strict";
import { SYSTEM_LOOKUP_LOG_PREFIX } from "../plugins/resolver-system/mod.ts";

/** Starts the static resolver's debug line for each name it answered or refused. */
const STATIC_LOOKUP_LOG_PREFIX = "Static resolver: ";

/** What an exit's log says about the names it resolved. */
export interface ResolverLog {
  /** Lines of the system resolver (each one a DNS query that may have left the machine). */
  readonly systemLookups: string[];
  /** Lines of the static map. */
  readonly staticLookups: string[];
}

/** The resolver lines of an exit's log (the exit must run at `log_level: debug`). */
export function resolverLog(logs: string): ResolverLog {
  const lines = logs.split("\n");
  return {
    systemLookups: lines.filter((line) => line.includes(SYSTEM_LOOKUP_LOG_PREFIX)),
    staticLookups: lines.filter((line) => line.includes(STATIC_LOOKUP_LOG_PREFIX)),
  };
}

/**
 * Asserts that the exit never asked the system resolver, and that the static
 * map answered for each of `names` (so names were resolved in this run).
 */
export function assertOnlyStaticLookups(logs: string, names: readonly string[]): void {
  const { systemLookups, staticLookups } = resolverLog(logs);
  assert.deepEqual(systemLookups, [], "the exit asked the system resolver (DNS off the machine)");
  for (const name of names) {
    assert.ok(
      staticLookups.some((line) => line.includes(name)),
      `the static map never answered for ${JSON.stringify(name)}: was the exit run at ` +
        `log_level debug, with the static resolver?\n${staticLookups.join("\n")}`,
    );
  }
}
