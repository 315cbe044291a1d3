/**
 * The proxy's `PeerDirectory`: asks the hub(s) over one long-lived
 * `/p2proxy/directory/1.1.0` session per hub (`/p2proxy/directory/1.0.0`, a
 * stream per request, with a hub that lacks it). Hubs are tried in the
 * configured order; each gets one deadline for dialing (when not connected),
 * opening the session, sending the request and reading the answer.
 *
 * Failures map to `DirectoryError` codes:
 * - `timeout`: the deadline passed (dial, open or answer);
 * - `rejected`: the hub answered with an error (bad request, not authorised,
 *   busy, failed);
 * - `unsupported`: the hub does not speak the protocol, or not this request
 *   kind (the proxy then synthesises relay circuits itself);
 * - `unavailable`: no hub configured, none reachable, or a hub answered with
 *   something that is not an answer.
 *
 * A hub that refuses the request as INVALID_ARGUMENT ends the search (every
 * hub would); any other failure moves on to the next hub. When all fail, the
 * error of the first hub that answered or timed out is thrown (it says more
 * than "unreachable"), else the first hub's; its message lists every hub's
 * failure. An aborted `signal` rejects with its reason.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { getLogger } from "@logtape/logtape";
import { describeError } from "../../core/errors.ts";
import {
  asMultiaddr,
  asPeerId,
  type Multiaddr,
  type PeerId,
  peerIdOfAddress,
} from "../../core/ids.ts";
import type { NetworkNode } from "../../core/ports/network.ts";
import {
  DirectoryError,
  type FindNodesQuery,
  type PeerDirectory,
  type PeerRecord,
} from "../../core/ports/peer_directory.ts";
import {
  type DirectoryRequest,
  DirectoryRequestSchema,
  ErrorCode,
  type PeerRecord as WirePeerRecord,
} from "../../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import {
  type AnswerOf,
  askHub,
  DirectorySessions,
  HubRefusal,
  type HubTarget,
  hubTargets,
  type TokenSupplier,
} from "../../wire/directory_client.ts";

export type { TokenSupplier };
import {
  attributesFromWire,
  DIRECTORY_RESPONSE_TIMEOUT_MS,
  filtersToWire,
} from "../../wire/directory_protocol.ts";

const logger = getLogger(["p2proxy", "directory"]);

/** Most peer ids one ResolvePeers request may name (the hub's limit). */
const MAX_RESOLVE_IDS_PER_REQUEST = 100;

/** Longest peer id accepted from a hub (an Ed25519 id is 52 characters). */
const MAX_PEER_ID_CHARS = 128;

/** How the directory client is built. */
export interface HubDirectoryOptions {
  /** The proxy's node: dials the hubs and opens the streams. */
  readonly network: NetworkNode;
  /** Hub multiaddrs in preference order, each ending in `/p2p/<hub id>`. */
  readonly hubs: readonly Multiaddr[];
  /** The token sent with each request; absent sends an empty token. */
  readonly token?: TokenSupplier;
  /** Deadline per hub, dial included; default {@link DIRECTORY_RESPONSE_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
}

type Kind = "findNodes" | "resolvePeers";

/** The hubs' directory, as the proxy sees it. */
export class HubDirectory implements PeerDirectory {
  readonly #options: HubDirectoryOptions;
  readonly #hubs: readonly HubTarget[];
  /** One long-lived directory stream per hub (a hub's 1.1.0 session), reused by every query. */
  readonly #sessions = new DirectorySessions();

  /** Hub addresses that do not end in `/p2p/<id>` are skipped with a warning: a hub must be authenticated. */
  constructor(options: HubDirectoryOptions) {
    this.#options = options;
    this.#hubs = hubTargets(options.hubs);
  }

  /** Exits matching the query, in the hub's order. */
  async findNodes(query: FindNodesQuery, signal?: AbortSignal): Promise<PeerRecord[]> {
    const answer = await this.#ask("findNodes", async () =>
      create(DirectoryRequestSchema, {
        request: {
          case: "findNodes",
          value: {
            filters: filtersToWire(query.filters),
            limit: Math.max(0, Math.min(Math.floor(query.limit), 0xffff_ffff)),
            exclude: [...query.exclude],
            token: await this.#token(),
          },
        },
      }), signal);
    return answer.peers.flatMap(recordOf);
  }

  /** Current routes of each known id; unknown ids are absent. Asks in batches of 100 ids. */
  async resolvePeers(
    ids: readonly PeerId[],
    signal?: AbortSignal,
  ): Promise<Map<PeerId, Multiaddr[]>> {
    const records = await this.describePeers(ids, signal);
    return new Map([...records].map(([peer, record]) => [peer, [...record.routes]]));
  }

  /** Each known id's record (routes and attributes) from `ResolvePeers`; asks in batches of 100 ids. */
  async describePeers(
    ids: readonly PeerId[],
    signal?: AbortSignal,
  ): Promise<Map<PeerId, PeerRecord>> {
    const unique = [...new Set(ids)];
    const records = new Map<PeerId, PeerRecord>();
    for (let start = 0; start < unique.length; start += MAX_RESOLVE_IDS_PER_REQUEST) {
      const batch = unique.slice(start, start + MAX_RESOLVE_IDS_PER_REQUEST);
      const answer = await this.#ask("resolvePeers", async () =>
        create(DirectoryRequestSchema, {
          request: { case: "resolvePeers", value: { peerIds: batch, token: await this.#token() } },
        }), signal);
      for (const record of answer.peers.flatMap(recordOf)) {
        if (batch.includes(record.peerId)) records.set(record.peerId, record);
      }
    }
    return records;
  }

  async #token(): Promise<string> {
    return this.#options.token ? await this.#options.token() : "";
  }

  /** Asks each hub in turn until one answers; see the module doc for the error chosen. */
  async #ask<K extends Kind>(
    kind: K,
    build: () => Promise<DirectoryRequest>,
    signal: AbortSignal | undefined,
  ): Promise<AnswerOf[K]> {
    if (this.#hubs.length === 0) {
      throw new DirectoryError(
        "unavailable",
        "No hub is configured: set `bootstrap` to a hub multiaddr ending in /p2p/<hub id>.",
      );
    }
    const timeoutMs = this.#options.timeoutMs ?? DIRECTORY_RESPONSE_TIMEOUT_MS;
    const failures: { hub: PeerId; error: DirectoryError }[] = [];
    for (const hub of this.#hubs) {
      signal?.throwIfAborted();
      try {
        return await askHub(this.#options.network, hub, await build(), kind, {
          timeoutMs,
          sessions: this.#sessions,
          ...(signal ? { signal } : {}),
        });
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        const failure = error instanceof DirectoryError
          ? error
          : new DirectoryError("unavailable", describeError(error), { cause: error });
        failures.push({ hub: hub.peer, error: failure });
        logger.debug("Hub {hub} could not answer {kind}: {error}", {
          hub: hub.peer,
          kind,
          error: failure.message,
        });
        if (isFinal(failure)) break;
      }
    }
    throw combined(failures);
  }
}

/** The core's record of a wire record; a malformed id drops the record, a route to another peer is dropped. */
function recordOf(wire: WirePeerRecord): PeerRecord[] {
  if (wire.peerId === "" || wire.peerId.length > MAX_PEER_ID_CHARS) return [];
  const peerId = asPeerId(wire.peerId);
  return [{
    peerId,
    routes: wire.routes.filter((route) => peerIdOfAddress(route) === peerId).map(asMultiaddr),
    ...(wire.attributes ? { attributes: attributesFromWire(wire.attributes) } : {}),
  }];
}

/** A request the hub found malformed: no other hub would take it either. */
function isFinal(error: DirectoryError): boolean {
  return error instanceof HubRefusal && error.wireCode === ErrorCode.INVALID_ARGUMENT;
}

/** The most telling failure (a hub that answered or timed out), with every hub's in the message. */
function combined(failures: readonly { hub: PeerId; error: DirectoryError }[]): DirectoryError {
  const chosen = failures.find((f) => f.error.code !== "unavailable") ?? failures[0];
  if (!chosen) return new DirectoryError("unavailable", "No hub answered.");
  if (failures.length === 1) return chosen.error;
  const all = failures.map((f) => `${f.hub}: ${f.error.message}`).join("; ");
  return new DirectoryError(chosen.error.code, `No hub answered (${all}).`, {
    cause: chosen.error,
  });
}
