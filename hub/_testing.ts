/**
 * Test plumbing for the hub: real libp2p nodes on 127.0.0.1, a hub built
 * from them, and raw directory exchanges. Every node and hub made through a
 * {@link TestNet} is stopped by `TestNet.close()`.
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { sizeDelimitedPeek } from "@bufbuild/protobuf/wire";
import type { HubConfig } from "../core/config/hub_config.ts";
import { encodeFrame, FrameDecoder } from "../core/codec/frame.ts";
import type { ExitAttributes } from "../core/domain/attributes.ts";
import type { Multiaddr, PeerId } from "../core/ids.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { Identity } from "../core/ports/identity.ts";
import type { RegistryStore } from "../core/ports/registry_store.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { Libp2pNetwork, type NetworkOptions } from "../plugins/network-libp2p/libp2p_network.ts";
import { SystemClock } from "../plugins/clock-system/system_clock.ts";
import { InMemoryRegistryStore } from "../plugins/registry-memory/memory_registry_store.ts";
import { libp2pSettled } from "../tests/_libp2p.ts";
import {
  DirectoryRequestSchema,
  type DirectoryResponse,
  DirectoryResponseSchema,
  type RegisterResponse,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { HubNode, type HubNodeDeps } from "./hub_node.ts";
import { askHub } from "../wire/directory_client.ts";
import {
  attributesToWire,
  DIRECTORY_PROTOCOL,
  DIRECTORY_SESSION_PROTOCOL,
} from "../wire/directory_protocol.ts";

/** Hub settings for tests: js-libp2p's default relay limits for strangers, unlimited for exits. */
export function testHubConfig(overrides: Partial<HubNodeDeps["config"]> = {}) {
  return {
    heartbeatIntervalMs: 30_000,
    missedHeartbeats: 3,
    findNodesMax: 100,
    relay: {
      maxReservations: 16,
      exitDataLimitBytes: 0,
      exitDurationLimitMs: 0,
      defaultDataLimitBytes: 131_072,
      defaultDurationLimitMs: 120_000,
    },
    ...overrides,
  } satisfies Pick<
    HubConfig,
    "heartbeatIntervalMs" | "missedHeartbeats" | "relay" | "findNodesMax"
  >;
}

/** A started test hub. */
export interface TestHub {
  readonly hub: HubNode;
  readonly network: Libp2pNetwork;
  readonly registry: RegistryStore;
  /** The hub's dialable address, ending in `/p2p/<hub>`. */
  readonly address: Multiaddr;
  readonly identity: Identity;
  /** Stops the hub and its node (also done by `TestNet.close`). */
  stop(): Promise<void>;
}

/** Owns the nodes of one test; `close()` stops them in reverse order. */
export class TestNet {
  readonly #stops: Array<() => Promise<void>> = [];

  /** A started node on 127.0.0.1 with a fresh identity unless one is given. */
  async node(
    options: Partial<NetworkOptions> = {},
    identity?: Identity,
  ): Promise<Libp2pNetwork> {
    const network = await Libp2pNetwork.create(identity ?? await FileIdentity.generate(), {
      listen: ["/ip4/127.0.0.1/tcp/0"],
      announce: [],
      dialTimeoutMs: 3_000,
      ...options,
    });
    await network.start();
    this.#stops.push(() => network.stop());
    return network;
  }

  /** A started hub (relay server on) with an in-memory registry unless one is given. */
  async hub(
    options: {
      config?: Partial<HubNodeDeps["config"]>;
      registry?: RegistryStore;
      clock?: Clock;
      identity?: Identity;
      listen?: string;
      verifyToken?: HubNodeDeps["verifyToken"];
      sweepIntervalMs?: number;
      geoip?: HubNodeDeps["geoip"];
    } = {},
  ): Promise<TestHub> {
    const config = testHubConfig(options.config);
    const identity = options.identity ?? await FileIdentity.generate();
    const network = await this.node({
      listen: [options.listen ?? "/ip4/127.0.0.1/tcp/0"],
      relayServer: {
        maxReservations: config.relay.maxReservations,
        defaultDataLimitBytes: config.relay.defaultDataLimitBytes,
        defaultDurationLimitMs: config.relay.defaultDurationLimitMs,
      },
    }, identity);
    const registry = options.registry ?? new InMemoryRegistryStore();
    const hub = await HubNode.start({
      config,
      network,
      registry,
      clock: options.clock ?? new SystemClock(),
      ...(options.verifyToken ? { verifyToken: options.verifyToken } : {}),
      ...(options.sweepIntervalMs ? { sweepIntervalMs: options.sweepIntervalMs } : {}),
      ...(options.geoip ? { geoip: options.geoip } : {}),
    });
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await hub.stop();
      await network.stop();
    };
    this.#stops.push(stop);
    const address = network.addresses()[0];
    if (!address) throw new Error("The test hub has no address.");
    return { hub, network, registry, address, identity, stop };
  }

  /**
   * Stops everything, newest first, then waits out the timers js-libp2p leaves
   * behind — unless `settle` is false (a test that waits once, at its end).
   */
  async close(options: { settle?: boolean } = {}): Promise<void> {
    if (this.#stops.length === 0) return;
    for (const stop of this.#stops.reverse()) await stop().catch(() => {});
    this.#stops.length = 0;
    if (options.settle ?? true) await libp2pSettled();
  }
}

/** Where a directory is served: a node and its address. */
export interface DirectoryTarget {
  readonly network: { readonly peerId: PeerId };
  readonly address: Multiaddr;
}

/** Registers `exit` with the hub once, as an exit would. */
export async function registerOnce(
  exit: Libp2pNetwork,
  hub: DirectoryTarget,
  attributes: ExitAttributes,
  options: { addresses?: readonly string[]; relayed?: boolean; token?: string } = {},
): Promise<RegisterResponse> {
  const request = create(DirectoryRequestSchema, {
    request: {
      case: "register",
      value: {
        attributes: attributesToWire(attributes),
        addresses: [...(options.addresses ?? exit.addresses())],
        relayed: options.relayed ?? false,
        token: options.token ?? "",
      },
    },
  });
  return await askHub(
    exit,
    { address: hub.address, peer: hub.network.peerId },
    request,
    "register",
    {
      timeoutMs: 5_000,
    },
  );
}

/** What became of a raw exchange. */
export type RawOutcome =
  | { readonly kind: "response"; readonly response: DirectoryResponse }
  | { readonly kind: "reset"; readonly reason: string }
  | { readonly kind: "garbage"; readonly bytes: number };

/**
 * Opens a directory stream to the hub, writes `bytes` as they are (no
 * framing added), half-closes unless `keepOpen`, and reads until the end or
 * a reset (bounded by `timeoutMs`).
 */
export async function rawExchange(
  from: Libp2pNetwork,
  hub: DirectoryTarget,
  bytes: Uint8Array,
  options: { keepOpen?: boolean; timeoutMs?: number } = {},
): Promise<RawOutcome> {
  const chunks: Uint8Array[] = [];
  const reset = await exchangeRaw(
    from,
    hub,
    DIRECTORY_PROTOCOL,
    bytes,
    options,
    (chunk) => chunks.push(chunk),
    "The hub neither answered nor reset the stream.",
  );
  if (reset !== undefined) return { kind: "reset", reason: reset };
  const all = concat(chunks);
  // A reset from the hub may reach this side as a bare end of stream.
  if (all.byteLength === 0) return { kind: "reset", reason: "closed without an answer" };
  try {
    const { frame, size } = unframe(all);
    if (size !== all.byteLength) return { kind: "garbage", bytes: all.byteLength };
    return { kind: "response", response: fromBinary(DirectoryResponseSchema, frame) };
  } catch {
    return { kind: "garbage", bytes: all.byteLength };
  }
}

/** What became of a raw session: the answers read, then how it ended. */
export interface RawSessionOutcome {
  /** Answers, in the order read; undefined where a frame did not decode. */
  readonly answers: readonly (DirectoryResponse | undefined)[];
  /** `closed`: the hub ended its side; `reset`: the stream broke; `broken`: bytes that are not frames. */
  readonly end: "closed" | "reset" | "broken";
}

/**
 * Opens a `/p2proxy/directory/1.1.0` session to the hub, writes `bytes` as they are,
 * half-closes unless `keepOpen`, and reads answers until the end or a reset (bounded by
 * `timeoutMs`: a hub that does neither fails the test).
 */
export async function rawSession(
  from: Libp2pNetwork,
  hub: DirectoryTarget,
  bytes: Uint8Array,
  options: { keepOpen?: boolean; timeoutMs?: number } = {},
): Promise<RawSessionOutcome> {
  const decoder = new FrameDecoder();
  const answers: (DirectoryResponse | undefined)[] = [];
  const reset = await exchangeRaw(
    from,
    hub,
    DIRECTORY_SESSION_PROTOCOL,
    bytes,
    options,
    (chunk) => {
      for (const frame of decoder.push(chunk)) {
        try {
          answers.push(fromBinary(DirectoryResponseSchema, frame));
        } catch {
          answers.push(undefined);
        }
      }
    },
    "The hub neither answered nor ended the session.",
  );
  if (reset !== undefined) return { answers, end: "reset" };
  return { answers, end: decoder.bufferedBytes > 0 ? "broken" : "closed" };
}

/**
 * Opens `protocol` to the hub, writes `bytes`, half-closes unless `keepOpen`, and hands every
 * chunk read to `onChunk` until the hub ends its side. Resolves undefined then, or the reason
 * when the stream broke; a hub that does neither within `timeoutMs` fails with `hungMessage`.
 */
async function exchangeRaw(
  from: Libp2pNetwork,
  hub: DirectoryTarget,
  protocol: string,
  bytes: Uint8Array,
  options: { keepOpen?: boolean; timeoutMs?: number },
  onChunk: (chunk: Uint8Array) => void,
  hungMessage: string,
): Promise<string | undefined> {
  if (!from.isConnected(hub.network.peerId)) await from.dialAny([hub.address]);
  const stream = await from.open(hub.network.peerId, {
    protocol,
    timeoutMs: 5_000,
    maxConcurrent: 64,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let hung = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      hung = true;
      reject(new Error("hung"));
    }, options.timeoutMs ?? 5_000);
  });
  deadline.catch(() => {});
  try {
    if (bytes.byteLength > 0) await Promise.race([stream.write(bytes), deadline]);
    if (!options.keepOpen) await Promise.race([stream.closeWrite(), deadline]);
    while (true) {
      const chunk = await Promise.race([stream.read(), deadline]);
      if (chunk === null) return undefined;
      onChunk(chunk);
    }
  } catch (error) {
    if (hung) throw new Error(hungMessage);
    return error instanceof Error ? error.message : String(error);
  } finally {
    clearTimeout(timer);
    stream.abort();
  }
}

/** A framed, valid FindNodes request with no filters. */
export function findNodesFrame(limit = 10): Uint8Array {
  return encodeFrame(
    toBinary(
      DirectoryRequestSchema,
      create(DirectoryRequestSchema, { request: { case: "findNodes", value: { limit } } }),
    ),
  );
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** The one frame in `bytes` (varint length, payload) and the bytes it spans. */
function unframe(bytes: Uint8Array): { frame: Uint8Array; size: number } {
  // The hub's own answers: the library's peek is enough here (frame.ts says why the hub is stricter).
  const peeked = sizeDelimitedPeek(bytes);
  if (peeked.eof) throw new Error("truncated prefix");
  const end = peeked.offset + peeked.size;
  if (bytes.byteLength < end) throw new Error("truncated frame");
  return { frame: bytes.subarray(peeked.offset, end), size: end };
}
