/**
 * Time from process start to a listening, exit-connected proxy.
 * `scripts/cluster.ts` creates the identity inside `startProxy`, which would
 * count a second `deno` process in the figure, so this spawns the proxy
 * itself with the same config shape: the identity is made first, then the
 * clock starts at spawn and stops at the first successful CONNECT + echo.
 *
 * @module
 */
import { stringify } from "yaml";
import { freePort, peerIdOf } from "../cluster.ts";
import type { Children } from "./children.ts";
import { connectAndEcho } from "./clients.ts";

const CLI = new URL("../../cli/main.ts", import.meta.url).pathname;

/** Give up on one start after this long. */
const STARTUP_DEADLINE_MS = 60_000;

/** Pause between connection attempts while the proxy starts. */
const POLL_INTERVAL_MS = 5;

/** One measured start. */
export interface StartupSample {
  /** Spawn to the SOCKS port accepting TCP connections. */
  readonly listeningMs: number;
  /** Spawn to the first CONNECT + 1-byte echo through the pinned exit succeeding. */
  readonly connectedMs: number;
}

async function portAccepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Starts a proxy pinned to `exitAddress`, measures, and stops it. */
export async function measureStartup(
  children: Children,
  exitAddress: string,
  echoPort: number,
): Promise<StartupSample> {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-bench-startup-" });
  try {
    await peerIdOf(dir);
    const socksPort = freePort();
    const configPath = `${dir}/proxy.yaml`;
    await Deno.writeTextFile(
      configPath,
      stringify({
        state_dir: dir,
        log_level: "warn",
        listen_addrs: [`/ip4/127.0.0.1/tcp/${freePort()}`],
        metrics_port: 0,
        servers: [{ port: socksPort, destination_peers: [exitAddress] }],
      }),
    );
    const started = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", CLI, "proxy", "-c", configPath],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    children.adoptProcess(child, "start-up proxy");
    let exited = false;
    child.status.then(() => (exited = true));
    try {
      let listeningMs: number | undefined;
      while (true) {
        if (exited) throw new Error("The proxy exited while starting.");
        const elapsed = performance.now() - started;
        if (elapsed > STARTUP_DEADLINE_MS) {
          throw new Error(`The proxy was not exit-connected within ${STARTUP_DEADLINE_MS} ms.`);
        }
        if (listeningMs === undefined) {
          if (await portAccepts(socksPort)) listeningMs = performance.now() - started;
        } else {
          try {
            await connectAndEcho({ socksPort }, echoPort);
            return { listeningMs, connectedMs: performance.now() - started };
          } catch { /* not connected to the exit yet */ }
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
      }
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      children.expectEnd(child.pid);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
