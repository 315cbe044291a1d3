/**
 * shadowsocks-libev as the bench's yardstick (README, "Performance"): `ss-local` (a SOCKS5 port)
 * → `ss-server` → the destination, chacha20-ietf-poly1305, both on 127.0.0.1 — the same two hops
 * as p2proxy's proxy → exit. Optional: without the binaries (apt `shadowsocks-libev`) the bench
 * skips it and says so.
 *
 * @module
 */
import { freePort, waitForPort } from "../cluster.ts";
import type { Children } from "./children.ts";

/** The cipher both hops use: the AEAD shadowsocks recommends. */
export const SHADOWSOCKS_CIPHER = "chacha20-ietf-poly1305";

/** A running pair. */
export interface Shadowsocks {
  /** ss-local's SOCKS5 port. */
  readonly socksPort: number;
  /** Process ids: the proxy-side hop and the exit-side hop. */
  readonly pids: { readonly local: number; readonly server: number };
}

/** The path of `name` on PATH, or undefined. */
export async function which(name: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const info = await Deno.stat(`${dir}/${name}`);
      if (info.isFile) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return undefined;
}

/** Why shadowsocks cannot run here, or undefined when it can. */
export async function shadowsocksMissing(): Promise<string | undefined> {
  const missing = [];
  for (const name of ["ss-server", "ss-local"]) if (!await which(name)) missing.push(name);
  return missing.length === 0
    ? undefined
    : `${missing.join(" and ")} not found (apt-get install shadowsocks-libev)`;
}

/** Starts ss-server and ss-local on loopback; both are stopped with `children`. */
export async function startShadowsocks(children: Children): Promise<Shadowsocks> {
  const serverPort = freePort();
  const socksPort = freePort();
  const password = crypto.randomUUID();
  const common = ["-k", password, "-m", SHADOWSOCKS_CIPHER, "-t", "600"];
  const server = new Deno.Command("ss-server", {
    args: ["-s", "127.0.0.1", "-p", `${serverPort}`, ...common],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  children.adoptProcess(server, "ss-server");
  const local = new Deno.Command("ss-local", {
    args: [
      "-s",
      "127.0.0.1",
      "-p",
      `${serverPort}`,
      "-b",
      "127.0.0.1",
      "-l",
      `${socksPort}`,
      ...common,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  children.adoptProcess(local, "ss-local");
  await waitForPort(serverPort, 10_000);
  await waitForPort(socksPort, 10_000);
  return { socksPort, pids: { local: local.pid, server: server.pid } };
}
