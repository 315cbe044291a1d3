/**
 * The hub's side of the directory protocols (docs/hub-behaviour.md):
 *
 * - `/p2proxy/directory/1.0.0`: one request per stream, read within
 *   {@link DIRECTORY_REQUEST_TIMEOUT_MS}, one answer, close;
 * - `/p2proxy/directory/1.1.0`: a session, requests one after another on one stream,
 *   answered in request order; up to {@link MAX_PIPELINED_REQUESTS} of a stream are
 *   answered at once (the stream is not read further meanwhile); a session with no
 *   request for {@link DIRECTORY_SESSION_IDLE_MS} (none unanswered) is reset.
 *
 * Bad input never takes the hub down and never holds a stream:
 *
 * - an oversized frame or a broken length prefix resets the stream;
 * - the deadline passing resets the stream;
 * - an undecodable message, bytes after the request, a request ending early,
 *   an empty or unknown request kind, bad fields: an `ErrorResponse`
 *   (INVALID_ARGUMENT, or UNSUPPORTED for the request kind), then close;
 * - in a session, an undecodable message or a bad request gets its error answer and the
 *   session goes on (its framing is intact); a broken frame resets it;
 * - more than `maxConcurrentRequests` requests at once: RESOURCE_EXHAUSTED;
 * - a store failure: INTERNAL (logged).
 *
 * The registered id is the connection's remote peer, or the exit whose key signed a
 * `SignedRegistration` (wire/signed_registration.ts). The rules live
 * in `core/domain/registry.ts`; this file only decodes, dispatches, counts.
 *
 * @module
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { getLogger } from "@logtape/logtape";
import { FrameDecoder, FrameError, readFrame } from "../core/codec/frame.ts";
import { FilterError } from "../core/domain/filters.ts";
import {
  acceptRegistration,
  announcedHeartbeatSecs,
  circuitsThrough,
  type ExitRotation,
  isExpired,
  MAX_EXCLUDE_IDS,
  MAX_RESOLVE_IDS,
  peerListProblems,
  RegistryError,
  registryQueryOf,
  routesOf,
  selectExits,
} from "../core/domain/registry.ts";
import { observedIpOf, verifyLocation } from "../core/domain/verified_location.ts";
import { describeError, P2proxyError } from "../core/errors.ts";
import { asPeerId, isRelayedAddress, type Multiaddr, type PeerId } from "../core/ids.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { GeoIp, GeoLocation } from "../core/ports/geoip.ts";
import type { ConnectionInfo, NetworkNode } from "../core/ports/network.ts";
import type {
  ExitRegistration,
  RegistryQuery,
  RegistryStore,
} from "../core/ports/registry_store.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import {
  type DirectoryRequest,
  DirectoryRequestSchema,
  type DirectoryResponse,
  DirectoryResponseSchema,
  ErrorCode,
  type FindNodesRequest,
  PeerRecordSchema,
  type RegisterRequest,
  type ResolvePeersRequest,
  type SignedRegistration,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { SignedRegistrationError, verifySignedRegistration } from "../wire/signed_registration.ts";
import { chunksOf } from "../wire/duplex.ts";
import {
  attributesFromWire,
  attributesToWire,
  DIRECTORY_PROTOCOL,
  DIRECTORY_REQUEST_TIMEOUT_MS,
  DIRECTORY_SESSION_IDLE_MS,
  DIRECTORY_SESSION_PROTOCOL,
  DirectoryWireError,
  filtersFromWire,
  MAX_PIPELINED_REQUESTS,
  sendResponse,
} from "../wire/directory_protocol.ts";

const logger = getLogger(["p2proxy", "hub", "directory"]);

/** Directory requests served at once, over all peers and streams; more get RESOURCE_EXHAUSTED. */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 256;

/**
 * How long the records a FindNodes read from the registry serve later FindNodes of the same
 * country/ASN (docs/hub-behaviour.md#hub-scale). Selection (filters, expiry, exclusions,
 * rotation, limit) still runs per request on them; a registration through this hub that
 * changes an exit's attributes, routes or sharing state drops them at once.
 */
export const FIND_CANDIDATES_TTL_MS = 500;

/** Registry queries whose records are kept at once; more clear the cache. */
const MAX_CACHED_QUERIES = 1_024;

/** Concurrent directory streams one connection may open; a caller needs one at a time. */
export const MAX_DIRECTORY_STREAMS_PER_CONNECTION = 16;

/** The role a token must carry for a request: exits register, proxies query. */
export type DirectoryRole = "exit" | "proxy";

/** Verdict of a token check: a missing or bad token is `unauthenticated`, a wrong role or peer `permission-denied`. */
export type DirectoryTokenVerdict =
  | { readonly ok: true }
  | {
    readonly ok: false;
    readonly code: "unauthenticated" | "permission-denied";
    readonly message: string;
  };

/** Checks a token for a peer and a role; absent = auth off. */
export type VerifyDirectoryToken = (
  token: string,
  peer: PeerId,
  role: DirectoryRole,
) => Promise<DirectoryTokenVerdict>;

/** What the directory server needs. */
export interface DirectoryServerOptions {
  /** The hub's node; the protocol is served on it. */
  readonly network: NetworkNode;
  /** Where registrations are kept. */
  readonly registry: RegistryStore;
  /** Decides registration times and expiry. */
  readonly clock: Clock;
  /** The interval exits are told to re-register at. */
  readonly heartbeatIntervalMs: number;
  /** Missed heartbeats after which an exit is no longer returned. */
  readonly missedHeartbeats: number;
  /** Most exits one FindNodes answer holds (capped at 100 anyway). */
  readonly findNodesMax: number;
  /** The hub's rotation state (shared with whoever forgets expired exits). */
  readonly rotation: ExitRotation;
  /** True when this hub holds a relay reservation of `peer`; absent = no relay. */
  readonly holdsReservation?: (peer: PeerId) => boolean;
  /** Called after a registration was stored (the hub raises the exit's relay limits). */
  readonly onRegistered?: (registration: ExitRegistration) => void;
  /** Token check; absent = auth off. */
  readonly verifyToken?: VerifyDirectoryToken;
  /** Locates exits' observed addresses (verified locations); absent = declared values stand. */
  readonly geoip?: GeoIp;
  /** Requests served at once; default {@link DEFAULT_MAX_CONCURRENT_REQUESTS}. */
  readonly maxConcurrentRequests?: number;
  /** Deadline for a caller to send its request; default {@link DIRECTORY_REQUEST_TIMEOUT_MS}. */
  readonly requestTimeoutMs?: number;
  /** A session with no request for this long is reset; default {@link DIRECTORY_SESSION_IDLE_MS}. */
  readonly sessionIdleMs?: number;
}

/** Error counts by wire code, plus streams reset for broken framing or a missed deadline. */
export interface DirectoryErrorCounts {
  invalid_argument: number;
  unauthenticated: number;
  permission_denied: number;
  unsupported: number;
  resource_exhausted: number;
  internal: number;
  /** Streams reset: oversized frame, broken length prefix, deadline passed. */
  reset: number;
}

/** What the server counts (exported by the lead as `p2proxy_hub_*` metrics). */
export interface DirectoryCounters {
  /** Registrations accepted (first ones and heartbeats). */
  readonly registrations: number;
  /** FindNodes requests answered. */
  readonly finds: number;
  /** ResolvePeers requests answered. */
  readonly resolves: number;
  /** Exits returned by FindNodes, summed. */
  readonly exitsReturned: number;
  readonly errors: Readonly<DirectoryErrorCounts>;
}

/** An error answer, thrown by handlers: the wire code the requester gets. */
class Refusal extends P2proxyError<"refused"> {
  readonly wireCode: ErrorCode;
  constructor(wireCode: ErrorCode, message: string) {
    super("refused", message);
    this.wireCode = wireCode;
  }
}

const ERROR_COUNT_KEYS: Readonly<Record<ErrorCode, keyof DirectoryErrorCounts | undefined>> = {
  [ErrorCode.UNSPECIFIED]: undefined,
  [ErrorCode.INVALID_ARGUMENT]: "invalid_argument",
  [ErrorCode.UNAUTHENTICATED]: "unauthenticated",
  [ErrorCode.PERMISSION_DENIED]: "permission_denied",
  [ErrorCode.UNSUPPORTED]: "unsupported",
  [ErrorCode.RESOURCE_EXHAUSTED]: "resource_exhausted",
  [ErrorCode.INTERNAL]: "internal",
};

/** Serves the directory protocol on a network node. Start with `DirectoryServer.start`. */
export class DirectoryServer {
  readonly #options: DirectoryServerOptions;
  readonly #inFlight = new Set<DuplexStream>();
  /** Open sessions (1.1.0 streams), to reset on stop. */
  readonly #sessions = new Set<DuplexStream>();
  /** Session requests being answered, over all sessions. */
  #sessionRequests = 0;
  /** Records read for a registry query (its key), and when: see {@link FIND_CANDIDATES_TTL_MS}. */
  readonly #candidates = new Map<
    string,
    { readonly at: number; readonly records: Promise<readonly ExitRegistration[]> }
  >();
  #counters = {
    registrations: 0,
    finds: 0,
    resolves: 0,
    exitsReturned: 0,
    errors: {
      invalid_argument: 0,
      unauthenticated: 0,
      permission_denied: 0,
      unsupported: 0,
      resource_exhausted: 0,
      internal: 0,
      reset: 0,
    } satisfies DirectoryErrorCounts,
  };
  #stopped = false;

  private constructor(options: DirectoryServerOptions) {
    this.#options = options;
  }

  /** Registers the protocol handler. */
  static async start(options: DirectoryServerOptions): Promise<DirectoryServer> {
    const server = new DirectoryServer(options);
    await options.network.handle(
      DIRECTORY_PROTOCOL,
      (stream, remote) => void server.#serve(stream, remote),
      { maxInboundStreams: MAX_DIRECTORY_STREAMS_PER_CONNECTION },
    );
    await options.network.handle(
      DIRECTORY_SESSION_PROTOCOL,
      (stream, remote) => void server.#serveSession(stream, remote),
      { maxInboundStreams: MAX_DIRECTORY_STREAMS_PER_CONNECTION },
    );
    return server;
  }

  /** A snapshot of the counters. */
  get counters(): DirectoryCounters {
    return structuredClone(this.#counters);
  }

  /** Requests being served right now (one-shot streams and session requests). */
  get activeRequests(): number {
    return this.#inFlight.size + this.#sessionRequests;
  }

  /** Open sessions (`/p2proxy/directory/1.1.0` streams). */
  get openSessions(): number {
    return this.#sessions.size;
  }

  /** Stops serving and resets the streams still being served. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#options.network.unhandle(DIRECTORY_PROTOCOL);
    await this.#options.network.unhandle(DIRECTORY_SESSION_PROTOCOL);
    const shuttingDown = new Error("The hub is shutting down.");
    for (const stream of this.#inFlight) stream.abort(shuttingDown);
    this.#inFlight.clear();
    for (const stream of this.#sessions) stream.abort(shuttingDown);
    this.#sessions.clear();
  }

  get #maxConcurrent(): number {
    return this.#options.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS;
  }

  /**
   * One session: reads frames, answers each (up to {@link MAX_PIPELINED_REQUESTS} at once)
   * and writes the answers in request order, until the caller closes, a frame breaks, the
   * session idles out or the hub stops.
   */
  async #serveSession(stream: DuplexStream, remote: ConnectionInfo): Promise<void> {
    if (this.#stopped) {
      stream.abort();
      return;
    }
    this.#sessions.add(stream);
    const decoder = new FrameDecoder();
    const idleMs = this.#options.sessionIdleMs ?? DIRECTORY_SESSION_IDLE_MS;
    let answering = 0;
    let idledOut = false;
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    let slotFreed: (() => void) | undefined;
    let written: Promise<void> = Promise.resolve();
    let writeFailed = false;
    let done = false;
    const armIdle = () => {
      clearTimeout(idleTimer);
      // An answer finishing after the session ended must not start a timer for it.
      if (done) return;
      idleTimer = setTimeout(() => {
        // Not an error: a caller that comes back opens a new session.
        idledOut = true;
        stream.abort(new Error(`The directory session carried no request for ${idleMs} ms.`));
      }, idleMs);
    };
    armIdle();
    try {
      for (;;) {
        const chunk = await stream.read();
        if (chunk === null) break;
        decoder.append(chunk);
        for (let frame = decoder.nextFrame(); frame; frame = decoder.nextFrame()) {
          clearTimeout(idleTimer);
          answering++;
          const answer = this.#sessionAnswer(frame, remote);
          written = written.then(async () => {
            const response = await answer;
            this.#countError(response);
            if (!writeFailed) await sendResponse(stream, response);
          }).catch(() => {
            // The caller reset or stopped reading: the read below ends too.
            writeFailed = true;
            stream.abort();
          }).finally(() => {
            answering--;
            if (answering === 0) armIdle();
            slotFreed?.();
          });
          // Backpressure: no further request is read while this many are answered.
          while (answering >= MAX_PIPELINED_REQUESTS) {
            await new Promise<void>((resolve) => slotFreed = resolve);
          }
        }
      }
      await written;
      if (!writeFailed) await stream.closeWrite();
    } catch (error) {
      if (!idledOut && !this.#stopped) {
        // A broken frame, or the caller reset (docs/hub-behaviour.md#bad-requests).
        if (error instanceof FrameError) this.#counters.errors.reset++;
        stream.abort(error instanceof Error ? error : undefined);
      }
    } finally {
      done = true;
      clearTimeout(idleTimer);
      this.#sessions.delete(stream);
    }
  }

  /** The answer to one session frame (never rejects). */
  async #sessionAnswer(frame: Uint8Array, remote: ConnectionInfo): Promise<DirectoryResponse> {
    if (this.activeRequests >= this.#maxConcurrent) {
      return errorResponse(
        ErrorCode.RESOURCE_EXHAUSTED,
        `The hub is serving ${this.#maxConcurrent} requests; retry.`,
      );
    }
    this.#sessionRequests++;
    try {
      let request: DirectoryRequest;
      try {
        request = fromBinary(DirectoryRequestSchema, frame);
      } catch (error) {
        return invalid(`The request is not a DirectoryRequest (${describeError(error)}).`);
      }
      return await this.#respond(request, remote);
    } finally {
      this.#sessionRequests--;
    }
  }

  #countError(response: DirectoryResponse): void {
    if (response.response.case !== "error") return;
    const key = ERROR_COUNT_KEYS[response.response.value.code];
    if (key) this.#counters.errors[key]++;
  }

  async #serve(stream: DuplexStream, remote: ConnectionInfo): Promise<void> {
    const max = this.#maxConcurrent;
    if (this.activeRequests >= max) {
      await this.#answer(
        stream,
        errorResponse(ErrorCode.RESOURCE_EXHAUSTED, `The hub is serving ${max} requests; retry.`),
        AbortSignal.timeout(this.#timeoutMs),
      );
      return;
    }
    this.#inFlight.add(stream);
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    try {
      const read = await this.#readRequest(stream, deadline);
      if (read === undefined) return;
      const response = "response" in read
        ? read.response
        : await this.#respond(read.request, remote);
      await this.#answer(stream, response, deadline);
    } catch (error) {
      logger.error("Serving a directory stream from {peer} failed: {error}", {
        peer: remote.peerId,
        error: describeError(error),
      });
      stream.abort(error instanceof Error ? error : undefined);
    } finally {
      this.#inFlight.delete(stream);
    }
  }

  get #timeoutMs(): number {
    return this.#options.requestTimeoutMs ?? DIRECTORY_REQUEST_TIMEOUT_MS;
  }

  /**
   * The decoded request, the error answer that input earns, or undefined once
   * the stream was reset.
   */
  async #readRequest(
    stream: DuplexStream,
    deadline: AbortSignal,
  ): Promise<{ request: DirectoryRequest } | { response: DirectoryResponse } | undefined> {
    let frame: Uint8Array;
    let rest: Uint8Array;
    try {
      ({ frame, rest } = await readFrame(chunksOf(stream), deadline));
    } catch (error) {
      if (error instanceof FrameError && error.code === "truncated") {
        return {
          response: invalid(
            "The stream ended before a whole request arrived: send one framed request.",
          ),
        };
      }
      // Oversized, broken prefix, missed deadline, or the peer reset: reset the stream
      // (docs/hub-behaviour.md#bad-requests).
      this.#counters.errors.reset++;
      stream.abort(error instanceof Error ? error : undefined);
      return undefined;
    }
    if (rest.byteLength > 0) {
      return {
        response: invalid(
          `${rest.byteLength} bytes followed the request: send exactly one request per stream.`,
        ),
      };
    }
    try {
      return { request: fromBinary(DirectoryRequestSchema, frame) };
    } catch (error) {
      return {
        response: invalid(`The request is not a DirectoryRequest (${describeError(error)}).`),
      };
    }
  }

  async #respond(request: DirectoryRequest, remote: ConnectionInfo): Promise<DirectoryResponse> {
    try {
      switch (request.request.case) {
        case "register":
          return await this.#register(request.request.value, remote, remote.peerId);
        case "registerSigned":
          return await this.#registerSigned(request.request.value, remote);
        case "findNodes":
          return await this.#findNodes(request.request.value, remote);
        case "resolvePeers":
          return await this.#resolvePeers(request.request.value, remote);
        default:
          throw new Refusal(
            ErrorCode.UNSUPPORTED,
            "The hub does not know this request kind: it serves register, register_signed, " +
              "find_nodes and resolve_peers of p2proxy.directory.v1.",
          );
      }
    } catch (error) {
      return this.#refusalOf(error, remote);
    }
  }

  #refusalOf(error: unknown, remote: ConnectionInfo): DirectoryResponse {
    if (error instanceof Refusal) return errorResponse(error.wireCode, error.message);
    if (error instanceof SignedRegistrationError && error.code === "bad-signature") {
      return errorResponse(ErrorCode.UNAUTHENTICATED, error.message);
    }
    if (
      error instanceof RegistryError || error instanceof FilterError ||
      error instanceof DirectoryWireError || error instanceof SignedRegistrationError
    ) {
      return errorResponse(ErrorCode.INVALID_ARGUMENT, error.message);
    }
    logger.error("A directory request from {peer} failed: {error}", {
      peer: remote.peerId,
      error: describeError(error),
    });
    return errorResponse(ErrorCode.INTERNAL, "The hub failed to answer; retry later.");
  }

  /** Sends the response, half-closes, then waits (within the deadline) for the caller to close. */
  async #answer(
    stream: DuplexStream,
    response: DirectoryResponse,
    deadline: AbortSignal,
  ): Promise<void> {
    this.#countError(response);
    try {
      await sendResponse(stream, response);
      await stream.closeWrite();
      await drain(stream, deadline);
    } catch {
      // The caller reset or stopped reading: it has what it will get.
      stream.abort();
    }
  }

  async #authorize(token: string, peer: PeerId, role: DirectoryRole): Promise<void> {
    const verify = this.#options.verifyToken;
    if (!verify) return;
    const verdict = await verify(token, peer, role);
    if (verdict.ok) return;
    const code = verdict.code === "unauthenticated"
      ? ErrorCode.UNAUTHENTICATED
      : ErrorCode.PERMISSION_DENIED;
    throw new Refusal(code, verdict.message);
  }

  /**
   * A registration signed by the exit's key, from any peer (wire/signed_registration.ts):
   * registered as the exit's once the signature, the hub and the time check out. Refused
   * by a hub that verifies locations: it cannot observe the exit's address.
   */
  async #registerSigned(
    signed: SignedRegistration,
    remote: ConnectionInfo,
  ): Promise<DirectoryResponse> {
    const claim = await verifySignedRegistration(signed, {
      peerId: this.#options.network.peerId,
      now: this.#options.clock.now(),
    });
    if (this.#options.geoip && claim.peerId !== remote.peerId) {
      throw new Refusal(
        ErrorCode.PERMISSION_DENIED,
        `This hub verifies exits' locations from the address they register from: exit ` +
          `${claim.peerId} must register over its own connection, not ${remote.peerId}'s.`,
      );
    }
    return await this.#register(claim.registration, remote, claim.peerId);
  }

  /** Registers `registrant` (the connection's peer, or the signer of a verified claim). */
  async #register(
    request: RegisterRequest,
    remote: ConnectionInfo,
    registrant: PeerId,
  ): Promise<DirectoryResponse> {
    await this.#authorize(request.token, registrant, "exit");
    const previous = await this.#options.registry.get(registrant);
    const registration = acceptRegistration(
      {
        attributes: attributesFromWire(request.attributes),
        addresses: request.addresses,
        relayed: request.relayed,
        full: request.full,
      },
      {
        registrant,
        now: this.#options.clock.now(),
        heartbeatIntervalMs: this.#options.heartbeatIntervalMs,
        missedHeartbeats: this.#options.missedHeartbeats,
        hubAddresses: this.#hubAddresses(),
        hub: this.#options.network.peerId,
        holdsReservation: this.#options.holdsReservation?.(registrant) ?? false,
        ...(previous ? { previous } : {}),
      },
    );
    // Only the exit's own connection shows its address (signed claims from others: no geoip).
    const verified = registrant === remote.peerId
      ? await this.#verifiedLocation(registration, remote, previous)
      : registration;
    await this.#options.registry.put(verified);
    if (!previous || changesAnswers(previous, verified, registration.lastSeenAt)) {
      this.#candidates.clear();
    }
    this.#counters.registrations++;
    if (!previous || isExpired(previous, registration.lastSeenAt)) {
      logger.info(
        registration.relayed
          ? "Exit {peer} registered with {count} direct address(es), reachable through the relay."
          : "Exit {peer} registered with {count} direct address(es).",
        { peer: registrant, count: registration.addresses.length, relayed: registration.relayed },
      );
    }
    this.#options.onRegistered?.(verified);
    return create(DirectoryResponseSchema, {
      response: {
        case: "register",
        value: {
          heartbeatSecs: announcedHeartbeatSecs(this.#options.heartbeatIntervalMs),
          message: `Registered ${registrant}; re-register before ${
            new Date(registration.expiresAt).toISOString()
          }.`,
        },
      },
    });
  }

  /**
   * The registration with the located values of the address it came from
   * (docs/hub-behaviour.md#verified-locations); unchanged without a geoip port or an IP
   * address (a relayed connection shows the relay's).
   */
  async #verifiedLocation(
    registration: ExitRegistration,
    remote: ConnectionInfo,
    previous: ExitRegistration | undefined,
  ): Promise<ExitRegistration> {
    const geoip = this.#options.geoip;
    const ip = remote.relayed ? undefined : observedIpOf(remote.address);
    if (!geoip || ip === undefined) return registration;
    let located: GeoLocation | undefined;
    try {
      located = await geoip.locate(ip);
    } catch (error) {
      logger.warn("Locating {ip} of exit {peer} failed: {error}. Its declared location stands.", {
        ip,
        peer: registration.peerId,
        error: describeError(error),
      });
    }
    const { attributes, location } = verifyLocation(registration.attributes, ip, located);
    const alreadySaid = JSON.stringify(previous?.location?.replaced) ===
      JSON.stringify(location.replaced);
    if (location.replaced.length > 0 && !alreadySaid) {
      logger.warn(
        "Exit {peer} registers from {ip}, which the geolocation database places elsewhere than it " +
          "declared ({replaced}): registered with the located values.",
        {
          peer: registration.peerId,
          ip,
          replaced: location.replaced
            .map((r) => `${r.field} ${JSON.stringify(r.declared)} → ${JSON.stringify(r.located)}`)
            .join(", "),
        },
      );
    }
    return { ...registration, attributes, location };
  }

  async #findNodes(request: FindNodesRequest, remote: ConnectionInfo): Promise<DirectoryResponse> {
    await this.#authorize(request.token, remote.peerId, "proxy");
    const problems = peerListProblems("exclude", request.exclude, MAX_EXCLUDE_IDS);
    if (problems.length > 0) throw new Refusal(ErrorCode.INVALID_ARGUMENT, `${problems[0]}.`);
    const filters = filtersFromWire(request.filters);
    // An indexed store reads only the records of the filters' country/ASN (docs/hub-behaviour.md).
    const registrations = await this.#candidatesOf(registryQueryOf(filters));
    const hubAddresses = this.#hubAddresses();
    const chosen = selectExits(
      registrations,
      { filters, limit: request.limit, exclude: request.exclude },
      {
        now: this.#options.clock.now(),
        findNodesMax: this.#options.findNodesMax,
        rotation: this.#options.rotation,
        hubCircuits: (peer) => this.#hubCircuits(peer, hubAddresses),
      },
    );
    this.#counters.finds++;
    this.#counters.exitsReturned += chosen.length;
    return create(DirectoryResponseSchema, {
      response: {
        case: "findNodes",
        value: {
          peers: chosen.map(({ registration, routes }) => peerRecord(registration, routes)),
        },
      },
    });
  }

  /**
   * The registry's records for `query`, read at most once per {@link FIND_CANDIDATES_TTL_MS}
   * (concurrent requests share one read). Callers never change them: selection only reads.
   */
  #candidatesOf(query: RegistryQuery): Promise<readonly ExitRegistration[]> {
    const key = `${query.country ?? ""}|${query.asn ?? ""}`;
    // The hub's clock, which also decides expiry: a cached record is never older than the TTL.
    const now = this.#options.clock.now();
    const cached = this.#candidates.get(key);
    if (cached && now >= cached.at && now - cached.at < FIND_CANDIDATES_TTL_MS) {
      return cached.records;
    }
    const { registry } = this.#options;
    const records = registry.find ? registry.find(query) : registry.list();
    if (this.#candidates.size >= MAX_CACHED_QUERIES) this.#candidates.clear();
    const entry = { at: now, records };
    this.#candidates.set(key, entry);
    // A failed read is not kept: the next request reads again.
    records.catch(() => {
      if (this.#candidates.get(key) === entry) this.#candidates.delete(key);
    });
    return records;
  }

  async #resolvePeers(
    request: ResolvePeersRequest,
    remote: ConnectionInfo,
  ): Promise<DirectoryResponse> {
    await this.#authorize(request.token, remote.peerId, "proxy");
    const problems = peerListProblems("peer_ids", request.peerIds, MAX_RESOLVE_IDS);
    if (problems.length > 0) throw new Refusal(ErrorCode.INVALID_ARGUMENT, `${problems[0]}.`);
    const now = this.#options.clock.now();
    const hubAddresses = this.#hubAddresses();
    const ids = [...new Set(request.peerIds)].map(asPeerId);
    const found = await Promise.all(ids.map((id) => this.#options.registry.get(id)));
    const peers = found
      .filter((r): r is ExitRegistration => r !== undefined && !isExpired(r, now))
      .map((r) => peerRecord(r, routesOf(r, this.#hubCircuits(r.peerId, hubAddresses))));
    this.#counters.resolves++;
    return create(DirectoryResponseSchema, {
      response: { case: "resolvePeers", value: { peers } },
    });
  }

  /** This hub's own direct addresses, for circuits through it. */
  #hubAddresses(): Multiaddr[] {
    return this.#options.network.addresses().filter((address) => !isRelayedAddress(address));
  }

  #hubCircuits(peer: PeerId, hubAddresses: readonly Multiaddr[]): Multiaddr[] {
    return this.#options.holdsReservation?.(peer) ? circuitsThrough(hubAddresses, peer) : [];
  }
}

/**
 * True when a registration changes what FindNodes may answer: anything but its times, or an
 * exit whose previous record expires within the cache's lifetime (a heartbeat that only
 * extends the expiry does not).
 */
function changesAnswers(
  previous: ExitRegistration,
  next: ExitRegistration,
  now: number,
): boolean {
  // A cached copy of `previous` must not expire while the cache may still hand it out.
  if (isExpired(previous, now + FIND_CANDIDATES_TTL_MS)) return true;
  const material = (r: ExitRegistration) =>
    JSON.stringify([r.attributes, r.addresses, r.relayed, r.full === true, r.relayRoutes]);
  return material(previous) !== material(next);
}

function peerRecord(registration: ExitRegistration, routes: readonly Multiaddr[]) {
  return create(PeerRecordSchema, {
    peerId: registration.peerId,
    routes: [...routes],
    attributes: attributesToWire(registration.attributes),
  });
}

function errorResponse(code: ErrorCode, message: string): DirectoryResponse {
  return create(DirectoryResponseSchema, { response: { case: "error", value: { code, message } } });
}

function invalid(message: string): DirectoryResponse {
  return errorResponse(ErrorCode.INVALID_ARGUMENT, message);
}

/** Reads and drops whatever the caller still sends until it closes; rejects when `deadline` passes. */
async function drain(stream: DuplexStream, deadline: AbortSignal): Promise<void> {
  deadline.throwIfAborted();
  const chunks = chunksOf(stream);
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(deadline.reason);
    deadline.addEventListener("abort", onAbort, { once: true });
  });
  // Settled by the race below, or never looked at again once the caller closed.
  aborted.catch(() => {});
  try {
    while (!(await Promise.race([chunks.next(), aborted])).done) {
      // Nothing to do with extra bytes: the one request was already answered.
    }
  } finally {
    deadline.removeEventListener("abort", onAbort);
  }
}
