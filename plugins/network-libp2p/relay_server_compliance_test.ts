/**
 * The libp2p plugin's circuit relay server against the relay-server compliance suite: a real
 * relay node on 127.0.0.1 per step, and clients that reserve by listening on
 * `<relay>/p2p-circuit`, as exits behind NAT do.
 */
import { relayServerCompliance } from "../../core/testing/compliance/relay_server.ts";
import { FileIdentity } from "../identity-file/file_identity.ts";
import { libp2pSettled } from "../../tests/_libp2p.ts";
import { Libp2pNetwork, type NetworkOptions } from "./libp2p_network.ts";

/** js-libp2p's own defaults (128 KiB, 2 min), as a hub keeps them for strangers. */
const RELAY_DEFAULTS = {
  maxReservations: 16,
  defaultDataLimitBytes: 131_072,
  defaultDurationLimitMs: 120_000,
};

async function startedNode(
  options: Partial<NetworkOptions>,
  identity?: FileIdentity,
): Promise<Libp2pNetwork> {
  const network = await Libp2pNetwork.create(identity ?? await FileIdentity.generate(), {
    listen: ["/ip4/127.0.0.1/tcp/0"],
    announce: [],
    dialTimeoutMs: 3_000,
    ...options,
  });
  await network.start();
  return network;
}

Deno.test("the libp2p relay server passes the relay-server compliance suite", async (t) => {
  await relayServerCompliance(t, async () => {
    const hub = await startedNode({ relayServer: RELAY_DEFAULTS });
    const relay = hub.relayServer;
    const address = hub.addresses()[0];
    if (relay === undefined || address === undefined) throw new Error("The relay did not start.");
    const clients: Libp2pNetwork[] = [];
    return {
      relay,
      client: async () => {
        const identity = await FileIdentity.generate();
        return {
          peer: identity.peerId,
          reserve: async () => {
            clients.push(await startedNode({ listen: [`${address}/p2p-circuit`] }, identity));
          },
        };
      },
      cleanup: async () => {
        for (const client of clients.reverse()) await client.stop();
        await hub.stop();
      },
    };
  });
  await libp2pSettled();
});
