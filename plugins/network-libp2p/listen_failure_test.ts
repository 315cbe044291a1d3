import assert from "node:assert/strict";
import { failedListen, libp2pListenError, listenFailureDetail } from "./listen_failure.ts";

/** libp2p 3's transport-manager message, as it reached the CLI before (stack included). */
function libp2pError(address: string, socketError: string): Error {
  const error = new Error(
    "Some configured addresses failed to be listened on, you may need to remove one or more " +
      "listen addresses from your configuration or set `transportManager.faultTolerance` to " +
      `NO_FATAL:\n\n  ${address}: Error: ${socketError}\n` +
      "      at __node_internal_uvExceptionWithHostPort (ext:deno_node/internal/errors.ts:1:2908)\n" +
      "      at Server._setupListenHandle [as _listen2] (ext:deno_node/net.ts:1:29118)\n",
  );
  error.name = "UnsupportedListenAddressesError";
  return error;
}

Deno.test("libp2p's listen error becomes one line naming the address and listen_addrs", () => {
  const inUse = libp2pListenError(
    libp2pError(
      "/ip4/127.0.0.1/tcp/4001",
      "listen EADDRINUSE: address already in use 127.0.0.1:4001",
    ),
  );
  assert.equal(inUse?.code, "address-in-use");
  assert.equal(inUse?.address, "/ip4/127.0.0.1/tcp/4001");
  assert.equal(
    inUse?.message,
    "Cannot listen on /ip4/127.0.0.1/tcp/4001 (libp2p): another process is using that address. " +
      "Stop it, or change `listen_addrs`.",
  );

  const denied = libp2pListenError(
    libp2pError("/ip6/::1/tcp/80", "listen EACCES: permission denied ::1:80"),
  );
  assert.equal(denied?.code, "listen-failed");
  assert.equal(
    denied?.message,
    "Cannot listen on /ip6/::1/tcp/80 (libp2p): listen EACCES: permission denied ::1:80. " +
      "Check `listen_addrs`.",
  );
  for (const error of [inUse, denied]) {
    assert.doesNotMatch(error!.message, /faultTolerance|\n|\bat /);
  }
});

Deno.test("other errors are not libp2p listen errors", () => {
  assert.equal(libp2pListenError(new Error("boom")), undefined);
  assert.equal(libp2pListenError("boom"), undefined);
});

Deno.test("a relay listen failure is reduced to the socket's error", () => {
  const error = libp2pError(
    "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWx/p2p-circuit",
    "connect ECONNREFUSED 127.0.0.1:1",
  );
  assert.deepEqual(failedListen(error), {
    address: "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWx/p2p-circuit",
    detail: "connect ECONNREFUSED 127.0.0.1:1",
  });
  assert.equal(listenFailureDetail(error), "connect ECONNREFUSED 127.0.0.1:1");
  assert.equal(listenFailureDetail(new Error("one\n  two")), "one two");
});
