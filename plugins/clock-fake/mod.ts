/**
 * `@p2proxy/clock-fake`: the fake clock of `core/testing` as a plugin, for
 * tests and simulations. Time moves only when something sleeps, and sleeps
 * return at once (running the timers whose deadline they pass), so a node
 * using it retries in a tight loop: never choose it for a real node.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { FAKE_CLOCK_START_MS, FakeClock } from "../../core/testing/fakes.ts";

export { FakeClock } from "../../core/testing/fakes.ts";

const logger = getLogger(["p2proxy", "clock-fake"]);

/** Options: where fake time starts. */
export const ClockFakeOptions = z.object({
  /** Milliseconds since the Unix epoch at creation (default 2023-11-14T22:13:20Z). */
  start_ms: z.number().int().nonnegative().default(FAKE_CLOCK_START_MS),
}).strict();

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/clock-fake",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "A fake clock for tests: time moves only by sleeps, which return at once.",
  provides: ["clock"],
  options: ClockFakeOptions,
  permissions: () => ({}),
  create: (options) => {
    logger.warn(
      "Using the fake clock (starting at {startMs}): sleeps return at once. Use it only in tests.",
      { startMs: options.start_ms },
    );
    return { provides: { clock: new FakeClock(options.start_ms) } };
  },
});

export default plugin;
