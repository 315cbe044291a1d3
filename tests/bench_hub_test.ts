/**
 * `deno task bench:hub` still runs end to end (a smoke test with a tiny count; the bench itself
 * measures, tests never assert on speed): every synthetic exit registers, every lookup is
 * answered with matching exits, with both the memory and the Redis registry.
 */
import assert from "node:assert/strict";

const SCRIPT = new URL("../scripts/bench_hub.ts", import.meta.url).pathname;

Deno.test("bench:hub runs with a small count on the memory and the Redis registry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-bench-hub-" });
  try {
    const out = `${dir}/hub.json`;
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-prompt",
        SCRIPT,
        "--exits",
        "24",
        "--registrars",
        "2",
        "--register-concurrency",
        "4",
        "--lookup-concurrency",
        "6",
        "--lookup-processes",
        "1",
        "--lookup-secs",
        "1",
        "--registry",
        "memory,redis",
        "--out",
        out,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.ok(run.success, stderr);
    const { results } = JSON.parse(await Deno.readTextFile(out));
    assert.deepEqual(results.map((r: { registry: string }) => r.registry), ["memory", "redis"]);
    for (const result of results) {
      assert.equal(result.registered, 24, JSON.stringify(result));
      assert.equal(result.lookupFailed, 0);
      assert.ok(result.lookups > 0, "no lookup was answered");
      // 24 exits over 20 countries: every lookup names a country, so answers hold 0..2 exits.
      assert.ok(result.exitsPerAnswer > 0 && result.exitsPerAnswer <= 2, JSON.stringify(result));
      assert.ok(result.hubPeakRssMb > 0);
    }
    assert.match(new TextDecoder().decode(run.stdout), /\| memory \| lookup p50 \/ p99 \|/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
