/**
 * libp2p's TCP transport with one socket write per message instead of one per buffer.
 *
 * `@libp2p/tcp` writes each buffer of what the connection sends as its own `socket.write`, and
 * noise hands it a 2-byte length and the ciphertext as two buffers: two syscalls (and, with
 * TCP_NODELAY, two packets) for every yamux frame, a one-byte window update included. This
 * wrapper joins the buffers of one send into one write. It changes the connection object the
 * transport hands libp2p's upgrader, nothing else, and leaves a connection it does not recognise
 * as it is (another transport, or a @libp2p/tcp that changed its shape).
 *
 * @module
 */
import type { Transport } from "@libp2p/interface";

/** The part of @libp2p/tcp's connection this wrapper relies on. */
interface TcpMaConn {
  socket?: { write(chunk: Uint8Array): boolean };
  sendData?: (data: SendList) => { sentBytes: number; canSendMore: boolean };
}

/** What a connection is given to send: a Uint8ArrayList. */
interface SendList {
  readonly byteLength: number;
  readonly bufs: readonly Uint8Array[];
  subarray(): Uint8Array;
}

type Upgrader = {
  upgradeInbound(maConn: unknown, options?: unknown): Promise<unknown>;
  upgradeOutbound(maConn: unknown, options?: unknown): Promise<unknown>;
};

/**
 * Makes `maConn` (a @libp2p/tcp connection) send each message with one socket write; returns
 * it. Anything else is returned unchanged.
 *
 * @example
 * ```ts
 * upgrader.upgradeOutbound(coalesceWrites(maConn), options);
 * ```
 */
export function coalesceWrites<T>(maConn: T): T {
  const conn = maConn as TcpMaConn;
  const socket = conn.socket;
  if (typeof socket?.write !== "function" || typeof conn.sendData !== "function") return maConn;
  conn.sendData = (data) => {
    const bufs = data.bufs;
    // subarray() of a list copies its buffers into one: a copy is cheaper than a syscall.
    const chunk = bufs.length === 1 ? bufs[0]! : data.subarray();
    return { sentBytes: data.byteLength, canSendMore: socket.write(chunk) };
  };
  return maConn;
}

/** An upgrader that coalesces the writes of every connection it upgrades. */
function coalescingUpgrader(upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get(target, property) {
      if (property === "upgradeInbound") {
        return (maConn: unknown, options?: unknown) =>
          target.upgradeInbound(coalesceWrites(maConn), options);
      }
      if (property === "upgradeOutbound") {
        return (maConn: unknown, options?: unknown) =>
          target.upgradeOutbound(coalesceWrites(maConn), options);
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * Wraps a transport factory (`tcp()`) so that its connections write each message at once.
 *
 * @example
 * ```ts
 * const transports = [coalescedWrites(tcp())];
 * ```
 */
export function coalescedWrites<C>(
  factory: (components: C) => Transport,
): (components: C) => Transport {
  return (components) => {
    const transport = factory(components);
    const dial = transport.dial.bind(transport);
    const createListener = transport.createListener.bind(transport);
    transport.dial = (address, options) =>
      dial(address, {
        ...options,
        upgrader: coalescingUpgrader(options.upgrader as never) as never,
      });
    transport.createListener = (options) =>
      createListener({
        ...options,
        upgrader: coalescingUpgrader(options.upgrader as never) as never,
      });
    return transport;
  };
}
