/**
 * The transports side by side in one run (README, "Performance"; issue "A data plane at
 * shadowsocks speed"): raw TCP, a bare libp2p stream, a bare QUIC stream, the chain over libp2p
 * streams, the chain over QUIC streams, the chain over TLS connections (the default), and
 * shadowsocks-libev (ss-local → ss-server, two hops like proxy →
 * exit) when it is installed. Each path gets the same measurements:
 *
 * - bulk: a socks5h download with curl (best of the rounds), and the CPU seconds its two hops
 *   spent per GiB;
 * - latency: new connection + CONNECT + 1-byte echo, median and p99;
 * - concurrency: N × 1 MiB downloads at once, byte-exact, wall time;
 * - many sessions: M sessions held open at once (all connected before any request), and the
 *   highest RSS each hop reached meanwhile (sampled, not the lifetime peak).
 *
 * The latency and concurrency clients are native (`c/socks_bench.c`, compiled here with the
 * machine's cc) so that they do not compete with the measured processes for the JavaScript
 * event loop; without a C compiler the JavaScript clients stand in, and the table says so.
 * nginx (when installed) is the HTTP destination for the same reason.
 *
 * @module
 */
import { freePort, type NodeProcess, startExit, startProxy } from "../cluster.ts";
import type { Children, Helper } from "./children.ts";
import { concurrentDownloads, connectAndEcho, connectAndEchoTimed, type Route } from "./clients.ts";
import { nginxPath, startNginx, writeBenchFiles } from "./nginx.ts";
import { patternBytes } from "./pattern.ts";
import { cpuSeconds, memory } from "./procstat.ts";
import { fixed, type Row } from "./report.ts";
import { SHADOWSOCKS_CIPHER, shadowsocksMissing, startShadowsocks, which } from "./shadowsocks.ts";
import {
  BYTES_PER_GIB,
  BYTES_PER_MB,
  BYTES_PER_MIB,
  mbPerSecond,
  median,
  percentile,
} from "./stats.ts";

const RAW_PEER_SCRIPT = new URL("./raw_peer.ts", import.meta.url).pathname;
const QUIC_PEER_SCRIPT = new URL("./quic_peer.ts", import.meta.url).pathname;
const SERVERS_SCRIPT = new URL("./servers.ts", import.meta.url).pathname;
const NATIVE_CLIENT_SOURCE = new URL("./c/socks_bench.c", import.meta.url).pathname;

/** The targets of the chain (issue 13), for the default (TLS) and the QUIC streams chain. */
export const QUIC_TARGETS = {
  /** Bulk MB/s as a share of shadowsocks-libev's in the same run. */
  vsShadowsocksMin: 0.8,
  echoMedianMaxMs: 0.8,
  echoP99MaxMs: 2,
  concurrentMaxSeconds: 1.0,
  peakRssPerHopMaxMB: 150,
} as const;

const HELPER_READY_MS = 30_000;
const WARMUP_BYTES = 16 * BYTES_PER_MIB;
const WARMUP_ECHOES = 20;
/** How often the many-session run samples the hops' RSS. */
const RSS_SAMPLE_MS = 25;
/** Sessions the exits may hold: above the many-session run. */
const SESSION_LIMIT = 4096;

/** What the comparison is asked to do (from the bench's own options). */
export interface CompareOptions {
  readonly sizeBytes: number;
  readonly rounds: number;
  readonly echoes: number;
  readonly concurrent: number;
  readonly concurrentBytes: number;
  readonly many: number;
  readonly manyBytes: number;
}

/** One measured path. */
interface Path {
  readonly name: string;
  /** The SOCKS port (chains), or undefined (bare streams, raw TCP). */
  readonly socksPort?: number;
  /** The two hops' pids (proxy side, exit side), for CPU and RSS. */
  readonly hops?: { readonly near: number; readonly far: number };
  /** A bare stream helper (bulk only). */
  readonly fetcher?: { readonly helper: Helper; readonly server: number };
}

/** Everything measured for one path. */
interface PathResult {
  name: string;
  bulkMbps?: number;
  cpuSecondsPerGiB?: number;
  echo?: { medianMs: number; p99Ms: number };
  concurrent?: { seconds: number; ok: number; failed: number };
  many?: { seconds: number; ok: number; failed: number; peakRssMB?: { near: number; far: number } };
}

/** The comparison's output. */
export interface Comparison {
  readonly notes: readonly string[];
  readonly results: readonly PathResult[];
  readonly table: string;
  readonly targetRows: readonly Row[];
}

/** The native client, compiled into `workDir`; undefined (and a note) without a C compiler. */
async function compileNativeClient(workDir: string, notes: string[]) {
  const compiler = await which("cc") ?? await which("gcc");
  if (!compiler) {
    notes.push("no C compiler (cc): latency and concurrency use the JavaScript clients");
    return undefined;
  }
  const out = `${workDir}/socks_bench`;
  const result = await new Deno.Command(compiler, {
    args: ["-O2", "-pthread", "-o", out, NATIVE_CLIENT_SOURCE],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    notes.push(
      `the C client did not compile (${
        new TextDecoder().decode(result.stderr).trim().slice(0, 200)
      }): JavaScript clients instead`,
    );
    return undefined;
  }
  return out;
}

async function runNative(binary: string, args: readonly (string | number)[]): Promise<unknown> {
  const output = await new Deno.Command(binary, {
    args: args.map(String),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `socks_bench ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr).trim()}`,
    );
  }
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

async function curlSeconds(socksPort: number | undefined, url: string, bytes: number) {
  const args = [
    "--silent",
    "--show-error",
    "--output",
    "/dev/null",
    "--max-time",
    "600",
    "--write-out",
    "%{http_code} %{size_download} %{time_total}",
    ...(socksPort ? ["--socks5-hostname", `127.0.0.1:${socksPort}`] : []),
    url,
  ];
  const output = await new Deno.Command("curl", { args, stdout: "piped", stderr: "piped" })
    .output();
  const [code, size, total] = new TextDecoder().decode(output.stdout).trim().split(" ").map(
    Number,
  );
  if (!output.success || code !== 200 || size !== bytes) {
    throw new Error(
      `curl ${args.join(" ")}: exit ${output.code}, ${code} ${size}: ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
  return total!;
}

/** Runs `work` while sampling the VmRSS of `pids`; returns its result and each pid's highest. */
async function withRssSampling<T>(
  pids: readonly number[],
  work: () => Promise<T>,
): Promise<{ result: T; peaks: number[] }> {
  const peaks = pids.map(() => 0);
  let running = true;
  const sampler = (async () => {
    while (running) {
      for (const [i, pid] of pids.entries()) {
        const rss = (await memory(pid).catch(() => ({ rssBytes: 0 }))).rssBytes;
        peaks[i] = Math.max(peaks[i]!, rss);
      }
      await new Promise((resolve) => setTimeout(resolve, RSS_SAMPLE_MS));
    }
  })();
  try {
    return { result: await work(), peaks };
  } finally {
    running = false;
    await sampler;
  }
}

/** Starts every path; stopped with `children`. */
async function startPaths(children: Children, ticks: number, notes: string[]) {
  const chain = async (
    quic: "never" | "auto",
    tls: "never" | "auto",
    label: string,
  ): Promise<Path> => {
    const exit = children.adopt(
      await startExit({
        egress: { allow_cidrs: ["127.0.0.1/32"] },
        limits: { max_sessions: SESSION_LIMIT, max_sessions_per_peer: SESSION_LIMIT },
        quic,
        tls,
      }, { logLevel: "info" }),
      `exit (${label})`,
    );
    const socksPort = freePort();
    const proxy: NodeProcess = children.adopt(
      await startProxy(
        { servers: [{ port: socksPort, destination_peers: [exit.address] }], quic, tls },
        { logLevel: "info" },
      ),
      `proxy (${label})`,
    );
    return { name: label, socksPort, hops: { near: proxy.child.pid, far: exit.child.pid } };
  };
  const paths = {
    libp2pChain: await chain("never", "never", "chain over libp2p"),
    quicChain: await chain("auto", "never", "chain over QUIC streams"),
    tlsChain: await chain("auto", "auto", "chain over TLS (the default)"),
  };
  const rawServe = children.spawnHelper("raw libp2p server", RAW_PEER_SCRIPT, ["serve"]);
  const { address } = await rawServe.nextJson<{ address: string }>(HELPER_READY_MS);
  const rawFetch = children.spawnHelper("raw libp2p client", RAW_PEER_SCRIPT, [
    "fetch",
    address,
    String(ticks),
  ], { stdin: true });
  await rawFetch.nextJson(HELPER_READY_MS);
  const quicServe = children.spawnHelper("bare QUIC server", QUIC_PEER_SCRIPT, ["serve"]);
  const quicServer = await quicServe.nextJson<{ port: number; certPem: string }>(HELPER_READY_MS);
  const quicFetch = children.spawnHelper("bare QUIC client", QUIC_PEER_SCRIPT, [
    "fetch",
    String(quicServer.port),
    JSON.stringify(quicServer.certPem),
    String(ticks),
  ], { stdin: true });
  await quicFetch.nextJson(HELPER_READY_MS);
  const missing = await shadowsocksMissing();
  let shadowsocks: Path | undefined;
  if (missing) notes.push(`shadowsocks-libev skipped: ${missing}`);
  else {
    const ss = await startShadowsocks(children);
    shadowsocks = {
      name: `shadowsocks-libev (${SHADOWSOCKS_CIPHER})`,
      socksPort: ss.socksPort,
      hops: { near: ss.pids.local, far: ss.pids.server },
    };
  }
  return {
    direct: { name: "raw TCP (no proxy)" } as Path,
    bareLibp2p: {
      name: "bare libp2p stream",
      fetcher: { helper: rawFetch, server: rawServe.pid },
    } as Path,
    bareQuic: {
      name: "bare QUIC stream",
      fetcher: { helper: quicFetch, server: quicServe.pid },
    } as Path,
    ...paths,
    ...(shadowsocks ? { shadowsocks } : {}),
  };
}

/**
 * Runs the comparison. `workDir` is a scratch folder (the native client, nginx's files).
 */
export async function compareTransports(
  children: Children,
  ticks: number,
  workDir: string,
  options: CompareOptions,
  log: (line: string) => void,
): Promise<Comparison> {
  const notes: string[] = [];
  const native = await compileNativeClient(workDir, notes);
  const servers = children.spawnHelper("compare servers", SERVERS_SCRIPT, []);
  const ports = await servers.nextJson<{ http: number; echo: number }>(HELPER_READY_MS);
  const nginx = await nginxPath();
  const sizes = [options.concurrentBytes, options.manyBytes];
  let httpPort = ports.http;
  let bulkPath = (bytes: number) => `/bytes/${bytes}`;
  let patternPath = (bytes: number) => `/pattern/${bytes}`;
  if (nginx) {
    const root = `${workDir}/www`;
    await Deno.mkdir(root, { recursive: true });
    log(`compare: writing nginx's files (${(options.sizeBytes / BYTES_PER_MIB).toFixed(0)} MiB)`);
    await writeBenchFiles(root, options.sizeBytes, sizes);
    await writeBenchFiles(root, WARMUP_BYTES, []);
    httpPort = (await startNginx(children, nginx, `${workDir}/nginx`, root)).port;
    bulkPath = (bytes) => `/bulk-${bytes}.bin`;
    patternPath = (bytes) => `/pattern-${bytes}.bin`;
  } else {
    notes.push("nginx not found (apt-get install nginx-light): the Deno destination serves");
  }
  log("compare: starting the chains (libp2p, QUIC streams, TLS), the bare peers and shadowsocks");
  const paths = await startPaths(children, ticks, notes);
  const all = Object.values(paths) as Path[];
  const proxied = all.filter((path) => path.socksPort !== undefined);
  for (const path of proxied) await connectAndEcho({ socksPort: path.socksPort! }, ports.echo);
  const url = (path: string) => `http://127.0.0.1:${httpPort}${path}`;
  const results = new Map<Path, PathResult>(all.map((path) => [path, { name: path.name }]));

  // Bulk: every path in each round, so drift on a shared machine hits all of them alike.
  const bulkOnce = async (path: Path, bytes: number) => {
    const hops = path.hops ??
      (path.fetcher ? { near: path.fetcher.helper.pid, far: path.fetcher.server } : undefined);
    const before = hops && [await cpuSeconds(hops.near, ticks), await cpuSeconds(hops.far, ticks)];
    let seconds: number;
    if (path.fetcher) {
      await path.fetcher.helper.send(`raw ${bytes}`);
      const answer = await path.fetcher.helper.nextJson<{ bytes: number; seconds: number }>(
        600_000,
      );
      if (answer.bytes !== bytes) throw new Error(`${path.name} moved ${answer.bytes} bytes.`);
      seconds = answer.seconds;
    } else {
      seconds = await curlSeconds(path.socksPort, url(bulkPath(bytes)), bytes);
    }
    const after = hops && [await cpuSeconds(hops.near, ticks), await cpuSeconds(hops.far, ticks)];
    const cpu = before && after ? after[0]! - before[0]! + after[1]! - before[1]! : undefined;
    return { mbps: mbPerSecond(bytes, seconds), cpu };
  };
  for (const path of all) await bulkOnce(path, WARMUP_BYTES);
  const cpuTotals = new Map<Path, number>();
  for (let round = 1; round <= options.rounds; round++) {
    for (const path of all) {
      log(`compare: bulk round ${round}/${options.rounds}: ${path.name}`);
      const { mbps, cpu } = await bulkOnce(path, options.sizeBytes);
      const result = results.get(path)!;
      result.bulkMbps = Math.max(result.bulkMbps ?? 0, mbps);
      if (cpu !== undefined) cpuTotals.set(path, (cpuTotals.get(path) ?? 0) + cpu);
    }
  }
  for (const [path, cpu] of cpuTotals) {
    results.get(path)!.cpuSecondsPerGiB = cpu /
      ((options.sizeBytes * options.rounds) / BYTES_PER_GIB);
  }

  // Latency, concurrency, many sessions: raw TCP and the proxies.
  const measured = [paths.direct, ...proxied];
  for (const path of measured) {
    const route: Route = path.socksPort ? { socksPort: path.socksPort } : { direct: true };
    log(`compare: ${options.echoes} × CONNECT + 1-byte echo: ${path.name}`);
    let samplesMs: number[];
    if (native) {
      await runNative(native, ["echo", path.socksPort ?? 0, ports.echo, WARMUP_ECHOES]);
      const { samplesUs } = await runNative(native, [
        "echo",
        path.socksPort ?? 0,
        ports.echo,
        options.echoes,
      ]) as { samplesUs: number[] };
      samplesMs = samplesUs.map((us) => us / 1000);
    } else {
      for (let i = 0; i < WARMUP_ECHOES; i++) await connectAndEcho(route, ports.echo);
      samplesMs = [];
      for (let i = 0; i < options.echoes; i++) {
        samplesMs.push((await connectAndEchoTimed(route, ports.echo)).totalMs);
      }
    }
    results.get(path)!.echo = { medianMs: median(samplesMs), p99Ms: percentile(samplesMs, 99) };

    log(`compare: ${options.concurrent} × concurrent downloads: ${path.name}`);
    results.get(path)!.concurrent = await downloads(
      path,
      options.concurrent,
      options.concurrentBytes,
      false,
    );
    log(`compare: ${options.many} sessions held open at once: ${path.name}`);
    const sampled = await withRssSampling(
      path.hops ? [path.hops.near, path.hops.far] : [],
      () => downloads(path, options.many, options.manyBytes, true),
    );
    results.get(path)!.many = {
      ...sampled.result,
      ...(path.hops
        ? {
          peakRssMB: {
            near: sampled.peaks[0]! / BYTES_PER_MB,
            far: sampled.peaks[1]! / BYTES_PER_MB,
          },
        }
        : {}),
    };
  }

  async function downloads(path: Path, sessions: number, bytes: number, barrier: boolean) {
    if (native) {
      return await runNative(native, [
        "download",
        path.socksPort ?? 0,
        httpPort,
        patternPath(bytes),
        sessions,
        bytes,
        barrier ? 1 : 0,
      ]) as { ok: number; failed: number; seconds: number };
    }
    const result = await concurrentDownloads({
      route: path.socksPort ? { socksPort: path.socksPort } : { direct: true },
      httpPort: ports.http,
      sessions,
      bytesEach: bytes,
      expected: patternBytes(bytes),
      barrier,
      timeoutMs: 120_000,
    });
    return { ok: result.succeeded, failed: result.failed, seconds: result.seconds };
  }

  const list = [...results.values()];
  const byName = (path: Path | undefined) => path && results.get(path);
  return {
    notes,
    results: list,
    table: comparisonTable(list, byName(paths.shadowsocks), options),
    targetRows: [
      ...targetRows(byName(paths.tlsChain)!, byName(paths.shadowsocks), options),
      ...targetRows(byName(paths.quicChain)!, byName(paths.shadowsocks), options),
    ],
  };
}

function comparisonTable(
  results: readonly PathResult[],
  shadowsocks: PathResult | undefined,
  options: CompareOptions,
): string {
  const header = [
    "path",
    `bulk ${(options.sizeBytes / BYTES_PER_MIB).toFixed(0)} MiB (MB/s)`,
    "× shadowsocks",
    "CPU s/GiB (both ends)",
    "CONNECT + echo median / p99 (ms)",
    `${options.concurrent} × ${(options.concurrentBytes / BYTES_PER_MIB).toFixed(2)} MiB (s)`,
    `${options.many} held open (ok, s)`,
    "peak RSS per hop at that (MB)",
  ];
  const rows = results.map((r) => [
    r.name,
    fixed(r.bulkMbps, 0),
    shadowsocks?.bulkMbps && r.bulkMbps ? fixed(r.bulkMbps / shadowsocks.bulkMbps, 2) : "",
    fixed(r.cpuSecondsPerGiB, 2),
    r.echo ? `${fixed(r.echo.medianMs, 2)} / ${fixed(r.echo.p99Ms, 2)}` : "",
    r.concurrent ? `${fixed(r.concurrent.seconds, 2)} (${r.concurrent.ok} ok)` : "",
    r.many ? `${r.many.ok}/${r.many.ok + r.many.failed}, ${fixed(r.many.seconds, 2)}` : "",
    r.many?.peakRssMB
      ? `${fixed(r.many.peakRssMB.near, 0)} / ${fixed(r.many.peakRssMB.far, 0)}`
      : "",
  ]);
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((cells) => `| ${cells.join(" | ")} |`),
  ].join("\n");
}

function targetRows(
  quic: PathResult,
  shadowsocks: PathResult | undefined,
  options: CompareOptions,
): Row[] {
  const ratio = shadowsocks?.bulkMbps && quic.bulkMbps
    ? quic.bulkMbps / shadowsocks.bulkMbps
    : undefined;
  const rss = quic.many?.peakRssMB;
  return [
    {
      measurement: `${quic.name}: bulk vs shadowsocks-libev`,
      result: `${fixed(quic.bulkMbps, 0)} MB/s`,
      baseline: shadowsocks ? `shadowsocks ${fixed(shadowsocks.bulkMbps, 0)} MB/s` : "skipped",
      ratio: fixed(ratio, 2),
      target: `≥ ${QUIC_TARGETS.vsShadowsocksMin}`,
      ...(ratio === undefined ? {} : { met: ratio >= QUIC_TARGETS.vsShadowsocksMin }),
    },
    {
      measurement: `${quic.name}: CONNECT + 1-byte echo, median`,
      result: `${fixed(quic.echo?.medianMs, 2)} ms`,
      baseline: shadowsocks?.echo ? `shadowsocks ${fixed(shadowsocks.echo.medianMs, 2)} ms` : "",
      ratio: "",
      target: `≤ ${QUIC_TARGETS.echoMedianMaxMs} ms`,
      met: (quic.echo?.medianMs ?? Infinity) <= QUIC_TARGETS.echoMedianMaxMs,
    },
    {
      measurement: `${quic.name}: CONNECT + 1-byte echo, p99`,
      result: `${fixed(quic.echo?.p99Ms, 2)} ms`,
      baseline: shadowsocks?.echo ? `shadowsocks ${fixed(shadowsocks.echo.p99Ms, 2)} ms` : "",
      ratio: "",
      target: `≤ ${QUIC_TARGETS.echoP99MaxMs} ms`,
      met: (quic.echo?.p99Ms ?? Infinity) <= QUIC_TARGETS.echoP99MaxMs,
    },
    {
      measurement: `${quic.name}: ${options.concurrent} × ${
        (options.concurrentBytes / BYTES_PER_MIB).toFixed(2)
      } MiB concurrent`,
      result: `${fixed(quic.concurrent?.seconds, 2)} s (${quic.concurrent?.ok ?? 0} ok)`,
      baseline: shadowsocks?.concurrent
        ? `shadowsocks ${fixed(shadowsocks.concurrent.seconds, 2)} s`
        : "",
      ratio: "",
      target: `≤ ${QUIC_TARGETS.concurrentMaxSeconds} s, all succeed`,
      met: (quic.concurrent?.seconds ?? Infinity) <= QUIC_TARGETS.concurrentMaxSeconds &&
        quic.concurrent?.failed === 0,
    },
    {
      measurement: `${quic.name}: peak RSS per hop, ${options.many} sessions open`,
      result: rss ? `proxy ${fixed(rss.near, 0)} MB, exit ${fixed(rss.far, 0)} MB` : "n/a",
      baseline: shadowsocks?.many?.peakRssMB
        ? `shadowsocks ${fixed(shadowsocks.many.peakRssMB.near, 0)} / ${
          fixed(shadowsocks.many.peakRssMB.far, 0)
        } MB`
        : "",
      ratio: "",
      target: `≤ ${QUIC_TARGETS.peakRssPerHopMaxMB} MB`,
      met: rss !== undefined && Math.max(rss.near, rss.far) <= QUIC_TARGETS.peakRssPerHopMaxMB,
    },
    {
      measurement: `${quic.name}: CPU seconds per GiB, proxy + exit`,
      result: `${fixed(quic.cpuSecondsPerGiB, 2)} s`,
      baseline: shadowsocks?.cpuSecondsPerGiB !== undefined
        ? `shadowsocks ${fixed(shadowsocks.cpuSecondsPerGiB, 2)} s`
        : "",
      ratio: shadowsocks?.cpuSecondsPerGiB
        ? fixed((quic.cpuSecondsPerGiB ?? NaN) / shadowsocks.cpuSecondsPerGiB, 2)
        : "",
      target: "",
    },
  ];
}

if (import.meta.main) {
  // `deno run -A scripts/bench/compare.ts [--quick]`: the comparison alone.
  const { Children } = await import("./children.ts");
  const { clockTicksPerSecond } = await import("./procstat.ts");
  const quick = Deno.args.includes("--quick");
  const children = new Children();
  children.installSignalHandlers();
  const workDir = await Deno.makeTempDir({ prefix: "p2proxy-compare-" });
  try {
    const comparison = await compareTransports(children, await clockTicksPerSecond(), workDir, {
      sizeBytes: (quick ? 64 : 1024) * BYTES_PER_MIB,
      rounds: quick ? 1 : 2,
      echoes: quick ? 200 : 1000,
      concurrent: quick ? 50 : 200,
      concurrentBytes: BYTES_PER_MIB,
      many: quick ? 200 : 1000,
      manyBytes: 256 * 1024,
    }, (line) => console.error(`[compare] ${line}`));
    console.log(comparison.table);
    for (const note of comparison.notes) console.log(`- ${note}`);
    console.log(JSON.stringify(comparison.results, null, 2));
  } finally {
    await children.stopAll();
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
  Deno.exit(0);
}
