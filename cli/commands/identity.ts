/**
 * `p2proxy keygen` and `p2proxy id`: create and show the node's identity.
 *
 * @module
 */
import type { Command } from "commander";
import { join } from "node:path";
import { DEFAULT_STATE_DIR } from "../../core/config/common.ts";
import { createIdentityFile } from "../../plugins/identity-file/mod.ts";
import { planRole } from "../../compose/plan.ts";
import { Composition } from "../../core/plugin/host.ts";
import { loadPlugins } from "../plugin_loader.ts";
import type { CliContext } from "../context.ts";
import { CliExit, EXIT_RUNTIME_FAILURE } from "../exit_codes.ts";

/** The identity file name inside a state dir (docs/authentication.md#identity). */
export const KEYPAIR_FILE = "node_keypair.bin";

/** Adds `keygen` and `id`. */
export function registerIdentity(program: Command, context: CliContext): void {
  program
    .command("keygen")
    .description("create a new Ed25519 identity file in the state dir and print its peer id")
    .option("--state-dir <dir>", `the node's state dir (env ${STATE_DIR_ENV}; default ".")`)
    .option("--out <file>", `where to write the key (default: <state dir>/${KEYPAIR_FILE})`)
    .action(async (options: { out?: string; stateDir?: string }) => {
      const out = options.out ?? keypairPath(stateDirOf(options));
      try {
        const identity = await createIdentityFile(out);
        console.log(identity.peerId);
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) {
          throw new CliExit(
            EXIT_RUNTIME_FAILURE,
            `"${out}" already exists; refusing to replace an identity. Choose another --out.`,
          );
        }
        throw error;
      }
    });

  program
    .command("id")
    .description("print this node's peer id (creates the identity on first use)")
    .option("--state-dir <dir>", `where the keypair lives (env ${STATE_DIR_ENV}; default ".")`)
    .action(async (options: { stateDir?: string }) => {
      const plugins = await loadPlugins(context.cwd, context.staticModules);
      const plan = planRole({ role: "tool" }, plugins, { wants: ["identity"] });
      const composition = await Composition.create(plan, {
        stateDir: stateDirOf(options),
        role: "tool",
      });
      try {
        await composition.start();
        console.log(composition.get("identity").peerId);
      } finally {
        await composition.stop();
      }
    });
}

/** The variable that sets `state_dir` for every role, and for `keygen` and `id`. */
const STATE_DIR_ENV = "P2PROXY_STATE_DIR";

/** `--state-dir`, else `P2PROXY_STATE_DIR` (when readable), else the current folder. */
function stateDirOf(options: { stateDir?: string }): string {
  if (options.stateDir) return options.stateDir;
  try {
    return Deno.env.get(STATE_DIR_ENV) || DEFAULT_STATE_DIR;
  } catch (error) {
    // Not allowed to read the variable: then it cannot have been meant for this run.
    if (error instanceof Deno.errors.NotCapable) return DEFAULT_STATE_DIR;
    throw error;
  }
}

/** Path of the keypair in a state dir. */
export function keypairPath(stateDir: string): string {
  return join(stateDir, KEYPAIR_FILE);
}
