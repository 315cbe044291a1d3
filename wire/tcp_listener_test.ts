import assert from "node:assert/strict";
import { ListenError } from "./listen_error.ts";
import { TcpListener } from "./tcp_listener.ts";

const OPTIONS = { hostname: "127.0.0.1", port: 0, purpose: "TEST", configKey: "servers[0].port" };

async function readToEnd(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(64);
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}

Deno.test("each accepted connection gets the handler; the listener closes it afterwards", async () => {
  const listener = TcpListener.listen(OPTIONS, async (conn) => {
    await conn.write(new TextEncoder().encode("hi"));
  });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.address.port });
    assert.equal(await readToEnd(conn), "hi", "the handler's bytes, then EOF");
    conn.close();
  } finally {
    await listener.close();
  }
  assert.equal(listener.activeConnections, 0);
});

Deno.test("close stops accepting, waits up to the grace, then aborts running handlers", async () => {
  const started = Promise.withResolvers<void>();
  const reasons: unknown[] = [];
  const listener = TcpListener.listen(OPTIONS, (_conn, signal) => {
    started.resolve();
    return new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => {
        reasons.push(signal.reason);
        resolve();
      }, { once: true })
    );
  });
  const port = listener.address.port;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await started.promise;
  assert.equal(listener.activeConnections, 1);
  await listener.close(50);
  assert.equal(listener.activeConnections, 0);
  assert.match(String((reasons[0] as Error).message), /shutting down/);
  assert.equal(await readToEnd(conn), "", "the reset connection ends");
  conn.close();
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }), "no longer accepting");
});

Deno.test("an address in use is a ListenError naming it and the config key", () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.throws(
      () => TcpListener.listen({ ...OPTIONS, port: held.addr.port }, () => Promise.resolve()),
      (error) =>
        error instanceof ListenError && error.code === "address-in-use" &&
        error.message.includes(`127.0.0.1:${held.addr.port}`) &&
        error.message.includes("servers[0].port"),
    );
  } finally {
    held.close();
  }
});
