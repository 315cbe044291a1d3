import assert from "node:assert/strict";
import { ResolveError } from "../../core/ports/resolver.ts";
import { resolverCompliance } from "../../core/testing/compliance/resolver.ts";
import { captureLogs, render } from "../log-events/_testing.ts";
import { plugin, StaticResolver } from "./mod.ts";

const noRequires = {
  stateDir: ".",
  role: "exit" as const,
  get: () => assert.fail("resolver-static requires nothing"),
  find: () => assert.fail("resolver-static wants nothing"),
};

async function createResolver(options: unknown) {
  return (await plugin.create(plugin.options.parse(options), noRequires)).provides.resolver;
}

Deno.test("the resolver-static plugin passes the resolver compliance suite", (t) =>
  resolverCompliance(t, async () => ({
    resolver: await createResolver({ hosts: { "dest.test": ["127.0.0.2", "::1"] } }),
    known: { host: "dest.test", addresses: ["127.0.0.2", "::1"] },
    unknown: "nonexistent.invalid",
  })));

Deno.test("resolver-static knows localhost without options, and nothing else", async () => {
  const resolver = await createResolver({});
  assert.deepEqual(await resolver.resolve("localhost"), ["127.0.0.1", "::1"]);
  for (const host of ["example.com", "dest.test", "localhost.example"]) {
    await assert.rejects(
      resolver.resolve(host),
      (error) => error instanceof ResolveError && error.code === "not-found",
    );
  }
});

Deno.test("resolver-static: declared names join localhost; a declared localhost replaces it", async () => {
  const resolver = new StaticResolver({ "Dest.Test.": ["127.0.0.1"], localhost: ["::1"] });
  assert.deepEqual(await resolver.resolve("dest.test"), ["127.0.0.1"]);
  assert.deepEqual(await resolver.resolve("localhost"), ["::1"]);
  assert.deepEqual(resolver.names.sort(), ["dest.test", "localhost"]);
});

Deno.test("resolver-static: a name not in the map says where to declare it", async () => {
  await assert.rejects(new StaticResolver().resolve("nonexistent.invalid"), (error) => {
    assert.ok(error instanceof ResolveError);
    assert.match(
      error.message,
      /"nonexistent\.invalid".*plugins\["@p2proxy\/resolver-static"\]\.hosts/,
    );
    return true;
  });
});

Deno.test("resolver-static options refuse what is not a host name or not an address", () => {
  for (
    const bad of [
      { hosts: { "1.2.3.4": ["127.0.0.1"] } },
      { hosts: { "two words": ["127.0.0.1"] } },
      { hosts: { "-dash.test": ["127.0.0.1"] } },
      { hosts: { [`${"a".repeat(64)}.test`]: ["127.0.0.1"] } },
      { hosts: { "dest.test": [] } },
      { hosts: { "dest.test": ["dest.test"] } },
      { hosts: { "dest.test": "127.0.0.1" } },
      { names: { "dest.test": ["127.0.0.1"] } },
    ]
  ) {
    assert.equal(plugin.options.safeParse(bad).success, false, JSON.stringify(bad));
  }
  const refused = plugin.options.safeParse({ hosts: { "dest.test": ["not-an-ip"] } });
  assert.match(refused.error?.issues[0]?.message ?? "", /"not-an-ip" is not an IP address/);
  assert.deepEqual(refused.error?.issues[0]?.path, ["hosts", "dest.test", 0]);
});

Deno.test("resolver-static logs each answer at debug, so a test can see names were resolved", async () => {
  const capture = await captureLogs("debug");
  try {
    const resolver = new StaticResolver({ "dest.test": ["127.0.0.1"] });
    await resolver.resolve("dest.test");
    await resolver.resolve("gone.test").catch(() => {});
    assert.deepEqual(capture.records.map(render), [
      "Static resolver: dest.test is 127.0.0.1.",
      "Static resolver: gone.test is not in the map.",
    ]);
  } finally {
    await capture.stop();
  }
});
