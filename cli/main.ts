/**
 * The p2proxy command line. `deno run -A cli/main.ts --help`.
 *
 * @module
 */
import { runCli } from "./program.ts";

if (import.meta.main) {
  Deno.exit(await runCli());
}
