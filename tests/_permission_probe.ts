/**
 * Runs a snippet in a fresh Deno with only the given permission flags (and
 * the project's config, for its imports): how a plugin's tests prove it
 * works under exactly the permissions it declares, and nothing more.
 *
 * @module
 */

/** What the probe printed and how it ended. */
export interface ProbeResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `code` under `flags` only; `env` replaces the environment's variables when given. */
export async function runUnder(
  flags: readonly string[],
  code: string,
  env?: Record<string, string>,
): Promise<ProbeResult> {
  const script = await Deno.makeTempFile({ prefix: "p2proxy-perm-probe-", suffix: ".ts" });
  try {
    await Deno.writeTextFile(script, code);
    const config = new URL("../deno.json", import.meta.url).pathname;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", `--config=${config}`, ...flags, script],
      ...(env ? { env } : {}),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
  } finally {
    await Deno.remove(script);
  }
}
