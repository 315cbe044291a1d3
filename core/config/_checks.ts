/**
 * Helpers for the checks that look at several keys at once. They run on the
 * raw layered object, before or despite field errors, so every value is
 * `unknown` and read defensively.
 *
 * @module
 */
import { hasTcpPort, listenAddrsSchema, PORT_MAX } from "./common.ts";
import type { Report } from "./loader.ts";

/** True for a plain key/value object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value when it is a valid port number of at least `min`; undefined otherwise (its own check reports it). */
export function rawPort(value: unknown, min: number): number | undefined {
  if (typeof value !== "number" || !Number.isInteger(value)) return undefined;
  return value >= min && value <= PORT_MAX ? value : undefined;
}

/** `port` rewrites TCP ports of the listen addresses; with none to rewrite it would do nothing. */
export function checkPortShorthand(raw: Readonly<Record<string, unknown>>, report: Report): void {
  if (rawPort(raw.port, 0) === undefined || raw.listen_addrs === undefined) return;
  const listen = listenAddrsSchema.safeParse(raw.listen_addrs);
  if (!listen.success || listen.data.some(hasTcpPort)) return;
  report(
    ["port"],
    "`port` sets the TCP port of the listen addresses, but no address in `listen_addrs` has " +
      "/tcp/: remove `port`, or add a TCP address to `listen_addrs`.",
  );
}
