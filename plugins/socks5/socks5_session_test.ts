import assert from "node:assert/strict";
import { SOCKS_REPLY } from "../../core/codec/socks5.ts";
import { aPeerId } from "../../core/testing/builders.ts";
import { connectFailureLine } from "./socks5_session.ts";

const PEER = aPeerId(1);

Deno.test("a refusal by the exit's policy or auth is 'denied by policy', at warn", () => {
  for (const stage of ["refused", "stream"] as const) {
    const line = connectFailureLine({
      ok: false,
      replyCode: SOCKS_REPLY.notAllowed,
      stage,
      message: "The exit's egress policy refuses [::1]:80.",
      peerId: PEER,
    });
    assert.equal(line.level, "warn");
    assert.match(line.template, /\bdenied by policy at exit \{peer\}: \{message\}$/);
    assert.doesNotMatch(line.template, /failed|refused/);
  }
});

Deno.test("other failures are info lines that say where they failed", () => {
  const refused = connectFailureLine({
    ok: false,
    replyCode: SOCKS_REPLY.connectionRefused,
    stage: "refused",
    message: "127.0.0.1:1 refused the connection.",
    peerId: PEER,
  });
  assert.equal(refused.level, "info");
  assert.match(refused.template, /^CONNECT \{target\} .*failed at exit \{peer\}: \{message\}$/);
  const noPeer = connectFailureLine({
    ok: false,
    replyCode: SOCKS_REPLY.generalFailure,
    stage: "no-peer",
    message: "No exit is available for port 1080.",
  });
  assert.match(noPeer.template, /failed: \{message\}$/);
  assert.doesNotMatch(noPeer.template, /\{peer\}/, "no exit to name");
});
