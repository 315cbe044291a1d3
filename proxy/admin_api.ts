/**
 * The proxy's small admin API, on the metrics endpoint and only when that
 * endpoint is on loopback:
 *
 * - `GET /servers` → every server's active exit and its source;
 * - `POST /servers/{port}/exit` with `{"peer_id": "12D3…"}` (and optionally
 *   `"override": true`) → manual selection (what a terminal UI would call).
 *
 * A web page must not be able to drive it, so a request is refused, in this
 * order:
 * - 403 by the endpoint itself, before anything is read, when its `Host` is
 *   not a loopback name of the listener or it carries an `Origin`
 *   (`core/local_http_guard.ts`);
 * - 401 (with `WWW-Authenticate: Bearer`) when `admin_token` is set and
 *   `Authorization: Bearer <admin_token>` is missing or wrong;
 * - 404 for a port no server listens on; 415 for a body that is not
 *   `application/json`; 413 for a body over {@link ADMIN_MAX_BODY_BYTES}
 *   (counted as it is read: Content-Length is not trusted); 408 for a body
 *   that does not arrive within {@link ADMIN_BODY_TIMEOUT_MS}; 400 for
 *   another shape;
 * - 409 when the choice contradicts the port's hard pin or filters and
 *   `"override": true` is absent (the body names the rule);
 * - 502 when the peer could not be reached (the active exit is unchanged).
 *
 * 200 means the peer was reached and is now the port's exit. Every change is
 * logged with the client's address.
 *
 * @module
 */
import { peerIdFromString } from "@libp2p/peer-id";
import { isLoopbackAddress } from "../core/config/common.ts";
import type { ProxyConfig } from "../core/config/proxy_config.ts";
import { asPeerId, type PeerId } from "../core/ids.ts";
import { describeSource } from "../core/events.ts";
import { bearerTokenMatches, isJsonContentType } from "../core/local_http_guard.ts";
import type { HttpClient, HttpRoutes } from "../core/ports/http_routes.ts";
import type { DiscoveryActor } from "./discovery_actor.ts";

/** Largest request body the admin API reads: `{"peer_id": …, "override": true}` is under 100 bytes. */
export const ADMIN_MAX_BODY_BYTES = 4096;

/** How long a request body may take to arrive: a client that trickles it holds a connection. */
export const ADMIN_BODY_TIMEOUT_MS = 10_000;

/** The keys a selection body may have. */
const SELECTION_KEYS = new Set(["peer_id", "override"]);

/** What the admin routes need. */
export interface AdminApiOptions {
  /** Reads the active exits and makes manual selections. */
  readonly actor: Pick<DiscoveryActor, "activeExit" | "selectExit">;
  /** The SOCKS ports of the proxy's servers. */
  readonly ports: readonly number[];
  /** `admin_token`: when set, every request needs `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** How long a body may take to arrive; default {@link ADMIN_BODY_TIMEOUT_MS}. */
  readonly bodyTimeoutMs?: number;
  /** The transport carrying an exit's sessions (`quic`, `libp2p`), from the stream opener. */
  readonly transportOf?: (peer: PeerId) => string | undefined;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

/**
 * Adds the admin routes to `routes` (the metrics endpoint's hook).
 *
 * @example
 * ```ts
 * registerAdminRoutes(composition.get("http-routes"), {
 *   actor: proxy.actor,
 *   ports: config.servers.map((s) => s.port),
 *   ...(config.adminToken ? { token: config.adminToken } : {}),
 * });
 * ```
 */
export function registerAdminRoutes(routes: HttpRoutes, options: AdminApiOptions): void {
  const { actor, ports, token } = options;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? ADMIN_BODY_TIMEOUT_MS;
  const unauthorized = (request: Request): Response | undefined => {
    if (token === undefined || bearerTokenMatches(request.headers.get("authorization"), token)) {
      return undefined;
    }
    return json(401, {
      error: "This admin API needs `Authorization: Bearer <admin_token>` (the proxy's " +
        "`admin_token` or P2PROXY_ADMIN_TOKEN).",
    }, { "www-authenticate": 'Bearer realm="p2proxy admin"' });
  };

  routes.route("GET", /^\/servers$/, (request) => {
    const refused = unauthorized(request);
    if (refused) return refused;
    return json(
      200,
      ports.map((port) => {
        const active = actor.activeExit(port);
        return {
          port,
          peer_id: active?.peerId ?? null,
          source: active ? describeSource(active.source) : null,
          transport: active ? options.transportOf?.(active.peerId) ?? null : null,
        };
      }),
    );
  });

  routes.route("POST", /^\/servers\/(\d+)\/exit$/, async (request, match, client) => {
    const refused = unauthorized(request);
    if (refused) return await discardBody(request, refused);
    const port = Number(match[1]);
    if (!ports.includes(port)) {
      return await discardBody(request, json(404, { error: `No server listens on port ${port}.` }));
    }
    const contentType = request.headers.get("content-type");
    if (!isJsonContentType(contentType)) {
      return await discardBody(
        request,
        json(415, {
          error: `Send the body as application/json, got ${
            contentType === null ? "no Content-Type" : JSON.stringify(contentType)
          }.`,
        }),
      );
    }
    const body = await readBodyAtMost(request, ADMIN_MAX_BODY_BYTES, bodyTimeoutMs);
    if (body === "too-large") {
      return json(413, { error: `The body is over ${ADMIN_MAX_BODY_BYTES} bytes.` });
    }
    if (body === "too-slow") {
      return json(408, { error: `The body did not arrive within ${bodyTimeoutMs} ms.` });
    }
    const selection = parseSelection(body);
    if (typeof selection === "string") {
      return json(400, { error: `Send {"peer_id": "<peer id>"}: ${selection}` });
    }
    return await select(actor, port, selection, client);
  });
}

/** True when a proxy with this config serves the admin API: metrics on, on loopback. */
export function adminApiEnabled(config: Pick<ProxyConfig, "metricsPort" | "metricsBind">): boolean {
  return config.metricsPort > 0 && isLoopbackAddress(config.metricsBind);
}

/**
 * The warning for a proxy whose admin API is on without `admin_token`
 * (`p2proxy check` prints it, the proxy logs it at start), or undefined.
 *
 * @example
 * ```ts
 * adminTokenWarning({ metricsPort: 9091, metricsBind: "127.0.0.1" }); // "The admin API … is on without …"
 * adminTokenWarning({ metricsPort: 0, metricsBind: "127.0.0.1" }); // undefined
 * ```
 */
export function adminTokenWarning(
  config: Pick<ProxyConfig, "metricsPort" | "metricsBind" | "adminToken">,
): string | undefined {
  if (!adminApiEnabled(config) || config.adminToken !== undefined) return undefined;
  return `The admin API (on metrics port ${config.metricsPort}) is on without \`admin_token\`: ` +
    "any program on this machine can change this proxy's exits. Set `admin_token` (or " +
    "P2PROXY_ADMIN_TOKEN), or `metrics_port: 0` to turn metrics and the admin API off.";
}

/** A parsed selection body. */
interface Selection {
  readonly peerId: string;
  readonly override: boolean;
}

/** The selection in `body`, or what is wrong with it. */
function parseSelection(body: Uint8Array): Selection | string {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (error) {
    return `the body is not JSON (${error instanceof Error ? error.message : error}).`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "the body is not a JSON object.";
  }
  const record = value as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !SELECTION_KEYS.has(key));
  if (unknown.length > 0) {
    return `unknown key ${JSON.stringify(unknown[0]!.slice(0, 40))}; the keys are peer_id and ` +
      "override.";
  }
  if (typeof record.peer_id !== "string") return "peer_id must be a string.";
  if (record.override !== undefined && typeof record.override !== "boolean") {
    return "override must be true or false.";
  }
  try {
    return { peerId: peerIdFromString(record.peer_id).toString(), override: !!record.override };
  } catch (error) {
    return `peer_id ${JSON.stringify(record.peer_id.slice(0, 80))} is not a peer id (${
      error instanceof Error ? error.message : error
    }).`;
  }
}

async function select(
  actor: AdminApiOptions["actor"],
  port: number,
  selection: Selection,
  client: HttpClient,
): Promise<Response> {
  const outcome = await actor.selectExit(port, asPeerId(selection.peerId), {
    by: `admin API from ${client.remoteAddress}`,
    override: selection.override,
  });
  switch (outcome.kind) {
    case "selected":
      return json(200, {
        port,
        peer_id: outcome.exit.peerId,
        source: describeSource(outcome.exit.source),
      });
    case "refused":
      return json(409, {
        error: `${outcome.conflict.message} Choose another peer, or send "override": true to ` +
          "use this one anyway.",
        rule: outcome.conflict.rule,
      });
    case "unreachable":
      return json(502, {
        error: `Could not reach ${selection.peerId}; port ${port} keeps its exit.`,
      });
    case "unknown-port":
      return json(404, { error: `No server listens on port ${port}.` });
  }
}

/** Drops a body the answer does not need, so the connection can carry the next request. */
async function discardBody(request: Request, response: Response): Promise<Response> {
  await request.body?.cancel().catch(() => {});
  return response;
}

/**
 * Reads the body up to `maxBytes`, counting what arrives (a Content-Length
 * over the bound is refused early, but never trusted as the bound), within
 * `timeoutMs`.
 */
async function readBodyAtMost(
  request: Request,
  maxBytes: number,
  timeoutMs: number,
): Promise<Uint8Array | "too-large" | "too-slow"> {
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > maxBytes) {
    await request.body?.cancel().catch(() => {});
    return "too-large";
  }
  const reader = request.body?.getReader();
  if (!reader) return new Uint8Array();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (timedOut) return "too-slow";
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        return "too-large";
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(timer);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
