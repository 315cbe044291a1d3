/**
 * The exit's side of `/p2proxy/udp/1.0.0` (docs/exit-behaviour.md#udp-associations): one UDP
 * association per stream. The request is checked like a ConnectRequest (token, limits); then the
 * association gets its own UDP socket (opened per address family on first use, from
 * `bind_address` when set), and every datagram is checked on its own: the name resolved here
 * through the `Resolver` port, every address against the egress policy, sent only to a checked
 * address. Replies come back only from the ends the association sent to. Bounded: datagrams a
 * second each way, bytes waiting for the stream, remembered ends; 2 minutes of silence end it.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { type EgressPolicy, isIpAddressLiteral } from "../core/domain/egress_policy.ts";
import {
  DatagramRateLimit,
  RecentKeys,
  UDP_IDLE_TIMEOUT_MS,
  UDP_MAX_BUFFERED_BYTES,
  UDP_MAX_DATAGRAMS_PER_SECOND,
  UDP_MAX_PEERS_PER_ASSOCIATION,
} from "../core/domain/udp_limits.ts";
import { describeError } from "../core/errors.ts";
import { hostPort } from "../core/host_port.ts";
import type { PeerId } from "../core/ids.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { ConnectionInfo } from "../core/ports/network.ts";
import type { Resolver } from "../core/ports/resolver.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import { DatagramQueue } from "../wire/datagram_queue.ts";
import {
  ConnectStatus,
  encodeUdpPacketFrame,
  encodeUdpRefusalFrame,
  MAX_UDP_PAYLOAD_BYTES,
  readUdpAssociateRequest,
  sendUdpAssociateResponse,
  type UdpFrameReader,
  type UdpPacket,
} from "../wire/udp_protocol.ts";
import type { TokenVerdict } from "./exit_service.ts";
import { closeAndDrain } from "../wire/duplex.ts";

const logger = getLogger(["p2proxy", "exit", "udp"]);

/** Deadline for a proxy to send its association request after opening the stream. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Deadline for resolving one destination name. */
const DNS_TIMEOUT_MS = 5_000;

/** How long a resolved name is reused within one association. */
const NAME_CACHE_MS = 60_000;

/** Names remembered per association. */
const NAME_CACHE_ENTRIES = 64;

/** What the UDP exit service needs. */
export interface UdpExitServiceOptions {
  readonly egress: EgressPolicy;
  readonly events: EventSink;
  readonly resolver: Resolver;
  /** Associations at once on this exit (the exit's `limits.max_sessions`). */
  readonly maxAssociations: number;
  /** Associations at once per proxy (`limits.max_sessions_per_peer`). */
  readonly maxAssociationsPerPeer: number;
  /** Local address the association sockets bind (`bind_address`); default every address. */
  readonly bindAddress?: string;
  /** Checks a proxy's token; absent = auth off. */
  readonly verifyToken?: (token: string, peer: PeerId) => Promise<TokenVerdict>;
  /** Silence that ends an association; default {@link UDP_IDLE_TIMEOUT_MS}. */
  readonly idleTimeoutMs?: number;
  /** Datagrams a second each way; default {@link UDP_MAX_DATAGRAMS_PER_SECOND}. */
  readonly maxDatagramsPerSecond?: number;
  /** Bytes waiting for the stream; default {@link UDP_MAX_BUFFERED_BYTES}. */
  readonly maxBufferedBytes?: number;
}

/** Serves UDP associations; one instance per exit node. */
export class UdpExitService {
  readonly #options: UdpExitServiceOptions;
  readonly #associations = new Set<ExitUdpAssociation>();
  readonly #perPeer = new Map<PeerId, number>();
  #sequence = 0;
  #closed = false;

  /** A service under `options`. */
  constructor(options: UdpExitServiceOptions) {
    this.#options = options;
  }

  /** Associations open right now. */
  get activeAssociations(): number {
    return this.#associations.size;
  }

  /** The stream handler to register for the UDP protocol. */
  readonly handler = (stream: DuplexStream, remote: ConnectionInfo): void => {
    this.#serve(stream, remote.peerId).catch((error) => {
      logger.error("A UDP association failed unexpectedly: {error}", {
        error: describeError(error),
      });
      stream.abort(error instanceof Error ? error : new Error(String(error)));
    });
  };

  /** Stops accepting associations and ends those still open. */
  close(): void {
    this.#closed = true;
    for (const association of this.#associations) association.end("shutdown");
  }

  async #serve(stream: DuplexStream, peer: PeerId): Promise<void> {
    let request;
    try {
      request = await readUdpAssociateRequest(stream, AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    } catch (error) {
      logger.debug("Dropped a UDP stream from {peer}: {error}", {
        peer,
        error: describeError(error),
      });
      stream.abort(new Error("Bad or missing UDP association request."));
      return;
    }
    const refuse = async (status: ConnectStatus, reason: string, message: string) => {
      this.#options.events.emit({
        type: "exit-denied",
        peerId: peer,
        target: "udp",
        reason,
        message,
      });
      try {
        await sendUdpAssociateResponse(stream, { status, message, reason });
      } catch {
        return stream.abort();
      }
      // Read on to the proxy's end: its reset must reach this stream (a pooled TLS connection).
      await closeAndDrain(stream);
    };
    if (this.#closed) {
      return await refuse(ConnectStatus.GENERAL_FAILURE, "shutdown", "The exit is shutting down.");
    }
    if (this.#options.verifyToken) {
      const verdict = await this.#options.verifyToken(request.token, peer);
      if (!verdict.ok) return await refuse(ConnectStatus.NOT_ALLOWED, "auth", verdict.message);
    }
    if (this.#associations.size >= this.#options.maxAssociations) {
      return await refuse(
        ConnectStatus.GENERAL_FAILURE,
        "limit",
        `The exit holds its maximum of ${this.#options.maxAssociations} UDP associations; ` +
          "try again later.",
      );
    }
    if ((this.#perPeer.get(peer) ?? 0) >= this.#options.maxAssociationsPerPeer) {
      return await refuse(
        ConnectStatus.GENERAL_FAILURE,
        "limit",
        `This proxy already holds ${this.#options.maxAssociationsPerPeer} UDP associations on ` +
          "this exit; try again later.",
      );
    }
    try {
      await sendUdpAssociateResponse(stream, { status: ConnectStatus.SUCCEEDED });
    } catch {
      stream.abort();
      return;
    }
    const sessionId = request.sessionId.slice(0, 64) || `exit-udp-${++this.#sequence}`;
    const association = new ExitUdpAssociation(
      this.#options,
      stream,
      request.frames,
      peer,
      sessionId,
    );
    this.#associations.add(association);
    this.#perPeer.set(peer, (this.#perPeer.get(peer) ?? 0) + 1);
    try {
      await association.run();
    } finally {
      this.#associations.delete(association);
      const left = (this.#perPeer.get(peer) ?? 1) - 1;
      if (left <= 0) this.#perPeer.delete(peer);
      else this.#perPeer.set(peer, left);
    }
  }
}

/** One association: its sockets, its bounds and its counters. */
class ExitUdpAssociation {
  readonly #options: UdpExitServiceOptions;
  readonly #stream: DuplexStream;
  readonly #frames: UdpFrameReader;
  readonly #peer: PeerId;
  readonly #sessionId: string;
  readonly #toProxy: DatagramQueue;
  readonly #upRate: DatagramRateLimit;
  readonly #downRate: DatagramRateLimit;
  /** The ends this association sent to: only their replies pass. */
  readonly #sentTo = new RecentKeys(UDP_MAX_PEERS_PER_ASSOCIATION);
  /** Destinations already refused: each is reported to the proxy once. */
  readonly #refused = new RecentKeys(UDP_MAX_PEERS_PER_ASSOCIATION);
  readonly #names = new Map<string, { addresses: readonly string[]; until: number }>();
  readonly #sockets = new Map<"v4" | "v6", Deno.DatagramConn>();
  readonly #receiving: Promise<void>[] = [];
  readonly #idleTimeoutMs: number;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #lastActivity = performance.now();
  #endReason: string | undefined;
  #datagramsUp = 0;
  #bytesUp = 0;
  #datagramsDown = 0;
  #bytesDown = 0;
  #dropped = 0;

  constructor(
    options: UdpExitServiceOptions,
    stream: DuplexStream,
    frames: UdpFrameReader,
    peer: PeerId,
    sessionId: string,
  ) {
    this.#options = options;
    this.#stream = stream;
    this.#frames = frames;
    this.#peer = peer;
    this.#sessionId = sessionId;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? UDP_IDLE_TIMEOUT_MS;
    const rate = options.maxDatagramsPerSecond ?? UDP_MAX_DATAGRAMS_PER_SECOND;
    this.#upRate = new DatagramRateLimit(rate);
    this.#downRate = new DatagramRateLimit(rate);
    this.#toProxy = new DatagramQueue(
      (frame) => stream.write(frame),
      options.maxBufferedBytes ?? UDP_MAX_BUFFERED_BYTES,
    );
  }

  /** Relays until the proxy closes the stream, the association idles out, or the exit stops. */
  async run(): Promise<void> {
    this.#options.events.emit({
      type: "udp-association-start",
      side: "exit",
      sessionId: this.#sessionId,
      peerId: this.#peer,
    });
    this.#armIdleTimer(this.#idleTimeoutMs);
    let reason = "closed";
    try {
      while (this.#endReason === undefined) {
        const frame = await this.#frames.next();
        if (frame === null) break;
        if (frame.kind !== "datagram") {
          this.#dropped++;
          continue;
        }
        this.#lastActivity = performance.now();
        await this.#sendOut(frame.packet);
      }
    } catch (error) {
      if (this.#endReason === undefined) {
        reason = "error";
        logger.debug("UDP association {sessionId} ended on an error: {error}", {
          sessionId: this.#sessionId,
          error: describeError(error),
        });
      }
    }
    this.end(this.#endReason ?? reason);
    await Promise.all(this.#receiving);
    this.#options.events.emit({
      type: "udp-association-end",
      side: "exit",
      sessionId: this.#sessionId,
      peerId: this.#peer,
      datagramsUp: this.#datagramsUp,
      bytesUp: this.#bytesUp,
      datagramsDown: this.#datagramsDown,
      bytesDown: this.#bytesDown,
      dropped: this.#dropped,
      reason: this.#endReason ?? reason,
    });
  }

  /** Closes the sockets and the stream; the run loop then finishes. Idempotent. */
  end(reason: string): void {
    if (this.#endReason !== undefined) return;
    this.#endReason = reason;
    clearTimeout(this.#idleTimer);
    for (const socket of this.#sockets.values()) {
      try {
        socket.close();
      } catch {
        // Already closed.
      }
    }
    this.#toProxy.close();
    this.#stream.abort(new Error(`The UDP association ended (${reason}).`));
  }

  /** One datagram toward its destination, under the rate bound and the egress policy. */
  async #sendOut(packet: UdpPacket): Promise<void> {
    if (!this.#upRate.allow(performance.now())) {
      this.#dropped++;
      return;
    }
    let addresses: readonly string[];
    try {
      addresses = await this.#resolve(packet.host);
    } catch (error) {
      return this.#refuse(packet, "dns", describeError(error));
    }
    const verdict = this.#options.egress.checkAll(addresses, packet.port);
    if (!verdict.allowed) {
      return this.#refuse(
        packet,
        verdict.reason,
        `The exit's egress policy refuses ${hostPort(packet.host, packet.port)}: ${verdict.detail}`,
      );
    }
    for (const address of verdict.addresses) {
      const socket = this.#socketFor(address);
      if (!socket) continue;
      try {
        await socket.send(packet.data, { transport: "udp", hostname: address, port: packet.port });
      } catch (error) {
        // An unreachable or refused end: UDP's answer is silence.
        logger.debug("UDP send to {target} failed: {error}", {
          target: hostPort(address, packet.port),
          error: describeError(error),
        });
        this.#dropped++;
        return;
      }
      this.#sentTo.add(endKey(address, packet.port));
      this.#datagramsUp++;
      this.#bytesUp += packet.data.byteLength;
      return;
    }
    this.#refuse(
      packet,
      "address-family",
      `No socket of this exit can reach ${verdict.addresses.join(", ")} (bind_address is ` +
        `${this.#options.bindAddress ?? "unset"}).`,
    );
  }

  /** Drops a datagram the exit will not send; the first refusal of a destination is reported. */
  #refuse(packet: UdpPacket, reason: string, message: string): void {
    this.#dropped++;
    if (!this.#refused.add(endKey(packet.host, packet.port))) return;
    const target = hostPort(packet.host, packet.port);
    this.#options.events.emit({
      type: "exit-denied",
      peerId: this.#peer,
      target: `udp ${target}`,
      reason,
      message,
    });
    this.#toProxy.offer(
      encodeUdpRefusalFrame({ host: packet.host, port: packet.port, reason, message }),
    );
  }

  /** The association's socket for an address's family, opened on first use. */
  #socketFor(address: string): Deno.DatagramConn | undefined {
    const family = address.includes(":") ? "v6" : "v4";
    const existing = this.#sockets.get(family);
    if (existing) return existing;
    const bind = this.#options.bindAddress;
    if (bind !== undefined && (bind.includes(":") ? "v6" : "v4") !== family) return undefined;
    const hostname = bind ?? (family === "v6" ? "::" : "0.0.0.0");
    let socket: Deno.DatagramConn;
    try {
      socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    } catch (error) {
      logger.warn("Could not open a UDP socket on {hostname}: {error}", {
        hostname,
        error: describeError(error),
      });
      return undefined;
    }
    this.#sockets.set(family, socket);
    this.#receiving.push(this.#receive(socket));
    return socket;
  }

  /** Replies from the ends this association sent to, toward the proxy. */
  async #receive(socket: Deno.DatagramConn): Promise<void> {
    while (this.#endReason === undefined) {
      let data: Uint8Array;
      let from: Deno.Addr;
      try {
        [data, from] = await socket.receive();
      } catch {
        return; // Closed by end().
      }
      if (from.transport !== "udp") continue;
      if (!this.#sentTo.has(endKey(from.hostname, from.port))) {
        this.#dropped++; // Unsolicited: the exit's port is no open door.
        continue;
      }
      if (data.byteLength > MAX_UDP_PAYLOAD_BYTES || !this.#downRate.allow(performance.now())) {
        this.#dropped++;
        continue;
      }
      const frame = encodeUdpPacketFrame({ host: from.hostname, port: from.port, data });
      if (!this.#toProxy.offer(frame)) {
        this.#dropped++;
        if (this.#toProxy.failure !== undefined) this.end("error");
        continue;
      }
      this.#lastActivity = performance.now();
      this.#datagramsDown++;
      this.#bytesDown += data.byteLength;
    }
  }

  /** An IP literal as it is; a name through the resolver (cached briefly per association). */
  async #resolve(host: string): Promise<readonly string[]> {
    const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
    if (isIpAddressLiteral(bare)) return [bare];
    const now = performance.now();
    const cached = this.#names.get(bare);
    if (cached && cached.until > now) return cached.addresses;
    const addresses = await this.#options.resolver.resolve(
      bare,
      AbortSignal.timeout(DNS_TIMEOUT_MS),
    );
    if (this.#names.size >= NAME_CACHE_ENTRIES) {
      this.#names.delete(this.#names.keys().next().value!);
    }
    this.#names.set(bare, { addresses, until: now + NAME_CACHE_MS });
    return addresses;
  }

  /** Ends the association once it has been silent for the idle timeout. */
  #armIdleTimer(delayMs: number): void {
    this.#idleTimer = setTimeout(() => {
      const silentMs = performance.now() - this.#lastActivity;
      if (silentMs >= this.#idleTimeoutMs) this.end("idle");
      else this.#armIdleTimer(this.#idleTimeoutMs - silentMs);
    }, delayMs);
  }
}

/** The key of one remote end. */
function endKey(host: string, port: number): string {
  return `${host}|${port}`;
}
