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
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", CLI, "permissions", role, "-c", configPath, "--flags-only"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`p2proxy permissions failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout).trim().split(/\s+/).filter((flag) =>
    flag !== "--no-prompt"
  );
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
  const stopWaiting = new AbortController();
  try {
    await Promise.race([
      waitForPort(readyPort, options.readyTimeoutMs ?? 20_000, "127.0.0.1", stopWaiting.signal),
      launched.child.status.then((s) => {
        throw new Error(
          `p2proxy ${role} exited with ${s.code} before it was ready:\n${launched.logs()}`,
        );
      }),
    ]);
  } catch (error) {
    await launched.kill();
    throw error;
  } finally {
    stopWaiting.abort();
  }
  return { dir, ...launched };
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
  options: { flags?: readonly string[]; env?: Record<string, string> } = {},
): LaunchedRole {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.flags ?? ["-A"]), "--no-prompt", CLI, role, "-c", configPath],
    stdout: "null",
    stderr: "piped",
    stdin: "null",
    ...(options.env ? { env: options.env } : {}),
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
  const node = await spawn(role, { ...defaults, ...config }, readyPort ?? port, {
    ...options,
    dir,
  });
  return { ...node, peerId, address: `/ip4/127.0.0.1/tcp/${port}/p2p/${peerId}` };
}

/** Starts an exit; `config` is merged over a loopback default (egress allows 127.0.0.1 only if you say so). */
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
