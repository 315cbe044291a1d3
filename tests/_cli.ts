/**
 * Runs the p2proxy CLI (or any `deno` command) as a real subprocess for the
 * integration tests: always `--no-prompt`, the parent's `P2PROXY_*` variables
 * removed so the developer's shell cannot change a result, and killed on a
 * timeout so that a hang fails the test in seconds.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The CLI's entry point. */
export const CLI_MAIN: string = new URL("../cli/main.ts", import.meta.url).href;

/** The repository root (where the CLI's deno.json lives). */
export const REPO_ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** Enough for a cold start of the CLI on a slow CI box; a hang fails after this. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** What a finished subprocess left behind. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of `runCli` and `runDeno`. */
export interface RunOptions {
  /** Working directory of the child (default: this process's). */
  readonly cwd?: string;
  /** Variables set on top of the inherited environment (minus `P2PROXY_*`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Kill the child after this long (default `DEFAULT_TIMEOUT_MS`). */
  readonly timeoutMs?: number;
  /** Flags between `deno run` and the script, for `runCli` (default `["-A"]`). */
  readonly denoFlags?: readonly string[];
}

/** Runs `deno run <denoFlags> --no-prompt cli/main.ts <args>`. */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return runDeno(
    ["run", ...(options.denoFlags ?? ["-A"]), "--no-prompt", CLI_MAIN, ...args],
    options,
  );
}

/** Runs `deno <args>` (the same binary as this test) and collects its output. */
export async function runDeno(
  args: readonly string[],
  options: RunOptions = {},
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: childEnv(options.env ?? {}),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    const output = await child.output();
    const result = {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
    if (timedOut) {
      throw new Error(
        `"deno ${args.join(" ")}" did not finish within ${timeoutMs} ms and was killed.\n` +
          `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
      );
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** The inherited environment without `P2PROXY_*`, plain output, plus `extra`. */
function childEnv(extra: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    if (!name.startsWith("P2PROXY_")) env[name] = value;
  }
  return { ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...extra };
}

/**
 * Subprocesses started at once by `inParallel`: more only queue up on the two
 * cores of a CI box and on Deno's node_modules lock.
 */
export const PARALLEL_LIMIT = 4;

/** Runs `tasks` at most `limit` at a time; results in the order of `tasks`. */
export async function inParallel<T>(
  tasks: readonly (() => Promise<T>)[],
  limit: number = PARALLEL_LIMIT,
): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** `inParallel` over named tasks: `{ a: () => run(…) }` → `{ a: result }`. */
export async function inParallelByName<K extends string, T>(
  tasks: Readonly<Record<K, () => Promise<T>>>,
  limit: number = PARALLEL_LIMIT,
): Promise<Record<K, T>> {
  const names = Object.keys(tasks) as K[];
  const results = await inParallel(names.map((name) => tasks[name]), limit);
  return Object.fromEntries(names.map((name, i) => [name, results[i]])) as Record<K, T>;
}

/** A short description of a result, for assertion messages. */
export function describe(result: CliResult): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** A peer id as libp2p prints an Ed25519 one: `12D3KooW` and 44 more base58btc characters. */
export const PEER_ID_PATTERN = /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/;
