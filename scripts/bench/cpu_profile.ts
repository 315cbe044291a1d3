/**
 * CPU profiles of a running `deno` process through its V8 inspector
 * (`deno run --inspect=127.0.0.1:<port>`): start the sampling profiler,
 * run a workload, stop, and summarise where the samples fell — by function
 * and by package — so the report can say where the time goes. The raw
 * profile is a `.cpuprofile` file that Chrome DevTools opens.
 *
 * @module
 */

/** Microseconds between samples (V8's default is 1000). */
const SAMPLING_INTERVAL_US = 200;

/** How long to wait for the inspector's HTTP endpoint. */
const INSPECTOR_READY_MS = 20_000;

/** A V8 CPU profile (the DevTools protocol's `Profiler.Profile`). */
export interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
    };
    readonly hitCount?: number;
    readonly children?: readonly number[];
  }>;
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

/** One line of a profile summary. */
export interface HotSpot {
  readonly name: string;
  readonly selfPercent: number;
}

/** A profile summarised. */
export interface ProfileSummary {
  readonly sampledMs: number;
  readonly byFunction: readonly HotSpot[];
  readonly byPackage: readonly HotSpot[];
}

/** The inspector flag to add to `deno run` for a profiler on `port`. */
export function inspectFlag(port: number): string {
  return `--inspect=127.0.0.1:${port}`;
}

/** A DevTools protocol session with one process. */
export class InspectorSession {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, (message: Record<string, unknown>) => void>();
  #nextId = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as Record<string, unknown>;
      const id = message.id as number | undefined;
      if (id === undefined) return;
      this.#pending.get(id)?.(message);
      this.#pending.delete(id);
    };
  }

  /** Connects to the inspector listening on 127.0.0.1:`port`. */
  static async connect(port: number): Promise<InspectorSession> {
    const deadline = Date.now() + INSPECTOR_READY_MS;
    let targets: Array<{ webSocketDebuggerUrl: string }> = [];
    while (targets.length === 0) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/json/list`);
        targets = await response.json();
      } catch {
        if (Date.now() > deadline) throw new Error(`No inspector on port ${port}.`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`Cannot open the inspector socket on ${port}.`));
    });
    return new InspectorSession(socket);
  }

  /** Sends one protocol command and resolves its result. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (message) => {
        if (message.error) reject(new Error(`${method}: ${JSON.stringify(message.error)}`));
        else resolve((message.result ?? {}) as Record<string, unknown>);
      });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Starts sampling. */
  async startProfiling(): Promise<void> {
    await this.send("Profiler.enable");
    await this.send("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
    await this.send("Profiler.start");
  }

  /** Stops sampling and returns the profile. */
  async stopProfiling(): Promise<CpuProfile> {
    const result = await this.send("Profiler.stop");
    return result.profile as CpuProfile;
  }

  /** Closes the session. */
  close(): void {
    this.#socket.close();
  }
}

/** The checkout's root as a file URL, to name project files relative to it. */
const REPO_ROOT = new URL("../../", import.meta.url).href;

/** Which package (npm name), project file or runtime part a script URL belongs to. */
export function packageOf(url: string): string {
  if (url === "") return "(native / V8 / GC / idle)";
  const npm = /node_modules\/\.deno\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (npm) return npm[1]!;
  if (url.startsWith(REPO_ROOT)) return url.slice(REPO_ROOT.length);
  if (url.startsWith("ext:") || url.startsWith("node:")) {
    return `deno runtime (${url.split("/")[0]})`;
  }
  return url;
}

/** Self time per function and per package, as percentages of the samples, highest first. */
export function summarize(profile: CpuProfile, top = 25): ProfileSummary {
  const total = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0) || 1;
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${packageOf(url)}:${lineNumber + 1}` : "";
    const name = `${functionName || "(anonymous)"}${where ? ` ${where}` : ""}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + hits);
    const pkg = url ? packageOf(url) : functionName || "(native)";
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + hits);
  }
  const rank = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, hits]) => ({
      name,
      selfPercent: Math.round((hits / total) * 1000) / 10,
    }));
  return {
    sampledMs: (profile.endTime - profile.startTime) / 1000,
    byFunction: rank(byFunction),
    byPackage: rank(byPackage),
  };
}
