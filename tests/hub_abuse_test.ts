/**
 * Hostile peers against a live hub process (docs/hub-behaviour.md#bad-requests). The test's
 * own libp2p nodes (plugins/network-libp2p, through hub/_testing.ts's
 * TestNet) dial the hub started from the CLI and open
 * `/p2proxy/directory/1.0.0` streams by hand:
 *
 * - a few hundred malformed, oversized, truncated, doubled and
 *   arbitrary-valued directory messages (fast-check) each get an error
 *   status or a stream reset, never an answer to input that is not one
 *   request, never a hang; the hub keeps serving;
 * - whatever a registration says, the id registered is the connection's
 *   remote peer, and only valid attributes are stored;
 * - a peer holding a relay reservation without being a registered exit
 *   cannot move more than the default relay limit (128 KiB) through the hub.
 *
 * (hub/*_test.ts and plugins/directory-hub/*_test.ts cover the same rules in-process.)
 *
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeFrame, MAX_FRAME_BYTES } from "../core/codec/frame.ts";
import { NO_FILTERS } from "../core/domain/attributes.ts";
import { asMultiaddr, type Multiaddr, type PeerId, peerIdOfAddress } from "../core/ids.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import type { Libp2pNetwork } from "../plugins/network-libp2p/libp2p_network.ts";
import {
  type DirectoryRequest,
  DirectoryRequestSchema,
  type DirectoryResponse,
  DirectoryResponseSchema,
  ErrorCode,
  type ExitAttributes as WireAttributes,
  ExitAttributesSchema,
  FiltersSchema,
  RegisterRequestSchema,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { rawExchange, type RawOutcome, TestNet } from "../hub/_testing.ts";
import { HubDirectory } from "../plugins/directory-hub/hub_directory.ts";
import { Cluster, type MeteredNode, metric, sleep } from "./_network.ts";

/** Cases of the property test: "a few hundred". */
const PROPERTY_RUNS = 300;
/** The hub's default data limit for relayed connections of peers that are not registered exits. */
const DEFAULT_RELAY_LIMIT_BYTES = 131_072;
/** What the stranger tries to push through the relay: 32 times the limit. */
const RELAY_ATTEMPT_BYTES = 4 * 1024 * 1024;
/** Sent first through the same relayed connection, well under the limit: it must arrive whole. */
const SMALL_PUSH_BYTES = 32 * 1024;
const SINK_PROTOCOL = "/p2proxy-test/sink/1.0.0";
/** Error codes bad input may earn; INTERNAL would mean the hub choked on it. */
const INPUT_ERRORS = new Set([ErrorCode.INVALID_ARGUMENT, ErrorCode.UNSUPPORTED]);
const KNOWN_CASES = new Set(["register", "findNodes", "resolvePeers"]);

/** The hub as `rawExchange` wants it. */
function target(hub: MeteredNode) {
  return { network: { peerId: hub.peerId as PeerId }, address: asMultiaddr(hub.address) };
}

/** Frames a request. */
function frameOf(request: DirectoryRequest): Uint8Array {
  return encodeFrame(toBinary(DirectoryRequestSchema, request));
}

/** Splits `bytes` into one varint-prefixed frame; undefined unless it is exactly one. */
function singleFrame(bytes: Uint8Array): Uint8Array | undefined {
  let length = 0;
  let scale = 1;
  for (let i = 0; i < 9 && i < bytes.byteLength; i++) {
    const byte = bytes[i]!;
    length += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) !== 0) continue;
    const start = i + 1;
    if (length > MAX_FRAME_BYTES || bytes.byteLength !== start + length) return undefined;
    return bytes.subarray(start);
  }
  return undefined;
}

/** The request `bytes` carry when they are exactly one frame of one known request, else undefined. */
function servableRequest(bytes: Uint8Array): DirectoryRequest | undefined {
  const payload = singleFrame(bytes);
  if (payload === undefined) return undefined;
  try {
    const request = fromBinary(DirectoryRequestSchema, payload);
    return KNOWN_CASES.has(request.request.case ?? "") ? request : undefined;
  } catch {
    return undefined;
  }
}

/** One ResolvePeers exchange, raw (the answer keeps the attributes). */
async function resolveRaw(from: Libp2pNetwork, hub: MeteredNode, ids: readonly string[]) {
  const outcome = await rawExchange(
    from,
    target(hub),
    frameOf(create(DirectoryRequestSchema, {
      request: { case: "resolvePeers", value: { peerIds: [...ids] } },
    })),
  );
  assert.equal(outcome.kind, "response");
  const response = (outcome as Extract<RawOutcome, { kind: "response" }>).response.response;
  assert.equal(response.case, "resolvePeers");
  return response.case === "resolvePeers" ? response.value.peers : [];
}

/** The error code of an answer; fails on anything else. */
function errorCodeOf(outcome: RawOutcome): ErrorCode {
  assert.equal(outcome.kind, "response", JSON.stringify(outcome));
  const response = (outcome as { response: DirectoryResponse }).response.response;
  assert.equal(response.case, "error", `expected an error, got ${response.case}`);
  return response.case === "error" ? response.value.code : ErrorCode.UNSPECIFIED;
}

// ---------------------------------------------------------------------------
// Generators

/** Text a hostile peer might send: anything, control characters, near misses, too long. */
const hostileText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(
    "NL",
    "nl",
    " de ",
    "XX",
    "NLD",
    "",
    "Amsterdam; NH",
    "x".repeat(129),
    "a\u0000b",
  ),
);
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const uint64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.constantFrom(0n, 10n ** 15n, 10n ** 15n + 1n, 2n ** 53n + 1n),
);
const policy = fc.integer({ min: -1, max: 5 });
/** Strips undefined fields: `create` wants absent optional fields left out. */
const defined = <T extends object>(value: T) =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;

function attributesArb() {
  return fc.record({
    country: optional(hostileText),
    city: optional(hostileText),
    region: optional(hostileText),
    isp: optional(hostileText),
    asn: optional(fc.nat({ max: 0xffff_ffff })),
    bandwidthBps: uint64,
    proxy: fc.boolean(),
    mobile: fc.boolean(),
    hosting: fc.boolean(),
  }).map((a) => create(ExitAttributesSchema, defined(a)));
}

/** Addresses for a registration: garbage, valid ones, circuits, and ones naming another peer. */
function addressArb(self: PeerId, victim: PeerId) {
  return fc.oneof(
    hostileText,
    fc.constantFrom(
      "/ip4/198.51.100.7/tcp/4001",
      `/ip4/198.51.100.7/tcp/4001/p2p/${self}`,
      `/ip4/198.51.100.8/tcp/4001/p2p/${victim}`,
      `/ip4/127.0.0.1/tcp/1/p2p/${self}/p2p-circuit/p2p/${victim}`,
      "/dns4/exit.example/tcp/443/wss",
    ),
  );
}

function requestArb(self: PeerId, victim: PeerId): fc.Arbitrary<DirectoryRequest> {
  const ids = fc.array(
    fc.oneof(fc.string({ maxLength: 140 }), fc.constantFrom(self, victim, "12D3KooW")),
    { maxLength: 110 },
  );
  return fc.oneof(
    fc.record({
      attributes: optional(attributesArb()),
      addresses: fc.array(addressArb(self, victim), { maxLength: 18 }),
      relayed: fc.boolean(),
      token: fc.string({ maxLength: 20 }),
    }).map((value) =>
      create(DirectoryRequestSchema, { request: { case: "register", value: defined(value) } })
    ),
    fc.record({
      filters: optional(
        fc.record({
          country: optional(hostileText),
          city: optional(hostileText),
          isp: optional(fc.oneof(hostileText, fc.constantFrom("(a+)+$", "[", ".*", "^KPN$"))),
          asn: optional(fc.nat({ max: 0xffff_ffff })),
          minBandwidthBps: uint64,
          proxy: policy,
          mobile: policy,
          hosting: policy,
        }).map((f) => create(FiltersSchema, defined(f))),
      ),
      limit: fc.nat({ max: 0xffff_ffff }),
      exclude: ids,
    }).map((value) =>
      create(DirectoryRequestSchema, { request: { case: "findNodes", value: defined(value) } })
    ),
    fc.record({ peerIds: ids }).map((value) =>
      create(DirectoryRequestSchema, { request: { case: "resolvePeers", value } })
    ),
  );
}

/** One hostile input: its bytes and what it is meant to be. */
interface Input {
  readonly shape: string;
  readonly bytes: Uint8Array;
}

function inputArb(self: PeerId, victim: PeerId): fc.Arbitrary<Input> {
  const request = requestArb(self, victim);
  const valid = request.map((r) => frameOf(r));
  return fc.oneof(
    valid.map((bytes) => ({ shape: "request", bytes })),
    fc.uint8Array({ maxLength: 512 }).map((bytes) => ({ shape: "bytes", bytes })),
    fc.uint8Array({ maxLength: 512 }).map((bytes) => ({
      shape: "framed bytes",
      bytes: encodeFrame(bytes),
    })),
    // A length prefix beyond 64 KiB, then some of the promised bytes.
    fc.tuple(
      fc.integer({ min: MAX_FRAME_BYTES + 1, max: 2 ** 28 }),
      fc.uint8Array({ maxLength: 256 }),
    )
      .map(([declared, tail]) => ({ shape: "oversized", bytes: concat(varint(declared), tail) })),
    // Cut short, two requests on one stream, a request and trailing bytes.
    fc.tuple(valid, fc.nat()).map(([bytes, cut]) => ({
      shape: "truncated",
      bytes: bytes.subarray(0, cut % bytes.byteLength),
    })),
    fc.tuple(valid, valid).map(([a, b]) => ({ shape: "two requests", bytes: concat(a, b) })),
    fc.tuple(valid, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([a, tail]) => ({
      shape: "trailing bytes",
      bytes: concat(a, tail),
    })),
    // Out of order: an answer sent as a request, an empty request, a kind from the future.
    fc.constantFrom<Input>(
      {
        shape: "a response",
        bytes: encodeFrame(toBinary(
          DirectoryResponseSchema,
          create(DirectoryResponseSchema, {
            response: { case: "error", value: { code: ErrorCode.INTERNAL, message: "boo" } },
          }),
        )),
      },
      { shape: "empty request", bytes: encodeFrame(new Uint8Array(0)) },
      { shape: "future kind", bytes: encodeFrame(Uint8Array.of(0x4a, 0x00)) },
      { shape: "nothing", bytes: new Uint8Array(0) },
    ),
  );
}

function varint(value: number): Uint8Array {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return Uint8Array.from(out);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/** What a stored attribute set must look like, whatever was sent. */
function assertStoredAttributesValid(attributes: WireAttributes) {
  if (attributes.country !== undefined) assert.match(attributes.country, /^[A-Z]{2}$/);
  for (const text of [attributes.city, attributes.region, attributes.isp]) {
    if (text === undefined) continue;
    assert.ok(text.length > 0 && text.length <= 128, JSON.stringify(text));
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(text, /[\u0000-\u001f\u007f-\u009f]/);
  }
  for (const place of [attributes.city, attributes.region]) {
    if (place !== undefined) assert.ok(!place.includes(";"), place);
  }
  assert.ok(attributes.bandwidthBps <= 10n ** 15n, `${attributes.bandwidthBps}`);
}

// ---------------------------------------------------------------------------

Deno.test("hub abuse: hostile directory streams, forged identities, relay limits", async (t) => {
  const cluster = new Cluster();
  const net = new TestNet();
  try {
    const hub = await cluster.hub();
    const attacker = await net.node();
    const victim = await net.node();
    const observer = await net.node();
    const hubTarget = target(hub);
    const hubAddress = asMultiaddr(hub.address);

    await t.step(`${PROPERTY_RUNS} malformed, oversized and out-of-order messages`, async () => {
      const shapes = new Map<string, number>();
      const outcomes = new Map<string, number>();
      const tally = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      const started = performance.now();
      await fc.assert(
        fc.asyncProperty(inputArb(attacker.peerId, victim.peerId), async (input) => {
          shapes.set(input.shape, (shapes.get(input.shape) ?? 0) + 1);
          // rawExchange throws when the hub neither answers nor resets within 5 s.
          const outcome = await rawExchange(attacker, hubTarget, input.bytes);
          assert.notEqual(outcome.kind, "garbage", `${input.shape}: the answer is not one frame`);
          if (input.shape === "oversized") assert.equal(outcome.kind, "reset");
          if (outcome.kind !== "response") return void tally(outcome.kind);
          const answer = outcome.response.response;
          tally(answer.case === "error" ? ErrorCode[answer.value.code] ?? "error" : "answered");
          if (answer.case === "error") {
            assert.ok(
              INPUT_ERRORS.has(answer.value.code),
              `${input.shape}: ${answer.value.message}`,
            );
            return;
          }
          const request = servableRequest(input.bytes);
          assert.ok(
            request,
            `${input.shape}: the hub answered ${answer.case} to input it must refuse`,
          );
          assert.equal(answer.case, request.request.case);
          if (answer.case !== "register") return;
          // Accepted: stored under the connection's peer, with valid attributes only.
          const [record] = await resolveRaw(observer, hub, [attacker.peerId]);
          assert.equal(record?.peerId, attacker.peerId);
          assert.ok(
            record.routes.every((r) => peerIdOfAddress(r) === attacker.peerId),
            `${record.routes}`,
          );
          assertStoredAttributesValid(record.attributes!);
        }),
        { numRuns: PROPERTY_RUNS },
      );
      console.log(
        `  ${PROPERTY_RUNS} cases in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
          [...shapes].map(([shape, n]) => `${shape} ${n}`).join(", ") + "; outcomes: " +
          [...outcomes].map(([kind, n]) => `${kind} ${n}`).join(", "),
      );
      // Nothing registered the victim, whatever the addresses said.
      assert.deepEqual(await resolveRaw(observer, hub, [victim.peerId]), []);
    });

    await t.step("the hub still serves, and counted the refusals", async () => {
      const status = await Promise.race([hub.child.status, sleep(0).then(() => undefined)]);
      assert.equal(status, undefined, "the hub process is still running");
      const directory = new HubDirectory({ network: await net.node(), hubs: [hubAddress] });
      await directory.findNodes({ filters: NO_FILTERS, limit: 5, exclude: [] });
      const errors = await pollMetric(hub, "p2proxy_hub_request_errors_total");
      assert.ok(errors > 0, `${errors} refusals counted`);
    });

    await t.step("an exit cannot register another peer's id", async () => {
      const forger = await net.node();
      /** A registration; `extra` is appended inside the RegisterRequest (unknown fields). */
      const register = (addresses: string[], extra: Uint8Array = new Uint8Array(0)) => {
        const value = concat(
          toBinary(
            RegisterRequestSchema,
            create(RegisterRequestSchema, {
              addresses,
              attributes: create(ExitAttributesSchema, { country: "NL" }),
            }),
          ),
          extra,
        );
        // DirectoryRequest.register is field 1, length-delimited.
        const request = concat(concat(Uint8Array.of(0x0a), varint(value.byteLength)), value);
        return rawExchange(forger, hubTarget, encodeFrame(request));
      };
      // The victim's own address: refused, nothing stored for either.
      const claimed = await register([`/ip4/198.51.100.8/tcp/4001/p2p/${victim.peerId}`]);
      assert.equal(errorCodeOf(claimed), ErrorCode.INVALID_ARGUMENT);
      assert.deepEqual(await resolveRaw(observer, hub, [victim.peerId, forger.peerId]), []);
      // A field 15 naming the victim (as a `peer_id` field of a newer schema might): ignored; the
      // id stored is the connection's peer, and bare addresses are tagged with it.
      const victimId = new TextEncoder().encode(victim.peerId);
      const idField = concat(concat(Uint8Array.of(0x7a), varint(victimId.byteLength)), victimId);
      const accepted = await register(["/ip4/198.51.100.9/tcp/4001"], idField);
      assert.equal(accepted.kind, "response");
      const records = await resolveRaw(observer, hub, [victim.peerId, forger.peerId]);
      assert.deepEqual(records.map((r) => [r.peerId, r.routes]), [
        [forger.peerId, [`/ip4/198.51.100.9/tcp/4001/p2p/${forger.peerId}`]],
      ]);
    });

    await t.step("attributes are validated", async () => {
      const exit = await net.node();
      const bad = [
        { country: "XX" },
        { country: "Netherlands" },
        { city: "Amsterdam; NH; NL" },
        { isp: "bad\u0000isp" },
        { region: "r".repeat(129) },
        { bandwidthBps: 10n ** 15n + 1n },
      ];
      for (const attributes of bad) {
        const outcome = await rawExchange(
          exit,
          hubTarget,
          frameOf(create(DirectoryRequestSchema, {
            request: {
              case: "register",
              value: { attributes: create(ExitAttributesSchema, attributes) },
            },
          })),
        );
        assert.equal(errorCodeOf(outcome), ErrorCode.INVALID_ARGUMENT, Object.keys(attributes)[0]);
      }
      assert.deepEqual(await resolveRaw(observer, hub, [exit.peerId]), []);
    });

    await t.step(
      "a peer that is not a registered exit gets only the default relay limit",
      async () => {
        const stranger = await net.node({ listen: [`${hub.address}/p2p-circuit`] });
        let received = 0;
        await stranger.handle(SINK_PROTOCOL, async (stream) => {
          try {
            for (let chunk = await stream.read(); chunk; chunk = await stream.read()) {
              received += chunk.byteLength;
            }
            await stream.closeWrite();
          } catch {
            stream.abort();
          }
        });
        assert.ok(stranger.addresses().some((a) => a.includes("/p2p-circuit")), "a reservation");
        const sender = await net.node();
        const circuit = `${hub.address}/p2p-circuit/p2p/${stranger.peerId}` as Multiaddr;
        assert.equal(await sender.dialAny([circuit]), stranger.peerId);
        assert.equal(sender.connectedRoute(stranger.peerId)?.relayed, true);
        const open = () =>
          sender.open(stranger.peerId, {
            protocol: SINK_PROTOCOL,
            timeoutMs: 5_000,
            maxConcurrent: 1,
          });
        // The relayed path works: a little gets through whole (the limit is per connection).
        await pushBytes(await open(), SMALL_PUSH_BYTES);
        assert.equal(received, SMALL_PUSH_BYTES);
        await assert.rejects(pushBytes(await open(), RELAY_ATTEMPT_BYTES), "the relay cut it");
        await sleep(200);
        console.log(`  relay: ${received} of ${RELAY_ATTEMPT_BYTES} bytes got through`);
        assert.ok(received <= DEFAULT_RELAY_LIMIT_BYTES, `${received} bytes got through`);
      },
    );
  } finally {
    await net.close();
    await cluster.close();
  }
});

/** Writes `bytes` in 64 KiB chunks, half-closes, and waits for the far side to close. */
async function pushBytes(stream: DuplexStream, bytes: number): Promise<void> {
  const chunk = new Uint8Array(64 * 1024);
  try {
    for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
      await stream.write(chunk.subarray(0, Math.min(chunk.byteLength, bytes - sent)));
    }
    await stream.closeWrite();
    while (await stream.read() !== null) { /* the sink sends nothing */ }
  } finally {
    stream.abort();
  }
}

/** A hub gauge, waiting for the next refresh (every 5 s) when it is still 0. */
async function pollMetric(hub: MeteredNode, name: string): Promise<number> {
  const deadline = Date.now() + 6_000;
  while (true) {
    const value = await metric(hub.metricsPort, name);
    if (value > 0 || Date.now() > deadline) return value;
    await sleep(200);
  }
}
