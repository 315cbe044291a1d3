/**
 * The libp2p network plugin against the network, dialer and stream-opener
 * compliance suites: real nodes on 127.0.0.1, a fresh set per step. Each
 * step's nodes stop with the step; the timers js-libp2p leaves behind are
 * waited out once, at the end of each test.
 */
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import { asMultiaddr } from "../../core/ids.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { dialerCompliance } from "../../core/testing/compliance/dialer.ts";
import { networkCompliance } from "../../core/testing/compliance/network.ts";
import { streamOpenerCompliance } from "../../core/testing/compliance/stream_opener.ts";
import { FileIdentity } from "../identity-file/file_identity.ts";
import { libp2pSettled } from "../../tests/_libp2p.ts";
import { MAX_READ_BUFFER_BYTES } from "./constants.ts";
import { Libp2pNetwork, type NetworkOptions } from "./libp2p_network.ts";

/** Bound on polling for the remote side of a fresh connection. */
const CONNECT_TIMEOUT_MS = 5_000;

/** Started nodes on 127.0.0.1 that stop together. */
class Nodes {
  readonly #started: Libp2pNetwork[] = [];
  readonly #closers: (() => void)[] = [];

  async node(options: Partial<NetworkOptions> = {}): Promise<Libp2pNetwork> {
    const network = await Libp2pNetwork.create(await FileIdentity.generate(), {
      listen: ["/ip4/127.0.0.1/tcp/0"],
      announce: [],
      dialTimeoutMs: 3_000,
      ...options,
    });
    await network.start();
    this.#started.push(network);
    return network;
  }

  /** Runs `close` with the nodes' stop. */
  onStop(close: () => void): void {
    this.#closers.push(close);
  }

  async stop(): Promise<void> {
    for (const network of this.#started.reverse()) await network.stop().catch(() => {});
    for (const close of this.#closers) close();
  }
}

/** An address nothing listens on: a port that was just freed. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * A TCP listener that accepts and never says a word: a libp2p dial to it
 * hangs in the handshake until its deadline or signal.
 */
function silentListener(nodes: Nodes): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) accepted.push(conn);
    } catch {
      // Closed by the step's stop.
    }
  })();
  nodes.onStop(() => {
    listener.close();
    for (const conn of accepted) {
      try {
        conn.close();
      } catch {
        // Already closed by the dialer.
      }
    }
    void accepting;
  });
  return (listener.addr as Deno.NetAddr).port;
}

/** Resolves once `network` lists a connection to `peer`. */
async function connectedTo(network: Libp2pNetwork, peer: string): Promise<void> {
  const started = Date.now();
  while (!network.isConnected(peer as never)) {
    if (Date.now() - started > CONNECT_TIMEOUT_MS) throw new Error(`No connection to ${peer}.`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("Libp2pNetwork passes the dialer compliance suite", async (t) => {
  try {
    await dialerCompliance(t, async () => {
      const nodes = new Nodes();
      const dialer = await nodes.node();
      const target = await nodes.node();
      const nobody = await FileIdentity.generate();
      const nobodyId = (await Libp2pNetwork.create(nobody, { listen: [], announce: [] })).peerId;
      return {
        dialer,
        reachable: { peer: target.peerId, addresses: target.addresses() },
        unreachable: [
          asMultiaddr(`/ip4/127.0.0.1/tcp/${closedPort()}/p2p/${target.peerId}`),
          asMultiaddr(`/ip4/127.0.0.1/tcp/${closedPort()}/p2p/${nobodyId}`),
        ],
        shutDown: () => dialer.stop(),
        cleanup: () => nodes.stop(),
      };
    });
  } finally {
    await libp2pSettled();
  }
});

Deno.test("Libp2pNetwork passes the stream opener compliance suite", async (t) => {
  try {
    await streamOpenerCompliance(t, async () => {
      const nodes = new Nodes();
      const opener = await nodes.node();
      const remote = await nodes.node();
      await opener.dialAny(remote.addresses());
      // The stalling peer: the opener knows it only at an address that swallows bytes, so an
      // open dials there and hangs; `unstall` has it dial the opener, after which opens run
      // over that connection.
      const stalling = await nodes.node();
      await opener.node.peerStore.merge(peerIdFromString(stalling.peerId), {
        multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/${silentListener(nodes)}`)],
      });
      const serve = async (protocol: string, handler: (stream: DuplexStream) => void) => {
        for (const node of [remote, stalling]) {
          await node.handle(protocol, (stream) => handler(stream));
        }
      };
      return {
        opener,
        peer: remote.peerId,
        serve,
        stalling: {
          peer: stalling.peerId,
          unstall: async () => {
            await stalling.dialAny(opener.addresses());
            await connectedTo(opener, stalling.peerId);
          },
        },
        // A paused stream can still receive one window, and libp2p resets it past its read
        // buffer: the bound the plugin's constants promise (constants.ts).
        maxUnreadBytes: MAX_READ_BUFFER_BYTES,
        cleanup: () => nodes.stop(),
      };
    });
  } finally {
    await libp2pSettled();
  }
});

Deno.test("Libp2pNetwork passes the network compliance suite", async (t) => {
  try {
    await networkCompliance(t, async () => {
      const nodes = new Nodes();
      return { node: await nodes.node(), remote: await nodes.node(), cleanup: () => nodes.stop() };
    });
  } finally {
    await libp2pSettled();
  }
});
