/**
 * Where a hop's memory goes with many sessions open (issue "A data plane at shadowsocks speed":
 * peak RSS per hop at 1000 sessions). A quicker, narrower run than the whole bench:
 *
 * `deno run -A scripts/bench/many_sessions.ts [--many 1000] [--many-size 256KiB] [--bulk 256MiB]
 *   [--rounds 2] [--paths libp2p,quic,tls] [--deno-flags "..."] [--env K=V]` (`--many 0`: bulk
 * only)
 *
 * For the chain over libp2p, over QUIC streams and over TLS connections (a proxy and an exit each, nginx as the
 * destination, the bench's C client): each hop's RSS idle after one session, the peak RSS
 * while `--many` sessions are held open and each downloads `--many-size` (all connected before
 * any request, like the bench's row), the RSS after, and a bulk socks5h download's MB/s with
 * curl (best of `--rounds`, paths alternating so drift hits both). Prints one JSON object.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { freePort, startExit, startProxy } from "../cluster.ts";
import { Children } from "./children.ts";
import { nginxPath, startNginx, writeBenchFiles } from "./nginx.ts";
import { loadAverage, memory } from "./procstat.ts";
import { BYTES_PER_MB, parseSize } from "./stats.ts";

const NATIVE_CLIENT_SOURCE = new URL("./c/socks_bench.c", import.meta.url).pathname;
const SAMPLE_MS = 25;

/** One chain's hops. */
interface Chain {
  readonly name: string;
  readonly socksPort: number;
  readonly pids: { readonly proxy: number; readonly exit: number };
  /** Metrics ports (proxy, exit): the V8 heap in use. */
  readonly metrics: readonly [number, number];
}

/** The V8 heap in use (MB) from a hop's metrics endpoint. */
async function heapMB(port: number): Promise<number> {
  const text = await (await fetch(`http://localhost:${port}/metrics`)).text();
  const match = /^p2proxy_process_heap_used_bytes (\S+)$/m.exec(text);
  return match ? Math.round(Number(match[1]) / BYTES_PER_MB) : -1;
}

async function run(command: string, args: readonly (string | number)[]): Promise<string> {
  const output = await new Deno.Command(command, {
    args: args.map(String),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

async function rssMB(pid: number): Promise<number> {
  return Math.round((await memory(pid)).rssBytes / BYTES_PER_MB);
}

/** Runs `work` sampling the pids' RSS; the result and each pid's highest sample (MB). */
async function sampled<T>(
  pids: readonly number[],
  work: () => Promise<T>,
  metricsPorts: readonly number[] = [],
) {
  const peaks = pids.map(() => 0);
  const heapPeaks = metricsPorts.map(() => 0);
  let running = true;
  const sampler = (async () => {
    while (running) {
      for (const [i, pid] of pids.entries()) {
        peaks[i] = Math.max(peaks[i]!, await rssMB(pid).catch(() => 0));
      }
      for (const [i, port] of metricsPorts.entries()) {
        heapPeaks[i] = Math.max(heapPeaks[i]!, await heapMB(port).catch(() => 0));
      }
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }
  })();
  try {
    return { result: await work(), peaks, heapPeaks };
  } finally {
    running = false;
    await sampler;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      many: { type: "string" },
      "many-size": { type: "string" },
      bulk: { type: "string" },
      rounds: { type: "string" },
      paths: { type: "string" },
      "deno-flags": { type: "string" },
      env: { type: "string", multiple: true },
    },
  });
  const many = Number(values.many ?? 1000);
  const manyBytes = parseSize(values["many-size"] ?? "256KiB");
  const bulkBytes = parseSize(values.bulk ?? "256MiB");
  const rounds = Number(values.rounds ?? 2);
  const wanted = (values.paths ?? "libp2p,quic,tls").split(",");
  const denoFlags = ["-A", ...(values["deno-flags"] ?? "").split(" ").filter(Boolean)];
  const env = Object.fromEntries((values.env ?? []).map((pair) => pair.split("=", 2)));
  const children = new Children();
  children.installSignalHandlers();
  const workDir = await Deno.makeTempDir({ prefix: "p2proxy-many-" });
  try {
    const client = `${workDir}/socks_bench`;
    await run("cc", ["-O2", "-pthread", "-o", client, NATIVE_CLIENT_SOURCE]);
    const nginx = await nginxPath();
    if (!nginx) throw new Error("nginx is needed (apt-get install nginx-light).");
    const root = `${workDir}/www`;
    await Deno.mkdir(root, { recursive: true });
    await writeBenchFiles(root, bulkBytes, [manyBytes]);
    const httpPort = (await startNginx(children, nginx, `${workDir}/nginx`, root)).port;
    const chains: Chain[] = [];
    for (const quic of wanted) {
      // libp2p: libp2p streams; quic: QUIC streams; tls: pooled TLS connections (the default).
      const mode = quic === "libp2p" ? "never" : "auto";
      const tls = quic === "tls" ? "auto" : "never";
      const exitMetrics = freePort();
      const proxyMetrics = freePort();
      const exit = children.adopt(
        await startExit({
          egress: { allow_cidrs: ["127.0.0.1/32"] },
          limits: { max_sessions: 4096, max_sessions_per_peer: 4096 },
          quic: mode,
          tls,
          metrics_port: exitMetrics,
        }, { denoFlags, env }),
        `exit (${quic})`,
      );
      const socksPort = freePort();
      const proxy = children.adopt(
        await startProxy({
          servers: [{ port: socksPort, destination_peers: [exit.address] }],
          quic: mode,
          tls,
          metrics_port: proxyMetrics,
        }, { denoFlags, env }),
        `proxy (${quic})`,
      );
      chains.push({
        name: quic,
        socksPort,
        pids: { proxy: proxy.child.pid, exit: exit.child.pid },
        metrics: [proxyMetrics, exitMetrics],
      });
    }
    const curl = async (chain: Chain, bytes: number, path: string) => {
      const out = await run("curl", [
        "--silent",
        "--show-error",
        "--output",
        "/dev/null",
        "--max-time",
        "600",
        "--write-out",
        "%{size_download} %{time_total}",
        "--socks5-hostname",
        `127.0.0.1:${chain.socksPort}`,
        `http://127.0.0.1:${httpPort}${path}`,
      ]);
      const [size, seconds] = out.trim().split(" ").map(Number);
      if (size !== bytes) throw new Error(`${chain.name}: ${size} of ${bytes} bytes`);
      return bytes / BYTES_PER_MB / seconds!;
    };
    const results: Record<string, Record<string, unknown>> = {};
    for (const chain of chains) {
      await curl(chain, manyBytes, `/pattern-${manyBytes}.bin`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      results[chain.name] = {
        idleMB: [await rssMB(chain.pids.proxy), await rssMB(chain.pids.exit)],
        idleHeapMB: [await heapMB(chain.metrics[0]), await heapMB(chain.metrics[1])],
      };
    }
    for (const chain of many > 0 ? chains : []) {
      const load = await loadAverage();
      const { result, peaks, heapPeaks } = await sampled(
        [chain.pids.proxy, chain.pids.exit],
        () =>
          run(client, [
            "download",
            chain.socksPort,
            httpPort,
            `/pattern-${manyBytes}.bin`,
            many,
            manyBytes,
            1,
          ]),
        chain.metrics,
      );
      const outcome = JSON.parse(result) as { ok: number; failed: number; seconds: number };
      await new Promise((resolve) => setTimeout(resolve, 2000));
      Object.assign(results[chain.name]!, {
        many: { ...outcome, load: load[0] },
        peakMB: peaks,
        heapPeakMB: heapPeaks,
        afterMB: [await rssMB(chain.pids.proxy), await rssMB(chain.pids.exit)],
      });
    }
    await Promise.all(chains.map((chain) => curl(chain, bulkBytes, `/bulk-${bulkBytes}.bin`)));
    for (let round = 0; round < rounds; round++) {
      for (const chain of chains) {
        const load = await loadAverage();
        const { result: mbps, peaks } = await sampled(
          [chain.pids.proxy, chain.pids.exit],
          () => curl(chain, bulkBytes, `/bulk-${bulkBytes}.bin`),
        );
        const entry = results[chain.name]!;
        entry.bulkMBps = [...(entry.bulkMBps as number[] ?? []), Math.round(mbps)];
        entry.bulkLoad = [...(entry.bulkLoad as number[] ?? []), load[0]];
        entry.bulkPeakMB = peaks;
      }
    }
    console.log(JSON.stringify({ many, manyBytes, bulkBytes, results }));
  } finally {
    await children.stopAll();
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
  Deno.exit(0);
}
