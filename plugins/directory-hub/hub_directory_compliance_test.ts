import { asMultiaddr } from "../../core/ids.ts";
import { peerDirectoryCompliance } from "../../core/testing/compliance/peer_directory.ts";
import { DIRECTORY_PROTOCOL } from "../../wire/directory_protocol.ts";
import { HubDirectory } from "./hub_directory.ts";
import { libp2pSettled } from "../../tests/_libp2p.ts";
import { registerOnce, TestNet } from "../../hub/_testing.ts";

/** Deadline of the silent hub's directory: short, so the timeout step ends quickly. */
const SILENT_TIMEOUT_MS = 300;

/** An address nothing listens on: a port that was just freed, with a real peer's id. */
function closedPortAddress(peerId: string): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return `/ip4/127.0.0.1/tcp/${port}/p2p/${peerId}`;
}

Deno.test("HubDirectory with a real hub passes the peer directory compliance suite", async (t) => {
  // Each step's nodes stop with the step; the timers js-libp2p leaves behind are waited out
  // once, at the end.
  try {
    await peerDirectoryCompliance(t, async (seeds) => {
      const net = new TestNet();
      const stop = () => net.close({ settle: false });
      try {
        const hub = await net.hub();
        const exits = [];
        for (const attributes of seeds) {
          const exit = await net.node();
          await registerOnce(exit, hub, attributes);
          exits.push({ peerId: exit.peerId, routes: exit.addresses(), attributes });
        }
        const proxy = await net.node();
        const stranger = await net.node();
        return {
          directory: new HubDirectory({ network: proxy, hubs: [hub.address], timeoutMs: 5_000 }),
          exits,
          unknown: stranger.peerId,
          unavailable: () =>
            new HubDirectory({
              network: proxy,
              hubs: [asMultiaddr(closedPortAddress(stranger.peerId))],
            }),
          silent: async () => {
            const silentHub = await net.node();
            await silentHub.handle(DIRECTORY_PROTOCOL, () => {/* never answers */});
            return new HubDirectory({
              network: proxy,
              hubs: [silentHub.addresses()[0]!],
              timeoutMs: SILENT_TIMEOUT_MS,
            });
          },
          cleanup: stop,
        };
      } catch (error) {
        await stop();
        throw error;
      }
    });
  } finally {
    await libp2pSettled();
  }
});
