/**
 * A narrow, repeatable run for A/B work on the chain's latency and concurrency (README,
 * "Performance"): the chain over QUIC — and with `--libp2p` the chain over libp2p streams, with
 * `--shadowsocks` shadowsocks-libev — measured by the native client only: N × (new connection +
 * CONNECT + 1-byte echo), then M × 1 MiB downloads at once (byte-exact), `--repeat` times with
 * the paths taking turns, so that two builds can be compared on a shared machine within minutes.
 * Each row also gives the CPU the two hops spent (milliseconds per echo, seconds per download
 * run), which a busy machine disturbs less than wall time.
 *
 * Usage: deno run -A scripts/bench/chain_ab.ts [--echoes 500] [--concurrent 200] [--repeat 3]
 *          [--libp2p] [--shadowsocks]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { freePort, startExit, startProxy } from "../cluster.ts";
import { Children } from "./children.ts";
import { nginxPath, startNginx, writeBenchFiles } from "./nginx.ts";
import { clockTicksPerSecond, cpuSeconds, loadAverage } from "./procstat.ts";
import { shadowsocksMissing, startShadowsocks, which } from "./shadowsocks.ts";
import { BYTES_PER_MIB, median, percentile } from "./stats.ts";

const NATIVE_CLIENT_SOURCE = new URL("./c/socks_bench.c", import.meta.url).pathname;
const SERVERS_SCRIPT = new URL("./servers.ts", import.meta.url).pathname;
const HELPER_READY_MS = 30_000;
/** Sessions the exits may hold (their defaults allow 256 per proxy). */
const SESSION_LIMIT = 4096;
const WARMUP_ECHOES = 50;
const WARMUP_DOWNLOADS = 20;
const DOWNLOAD_BYTES = BYTES_PER_MIB;

interface Path {
  readonly name: string;
  readonly socksPort: number;
  /** Proxy-side and exit-side pids. */
  readonly pids: readonly [number, number];
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    echoes: { type: "string", default: "500" },
    concurrent: { type: "string", default: "200" },
    repeat: { type: "string", default: "3" },
    libp2p: { type: "boolean", default: false },
    shadowsocks: { type: "boolean", default: false },
  },
});
const echoes = Number(values.echoes);
const concurrent = Number(values.concurrent);
const repeat = Number(values.repeat);

async function runNative(binary: string, args: readonly (string | number)[]): Promise<unknown> {
  const output = await new Deno.Command(binary, {
    args: args.map(String),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`socks_bench ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

const children = new Children();
children.installSignalHandlers();
const workDir = await Deno.makeTempDir({ prefix: "p2proxy-ab-" });
try {
  const native = `${workDir}/socks_bench`;
  const compiler = await which("cc") ?? await which("gcc");
  if (!compiler) throw new Error("This run needs a C compiler (cc) for its native client.");
  const built = await new Deno.Command(compiler, {
    args: ["-O2", "-pthread", "-o", native, NATIVE_CLIENT_SOURCE],
  }).output();
  if (!built.success) throw new Error(`${compiler} could not build ${NATIVE_CLIENT_SOURCE}.`);
  const servers = children.spawnHelper("servers", SERVERS_SCRIPT, []);
  const ports = await servers.nextJson<{ http: number; echo: number }>(HELPER_READY_MS);
  let httpPort = ports.http;
  let downloadPath = `/pattern/${DOWNLOAD_BYTES}`;
  const nginx = await nginxPath();
  if (nginx) {
    const root = `${workDir}/www`;
    await Deno.mkdir(root, { recursive: true });
    await writeBenchFiles(root, BYTES_PER_MIB, [DOWNLOAD_BYTES]);
    httpPort = (await startNginx(children, nginx, `${workDir}/nginx`, root)).port;
    downloadPath = `/pattern-${DOWNLOAD_BYTES}.bin`;
  }
  const chain = async (quic: "auto" | "never"): Promise<Path> => {
    const exit = children.adopt(
      await startExit({
        egress: { allow_cidrs: ["127.0.0.1/32"] },
        limits: { max_sessions: SESSION_LIMIT, max_sessions_per_peer: SESSION_LIMIT },
        quic,
      }),
      `exit (quic: ${quic})`,
    );
    const socksPort = freePort();
    const proxy = children.adopt(
      await startProxy({ servers: [{ port: socksPort, destination_peers: [exit.address] }], quic }),
      `proxy (quic: ${quic})`,
    );
    const name = quic === "auto" ? "chain over QUIC" : "chain over libp2p";
    return { name, socksPort, pids: [proxy.child.pid, exit.child.pid] };
  };
  const paths = [await chain("auto")];
  if (values.libp2p) paths.push(await chain("never"));
  if (values.shadowsocks) {
    const missing = await shadowsocksMissing();
    if (missing) console.log(`shadowsocks-libev skipped: ${missing}`);
    else {
      const ss = await startShadowsocks(children);
      paths.push({
        name: "shadowsocks-libev",
        socksPort: ss.socksPort,
        pids: [ss.pids.local, ss.pids.server],
      });
    }
  }
  for (const path of paths) {
    await runNative(native, ["echo", path.socksPort, ports.echo, WARMUP_ECHOES]);
    await runNative(native, [
      "download",
      path.socksPort,
      httpPort,
      downloadPath,
      WARMUP_DOWNLOADS,
      DOWNLOAD_BYTES,
      0,
    ]);
  }
  const ticks = await clockTicksPerSecond();
  const cpu = async (path: Path) =>
    (await cpuSeconds(path.pids[0], ticks)) + (await cpuSeconds(path.pids[1], ticks));
  console.log(`load average before: ${(await loadAverage()).join(" ")}`);
  for (let round = 1; round <= repeat; round++) {
    for (const path of paths) {
      const echoCpu = await cpu(path);
      const { samplesUs } = await runNative(native, [
        "echo",
        path.socksPort,
        ports.echo,
        echoes,
      ]) as { samplesUs: number[] };
      const echoCpuMs = ((await cpu(path)) - echoCpu) * 1000 / echoes;
      const ms = samplesUs.map((us) => us / 1000);
      const downloadCpu = await cpu(path);
      const downloads = await runNative(native, [
        "download",
        path.socksPort,
        httpPort,
        downloadPath,
        concurrent,
        DOWNLOAD_BYTES,
        0,
      ]) as { ok: number; failed: number; seconds: number };
      const downloadCpuSeconds = (await cpu(path)) - downloadCpu;
      console.log(
        `${path.name}, round ${round}: echo median ${median(ms).toFixed(2)} ms, p99 ${
          percentile(ms, 99).toFixed(2)
        } ms, CPU ${echoCpuMs.toFixed(2)} ms/echo; ${concurrent} × 1 MiB ${
          downloads.seconds.toFixed(2)
        } s (${downloads.ok} ok, ${downloads.failed} failed), CPU ${
          downloadCpuSeconds.toFixed(2)
        } s`,
      );
    }
  }
  console.log(`load average after: ${(await loadAverage()).join(" ")}`);
} finally {
  await children.stopAll();
  await Deno.remove(workDir, { recursive: true }).catch(() => {});
}
Deno.exit(0);
