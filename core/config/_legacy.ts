/**
 * The anchor's legacy spellings, rewritten to p2proxy's keys before validation so that an existing
 * anchor config keeps working (docs/config-reference.md, "Anchor configs").
 *
 * @module
 */
import type { LegacyRecorder } from "./loader.ts";
import { parseIpLiteral } from "./common.ts";
import { type PathSegment, quote } from "./problems.ts";

/**
 * Moves `from` to `to` inside `object` (at `base`), unless both are set, which
 * is reported: the two names are one setting.
 */
export function renameKey(
  object: Record<string, unknown>,
  base: readonly PathSegment[],
  from: string,
  to: string,
  recorder: LegacyRecorder,
): void {
  if (!Object.hasOwn(object, from)) return;
  if (Object.hasOwn(object, to)) {
    recorder.problem(
      [...base, from],
      `\`${from}\` is the anchor's name for \`${to}\`, and both are set: keep only \`${to}\`.`,
    );
    delete object[from];
    return;
  }
  object[to] = object[from];
  delete object[from];
  recorder.mapPath([...base, to], [...base, from]);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Top-level anchor keys every role accepts:
 * - `bitping_api_key` → `api_key` (only where the role has `api_key`);
 * - `bootstrap_address` → `bootstrap` (where the role has `bootstrap`);
 * - `grpc_url` → `auth.url` (the auth service endpoint);
 * - `metrics_addr: "127.0.0.1:9091"` → `metrics_bind` + `metrics_port`.
 */
export function rewriteTopLevel(
  raw: Record<string, unknown>,
  recorder: LegacyRecorder,
  options: { apiKey: boolean; bootstrap: boolean },
): void {
  if (options.apiKey) renameKey(raw, [], "bitping_api_key", "api_key", recorder);
  if (options.bootstrap) renameKey(raw, [], "bootstrap_address", "bootstrap", recorder);
  rewriteGrpcUrl(raw, recorder);
  rewriteMetricsAddr(raw, recorder);
}

function rewriteGrpcUrl(raw: Record<string, unknown>, recorder: LegacyRecorder): void {
  if (!Object.hasOwn(raw, "grpc_url")) return;
  const url = raw.grpc_url;
  delete raw.grpc_url;
  const auth = raw.auth ?? {};
  if (!isRecord(auth)) return; // `auth` itself is reported as invalid
  if (Object.hasOwn(auth, "url")) {
    recorder.problem(
      ["grpc_url"],
      "`grpc_url` is the anchor's name for `auth.url`, and both are set: keep only `auth.url`.",
    );
    return;
  }
  raw.auth = { ...auth, url };
  recorder.mapPath(["auth", "url"], ["grpc_url"]);
}

function rewriteMetricsAddr(raw: Record<string, unknown>, recorder: LegacyRecorder): void {
  if (!Object.hasOwn(raw, "metrics_addr")) return;
  const value = raw.metrics_addr;
  delete raw.metrics_addr;
  const match = typeof value === "string" ? /^\[?(.+?)\]?:(\d{1,5})$/.exec(value.trim()) : null;
  const host = match?.[1] === undefined ? undefined : parseIpLiteral(match[1]);
  if (!match || !host?.ok) {
    recorder.problem(
      ["metrics_addr"],
      `Expected an address such as "127.0.0.1:9091", got ${
        typeof value === "string" ? quote(value) : "another value"
      }: or use \`metrics_bind\` and \`metrics_port\`.`,
    );
    return;
  }
  if (Object.hasOwn(raw, "metrics_bind") || Object.hasOwn(raw, "metrics_port")) {
    recorder.problem(
      ["metrics_addr"],
      "`metrics_addr` is the anchor's name for `metrics_bind` + `metrics_port`, and those are " +
        "set too: keep only `metrics_bind` and `metrics_port`.",
    );
    return;
  }
  raw.metrics_bind = host.value;
  raw.metrics_port = Number(match[2]);
  recorder.mapPath(["metrics_bind"], ["metrics_addr"]);
  recorder.mapPath(["metrics_port"], ["metrics_addr"]);
}

/**
 * Stream-pool keys of older anchor configs. They tuned a pool of warm
 * streams that no longer exists (streams are opened per session), so they
 * are ignored with a warning rather than refused.
 */
const OBSOLETE_POOL_KEYS = [
  "enabled",
  "min_idle",
  "idle_timeout_secs",
  "max_retries",
  "health_check_timeout_secs",
  "max_error_rate",
  "max_peers",
  "peer_connection_timeout_secs",
] as const;

/**
 * Per-server anchor keys: `destination_peer` / `destination_address` (one
 * pinned peer, older anchors) → `destination_peers`; obsolete pool keys are
 * dropped with a warning.
 */
export function rewriteServer(
  server: Record<string, unknown>,
  base: readonly PathSegment[],
  recorder: LegacyRecorder,
): void {
  renameKey(server, base, "destination_peer", "destination_peers", recorder);
  renameKey(server, base, "destination_address", "destination_peers", recorder);
  const pool = server.pool;
  if (!isRecord(pool)) return;
  for (const key of OBSOLETE_POOL_KEYS) {
    if (!Object.hasOwn(pool, key)) continue;
    delete pool[key];
    recorder.warn(
      [...base, "pool", key],
      `\`pool.${key}\` is an old anchor setting with no effect (streams are opened per ` +
        "session, not pooled): it is ignored; remove it.",
    );
  }
}
