/**
 * `p2proxy keygen` and `p2proxy id`: create and show the node's identity.
 *
 * @module
 */
import type { Command } from "commander";
import { join } from "node:path";
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
    .description("create a new Ed25519 identity file and print its peer id")
    .option("--out <file>", "where to write the key", `./${KEYPAIR_FILE}`)
    .action(async (options: { out: string }) => {
      try {
        const identity = await createIdentityFile(options.out);
        console.log(identity.peerId);
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) {
          throw new CliExit(
            EXIT_RUNTIME_FAILURE,
            `"${options.out}" already exists; refusing to replace an identity. Choose another --out.`,
          );
        }
        throw error;
      }
    });

  program
    .command("id")
    .description("print this node's peer id (creates the identity on first use)")
    .option("--state-dir <dir>", "where the keypair lives", ".")
    .action(async (options: { stateDir: string }) => {
      const plugins = await loadPlugins(context.cwd, context.staticModules);
      const plan = planRole({ role: "tool" }, plugins, { wants: ["identity"] });
      const composition = await Composition.create(plan, {
        stateDir: options.stateDir,
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

/** Path of the keypair in a state dir. */
export function keypairPath(stateDir: string): string {
  return join(stateDir, KEYPAIR_FILE);
}
