/**
 * One directory exchange with one hub, shared by the proxy's `HubDirectory`
 * and the exit's `ExitRegistrar`: dial the hub when not connected, send the
 * request, read the answer, all within one deadline; every failure becomes a
 * `DirectoryError` (see plugins/directory-hub/hub_directory.ts for the codes).
 *
 * With {@link DirectorySessions} the request rides the hub's long-lived
 * `/p2proxy/directory/1.1.0` session (opened once, reused); a hub that does not
 * speak it gets a `/p2proxy/directory/1.0.0` stream per request, as without.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { FrameError } from "../core/codec/frame.ts";
import { describeError } from "../core/errors.ts";
import { isRelayedAddress, type Multiaddr, type PeerId, peerIdOfAddress } from "../core/ids.ts";
import { DialError } from "../core/ports/dialer.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import { DirectoryError, type DirectoryErrorCode } from "../core/ports/peer_directory.ts";
import { StreamError } from "../core/ports/stream_opener.ts";
import {
  type DirectoryRequest,
  type DirectoryResponse,
  ErrorCode,
  type FindNodesResponse,
  type RegisterResponse,
  type ResolvePeersResponse,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import {
  DIRECTORY_PROTOCOL,
  DIRECTORY_SESSION_PROTOCOL,
  readResponse,
  sendRequest,
} from "./directory_protocol.ts";
import { DirectorySession, SessionEnded } from "./directory_session.ts";

const logger = getLogger(["p2proxy", "directory"]);

/** Directory streams one node keeps open to a hub at once. */
const MAX_CONCURRENT_DIRECTORY_STREAMS = 8;

/** The answer of each request kind. */
export interface AnswerOf {
  register: RegisterResponse;
  findNodes: FindNodesResponse;
  resolvePeers: ResolvePeersResponse;
}

/**
 * The directory sessions of one node, one per hub, opened on first use and
 * replaced when they end. Remembers hubs that only speak 1.0.0.
 *
 * @example
 * ```ts ignore
 * const sessions = new DirectorySessions();
 * const answer = await askHub(network, hub, request, "findNodes", { timeoutMs: 10_000, sessions });
 * sessions.close();
 * ```
 */
export class DirectorySessions {
  readonly #sessions = new Map<PeerId, Promise<DirectorySession>>();
  readonly #oneShot = new Set<PeerId>();
  #closed = false;

  /** True when `hub` refused the session protocol: ask it one stream per request. */
  oneShotOnly(hub: PeerId): boolean {
    return this.#closed || this.#oneShot.has(hub);
  }

  /** The open session to `hub`, or a new one (opened within `signal`). */
  session(network: NetworkNode, hub: PeerId, signal: AbortSignal, timeoutMs: number) {
    const current = this.#sessions.get(hub);
    if (current) {
      return current.then((session) =>
        session.ended ? this.#replace(network, hub, current, signal, timeoutMs) : session
      );
    }
    return this.#replace(network, hub, undefined, signal, timeoutMs);
  }

  #replace(
    network: NetworkNode,
    hub: PeerId,
    previous: Promise<DirectorySession> | undefined,
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<DirectorySession> {
    const now = this.#sessions.get(hub);
    // Another caller replaced it already.
    if (now !== undefined && now !== previous) return now;
    const opening = network.open(hub, {
      protocol: DIRECTORY_SESSION_PROTOCOL,
      timeoutMs,
      maxConcurrent: MAX_CONCURRENT_DIRECTORY_STREAMS,
      signal,
    }).then((stream) => new DirectorySession(stream));
    this.#sessions.set(hub, opening);
    opening.catch((error) => {
      if (this.#sessions.get(hub) === opening) this.#sessions.delete(hub);
      if (error instanceof StreamError && error.code === "unsupported-protocol") {
        this.#oneShot.add(hub);
      }
    });
    return opening;
  }

  /** Ends every session; later asks use one stream per request. */
  close(): void {
    this.#closed = true;
    for (const opening of this.#sessions.values()) {
      opening.then((session) => session.close(), () => {});
    }
    this.#sessions.clear();
  }
}

/** A hub to ask: its address (ending in `/p2p/<peer>`) and its id. */
export interface HubTarget {
  readonly address: Multiaddr;
  readonly peer: PeerId;
}

/** Supplies the token a request carries (docs/authentication.md); absent = auth off. */
export type TokenSupplier = () => Promise<string>;

/** The hubs of `addresses` that name their peer (and are not circuits), in order. */
export function hubTargets(addresses: readonly Multiaddr[]): HubTarget[] {
  return addresses.flatMap((address) => {
    const peer = peerIdOfAddress(address);
    if (peer && !isRelayedAddress(address)) return [{ address, peer }];
    logger.warn("Ignoring hub address {address}: it must end in /p2p/<hub peer id>.", {
      address,
    });
    return [];
  });
}

/** An error answer of a hub, keeping its wire code. */
export class HubRefusal extends DirectoryError {
  /** The hub's `ErrorCode`. */
  readonly wireCode: ErrorCode;

  /** `unsupported` for UNSUPPORTED, `rejected` for every other code. */
  constructor(wireCode: ErrorCode, message: string) {
    const code: DirectoryErrorCode = wireCode === ErrorCode.UNSUPPORTED
      ? "unsupported"
      : "rejected";
    super(code, `The hub refused (${ErrorCode[wireCode] ?? wireCode}): ${message}`);
    this.wireCode = wireCode;
  }
}

/**
 * Sends `request` to `hub` and returns its answer of kind `expected`.
 * Rejects with a `DirectoryError` (a `HubRefusal` for an error answer), or
 * with `signal`'s reason when the caller aborted.
 */
export async function askHub<K extends keyof AnswerOf>(
  network: NetworkNode,
  hub: HubTarget,
  request: DirectoryRequest,
  expected: K,
  options: {
    readonly timeoutMs: number;
    readonly signal?: AbortSignal;
    /** Ask on the hub's session (1.1.0) when it speaks it; absent = a stream per request. */
    readonly sessions?: DirectorySessions;
  },
): Promise<AnswerOf[K]> {
  const response = await exchange(network, hub, request, options);
  const answer = response.response;
  if (answer.case === expected) return answer.value as AnswerOf[K];
  if (answer.case === "error") throw new HubRefusal(answer.value.code, answer.value.message);
  throw new DirectoryError(
    "unavailable",
    `Hub ${hub.peer} answered ${answer.case ?? "nothing"} to a ${expected} request.`,
  );
}

async function exchange(
  network: NetworkNode,
  hub: HubTarget,
  request: DirectoryRequest,
  options: {
    readonly timeoutMs: number;
    readonly signal?: AbortSignal;
    readonly sessions?: DirectorySessions;
  },
): Promise<DirectoryResponse> {
  const { timeoutMs, signal, sessions } = options;
  const deadline = AbortSignal.timeout(timeoutMs);
  const bounded = signal ? AbortSignal.any([deadline, signal]) : deadline;
  const fail = (error: unknown, otherwise: () => DirectoryError): never => {
    if (signal?.aborted) throw signal.reason;
    if (deadline.aborted) {
      throw new DirectoryError(
        "timeout",
        `Hub ${hub.peer} did not answer within ${timeoutMs} ms.`,
        {
          cause: error,
        },
      );
    }
    throw otherwise();
  };
  if (!network.isConnected(hub.peer)) {
    try {
      await network.dialAny([hub.address], bounded);
    } catch (error) {
      fail(error, () => dialFailure(error, hub));
    }
  }
  if (sessions && !sessions.oneShotOnly(hub.peer)) {
    // Requests are idempotent: one that a session ending took down is sent once more.
    for (let attempt = 0;; attempt++) {
      let session: DirectorySession;
      try {
        session = await sessions.session(network, hub.peer, bounded, timeoutMs);
      } catch (error) {
        if (error instanceof StreamError && error.code === "unsupported-protocol") break;
        return fail(error, () => openFailure(error, hub));
      }
      try {
        return await session.ask(request, bounded);
      } catch (error) {
        if (error instanceof SessionEnded && attempt === 0 && !bounded.aborted) continue;
        return fail(error, () =>
          new DirectoryError(
            "unavailable",
            `Hub ${hub.peer} gave no answer: ${describeError(error)}`,
            { cause: error },
          ));
      }
    }
  }
  let stream;
  try {
    stream = await network.open(hub.peer, {
      protocol: DIRECTORY_PROTOCOL,
      timeoutMs,
      maxConcurrent: MAX_CONCURRENT_DIRECTORY_STREAMS,
      signal: bounded,
    });
  } catch (error) {
    return fail(error, () => openFailure(error, hub));
  }
  try {
    await sendRequest(stream, request);
    return await readResponse(stream, bounded);
  } catch (error) {
    return fail(error, () => {
      const what = error instanceof FrameError ? "an unreadable answer" : "no answer";
      return new DirectoryError(
        "unavailable",
        `Hub ${hub.peer} gave ${what}: ${describeError(error)}`,
        { cause: error },
      );
    });
  } finally {
    // Both sides are done with a directory stream after one answer.
    stream.abort();
  }
}

function dialFailure(error: unknown, hub: HubTarget): DirectoryError {
  const shuttingDown = error instanceof DialError && error.code === "shutdown";
  return new DirectoryError(
    "unavailable",
    shuttingDown
      ? "The node is shutting down."
      : `Hub ${hub.address} cannot be reached: ${describeError(error)}`,
    { cause: error },
  );
}

function openFailure(error: unknown, hub: HubTarget): DirectoryError {
  if (error instanceof StreamError && error.code === "unsupported-protocol") {
    return new DirectoryError(
      "unsupported",
      `Peer ${hub.peer} does not speak ${DIRECTORY_PROTOCOL}: it is not a p2proxy hub, or an ` +
        "older one.",
      { cause: error },
    );
  }
  if (error instanceof StreamError && error.code === "open-timeout") {
    return new DirectoryError("timeout", error.message, { cause: error });
  }
  return new DirectoryError(
    "unavailable",
    `Cannot open a directory stream to hub ${hub.peer}: ${describeError(error)}`,
    { cause: error },
  );
}
