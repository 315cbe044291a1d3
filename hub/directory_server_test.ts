import assert from "node:assert/strict";
import fc from "fast-check";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeFrame, MAX_FRAME_BYTES } from "../core/codec/frame.ts";
import { NO_FILTERS, type ServerFilters } from "../core/domain/attributes.ts";
import { isRelayedAddress, type PeerId } from "../core/ids.ts";
import { DirectoryError } from "../core/ports/peer_directory.ts";
import { FakeClock } from "../core/testing/fakes.ts";
import { someAttributes } from "../core/testing/builders.ts";
import { ConnectRequestSchema } from "../proto/gen/p2proxy/connect/v1/connect_pb.ts";
import {
  DirectoryRequestSchema,
  DirectoryResponseSchema,
  ErrorCode,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { InMemoryRegistryStore } from "../plugins/registry-memory/memory_registry_store.ts";
import { HubRefusal } from "../wire/directory_client.ts";
import { DirectoryServer } from "./directory_server.ts";
import { HubDirectory } from "../plugins/directory-hub/hub_directory.ts";
import { ExitRotation } from "../core/domain/registry.ts";
import { findNodesFrame, rawExchange, type RawOutcome, registerOnce, TestNet } from "./_testing.ts";

const HEARTBEAT_MS = 30_000;

async function refusalCode(promise: Promise<unknown>): Promise<ErrorCode> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof HubRefusal, `expected a hub refusal, got ${error}`);
    return error.wireCode;
  }
  assert.fail("expected the hub to refuse");
}

Deno.test("hub directory: register, find by filters, resolve, expire", async (t) => {
  const net = new TestNet();
  const clock = new FakeClock(Date.now());
  try {
    const hub = await net.hub({ clock, config: { heartbeatIntervalMs: HEARTBEAT_MS } });
    const proxy = await net.node();
    const directory = new HubDirectory({ network: proxy, hubs: [hub.address] });
    const find = async (filters: Partial<ServerFilters>, limit = 25, exclude: PeerId[] = []) =>
      (await directory.findNodes({ filters: { ...NO_FILTERS, ...filters }, limit, exclude }))
        .map((record) => record.peerId);

    const nl = await net.node();
    const de = await net.node();
    const slow = await net.node();
    await registerOnce(nl, hub, someAttributes({ country: "NL", asn: 1, hosting: true }));
    await registerOnce(de, hub, someAttributes({ country: "DE", asn: 2 }));
    await registerOnce(slow, hub, someAttributes({ country: "NL", asn: 1, bandwidthBps: 1e6 }));

    await t.step(
      "find applies the core filters and never returns a non-matching exit",
      async () => {
        assert.deepEqual(new Set(await find({})), new Set([nl.peerId, de.peerId, slow.peerId]));
        assert.deepEqual(new Set(await find({ country: "NL" })), new Set([nl.peerId, slow.peerId]));
        assert.deepEqual(await find({ country: "NL", minBandwidthBps: 50e6 }), [nl.peerId]);
        assert.deepEqual(await find({ asn: 2 }), [de.peerId]);
        assert.deepEqual(await find({ hosting: "require" }), [nl.peerId]);
        assert.deepEqual(
          new Set(await find({ hosting: "deny" })),
          new Set([de.peerId, slow.peerId]),
        );
        assert.deepEqual(await find({ country: "US" }), []);
        assert.deepEqual(
          new Set(await find({ isp: "^example hosting" })),
          new Set([nl.peerId, de.peerId, slow.peerId]),
        );
        assert.deepEqual(await find({ isp: "^Other" }), []);
      },
    );

    await t.step("find honours exclude and the limit", async () => {
      assert.deepEqual(
        new Set(await find({ country: "NL" }, 25, [nl.peerId])),
        new Set([slow.peerId]),
      );
      assert.equal((await find({}, 2)).length, 2);
    });

    await t.step("records carry the exit's direct routes and attributes", async () => {
      const [record] = await directory.findNodes({
        filters: { ...NO_FILTERS, asn: 2 },
        limit: 1,
        exclude: [],
      });
      assert.ok(record);
      assert.deepEqual(record.routes, de.addresses());
      assert.equal(record.attributes?.country, "DE");
      assert.equal(record.attributes?.bandwidthBps, someAttributes().bandwidthBps);
    });

    await t.step(
      "answers spread over the matching exits, least recently returned first",
      async () => {
        const seen = [];
        for (let i = 0; i < 3; i++) seen.push(...await find({}, 1));
        assert.deepEqual(new Set(seen), new Set([nl.peerId, de.peerId, slow.peerId]));
      },
    );

    await t.step("resolve returns current routes of known ids and omits unknown ones", async () => {
      const stranger = await net.node();
      const routes = await directory.resolvePeers([nl.peerId, stranger.peerId]);
      assert.deepEqual([...routes.keys()], [nl.peerId]);
      assert.deepEqual(routes.get(nl.peerId), nl.addresses());
    });

    await t.step(
      "an exit that misses its heartbeats is no longer returned, then swept",
      async () => {
        clock.advance(2 * HEARTBEAT_MS);
        await registerOnce(de, hub, someAttributes({ country: "DE", asn: 2 }));
        clock.advance(HEARTBEAT_MS);
        // nl and slow last registered 3 heartbeats ago: expired; de renewed 1 heartbeat ago.
        assert.deepEqual(await find({}), [de.peerId]);
        assert.deepEqual([...(await directory.resolvePeers([nl.peerId, de.peerId])).keys()], [
          de.peerId,
        ]);
        const removed = await hub.hub.sweep();
        assert.deepEqual(new Set(removed), new Set([nl.peerId, slow.peerId]));
        assert.deepEqual((await hub.registry.list()).map((r) => r.peerId), [de.peerId]);
        const metrics = await hub.hub.metrics();
        assert.equal(metrics.registeredExits, 1);
        assert.equal(metrics.expiredExits, 2);
        assert.ok(metrics.registrations >= 4);
      },
    );
  } finally {
    await net.close();
  }
});

Deno.test("hub directory: direct routes first, identity and attribute checks", async (t) => {
  const net = new TestNet();
  try {
    const hub = await net.hub();
    const proxy = await net.node();
    const directory = new HubDirectory({ network: proxy, hubs: [hub.address] });

    await t.step(
      "a relay-only exit comes after exits with direct routes, with a circuit",
      async () => {
        const relayed = await net.node();
        const direct = await net.node();
        await registerOnce(relayed, hub, someAttributes(), { addresses: [], relayed: true });
        await registerOnce(direct, hub, someAttributes());
        for (let i = 0; i < 3; i++) {
          const records = await directory.findNodes({
            filters: NO_FILTERS,
            limit: 10,
            exclude: [],
          });
          assert.deepEqual(records.map((r) => r.peerId), [direct.peerId, relayed.peerId]);
          assert.deepEqual(records[1]?.routes, [
            `${hub.address}/p2p-circuit/p2p/${relayed.peerId}`,
          ]);
          assert.ok(records[0]?.routes.every((route) => !isRelayedAddress(route)));
        }
      },
    );

    await t.step("an exit cannot register another peer's id", async () => {
      const exit = await net.node();
      const victim = await net.node();
      const code = await refusalCode(
        registerOnce(exit, hub, someAttributes(), { addresses: victim.addresses() }),
      );
      assert.equal(code, ErrorCode.INVALID_ARGUMENT);
      assert.equal(await hub.registry.get(victim.peerId), undefined);
      // Bare addresses are tagged with the connection's peer, whatever they say.
      await registerOnce(exit, hub, someAttributes(), {
        addresses: ["/ip4/198.51.100.9/tcp/4001"],
      });
      const record = await hub.registry.get(exit.peerId);
      assert.deepEqual(record?.addresses, [`/ip4/198.51.100.9/tcp/4001/p2p/${exit.peerId}`]);
    });

    await t.step("invalid attributes are refused with INVALID_ARGUMENT", async () => {
      const exit = await net.node();
      for (
        const attributes of [
          someAttributes({ country: "XX" }),
          someAttributes({ bandwidthBps: 2e15 }),
          someAttributes({ city: "x".repeat(200) }),
          someAttributes({ isp: "bad\u0000isp" }),
        ]
      ) {
        assert.equal(
          await refusalCode(registerOnce(exit, hub, attributes)),
          ErrorCode.INVALID_ARGUMENT,
        );
      }
      assert.equal(await hub.registry.get(exit.peerId), undefined);
    });

    await t.step("unusable filters and oversized lists are refused, as 'rejected'", async () => {
      await assert.rejects(
        directory.findNodes({ filters: { ...NO_FILTERS, isp: "(a+)+$" }, limit: 5, exclude: [] }),
        (error) => error instanceof DirectoryError && error.code === "rejected",
      );
      await assert.rejects(
        directory.findNodes({
          filters: { ...NO_FILTERS, country: "Atlantis" },
          limit: 5,
          exclude: [],
        }),
        (error) => error instanceof DirectoryError && error.code === "rejected",
      );
      const tooMany = Array.from({ length: 101 }, () => proxy.peerId);
      const outcome = await rawExchange(
        proxy,
        hub,
        encodeFrame(toBinary(
          DirectoryRequestSchema,
          create(DirectoryRequestSchema, {
            request: { case: "resolvePeers", value: { peerIds: tooMany } },
          }),
        )),
      );
      assertError(outcome, ErrorCode.INVALID_ARGUMENT);
      assert.ok(hub.hub.server.counters.errors.invalid_argument >= 3);
    });
  } finally {
    await net.close();
  }
});

Deno.test("hub directory: the token hook checks roles", async () => {
  const net = new TestNet();
  try {
    const seen: string[] = [];
    const hub = await net.hub({
      verifyToken: (token, peer, role) => {
        seen.push(`${role}:${token}`);
        if (token === "") {
          return Promise.resolve({ ok: false, code: "unauthenticated", message: "No token." });
        }
        if (token !== `${role}-token`) {
          return Promise.resolve({
            ok: false,
            code: "permission-denied",
            message: `Not a ${role} token for ${peer}.`,
          });
        }
        return Promise.resolve({ ok: true });
      },
    });
    const exit = await net.node();
    assert.equal(
      await refusalCode(registerOnce(exit, hub, someAttributes())),
      ErrorCode.UNAUTHENTICATED,
    );
    assert.equal(
      await refusalCode(registerOnce(exit, hub, someAttributes(), { token: "proxy-token" })),
      ErrorCode.PERMISSION_DENIED,
    );
    await registerOnce(exit, hub, someAttributes(), { token: "exit-token" });

    const proxy = await net.node();
    const withToken = new HubDirectory({
      network: proxy,
      hubs: [hub.address],
      token: () => Promise.resolve("proxy-token"),
    });
    const records = await withToken.findNodes({ filters: NO_FILTERS, limit: 5, exclude: [] });
    assert.deepEqual(records.map((r) => r.peerId), [exit.peerId]);
    const withoutToken = new HubDirectory({ network: proxy, hubs: [hub.address] });
    await assert.rejects(
      withoutToken.resolvePeers([exit.peerId]),
      (error) => error instanceof DirectoryError && error.code === "rejected",
    );
    assert.deepEqual(seen, [
      "exit:",
      "exit:proxy-token",
      "exit:exit-token",
      "proxy:proxy-token",
      "proxy:",
    ]);
    const counters = hub.hub.server.counters;
    assert.equal(counters.errors.unauthenticated, 2);
    assert.equal(counters.errors.permission_denied, 1);
  } finally {
    await net.close();
  }
});

function assertError(outcome: RawOutcome, code?: ErrorCode): void {
  assert.equal(outcome.kind, "response", JSON.stringify(outcome));
  if (outcome.kind !== "response") return;
  assert.equal(outcome.response.response.case, "error");
  if (code !== undefined) assert.equal(outcome.response.response.value?.code, code);
}

/** Whether `payload` decodes as a request of a kind the hub serves (then an answer is fine). */
function isServableRequest(payload: Uint8Array): boolean {
  try {
    return fromBinary(DirectoryRequestSchema, payload).request.case !== undefined;
  } catch {
    return false;
  }
}

Deno.test("hub directory: hostile streams get an error or a reset, and the hub keeps answering", async (t) => {
  const net = new TestNet();
  try {
    const hub = await net.hub({ config: {} });
    const exit = await net.node();
    await registerOnce(exit, hub, someAttributes());
    const attacker = await net.node();
    const good = findNodesFrame(5);
    const goodPayload = good.subarray(1);

    const stillAnswers = async () => {
      const outcome = await rawExchange(attacker, hub, good);
      assert.equal(outcome.kind, "response");
      if (outcome.kind !== "response") return;
      assert.equal(outcome.response.response.case, "findNodes");
    };

    await t.step("oversized frames reset the stream", async () => {
      const declared = Uint8Array.of(0x81, 0x80, 0x04); // declares 65 537 bytes
      const outcome = await rawExchange(attacker, hub, declared);
      assert.equal(outcome.kind, "reset");
      const big = new Uint8Array(MAX_FRAME_BYTES + 10);
      big.set(Uint8Array.of(0x8a, 0x80, 0x04));
      assert.equal((await rawExchange(attacker, hub, big)).kind, "reset");
      assert.equal(hub.hub.server.counters.errors.reset, 2, "the hub itself reset both streams");
      await stillAnswers();
    });

    await t.step("a stream that sends nothing is reset after the deadline", async () => {
      // The hub's deadline is 10 s: serve the protocol with a short one on a fresh node.
      const node = await net.node();
      const short = await DirectoryServer.start({
        network: node,
        registry: new InMemoryRegistryStore(),
        clock: new FakeClock(),
        heartbeatIntervalMs: 1_000,
        missedHeartbeats: 3,
        findNodesMax: 10,
        rotation: new ExitRotation(),
        requestTimeoutMs: 200,
      });
      try {
        const target = { network: node, address: node.addresses()[0]! };
        const started = Date.now();
        const outcome = await rawExchange(attacker, target, new Uint8Array(0), { keepOpen: true });
        assert.equal(outcome.kind, "reset");
        assert.ok(Date.now() - started < 5_000);
        assert.equal(short.counters.errors.reset, 1);
        assert.equal(short.activeRequests, 0);
      } finally {
        await short.stop();
      }
    });

    await t.step("wrong message kinds get INVALID_ARGUMENT or UNSUPPORTED", async () => {
      const response = toBinary(
        DirectoryResponseSchema,
        create(DirectoryResponseSchema, {
          response: { case: "register", value: { heartbeatSecs: 30, message: "hi" } },
        }),
      );
      assertError(
        await rawExchange(attacker, hub, encodeFrame(response)),
        ErrorCode.INVALID_ARGUMENT,
      );
      const connect = toBinary(
        ConnectRequestSchema,
        create(ConnectRequestSchema, { host: "example.com", port: 80, token: "", sessionId: "x" }),
      );
      assertError(await rawExchange(attacker, hub, encodeFrame(connect)));
      const empty = toBinary(DirectoryRequestSchema, create(DirectoryRequestSchema, {}));
      assertError(await rawExchange(attacker, hub, encodeFrame(empty)), ErrorCode.UNSUPPORTED);
      // A future request kind (field 9) is unknown to this hub.
      assertError(
        await rawExchange(attacker, hub, encodeFrame(Uint8Array.of(0x4a, 0x00))),
        ErrorCode.UNSUPPORTED,
      );
      // Two requests on one stream, and a request cut short.
      assertError(
        await rawExchange(attacker, hub, new Uint8Array([...good, ...good])),
        ErrorCode.INVALID_ARGUMENT,
      );
      assertError(
        await rawExchange(attacker, hub, good.subarray(0, 3)),
        ErrorCode.INVALID_ARGUMENT,
      );
      await stillAnswers();
    });

    await t.step(
      "arbitrary bytes and mutated requests never hang or crash the hub (property)",
      async () => {
        const arbitraryInput = fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ bytes, framed: false })),
          fc.uint8Array({ maxLength: 300 }).map((bytes) => ({
            bytes: encodeFrame(bytes),
            framed: true,
          })),
          fc.tuple(
            fc.array(fc.tuple(fc.nat(goodPayload.length - 1), fc.integer({ min: 0, max: 255 })), {
              minLength: 1,
              maxLength: 4,
            }),
            fc.uint8Array({ maxLength: 8 }),
          ).map(([flips, tail]) => {
            const mutated = Uint8Array.from([...goodPayload, ...tail]);
            for (const [index, value] of flips) mutated[index] = value;
            return { bytes: encodeFrame(mutated), framed: true };
          }),
        );
        await fc.assert(
          fc.asyncProperty(arbitraryInput, async ({ bytes, framed }) => {
            const outcome = await rawExchange(attacker, hub, bytes);
            assert.notEqual(
              outcome.kind,
              "garbage",
              "the hub answered something that is not a frame",
            );
            if (outcome.kind !== "response" || outcome.response.response.case === "error") return;
            assert.ok(
              framed && isServableRequest(bytes.subarray(lengthOfPrefix(bytes))),
              `the hub answered ${outcome.response.response.case} to input it should refuse`,
            );
          }),
          { numRuns: 60 },
        );
        await stillAnswers();
        assert.equal(hub.hub.server.activeRequests, 0);
      },
    );
  } finally {
    await net.close();
  }
});

Deno.test("hub directory: beyond its concurrency limit the hub answers RESOURCE_EXHAUSTED", async () => {
  const net = new TestNet();
  try {
    const node = await net.node();
    const server = await DirectoryServer.start({
      network: node,
      registry: new InMemoryRegistryStore(),
      clock: new FakeClock(),
      heartbeatIntervalMs: 1_000,
      missedHeartbeats: 3,
      findNodesMax: 10,
      rotation: new ExitRotation(),
      maxConcurrentRequests: 1,
      requestTimeoutMs: 1_000,
    });
    try {
      const client = await net.node();
      const target = { network: node, address: node.addresses()[0]! };
      const held = rawExchange(client, target, new Uint8Array(0), { keepOpen: true });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assertError(
        await rawExchange(client, target, findNodesFrame()),
        ErrorCode.RESOURCE_EXHAUSTED,
      );
      assert.equal((await held).kind, "reset");
      assert.equal(server.counters.errors.resource_exhausted, 1);
    } finally {
      await server.stop();
    }
  } finally {
    await net.close();
  }
});

/** Bytes taken by the varint prefix of a frame. */
function lengthOfPrefix(frame: Uint8Array): number {
  let index = 0;
  while (index < frame.byteLength && (frame[index]! & 0x80) !== 0) index++;
  return index + 1;
}
