import assert from "node:assert/strict";
import {
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
} from "../../core/plugin/contract.ts";
import { planComposition } from "../../core/plugin/host.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { AuthError } from "../../core/ports/authenticator.ts";
import { authenticatorCompliance } from "../../core/testing/compliance/authenticator.ts";
import defaultExport, { plugin, TOKEN_ENV_VAR } from "./mod.ts";

// A concrete plugin is not assignable to the widest PluginDefinition (see plugins/builtin.ts).
const generic = plugin as unknown as PluginDefinition;
const ctx = { stateDir: ".", role: "proxy" as const };
const noRequires = { ...ctx, get: () => assert.fail("auth-static requires nothing") };

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

Deno.test("auth-static is a valid plugin providing authenticator", () => {
  assert.equal(defaultExport, plugin);
  assert.deepEqual(definitionProblems(generic), []);
  assert.equal(plugin.name, "@p2proxy/auth-static");
  assert.equal(plugin.version, "0.1.0");
  assert.equal(plugin.api, PLUGIN_API_VERSION);
  assert.deepEqual(plugin.provides, ["authenticator"]);
  const plan = planComposition({ plugins: [generic], needs: ["authenticator"] });
  assert.equal(plan.providers.get("authenticator"), plugin.name);
});

Deno.test("auth-static options: no token by default, strict, no empty token", () => {
  assert.deepEqual(plugin.options.parse({}), {});
  assert.deepEqual(plugin.options.parse({ token: "t" }), { token: "t" });
  assert.equal(plugin.options.safeParse({ token: "" }).success, false);
  assert.equal(plugin.options.safeParse({ token: 5 }).success, false);
  assert.equal(plugin.options.safeParse({ tokens: "t" }).success, false);
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
  const probe = (extra: string) => `
    import { plugin } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
    const instance = await plugin.create(plugin.options.parse({}), { stateDir: ".", role: "proxy", get() {} });
    let other = "allowed";
    try { Deno.env.get("HOME"); } catch (error) { other = error.name; }
    const token = await instance.provides.authenticator.token().catch((error) => error.code);
    console.log(JSON.stringify({ token, other${extra} }));
  `;
  const granted = await runUnder(flags, probe(""), { P2PROXY_TOKEN: "probe-token" });
  assert.equal(granted.code, 0, granted.stderr);
  assert.deepEqual(JSON.parse(granted.stdout), { token: "probe-token", other: "NotCapable" });

  const denied = await runUnder([], probe(""), { P2PROXY_TOKEN: "probe-token" });
  assert.equal(denied.code, 0, denied.stderr);
  assert.deepEqual(JSON.parse(denied.stdout), { token: "rejected", other: "NotCapable" });
});

/** Runs `code` in a fresh Deno with only `flags` (and the project's config for imports). */
async function runUnder(flags: readonly string[], code: string, env: Record<string, string>) {
  const script = await Deno.makeTempFile({ prefix: "p2proxy-perm-probe-", suffix: ".ts" });
  try {
    await Deno.writeTextFile(script, code);
    const config = new URL("../../deno.json", import.meta.url).pathname;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", `--config=${config}`, ...flags, script],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
  } finally {
    await Deno.remove(script);
  }
}
