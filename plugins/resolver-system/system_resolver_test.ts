import assert from "node:assert/strict";
import { ResolveError } from "../../core/ports/resolver.ts";
import { resolverCompliance } from "../../core/testing/compliance/resolver.ts";
import { captureLogs, render } from "../log-events/_testing.ts";
import { type LookupAll, SYSTEM_LOOKUP_LOG_PREFIX, SystemResolver } from "./mod.ts";

/**
 * A stand-in for `getaddrinfo` that answers like it (case-insensitive, a
 * trailing dot allowed, errors with node's codes) from a map: these tests
 * must never send a DNS query off the machine.
 */
function fakeLookup(
  answers: Record<string, Array<{ address: string; family: number }> | Error | "hang">,
): LookupAll & { calls: string[] } {
  const calls: string[] = [];
  const lookup = (host: string) => {
    calls.push(host);
    const answer = answers[host.toLowerCase().replace(/\.$/, "")];
    if (answer === "hang") return new Promise<never>(() => {});
    if (answer instanceof Error) return Promise.reject(answer);
    if (!answer) {
      return Promise.reject(
        Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" }),
      );
    }
    return Promise.resolve(answer);
  };
  return Object.assign(lookup, { calls });
}

const DEST = [{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }];

Deno.test("the system resolver passes the resolver compliance suite (over a fake getaddrinfo)", (t) =>
  resolverCompliance(t, () => ({
    resolver: new SystemResolver(fakeLookup({ "dest.test": DEST, "hang.test": "hang" })),
    known: { host: "dest.test", addresses: ["::1", "127.0.0.1"] },
    unknown: "nonexistent.invalid",
    hanging: "hang.test",
  })));

Deno.test("the system resolver asks getaddrinfo for all addresses, in the system's order", async () => {
  const lookup = fakeLookup({ "dest.test": DEST });
  const calls: unknown[] = [];
  const resolver = new SystemResolver((host, options) => {
    calls.push(options);
    return lookup(host, options);
  });
  assert.deepEqual(await resolver.resolve("dest.test"), ["::1", "127.0.0.1"]);
  assert.deepEqual(calls, [{ all: true, verbatim: true }]);
});

Deno.test("the system resolver's errors: not-found, failure with a permission hint", async () => {
  const codeError = (code: string) => Object.assign(new Error(`getaddrinfo ${code} x`), { code });
  const resolver = new SystemResolver(fakeLookup({
    "nodata.test": codeError("ENODATA"),
    "empty.test": [],
    "denied.test": codeError("EPERM"),
    "broken.test": codeError("ESERVFAIL"),
  }));
  const expect = async (host: string, code: string, message: RegExp) =>
    await assert.rejects(resolver.resolve(host), (error) => {
      assert.ok(error instanceof ResolveError, String(error));
      assert.equal(error.code, code, host);
      assert.match(error.message, message);
      return true;
    });
  await expect("nonexistent.invalid", "not-found", /"nonexistent\.invalid" has no address/);
  await expect("nodata.test", "not-found", /ENODATA/);
  await expect("empty.test", "not-found", /"empty\.test" has no address/);
  await expect("denied.test", "failure", /--allow-net/);
  await expect("broken.test", "failure", /"broken\.test".*ESERVFAIL/);
});

Deno.test("the system resolver logs every lookup at debug (tests look for this line)", async () => {
  const capture = await captureLogs("debug");
  try {
    const resolver = new SystemResolver(fakeLookup({ "dest.test": DEST }));
    await resolver.resolve("dest.test");
    await resolver.resolve("nonexistent.invalid").catch(() => {});
    const lines = capture.records.map(render);
    assert.deepEqual(lines, [
      `${SYSTEM_LOOKUP_LOG_PREFIX} dest.test.`,
      `${SYSTEM_LOOKUP_LOG_PREFIX} nonexistent.invalid.`,
    ]);
  } finally {
    await capture.stop();
  }
});

Deno.test("the system resolver over the real getaddrinfo: IP literals come back as they are", async () => {
  // Numeric hosts never reach a DNS server (getaddrinfo parses them itself): the one real
  // lookup a test may make without a packet leaving the machine.
  const resolver = new SystemResolver();
  assert.deepEqual(await resolver.resolve("127.0.0.1"), ["127.0.0.1"]);
  assert.deepEqual(await resolver.resolve("::1"), ["::1"]);
});

Deno.test("no module but the system resolver looks names up (node:dns, Deno.resolveDns)", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const allowed = new Set(["plugins/resolver-system/system_resolver.ts"]);
  const self = new URL(import.meta.url).pathname.slice(root.length);
  // Built from parts so that this file does not match itself.
  const lookups = new RegExp(`["']node:${"dns"}(/promises)?["']|\\bDeno\\.${"resolveDns"}\\b`);
  const offenders: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(`${root}${dir}`)) {
      const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory) {
        if (
          !["node_modules", "dist", "coverage"].includes(entry.name) && !entry.name.startsWith(".")
        ) {
          await walk(path);
        }
      } else if (/\.(ts|tsx|js|mjs)$/.test(entry.name) && path !== self && !allowed.has(path)) {
        if (lookups.test(await Deno.readTextFile(`${root}${path}`))) offenders.push(path);
      }
    }
  };
  await walk("");
  assert.deepEqual(offenders, [], "resolve names through the `resolver` capability instead");
  // The check can fail: the allowed file itself matches.
  assert.ok(
    lookups.test(await Deno.readTextFile(`${root}plugins/resolver-system/system_resolver.ts`)),
  );
});
