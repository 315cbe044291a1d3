import assert from "node:assert/strict";
import { AuthError } from "../../core/ports/authenticator.ts";
import { authenticatorCompliance } from "../../core/testing/compliance/authenticator.ts";
import { StaticAuthenticator } from "./static_authenticator.ts";

Deno.test("StaticAuthenticator passes the authenticator compliance suite", (t) =>
  authenticatorCompliance(t, () => ({ authenticator: new StaticAuthenticator("s3cret") })));

Deno.test("StaticAuthenticator returns its token every time", async () => {
  const authenticator = new StaticAuthenticator("tok-1");
  assert.equal(await authenticator.token(), "tok-1");
  assert.equal(await authenticator.token(), "tok-1");
  assert.equal(authenticator.hasToken, true);
});

Deno.test("StaticAuthenticator without a token rejects with a message saying where to set one", async () => {
  for (const token of [undefined, ""]) {
    const authenticator = new StaticAuthenticator(token);
    assert.equal(authenticator.hasToken, false);
    await assert.rejects(authenticator.token(), (error) => {
      assert.ok(error instanceof AuthError);
      assert.equal(error.code, "rejected");
      assert.match(error.message, /"token"/);
      assert.match(error.message, /P2PROXY_TOKEN/);
      return true;
    });
  }
});

Deno.test("StaticAuthenticator does not reveal its token when inspected", () => {
  const shown = Deno.inspect(new StaticAuthenticator("very-secret-token"), { depth: 5 });
  assert.ok(!shown.includes("very-secret-token"), shown);
});
