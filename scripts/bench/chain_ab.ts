/**
 * A narrow, repeatable run for A/B work on the chain's latency and concurrency (README,
 * "Performance"): the default chain (over TLS connections) — with `--quic` also the chain over
 * QUIC streams, with `--libp2p` the chain over libp2p streams, with
 * `--shadowsocks` shadowsocks-libev — measured by the native client only: N × (new connection +
 * CONNECT + 1-byte echo), then M × 1 MiB downloads at once (byte-exact), `--repeat` times with
 * the paths taking turns, so that two builds can be compared on a shared machine within minutes.
 * Each row also gives the CPU the two hops spent (milliseconds per echo, seconds per download
 * run), which a busy machine disturbs less than wall time.
 *
 * `--bulk SIZE` (e.g. `1GiB`) adds one curl download of that size (socks5h, from nginx) per path
 * and round, reported in MB/s with the CPU-seconds per GiB the two hops spent.
 *
 * `--profile DIR` starts the chains' proxies and exits under the V8 inspector and, after the
 * measured rounds, profiles one more echo run and one more download run on each chain: a summary
 * is printed and the `.cpuprofile` files are written to DIR.
 *
 * Usage: deno run -A scripts/bench/chain_ab.ts [--echoes 500] [--concurrent 200] [--repeat 3]
 *          [--quic] [--libp2p] [--shadowsocks] [--bulk SIZE]
 *          [--profile DIR]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { freePort, startExit, startProxy } from "../cluster.ts";
import { Children } from "./children.ts";
import { nginxPath, startNginx, writeBenchFiles } from "./nginx.ts";
import { type CpuProfile, inspectFlag, InspectorSession, summarize } from "./cpu_profile.ts";
import { clockTicksPerSecond, cpuSeconds, loadAverage } from "./procstat.ts";
import { shadowsocksMissing, startShadowsocks, which } from "./shadowsocks.ts";
import {
  BYTES_PER_GIB,
  BYTES_PER_MIB,
  mbPerSecond,
  median,
  parseSize,
  percentile,
} from "./stats.ts";
import { curlDownload } from "./clients.ts";

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
  /** Inspector ports of the proxy and the exit, with `--profile`. */
  readonly inspect?: { readonly proxy: number; readonly exit: number };
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    echoes: { type: "string", default: "500" },
    concurrent: { type: "string", default: "200" },
    repeat: { type: "string", default: "3" },
    libp2p: { type: "boolean", default: false },
    quic: { type: "boolean", default: false },
    shadowsocks: { type: "boolean", default: false },
    profile: { type: "string" },
    bulk: { type: "string" },
  },
});
const echoes = Number(values.echoes);
const concurrent = Number(values.concurrent);
const repeat = Number(values.repeat);
const profileDir = values.profile;
const bulkBytes = values.bulk ? parseSize(values.bulk) : 0;

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

/** Runs `work` with the sampling profiler on in the proxy and the exit. */
async function profiled(
  ports: { readonly proxy: number; readonly exit: number },
  work: () => Promise<unknown>,
): Promise<Record<string, CpuProfile>> {
  const sessions = await Promise.all(
    Object.entries(ports).map(async ([role, port]) =>
      [role, await InspectorSession.connect(port)] as const
    ),
  );
  try {
    await Promise.all(sessions.map(([, session]) => session.startProfiling()));
    await work();
    const profiles: Record<string, CpuProfile> = {};
    for (const [role, session] of sessions) profiles[role] = await session.stopProfiling();
    return profiles;
  } finally {
    for (const [, session] of sessions) session.close();
  }
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
  let bulkPath = `/bytes/${bulkBytes}`;
  const nginx = await nginxPath();
  if (nginx) {
    const root = `${workDir}/www`;
    await Deno.mkdir(root, { recursive: true });
    await writeBenchFiles(root, bulkBytes || BYTES_PER_MIB, [DOWNLOAD_BYTES]);
    httpPort = (await startNginx(children, nginx, `${workDir}/nginx`, root)).port;
    downloadPath = `/pattern-${DOWNLOAD_BYTES}.bin`;
    bulkPath = `/bulk-${bulkBytes || BYTES_PER_MIB}.bin`;
  }
  const chain = async (quic: "auto" | "never", tls: "auto" | "never" = "auto"): Promise<Path> => {
    const inspect = profileDir ? { proxy: freePort(), exit: freePort() } : undefined;
    const exit = children.adopt(
      await startExit({
        egress: { allow_cidrs: ["127.0.0.1/32"] },
        limits: { max_sessions: SESSION_LIMIT, max_sessions_per_peer: SESSION_LIMIT },
        quic,
        tls,
      }, inspect ? { denoFlags: ["-A", inspectFlag(inspect.exit)] } : {}),
      `exit (quic: ${quic}, tls: ${tls})`,
    );
    const socksPort = freePort();
    const proxy = children.adopt(
      await startProxy(
        { servers: [{ port: socksPort, destination_peers: [exit.address] }], quic, tls },
        inspect ? { denoFlags: ["-A", inspectFlag(inspect.proxy)] } : {},
      ),
      `proxy (quic: ${quic}, tls: ${tls})`,
    );
    const name = quic === "never"
      ? "chain over libp2p"
      : tls === "never"
      ? "chain over QUIC streams"
      : "chain over TLS";
    return {
      name,
      socksPort,
      pids: [proxy.child.pid, exit.child.pid],
      ...(inspect ? { inspect } : {}),
    };
  };
  const paths = [await chain("auto")];
  if (values.quic) paths.push(await chain("auto", "never"));
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
      let bulk = "";
      if (bulkBytes > 0) {
        const bulkCpu = await cpu(path);
        const { seconds } = await curlDownload(
          { socksPort: path.socksPort },
          httpPort,
          bulkBytes,
          bulkPath,
        );
        const perGib = ((await cpu(path)) - bulkCpu) * BYTES_PER_GIB / bulkBytes;
        bulk = `; bulk ${mbPerSecond(bulkBytes, seconds).toFixed(0)} MB/s, CPU ${
          perGib.toFixed(2)
        } s/GiB`;
      }
      console.log(
        `${path.name}, round ${round}: echo median ${median(ms).toFixed(2)} ms, p99 ${
          percentile(ms, 99).toFixed(2)
        } ms, CPU ${echoCpuMs.toFixed(2)} ms/echo; ${concurrent} × 1 MiB ${
          downloads.seconds.toFixed(2)
        } s (${downloads.ok} ok, ${downloads.failed} failed), CPU ${
          downloadCpuSeconds.toFixed(2)
        } s${bulk}`,
      );
    }
  }
  console.log(`load average after: ${(await loadAverage()).join(" ")}`);
  if (profileDir) {
    await Deno.mkdir(profileDir, { recursive: true });
    for (const path of paths) {
      if (!path.inspect) continue;
      const slug = path.name.replaceAll(" ", "-");
      const echoRun = () => runNative(native, ["echo", path.socksPort, ports.echo, echoes]);
      const downloadRun = () =>
        runNative(native, [
          "download",
          path.socksPort,
          httpPort,
          downloadPath,
          concurrent,
          DOWNLOAD_BYTES,
          0,
        ]);
      for (const [phase, work] of [["echo", echoRun], ["download", downloadRun]] as const) {
        const profiles = await profiled(path.inspect, work);
        for (const [role, profile] of Object.entries(profiles)) {
          const file = `${profileDir}/${slug}-${phase}-${role}.cpuprofile`;
          await Deno.writeTextFile(file, JSON.stringify(profile));
          const summary = summarize(profile);
          console.log(`profile ${path.name} ${phase} ${role} → ${file}`);
          for (const spot of summary.byPackage.slice(0, 10)) {
            console.log(`  ${spot.selfPercent.toFixed(1).padStart(5)} %  ${spot.name}`);
          }
        }
      }
    }
  }
} finally {
  await children.stopAll();
  await Deno.remove(workDir, { recursive: true }).catch(() => {});
}
Deno.exit(0);
