/**
 * Plumbing of the authentication end-to-end tests (docs/authentication.md): `p2proxy
 * auth serve` as a real process with keys made by `p2proxy auth add-key`, a
 * role process that is expected to exit, curl and a raw SOCKS5 CONNECT
 * through a proxy, a whoami destination, and an in-process libp2p peer that
 * presents tokens of its choice to an exit (ConnectRequest) and to a hub
 * (Register, FindNodes).
 *
 * @module
 */
import { stringify } from "yaml";
import { create } from "@bufbuild/protobuf";
import { type ApiKeyRole, DEFAULT_SIGNING_KEY_FILE } from "../core/config/auth_config.ts";
import { asMultiaddr, asPeerId } from "../core/ids.ts";
import type { Identity } from "../core/ports/identity.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { Libp2pNetwork } from "../plugins/network-libp2p/libp2p_network.ts";
import { AuthServiceClient, type AuthTransportKind } from "../auth/client.ts";
import { signIssueTokenRequest } from "../auth/issue_request.ts";
import type { TokenRole } from "../auth/token.ts";
import { CONNECT_PROTOCOL, ConnectStatus, requestConnect } from "../wire/connect_protocol.ts";
import { askHub, HubRefusal } from "../wire/directory_client.ts";
import { attributesToWire } from "../wire/directory_protocol.ts";
import {
  DirectoryRequestSchema,
  ErrorCode,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import {
  freePort,
  launchRole,
  type NodeProcess,
  waitForPort,
  withTestResolver,
} from "../scripts/cluster.ts";
import { libp2pSettled } from "./_libp2p.ts";

export { ConnectStatus, ErrorCode };

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;

/** Bound on `auth serve` opening its ports (a cold Deno start with Connect and jose loaded). */
const AUTH_READY_TIMEOUT_MS = 20_000;

/** Bound on one `auth add-key` run. */
const ADD_KEY_TIMEOUT_MS = 20_000;

/** Bound on one exchange of the in-process peer (dial, stream, answer). */
const PEER_EXCHANGE_TIMEOUT_MS = 5_000;

/** Pause between two polls of a log. */
const POLL_INTERVAL_MS = 50;

/** `ms` of sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `deno run -A cli/main.ts <args>` to its end, killed after `timeoutMs`. */
export async function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs: number },
): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", CLI, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.env ? { env: options.env } : {}),
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// auth serve

/** The API keys a test service accepts, by the roles each may ask for. */
export type ApiKeys = Readonly<Record<ApiKeyRole, string>>;

/** A running `p2proxy auth serve`. */
export interface AuthServe {
  /** Connect and gRPC-web base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** gRPC (h2c) base URL, when `grpc` was asked for. */
  readonly grpcUrl?: string;
  readonly port: number;
  readonly grpcPort?: number;
  /** The state dir (Auth.yaml, the signing key). */
  readonly dir: string;
  readonly configPath: string;
  readonly apiKeys: ApiKeys;
  /** Everything the service wrote to stderr so far. */
  logs(): string;
  /** SIGINT, then SIGKILL after a grace period. */
  stop(): Promise<void>;
}

/** Options of {@link startAuthServe}. */
export interface AuthServeOptions {
  readonly networkId: string;
  readonly ttlSecs: number;
  /** Also serve gRPC (h2c) on a second port. */
  readonly grpc?: boolean;
  /**
   * Reuse this dir's Auth.yaml and signing key: a second service with the same keys. It runs in
   * a state dir of its own holding a copy of the key, as a replica would (one process per state
   * dir).
   */
  readonly dir?: string;
  /** Keys already made (with `dir`); else one is added per role with `auth add-key`. */
  readonly apiKeys?: ApiKeys;
  /** Main port (default: a free one). */
  readonly port?: number;
}

/** Adds an API key to `configPath` with `p2proxy auth add-key`; returns the key it printed. */
export async function addApiKey(
  configPath: string,
  role: ApiKeyRole,
  name: string,
): Promise<string> {
  const result = await runCli(
    ["auth", "add-key", "-c", configPath, "--role", role, "--name", name],
    { timeoutMs: ADD_KEY_TIMEOUT_MS },
  );
  const key = result.stdout.trim();
  if (result.code !== 0 || !key.startsWith("p2pk_")) {
    throw new Error(`auth add-key failed (${result.code}):\n${result.stderr}`);
  }
  return key;
}

/**
 * Writes Auth.yaml (unless `dir` already has one), adds one key per role,
 * starts `p2proxy auth serve -c Auth.yaml` and waits for its ports.
 * `--listen`/`--grpc-port` are given as flags, so a second service can share
 * the file (and the signing key) on other ports.
 */
export async function startAuthServe(options: AuthServeOptions): Promise<AuthServe> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "p2proxy-auth-" });
  const configPath = `${dir}/Auth.yaml`;
  let apiKeys = options.apiKeys;
  if (apiKeys === undefined) {
    await Deno.writeTextFile(
      configPath,
      stringify({
        network_id: options.networkId,
        token_ttl_secs: options.ttlSecs,
        state_dir: dir,
        log_level: "info",
        api_keys: [],
      }),
    );
    apiKeys = {
      proxy: await addApiKey(configPath, "proxy", "proxy-key"),
      exit: await addApiKey(configPath, "exit", "exit-key"),
      both: await addApiKey(configPath, "both", "both-key"),
    };
  }
  const port = options.port ?? freePort();
  const grpcPort = options.grpc ? freePort() : undefined;
  const args = ["auth", "serve", "-c", configPath, "--listen", `127.0.0.1:${port}`];
  if (grpcPort !== undefined) args.push("--grpc-port", `${grpcPort}`);
  const replicaDir = options.dir === undefined
    ? undefined
    : await Deno.makeTempDir({ prefix: "p2proxy-auth-replica-" });
  if (replicaDir !== undefined) {
    await Deno.copyFile(
      `${dir}/${DEFAULT_SIGNING_KEY_FILE}`,
      `${replicaDir}/${DEFAULT_SIGNING_KEY_FILE}`,
    );
    args.push("--state-dir", replicaDir);
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", CLI, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const pump = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  const finished = async () => {
    await child.status;
    await pump;
    // A dir this call made goes with the service; a shared one stays with its owner.
    const own = replicaDir ?? dir;
    await Deno.remove(own, { recursive: true }).catch(() => {});
  };
  const stop = async () => {
    try {
      child.kill("SIGINT");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 5_000);
    try {
      await finished();
    } finally {
      clearTimeout(timer);
    }
  };
  const stopWaiting = new AbortController();
  const waitFor = (p: number) =>
    waitForPort(p, AUTH_READY_TIMEOUT_MS, "127.0.0.1", stopWaiting.signal);
  try {
    await Promise.race([
      Promise.all([waitFor(port), grpcPort === undefined ? undefined : waitFor(grpcPort)]),
      child.status.then((status) => {
        throw new Error(`auth serve exited with ${status.code} before it was ready:\n${stderr}`);
      }),
    ]);
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await finished();
    throw error;
  } finally {
    stopWaiting.abort();
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    ...(grpcPort === undefined ? {} : { grpcUrl: `http://127.0.0.1:${grpcPort}`, grpcPort }),
    dir,
    configPath,
    apiKeys,
    logs: () => stderr,
    stop,
  };
}

/** Polls `node.logs()` until `pattern` matches; throws (with the log) after `timeoutMs`. */
export async function waitForLog(
  node: Pick<NodeProcess, "logs">,
  pattern: RegExp,
  timeoutMs: number,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const match = node.logs().match(pattern);
    if (match) return match;
    if (Date.now() > deadline) {
      throw new Error(`No log line matched ${pattern} within ${timeoutMs} ms:\n${node.logs()}`);
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

// ---------------------------------------------------------------------------
// Role processes watched from their first log line

/** A role process started without waiting for it: its log can be watched from the start. */
export interface RoleProcess {
  readonly dir: string;
  /** Everything the process wrote to stderr so far. */
  logs(): string;
  /** Resolves with the exit code once the process has ended and its log is read. */
  readonly exited: Promise<number>;
  /** SIGINT, SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
}

/**
 * Writes `config` for `role` into a fresh dir (loopback listen address, no
 * metrics) and starts the role, returning at once. The caller decides what
 * to wait for: a log line, a port, or the process's end.
 */
export async function spawnRole(
  role: "proxy" | "exit",
  config: Record<string, unknown>,
  options: { env?: Record<string, string>; logLevel?: string } = {},
): Promise<RoleProcess> {
  const dir = await Deno.makeTempDir({ prefix: `p2proxy-${role}-auth-` });
  const configPath = `${dir}/${role}.yaml`;
  await Deno.writeTextFile(
    configPath,
    stringify(withTestResolverFor(role, {
      state_dir: dir,
      log_level: options.logLevel ?? "info",
      listen_addrs: ["/ip4/127.0.0.1/tcp/0"],
      metrics_port: 0,
      ...config,
    })),
  );
  const launched = launchRole(role, configPath, options.env ? { env: options.env } : {});
  const exited = (async () => {
    const status = await launched.finished();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    return status.code;
  })();
  return {
    dir,
    logs: launched.logs,
    exited,
    async stop(graceMs = 5_000) {
      await launched.stop(graceMs);
      return await exited;
    },
  };
}

/** An exit's config gets the tests' static resolver; a proxy's is left as it is. */
function withTestResolverFor(role: "proxy" | "exit", config: Record<string, unknown>) {
  return role === "exit" ? withTestResolver(config) : config;
}

/** Waits (at most `timeoutMs`) for `process` to end by itself; kills it and throws otherwise. */
export async function exitCodeWithin(process: RoleProcess, timeoutMs: number): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), timeoutMs);
  });
  try {
    const outcome = await Promise.race([process.exited, late]);
    if (outcome !== "late") return outcome;
  } finally {
    clearTimeout(timer);
  }
  await process.stop(1_000);
  throw new Error(`The process did not exit within ${timeoutMs} ms:\n${process.logs()}`);
}

// ---------------------------------------------------------------------------
// Clients: curl, a raw SOCKS5 CONNECT

/** What one curl run through a SOCKS port gave. */
export interface CurlResult {
  /** curl's exit code (0 ok, 97 SOCKS failure, 28 timeout). */
  readonly code: number;
  readonly body: string;
  readonly stderr: string;
}

/** `curl --socks5-hostname` to `url` through `socksPort`, bounded by `maxTimeSecs`. */
export async function curlVia(
  socksPort: number,
  url: string,
  maxTimeSecs = 5,
): Promise<CurlResult> {
  const output = await new Deno.Command("/usr/bin/curl", {
    args: [
      "--silent",
      "--show-error",
      "--fail",
      "--max-time",
      `${maxTimeSecs}`,
      "--socks5-hostname",
      `127.0.0.1:${socksPort}`,
      url,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    body: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Retries curl until it succeeds (a port may still be discovering its exit); throws after `timeoutMs`. */
export async function firstCurlVia(
  socksPort: number,
  url: string,
  timeoutMs: number,
): Promise<CurlResult> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const left = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const result = await curlVia(socksPort, url, Math.min(left, 10));
    if (result.code === 0) return result;
    if (Date.now() > deadline) {
      throw new Error(
        `curl through port ${socksPort} kept failing for ${timeoutMs} ms ` +
          `(last: ${result.code} ${result.stderr.trim()})`,
      );
    }
    await sleep(200);
  }
}

async function readAtLeast(
  conn: Deno.Conn,
  buffer: Uint8Array[],
  count: number,
): Promise<Uint8Array> {
  let have = buffer.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  while (have < count) {
    const chunk = new Uint8Array(512);
    const n = await conn.read(chunk);
    if (n === null) throw new Error(`The SOCKS server closed after ${have} bytes.`);
    buffer.push(chunk.subarray(0, n));
    have += n;
  }
  const all = new Uint8Array(have);
  let offset = 0;
  for (const chunk of buffer.splice(0)) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  buffer.push(all.subarray(count));
  return all.subarray(0, count);
}

/**
 * A SOCKS5 CONNECT (no auth, domain address type) to `host:port` through
 * `socksPort`; returns the reply code (0 = succeeded), bounded by `timeoutMs`.
 */
export async function socksReplyCode(
  socksPort: number,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: socksPort });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    const pending: Uint8Array[] = [];
    await conn.write(Uint8Array.of(5, 1, 0));
    const method = await readAtLeast(conn, pending, 2);
    if (method[0] !== 5 || method[1] !== 0) throw new Error(`Method answer ${method.join(" ")}.`);
    const name = new TextEncoder().encode(host);
    await conn.write(
      Uint8Array.of(5, 1, 0, 3, name.byteLength, ...name, port >> 8, port & 0xff),
    );
    const reply = await readAtLeast(conn, pending, 2);
    return reply[1]!;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

/** A destination that answers every HTTP request with `whoami <source>`. */
export interface Whoami {
  readonly port: number;
  readonly url: string;
  /** Requests served so far. */
  readonly served: () => number;
  close(): Promise<void>;
}

/** Starts the whoami destination on 127.0.0.1. */
export function startWhoami(): Whoami {
  let served = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (_, info) => {
    served++;
    return new Response(`whoami ${(info.remoteAddr as Deno.NetAddr).hostname}\n`);
  });
  return {
    port: server.addr.port,
    url: `http://127.0.0.1:${server.addr.port}/`,
    served: () => served,
    close: () => server.shutdown(),
  };
}

// ---------------------------------------------------------------------------
// An in-process peer that presents tokens of its choice

/** Gets a token for `identity` from the service at `url` with `apiKey`. */
export async function issueToken(
  url: string,
  identity: Identity,
  apiKey: string,
  role: TokenRole,
  transport: AuthTransportKind = "connect",
): Promise<string> {
  const client = new AuthServiceClient({ url, transport, timeoutMs: PEER_EXCHANGE_TIMEOUT_MS });
  try {
    const request = await signIssueTokenRequest(identity, {
      apiKey,
      role,
      timestampMs: Date.now(),
    });
    return (await client.issueToken(request)).token;
  } finally {
    client.close();
  }
}

/** Flips one character of the token's `part` (0 header, 1 payload, 2 signature). */
export function tamperWith(token: string, part: 1 | 2): string {
  const parts = token.split(".");
  const text = parts[part] ?? "";
  // The middle of a part: every bit of that character is significant (not base64url padding bits).
  const index = Math.floor(text.length / 2);
  const flipped = text[index] === "A" ? "B" : "A";
  parts[part] = `${text.slice(0, index)}${flipped}${text.slice(index + 1)}`;
  return parts.join(".");
}

/** A libp2p node on 127.0.0.1 with its own identity, for presenting tokens. */
export interface TestPeer {
  readonly identity: Identity;
  readonly network: Libp2pNetwork;
  /** A ConnectRequest to `exit` for `host:port` with `token`; the exit's status and message. */
  connect(
    exit: Pick<NodeProcess, "address" | "peerId">,
    target: { host: string; port: number },
    token: string,
  ): Promise<{ status: ConnectStatus; message: string }>;
  /** A FindNodes to `hub` with `token`: the peer ids found, or the hub's refusal. */
  findNodes(hub: Pick<NodeProcess, "address" | "peerId">, token: string): Promise<HubAnswer>;
  /** A Register with `hub` with `token`: accepted, or the hub's refusal. */
  register(hub: Pick<NodeProcess, "address" | "peerId">, token: string): Promise<HubAnswer>;
  /** Stops the node and waits out the timers js-libp2p leaves behind (see `_libp2p.ts`). */
  stop(): Promise<void>;
}

/** What a hub answered: ok (with the exits a FindNodes found), or an error code and message. */
export type HubAnswer =
  | { readonly ok: true; readonly peers: readonly string[] }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

async function hubAnswer(ask: () => Promise<readonly string[]>): Promise<HubAnswer> {
  try {
    return { ok: true, peers: await ask() };
  } catch (error) {
    if (error instanceof HubRefusal) {
      return { ok: false, code: error.wireCode, message: error.message };
    }
    throw error;
  }
}

/** Starts a {@link TestPeer} with a fresh identity unless one is given. */
export async function startTestPeer(identity?: Identity): Promise<TestPeer> {
  const id = identity ?? await FileIdentity.generate();
  const network = await Libp2pNetwork.create(id, {
    listen: ["/ip4/127.0.0.1/tcp/0"],
    announce: [],
    dialTimeoutMs: PEER_EXCHANGE_TIMEOUT_MS,
  });
  await network.start();
  const target = (node: Pick<NodeProcess, "address" | "peerId">) => ({
    address: asMultiaddr(node.address),
    peer: asPeerId(node.peerId),
  });
  return {
    identity: id,
    network,
    async connect(exit, destination, token) {
      const signal = AbortSignal.timeout(PEER_EXCHANGE_TIMEOUT_MS);
      const { peer, address } = target(exit);
      if (!network.isConnected(peer)) await network.dialAny([address], signal);
      const stream = await network.open(peer, {
        protocol: CONNECT_PROTOCOL,
        timeoutMs: PEER_EXCHANGE_TIMEOUT_MS,
        maxConcurrent: 8,
        signal,
      });
      try {
        const reply = await requestConnect(
          stream,
          { ...destination, token, sessionId: `test-${crypto.randomUUID()}` },
          signal,
        );
        return { status: reply.status, message: reply.message };
      } finally {
        stream.abort();
      }
    },
    findNodes(hub, token) {
      return hubAnswer(async () => {
        const request = create(DirectoryRequestSchema, {
          request: { case: "findNodes", value: { limit: 25, token } },
        });
        const answer = await askHub(network, target(hub), request, "findNodes", {
          timeoutMs: PEER_EXCHANGE_TIMEOUT_MS,
        });
        return answer.peers.map((record) => record.peerId);
      });
    },
    register(hub, token) {
      return hubAnswer(async () => {
        const request = create(DirectoryRequestSchema, {
          request: {
            case: "register",
            value: {
              attributes: attributesToWire({
                bandwidthBps: 100_000_000,
                proxy: false,
                mobile: false,
                hosting: false,
              }),
              addresses: network.addresses().map(String),
              relayed: false,
              token,
            },
          },
        });
        await askHub(network, target(hub), request, "register", {
          timeoutMs: PEER_EXCHANGE_TIMEOUT_MS,
        });
        return [];
      });
    },
    async stop() {
      await network.stop();
      await libp2pSettled();
    },
  };
}
