/**
 * A diagnostic, not part of `deno task bench`: where a CONNECT's time goes
 * on the proxy side of the wire. It starts an exit (`scripts/cluster.ts`)
 * and an echo server, then from this process — a libp2p node built like the
 * proxy's — times, per session: opening the stream (yamux SYN +
 * multistream-select round trip), the ConnectRequest → ConnectResponse
 * round trip (which includes the exit's TCP connect), and a 1-byte echo
 * through the open stream.
 *
 * Usage: deno run -A scripts/bench/probe_connect.ts [count=300]
 *
 * @module
 */
import { multiaddr } from "@multiformats/multiaddr";
import { asMultiaddr, peerIdOfAddress } from "../../core/ids.ts";
import { FileIdentity } from "../../plugins/identity-file/file_identity.ts";
import { Libp2pNetwork } from "../../plugins/network-libp2p/libp2p_network.ts";
import { CONNECT_PROTOCOL, ConnectStatus, requestConnect } from "../../wire/connect_protocol.ts";
import { startExit } from "../cluster.ts";
import { Children } from "./children.ts";
import { median, percentile } from "./stats.ts";

const SERVERS_SCRIPT = new URL("./servers.ts", import.meta.url).pathname;

async function main(count: number): Promise<void> {
  const children = new Children();
  children.installSignalHandlers();
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-probe-" });
  try {
    const servers = children.spawnHelper("servers", SERVERS_SCRIPT, []);
    const ports = await servers.nextJson<{ echo: number }>(30_000);
    const exit = children.adopt(
      await startExit({
        egress: { allow_cidrs: ["127.0.0.1/32"] },
      }, { dir }),
    );
    const peer = peerIdOfAddress(asMultiaddr(exit.address))!;
    const network = await Libp2pNetwork.create(await FileIdentity.generate(), {
      listen: ["/ip4/127.0.0.1/tcp/0"],
      announce: [],
    });
    await network.start();
    await network.node.dial(multiaddr(exit.address));
    const steps = { open: [] as number[], connect: [] as number[], echo: [] as number[] };
    for (let i = 0; i < count + 20; i++) {
      const t0 = performance.now();
      const raw = await network.open(peer, {
        protocol: CONNECT_PROTOCOL,
        timeoutMs: 10_000,
        maxConcurrent: 30,
      });
      const t1 = performance.now();
      const reply = await requestConnect(
        raw,
        { host: "127.0.0.1", port: ports.echo, token: "", sessionId: `probe-${i}` },
        AbortSignal.timeout(10_000),
      );
      if (reply.status !== ConnectStatus.SUCCEEDED) throw new Error(`status ${reply.status}`);
      const t2 = performance.now();
      await reply.stream.write(Uint8Array.of(42));
      const back = await reply.stream.read();
      if (!back || back[0] !== 42) throw new Error("The echo did not come back.");
      const t3 = performance.now();
      await reply.stream.closeWrite();
      while ((await reply.stream.read()) !== null) { /* drain to the exit's EOF */ }
      if (i < 20) continue;
      steps.open.push(t1 - t0);
      steps.connect.push(t2 - t1);
      steps.echo.push(t3 - t2);
    }
    for (const [name, xs] of Object.entries(steps)) {
      console.log(
        `${name.padEnd(8)} median ${median(xs).toFixed(3)} ms, p99 ${
          percentile(xs, 99).toFixed(3)
        } ms`,
      );
    }
    await network.stop();
  } finally {
    await children.stopAll();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  await main(Number(Deno.args[0] ?? 300));
  Deno.exit(0);
}
