import assert from "node:assert/strict";
import fc from "fast-check";
import { create, toBinary } from "@bufbuild/protobuf";
import { encodeFrame } from "../core/codec/frame.ts";
import { NO_FILTERS } from "../core/domain/attributes.ts";
import { ExitRotation } from "../core/domain/registry.ts";
import { FakeClock } from "../core/testing/fakes.ts";
import { someAttributes } from "../core/testing/builders.ts";
import {
  DirectoryRequestSchema,
  ErrorCode,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { HubDirectory } from "../plugins/directory-hub/hub_directory.ts";
import { InMemoryRegistryStore } from "../plugins/registry-memory/memory_registry_store.ts";
import { MAX_PIPELINED_REQUESTS } from "../wire/directory_protocol.ts";
import { DirectoryServer } from "./directory_server.ts";
import { findNodesFrame, rawExchange, rawSession, registerOnce, TestNet } from "./_testing.ts";

/** A directory server on a fresh node with the given idle time and concurrency limit. */
async function shortServer(
  net: TestNet,
  options: { sessionIdleMs?: number; maxConcurrentRequests?: number } = {},
) {
  const node = await net.node();
  const server = await DirectoryServer.start({
    network: node,
    registry: new InMemoryRegistryStore(),
    clock: new FakeClock(),
    heartbeatIntervalMs: 1_000,
    missedHeartbeats: 3,
    findNodesMax: 10,
    rotation: new ExitRotation(),
    ...options,
  });
  return { server, target: { network: node, address: node.addresses()[0]! } };
}

function resolveFrame(peerIds: string[]): Uint8Array {
  return encodeFrame(toBinary(
    DirectoryRequestSchema,
    create(DirectoryRequestSchema, { request: { case: "resolvePeers", value: { peerIds } } }),
  ));
}

Deno.test("directory session: many requests on one stream, answered in order", async (t) => {
  const net = new TestNet();
  try {
    const hub = await net.hub();
    const exit = await net.node();
    await registerOnce(exit, hub, someAttributes({ country: "NL" }));
    const caller = await net.node();

    await t.step(
      "requests of every kind, a bad one among them, each get their answer",
      async () => {
        const empty = encodeFrame(toBinary(DirectoryRequestSchema, create(DirectoryRequestSchema)));
        const undecodable = encodeFrame(Uint8Array.of(0xff, 0xff, 0xff));
        const outcome = await rawSession(
          caller,
          hub,
          new Uint8Array([
            ...findNodesFrame(5),
            ...resolveFrame([exit.peerId]),
            ...undecodable,
            ...empty,
            ...findNodesFrame(5),
          ]),
        );
        assert.equal(outcome.end, "closed", "the hub closes once the caller is done");
        assert.deepEqual(outcome.answers.map((a) => a?.response.case), [
          "findNodes",
          "resolvePeers",
          "error",
          "error",
          "findNodes",
        ]);
        const codes = outcome.answers.map((a) =>
          a?.response.case === "error" ? a.response.value.code : undefined
        );
        assert.equal(codes[2], ErrorCode.INVALID_ARGUMENT);
        assert.equal(codes[3], ErrorCode.UNSUPPORTED);
        const found = outcome.answers[0]!.response;
        assert.ok(found.case === "findNodes");
        assert.deepEqual(found.value.peers.map((p) => p.peerId), [exit.peerId]);
      },
    );

    await t.step("more requests than the pipeline holds are all answered, in order", async () => {
      const count = MAX_PIPELINED_REQUESTS * 3;
      const bytes = new Uint8Array(
        Array.from({ length: count }, (_, i) => [
          ...(i % 2 === 0 ? findNodesFrame(1) : resolveFrame([exit.peerId])),
        ]).flat(),
      );
      const outcome = await rawSession(caller, hub, bytes, { timeoutMs: 10_000 });
      assert.equal(outcome.end, "closed");
      assert.equal(outcome.answers.length, count);
      outcome.answers.forEach((answer, i) =>
        assert.equal(answer?.response.case, i % 2 === 0 ? "findNodes" : "resolvePeers")
      );
      assert.equal(hub.hub.server.activeRequests, 0);
    });

    await t.step("a broken frame resets the session after the answers before it", async () => {
      const declared = Uint8Array.of(0x81, 0x80, 0x04); // declares 65 537 bytes
      const resetsBefore = hub.hub.server.counters.errors.reset;
      const outcome = await rawSession(
        caller,
        hub,
        new Uint8Array([...findNodesFrame(1), ...declared]),
        { keepOpen: true },
      );
      assert.equal(outcome.end, "reset");
      assert.ok(outcome.answers.length <= 1);
      assert.equal(hub.hub.server.counters.errors.reset, resetsBefore + 1);
    });

    await t.step("one-shot 1.0.0 streams still work beside sessions", async () => {
      const outcome = await rawExchange(caller, hub, findNodesFrame(5));
      assert.equal(outcome.kind, "response");
      if (outcome.kind === "response") assert.equal(outcome.response.response.case, "findNodes");
    });

    await t.step(
      "arbitrary bytes never hang the hub or break the next session (property)",
      async () => {
        const input = fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }).map((payloads) =>
            new Uint8Array(payloads.flatMap((p) => [...encodeFrame(p)]))
          ),
          fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.nat(8)).map(([junk, copies]) =>
            new Uint8Array([
              ...Array.from({ length: copies }, () => [...findNodesFrame(1)]).flat(),
              ...junk,
            ])
          ),
        );
        await fc.assert(
          fc.asyncProperty(input, async (bytes) => {
            const outcome = await rawSession(caller, hub, bytes, { timeoutMs: 3_000 });
            assert.notEqual(outcome.end, "broken", "the hub sent bytes that are not frames");
            assert.ok(outcome.answers.every((a) => a !== undefined), "every answer decodes");
          }),
          { numRuns: 40 },
        );
        const after = await rawSession(caller, hub, findNodesFrame(1));
        assert.equal(after.answers[0]?.response.case, "findNodes");
      },
    );
  } finally {
    await net.close();
  }
});

Deno.test("directory session: an idle session is reset, a partial frame does not keep it", async () => {
  const net = new TestNet();
  try {
    const { server, target } = await shortServer(net, { sessionIdleMs: 200 });
    try {
      const caller = await net.node();
      for (const bytes of [new Uint8Array(0), findNodesFrame(1).subarray(0, 3)]) {
        const started = Date.now();
        const outcome = await rawSession(caller, target, bytes, {
          keepOpen: true,
          timeoutMs: 5_000,
        });
        assert.equal(outcome.end, "reset");
        assert.ok(Date.now() - started >= 150, "not before the idle time");
      }
      // Answers are not cut short: a session that asks, then idles, got its answer first.
      const outcome = await rawSession(caller, target, findNodesFrame(1), { keepOpen: true });
      assert.equal(outcome.answers[0]?.response.case, "findNodes");
      assert.equal(outcome.end, "reset");
      assert.equal(server.openSessions, 0);
    } finally {
      await server.stop();
    }
  } finally {
    await net.close();
  }
});

Deno.test("directory session: beyond the hub's concurrency limit a request gets RESOURCE_EXHAUSTED", async () => {
  const net = new TestNet();
  try {
    const { server, target } = await shortServer(net, { maxConcurrentRequests: 1 });
    try {
      const client = await net.node();
      // A one-shot stream that sends nothing holds the only slot until its deadline.
      const held = rawExchange(client, target, new Uint8Array(0), { keepOpen: true });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const outcome = await rawSession(client, target, findNodesFrame(1));
      const answer = outcome.answers[0]?.response;
      assert.ok(answer?.case === "error");
      assert.equal(answer.value.code, ErrorCode.RESOURCE_EXHAUSTED);
      assert.equal(server.counters.errors.resource_exhausted, 1);
      await server.stop();
      assert.equal((await held).kind, "reset");
    } finally {
      await server.stop();
    }
  } finally {
    await net.close();
  }
});

Deno.test("HubDirectory asks over one session, and opens a new one after the hub reset it", async () => {
  const net = new TestNet();
  try {
    const { server, target } = await shortServer(net, { sessionIdleMs: 300 });
    try {
      const proxy = await net.node();
      const directory = new HubDirectory({ network: proxy, hubs: [target.address] });
      const query = { filters: NO_FILTERS, limit: 5, exclude: [] };
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => directory.findNodes(query)),
      );
      assert.equal(answers.length, 50);
      assert.equal(server.counters.finds, 50);
      assert.equal(server.openSessions, 1, "every query rode one session");
      // The hub resets the idle session; the next query opens another.
      const deadline = Date.now() + 5_000;
      while (server.openSessions > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(server.openSessions, 0);
      await directory.findNodes(query);
      assert.equal(server.counters.finds, 51);
      assert.equal(server.openSessions, 1);
    } finally {
      await server.stop();
    }
  } finally {
    await net.close();
  }
});
