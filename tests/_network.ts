/**
 * Shared plumbing of the multi-process network tests (hub, exits, proxies as
 * real processes on loopback): a whoami destination, curl through a SOCKS
 * port with a deadline, the proxy's admin API (`/servers`), a Prometheus
 * scraper, and a cluster that stops every process it started.
 *
 * Exits are told apart by their `bind_address` (127.0.0.2, .3, …): the
 * destination answers with the source address it sees.
 *
 * @module
 */
import {
  freePort,
  type NodeProcess,
  startExit,
  startHub,
  type StartOptions,
  startProxy,
} from "../scripts/cluster.ts";
import { ByteDigest } from "./_servers.ts";

/** The exits' egress exception: the destinations run on loopback. */
export const LOOPBACK_EGRESS = { allow_cidrs: ["127.0.0.0/8"] } as const;

/** Bound on one HTTP call to a node's metrics endpoint. */
const ADMIN_TIMEOUT_MS = 5_000;

/** Pause between two polls of a condition. */
const POLL_INTERVAL_MS = 100;

/** Bound on a graceful stop before SIGKILL (tests do not need the 10 s drain). */
const STOP_GRACE_MS = 5_000;

/** `ms` of sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a value other than undefined; throws after `timeoutMs`. */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (true) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? ` (last error: ${last.message})` : "";
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${detail}.`);
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

// ---------------------------------------------------------------------------
// Destination

/** A destination that answers every HTTP request with the source address it sees. */
export interface Whoami {
  readonly port: number;
  /** `http://127.0.0.1:<port>/`. */
  readonly url: string;
  /** Source addresses of the requests so far, in order. */
  readonly seen: readonly string[];
  close(): Promise<void>;
}

/**
 * Starts the whoami destination on 127.0.0.1. `GET /` answers the source
 * host; `GET /bytes/<n>` answers `n` bytes (a repeating 0..250 pattern, so a
 * test can check them without keeping them).
 */
export function startWhoami(): Whoami {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request, info) => {
    const source = (info.remoteAddr as Deno.NetAddr).hostname;
    seen.push(source);
    const bytes = /^\/bytes\/(\d+)$/.exec(new URL(request.url).pathname);
    if (!bytes) return new Response(source);
    return new Response(countingBody(Number(bytes[1])), {
      headers: { "content-length": bytes[1]!, "content-type": "application/octet-stream" },
    });
  });
  const port = server.addr.port;
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    seen,
    close: () => server.shutdown(),
  };
}

/** The chunk `countingBody` repeats: bytes 0..250, a length prime to any power of two. */
const COUNTING_CYCLE = Uint8Array.from({ length: 251 }, (_, i) => i);

/** Bytes 0..250 repeated, `length` in all: what `/bytes/<n>` sends. */
function countingBody(length: number): ReadableStream<Uint8Array> {
  const chunkBytes = COUNTING_CYCLE.byteLength * 1024;
  const chunk = new Uint8Array(chunkBytes);
  for (let i = 0; i < chunkBytes; i++) chunk[i] = i % 251;
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= length) return controller.close();
      const size = Math.min(chunkBytes, length - sent);
      // Every chunk starts at a multiple of 251 bytes, so each is the same slice of the cycle.
      controller.enqueue(chunk.slice(0, size));
      sent += size;
    },
  });
}

/** SHA-256 (hex) of what `/bytes/<length>` sends. */
export function countingSha256(length: number): string {
  const digest = new ByteDigest();
  const chunkBytes = COUNTING_CYCLE.byteLength * 1024;
  const chunk = new Uint8Array(chunkBytes);
  for (let i = 0; i < chunkBytes; i++) chunk[i] = i % 251;
  for (let sent = 0; sent < length; sent += chunkBytes) {
    digest.update(chunk.subarray(0, Math.min(chunkBytes, length - sent)));
  }
  return digest.hex();
}

// ---------------------------------------------------------------------------
// curl through a SOCKS port

/** What one curl run through a SOCKS port gave. */
export interface CurlResult {
  /** curl's exit code (0 ok; 97 SOCKS failure; 28 timeout; 7 connect failure). */
  readonly code: number;
  /** The body as text when at most 4 KiB, else "". */
  readonly text: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly stderr: string;
  /** Wall time of the run. */
  readonly ms: number;
}

/**
 * Fetches `url` through the SOCKS port (socks5h: the exit resolves), bounded
 * by `timeoutSecs`; `extraArgs` go to curl (e.g. `--limit-rate 8M`).
 */
export async function curlVia(
  socksPort: number,
  url: string,
  timeoutSecs = 5,
  extraArgs: readonly string[] = [],
): Promise<CurlResult> {
  const started = performance.now();
  const child = new Deno.Command("curl", {
    args: [
      "--silent",
      "--show-error",
      "--fail",
      "--max-time",
      `${timeoutSecs}`,
      "--socks5-hostname",
      `127.0.0.1:${socksPort}`,
      ...extraArgs,
      url,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const digest = new ByteDigest();
  const head: Uint8Array[] = [];
  let headBytes = 0;
  const stdout = (async () => {
    for await (const chunk of child.stdout) {
      digest.update(chunk);
      if (headBytes <= 4096) {
        head.push(chunk);
        headBytes += chunk.byteLength;
      }
    }
  })();
  const stderr = new Response(child.stderr).text();
  const [status, errText] = await Promise.all([child.status, stderr, stdout]);
  const text = digest.bytes <= 4096
    ? new TextDecoder().decode(new Uint8Array(head.flatMap((c) => [...c])))
    : "";
  return {
    code: status.code,
    text,
    bytes: digest.bytes,
    sha256: digest.hex(),
    stderr: errText,
    ms: performance.now() - started,
  };
}

/** The source address the whoami destination saw through the SOCKS port; throws when curl failed. */
export async function whoamiVia(
  socksPort: number,
  whoami: Whoami,
  timeoutSecs = 5,
): Promise<string> {
  const result = await curlVia(socksPort, whoami.url, timeoutSecs);
  if (result.code !== 0) {
    throw new Error(`curl through port ${socksPort} failed (${result.code}): ${result.stderr}`);
  }
  return result.text.trim();
}

/** Retries {@link whoamiVia} until it succeeds (a port may still be choosing its exit). */
export function firstWhoamiVia(socksPort: number, whoami: Whoami, timeoutMs: number) {
  return pollUntil(
    () => whoamiVia(socksPort, whoami, Math.max(1, Math.ceil(timeoutMs / 1000))),
    timeoutMs,
    `a request through port ${socksPort}`,
  );
}

// ---------------------------------------------------------------------------
// The proxy's admin API and Prometheus

/** One row of `GET /servers`. */
export interface ServerRow {
  readonly port: number;
  readonly peer_id: string | null;
  readonly source: string | null;
  /** `quic` or `libp2p` once the proxy opened a session to the exit. */
  readonly transport?: string | null;
}

async function adminFetch(metricsPort: number, path: string, init?: RequestInit) {
  return await fetch(`http://127.0.0.1:${metricsPort}${path}`, {
    ...init,
    signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS),
  });
}

/** `Authorization: Bearer <token>` when a token is given. */
function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** `GET /servers` of a proxy (with its `admin_token`, when it has one). */
export async function servers(metricsPort: number, token?: string): Promise<ServerRow[]> {
  const response = await adminFetch(metricsPort, "/servers", { headers: bearer(token) });
  if (!response.ok) throw new Error(`GET /servers answered ${response.status}`);
  return await response.json() as ServerRow[];
}

/** The row of `port` in `GET /servers`. */
export async function serverRow(
  metricsPort: number,
  port: number,
  token?: string,
): Promise<ServerRow> {
  const row = (await servers(metricsPort, token)).find((r) => r.port === port);
  if (!row) throw new Error(`GET /servers has no row for port ${port}`);
  return row;
}

/** Polls `GET /servers` until the row of `port` satisfies `predicate`. */
export function waitForRow(
  metricsPort: number,
  port: number,
  predicate: (row: ServerRow) => boolean,
  timeoutMs: number,
  what: string,
  token?: string,
): Promise<ServerRow> {
  return pollUntil(
    async () => {
      const row = await serverRow(metricsPort, port, token);
      return predicate(row) ? row : undefined;
    },
    timeoutMs,
    what,
  );
}

/** Options of {@link selectExitManually}. */
export interface ManualSelectionOptions {
  /** The proxy's `admin_token`. */
  readonly token?: string;
  /** Sends `"override": true`: choose the peer even against the port's pin or filters. */
  readonly override?: boolean;
}

/** `POST /servers/{port}/exit`: manual selection; the status and body. */
export async function selectExitManually(
  metricsPort: number,
  port: number,
  peerId: string,
  options: ManualSelectionOptions = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await adminFetch(metricsPort, `/servers/${port}/exit`, {
    method: "POST",
    body: JSON.stringify({ peer_id: peerId, ...(options.override ? { override: true } : {}) }),
    headers: { "content-type": "application/json", ...bearer(options.token) },
  });
  return { status: response.status, body: await response.json() };
}

/** What {@link adminRequestViaCurl} got back. */
export interface RawAdminAnswer {
  readonly status: number;
  readonly body: string;
}

/**
 * One request to 127.0.0.1:`metricsPort` through curl, for headers fetch
 * would rewrite (`Host`): curl connects to 127.0.0.1 whatever Host says, so
 * `Host: evil.example` is only a header value and nothing is resolved.
 */
export async function adminRequestViaCurl(
  metricsPort: number,
  path: string,
  request: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawAdminAnswer> {
  const headerArgs = Object.entries(request.headers ?? {}).flatMap(([name, value]) => [
    "--header",
    `${name}: ${value}`,
  ]);
  const output = await new Deno.Command("curl", {
    args: [
      "--silent",
      "--show-error",
      "--max-time",
      `${ADMIN_TIMEOUT_MS / 1000}`,
      "--request",
      request.method ?? "GET",
      ...headerArgs,
      ...(request.body === undefined ? [] : ["--data-binary", request.body]),
      "--write-out",
      "\n%{http_code}",
      `http://127.0.0.1:${metricsPort}${path}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `curl ${path} failed (${output.code}): ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  const split = text.lastIndexOf("\n");
  return { status: Number(text.slice(split + 1)), body: text.slice(0, split) };
}

/** The `/metrics` text of a node. */
export async function scrape(metricsPort: number): Promise<string> {
  const response = await adminFetch(metricsPort, "/metrics");
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  return await response.text();
}

/** The value of an unlabelled sample (`name value`) in Prometheus text; undefined when absent. */
export function metricValue(text: string, name: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const [key, value] = line.trim().split(/\s+/);
    if (key === name && value !== undefined) return Number(value);
  }
  return undefined;
}

/** Scrapes `metricsPort` and reads one sample (0 when absent). */
export async function metric(metricsPort: number, name: string): Promise<number> {
  return metricValue(await scrape(metricsPort), name) ?? 0;
}

// ---------------------------------------------------------------------------
// Processes

/** A node started with a metrics port (proxies: the admin API; hubs: `p2proxy_hub_*`). */
export interface MeteredNode extends NodeProcess {
  readonly metricsPort: number;
}

/**
 * Starts nodes and stops every one of them (newest first) in `close()`, so a
 * failing test leaves no process behind.
 */
export class Cluster {
  readonly #nodes: NodeProcess[] = [];

  /** A hub with a metrics port; `options.dir`/`options.port` restart one at the same address. */
  async hub(
    config: Record<string, unknown> = {},
    options: StartOptions = {},
  ): Promise<MeteredNode> {
    const metricsPort = freePort();
    const node = await startHub({ metrics_port: metricsPort, ...config }, options);
    return this.#track(Object.assign(node, { metricsPort }));
  }

  /**
   * An exit registered with `hub` (when given), leaving from `source`, egress
   * open to loopback, relay off unless `config` says otherwise.
   */
  async exit(
    source: string,
    hub: NodeProcess | undefined,
    config: Record<string, unknown> = {},
    options: StartOptions = {},
  ): Promise<NodeProcess> {
    const node = await startExit({
      bind_address: source,
      egress: LOOPBACK_EGRESS,
      relay: "never",
      ...(hub ? { bootstrap: [hub.address] } : {}),
      ...config,
    }, options);
    return this.#track(node);
  }

  /** A proxy with a metrics port (the admin API); discovery through `hub` when given. */
  async proxy(
    hub: NodeProcess | undefined,
    config: Record<string, unknown> & { servers: Array<{ port: number; [key: string]: unknown }> },
    options: StartOptions = {},
  ): Promise<MeteredNode> {
    const metricsPort = freePort();
    const node = await startProxy({
      metrics_port: metricsPort,
      ...(hub ? { bootstrap: [hub.address] } : {}),
      ...config,
    }, options);
    return this.#track(Object.assign(node, { metricsPort }));
  }

  /** Tracks a node started elsewhere. */
  track<T extends NodeProcess>(node: T): T {
    return this.#track(node);
  }

  #track<T extends NodeProcess>(node: T): T {
    this.#nodes.push(node);
    return node;
  }

  /** Every node's stderr, labelled (for assertion messages). */
  logs(): string {
    return this.#nodes.map((n) => `--- ${n.peerId}\n${n.logs()}`).join("\n");
  }

  /** Stops every node (graceful, SIGKILL after a grace period); safe on killed nodes. */
  async close(): Promise<void> {
    const nodes = this.#nodes.splice(0).reverse();
    await Promise.all(nodes.map((node) => node.stop(STOP_GRACE_MS).catch(() => {})));
  }
}

/** A SOCKS port for a new server. */
export { freePort };
