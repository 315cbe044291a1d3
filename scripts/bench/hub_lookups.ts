/**
 * A `bench:hub` child: runs `FindNodes` lookups against the hub for
 * `seconds`, `concurrency` at a time, through the proxy's own directory
 * client (`HubDirectory`) on `nodes` libp2p nodes (the hub serves at most 16
 * directory streams per connection at once). Prints one JSON line:
 * `{ latenciesMs: number[], failed, seconds, returned }`.
 *
 * Usage: `deno run -A scripts/bench/hub_lookups.ts <hub multiaddr> <nodes> <concurrency> <seconds> <seed>`
 *
 * @module
 */
import process from "node:process";
import { asMultiaddr } from "../../core/ids.ts";
import { FileIdentity } from "../../plugins/identity-file/file_identity.ts";
import { Libp2pNetwork } from "../../plugins/network-libp2p/libp2p_network.ts";
import { HubDirectory } from "../../plugins/directory-hub/hub_directory.ts";
import { benchFilters } from "./hub_workload.ts";

/** The candidates a proxy port asks for (docs/proxy-behaviour.md). */
const LOOKUP_LIMIT = 25;

const [hubText, nodesText, concurrencyText, secondsText, seedText] = Deno.args;
if (!hubText || !nodesText || !concurrencyText || !secondsText || !seedText) {
  console.error("usage: hub_lookups.ts <hub multiaddr> <nodes> <concurrency> <seconds> <seed>");
  Deno.exit(2);
}
const hub = asMultiaddr(hubText);
const nodes = await Promise.all(
  Array.from({ length: Number(nodesText) }, async () => {
    const network = await Libp2pNetwork.create(await FileIdentity.generate(), {
      listen: [],
      announce: [],
    });
    await network.start();
    const directory = new HubDirectory({ network, hubs: [hub], timeoutMs: 30_000 });
    // Connect first: the measured lookups are the hub's work, not connection set-up.
    await directory.findNodes({ filters: benchFilters(0), limit: 1, exclude: [] });
    return { network, directory };
  }),
);

const concurrency = Number(concurrencyText);
const endAt = performance.now() + Number(secondsText) * 1000;
const latenciesMs: number[] = [];
let failed = 0;
let returned = 0;
let n = Number(seedText);
const started = performance.now();
const cpuAtStart = process.cpuUsage();
await Promise.all(
  Array.from({ length: concurrency }, async (_, worker) => {
    const { directory } = nodes[worker % nodes.length]!;
    while (performance.now() < endAt) {
      const filters = benchFilters(n++);
      const t = performance.now();
      try {
        const found = await directory.findNodes({ filters, limit: LOOKUP_LIMIT, exclude: [] });
        latenciesMs.push(performance.now() - t);
        returned += found.length;
      } catch {
        failed++;
      }
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuAtStart);
// This process's own CPU while looking up: the load generator's cost, apart from the hub's.
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
await Promise.all(nodes.map(({ network }) => network.stop()));
console.log(JSON.stringify({ latenciesMs, failed, seconds, returned, cpuSeconds }));
Deno.exit(0);
