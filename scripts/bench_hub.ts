/**
 * `deno task bench:hub`: one hub under load (a script, not a test). For each
 * registry (memory, then Redis on a throwaway `redis-server`):
 *
 * 1. registers `--exits` synthetic exits (default 10 000) from
 *    `--registrars` processes, each exit with its own key: by default a
 *    registration signed by that key over the registrar's one directory
 *    session, with `--register-mode connection` over the exit's own
 *    connection, closed after the answer (scripts/bench/hub_registrar.ts);
 * 2. runs `FindNodes` lookups with country (some also ASN and bandwidth)
 *    filters, `--lookup-concurrency` (default 200) at a time from
 *    `--lookup-processes` processes through the proxy's directory client, for
 *    `--lookup-secs` (scripts/bench/hub_lookups.ts);
 *
 * and reports registrations/s, lookups/s, lookup p50/p99, the hub's RSS (now
 * and peak) and CPU. Every process runs on this machine: on 2 cores the
 * clients compete with the hub for CPU, which the report says.
 *
 * Writes `.bench/hub.json`. `--quick` runs 300 exits for 3 s of lookups.
 *
 * @module
 */
import { percentile } from "./bench/stats.ts";
import {
  type CpuProfile,
  inspectFlag,
  InspectorSession,
  type ProfileSummary,
  summarize,
} from "./bench/cpu_profile.ts";
import {
  clockTicksPerSecond,
  cpuSeconds,
  loadAverage,
  machineInfo,
  memory,
} from "./bench/procstat.ts";
import { freePort, type RedisProcess, startHub, startRedis } from "./cluster.ts";

const REGISTRAR = new URL("./bench/hub_registrar.ts", import.meta.url).pathname;
const LOOKUPS = new URL("./bench/hub_lookups.ts", import.meta.url).pathname;

/** The hub serves at most 16 directory streams per connection: lookups stay under that per node. */
const LOOKUPS_PER_NODE = 10;

/** Long enough that no synthetic exit expires during a run (they never heartbeat). */
const BENCH_HEARTBEAT_SECS = 3_600;

const GOALS = { lookupP99Ms: 20, registrationsPerSecond: 1_000, hubRssMb: 500 } as const;

interface Settings {
  exits: number;
  registrars: number;
  registerConcurrency: number;
  /** `signed`: signed registrations over one session per registrar; `connection`: one connection per exit. */
  registerMode: "signed" | "connection";
  lookupConcurrency: number;
  lookupProcesses: number;
  lookupSecs: number;
  registries: ("memory" | "redis")[];
  out: string;
  /** Sample the hub's CPU (V8 inspector) while registering and while looking up. */
  profile: boolean;
  /** Also run this many hubs sharing one Redis (registrars and lookups spread over them). */
  hubs: number;
}

function parseArgs(args: readonly string[]): Settings {
  const settings: Settings = {
    exits: 10_000,
    registrars: 4,
    registerConcurrency: 16,
    registerMode: "signed",
    lookupConcurrency: 200,
    lookupProcesses: 4,
    lookupSecs: 20,
    registries: ["memory", "redis"],
    out: ".bench/hub.json",
    profile: false,
    hubs: 1,
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = () => {
      const next = args[++i];
      if (next === undefined) throw new Error(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case "--quick":
        settings.exits = 300;
        settings.lookupSecs = 3;
        break;
      case "--exits":
        settings.exits = Number(value());
        break;
      case "--registrars":
        settings.registrars = Number(value());
        break;
      case "--register-concurrency":
        settings.registerConcurrency = Number(value());
        break;
      case "--register-mode": {
        const mode = value();
        if (mode !== "signed" && mode !== "connection") {
          throw new Error(`--register-mode takes signed or connection, not "${mode}"`);
        }
        settings.registerMode = mode;
        break;
      }
      case "--lookup-concurrency":
        settings.lookupConcurrency = Number(value());
        break;
      case "--lookup-processes":
        settings.lookupProcesses = Number(value());
        break;
      case "--lookup-secs":
        settings.lookupSecs = Number(value());
        break;
      case "--registry":
        settings.registries = value().split(",") as Settings["registries"];
        break;
      case "--out":
        settings.out = value();
        break;
      case "--hubs":
        settings.hubs = Number(value());
        break;
      case "--profile":
        settings.profile = true;
        break;
      default:
        throw new Error(
          `Unknown flag ${flag}: use --quick, --exits N, --registrars N, --register-concurrency N, ` +
            "--register-mode signed|connection, --lookup-concurrency N, --lookup-processes N, --lookup-secs S, " +
            "--registry memory,redis, --hubs N, --out FILE, --profile",
        );
    }
  }
  for (const registry of settings.registries) {
    if (registry !== "memory" && registry !== "redis") {
      throw new Error(`--registry takes memory and/or redis, not "${registry}"`);
    }
  }
  return settings;
}

/** How long the one-at-a-time lookups run. */
function singleLookupSecs(settings: Settings): number {
  return Math.min(5, settings.lookupSecs);
}

/** Runs `deno run -A <script> <args>` and parses the JSON line it prints. */
async function runChild<T>(script: string, args: readonly string[]): Promise<T> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", script, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    throw new Error(
      `${script} failed (${output.code}): ${new TextDecoder().decode(output.stderr).slice(-2000)}`,
    );
  }
  return JSON.parse(text.slice(text.lastIndexOf("\n") + 1)) as T;
}

/** Splits `total` into `parts` near-equal whole shares. */
function shares(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0),
  );
}

/** What one registry's run measured. */
interface RegistryResult {
  registry: string;
  /** Hubs serving (more than one share a Redis). */
  hubs: number;
  exits: number;
  registered: number;
  registerFailed: number;
  /** First registration sent to last answer, the slowest registrar's. */
  registerSeconds: number;
  /** The whole phase, registrar processes' start and signing included. */
  registerWallSeconds: number;
  registrationsPerSecond: number;
  hubCpuSecondsRegistering: number;
  /** The registrar processes' CPU while registering, summed (key generation and signing excluded). */
  generatorCpuSecondsRegistering: number;
  lookups: number;
  lookupFailed: number;
  lookupSeconds: number;
  lookupsPerSecond: number;
  lookupP50Ms: number;
  lookupP99Ms: number;
  exitsPerAnswer: number;
  hubCpuSecondsLookingUp: number;
  /** The lookup processes' CPU while looking up, summed. */
  generatorCpuSecondsLookingUp: number;
  /** One lookup at a time (no queueing): what a single proxy port waits. */
  singleP50Ms: number;
  singleP99Ms: number;
  hubRssMbAfterRegistering: number;
  hubRssMbAfterLookups: number;
  hubPeakRssMb: number;
  /** Where the hub's CPU went, with `--profile`. */
  profiles?: { registering: ProfileSummary; lookingUp: ProfileSummary };
}

const MB = 1_000_000;

/** CPU seconds of all `pids`, summed. */
async function cpuOf(pids: readonly number[], ticks: number): Promise<number> {
  const each = await Promise.all(pids.map((pid) => cpuSeconds(pid, ticks)));
  return each.reduce((sum, seconds) => sum + seconds, 0);
}

/** The memory of the hub with the largest peak. */
async function largestMemory(pids: readonly number[]) {
  const each = await Promise.all(pids.map((pid) => memory(pid)));
  return each.reduce((a, b) => (b.peakRssBytes > a.peakRssBytes ? b : a));
}

async function runOne(
  registry: "memory" | "redis",
  settings: Settings,
  ticks: number,
  hubCount = 1,
): Promise<RegistryResult> {
  let redis: RedisProcess | undefined;
  if (registry === "redis") redis = await startRedis();
  const inspectorPort = settings.profile ? freePort() : undefined;
  const config = {
    heartbeat_secs: BENCH_HEARTBEAT_SECS,
    ...(redis
      ? {
        providers: { "registry-store": "@p2proxy/registry-redis" },
        plugins: { "@p2proxy/registry-redis": { url: redis.url } },
      }
      : {}),
  };
  // Only the first hub is profiled.
  const hubs = await Promise.all(
    Array.from(
      { length: hubCount },
      (_, i) =>
        startHub(
          config,
          inspectorPort && i === 0 ? { denoFlags: ["-A", inspectFlag(inspectorPort)] } : {},
        ),
    ),
  );
  const hub = hubs[0]!;
  const pids = hubs.map((h) => h.child.pid);
  const label = hubCount > 1 ? `${registry} × ${hubCount} hubs` : registry;
  const inspector = inspectorPort ? await InspectorSession.connect(inspectorPort) : undefined;
  const profiles: Partial<Record<"registering" | "lookingUp", ProfileSummary>> = {};
  const profiled = async <T>(phase: "registering" | "lookingUp", run: () => Promise<T>) => {
    await inspector?.startProfiling();
    const result = await run();
    if (inspector) {
      const profile: CpuProfile = await inspector.stopProfiling();
      profiles[phase] = summarize(profile, 30);
      await Deno.mkdir(".bench", { recursive: true });
      await Deno.writeTextFile(
        `.bench/hub-${registry}-${phase}.cpuprofile`,
        JSON.stringify(profile),
      );
    }
    return result;
  };
  try {
    console.error(`[${label}] registering ${settings.exits} exits…`);
    const cpu0 = await cpuOf(pids, ticks);
    const t0 = performance.now();
    let first = 0;
    const registrars = await profiled(
      "registering",
      () =>
        Promise.all(
          shares(settings.exits, settings.registrars).map((count, i) => {
            const from = first;
            first += count;
            return runChild<
              {
                registered: number;
                failed: number;
                firstError: string;
                seconds: number;
                cpuSeconds: number;
              }
            >(REGISTRAR, [
              hubs[i % hubs.length]!.address,
              String(from),
              String(count),
              String(settings.registerConcurrency),
              settings.registerMode,
            ]);
          }),
        ),
    );
    // From the first registration sent to the last answer (children time their own sending;
    // starting a process and signing come before it).
    const registerSeconds = Math.max(...registrars.map((r) => r.seconds));
    const registerWallSeconds = (performance.now() - t0) / 1000;
    const cpu1 = await cpuOf(pids, ticks);
    const afterRegistering = await largestMemory(pids);
    const registered = registrars.reduce((sum, r) => sum + r.registered, 0);
    const registerFailed = registrars.reduce((sum, r) => sum + r.failed, 0);
    const firstError = registrars.find((r) => r.firstError)?.firstError;
    if (firstError) console.error(`[${label}] first registration error: ${firstError}`);

    console.error(`[${label}] one lookup at a time for ${singleLookupSecs(settings)} s…`);
    const single = await runChild<{ latenciesMs: number[] }>(LOOKUPS, [
      hub.address,
      "1",
      "1",
      String(singleLookupSecs(settings)),
      "7",
    ]);
    const singles = single.latenciesMs.sort((a, b) => a - b);
    console.error(
      `[${label}] ${settings.lookupConcurrency} concurrent lookups for ${settings.lookupSecs} s…`,
    );
    const cpuBeforeLookups = await cpuOf(pids, ticks);
    const t1 = performance.now();
    const lookups = await profiled(
      "lookingUp",
      () =>
        Promise.all(
          shares(settings.lookupConcurrency, settings.lookupProcesses).map((concurrency, i) =>
            runChild<
              { latenciesMs: number[]; failed: number; returned: number; cpuSeconds: number }
            >(LOOKUPS, [
              hubs[i % hubs.length]!.address,
              String(Math.max(1, Math.ceil(concurrency / LOOKUPS_PER_NODE))),
              String(concurrency),
              String(settings.lookupSecs),
              String(i * 1_000_003),
            ])
          ),
        ),
    );
    const lookupSeconds = (performance.now() - t1) / 1000;
    const cpu2 = await cpuOf(pids, ticks);
    const afterLookups = await largestMemory(pids);
    const latencies = lookups.flatMap((l) => l.latenciesMs).sort((a, b) => a - b);
    const returned = lookups.reduce((sum, l) => sum + l.returned, 0);
    return {
      registry: label,
      hubs: hubCount,
      exits: settings.exits,
      registered,
      registerFailed,
      registerSeconds,
      registerWallSeconds,
      registrationsPerSecond: registered / registerSeconds,
      hubCpuSecondsRegistering: cpu1 - cpu0,
      generatorCpuSecondsRegistering: registrars.reduce((sum, r) => sum + r.cpuSeconds, 0),
      lookups: latencies.length,
      lookupFailed: lookups.reduce((sum, l) => sum + l.failed, 0),
      lookupSeconds,
      lookupsPerSecond: latencies.length / settings.lookupSecs,
      lookupP50Ms: percentile(latencies, 50),
      lookupP99Ms: percentile(latencies, 99),
      exitsPerAnswer: latencies.length === 0 ? 0 : returned / latencies.length,
      hubCpuSecondsLookingUp: cpu2 - cpuBeforeLookups,
      generatorCpuSecondsLookingUp: lookups.reduce((sum, l) => sum + l.cpuSeconds, 0),
      singleP50Ms: percentile(singles, 50),
      singleP99Ms: percentile(singles, 99),
      hubRssMbAfterRegistering: afterRegistering.rssBytes / MB,
      hubRssMbAfterLookups: afterLookups.rssBytes / MB,
      hubPeakRssMb: afterLookups.peakRssBytes / MB,
      ...(profiles.registering && profiles.lookingUp
        ? { profiles: { registering: profiles.registering, lookingUp: profiles.lookingUp } }
        : {}),
    };
  } finally {
    inspector?.close();
    await Promise.all(hubs.map((h) => h.stop()));
    await redis?.stop();
  }
}

function mark(ok: boolean): string {
  return ok ? "✅" : "❌";
}

function report(results: readonly RegistryResult[], settings: Settings): string {
  const rows = results.flatMap((r) => [
    `| ${r.registry} | registrations/s (${r.registered}/${r.exits} in ${
      r.registerSeconds.toFixed(1)
    } s; phase ${r.registerWallSeconds.toFixed(1)} s with start-up) | ${
      r.registrationsPerSecond.toFixed(0)
    } | ≥ ${GOALS.registrationsPerSecond} | ${
      mark(r.registrationsPerSecond >= GOALS.registrationsPerSecond)
    } |`,
    `| ${r.registry} | hub CPU while registering${r.hubs > 1 ? " (all hubs)" : ""} | ${
      r.hubCpuSecondsRegistering.toFixed(1)
    } s (${
      (1000 * r.hubCpuSecondsRegistering / Math.max(1, r.registered)).toFixed(2)
    } ms per registration) | | |`,
    `| ${r.registry} | registrar processes' CPU while registering | ${
      r.generatorCpuSecondsRegistering.toFixed(1)
    } s (${
      (1000 * r.generatorCpuSecondsRegistering / Math.max(1, r.registered)).toFixed(2)
    } ms per registration) | | |`,
    `| ${r.registry} | lookups/s at ${settings.lookupConcurrency} concurrent (${
      r.exitsPerAnswer.toFixed(1)
    } exits per answer, ${r.lookupFailed} failed) | ${r.lookupsPerSecond.toFixed(0)} | | |`,
    `| ${r.registry} | lookup p50 / p99 | ${r.lookupP50Ms.toFixed(1)} / ${
      r.lookupP99Ms.toFixed(1)
    } ms | p99 ≤ ${GOALS.lookupP99Ms} ms | ${mark(r.lookupP99Ms <= GOALS.lookupP99Ms)} |`,
    `| ${r.registry} | lookup p50 / p99, one at a time | ${r.singleP50Ms.toFixed(1)} / ${
      r.singleP99Ms.toFixed(1)
    } ms | | |`,
    `| ${r.registry} | hub CPU while looking up${r.hubs > 1 ? " (all hubs)" : ""} | ${
      r.hubCpuSecondsLookingUp.toFixed(1)
    } s (${
      (1000 * r.hubCpuSecondsLookingUp / Math.max(1, r.lookups)).toFixed(2)
    } ms per lookup) | | |`,
    `| ${r.registry} | lookup processes' CPU while looking up | ${
      r.generatorCpuSecondsLookingUp.toFixed(1)
    } s (${
      (1000 * r.generatorCpuSecondsLookingUp / Math.max(1, r.lookups)).toFixed(2)
    } ms per lookup) | | |`,
    `| ${r.registry} | ${
      r.hubs > 1 ? "largest hub's RSS" : "hub RSS"
    } after registering / after lookups / peak | ${r.hubRssMbAfterRegistering.toFixed(0)} / ${
      r.hubRssMbAfterLookups.toFixed(0)
    } / ${r.hubPeakRssMb.toFixed(0)} MB | ≤ ${GOALS.hubRssMb} MB | ${
      mark(r.hubPeakRssMb <= GOALS.hubRssMb)
    } |`,
  ]);
  return [
    "| registry | measurement | result | goal | |",
    "| -------- | ----------- | ------ | ---- | - |",
    ...rows,
  ].join("\n");
}

if (import.meta.main) {
  const settings = parseArgs(Deno.args);
  const ticks = await clockTicksPerSecond();
  const machine = await machineInfo();
  const loadBefore = await loadAverage();
  const results: RegistryResult[] = [];
  for (const registry of settings.registries) {
    results.push(await runOne(registry, settings, ticks));
    if (registry === "redis" && settings.hubs > 1) {
      results.push(await runOne(registry, settings, ticks, settings.hubs));
    }
  }
  const loadAfter = await loadAverage();
  const date = new Date().toISOString().slice(0, 10);
  console.log(
    `bench:hub ${date} — ${JSON.stringify(machine)}; load ${loadBefore[0]} → ${loadAfter[0]}`,
  );
  console.log(
    `command: deno task bench:hub ${Deno.args.join(" ")} (${settings.registrars} registrar ` +
      `processes × ${settings.registerConcurrency} ${settings.registerMode}, ` +
      `${settings.lookupProcesses} lookup processes)`,
  );
  console.log(report(results, settings));
  for (const r of results) {
    if (!r.profiles) continue;
    for (const [phase, summary] of Object.entries(r.profiles)) {
      console.log(
        `\nhub CPU by package, ${r.registry}, ${phase} (${summary.sampledMs.toFixed(0)} ms):`,
      );
      for (const spot of summary.byPackage.slice(0, 12)) {
        console.log(`  ${spot.selfPercent.toFixed(1).padStart(5)} %  ${spot.name}`);
      }
      console.log(`hub CPU by function, ${r.registry}, ${phase}:`);
      for (const spot of summary.byFunction.slice(0, 15)) {
        console.log(`  ${spot.selfPercent.toFixed(1).padStart(5)} %  ${spot.name}`);
      }
    }
  }
  await Deno.mkdir(settings.out.replace(/\/[^/]*$/, ""), { recursive: true }).catch(() => {});
  await Deno.writeTextFile(
    settings.out,
    JSON.stringify({ date, machine, loadBefore, loadAfter, settings, results }, null, 2),
  );
  Deno.exit(results.every((r) => r.registerFailed === 0 && r.lookupFailed === 0) ? 0 : 1);
}
