/**
 * Test helper: QUIC-wrapped libp2p nodes on 127.0.0.1 (real libp2p, real QUIC endpoints).
 *
 * @module
 */
import { FileIdentity } from "../identity-file/file_identity.ts";
import { Libp2pNetwork } from "../network-libp2p/libp2p_network.ts";
import { QuicNetwork } from "./quic_network.ts";
import { QuicServer } from "./quic_server.ts";

/**
 * Started QUIC-wrapped nodes on 127.0.0.1 that stop together.
 *
 * @example
 * ```ts
 * const nodes = new QuicNodes();
 * const opener = await nodes.node("always", false);
 * await nodes.stop();
 * ```
 */
export class QuicNodes {
  readonly #started: { quic: QuicNetwork; libp2p: Libp2pNetwork }[] = [];

  /** A node; `tls`: its endpoint also serves TLS (tls_server.ts), which openers then prefer. */
  async node(mode: "auto" | "always" = "always", serve = true, tls = false): Promise<QuicNetwork> {
    const libp2p = await Libp2pNetwork.create(await FileIdentity.generate(), {
      listen: ["/ip4/127.0.0.1/tcp/0"],
      announce: [],
      dialTimeoutMs: 3_000,
    });
    await libp2p.start();
    const quic = new QuicNetwork(libp2p, {
      mode,
      ...(serve
        ? {
          serve: () =>
            QuicServer.start({ hostname: "127.0.0.1", port: 0, ...(tls ? { tlsPort: 0 } : {}) }),
        }
        : {}),
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
