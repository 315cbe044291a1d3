/**
 * `deno task proto`: lints the `.proto` sources and regenerates the
 * TypeScript in `proto/gen/` with buf and protoc-gen-es, offline, using only
 * the running `deno` binary.
 *
 * - buf runs as `deno run -A npm:@bufbuild/buf@<pinned>`. Its npm package is a
 *   small Node shim that spawns the native binary from a platform package
 *   (`@bufbuild/buf-linux-x64`, …), which npm and Deno install as an optional
 *   dependency. Deno skips the package's `postinstall` script ("Ignored build
 *   scripts"); that script only checks the binary's version and, when optional
 *   dependencies were not installed, fetches the platform package with npm.
 *   Deno does install the optional dependency of the current platform, so buf
 *   works without the script (tried with an empty DENO_DIR and node_modules,
 *   and under `npx deno@2.9.6` with no deno on PATH).
 * - The template is `proto/buf.gen.yaml`, passed to buf inline with its
 *   `"deno"` command replaced by `Deno.execPath()`, so that the plugin runs
 *   with this very deno even when it is not on PATH (e.g. under
 *   `npx deno task proto`), and with `out` pointing where we want.
 * - The pinned versions come from deno.json `imports`, the one place that pins
 *   them; the template's plugin version must match it.
 *
 * Usage: `deno task proto [--out DIR] [--no-lint]`.
 *
 * @module
 */
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { P2proxyError } from "../core/errors.ts";

/** The buf module root (where buf.yaml lives). */
export const PROTO_DIR: string = new URL("../proto/", import.meta.url).pathname;

/** Where the committed generated code lives. */
export const GENERATED_DIR: string = new URL("../proto/gen/", import.meta.url).pathname;

const DENO_JSON_PATH = new URL("../deno.json", import.meta.url).pathname;
const TEMPLATE_PATH = `${PROTO_DIR}buf.gen.yaml`;
const BUF_IMPORT = "@bufbuild/buf";
const PROTOC_GEN_ES_IMPORT = "@bufbuild/protoc-gen-es";

/** Why codegen failed. */
export type ProtoCodegenErrorCode =
  /** deno.json or buf.gen.yaml does not pin the tools as this script expects. */
  | "bad-setup"
  /** buf lint or buf generate exited with an error. */
  | "buf-failed"
  /** Bad command-line arguments. */
  | "usage";

/** A failure of the codegen script, with what to do about it. */
export class ProtoCodegenError extends P2proxyError<ProtoCodegenErrorCode> {}

/** Options of {@link generateProto}. */
export interface GenerateOptions {
  /** Output directory; emptied first (buf's `clean`). Default: `proto/gen/`. */
  readonly outDir?: string;
  /** Run `buf lint` first. Default: true. */
  readonly lint?: boolean;
  /** Print buf's output. Default: false (output is shown only on failure). */
  readonly verbose?: boolean;
}

interface TemplatePlugin {
  local?: unknown;
  out?: unknown;
  [key: string]: unknown;
}

interface Template {
  plugins?: TemplatePlugin[];
  [key: string]: unknown;
}

/** The `npm:` specifier deno.json pins for a package, e.g. `npm:@bufbuild/buf@1.74.0`. */
export async function pinnedSpecifier(name: string): Promise<string> {
  const denoJson = JSON.parse(await Deno.readTextFile(DENO_JSON_PATH)) as {
    imports?: Record<string, string>;
  };
  const specifier = denoJson.imports?.[name];
  if (!specifier?.startsWith("npm:")) {
    throw new ProtoCodegenError(
      "bad-setup",
      `deno.json has no npm: import for "${name}"; add it to "imports" with an exact version.`,
    );
  }
  return specifier;
}

/**
 * Reads buf.gen.yaml and rewrites it for this run: the plugin command uses
 * this deno binary and writes to `outDir`.
 */
async function buildTemplate(outDir: string, protocGenEs: string): Promise<Template> {
  const template = parseYaml(await Deno.readTextFile(TEMPLATE_PATH)) as Template;
  const plugins = template.plugins ?? [];
  if (plugins.length !== 1) {
    throw new ProtoCodegenError(
      "bad-setup",
      `${TEMPLATE_PATH} has ${plugins.length} plugins; this script expects exactly one (protoc-gen-es).`,
    );
  }
  const plugin = plugins[0]!;
  const local = plugin.local;
  if (!Array.isArray(local) || local[0] !== "deno" || !local.includes(protocGenEs)) {
    throw new ProtoCodegenError(
      "bad-setup",
      `${TEMPLATE_PATH} plugin "local" is ${JSON.stringify(local)}; expected ` +
        `["deno", "run", "-A", "${protocGenEs}"] to match deno.json.`,
    );
  }
  return {
    ...template,
    plugins: [{ ...plugin, local: [Deno.execPath(), ...local.slice(1)], out: outDir }],
  };
}

/** Runs `deno run -A <buf> <args>` in the module root; throws with buf's output on failure. */
async function runBuf(buf: string, args: string[], verbose: boolean): Promise<void> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", buf, ...args],
    cwd: PROTO_DIR,
    stdin: "null",
    stdout: verbose ? "inherit" : "piped",
    stderr: verbose ? "inherit" : "piped",
  });
  const result = await command.output();
  if (result.success) return;
  const decoder = new TextDecoder();
  const output = verbose ? "" : decoder.decode(result.stdout) + decoder.decode(result.stderr);
  // The shim's error when the platform package (an optional dependency) is absent.
  const hint = output.includes("ENOENT")
    ? ` The buf binary for ${Deno.build.os}/${Deno.build.arch} may be missing: ` +
      "check that node_modules/.deno has @bufbuild/buf-<platform>@<version>."
    : "";
  throw new ProtoCodegenError(
    "buf-failed",
    `"buf ${args[0]}" failed with exit code ${result.code}.${hint}` +
      (output ? `\n${output.trim()}` : ""),
  );
}

/** Lints (optionally) and generates the TypeScript for every `.proto` file under proto/. */
export async function generateProto(options: GenerateOptions = {}): Promise<void> {
  const outDir = options.outDir ?? GENERATED_DIR;
  const verbose = options.verbose ?? false;
  const buf = await pinnedSpecifier(BUF_IMPORT);
  const template = await buildTemplate(outDir, await pinnedSpecifier(PROTOC_GEN_ES_IMPORT));
  if (options.lint ?? true) await runBuf(buf, ["lint"], verbose);
  await runBuf(buf, ["generate", "--template", JSON.stringify(template)], verbose);
}

function parseArgs(args: string[]): GenerateOptions {
  let outDir: string | undefined;
  let lint = true;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--no-lint") {
      lint = false;
    } else if (arg === "--out" && args[i + 1]) {
      outDir = resolve(args[++i]!);
    } else {
      throw new ProtoCodegenError(
        "usage",
        `Unknown argument "${arg}"; usage: deno task proto [--out DIR] [--no-lint].`,
      );
    }
  }
  return { ...(outDir ? { outDir } : {}), lint, verbose: true };
}

if (import.meta.main) {
  const started = performance.now();
  try {
    const options = parseArgs(Deno.args);
    await generateProto(options);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`Generated ${options.outDir ?? GENERATED_DIR} in ${seconds} s.`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
}
