import assert from "node:assert/strict";
import { ListenError, listenError } from "./listen_error.ts";

const SOCKS = { address: "[::1]:1080", purpose: "SOCKS5", configKey: "servers[2].port" };

Deno.test("a port in use (Deno or Node style) names the address and the key, in one line", () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let denoError: unknown;
  try {
    Deno.listen({ hostname: "127.0.0.1", port: held.addr.port });
  } catch (error) {
    denoError = error;
  } finally {
    held.close();
  }
  const nodeError = Object.assign(new Error("listen EADDRINUSE: address already in use"), {
    code: "EADDRINUSE",
  });
  for (const cause of [denoError, nodeError]) {
    const error = listenError(cause, SOCKS);
    assert.equal(error.code, "address-in-use");
    assert.equal(error.cause, cause);
    assert.equal(
      error.message,
      "Cannot listen on [::1]:1080 (SOCKS5): another process is using that address. Stop it, " +
        "or change `servers[2].port`.",
    );
  }
});

Deno.test("any other listen failure keeps the first line of its cause and names the key", () => {
  const error = listenError(new Error("Permission denied (os error 13)\n    at listen"), SOCKS);
  assert.equal(error.code, "listen-failed");
  assert.equal(
    error.message,
    "Cannot listen on [::1]:1080 (SOCKS5): Permission denied (os error 13). Check " +
      "`servers[2].port`.",
  );
  const hinted = listenError(new Error("long\ntext"), SOCKS, { detail: "listen EACCES" });
  assert.match(hinted.message, /\(SOCKS5\): listen EACCES\. Check/);
});

Deno.test("withConfigKey names the setting the caller uses instead", () => {
  const original = listenError({ code: "EADDRINUSE" }, SOCKS);
  const renamed = original.withConfigKey("--port");
  assert.ok(renamed instanceof ListenError);
  assert.equal(renamed.code, "address-in-use");
  assert.equal(renamed.address, SOCKS.address);
  assert.match(renamed.message, /change `--port`\.$/);
});
