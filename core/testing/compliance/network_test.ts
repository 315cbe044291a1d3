import assert from "node:assert/strict";
import { asMultiaddr } from "../../ids.ts";
import type { NetworkNode } from "../../ports/network.ts";
import { networkCompliance, type NetworkFixture } from "./network.ts";
import { MemoryNetwork, type MemoryNode, patchedNode } from "./_fake_stream_network.ts";
import { recordingContext } from "./_recording_context.ts";

/** Two memory nodes; `breakNode` turns the one under test into a broken one. */
function memoryFixture(
  breakNode: (node: MemoryNode) => NetworkNode = (node) => node,
): NetworkFixture {
  const network = new MemoryNetwork();
  return {
    node: breakNode(network.node()),
    remote: network.node(),
    cleanup: () => network.stopAll(),
  };
}

async function failedSteps(breakNode: (node: MemoryNode) => NetworkNode): Promise<string[]> {
  const recording = recordingContext();
  await networkCompliance(recording.t, () => memoryFixture(breakNode));
  return recording.failed();
}

Deno.test("the memory network passes the network compliance suite", (t) =>
  networkCompliance(t, () => memoryFixture()));

Deno.test("the network suite fails addresses without the node's /p2p/ id", async () => {
  const failed = await failedSteps((node) =>
    patchedNode(node, { addresses: () => [asMultiaddr("/memory/1")] })
  );
  assert.deepEqual(failed, ["every address ends in /p2p/<peerId>"]);
});

Deno.test("the network suite fails events and listings that get the direction wrong", async () => {
  const failed = await failedSteps((node) =>
    patchedNode(node, {
      onConnection: (listener) =>
        node.onConnection((event) =>
          listener({ ...event, connection: { ...event.connection, direction: "inbound" } })
        ),
      connections: (peer) =>
        node.connections(peer).map((info) => ({ ...info, direction: "inbound" as const })),
    })
  );
  assert.deepEqual(failed, ["a dial emits open on both sides, and connections() lists it"]);
});

Deno.test("the network suite fails a hang-up that leaves the connection open", async () => {
  const failed = await failedSteps((node) =>
    patchedNode(node, { hangUp: () => Promise.resolve() })
  );
  assert.deepEqual(failed, [
    "hangUp closes every connection: close with remaining 0 on both sides",
  ]);
});

Deno.test("the network suite fails a listener that cannot be unsubscribed", async () => {
  const failed = await failedSteps((node) =>
    patchedNode(node, {
      onConnection: (listener) => {
        node.onConnection(listener);
        return () => {};
      },
    })
  );
  assert.deepEqual(failed, ["an unsubscribed listener hears nothing more"]);
});

Deno.test("the network suite fails handlers given the wrong connection", async () => {
  // The node under test is the opener; the handler runs on the remote: break the remote's view.
  const recording = recordingContext();
  await networkCompliance(recording.t, () => {
    const network = new MemoryNetwork();
    const remote = network.node();
    return {
      node: network.node(),
      remote: patchedNode(remote, {
        handle: (protocol, handler, options) =>
          remote.handle(
            protocol,
            (stream, from) => handler(stream, { ...from, peerId: remote.peerId }),
            options,
          ),
      }),
      cleanup: () => network.stopAll(),
    };
  });
  assert.deepEqual(recording.failed(), [
    "a handler gets each inbound stream with the opener's connection",
  ]);
});

Deno.test("the network suite fails an unhandle that keeps serving", async () => {
  const recording = recordingContext();
  await networkCompliance(recording.t, () => {
    const network = new MemoryNetwork();
    const remote = network.node();
    return {
      node: network.node(),
      remote: patchedNode(remote, { unhandle: () => Promise.resolve() }),
      cleanup: () => network.stopAll(),
    };
  });
  assert.deepEqual(recording.failed(), [
    "after unhandle, new opens are refused while open streams keep running",
  ]);
});

Deno.test("the network suite fails a handler limit that is not enforced", async () => {
  const recording = recordingContext();
  await networkCompliance(recording.t, () => {
    const network = new MemoryNetwork();
    const remote = network.node();
    return {
      node: network.node(),
      remote: patchedNode(remote, {
        handle: (protocol, handler) => remote.handle(protocol, handler),
      }),
      cleanup: () => network.stopAll(),
    };
  });
  assert.deepEqual(recording.failed(), [
    "maxInboundStreams keeps streams beyond the limit from the handler until one closes",
  ]);
});

Deno.test("the network suite fails pings that answer nonsense or ignore an abort", async () => {
  assert.deepEqual(
    await failedSteps((node) => patchedNode(node, { ping: () => Promise.resolve(Number.NaN) })),
    ["ping answers a round-trip time, and rejects when aborted"],
  );
  assert.deepEqual(
    await failedSteps((node) => patchedNode(node, { ping: (peer) => node.ping(peer) })),
    ["ping answers a round-trip time, and rejects when aborted"],
  );
});
