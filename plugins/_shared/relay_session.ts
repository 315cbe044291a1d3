/**
 * The tail every byte-relaying door shares once the exit confirmed the destination: answer the
 * client, pass on what it sent early, relay both ends, and emit the session's events.
 *
 * @module
 */
import type { PeerId } from "../../core/ids.ts";
import type { ClientConnection, InboundContext } from "../../core/ports/inbound.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { relay } from "../../wire/relay.ts";
import { writeAll } from "../../wire/tcp_conn.ts";

/** A session the router opened: the confirmed stream and the exit carrying it. */
export interface OpenedSession {
  /** The stream to the exit, its destination connection confirmed. */
  readonly stream: DuplexStream;
  /** The exit carrying the session. */
  readonly peerId: PeerId;
}

/** What differs between doors: their success answer, and what the session events name. */
export interface RelaySessionOptions {
  /**
   * Builds the door's success answer (SOCKS5 `00`, SOCKS4 `5A`, HTTP `200`), written first.
   * Built inside the guard: a bound address from the exit that cannot be encoded fails the
   * session like a failed write.
   */
  readonly reply: () => Uint8Array;
  /** Bytes the client sent after its request that the door already read; sent before relaying. */
  readonly early: Uint8Array;
  /** The session's id in `session-new` / `session-end`. */
  readonly sessionId: string;
  /** The door's port. */
  readonly port: number;
  /** The destination as `host:port`, for `session-new`. */
  readonly target: string;
  /** Ends the relay after this long without bytes; 0 = never. */
  readonly idleTimeoutMs: number;
  /** Aborts when the proxy stops: the relay resets both ends. */
  readonly signal: AbortSignal;
  /** Called when the answer could not be built or written, or the early bytes not sent. */
  readonly onReplyFailed?: (error: unknown) => void;
}

/**
 * Answers the client with `reply()`, writes `early` to the exit, relays `conn` and the stream until
 * both directions end, and emits `session-new` then `session-end` (early bytes count as up).
 * Never rejects. A failed answer aborts the stream and emits no session events: the session never
 * started.
 *
 * @example
 * ```ts
 * const outcome = await router.open(request);
 * if (outcome.ok) {
 *   await relaySession(conn, outcome, { router, events }, {
 *     reply: () => CONNECT_ESTABLISHED,
 *     early: reader.take(),
 *     sessionId,
 *     port: server.port,
 *     target: hostPort(host, targetPort),
 *     idleTimeoutMs: server.idleTimeoutMs,
 *     signal,
 *   });
 * }
 * ```
 */
export async function relaySession(
  conn: ClientConnection,
  { stream, peerId }: OpenedSession,
  { router, events }: InboundContext,
  options: RelaySessionOptions,
): Promise<void> {
  const { early, sessionId, port } = options;
  try {
    await writeAll(conn, options.reply());
    if (early.byteLength > 0) await stream.write(early);
  } catch (error) {
    options.onReplyFailed?.(error);
    stream.abort(error instanceof Error ? error : new Error(String(error)));
    return;
  }

  events.emit({ type: "session-new", sessionId, port, target: options.target, peerId });
  const result = await relay(conn, stream, {
    idleTimeoutMs: options.idleTimeoutMs,
    signal: options.signal,
    // Only a router that counts gets the per-chunk callback: the relay is the hot path.
    ...(router.countBytes
      ? {
        onBytes: (direction, bytes) =>
          router.countBytes!(peerId, direction === "fromTcp" ? "up" : "down", bytes),
      }
      : {}),
  });
  events.emit({
    type: "session-end",
    sessionId,
    port,
    peerId,
    // The early bytes went to the exit before the relay counted anything.
    bytesUp: result.bytesFromTcp + early.byteLength,
    bytesDown: result.bytesFromStream,
    ...(result.error ? { error: { stage: "relay", message: result.error.message } } : {}),
  });
}
