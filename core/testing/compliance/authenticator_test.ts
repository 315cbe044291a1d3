import assert from "node:assert/strict";
import type { Authenticator } from "../../ports/authenticator.ts";
import { authenticatorCompliance } from "./authenticator.ts";
import { recordingContext } from "./_recording_context.ts";

const honest: Authenticator = {
  // deno-lint-ignore require-await
  async token(signal) {
    signal?.throwIfAborted();
    return "token-123";
  },
};

Deno.test("an honest authenticator passes the authenticator compliance suite", (t) =>
  authenticatorCompliance(t, () => ({ authenticator: honest })));

Deno.test("the authenticator suite accepts an abort wrapped with its reason as cause", (t) =>
  authenticatorCompliance(t, () => ({
    authenticator: {
      token: (signal) =>
        signal?.aborted
          ? Promise.reject(new Error("Cancelled.", { cause: signal.reason }))
          : Promise.resolve("t"),
    },
  })));

Deno.test("the authenticator suite fails one that ignores the signal", async () => {
  const recording = recordingContext();
  await authenticatorCompliance(recording.t, () => ({
    authenticator: { token: () => Promise.resolve("t") },
  }));
  assert.deepEqual(recording.failed(), ["an already aborted signal rejects with its reason"]);
});

Deno.test("the authenticator suite fails one that returns an empty token", async () => {
  const recording = recordingContext();
  await authenticatorCompliance(recording.t, () => ({
    authenticator: {
      // deno-lint-ignore require-await
      async token(signal) {
        signal?.throwIfAborted();
        return "";
      },
    },
  }));
  assert.deepEqual(recording.failed(), [
    "token() resolves to a non-empty string, twice",
    "concurrent token() calls all resolve",
    "token() accepts a live signal",
  ]);
});
