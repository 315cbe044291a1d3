/**
 * The proxy's admin API, on the metrics endpoint and only when that endpoint
 * is on loopback (the demo serves it on `--admin-port`). Every route calls the
 * proxy's {@link ExitControl}, as the terminal UI does:
 *
 * - `GET /v1/listeners` → every listener and its exit (with how it was chosen);
 * - `GET /v1/exits` → the candidate exits from the hub, and which listeners
 *   each is offered for and used by;
 * - `PUT /v1/listeners/{name}/exit` with `{"peer_id": "12D3…"}` (and
 *   optionally `"override": true`) → choose by hand (kept in the sticky store);
 * - `DELETE /v1/listeners/{name}/exit` → back to automatic.
 *
 * Deprecated aliases, kept for one release and answered with `Deprecation:
 * true` and a `Link` to their successor: `GET /servers` and `POST
 * /servers/{port}/exit`.
 *
 * A web page must not be able to drive it, so a request is refused, in this
 * order:
 * - 403 by the endpoint itself, before anything is read, when its `Host` is
 *   not a loopback name of the listener or it carries an `Origin`
 *   (`core/local_http_guard.ts`);
 * - 401 (with `WWW-Authenticate: Bearer`) when `admin_token` is set and
 *   `Authorization: Bearer <admin_token>` is missing or wrong;
 * - 404 for a listener (or port) the proxy does not have; 415 for a body that
 *   is not `application/json`; 413 for a body over {@link ADMIN_MAX_BODY_BYTES}
 *   (counted as it is read: Content-Length is not trusted); 408 for a body
 *   that does not arrive within {@link ADMIN_BODY_TIMEOUT_MS}; 400 for
 *   another shape;
 * - 409 when the choice contradicts the listener's hard pin or filters and
 *   `"override": true` is absent (the body names the rule);
 * - 502 when the peer could not be reached (the active exit is unchanged).
 *
 * 200 means the peer was reached and is now the listener's exit. A DELETE
 * answers 200 with the automatically chosen exit, or 202 while the search
 * goes on past {@link ADMIN_AUTOMATIC_WAIT_MS}. Every change is logged with
 * the client's address.
 *
 * @module
 */
import { peerIdFromString } from "@libp2p/peer-id";
import { isLoopbackAddress } from "../core/config/common.ts";
import type { ProxyConfig } from "../core/config/proxy_config.ts";
import { asPeerId, type PeerId } from "../core/ids.ts";
import { describeSource } from "../core/events.ts";
import { bearerTokenMatches, isJsonContentType } from "../core/local_http_guard.ts";
import type {
  ExitCandidate,
  ExitChoiceOutcome,
  ExitControl,
  ListenerStatus,
} from "../core/ports/exit_control.ts";
import type { HttpRoutes } from "../core/ports/http_routes.ts";

/** Largest request body the admin API reads: `{"peer_id": …, "override": true}` is under 100 bytes. */
export const ADMIN_MAX_BODY_BYTES = 4096;

/** How long a request body may take to arrive: a client that trickles it holds a connection. */
export const ADMIN_BODY_TIMEOUT_MS = 10_000;

/** How long `GET /v1/exits` waits for the hub before answering with what it has. */
export const ADMIN_HUB_TIMEOUT_MS = 10_000;

/** How long a DELETE waits for the automatic choice before answering 202 (the search goes on). */
export const ADMIN_AUTOMATIC_WAIT_MS = 10_000;

/** The keys a selection body may have. */
const SELECTION_KEYS = new Set(["peer_id", "override"]);

/** A listener name in a path: what `listenerName` makes (`socks5-1080`), or a bare port. */
const LISTENER_PATH = /^\/v1\/listeners\/([A-Za-z0-9._-]{1,64})\/exit$/;

/** What the admin routes need. */
export interface AdminApiOptions {
  /** Reads listeners and candidates, and chooses exits (shared with the terminal UI). */
  readonly control: ExitControl;
  /** `admin_token`: when set, every request needs `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** How long a body may take to arrive; default {@link ADMIN_BODY_TIMEOUT_MS}. */
  readonly bodyTimeoutMs?: number;
  /** How long a DELETE waits for the automatic choice; default {@link ADMIN_AUTOMATIC_WAIT_MS}. */
  readonly automaticWaitMs?: number;
  /** The transport carrying an exit's sessions (`quic`, `libp2p`), from the stream opener. */
  readonly transportOf?: (peer: PeerId) => string | undefined;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

/** Headers of a deprecated alias: RFC 9745's `Deprecation` and a link to what replaces it. */
const deprecated = (successor: string): Record<string, string> => ({
  deprecation: "true",
  link: `<${successor}>; rel="successor-version"`,
});

/**
 * Adds the admin routes to `routes` (the metrics endpoint's hook, or the
 * demo's admin server).
 *
 * @example
 * ```ts
 * registerAdminRoutes(composition.get("http-routes"), {
 *   control: new ProxyExitControl({ actor: proxy.actor, servers: config.servers, directory }),
 *   ...(config.adminToken ? { token: config.adminToken } : {}),
 * });
 * ```
 */
export function registerAdminRoutes(routes: HttpRoutes, options: AdminApiOptions): void {
  const { control, token } = options;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? ADMIN_BODY_TIMEOUT_MS;
  const automaticWaitMs = options.automaticWaitMs ?? ADMIN_AUTOMATIC_WAIT_MS;
  const transportOf = (peer: PeerId | undefined) =>
    peer === undefined ? null : options.transportOf?.(peer) ?? null;
  const listenerJson = (listener: ListenerStatus) => listenerView(listener, transportOf);
  const unauthorized = (request: Request): Response | undefined => {
    if (token === undefined || bearerTokenMatches(request.headers.get("authorization"), token)) {
      return undefined;
    }
    return json(401, {
      error: "This admin API needs `Authorization: Bearer <admin_token>` (the proxy's " +
        "`admin_token` or P2PROXY_ADMIN_TOKEN).",
    }, { "www-authenticate": 'Bearer realm="p2proxy admin"' });
  };
  const knows = (name: string) =>
    control.listeners().some((l) => l.name === name || String(l.port) === name);
  const unknownListener = (name: string) =>
    json(404, {
      error: `No listener is called ${JSON.stringify(name)}: GET /v1/listeners lists them ` +
        `(${control.listeners().map((l) => l.name).join(", ")}).`,
    });
  /** Checks and reads a selection body; a Response when it is refused. */
  const selectionOf = async (request: Request): Promise<Selection | Response> => {
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
    return selection;
  };

  routes.route("GET", /^\/v1\/listeners$/, (request) => {
    return unauthorized(request) ?? json(200, { listeners: control.listeners().map(listenerJson) });
  });

  routes.route("GET", /^\/v1\/exits$/, async (request) => {
    const refused = unauthorized(request);
    if (refused) return refused;
    const report = await control.exits(AbortSignal.timeout(ADMIN_HUB_TIMEOUT_MS));
    return json(200, {
      listeners: report.listeners.map(listenerJson),
      candidates: report.candidates.map(candidateJson),
      problems: report.problems,
    });
  });

  routes.route("PUT", LISTENER_PATH, async (request, match, client) => {
    const refused = unauthorized(request);
    if (refused) return await discardBody(request, refused);
    const name = match[1]!;
    if (!knows(name)) return await discardBody(request, unknownListener(name));
    const selection = await selectionOf(request);
    if (selection instanceof Response) return selection;
    const outcome = await control.choose(name, asPeerId(selection.peerId), {
      by: `admin API from ${client.remoteAddress}`,
      override: selection.override,
    });
    return choiceResponse(outcome, name, selection.peerId, (listener) => ({
      listener: listenerJson(listener),
    }));
  });

  routes.route("DELETE", LISTENER_PATH, async (request, match, client) => {
    const refused = unauthorized(request);
    if (refused) return await discardBody(request, refused);
    const name = match[1]!;
    if (!knows(name)) return await discardBody(request, unknownListener(name));
    await discardBody(request, undefined);
    const outcome = await control.automatic(
      name,
      { by: `admin API from ${client.remoteAddress}` },
      AbortSignal.timeout(automaticWaitMs),
    );
    switch (outcome.kind) {
      case "automatic":
        return json(200, { listener: listenerJson(outcome.listener) });
      case "searching":
        return json(202, {
          listener: listenerJson(outcome.listener),
          message: `No exit was reached within ${automaticWaitMs} ms; ${name} keeps looking ` +
            "in the background.",
        });
      case "unknown-listener":
        return unknownListener(name);
    }
  });

  // Deprecated aliases (one release): the shapes of the first admin API.
  routes.route("GET", /^\/servers$/, (request) => {
    const refused = unauthorized(request);
    if (refused) return refused;
    return json(
      200,
      control.listeners().map((listener) => ({
        port: listener.port,
        peer_id: listener.exit?.peerId ?? null,
        source: listener.exit ? describeSource(listener.exit.source) : null,
        transport: transportOf(listener.exit?.peerId),
      })),
      deprecated("/v1/listeners"),
    );
  });

  routes.route("POST", /^\/servers\/(\d+)\/exit$/, async (request, match, client) => {
    const refused = unauthorized(request);
    if (refused) return await discardBody(request, refused);
    const port = Number(match[1]);
    const listener = control.listeners().find((l) => l.port === port);
    if (!listener) {
      return await discardBody(request, json(404, { error: `No server listens on port ${port}.` }));
    }
    const selection = await selectionOf(request);
    if (selection instanceof Response) return selection;
    const outcome = await control.choose(listener.name, asPeerId(selection.peerId), {
      by: `admin API from ${client.remoteAddress}`,
      override: selection.override,
    });
    return choiceResponse(outcome, `port ${port}`, selection.peerId, (chosen) => ({
      port,
      peer_id: chosen.exit?.peerId ?? null,
      source: chosen.exit ? describeSource(chosen.exit.source) : null,
    }), deprecated(`/v1/listeners/${listener.name}/exit`));
  });
}

/** A listener as the API shows it. */
function listenerView(
  listener: ListenerStatus,
  transportOf: (peer: PeerId) => string | null,
) {
  return {
    name: listener.name,
    protocol: listener.protocol,
    bind: listener.bind,
    port: listener.port,
    exit: listener.exit
      ? {
        peer_id: listener.exit.peerId,
        source: describeSource(listener.exit.source),
        transport: transportOf(listener.exit.peerId),
      }
      : null,
  };
}

/** A candidate as the API shows it: attributes in the config's spelling. */
function candidateJson(candidate: ExitCandidate) {
  const a = candidate.attributes;
  return {
    peer_id: candidate.peerId,
    attributes: a
      ? {
        country: a.country ?? null,
        city: a.city ?? null,
        region: a.region ?? null,
        isp: a.isp ?? null,
        asn: a.asn ?? null,
        bandwidth_bps: a.bandwidthBps,
        proxy: a.proxy,
        mobile: a.mobile,
        hosting: a.hosting,
      }
      : null,
    routes: candidate.routes,
    relayed_only: candidate.relayedOnly,
    offered_for: candidate.offeredFor,
    used_by: candidate.usedBy,
  };
}

/** The answer to a choice by hand; `body` shapes a success. */
function choiceResponse(
  outcome: ExitChoiceOutcome,
  name: string,
  peerId: string,
  body: (listener: ListenerStatus) => unknown,
  headers: Record<string, string> = {},
): Response {
  switch (outcome.kind) {
    case "selected":
      return json(200, body(outcome.listener), headers);
    case "refused":
      return json(409, {
        error: `${outcome.conflict.message} Choose another peer, or send "override": true to ` +
          "use this one anyway.",
        rule: outcome.conflict.rule,
      }, headers);
    case "unreachable":
      return json(502, { error: `Could not reach ${peerId}; ${name} keeps its exit.` }, headers);
    case "unknown-listener":
      return json(404, { error: `No listener is called ${JSON.stringify(name)}.` }, headers);
  }
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

/** Drops a body the answer does not need, so the connection can carry the next request. */
async function discardBody<T>(request: Request, response: T): Promise<T> {
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
