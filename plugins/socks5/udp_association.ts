/**
 * SOCKS5 UDP ASSOCIATE (RFC 1928 §7; docs/proxy-behaviour.md#udp-associate), top to bottom:
 * a relay socket on the listener's address, an association through the exit a CONNECT on this
 * port would use (the router's `openUdp`), the reply naming the relay socket, then datagrams
 * both ways until the TCP control connection ends, 2 minutes pass in silence, or the proxy stops.
 *
 * Only the client that associated is served: datagrams are taken from the control connection's
 * IP address alone (and from the port the request named, or else the first datagram's port),
 * and replies go to that one address. Fragments (FRAG ≠ 0), malformed headers, datagrams over
 * the rate bound or past the bytes waiting for the stream are dropped and counted.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { encodeReply, type Socks5Request, SOCKS_REPLY } from "../../core/codec/socks5.ts";
import { encodeUdpDatagram, parseUdpDatagram } from "../../core/codec/socks5_udp.ts";
import type { ServerConfig } from "../../core/config/proxy_config.ts";
import type { ExitSelection } from "../../core/domain/server.ts";
import {
  DatagramRateLimit,
  UDP_IDLE_TIMEOUT_MS,
  UDP_MAX_BUFFERED_BYTES,
  UDP_MAX_DATAGRAMS_PER_SECOND,
} from "../../core/domain/udp_limits.ts";
import { describeError } from "../../core/errors.ts";
import { hostPort } from "../../core/host_port.ts";
import type { ClientConnection, InboundContext } from "../../core/ports/inbound.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { DatagramQueue } from "../../wire/datagram_queue.ts";
import { closeQuietly, writeAll } from "../../wire/tcp_conn.ts";
import {
  encodeUdpPacketFrame,
  MAX_UDP_PAYLOAD_BYTES,
  UdpFrameReader,
} from "../../wire/udp_protocol.ts";

const logger = getLogger(["p2proxy", "socks5", "udp"]);

/** The bounds of one association; the defaults are the documented ones (tests shorten them). */
export interface UdpAssociationLimits {
  /** Silence (both ways) that ends the association. */
  readonly idleTimeoutMs: number;
  /** Datagrams a second from the client. */
  readonly maxDatagramsPerSecond: number;
  /** Bytes from the client waiting for the stream to the exit. */
  readonly maxBufferedBytes: number;
}

/** The documented bounds (docs/proxy-behaviour.md#udp-associate). */
export const DEFAULT_UDP_ASSOCIATION_LIMITS: UdpAssociationLimits = {
  idleTimeoutMs: UDP_IDLE_TIMEOUT_MS,
  maxDatagramsPerSecond: UDP_MAX_DATAGRAMS_PER_SECOND,
  maxBufferedBytes: UDP_MAX_BUFFERED_BYTES,
};

/** The session a UDP ASSOCIATE request opens. */
export interface UdpAssociationSession {
  /** The parsed request: DST names the address the client will send from (0s: unknown). */
  readonly request: Socks5Request;
  readonly sessionId: string;
  readonly signal: AbortSignal;
  /** The account the client authenticated as, when the port has users. */
  readonly account?: string;
  /**
   * The exit the session asks for itself (as `SessionRequest.selection`): pass the one the
   * CONNECT path would pass, so an association leaves where a CONNECT would.
   */
  readonly selection?: ExitSelection;
  /** Bounds; default the server's `udp` keys, else {@link DEFAULT_UDP_ASSOCIATION_LIMITS}. */
  readonly limits?: UdpAssociationLimits;
}

/**
 * Serves one UDP ASSOCIATE on an accepted control connection until the association ends. Never
 * rejects for the client's faults.
 *
 * @example
 * ```ts
 * if (request.command === "udp-associate") {
 *   return await serveUdpAssociation(conn, server, context, { request, sessionId, signal });
 * }
 * ```
 */
export async function serveUdpAssociation(
  conn: ClientConnection,
  server: ServerConfig,
  { router, events }: InboundContext,
  session: UdpAssociationSession,
): Promise<void> {
  const port = server.port;
  // The server's `udp` keys (docs/config-reference.md), else the documented defaults.
  const limits = session.limits ?? server.udp ?? DEFAULT_UDP_ASSOCIATION_LIMITS;
  const clientIp = normalizeIp(conn.remoteAddr?.hostname ?? "");
  if (!router.openUdp || clientIp === "") {
    logger.info("UDP ASSOCIATE on port {port} refused: {why}.", {
      port,
      why: router.openUdp ? "the client's address is unknown" : "this proxy has no UDP router",
    });
    await writeAll(conn, encodeReply(SOCKS_REPLY.commandNotSupported)).catch(() => {});
    return;
  }

  // 1. The relay socket, on the listener's address.
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({ transport: "udp", hostname: server.bind, port: 0 });
  } catch (error) {
    logger.warn("UDP ASSOCIATE on port {port}: no relay socket on {bind}: {error}", {
      port,
      bind: server.bind,
      error: describeError(error),
    });
    await writeAll(conn, encodeReply(SOCKS_REPLY.generalFailure)).catch(() => {});
    return;
  }

  // 2. The association through the port's exit (the same choice as a CONNECT).
  const outcome = await router.openUdp({
    port,
    sessionId: session.sessionId,
    signal: session.signal,
    ...(session.account === undefined ? {} : { account: session.account }),
    ...(session.selection === undefined ? {} : { selection: session.selection }),
  });
  if (!outcome.ok) {
    socket.close();
    events.emit({
      type: "session-failed",
      port,
      stage: outcome.stage,
      replyCode: outcome.replyCode,
    });
    logger.info("UDP ASSOCIATE on port {port} failed: {message}", {
      port,
      stage: outcome.stage,
      replyCode: outcome.replyCode,
      message: outcome.message,
      ...(outcome.peerId === undefined ? {} : { peer: outcome.peerId }),
    });
    await writeAll(conn, encodeReply(outcome.replyCode)).catch(() => {});
    return;
  }

  // 3. The reply: where to send datagrams.
  const relayAddress = socket.addr as Deno.NetAddr;
  const relayHost = isUnspecified(relayAddress.hostname)
    ? conn.localAddr?.hostname ?? relayAddress.hostname
    : relayAddress.hostname;
  try {
    await writeAll(
      conn,
      encodeReply(SOCKS_REPLY.succeeded, { host: relayHost, port: relayAddress.port }),
    );
  } catch (error) {
    socket.close();
    outcome.stream.abort(error instanceof Error ? error : undefined);
    return;
  }

  // 4. Datagrams both ways until the association ends.
  const association = new DoorUdpAssociation(socket, outcome.stream, limits, {
    ip: clientIp,
    port: session.request.port === 0 ? undefined : session.request.port,
  });
  events.emit({
    type: "udp-association-start",
    side: "proxy",
    sessionId: session.sessionId,
    peerId: outcome.peerId,
  });
  const reason = await association.run(conn, session.signal);
  const counts = association.counts;
  events.emit({
    type: "udp-association-end",
    side: "proxy",
    sessionId: session.sessionId,
    peerId: outcome.peerId,
    ...counts,
    reason,
  });
  logger.debug("UDP association {sessionId} on port {port} ended ({reason}).", {
    sessionId: session.sessionId,
    port,
    reason,
    ...counts,
  });
}

/** The relay of one association at the door. */
class DoorUdpAssociation {
  readonly #socket: Deno.DatagramConn;
  readonly #stream: DuplexStream;
  readonly #limits: UdpAssociationLimits;
  readonly #clientIp: string;
  #clientPort: number | undefined;
  readonly #toExit: DatagramQueue;
  readonly #rate: DatagramRateLimit;
  #lastActivity = performance.now();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #endReason: string | undefined;
  #ended!: () => void;
  readonly #endedPromise = new Promise<void>((resolve) => this.#ended = resolve);
  /** The association's counters, for its end event. */
  readonly counts = {
    datagramsUp: 0,
    bytesUp: 0,
    datagramsDown: 0,
    bytesDown: 0,
    dropped: 0,
  };

  constructor(
    socket: Deno.DatagramConn,
    stream: DuplexStream,
    limits: UdpAssociationLimits,
    client: { ip: string; port: number | undefined },
  ) {
    this.#socket = socket;
    this.#stream = stream;
    this.#limits = limits;
    this.#clientIp = client.ip;
    this.#clientPort = client.port;
    this.#rate = new DatagramRateLimit(limits.maxDatagramsPerSecond);
    this.#toExit = new DatagramQueue((frame) => stream.write(frame), limits.maxBufferedBytes);
  }

  /** Relays until the end; resolves why it ended. */
  async run(conn: ClientConnection, signal: AbortSignal): Promise<string> {
    const onAbort = () => this.#end("shutdown");
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) this.#end("shutdown");
    this.#armIdleTimer(this.#limits.idleTimeoutMs);
    const loops = [
      this.#watchControl(conn),
      this.#fromClient(),
      this.#fromExit(),
    ];
    await this.#endedPromise;
    closeQuietly(conn);
    await Promise.all(loops);
    signal.removeEventListener("abort", onAbort);
    return this.#endReason!;
  }

  /** The association lives as long as its TCP control connection (RFC 1928 §7). */
  async #watchControl(conn: ClientConnection): Promise<void> {
    const buffer = new Uint8Array(512);
    try {
      // Anything the client sends on the control connection now is ignored.
      while ((await conn.read(buffer)) !== null) { /* keep reading until EOF */ }
      this.#end("closed");
    } catch {
      this.#end(this.#endReason ?? "closed");
    }
  }

  /** Client → exit: filter, parse, bound, frame. */
  async #fromClient(): Promise<void> {
    while (this.#endReason === undefined) {
      let data: Uint8Array;
      let from: Deno.Addr;
      try {
        [data, from] = await this.#socket.receive();
      } catch {
        this.#end(this.#endReason ?? "error");
        return;
      }
      if (from.transport !== "udp" || !this.#isClient(from)) {
        this.counts.dropped++;
        continue;
      }
      let datagram;
      try {
        datagram = parseUdpDatagram(data);
      } catch {
        this.counts.dropped++;
        continue;
      }
      if (
        datagram.frag !== 0 || datagram.port === 0 ||
        datagram.data.byteLength > MAX_UDP_PAYLOAD_BYTES ||
        !this.#rate.allow(performance.now())
      ) {
        this.counts.dropped++;
        continue;
      }
      const frame = encodeUdpPacketFrame({
        host: datagram.host,
        port: datagram.port,
        data: datagram.data,
      });
      if (!this.#toExit.offer(frame)) {
        this.counts.dropped++;
        if (this.#toExit.failure !== undefined) this.#end("error");
        continue;
      }
      this.#lastActivity = performance.now();
      this.counts.datagramsUp++;
      this.counts.bytesUp += datagram.data.byteLength;
    }
  }

  /** Exit → client: replies wrapped in the SOCKS UDP header, to the associated client only. */
  async #fromExit(): Promise<void> {
    const frames = new UdpFrameReader(this.#stream);
    try {
      while (this.#endReason === undefined) {
        const frame = await frames.next();
        if (frame === null) return this.#end("closed");
        if (frame.kind === "refused") {
          const { host, port, reason, message } = frame.refusal;
          logger.warn("UDP datagrams to {target} denied at the exit ({reason}): {message}", {
            target: hostPort(host, port),
            reason,
            message,
          });
          continue;
        }
        const { packet } = frame;
        if (this.#clientPort === undefined) {
          this.counts.dropped++; // The client has not sent from its port yet: nowhere to go.
          continue;
        }
        await this.#socket.send(encodeUdpDatagram(packet), {
          transport: "udp",
          hostname: this.#clientIp,
          port: this.#clientPort,
        });
        this.#lastActivity = performance.now();
        this.counts.datagramsDown++;
        this.counts.bytesDown += packet.data.byteLength;
      }
    } catch (error) {
      if (this.#endReason === undefined) {
        logger.debug("UDP association's stream ended on an error: {error}", {
          error: describeError(error),
        });
      }
      this.#end(this.#endReason ?? "error");
    }
  }

  /** Whether a datagram comes from the associated client (fixing its port on first sight). */
  #isClient(from: Deno.NetAddr): boolean {
    if (normalizeIp(from.hostname) !== this.#clientIp) return false;
    if (this.#clientPort === undefined) this.#clientPort = from.port;
    return from.port === this.#clientPort;
  }

  #end(reason: string): void {
    if (this.#endReason !== undefined) return;
    this.#endReason = reason;
    clearTimeout(this.#idleTimer);
    this.#toExit.close();
    try {
      this.#socket.close();
    } catch {
      // Already closed.
    }
    this.#stream.abort(new Error(`The UDP association ended (${reason}).`));
    this.#ended();
  }

  #armIdleTimer(delayMs: number): void {
    this.#idleTimer = setTimeout(() => {
      const silentMs = performance.now() - this.#lastActivity;
      if (silentMs >= this.#limits.idleTimeoutMs) this.#end("idle");
      else this.#armIdleTimer(this.#limits.idleTimeoutMs - silentMs);
    }, delayMs);
  }
}

/** An IPv4-mapped IPv6 address as its IPv4 form, so both spellings of one client match. */
function normalizeIp(ip: string): string {
  const lower = ip.toLowerCase();
  return lower.startsWith("::ffff:") && lower.includes(".") ? lower.slice(7) : lower;
}

function isUnspecified(ip: string): boolean {
  return ip === "0.0.0.0" || ip === "::";
}
