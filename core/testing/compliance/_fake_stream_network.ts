/**
 * An in-memory network of whole `NetworkNode`s, for the tests of the network,
 * stream-opener and dialer suites: an honest implementation to pass them, and
 * the base the broken ones are made from. Streams are pairs of bounded pipes
 * with backpressure and half-close; nodes dial each other by address, emit
 * connection events on both sides, serve protocols with an inbound-stream
 * limit and limit concurrent opens per peer. A node can be made to stall:
 * opens to it hang until their deadline, as a dial to an address that
 * swallows bytes does.
 *
 * @module
 */
import {
  asMultiaddr,
  asPeerId,
  type Multiaddr,
  type PeerId,
  peerIdOfAddress,
  type Route,
} from "../../ids.ts";
import { DialError } from "../../ports/dialer.ts";
import type {
  ConnectionEvent,
  ConnectionInfo,
  HandleOptions,
  NetworkNode,
  StreamHandler,
} from "../../ports/network.ts";
import { type DuplexStream, type OpenOptions, StreamError } from "../../ports/stream_opener.ts";

/** Bytes a pipe holds before a write waits for the reader. */
export const PIPE_HIGH_WATER_BYTES = 256 * 1024;

/** Round-trip time every ping reports. */
const PING_RTT_MS = 0.1;

/** One direction of a stream: bounded, with end-of-stream and failure. */
class Pipe {
  readonly #chunks: Uint8Array[] = [];
  #bytes = 0;
  #ended = false;
  #error: Error | undefined;
  #reader: PromiseWithResolvers<Uint8Array | null> | undefined;
  #space: PromiseWithResolvers<void> | undefined;

  /** Queues a copy of `chunk`; resolves once the pipe is below its high-water mark. */
  async push(chunk: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#ended) throw new Error("Cannot write after closeWrite.");
    const reader = this.#reader;
    if (reader) {
      this.#reader = undefined;
      reader.resolve(chunk.slice());
      return;
    }
    this.#chunks.push(chunk.slice());
    this.#bytes += chunk.byteLength;
    while (this.#bytes > PIPE_HIGH_WATER_BYTES) {
      this.#space ??= Promise.withResolvers<void>();
      await this.#space.promise;
    }
  }

  /** The next chunk, `null` after the end, or the failure. */
  pull(): Promise<Uint8Array | null> {
    if (this.#error) return Promise.reject(this.#error);
    const chunk = this.#chunks.shift();
    if (chunk) {
      this.#bytes -= chunk.byteLength;
      if (this.#bytes <= PIPE_HIGH_WATER_BYTES) this.#wakeWriter();
      return Promise.resolve(chunk);
    }
    if (this.#ended) return Promise.resolve(null);
    this.#reader = Promise.withResolvers();
    return this.#reader.promise;
  }

  end(): void {
    if (this.#ended || this.#error) return;
    this.#ended = true;
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.resolve(null);
  }

  fail(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    this.#chunks.length = 0;
    this.#bytes = 0;
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.reject(error);
    const space = this.#space;
    this.#space = undefined;
    space?.reject(error);
  }

  #wakeWriter(): void {
    const space = this.#space;
    this.#space = undefined;
    space?.resolve();
  }
}

/** One end of a stream. */
class MemoryStream implements DuplexStream {
  readonly #incoming: Pipe;
  readonly #outgoing: Pipe;
  readonly #onClose: () => void;
  #closed = false;

  constructor(incoming: Pipe, outgoing: Pipe, onClose: () => void) {
    this.#incoming = incoming;
    this.#outgoing = outgoing;
    this.#onClose = onClose;
  }

  read(): Promise<Uint8Array | null> {
    return this.#incoming.pull();
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#outgoing.push(chunk);
  }

  closeWrite(): Promise<void> {
    this.#outgoing.end();
    return Promise.resolve();
  }

  abort(reason?: Error): void {
    const error = reason ?? new Error("The stream was reset.");
    this.#incoming.fail(error);
    this.#outgoing.fail(error);
    if (!this.#closed) {
      this.#closed = true;
      this.#onClose();
    }
  }
}

/** Two connected stream ends; `onClose` runs when either is aborted. */
function streamPair(onClose: () => void): [MemoryStream, MemoryStream] {
  const there = new Pipe();
  const back = new Pipe();
  let closed = false;
  const once = () => {
    if (closed) return;
    closed = true;
    onClose();
  };
  return [new MemoryStream(back, there, once), new MemoryStream(there, back, once)];
}

interface Served {
  readonly handler: StreamHandler;
  readonly maxInboundStreams: number;
  /** Open inbound streams per connection id. */
  readonly active: Map<number, number>;
}

interface Connection {
  readonly id: number;
  readonly info: ConnectionInfo;
}

/** The nodes of one in-memory network. */
export class MemoryNetwork {
  readonly #nodes = new Map<PeerId, MemoryNode>();
  #nextId = 1;

  /** A new node on this network. */
  node(): MemoryNode {
    const n = this.#nextId++;
    const node = new MemoryNode(this, asPeerId(`12D3KooWMemory${n}`), n);
    this.#nodes.set(node.peerId, node);
    return node;
  }

  /** The node at `address`, if it is one of ours and is running. */
  at(address: Multiaddr): MemoryNode | undefined {
    const peer = peerIdOfAddress(address);
    const node = peer === undefined ? undefined : this.byId(peer);
    return node?.addresses().includes(address) ? node : undefined;
  }

  /** The running node with id `peer` (what a peer store knows). */
  byId(peer: PeerId): MemoryNode | undefined {
    const node = this.#nodes.get(peer);
    return node && !node.stopped ? node : undefined;
  }

  /** A fresh connection id. */
  connectionId(): number {
    return this.#nextId++;
  }

  /** Stops every node. */
  stopAll(): void {
    for (const node of this.#nodes.values()) node.stop();
  }
}

/** A node of a {@link MemoryNetwork}. */
export class MemoryNode implements NetworkNode {
  readonly peerId: PeerId;
  readonly #network: MemoryNetwork;
  readonly #address: Multiaddr;
  readonly #served = new Map<string, Served>();
  readonly #connections = new Map<PeerId, Connection[]>();
  readonly #listeners = new Set<(event: ConnectionEvent) => void>();
  readonly #opening = new Map<PeerId, number>();
  readonly #slotWaiters = new Map<PeerId, (() => void)[]>();
  #stalled = false;
  #stopped = false;

  constructor(network: MemoryNetwork, peerId: PeerId, n: number) {
    this.#network = network;
    this.peerId = peerId;
    this.#address = asMultiaddr(`/memory/${n}/p2p/${peerId}`);
  }

  /** True once stopped. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Opens to this node begun from now on hang until their deadline or signal. */
  stall(): void {
    this.#stalled = true;
  }

  /** Opens begun from now on go through again (hung ones stay hung). */
  unstall(): void {
    this.#stalled = false;
  }

  get stalled(): boolean {
    return this.#stalled;
  }

  addresses(): Multiaddr[] {
    return [this.#address];
  }

  // deno-lint-ignore require-await
  async dialAny(addresses: readonly Multiaddr[], signal?: AbortSignal): Promise<PeerId> {
    if (this.#stopped) throw new DialError("shutdown", "The memory node is stopped.");
    signal?.throwIfAborted();
    for (const address of addresses) {
      const remote = this.#network.at(address);
      if (remote === undefined) continue;
      if (!this.isConnected(remote.peerId)) this.#connect(remote, address);
      return remote.peerId;
    }
    throw new DialError("none-connected", `None of ${addresses.length} addresses answered.`);
  }

  isConnected(peer: PeerId): boolean {
    return (this.#connections.get(peer)?.length ?? 0) > 0;
  }

  connectedRoute(peer: PeerId): Route | undefined {
    const connection = this.#connections.get(peer)?.[0];
    return connection && { address: connection.info.address, relayed: false };
  }

  connections(peer: PeerId): ConnectionInfo[] {
    return (this.#connections.get(peer) ?? []).map((connection) => connection.info);
  }

  async open(peer: PeerId, options: OpenOptions): Promise<DuplexStream> {
    let timedOut = false;
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      timedOut = true;
      deadline.abort(new Error(`No stream to ${peer} within ${options.timeoutMs} ms.`));
    }, options.timeoutMs);
    const signal = options.signal
      ? AbortSignal.any([deadline.signal, options.signal])
      : deadline.signal;
    let release: (() => void) | undefined;
    try {
      release = await this.#acquire(peer, options.maxConcurrent, signal);
      const remote = this.#network.byId(peer);
      if (remote?.stalled) await untilAborted(signal);
      if (!remote) throw new StreamError("io", `No address of ${peer} is known.`);
      if (!this.isConnected(peer)) await this.dialAny(remote.addresses(), signal);
      return this.#negotiate(remote, options.protocol);
    } catch (error) {
      if (error instanceof StreamError) throw error;
      if (timedOut) {
        throw new StreamError("open-timeout", `Opening a stream to ${peer} took too long.`, {
          cause: error,
        });
      }
      throw new StreamError("io", `Cannot open a stream to ${peer}.`, { cause: error });
    } finally {
      clearTimeout(timer);
      release?.();
    }
  }

  // deno-lint-ignore require-await
  async handle(
    protocol: string,
    handler: StreamHandler,
    options: HandleOptions = {},
  ): Promise<void> {
    this.#served.set(protocol, {
      handler,
      maxInboundStreams: options.maxInboundStreams ?? Number.MAX_SAFE_INTEGER,
      active: new Map(),
    });
  }

  // deno-lint-ignore require-await
  async unhandle(protocol: string): Promise<void> {
    this.#served.delete(protocol);
  }

  onConnection(listener: (event: ConnectionEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // deno-lint-ignore require-await
  async ping(peer: PeerId, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    if (!this.isConnected(peer)) throw new Error(`Not connected to ${peer}.`);
    return PING_RTT_MS;
  }

  // deno-lint-ignore require-await
  async hangUp(peer: PeerId): Promise<void> {
    for (const connection of [...this.#connections.get(peer) ?? []]) {
      this.#network.byId(peer)?.dropConnection(connection.id, this.peerId);
      this.dropConnection(connection.id, peer);
    }
  }

  /** Stops the node: every connection closes, later dials fail with `shutdown`. */
  stop(): void {
    this.#stopped = true;
    for (const peer of [...this.#connections.keys()]) void this.hangUp(peer);
  }

  /** Closes one connection on this side and emits `close`. */
  dropConnection(id: number, peer: PeerId): void {
    const open = this.#connections.get(peer) ?? [];
    const index = open.findIndex((connection) => connection.id === id);
    if (index < 0) return;
    const [connection] = open.splice(index, 1);
    if (open.length === 0) this.#connections.delete(peer);
    this.#emit({ kind: "close", connection: connection!.info, remaining: open.length });
  }

  /** Accepts a connection from `remote` (called by the dialing side). */
  acceptConnection(id: number, remote: MemoryNode): void {
    this.#addConnection(id, remote.peerId, remote.addresses()[0]!, "inbound");
  }

  /** Hands an inbound stream to the protocol's handler; false when not served or over the limit. */
  acceptStream(
    protocol: string,
    from: PeerId,
    stream: DuplexStream,
  ): "ok" | "unsupported" | "full" {
    const served = this.#served.get(protocol);
    if (!served) return "unsupported";
    const connection = this.#connections.get(from)?.[0];
    if (!connection) return "full";
    const active = served.active.get(connection.id) ?? 0;
    if (active >= served.maxInboundStreams) return "full";
    served.active.set(connection.id, active + 1);
    served.handler(stream, connection.info);
    return "ok";
  }

  /** Counts an inbound stream of `protocol` from `from` as closed. */
  streamClosed(protocol: string, from: PeerId): void {
    const served = this.#served.get(protocol);
    const connection = this.#connections.get(from)?.[0];
    if (!served || !connection) return;
    const active = served.active.get(connection.id) ?? 0;
    if (active > 0) served.active.set(connection.id, active - 1);
  }

  #negotiate(remote: MemoryNode, protocol: string): DuplexStream {
    const peer = remote.peerId;
    let accepted = false;
    const [ours, theirs] = streamPair(() => {
      if (accepted) remote.streamClosed(protocol, this.peerId);
    });
    const verdict = remote.acceptStream(protocol, this.peerId, theirs);
    if (verdict === "unsupported") {
      throw new StreamError("unsupported-protocol", `Peer ${peer} does not speak ${protocol}.`);
    }
    if (verdict === "full") {
      throw new StreamError("io", `Peer ${peer} refused another ${protocol} stream.`);
    }
    accepted = true;
    return ours;
  }

  #connect(remote: MemoryNode, address: Multiaddr): void {
    const id = this.#network.connectionId();
    this.#addConnection(id, remote.peerId, address, "outbound");
    remote.acceptConnection(id, this);
  }

  #addConnection(
    id: number,
    peer: PeerId,
    address: Multiaddr,
    direction: ConnectionInfo["direction"],
  ): void {
    const info: ConnectionInfo = { peerId: peer, address, relayed: false, direction };
    const open = this.#connections.get(peer) ?? [];
    open.push({ id, info });
    this.#connections.set(peer, open);
    this.#emit({ kind: "open", connection: info, remaining: open.length - 1 });
  }

  async #acquire(peer: PeerId, limit: number, signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    while ((this.#opening.get(peer) ?? 0) >= limit) {
      await new Promise<void>((resolve, reject) => {
        const waiters = this.#slotWaiters.get(peer) ?? [];
        this.#slotWaiters.set(peer, waiters);
        const wake = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          waiters.splice(waiters.indexOf(wake), 1);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        waiters.push(wake);
      });
    }
    this.#opening.set(peer, (this.#opening.get(peer) ?? 0) + 1);
    return () => {
      this.#opening.set(peer, this.#opening.get(peer)! - 1);
      this.#slotWaiters.get(peer)?.shift()?.();
    };
  }

  #emit(event: ConnectionEvent): void {
    for (const listener of [...this.#listeners]) listener(event);
  }
}

/** Rejects with the signal's reason once it aborts. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/** `node` as a plain `NetworkNode` with some members replaced: the base of broken nodes. */
export function patchedNode(node: NetworkNode, overrides: Partial<NetworkNode>): NetworkNode {
  return {
    peerId: node.peerId,
    addresses: () => node.addresses(),
    dialAny: (addresses, signal) => node.dialAny(addresses, signal),
    isConnected: (peer) => node.isConnected(peer),
    connectedRoute: (peer) => node.connectedRoute(peer),
    open: (peer, options) => node.open(peer, options),
    handle: (protocol, handler, options) => node.handle(protocol, handler, options),
    unhandle: (protocol) => node.unhandle(protocol),
    onConnection: (listener) => node.onConnection(listener),
    connections: (peer) => node.connections(peer),
    ping: (peer, signal) => node.ping(peer, signal),
    hangUp: (peer) => node.hangUp(peer),
    ...overrides,
  };
}

/** `stream` with some members replaced. */
export function patchedStream(
  stream: DuplexStream,
  overrides: Partial<DuplexStream>,
): DuplexStream {
  return {
    read: () => stream.read(),
    write: (chunk) => stream.write(chunk),
    closeWrite: () => stream.closeWrite(),
    abort: (reason) => stream.abort(reason),
    ...overrides,
  };
}
