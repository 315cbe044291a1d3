/**
 * Starts p2proxy roles as real processes on loopback, for integration tests
 * and the bench: writes a config into a fresh state dir, creates the node's
 * identity first (so the peer id is known), picks free ports, starts
 * `cli/main.ts <role>` and waits until its port accepts connections.
 *
 * @module
 */
import { stringify } from "yaml";

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;

/** A role running as a child process. */
export interface NodeProcess {
  readonly peerId: string;
  /** The libp2p multiaddr other nodes dial (ends in /p2p/<peerId>). */
  readonly address: string;
  /** The state dir (config, keypair, logs). */
  readonly dir: string;
  readonly child: Deno.ChildProcess;
  /** SIGINT then wait (graceful); SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
  /** SIGKILL now: a crash, for fault tests. */
  kill(): Promise<Deno.CommandStatus>;
  /** Everything the process wrote to stderr so far. */
  logs(): string;
}

/** Options common to every role. */
export interface StartOptions {
  /** Where to put the state dir (a temp dir by default). */
  readonly dir?: string;
  /** Extra `deno run` flags instead of `-A`. */
  readonly denoFlags?: readonly string[];
  /**
   * Least privilege: run with exactly the flags `p2proxy permissions <role> -c <config>`
   * prints for the written config (instead of `-A`).
   */
  readonly leastPrivilege?: boolean;
  readonly env?: Record<string, string>;
  /** The libp2p TCP port (default: a free one); reuse it with `dir` to restart a node at the same address. */
  readonly port?: number;
  /** Deadline for the port to open. */
  readonly readyTimeoutMs?: number;
  /** Override the config's log level (default "warn" to keep test output small). */
  readonly logLevel?: string;
}

/**
 * Ports `freePort` handed out in this process: the kernel may offer a port
 * it just released again, and a test that asks for several ports in a row
 * would get the same one twice.
 */
const handedOutPorts = new Set<number>();

/** Tries of `freePort` before it gives up (a handful are plenty on a 28k-port ephemeral range). */
const FREE_PORT_ATTEMPTS = 100;

/**
 * A free TCP port on 127.0.0.1 (bound and released; fine for tests on one
 * machine), never one it returned before in this process.
 */
export function freePort(hostname = "127.0.0.1"): number {
  for (let attempt = 0; attempt < FREE_PORT_ATTEMPTS; attempt++) {
    const listener = Deno.listen({ hostname, port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    if (handedOutPorts.has(port)) continue;
    handedOutPorts.add(port);
    return port;
  }
  throw new Error(
    `No port on ${hostname} that was not handed out before, after ${FREE_PORT_ATTEMPTS} tries.`,
  );
}

/**
 * A free loopback port whose next port is free too: the demo binds its SOCKS port and the one
 * after it, and on a busy machine that successor is often taken.
 *
 * @example
 * ```ts
 * const socksPort = freePortPair(); // the demo listens on socksPort and socksPort + 1
 * ```
 */
export function freePortPair(hostname = "127.0.0.1"): number {
  for (let attempt = 0; attempt < FREE_PORT_ATTEMPTS; attempt++) {
    const port = freePort(hostname);
    try {
      Deno.listen({ hostname, port: port + 1 }).close();
      handedOutPorts.add(port + 1);
      return port;
    } catch {
      // Taken: try another.
    }
  }
  throw new Error(
    `No two consecutive free ports on ${hostname} after ${FREE_PORT_ATTEMPTS} tries.`,
  );
}

/** Creates (or reads) the identity in `dir` and returns its peer id. */
export async function peerIdOf(dir: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", CLI, "id", "--state-dir", dir],
    stderr: "piped",
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success || !text.startsWith("12D3")) {
    throw new Error(`p2proxy id failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return text;
}

/**
 * State dirs made here. A test may restart a node in the dir of one it
 * stopped, so they are removed when the process ends, not when a node stops.
 */
const createdDirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const dir of createdDirs) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone.
    }
  }
});

/** A fresh temp state dir, removed when this process ends. */
async function stateDir(role: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `p2proxy-${role}-` });
  createdDirs.push(dir);
  return dir;
}

/** The flags `p2proxy permissions <role> -c <config> --flags-only` prints. */
export async function permissionFlags(role: string, configPath: string): Promise<string[]> {
  const line = await printedPermissionLine([role, "-c", configPath, "--flags-only"]);
  return shellWords(line).filter((flag) => flag !== "--no-prompt");
}

/**
 * The line `p2proxy permissions <args>` prints, run in `cwd` (the folder the
 * printed line is meant to run from).
 */
export async function printedPermissionLine(
  args: readonly string[],
  options: { cwd?: string } = {},
): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", CLI, "permissions", ...args],
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).output();
  if (!output.success) {
    throw new Error(`p2proxy permissions failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout).trim();
}

/**
 * Splits a printed line into words as a POSIX shell would: on spaces, with
 * single-quoted parts taken literally (the only quoting `permissions` emits).
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (char === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`Unclosed quote in: ${line}`);
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (char === "\\") {
      word = (word ?? "") + (line[++i] ?? "");
    } else if (char === " ") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? "") + char;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * Waits until something accepts TCP connections on `port`. `signal` stops
 * the polling early (its reason is thrown), e.g. once the process that was
 * to listen has exited: no poll outlives the caller's test.
 */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  hostname = "127.0.0.1",
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    signal?.throwIfAborted();
    try {
      const conn = await Deno.connect({ hostname, port });
      conn.close();
      return;
    } catch {
      if (Date.now() > deadline) {
        throw new Error(`Nothing listened on ${hostname}:${port} within ${timeoutMs} ms.`);
      }
      await pause(50, signal);
    }
  }
}

/** `ms` of sleep, cut short (and its timer cleared) when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

async function spawn(
  role: "proxy" | "exit" | "hub",
  config: Record<string, unknown>,
  readyPort: number,
  options: StartOptions,
): Promise<Omit<NodeProcess, "peerId" | "address"> & { dir: string }> {
  const dir = options.dir ?? await stateDir(role);
  const configPath = `${dir}/${role}.yaml`;
  await Deno.writeTextFile(
    configPath,
    stringify({ state_dir: dir, log_level: options.logLevel ?? "warn", ...config }),
  );
  const flags = options.leastPrivilege
    ? await permissionFlags(role, configPath)
    : options.denoFlags ?? ["-A"];
  const launched = launchRole(role, configPath, {
    flags,
    ...(options.env ? { env: options.env } : {}),
  });
  try {
    await waitUntilListening(launched, readyPort, `p2proxy ${role}`, options.readyTimeoutMs);
  } catch (error) {
    await launched.kill();
    throw error;
  }
  return { dir, ...launched };
}

/**
 * Waits until `port` on 127.0.0.1 accepts connections; fails at once, with
 * the process's log, when the process ends first.
 */
export async function waitUntilListening(
  launched: LaunchedRole,
  port: number,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const stopWaiting = new AbortController();
  try {
    await Promise.race([
      waitForPort(port, timeoutMs, "127.0.0.1", stopWaiting.signal),
      launched.child.status.then((s) => {
        throw new Error(`${what} exited with ${s.code} before it was ready:\n${launched.logs()}`);
      }),
    ]);
  } finally {
    stopWaiting.abort();
  }
}

/** A role process: its log and its ways to end. */
export interface LaunchedRole {
  readonly child: Deno.ChildProcess;
  /** Everything the process wrote to stderr so far. */
  logs(): string;
  /** Resolves once the process has ended and its log is read. */
  finished(): Promise<Deno.CommandStatus>;
  /** SIGINT then wait (graceful); SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
  /** SIGKILL now. */
  kill(): Promise<Deno.CommandStatus>;
}

/** Starts `p2proxy <role> -c <configPath>` and collects its stderr; does not wait for readiness. */
export function launchRole(
  role: string,
  configPath: string,
  options: { flags?: readonly string[]; env?: Record<string, string>; cwd?: string } = {},
): LaunchedRole {
  return launchDeno(
    ["run", ...(options.flags ?? ["-A"]), "--no-prompt", CLI, role, "-c", configPath],
    options,
  );
}

/**
 * Runs a line `p2proxy permissions` printed, word for word, in `cwd`: the
 * leading `deno` is this test's own Deno binary.
 */
export function launchPrintedLine(
  line: string,
  options: { env?: Record<string, string>; cwd?: string } = {},
): LaunchedRole {
  const [launcher, ...args] = shellWords(line);
  if (launcher !== "deno") throw new Error(`Not a deno line: ${line}`);
  return launchDeno(args, options);
}

/** Starts `deno <args>` and collects its stderr. */
function launchDeno(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string },
): LaunchedRole {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args],
    stdout: "null",
    stderr: "piped",
    stdin: "null",
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).spawn();
  let stderr = "";
  const decoder = new TextDecoder();
  const pump = (async () => {
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  const finished = async () => {
    const status = await child.status;
    await pump;
    return status;
  };
  const signal = (name: Deno.Signal) => {
    try {
      child.kill(name);
    } catch { /* already gone */ }
  };
  return {
    child,
    logs: () => stderr,
    finished,
    async stop(graceMs = 15_000) {
      signal("SIGINT");
      const timer = setTimeout(() => signal("SIGKILL"), graceMs);
      try {
        return await finished();
      } finally {
        clearTimeout(timer);
      }
    },
    kill() {
      signal("SIGKILL");
      return finished();
    },
  };
}

/**
 * The resolver every exit started here uses: a static map (`localhost`, plus
 * the names a test declares under `plugins["@p2proxy/resolver-static"].hosts`),
 * never the system's, whose DNS server is off the machine.
 */
export const TEST_RESOLVER = "@p2proxy/resolver-static";

/** `config` with the exit's resolver set to {@link TEST_RESOLVER}, unless it chooses one itself. */
export function withTestResolver(config: Record<string, unknown>): Record<string, unknown> {
  const providers = (config.providers ?? {}) as Record<string, string>;
  return { ...config, providers: { resolver: TEST_RESOLVER, ...providers } };
}

/**
 * Starts `role` with its identity in `options.dir` (or a fresh temp dir), a
 * loopback libp2p listener on `options.port` (or a free port) and metrics off,
 * `config` merged over that; ready once `readyPort` (default: the libp2p
 * port) accepts connections.
 */
async function startRole(
  role: "proxy" | "exit" | "hub",
  config: Record<string, unknown>,
  options: StartOptions,
  readyPort?: number,
): Promise<NodeProcess> {
  const dir = options.dir ?? await stateDir(role);
  const peerId = await peerIdOf(dir);
  const port = options.port ?? freePort();
  const defaults = { listen_addrs: [`/ip4/127.0.0.1/tcp/${port}`], metrics_port: 0 };
  const merged = { ...defaults, ...config };
  const node = await spawn(
    role,
    role === "exit" ? withTestResolver(merged) : merged,
    readyPort ?? port,
    {
      ...options,
      dir,
    },
  );
  return { ...node, peerId, address: `/ip4/127.0.0.1/tcp/${port}/p2p/${peerId}` };
}

/**
 * Starts an exit; `config` is merged over a loopback default (egress allows
 * 127.0.0.1 only if you say so) and names resolve through {@link TEST_RESOLVER}.
 */
export function startExit(
  config: Record<string, unknown> = {},
  options: StartOptions = {},
): Promise<NodeProcess> {
  return startRole("exit", config, options);
}

/** Starts a proxy with the given servers (each needs a `port`); resolves once the first SOCKS port accepts. */
export function startProxy(
  config: Record<string, unknown> & { servers: Array<{ port: number; [key: string]: unknown }> },
  options: StartOptions = {},
): Promise<NodeProcess> {
  return startRole("proxy", config, options, config.servers[0]!.port);
}

/** Starts a hub (directory + relay). */
export function startHub(
  config: Record<string, unknown> = {},
  options: StartOptions = {},
): Promise<NodeProcess> {
  return startRole("hub", config, options);
}

/** A throwaway `redis-server` on loopback (no persistence), for the Redis registry's tests and the bench. */
export interface RedisProcess {
  readonly port: number;
  /** `redis://127.0.0.1:<port>/0` (`rediss://` with TLS; the password is not in it). */
  readonly url: string;
  /** Everything the server wrote so far. */
  logs(): string;
  /** SIGKILL: Redis vanishes mid-conversation, as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty (nothing persisted): a restarted Redis. */
  restart(): Promise<void>;
  /** Stops it for good. */
  stop(): Promise<void>;
}

/** Options of {@link startRedis}. */
export interface RedisOptions {
  /** The port (default: a free one). */
  readonly port?: number;
  /** `requirepass`: clients must authenticate with it. */
  readonly password?: string;
  /** Serve TLS only (`rediss://`) with this certificate and key (PEM files). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

/** Deadline for redis-server to accept connections (it starts in well under a second). */
const REDIS_READY_MS = 10_000;

/**
 * Starts `redis-server` on 127.0.0.1 with nothing saved to disk. Needs the
 * Debian package `redis-server` (`.ci/run` installs it).
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisProcess> {
  const port = options.port ?? freePort();
  const args = [
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--protected-mode",
    "no",
    ...(options.password ? ["--requirepass", options.password] : []),
    ...(options.tls
      ? [
        "--port",
        "0",
        "--tls-port",
        `${port}`,
        "--tls-cert-file",
        options.tls.certFile,
        "--tls-key-file",
        options.tls.keyFile,
        "--tls-auth-clients",
        "no",
      ]
      : ["--port", `${port}`]),
  ];
  let log = "";
  let child: Deno.ChildProcess | undefined;
  let pump: Promise<void> = Promise.resolve();
  const launch = async () => {
    try {
      child = new Deno.Command("redis-server", {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      throw new Error(
        `Cannot start redis-server (${error}): install it with \`apt-get install -y redis-server\`.`,
      );
    }
    const running = child;
    const decoder = new TextDecoder();
    const read = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) log += decoder.decode(chunk, { stream: true });
    };
    pump = Promise.all([read(running.stdout), read(running.stderr)]).then(() => {});
    const stopWaiting = new AbortController();
    try {
      await Promise.race([
        waitForPort(port, REDIS_READY_MS, "127.0.0.1", stopWaiting.signal),
        running.status.then((s) => {
          throw new Error(`redis-server exited with ${s.code} before it was ready:\n${log}`);
        }),
      ]);
    } finally {
      stopWaiting.abort();
    }
  };
  const end = async (signal: Deno.Signal) => {
    const running = child;
    child = undefined;
    if (!running) return;
    try {
      running.kill(signal);
    } catch { /* already gone */ }
    await running.status;
    await pump;
  };
  await launch();
  return {
    port,
    url: `${options.tls ? "rediss" : "redis"}://127.0.0.1:${port}/0`,
    logs: () => log,
    kill: () => end("SIGKILL"),
    async restart() {
      await end("SIGKILL");
      await launch();
    },
    stop: () => end("SIGTERM"),
  };
}
