/**
 * A proxy's admitted QUIC connection to one exit (docs/wire-protocols.md#quic): connected with
 * the exit's certificate pinned, admitted by presenting the ticket on the first stream, then
 * opening one stream per session, each naming its protocol.
 *
 * @module
 */

import { describeError, P2proxyError } from "../../core/errors.ts";
import type { PeerId } from "../../core/ids.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import {
  QuicHelloReplySchema,
  QuicHelloSchema,
  type QuicOffer,
} from "../../proto/gen/p2proxy/quic/v1/quic_pb.ts";
import { certificatePem } from "./certificate.ts";
import { KEEP_ALIVE_INTERVAL_MS, MAX_IDLE_TIMEOUT_MS } from "./constants.ts";
import { readMessage, sendMessage } from "./messages.ts";
import { untilAborted } from "./abortable.ts";
import { carrierError, startStream } from "./stream_start.ts";
import { QuicDuplexStream } from "./quic_stream.ts";

/** Why a QUIC session could not be set up. */
export type QuicSessionErrorCode =
  /** The QUIC handshake failed or timed out (UDP blocked, wrong certificate, nobody there). */
  | "unreachable"
  /** The exit refused the ticket or closed the connection during the hello. */
  | "refused";

/** A failed QUIC session setup. */
export class QuicSessionError extends P2proxyError<QuicSessionErrorCode> {}

/** Where to connect, and with what. */
export interface QuicSessionTarget {
  /** The exit's IP address. */
  readonly hostname: string;
  /** The exit's offer (port, certificate, name, ticket). */
  readonly offer: Pick<QuicOffer, "port" | "certificate" | "serverName" | "alpn" | "ticket">;
  /** This proxy's peer id, which the ticket was issued to. */
  readonly localPeer: PeerId;
}

/** One admitted QUIC connection. */
export class QuicSession {
  readonly #conn: Deno.QuicConn;
  #alive = true;

  private constructor(conn: Deno.QuicConn) {
    this.#conn = conn;
    conn.closed.catch(() => {}).finally(() => (this.#alive = false));
  }

  /**
   * Connects (pinning the offer's certificate) and presents the ticket, within `signal`.
   *
   * @throws {QuicSessionError} `unreachable` or `refused`.
   */
  static async connect(target: QuicSessionTarget, signal: AbortSignal): Promise<QuicSession> {
    const { hostname, offer } = target;
    let conn: Deno.QuicConn;
    const connecting = Deno.connectQuic<false>({
      hostname,
      port: offer.port,
      serverName: offer.serverName,
      caCerts: [certificatePem(offer.certificate)],
      alpnProtocols: [offer.alpn],
      maxIdleTimeout: MAX_IDLE_TIMEOUT_MS,
      keepAliveInterval: KEEP_ALIVE_INTERVAL_MS,
      maxConcurrentUnidirectionalStreams: 0,
      zeroRtt: false,
    });
    try {
      conn = await untilAborted(connecting, signal);
    } catch (error) {
      // A connection that lands after we gave up is closed at once.
      connecting.then((late) => closeQuietly(late), () => {});
      throw new QuicSessionError(
        "unreachable",
        `Cannot connect over QUIC to ${hostname}:${offer.port}: ${describeError(error)}`,
        { cause: error },
      );
    }
    try {
      const hello = new QuicDuplexStream(
        await untilAborted(conn.createBidirectionalStream(), signal),
      );
      await sendMessage(hello, QuicHelloSchema, { ticket: offer.ticket, peerId: target.localPeer });
      const { message: reply } = await readMessage(hello, QuicHelloReplySchema, signal);
      if (!reply.admitted) {
        throw new QuicSessionError("refused", `The exit refused the ticket: ${reply.message}`);
      }
      await hello.closeWrite();
      return new QuicSession(conn);
    } catch (error) {
      closeQuietly(conn);
      if (error instanceof QuicSessionError) throw error;
      throw new QuicSessionError(
        "refused",
        `The exit did not admit the QUIC connection: ${describeError(error)}`,
        { cause: error },
      );
    }
  }

  /** False once the connection closed. */
  get alive(): boolean {
    return this.#alive;
  }

  /** The exit's UDP address. */
  get remote(): string {
    const { hostname, port } = this.#conn.remoteAddr;
    return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  }

  /**
   * Opens a stream of `protocol`: resolves once the exit took it, or (`lazy`) once the stream
   * exists, the header then going out with the first write and the exit's reply checked by the
   * first read (`replySignal` aborts that read; `signal` bounds the open only).
   *
   * @throws {StreamError} `unsupported-protocol` when the exit does not serve it over QUIC, `io`
   *   on a refusal or a failed connection; the signal's reason when it aborts.
   */
  async open(
    protocol: string,
    peer: PeerId,
    signal: AbortSignal,
    lazy = false,
    replySignal?: AbortSignal,
  ): Promise<DuplexStream> {
    signal.throwIfAborted();
    const creating = this.#conn.createBidirectionalStream({ waitUntilAvailable: true });
    let raw: Deno.QuicBidirectionalStream;
    try {
      raw = await untilAborted(creating, signal);
    } catch (error) {
      creating.then((late) => new QuicDuplexStream(late).abort(), () => {});
      throw signal.aborted ? signal.reason : carrierError("QUIC", peer, error);
    }
    return await startStream(new QuicDuplexStream(raw), {
      protocol,
      peer,
      signal,
      lazy,
      replySignal,
      carrier: "QUIC",
    });
  }

  /** Closes the connection (its streams fail). */
  close(): void {
    this.#alive = false;
    closeQuietly(this.#conn);
  }
}

function closeQuietly(conn: Deno.QuicConn): void {
  try {
    conn.close({ closeCode: 0, reason: "" });
  } catch {
    // Already closed.
  }
  try {
    // connectQuic made this endpoint for the connection alone: release its UDP socket.
    conn.endpoint.close();
  } catch {
    // Already closed.
  }
}
