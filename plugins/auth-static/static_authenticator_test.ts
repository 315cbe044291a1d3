import assert from "node:assert/strict";
import { AuthError } from "../../core/ports/authenticator.ts";
import { authenticatorCompliance } from "../../core/testing/compliance/authenticator.ts";
import { StaticAuthenticator } from "./static_authenticator.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { runUnder } from "../../tests/_permission_probe.ts";
import { plugin, TOKEN_ENV_VAR } from "./mod.ts";

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

// ---------------------------------------------------------------------------
// The plugin (mod.ts): where the token comes from, and the permission that needs.

const ctx = { stateDir: ".", role: "proxy" as const };
const noRequires = {
  ...ctx,
  get: () => assert.fail("auth-static requires nothing"),
  find: () => assert.fail("auth-static wants nothing"),
};

/** Runs `fn` with P2PROXY_TOKEN set to `value` (or unset), restoring it afterwards. */
async function withEnvToken(value: string | undefined, fn: () => Promise<void>) {
  const before = Deno.env.get(TOKEN_ENV_VAR);
  if (value === undefined) Deno.env.delete(TOKEN_ENV_VAR);
  else Deno.env.set(TOKEN_ENV_VAR, value);
  try {
    await fn();
  } finally {
    if (before === undefined) Deno.env.delete(TOKEN_ENV_VAR);
    else Deno.env.set(TOKEN_ENV_VAR, before);
  }
}

async function createAuthenticator(options: unknown) {
  return (await plugin.create(plugin.options.parse(options), noRequires)).provides.authenticator;
}

Deno.test("the auth-static plugin (token in options) passes the authenticator compliance suite", (t) =>
  authenticatorCompliance(t, async () => ({
    authenticator: await createAuthenticator({ token: "from-options" }),
  })));

Deno.test("the auth-static plugin (token in env) passes the authenticator compliance suite", (t) =>
  withEnvToken(
    "from-env",
    () =>
      authenticatorCompliance(t, async () => ({ authenticator: await createAuthenticator({}) })),
  ));

Deno.test("auth-static options: a token is optional, never empty or not a string", () => {
  assert.deepEqual(plugin.options.parse({ token: "t" }), { token: "t" });
  assert.equal(plugin.options.safeParse({ token: "" }).success, false);
  assert.equal(plugin.options.safeParse({ token: 5 }).success, false);
});

Deno.test("auth-static needs P2PROXY_TOKEN only when the options carry no token", () => {
  assert.deepEqual(plugin.permissions?.(plugin.options.parse({}), ctx), { env: ["P2PROXY_TOKEN"] });
  assert.deepEqual(plugin.permissions?.({ token: "t" }, ctx), {});
});

Deno.test("auth-static: options win over the environment", async () => {
  await withEnvToken("from-env", async () => {
    assert.equal(
      await (await createAuthenticator({ token: "from-options" })).token(),
      "from-options",
    );
    assert.equal(await (await createAuthenticator({})).token(), "from-env");
  });
  await withEnvToken("  padded\n", async () => {
    assert.equal(await (await createAuthenticator({})).token(), "padded");
  });
});

Deno.test("auth-static without any token: token() is an AuthError rejected", async () => {
  for (const env of [undefined, "", "   "]) {
    await withEnvToken(env, async () => {
      const authenticator = await createAuthenticator({});
      await assert.rejects(
        authenticator.token(),
        (error) => error instanceof AuthError && error.code === "rejected",
      );
    });
  }
});

Deno.test("auth-static works under exactly its declared permissions", async () => {
  const flags = renderPermissionFlags(plugin.permissions!(plugin.options.parse({}), ctx));
  assert.deepEqual(flags, ["--allow-env=P2PROXY_TOKEN"]);
  const probe = `
    import { plugin } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
    const instance = await plugin.create(plugin.options.parse({}), { stateDir: ".", role: "proxy", get() {}, find() {} });
    let other = "allowed";
    try { Deno.env.get("HOME"); } catch (error) { other = error.name; }
    const token = await instance.provides.authenticator.token().catch((error) => error.code);
    console.log(JSON.stringify({ token, other }));
  `;
  const granted = await runUnder(flags, probe, { P2PROXY_TOKEN: "probe-token" });
  assert.equal(granted.code, 0, granted.stderr);
  assert.deepEqual(JSON.parse(granted.stdout), { token: "probe-token", other: "NotCapable" });

  const denied = await runUnder([], probe, { P2PROXY_TOKEN: "probe-token" });
  assert.equal(denied.code, 0, denied.stderr);
  assert.deepEqual(JSON.parse(denied.stdout), { token: "rejected", other: "NotCapable" });
});
