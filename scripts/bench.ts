/**
 * `deno task bench` (README, "Performance"): measures the data plane on loopback, every
 * figure next to a baseline measured in the same run, prints a Markdown
 * table and writes the full results as JSON.
 *
 * Processes: the destination (HTTP + echo, `scripts/bench/servers.ts`), an
 * exit and a proxy (`scripts/cluster.ts`, real `p2proxy` processes), two raw
 * libp2p peers (`scripts/bench/raw_peer.ts`), curl, and this script as the
 * SOCKS client. All of them are stopped at the end, on error and on Ctrl-C.
 *
 * Usage: deno task bench [--quick] [--size 1GiB] [--rounds 2] [--out .bench/latest.json]
 *        [--echoes 1000] [--concurrent 200] [--concurrent-size 1MiB]
 *        [--many 1000] [--many-size 256KiB] [--startups 3] [--profile] [--no-compare]
 *
 * After its own phases the bench runs the transports side by side
 * (`scripts/bench/compare.ts`: raw TCP, bare libp2p and QUIC streams, both
 * chains, shadowsocks-libev when installed) with the same sizes and counts,
 * and prints that table too; `--no-compare` skips it.
 *
 * `--profile` starts the proxy, the exit and the raw peers under the V8
 * inspector and, after the measured rounds, profiles one more bulk transfer
 * on each path and 300 sequential CONNECTs: summaries go into the JSON,
 * `.cpuprofile` files (Chrome DevTools opens them) next to it.
 *
 * The exit's session limits are raised above the 1000-session run (its
 * defaults allow 256 sessions per proxy peer) and its egress policy allows
 * 127.0.0.1/32 only.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname } from "node:path";
import { freePort, type NodeProcess, startExit, startProxy } from "./cluster.ts";
import { Children, type Helper } from "./bench/children.ts";
import { compareTransports, type Comparison } from "./bench/compare.ts";
import {
  concurrentDownloads,
  type ConcurrentResult,
  connectAndEcho,
  connectAndEchoTimed,
  curlDownload,
  type EchoTiming,
  type Route,
} from "./bench/clients.ts";
import { patternBytes } from "./bench/pattern.ts";
import {
  type CpuProfile,
  inspectFlag,
  InspectorSession,
  type ProfileSummary,
  summarize as summarizeProfile,
} from "./bench/cpu_profile.ts";
import {
  clockTicksPerSecond,
  cpuSeconds,
  fdCount,
  loadAverage,
  machineInfo,
  memory,
  type MemoryReading,
} from "./bench/procstat.ts";
import { fixed, machineLine, markdownTable, type Row, TARGETS } from "./bench/report.ts";
import { measureStartup, type StartupSample } from "./bench/startup.ts";
import {
  BYTES_PER_GIB,
  BYTES_PER_MB,
  BYTES_PER_MIB,
  mbPerSecond,
  median,
  parseSize,
  percentile,
} from "./bench/stats.ts";

const SERVERS_SCRIPT = new URL("./bench/servers.ts", import.meta.url).pathname;
const RAW_PEER_SCRIPT = new URL("./bench/raw_peer.ts", import.meta.url).pathname;

/** Bytes moved on every path before measuring (JIT, yamux window growth). */
const WARMUP_BYTES = 16 * BYTES_PER_MIB;

/** Echo round trips before the measured ones (not counted). */
const WARMUP_ECHOES = 20;

/** A helper must say it is ready within this. */
const HELPER_READY_MS = 30_000;

/** Sequential CONNECTs profiled by `--profile`. */
const PROFILED_CONNECTS = 300;

/** Per-session deadline of the concurrency runs. */
const SESSION_TIMEOUT_MS = 120_000;

/** How long sessions may take to be torn down after a run before "left open" counts them. */
const SETTLE_TIMEOUT_MS = 15_000;

/** Sessions the exit and the proxy may hold; above the 1000-session run (defaults: 1024 / 256). */
const BENCH_SESSION_LIMIT = 4096;

interface Options {
  readonly sizeBytes: number;
  readonly rounds: number;
  readonly echoes: number;
  readonly concurrent: number;
  readonly concurrentBytes: number;
  readonly many: number;
  readonly manyBytes: number;
  readonly startups: number;
  readonly out: string;
  readonly quick: boolean;
  /** Attach V8's sampling profiler to proxy, exit and raw peers for extra, unmeasured runs. */
  readonly profile: boolean;
  /** Run the side-by-side comparison of the transports after the bench's own phases. */
  readonly compare: boolean;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      size: { type: "string" },
      rounds: { type: "string" },
      echoes: { type: "string" },
      concurrent: { type: "string" },
      "concurrent-size": { type: "string" },
      many: { type: "string" },
      "many-size": { type: "string" },
      startups: { type: "string" },
      out: { type: "string", default: ".bench/latest.json" },
      profile: { type: "boolean", default: false },
      "no-compare": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "deno task bench [--quick] [--size 1GiB] [--rounds 2] [--out .bench/latest.json]\n" +
        "  [--echoes 1000] [--concurrent 200] [--concurrent-size 1MiB] [--many 1000]\n" +
        "  [--many-size 256KiB] [--startups 3] [--profile] [--no-compare]",
    );
    Deno.exit(0);
  }
  const quick = values.quick ?? false;
  const count = (text: string | undefined, fallback: number, name: string) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`--${name} "${text}" is not a positive integer.`);
    }
    return n;
  };
  return {
    quick,
    sizeBytes: values.size ? parseSize(values.size) : (quick ? 64 : 1024) * BYTES_PER_MIB,
    rounds: count(values.rounds, quick ? 1 : 2, "rounds"),
    echoes: count(values.echoes, quick ? 200 : 1000, "echoes"),
    concurrent: count(values.concurrent, quick ? 50 : 200, "concurrent"),
    concurrentBytes: values["concurrent-size"]
      ? parseSize(values["concurrent-size"])
      : BYTES_PER_MIB,
    many: count(values.many, quick ? 200 : 1000, "many"),
    manyBytes: values["many-size"] ? parseSize(values["many-size"]) : 256 * 1024,
    startups: count(values.startups, quick ? 1 : 3, "startups"),
    out: values.out ?? ".bench/latest.json",
    profile: values.profile ?? false,
    compare: !(values["no-compare"] ?? false),
  };
}

function log(message: string): void {
  console.error(`[bench] ${message}`);
}

/** The running set-up shared by the phases. */
interface Rig {
  readonly children: Children;
  readonly ticks: number;
  readonly servers: Helper;
  readonly ports: { http: number; echo: number; control: number };
  readonly exit: NodeProcess;
  readonly proxy: NodeProcess;
  readonly socksPort: number;
  /** A second port to the same exit with limits configured that the bench never reaches. */
  readonly limitedSocksPort: number;
  readonly rawServe: Helper;
  readonly rawFetch: Helper;
  /** Inspector ports when profiling. */
  readonly inspect?: { proxy: number; exit: number; rawServe: number; rawFetch: number };
  readonly memory: Record<string, { proxy: MemoryReading; exit: MemoryReading }>;
}

async function serverCounters(port: number): Promise<Record<string, number>> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    let text = "";
    const buffer = new Uint8Array(4096);
    const decoder = new TextDecoder();
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    return JSON.parse(text);
  } finally {
    conn.close();
  }
}

function peaksOf(reading: { proxy: MemoryReading; exit: MemoryReading }) {
  return {
    proxy: reading.proxy.peakRssBytes / BYTES_PER_MB,
    exit: reading.exit.peakRssBytes / BYTES_PER_MB,
  };
}

async function recordMemory(rig: Rig, phase: string): Promise<void> {
  rig.memory[phase] = {
    proxy: await memory(rig.proxy.child.pid),
    exit: await memory(rig.exit.child.pid),
  };
}

async function startRig(
  children: Children,
  ticks: number,
  workDir: string,
  profile: boolean,
): Promise<Rig> {
  const inspect = profile
    ? { proxy: freePort(), exit: freePort(), rawServe: freePort(), rawFetch: freePort() }
    : undefined;
  const flags = (port: number | undefined) => port ? ["-A", inspectFlag(port)] : undefined;
  log("starting the destination servers, an exit, a proxy and two raw libp2p peers");
  const exitDir = `${workDir}/exit`;
  const proxyDir = `${workDir}/proxy`;
  await Deno.mkdir(exitDir);
  await Deno.mkdir(proxyDir);
  const servers = children.spawnHelper("servers", SERVERS_SCRIPT, []);
  const ports = await servers.nextJson<{ http: number; echo: number; control: number }>(
    HELPER_READY_MS,
  );
  const exit = children.adopt(
    await startExit({
      egress: { allow_cidrs: ["127.0.0.1/32"] },
      limits: { max_sessions: BENCH_SESSION_LIMIT, max_sessions_per_peer: BENCH_SESSION_LIMIT },
    }, { dir: exitDir, ...(inspect ? { denoFlags: flags(inspect.exit) } : {}) }),
    "exit",
  );
  const socksPort = freePort();
  const limitedSocksPort = freePort();
  const proxy = children.adopt(
    await startProxy(
      {
        servers: [
          { port: socksPort, destination_peers: [exit.address] },
          { port: limitedSocksPort, destination_peers: [exit.address], limits: UNREACHED_LIMITS },
        ],
      },
      { dir: proxyDir, ...(inspect ? { denoFlags: flags(inspect.proxy) } : {}) },
    ),
    "proxy",
  );
  const rawServe = children.spawnHelper("raw libp2p server", RAW_PEER_SCRIPT, ["serve"], {
    ...(inspect ? { denoFlags: flags(inspect.rawServe) } : {}),
  });
  const { address } = await rawServe.nextJson<{ address: string }>(HELPER_READY_MS);
  const rawFetch = children.spawnHelper(
    "raw libp2p client",
    RAW_PEER_SCRIPT,
    ["fetch", address, String(ticks)],
    { stdin: true, ...(inspect ? { denoFlags: flags(inspect.rawFetch) } : {}) },
  );
  await rawFetch.nextJson(HELPER_READY_MS);
  const rig: Rig = {
    children,
    ticks,
    servers,
    ports,
    exit,
    proxy,
    socksPort,
    limitedSocksPort,
    rawServe,
    rawFetch,
    ...(inspect ? { inspect } : {}),
    memory: {},
  };
  // The proxy connects to its pinned exit in the background; the first CONNECT waits for it.
  await connectAndEcho({ socksPort }, ports.echo);
  await recordMemory(rig, "started");
  return rig;
}

interface RawFetchResult {
  mode: string;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
}

async function rawTransfer(rig: Rig, mode: "raw" | "adapter", bytes: number) {
  const serverCpu = await cpuSeconds(rig.rawServe.pid, rig.ticks);
  await rig.rawFetch.send(`${mode} ${bytes}`);
  const result = await rig.rawFetch.nextJson<RawFetchResult>(600_000);
  const serverCpuAfter = await cpuSeconds(rig.rawServe.pid, rig.ticks);
  if (result.bytes !== bytes) {
    throw new Error(`The ${mode} stream moved ${result.bytes} of ${bytes} bytes.`);
  }
  return {
    mbps: mbPerSecond(bytes, result.seconds),
    seconds: result.seconds,
    cpuSeconds: { sender: serverCpuAfter - serverCpu, receiver: result.cpuSeconds },
  };
}

/**
 * Limits on the second port that no bench run reaches: what the unlimited path costs once limits
 * are configured (docs/limits.md; the bound is 2 %).
 */
const UNREACHED_LIMITS = {
  rate: "1Tbps",
  connections: 1_000_000,
  quota: { bytes: "1000PB", period: "month" },
};

async function chainTransfer(rig: Rig, bytes: number, socksPort = rig.socksPort) {
  const before = {
    proxy: await cpuSeconds(rig.proxy.child.pid, rig.ticks),
    exit: await cpuSeconds(rig.exit.child.pid, rig.ticks),
  };
  const result = await curlDownload({ socksPort }, rig.ports.http, bytes);
  const after = {
    proxy: await cpuSeconds(rig.proxy.child.pid, rig.ticks),
    exit: await cpuSeconds(rig.exit.child.pid, rig.ticks),
  };
  return {
    mbps: mbPerSecond(bytes, result.seconds),
    seconds: result.seconds,
    cpuSeconds: { proxy: after.proxy - before.proxy, exit: after.exit - before.exit },
  };
}

async function bulkPhase(rig: Rig, options: Options) {
  const bytes = options.sizeBytes;
  log(`bulk: warming up every path with ${WARMUP_BYTES / BYTES_PER_MIB} MiB`);
  await curlDownload({ direct: true }, rig.ports.http, WARMUP_BYTES);
  await rawTransfer(rig, "raw", WARMUP_BYTES);
  await rawTransfer(rig, "adapter", WARMUP_BYTES);
  await chainTransfer(rig, WARMUP_BYTES);

  const samples = {
    direct: [] as number[],
    raw: [] as number[],
    adapter: [] as number[],
    chain: [] as number[],
    chainLimited: [] as number[],
  };
  const cpu = {
    proxy: 0,
    exit: 0,
    rawSender: 0,
    rawReceiver: 0,
    adapterSender: 0,
    adapterReceiver: 0,
  };
  for (let round = 1; round <= options.rounds; round++) {
    const label = `round ${round}/${options.rounds}, ${(bytes / BYTES_PER_MIB).toFixed(0)} MiB`;
    log(`bulk ${label}: direct TCP`);
    const direct = await curlDownload({ direct: true }, rig.ports.http, bytes);
    samples.direct.push(mbPerSecond(bytes, direct.seconds));
    log(`bulk ${label}: raw libp2p stream`);
    const raw = await rawTransfer(rig, "raw", bytes);
    samples.raw.push(raw.mbps);
    cpu.rawSender += raw.cpuSeconds.sender;
    cpu.rawReceiver += raw.cpuSeconds.receiver;
    log(`bulk ${label}: libp2p stream through the DuplexStream adapter`);
    const adapter = await rawTransfer(rig, "adapter", bytes);
    samples.adapter.push(adapter.mbps);
    cpu.adapterSender += adapter.cpuSeconds.sender;
    cpu.adapterReceiver += adapter.cpuSeconds.receiver;
    log(`bulk ${label}: full chain (curl → SOCKS5 → proxy → exit → HTTP, default carrier)`);
    const chain = await chainTransfer(rig, bytes);
    samples.chain.push(chain.mbps);
    cpu.proxy += chain.cpuSeconds.proxy;
    cpu.exit += chain.cpuSeconds.exit;
    log(`bulk ${label}: full chain on the port with limits configured, not reached`);
    const limited = await chainTransfer(rig, bytes, rig.limitedSocksPort);
    samples.chainLimited.push(limited.mbps);
    log(
      `bulk ${label}: direct ${fixed(samples.direct.at(-1), 0)}, raw ${fixed(raw.mbps, 0)}, ` +
        `adapter ${fixed(adapter.mbps, 0)}, chain ${fixed(chain.mbps, 0)}, with limits ` +
        `${fixed(limited.mbps, 0)} MB/s`,
    );
  }
  await recordMemory(rig, "bulk");
  const gib = (bytes * options.rounds) / BYTES_PER_GIB;
  const best = (xs: number[]) => Math.max(...xs);
  return {
    bytes,
    rounds: options.rounds,
    mbps: {
      direct: best(samples.direct),
      raw: best(samples.raw),
      adapter: best(samples.adapter),
      chain: best(samples.chain),
      chainLimited: best(samples.chainLimited),
    },
    samplesMbps: samples,
    cpuSecondsPerGiB: {
      proxy: cpu.proxy / gib,
      exit: cpu.exit / gib,
      proxyPlusExit: (cpu.proxy + cpu.exit) / gib,
      rawBothEnds: (cpu.rawSender + cpu.rawReceiver) / gib,
      adapterBothEnds: (cpu.adapterSender + cpu.adapterReceiver) / gib,
    },
  };
}

async function profiled<T>(
  ports: Record<string, number>,
  work: () => Promise<T>,
): Promise<{ result: T; profiles: Record<string, CpuProfile> }> {
  const sessions = await Promise.all(
    Object.entries(ports).map(async ([name, port]) =>
      [name, await InspectorSession.connect(port)] as const
    ),
  );
  try {
    await Promise.all(sessions.map(([, s]) => s.startProfiling()));
    const result = await work();
    const profiles: Record<string, CpuProfile> = {};
    for (const [name, session] of sessions) profiles[name] = await session.stopProfiling();
    return { result, profiles };
  } finally {
    for (const [, session] of sessions) session.close();
  }
}

/** One more bulk transfer per path with the profiler on; summaries and .cpuprofile files. */
async function profilePhase(rig: Rig, options: Options) {
  const inspect = rig.inspect!;
  const bytes = options.sizeBytes;
  log("profile: one more chain transfer with the V8 profiler on in the proxy and the exit");
  const chain = await profiled(
    { proxy: inspect.proxy, exit: inspect.exit },
    () => chainTransfer(rig, bytes),
  );
  log("profile: one more raw libp2p transfer with the profiler on in both raw peers");
  const raw = await profiled(
    { rawSender: inspect.rawServe, rawReceiver: inspect.rawFetch },
    () => rawTransfer(rig, "raw", bytes),
  );
  log("profile: one more adapter transfer with the profiler on in both raw peers");
  const adapter = await profiled(
    { adapterSender: inspect.rawServe, adapterReceiver: inspect.rawFetch },
    () => rawTransfer(rig, "adapter", bytes),
  );
  log("profile: 300 sequential CONNECT + echo with the profiler on in the proxy and the exit");
  const connects = await profiled(
    { proxyConnects: inspect.proxy, exitConnects: inspect.exit },
    () => echoSamples({ socksPort: rig.socksPort }, rig.ports.echo, PROFILED_CONNECTS),
  );
  const all = { ...chain.profiles, ...raw.profiles, ...adapter.profiles, ...connects.profiles };
  const summaries: Record<string, ProfileSummary> = {};
  const dir = dirname(options.out);
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, profile] of Object.entries(all)) {
    summaries[name] = summarizeProfile(profile);
    const file = `${dir}/profile-${name}.cpuprofile`;
    await Deno.writeTextFile(file, JSON.stringify(profile));
    log(`profile: ${name} → ${file}`);
    for (const spot of summaries[name]!.byPackage.slice(0, 8)) {
      log(`  ${name} ${spot.selfPercent.toFixed(1).padStart(5)} %  ${spot.name}`);
    }
  }
  return {
    throughputWhileProfilingMbps: {
      chain: chain.result.mbps,
      raw: raw.result.mbps,
      adapter: adapter.result.mbps,
    },
    summaries,
  };
}

async function echoSamples(route: Route, echoPort: number, count: number): Promise<EchoTiming[]> {
  for (let i = 0; i < WARMUP_ECHOES; i++) await connectAndEcho(route, echoPort);
  const samples: EchoTiming[] = [];
  for (let i = 0; i < count; i++) samples.push(await connectAndEchoTimed(route, echoPort));
  return samples;
}

function summarize(samples: readonly EchoTiming[]) {
  const pick = (key: keyof EchoTiming) =>
    samples.map((s) => s[key]).filter((x): x is number => x !== undefined);
  const totals = pick("totalMs");
  const steps = (["tcpConnectMs", "greetingMs", "requestMs", "echoMs"] as const)
    .map((key) => [key, median(pick(key))] as const)
    .filter(([, value]) => Number.isFinite(value));
  return {
    medianMs: median(totals),
    p99Ms: percentile(totals, 99),
    ...(steps.length > 0 ? { medianStepsMs: Object.fromEntries(steps) } : {}),
  };
}

/** `count` bare libp2p streams between the raw peers, each opened and used for one echo. */
async function bareStreamEchoes(rig: Rig, count: number): Promise<number[]> {
  await rig.rawFetch.send(`echo ${WARMUP_ECHOES}`);
  await rig.rawFetch.nextJson(HELPER_READY_MS);
  await rig.rawFetch.send(`echo ${count}`);
  const { samplesMs } = await rig.rawFetch.nextJson<{ samplesMs: number[] }>(600_000);
  return samplesMs;
}

async function latencyPhase(rig: Rig, options: Options) {
  log(`latency: ${options.echoes} × (new connection + 1-byte echo), direct`);
  const direct = await echoSamples({ direct: true }, rig.ports.echo, options.echoes);
  log(`latency: ${options.echoes} × (new bare libp2p stream + 1-byte echo) between the raw peers`);
  const bare = await bareStreamEchoes(rig, options.echoes);
  log(`latency: ${options.echoes} × (new SOCKS5 CONNECT + 1-byte echo) through the proxy`);
  const cpuBefore = await roleCpu(rig);
  const socks = await echoSamples({ socksPort: rig.socksPort }, rig.ports.echo, options.echoes);
  const cpuAfter = await roleCpu(rig);
  log(`latency: ${options.echoes} × (new HTTP CONNECT + 1-byte echo) through the same port`);
  const httpConnect = await echoSamples(
    { httpConnectPort: rig.socksPort },
    rig.ports.echo,
    options.echoes,
  );
  await recordMemory(rig, "latency");
  const sessions = options.echoes + WARMUP_ECHOES;
  return {
    count: options.echoes,
    direct: summarize(direct),
    bareStream: { medianMs: median(bare), p99Ms: percentile(bare, 99) },
    socks: summarize(socks),
    httpConnect: summarize(httpConnect),
    /** CPU the proxy and the exit spent per CONNECT + echo (warm-up included in both). */
    cpuMsPerConnect: {
      proxy: ((cpuAfter.proxy - cpuBefore.proxy) * 1000) / sessions,
      exit: ((cpuAfter.exit - cpuBefore.exit) * 1000) / sessions,
    },
  };
}

async function roleCpu(rig: Rig): Promise<{ proxy: number; exit: number }> {
  return {
    proxy: await cpuSeconds(rig.proxy.child.pid, rig.ticks),
    exit: await cpuSeconds(rig.exit.child.pid, rig.ticks),
  };
}

/** Waits until the destination has no open connection and the fd counts are back near their start. */
async function settle(
  rig: Rig,
  fdsBefore: { proxy: number; exit: number },
): Promise<
  { destinationOpen: number; fdsAfter: { proxy: number; exit: number }; settleMs: number }
> {
  const started = performance.now();
  let destinationOpen = 0;
  let fdsAfter = fdsBefore;
  while (true) {
    const counters = await serverCounters(rig.ports.control);
    destinationOpen = (counters.httpOpen ?? 0) + (counters.echoOpen ?? 0);
    fdsAfter = {
      proxy: (await fdCount(rig.proxy.child.pid)).total,
      exit: (await fdCount(rig.exit.child.pid)).total,
    };
    const settled = destinationOpen === 0 && fdsAfter.proxy <= fdsBefore.proxy &&
      fdsAfter.exit <= fdsBefore.exit;
    if (settled || performance.now() - started > SETTLE_TIMEOUT_MS) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { destinationOpen, fdsAfter, settleMs: performance.now() - started };
}

async function concurrencyRun(
  rig: Rig,
  route: Route,
  sessions: number,
  bytesEach: number,
  barrier: boolean,
) {
  const fdsBefore = {
    proxy: (await fdCount(rig.proxy.child.pid)).total,
    exit: (await fdCount(rig.exit.child.pid)).total,
  };
  let peakFds: { proxy: number; exit: number } | undefined;
  const result: ConcurrentResult = await concurrentDownloads({
    route,
    httpPort: rig.ports.http,
    sessions,
    bytesEach,
    expected: patternBytes(bytesEach),
    barrier,
    timeoutMs: SESSION_TIMEOUT_MS,
    onAllConnected: async () => {
      peakFds = {
        proxy: (await fdCount(rig.proxy.child.pid)).total,
        exit: (await fdCount(rig.exit.child.pid)).total,
      };
    },
  });
  const settled = await settle(rig, fdsBefore);
  const stillWorks = await connectAndEcho({ socksPort: rig.socksPort }, rig.ports.echo)
    .then(() => true, () => false);
  return {
    ...result,
    fdsBefore,
    ...(peakFds ? { fdsWhileAllOpen: peakFds } : {}),
    fdsAfter: settled.fdsAfter,
    destinationConnectionsLeftOpen: settled.destinationOpen,
    settleMs: settled.settleMs,
    newSessionWorksAfter: stillWorks,
  };
}

async function concurrencyPhase(rig: Rig, options: Options) {
  const mib = (b: number) => `${(b / BYTES_PER_MIB).toFixed(b % BYTES_PER_MIB ? 2 : 0)} MiB`;
  log(`concurrency: ${options.concurrent} × ${mib(options.concurrentBytes)} direct (baseline)`);
  const direct = await concurrencyRun(
    rig,
    { direct: true },
    options.concurrent,
    options.concurrentBytes,
    false,
  );
  log(`concurrency: ${options.concurrent} × ${mib(options.concurrentBytes)} through the proxy`);
  const socks = await concurrencyRun(
    rig,
    { socksPort: rig.socksPort },
    options.concurrent,
    options.concurrentBytes,
    false,
  );
  log(`concurrency: ${options.many} simultaneous × ${mib(options.manyBytes)} direct (baseline)`);
  const manyDirect = await concurrencyRun(
    rig,
    { direct: true },
    options.many,
    options.manyBytes,
    true,
  );
  log(`concurrency: ${options.many} simultaneous × ${mib(options.manyBytes)} through the proxy`);
  const many = await concurrencyRun(
    rig,
    { socksPort: rig.socksPort },
    options.many,
    options.manyBytes,
    true,
  );
  await recordMemory(rig, "concurrency");
  return { direct, socks, manyDirect, many };
}

async function startupPhase(rig: Rig, options: Options) {
  const samples: StartupSample[] = [];
  for (let i = 1; i <= options.startups; i++) {
    log(`startup ${i}/${options.startups}: a new proxy pinned to the running exit`);
    samples.push(await measureStartup(rig.children, rig.exit.address, rig.ports.echo));
  }
  return {
    samples,
    medianListeningMs: median(samples.map((s) => s.listeningMs)),
    medianConnectedMs: median(samples.map((s) => s.connectedMs)),
  };
}

type Results = {
  bulk: Awaited<ReturnType<typeof bulkPhase>>;
  latency: Awaited<ReturnType<typeof latencyPhase>>;
  concurrency: Awaited<ReturnType<typeof concurrencyPhase>>;
  startup: Awaited<ReturnType<typeof startupPhase>>;
  peakRssMB: {
    proxy: number;
    exit: number;
    /** VmHWM once started and exit-connected (nothing relayed yet). */
    atStart: { proxy: number; exit: number };
    /** VmHWM after the bulk phase (before the many-session runs). */
    afterBulk: { proxy: number; exit: number };
    /** The raw libp2p peers' VmHWM at the end, for comparison. */
    rawPeers: { sender: number; receiver: number };
  };
};

function stepsText(steps: Record<string, number> | undefined): string {
  if (!steps) return "n/a";
  const names: Record<string, string> = {
    tcpConnectMs: "TCP connect",
    greetingMs: "greeting",
    requestMs: "CONNECT request → reply",
    echoMs: "1-byte echo",
  };
  return Object.entries(steps).map(([key, ms]) => `${names[key] ?? key} ${fixed(ms, 2)}`)
    .join(", ") + " ms";
}

function rowsOf(results: Results, options: Options): Row[] {
  const { bulk, latency, concurrency, startup, peakRssMB } = results;
  const size = `${fixed(bulk.bytes / BYTES_PER_MIB, 0)} MiB`;
  const chainVsRaw = bulk.mbps.chain / bulk.mbps.raw;
  const connectMs = latency.socks.medianStepsMs?.requestMs ?? NaN;
  const c = concurrency;
  const leftOpen = (r: typeof c.socks) =>
    r.destinationConnectionsLeftOpen + Math.max(0, r.fdsAfter.proxy - r.fdsBefore.proxy) +
    Math.max(0, r.fdsAfter.exit - r.fdsBefore.exit);
  const concurrentLabel = `${c.socks.sessions} concurrent × ${
    fixed(options.concurrentBytes / BYTES_PER_MIB, 2)
  } MiB, wall time`;
  return [
    {
      measurement:
        `bulk download ${size}, full chain (curl → SOCKS5 → proxy → exit → HTTP, default carrier)`,
      result: `${fixed(bulk.mbps.chain, 0)} MB/s`,
      baseline: `raw libp2p stream ${fixed(bulk.mbps.raw, 0)} MB/s`,
      ratio: fixed(chainVsRaw, 2),
      target: `≥ ${TARGETS.chainVsRawMin.toFixed(2)}`,
      met: chainVsRaw >= TARGETS.chainVsRawMin,
    },
    {
      measurement: `bulk download ${size}, full chain with limits configured but not reached`,
      result: `${fixed(bulk.mbps.chainLimited, 0)} MB/s`,
      baseline: `the same chain without limits ${fixed(bulk.mbps.chain, 0)} MB/s`,
      ratio: fixed(bulk.mbps.chainLimited / bulk.mbps.chain, 3),
      target: `≥ ${TARGETS.limitsUnreachedMin.toFixed(2)}`,
      met: bulk.mbps.chainLimited / bulk.mbps.chain >= TARGETS.limitsUnreachedMin,
    },
    {
      measurement: `bulk download ${size}, full chain vs direct TCP`,
      result: `${fixed(bulk.mbps.chain, 0)} MB/s`,
      baseline: `direct TCP (curl → HTTP) ${fixed(bulk.mbps.direct, 0)} MB/s`,
      ratio: fixed(bulk.mbps.chain / bulk.mbps.direct, 2),
      target: "",
    },
    {
      measurement:
        `bulk download ${size}, full chain vs a libp2p stream through the plugin's adapter`,
      result: `${fixed(bulk.mbps.chain, 0)} MB/s`,
      baseline: `adapter stream ${fixed(bulk.mbps.adapter, 0)} MB/s`,
      ratio: fixed(bulk.mbps.chain / bulk.mbps.adapter, 2),
      target: "",
    },
    {
      measurement: "CPU per GiB, proxy + exit (chain)",
      result: `${fixed(bulk.cpuSecondsPerGiB.proxyPlusExit, 2)} s (proxy ${
        fixed(bulk.cpuSecondsPerGiB.proxy, 2)
      }, exit ${fixed(bulk.cpuSecondsPerGiB.exit, 2)})`,
      baseline: `raw libp2p, both ends ${fixed(bulk.cpuSecondsPerGiB.rawBothEnds, 2)} s`,
      ratio: fixed(bulk.cpuSecondsPerGiB.proxyPlusExit / bulk.cpuSecondsPerGiB.rawBothEnds, 2),
      target: "",
    },
    {
      measurement: `new SOCKS5 CONNECT + 1-byte echo, median of ${latency.count}`,
      result: `${fixed(latency.socks.medianMs, 2)} ms`,
      baseline: `direct TCP connect + echo ${fixed(latency.direct.medianMs, 2)} ms`,
      ratio: fixed(latency.socks.medianMs / latency.direct.medianMs, 1),
      target: `≤ ${TARGETS.echoMedianMaxMs} ms`,
      met: latency.socks.medianMs <= TARGETS.echoMedianMaxMs,
    },
    {
      measurement: `new HTTP CONNECT + 1-byte echo (same mixed port), median of ${latency.count}`,
      result: `${fixed(latency.httpConnect.medianMs, 2)} ms`,
      baseline: `SOCKS5 ${fixed(latency.socks.medianMs, 2)} ms`,
      ratio: `+${fixed(latency.httpConnect.medianMs - latency.socks.medianMs, 2)} ms`,
      target: "≤ +0.1 ms",
      met: latency.httpConnect.medianMs - latency.socks.medianMs <= 0.1,
    },
    {
      measurement: `new SOCKS5 CONNECT + 1-byte echo, p99 of ${latency.count}`,
      result: `${fixed(latency.socks.p99Ms, 2)} ms`,
      baseline: `direct ${fixed(latency.direct.p99Ms, 2)} ms`,
      ratio: fixed(latency.socks.p99Ms / latency.direct.p99Ms, 1),
      target: "",
    },
    {
      measurement: `SOCKS5 CONNECT request → reply (stream, exit's dial, confirmation), median`,
      result: `${fixed(connectMs, 2)} ms`,
      baseline: `bare libp2p stream open + 1-byte echo ${fixed(latency.bareStream.medianMs, 2)} ms`,
      ratio: `+${fixed(connectMs - latency.bareStream.medianMs, 2)} ms`,
      target: `≤ +${TARGETS.connectOverBareStreamMaxMs} ms`,
      met: connectMs - latency.bareStream.medianMs <= TARGETS.connectOverBareStreamMaxMs,
    },
    {
      measurement: "CPU per CONNECT + echo (proxy + exit)",
      result: `${
        fixed(latency.cpuMsPerConnect.proxy + latency.cpuMsPerConnect.exit, 2)
      } ms (proxy ${fixed(latency.cpuMsPerConnect.proxy, 2)}, exit ${
        fixed(latency.cpuMsPerConnect.exit, 2)
      })`,
      baseline: "",
      ratio: "",
      target: "",
    },
    {
      measurement: "… where the median goes (client side)",
      result: stepsText(latency.socks.medianStepsMs),
      baseline: "",
      ratio: "",
      target: "",
    },
    {
      measurement: concurrentLabel,
      result: `${
        fixed(c.socks.seconds, 2)
      } s (${c.socks.succeeded}/${c.socks.sessions} byte-exact)`,
      baseline: `direct ${
        fixed(c.direct.seconds, 2)
      } s (${c.direct.succeeded}/${c.direct.sessions})`,
      ratio: fixed(c.socks.seconds / c.direct.seconds, 1),
      target: `≤ ${TARGETS.concurrentMaxSeconds} s, all succeed`,
      met: c.socks.seconds <= TARGETS.concurrentMaxSeconds && c.socks.failed === 0,
    },
    {
      measurement: `${c.many.sessions} simultaneous sessions × ${
        fixed(options.manyBytes / 1024, 0)
      } KiB (held open until all connected)`,
      result: `${c.many.succeeded}/${c.many.sessions} byte-exact, ${fixed(c.many.seconds, 2)} s`,
      baseline: `direct ${c.manyDirect.succeeded}/${c.manyDirect.sessions}, ${
        fixed(c.manyDirect.seconds, 2)
      } s`,
      ratio: fixed(c.many.seconds / c.manyDirect.seconds, 1),
      target: "all succeed",
      met: c.many.failed === 0,
    },
    {
      measurement: "left open after the concurrency runs (destination conns + proxy/exit fds)",
      result: String(leftOpen(c.socks) + leftOpen(c.many)),
      baseline: "",
      ratio: "",
      target: "0",
      met: leftOpen(c.socks) + leftOpen(c.many) === 0 && c.many.newSessionWorksAfter,
    },
    ...(["proxy", "exit"] as const).map((role): Row => ({
      measurement: `peak RSS of the ${role} (VmHWM over the whole run)`,
      result: `${fixed(peakRssMB[role], 0)} MB (at start ${
        fixed(peakRssMB.atStart[role], 0)
      }, after bulk ${fixed(peakRssMB.afterBulk[role], 0)})`,
      baseline: `raw libp2p ${role === "proxy" ? "receiver" : "sender"} ${
        fixed(peakRssMB.rawPeers[role === "proxy" ? "receiver" : "sender"], 0)
      } MB`,
      ratio: "",
      target: `≤ ${TARGETS.peakRssMaxMB} MB`,
      met: peakRssMB[role] <= TARGETS.peakRssMaxMB,
    })),
    {
      measurement: "process start → exit-connected proxy (first CONNECT + echo succeeds)",
      result: `${fixed(startup.medianConnectedMs, 0)} ms`,
      baseline: `SOCKS port listening at ${fixed(startup.medianListeningMs, 0)} ms`,
      ratio: "",
      target: "",
    },
  ];
}

async function main(): Promise<void> {
  const options = parseOptions(Deno.args);
  const children = new Children();
  children.installSignalHandlers();
  const ticks = await clockTicksPerSecond();
  const machine = await machineInfo();
  const startedAt = new Date().toISOString();
  const loadAtStart = await loadAverage();
  log(machineLine(machine));
  log(`load average at start: ${loadAtStart.join(" ")}`);
  let rig: Rig | undefined;
  const workDir = await Deno.makeTempDir({ prefix: "p2proxy-bench-" });
  try {
    rig = await startRig(children, ticks, workDir, options.profile);
    const bulk = await bulkPhase(rig, options);
    const profiles = rig.inspect ? await profilePhase(rig, options) : undefined;
    const latency = await latencyPhase(rig, options);
    const concurrency = await concurrencyPhase(rig, options);
    const startup = await startupPhase(rig, options);
    await recordMemory(rig, "end");
    const end = rig.memory.end!;
    const results: Results = {
      bulk,
      latency,
      concurrency,
      startup,
      peakRssMB: {
        proxy: end.proxy.peakRssBytes / BYTES_PER_MB,
        exit: end.exit.peakRssBytes / BYTES_PER_MB,
        atStart: peaksOf(rig.memory.started!),
        afterBulk: peaksOf(rig.memory.bulk!),
        rawPeers: {
          sender: (await memory(rig.rawServe.pid)).peakRssBytes / BYTES_PER_MB,
          receiver: (await memory(rig.rawFetch.pid)).peakRssBytes / BYTES_PER_MB,
        },
      },
    };
    const rows = rowsOf(results, options);
    const table = markdownTable(rows);
    const report = {
      version: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      machine,
      loadAverage: { atStart: loadAtStart, atEnd: await loadAverage() },
      options,
      targets: TARGETS,
      results: { ...results, memoryByPhase: rig.memory, ...(profiles ? { profiles } : {}) },
      proxyLogTail: rig.proxy.logs().slice(-4000),
      exitLogTail: rig.exit.logs().slice(-4000),
      table,
    };
    await Deno.mkdir(dirname(options.out), { recursive: true });
    await Deno.writeTextFile(options.out, JSON.stringify(report, null, 2) + "\n");
    console.log(`\nMachine: ${machineLine(machine)}`);
    console.log(
      `Load average at start ${loadAtStart.join(" ")}, at end ${
        report.loadAverage.atEnd.join(" ")
      }\n`,
    );
    console.log(table);
    console.log(`\nMB = 10^6 bytes; throughput is the best of ${options.rounds} round(s).`);
    console.log(`Results written to ${options.out}`);
    if (options.compare) {
      // The bench's own processes stay up but idle; the comparison starts its own.
      const comparison: Comparison = await compareTransports(
        children,
        ticks,
        workDir,
        options,
        log,
      );
      console.log(
        "\nSide by side (issue 13's targets, for the default chain over TLS and for QUIC streams):\n",
      );
      console.log(comparison.table);
      console.log("");
      console.log(markdownTable([...comparison.targetRows]));
      for (const note of comparison.notes) console.log(`- ${note}`);
      console.log(`\nLoad average at end of the comparison: ${(await loadAverage()).join(" ")}`);
      await Deno.writeTextFile(
        options.out,
        JSON.stringify({ ...report, comparison }, null, 2) + "\n",
      );
    }
  } catch (error) {
    // Give a child that just died a moment to be reaped, so its exit status can be named.
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const ended of children.endedEarly) {
      console.error(
        `${ended.name} (pid ${ended.pid}) ended early: exit code ${ended.status.code}` +
          (ended.status.signal ? `, signal ${ended.status.signal}` : ""),
      );
    }
    if (rig) {
      console.error(`--- proxy log ---\n${rig.proxy.logs().slice(-4000)}`);
      console.error(`--- exit log ---\n${rig.exit.logs().slice(-4000)}`);
    }
    throw error;
  } finally {
    if (rig) await rig.rawFetch.send("quit").catch(() => {});
    await children.stopAll();
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
    Deno.exit(1);
  }
  Deno.exit(0);
}
