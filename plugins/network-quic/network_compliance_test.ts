/**
 * The QUIC network plugin against the network and stream-opener compliance suites: real libp2p
 * nodes on 127.0.0.1, each wrapped by a QuicNetwork with its own endpoint, `quic: always` so a
 * stream that silently took libp2p instead would fail the suite rather than pass it.
 */
import { libp2pSettled } from "../../tests/_libp2p.ts";
import { networkCompliance } from "../../core/testing/compliance/network.ts";
import { streamOpenerCompliance } from "../../core/testing/compliance/stream_opener.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { QuicNodes } from "./_testing.ts";

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

Deno.test("QuicNetwork over its TLS listener passes the stream opener compliance suite", async (t) => {
  try {
    await streamOpenerCompliance(t, async () => {
      const nodes = new QuicNodes();
      const opener = await nodes.node("always", false);
      const remote = await nodes.node("always", true, true);
      await opener.dialAny(remote.addresses());
      return {
        opener,
        peer: remote.peerId,
        serve: (protocol: string, handler: (stream: DuplexStream) => void) =>
          remote.handle(protocol, (stream) => handler(stream)),
        cleanup: async () => {
          // Every stream of the suite went over TLS, none over QUIC streams or libp2p.
          const transport = opener.transportOf(remote.peerId);
          await nodes.stop();
          if (transport !== undefined && transport !== "tls") {
            throw new Error(`streams went over ${transport}, not tls`);
          }
        },
      };
    });
  } finally {
    await libp2pSettled();
  }
});

Deno.test("QuicNetwork over its TLS listener passes the network compliance suite", async (t) => {
  try {
    await networkCompliance(t, async () => {
      const nodes = new QuicNodes();
      return {
        node: await nodes.node("always", true, true),
        remote: await nodes.node("always", true, true),
        cleanup: () => nodes.stop(),
      };
    });
  } finally {
    await libp2pSettled();
  }
});
