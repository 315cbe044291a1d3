/**
 * The proxy's small admin API, on the metrics endpoint and only when that
 * endpoint is on loopback:
 *
 * - `GET /servers` → every server's active exit and its source;
 * - `POST /servers/{port}/exit` with `{"peer_id": "12D3…"}` → manual
 *   selection: 200 when the peer was reached and is now
 *   the port's exit, 404 for an unknown port, 400 for a bad body, 502 when
 *   the peer could not be reached (the active exit is unchanged).
 *
 * @module
 */
import { peerIdFromString } from "@libp2p/peer-id";
import { asPeerId } from "../core/ids.ts";
import { describeSource } from "../core/events.ts";
import type { HttpRoutes } from "../core/ports/http_routes.ts";
import type { DiscoveryActor } from "./discovery_actor.ts";

/** Largest request body the admin API reads. */
const MAX_BODY_BYTES = 4096;

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** Adds the admin routes for `ports` served by `actor`. */
export function registerAdminRoutes(
  routes: HttpRoutes,
  actor: DiscoveryActor,
  ports: readonly number[],
): void {
  routes.route("GET", /^\/servers$/, () =>
    json(
      200,
      ports.map((port) => {
        const active = actor.activeExit(port);
        return {
          port,
          peer_id: active?.peerId ?? null,
          source: active ? describeSource(active.source) : null,
        };
      }),
    ));

  routes.route("POST", /^\/servers\/(\d+)\/exit$/, async (request, match) => {
    const port = Number(match[1]);
    if (!ports.includes(port)) return json(404, { error: `No server listens on port ${port}.` });
    const text = await request.text();
    if (text.length > MAX_BODY_BYTES) return json(413, { error: "The body is too large." });
    let peer: string;
    try {
      const body = JSON.parse(text) as { peer_id?: unknown };
      if (typeof body.peer_id !== "string") throw new Error("peer_id must be a string");
      peer = peerIdFromString(body.peer_id).toString();
    } catch (error) {
      return json(400, {
        error: `Send {"peer_id": "<peer id>"}: ${error instanceof Error ? error.message : error}`,
      });
    }
    const ok = await actor.selectExit(port, asPeerId(peer));
    if (!ok) return json(502, { error: `Could not reach ${peer}; port ${port} keeps its exit.` });
    return json(200, { port, peer_id: peer, source: "manual" });
  });
}
