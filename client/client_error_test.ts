import assert from "node:assert/strict";
import { asPeerId } from "../core/ids.ts";
import { ClientError, errorOfOutcome } from "./client_error.ts";

const EXIT = asPeerId("12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ");

Deno.test("errorOfOutcome maps the connect protocol's statuses and reasons to one code each", () => {
  const cases: [Parameters<typeof errorOfOutcome>[0], string][] = [
    [{ ok: false, replyCode: 1, stage: "no-peer", message: "none" }, "no_exit"],
    [
      { ok: false, replyCode: 2, stage: "refused", message: "denied", peerId: EXIT },
      "policy_denied",
    ],
    [{ ok: false, replyCode: 2, stage: "refused", message: "bad token", reason: "auth" }, "auth"],
    [{ ok: false, replyCode: 1, stage: "stream", message: "no token", reason: "auth" }, "auth"],
    [{ ok: false, replyCode: 3, stage: "refused", message: "net" }, "unreachable"],
    [{ ok: false, replyCode: 4, stage: "refused", message: "host", reason: "dns" }, "unreachable"],
    [{ ok: false, replyCode: 5, stage: "refused", message: "refused" }, "refused"],
    [{ ok: false, replyCode: 6, stage: "refused", message: "slow" }, "timeout"],
    [{ ok: false, replyCode: 1, stage: "stream", message: "open", reason: "timeout" }, "timeout"],
    [
      { ok: false, replyCode: 1, stage: "refused", message: "limit", reason: "limit" },
      "exit_failed",
    ],
    [{ ok: false, replyCode: 1, stage: "stream", message: "reset" }, "exit_failed"],
    [{ ok: false, replyCode: 99, stage: "refused", message: "odd" }, "exit_failed"],
  ];
  for (const [outcome, code] of cases) {
    const error = errorOfOutcome(outcome, "example.test:443");
    assert.ok(error instanceof ClientError);
    assert.equal(error.code, code, JSON.stringify(outcome));
    assert.match(error.message, /example\.test:443/);
    assert.ok(error.message.includes(outcome.message), "the router's message is kept");
    assert.equal(error.exit, outcome.peerId);
  }
});
