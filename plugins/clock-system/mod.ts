/**
 * `@p2proxy/clock-system`: the real clock (`Date.now()` and timers). The
 * default provider of `clock`; needs no permissions and no options.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { SystemClock } from "./system_clock.ts";

export { SystemClock } from "./system_clock.ts";

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/clock-system",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The system clock: Date.now() and timers.",
  provides: ["clock"],
  options: z.object({}).strict(),
  permissions: () => ({}),
  create: () => ({ provides: { clock: new SystemClock() } }),
});

export default plugin;
