/**
 * The QUIC network plugin against the network and stream-opener compliance suites: real libp2p
 * nodes on 127.0.0.1, each wrapped by a QuicNetwork with its own endpoint, `quic: always` so a
 * stream that silently took libp2p instead would fail the suite rather than pass it.
 */
import { FileIdentity } from "../identity-file/file_identity.ts";
import { Libp2pNetwork } from "../network-libp2p/libp2p_network.ts";
import { libp2pSettled } from "../../tests/_libp2p.ts";
import { networkCompliance } from "../../core/testing/compliance/network.ts";
import { streamOpenerCompliance } from "../../core/testing/compliance/stream_opener.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { QuicNetwork } from "./quic_network.ts";
import { QuicServer } from "./quic_server.ts";

/** Started QUIC-wrapped nodes on 127.0.0.1 that stop together. */
export class QuicNodes {
  readonly #started: { quic: QuicNetwork; libp2p: Libp2pNetwork }[] = [];

  async node(mode: "auto" | "always" = "always", serve = true): Promise<QuicNetwork> {
    const libp2p = await Libp2pNetwork.create(await FileIdentity.generate(), {
      listen: ["/ip4/127.0.0.1/tcp/0"],
      announce: [],
      dialTimeoutMs: 3_000,
    });
    await libp2p.start();
    const quic = new QuicNetwork(libp2p, {
      mode,
      ...(serve ? { serve: () => QuicServer.start({ hostname: "127.0.0.1", port: 0 }) } : {}),
    });
    await quic.start();
    this.#started.push({ quic, libp2p });
    return quic;
  }

  async stop(): Promise<void> {
    for (const { quic, libp2p } of this.#started.reverse()) {
      await quic.stop().catch(() => {});
      await libp2p.stop().catch(() => {});
    }
  }
}

Deno.test("QuicNetwork passes the stream opener compliance suite", async (t) => {
  try {
    await streamOpenerCompliance(t, async () => {
      const nodes = new QuicNodes();
      const opener = await nodes.node("always", false);
      const remote = await nodes.node();
      await opener.dialAny(remote.addresses());
      return {
        opener,
        peer: remote.peerId,
        serve: (protocol: string, handler: (stream: DuplexStream) => void) =>
          remote.handle(protocol, (stream) => handler(stream)),
        cleanup: () => nodes.stop(),
      };
    });
  } finally {
    await libp2pSettled();
  }
});

Deno.test("QuicNetwork passes the network compliance suite", async (t) => {
  try {
    await networkCompliance(t, async () => {
      const nodes = new QuicNodes();
      return { node: await nodes.node(), remote: await nodes.node(), cleanup: () => nodes.stop() };
    });
  } finally {
    await libp2pSettled();
  }
});
