/**
 * Opens protocol streams to connected peers.
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";
import type { PeerId } from "../ids.ts";

/**
 * A byte stream the data plane relays over. `read` resolves `null` when the
 * remote closed its write side; `closeWrite` is a half-close; `abort` resets
 * both directions. Implementations apply backpressure in both directions:
 * an unread stream stops the remote from sending (bounded buffering), and
 * `write` resolves only once the chunk may be followed by another.
 */
export interface DuplexStream {
  /** The next chunk, or `null` at end of stream. Rejects when the stream was reset. */
  read(): Promise<Uint8Array | null>;
  /**
   * Optional: like `read`, but copies into `buffer` (as much as is there, up to its length) and
   * resolves the byte count, or `null` at end of stream. A relay then reuses one buffer and
   * sends what arrived in pieces with one socket write, instead of one per piece.
   */
  readInto?(buffer: Uint8Array): Promise<number | null>;
  /**
   * Optional: true when a resolved `write` no longer holds on to its chunk (the carrier copied or
   * sent it), so the caller may fill the same buffer again; absent: each write keeps its chunk
   * until it is sent, and needs a buffer of its own (yamux queues the chunk itself).
   */
  readonly writeCopies?: boolean;
  /** Resolves once the chunk is accepted; awaiting it honours backpressure. */
  write(chunk: Uint8Array): Promise<void>;
  /** Half-close: no more writes from us, reading goes on. */
  closeWrite(): Promise<void>;
  /** Hard reset of both directions. Idempotent. */
  abort(reason?: Error): void;
}

/** Limits that apply to one open, set per server. */
export interface OpenOptions {
  /** The protocol id to negotiate, e.g. `/p2proxy/connect/1.0.0`. */
  readonly protocol: string;
  /** Give up after this long (includes waiting for a free slot). */
  readonly timeoutMs: number;
  /** At most this many opens in flight to one peer. */
  readonly maxConcurrent: number;
  /** Aborts the open (and the wait for a slot). */
  readonly signal?: AbortSignal;
  /**
   * The caller writes first and reads the peer's answer: the opener may resolve before the peer
   * confirmed the protocol and send the negotiation with the first write (saving a round trip).
   * A protocol the peer does not serve then fails the first `read` with `StreamError`
   * `unsupported-protocol` instead of the open. Openers without a negotiation round trip ignore it.
   */
  readonly lazy?: boolean;
}

/** Opens streams. */
export interface StreamOpener<S extends DuplexStream = DuplexStream> {
  /** Opens a stream of `options.protocol` to a peer, over an existing connection or a new one. */
  open(peer: PeerId, options: OpenOptions): Promise<S>;
  /**
   * The transport that carries streams to `peer` (`quic`, `libp2p`…), for the admin API;
   * undefined before the first open, or from an opener with one transport only.
   */
  transportOf?(peer: PeerId): string | undefined;
}

/** Why a stream could not be opened. */
export type StreamErrorCode =
  /** The peer does not speak the protocol: terminal for the peer. */
  | "unsupported-protocol"
  | "io"
  | "open-timeout";

/** A failed stream open. */
export class StreamError extends P2proxyError<StreamErrorCode> {
  /** True when retrying this peer is pointless: evict it and rediscover. */
  get isTerminalForPeer(): boolean {
    return this.code === "unsupported-protocol";
  }
}
