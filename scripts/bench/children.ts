/**
 * Every process the bench starts is registered here, so that a normal end,
 * an error, or a Ctrl-C of the bench stops all of them: a graceful stop
 * first, SIGKILL for stragglers.
 *
 * @module
 */
import type { NodeProcess } from "../cluster.ts";

/** How long a helper process gets to exit after SIGTERM before SIGKILL. */
const HELPER_GRACE_MS = 2_000;

/** How long a p2proxy role gets for its graceful stop during cleanup (it drains sessions). */
const ROLE_GRACE_MS = 3_000;

/** A helper script running as a child, speaking JSON lines on stdout. */
export interface Helper {
  readonly name: string;
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  /** The next stdout line; rejects when the process ends first or the deadline passes. */
  nextLine(timeoutMs: number): Promise<string>;
  /** The next stdout line parsed as JSON. */
  nextJson<T>(timeoutMs: number): Promise<T>;
  /** Writes one line to its stdin (only when started with `stdin: true`). */
  send(line: string): Promise<void>;
  /** What it wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
}

type Stopper = { pid: number; stop: () => Promise<unknown> };

/** A child that ended while the bench still needed it. */
export interface Ended {
  readonly name: string;
  readonly pid: number;
  readonly status: Deno.CommandStatus;
}

/** The set of live children, and how to stop them. */
export class Children {
  readonly #live = new Map<number, Stopper>();
  readonly #ended: Ended[] = [];
  #stopping = false;
  #signalsInstalled = false;

  /** Children that exited before `stopAll` (a crash, or someone else killed them). */
  get endedEarly(): readonly Ended[] {
    return this.#ended;
  }

  #track(name: string, child: Deno.ChildProcess, stop: () => Promise<unknown>): void {
    const pid = child.pid;
    this.#live.set(pid, { pid, stop });
    child.status.then((status) => {
      this.#live.delete(pid);
      if (!this.#stopping) this.#ended.push({ name, pid, status });
    });
  }

  /** Kills every child (SIGKILL) if the bench itself is interrupted, then exits 130. */
  installSignalHandlers(): void {
    if (this.#signalsInstalled) return;
    this.#signalsInstalled = true;
    const onSignal = () => {
      console.error("\nInterrupted: killing the bench's child processes.");
      this.killAllNow();
      Deno.exit(130);
    };
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
  }

  /** Registers a p2proxy role started by `scripts/cluster.ts`. */
  adopt(node: NodeProcess, name = "p2proxy"): NodeProcess {
    this.#track(name, node.child, () => node.stop(ROLE_GRACE_MS));
    return node;
  }

  /** Registers any other child process (stopped with SIGTERM, then SIGKILL). */
  adoptProcess(child: Deno.ChildProcess, name = "child"): void {
    this.#track(name, child, () => terminate(child, HELPER_GRACE_MS));
  }

  /** Forgets a child the caller stops itself (a measured start-up); it is still killed on error. */
  expectEnd(pid: number): void {
    const index = this.#ended.findIndex((e) => e.pid === pid);
    if (index >= 0) this.#ended.splice(index, 1);
  }

  /** Starts `deno run -A --no-prompt <script> ...args` with stdout as a line channel. */
  spawnHelper(
    name: string,
    script: string,
    args: readonly string[],
    options: { stdin?: boolean; denoFlags?: readonly string[] } = {},
  ): Helper {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...(options.denoFlags ?? ["-A"]), "--no-prompt", script, ...args],
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.adoptProcess(child, name);
    return helperOf(name, child, options.stdin ?? false);
  }

  /** Pids of the children still running. */
  get pids(): number[] {
    return [...this.#live.keys()];
  }

  /** Stops every child gracefully (in parallel), then SIGKILLs any still alive. */
  async stopAll(): Promise<void> {
    this.#stopping = true;
    const stoppers = [...this.#live.values()];
    await Promise.allSettled(stoppers.map((s) => s.stop()));
    this.killAllNow();
  }

  /** SIGKILL to every child still registered. */
  killAllNow(): void {
    for (const pid of this.#live.keys()) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    }
  }
}

async function terminate(child: Deno.ChildProcess, graceMs: number): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, graceMs);
  try {
    await child.status;
  } finally {
    clearTimeout(timer);
  }
}

function helperOf(name: string, child: Deno.ChildProcess, hasStdin: boolean): Helper {
  let stderr = "";
  const decoder = new TextDecoder();
  (async () => {
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })().catch(() => {});
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter())
    .getReader();
  const writer = hasStdin ? child.stdin.getWriter() : undefined;
  const encoder = new TextEncoder();
  const nextLine = async (timeoutMs: number) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const result = await Promise.race([
        lines.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${name} sent no line within ${timeoutMs} ms.\n${stderr}`)),
            timeoutMs,
          );
        }),
      ]);
      if (result.done) throw new Error(`${name} ended before it answered.\n${stderr}`);
      return result.value;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    name,
    child,
    pid: child.pid,
    nextLine,
    async nextJson<T>(timeoutMs: number): Promise<T> {
      return JSON.parse(await nextLine(timeoutMs)) as T;
    },
    async send(line: string) {
      if (!writer) throw new Error(`${name} was started without stdin.`);
      await writer.write(encoder.encode(line + "\n"));
    },
    stderr: () => stderr,
    stop: () => terminate(child, HELPER_GRACE_MS),
  };
}

function lineSplitter(): TransformStream<string, string> {
  let pending = "";
  return new TransformStream({
    transform(text, controller) {
      pending += text;
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        controller.enqueue(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    },
    flush(controller) {
      if (pending.length > 0) controller.enqueue(pending);
    },
  });
}
