/**
 * Compliance suite of the `NetworkNode` port beyond dialing and opening
 * (which `dialerCompliance` and `streamOpenerCompliance` cover): addresses,
 * connection events, protocol handlers, pings and hang-ups. Two parties: the
 * factory starts two nodes of the implementation that can reach each other.
 *
 * @example
 * ```ts
 * import { networkCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("MyNetwork is a NetworkNode", (t) =>
 *   networkCompliance(t, async () => {
 *     const [node, remote] = await startTwoNodes();
 *     return { node, remote, cleanup: () => stopAll(node, remote) };
 *   }));
 * ```
 *
 * @module
 */
import type { TestContext } from "./_test_context.ts";
import assert from "node:assert/strict";
import { asPeerId } from "../../ids.ts";
import type { ConnectionEvent, ConnectionInfo, NetworkNode } from "../../ports/network.ts";
import { type DuplexStream, StreamError } from "../../ports/stream_opener.ts";
import {
  type Awaitable,
  eventually,
  outcomeOf,
  type Releasable,
  SETTLE_TIMEOUT_MS,
  withFixture,
  within,
} from "./_harness.ts";

/** What a network factory hands the suite: two started nodes, not yet connected. */
export interface NetworkFixture extends Releasable {
  /** The node under test. */
  readonly node: NetworkNode;
  /** A second node of the same implementation, which `node` can dial at its addresses. */
  readonly remote: NetworkNode;
}

const ECHO = "/p2proxy-compliance/network-echo/1.0.0";
const LIMITED = "/p2proxy-compliance/network-limited/1.0.0";

const OPEN = { timeoutMs: SETTLE_TIMEOUT_MS, maxConcurrent: 8 } as const;

/** Pause between two tries of an open the remote may not have made room for yet. */
const RETRY_PAUSE_MS = 50;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Every connection event a node emits, from now on. */
function recordEvents(node: NetworkNode): { events: ConnectionEvent[]; stop: () => void } {
  const events: ConnectionEvent[] = [];
  const stop = node.onConnection((event) => events.push(event));
  return { events, stop };
}

/** One round trip on `stream`: writes `text`, half-closes, reads the answer to the end. */
async function roundTrip(stream: DuplexStream, text: string): Promise<string> {
  await within(stream.write(encoder.encode(text)), SETTLE_TIMEOUT_MS, "A write");
  await within(stream.closeWrite(), SETTLE_TIMEOUT_MS, "A closeWrite");
  let answer = "";
  while (true) {
    const chunk = await within(stream.read(), SETTLE_TIMEOUT_MS, "A read");
    if (chunk === null) return answer;
    answer += decoder.decode(chunk, { stream: true });
  }
}

/** Serving side of an echo: answers what arrives once the opener half-closes. */
async function echo(stream: DuplexStream): Promise<void> {
  try {
    const chunks: Uint8Array[] = [];
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
      chunks.push(chunk.slice());
    }
    for (const chunk of chunks) await stream.write(chunk);
    await stream.closeWrite();
  } catch {
    stream.abort();
  }
}

function assertConnection(
  info: ConnectionInfo,
  peer: string,
  direction: ConnectionInfo["direction"],
  what: string,
): void {
  assert.equal(info.peerId, peer, `${what}: the connection's peer`);
  assert.equal(info.direction, direction, `${what}: the connection's direction`);
  assert.equal(info.relayed, false, `${what}: a direct connection counts as relayed`);
  assert.ok(
    info.address.endsWith(`/p2p/${peer}`),
    `${what}: the connection's address ${info.address} must end in /p2p/${peer}`,
  );
}

/**
 * Runs the `NetworkNode` compliance steps: every address ends in
 * `/p2p/<peerId>`; a dial emits `open` on both sides (outbound on the
 * dialer's, inbound on the other) and `connections()` lists it; `hangUp`
 * closes every connection, emitting `close` with `remaining` 0 on both
 * sides; an unsubscribed listener hears nothing more; a handler gets each
 * inbound stream with the opener's connection; after `unhandle` new opens
 * reject with `unsupported-protocol` while open streams keep running;
 * `maxInboundStreams` keeps streams beyond the limit from the handler until
 * one closes; `ping` answers a round-trip time and rejects when aborted.
 * (`remaining` of an `open` event is not checked.)
 */
export async function networkCompliance(
  t: TestContext,
  make: () => Awaitable<NetworkFixture>,
): Promise<void> {
  await t.step(
    "every address ends in /p2p/<peerId>",
    () =>
      withFixture(make, ({ node, remote }) => {
        assert.notEqual(node.peerId, remote.peerId, "two nodes share a peer id");
        for (const each of [node, remote]) {
          const addresses = each.addresses();
          assert.ok(addresses.length > 0, `${each.peerId} has no address`);
          for (const address of addresses) {
            assert.ok(address.endsWith(`/p2p/${each.peerId}`), `${address} lacks /p2p/<peerId>`);
          }
        }
        return Promise.resolve();
      }),
  );

  await t.step(
    "a dial emits open on both sides, and connections() lists it",
    () =>
      withFixture(make, async ({ node, remote }) => {
        assert.deepEqual(node.connections(remote.peerId), [], "connected before any dial");
        assert.deepEqual(node.connections(asPeerId("not-a-peer-id")), []);
        const ours = recordEvents(node);
        const theirs = recordEvents(remote);
        try {
          await within(node.dialAny(remote.addresses()), SETTLE_TIMEOUT_MS, "The dial");
          await eventually(
            () => ours.events.length > 0 && theirs.events.length > 0,
            SETTLE_TIMEOUT_MS,
            "An open event on both sides",
          );
          const [opened] = ours.events;
          assert.equal(opened!.kind, "open");
          assertConnection(opened!.connection, remote.peerId, "outbound", "the dialer's event");
          const [accepted] = theirs.events;
          assert.equal(accepted!.kind, "open");
          assertConnection(accepted!.connection, node.peerId, "inbound", "the remote's event");
          const listed = node.connections(remote.peerId);
          assert.ok(listed.length > 0, "connections() does not list the new connection");
          for (const info of listed) {
            assertConnection(info, remote.peerId, "outbound", "connections()");
          }
          await eventually(
            () => remote.connections(node.peerId).length > 0,
            SETTLE_TIMEOUT_MS,
            "The remote listing the connection",
          );
        } finally {
          ours.stop();
          theirs.stop();
        }
      }),
  );

  await t.step(
    "hangUp closes every connection: close with remaining 0 on both sides",
    () =>
      withFixture(make, async ({ node, remote }) => {
        await within(node.dialAny(remote.addresses()), SETTLE_TIMEOUT_MS, "The dial");
        await eventually(
          () => remote.isConnected(node.peerId),
          SETTLE_TIMEOUT_MS,
          "The remote seeing the connection",
        );
        const ours = recordEvents(node);
        const theirs = recordEvents(remote);
        try {
          await within(node.hangUp(remote.peerId), SETTLE_TIMEOUT_MS, "The hang-up");
          assert.equal(node.isConnected(remote.peerId), false, "still connected after hangUp");
          assert.deepEqual(node.connections(remote.peerId), []);
          const lastClose = (events: ConnectionEvent[]) =>
            events.findLast((event) => event.kind === "close");
          await eventually(
            () => lastClose(ours.events)?.remaining === 0,
            SETTLE_TIMEOUT_MS,
            "A close with remaining 0 on the node that hung up",
          );
          await eventually(
            () => lastClose(theirs.events)?.remaining === 0,
            SETTLE_TIMEOUT_MS,
            "A close with remaining 0 on the remote",
          );
          assert.equal(lastClose(ours.events)!.connection.peerId, remote.peerId);
          assert.equal(lastClose(theirs.events)!.connection.peerId, node.peerId);
          assert.ok(
            ours.events.every((event) => event.kind === "close"),
            "a hang-up opened a connection",
          );
          await eventually(
            () => !remote.isConnected(node.peerId),
            SETTLE_TIMEOUT_MS,
            "The remote seeing the hang-up",
          );
        } finally {
          ours.stop();
          theirs.stop();
        }
      }),
  );

  await t.step(
    "an unsubscribed listener hears nothing more",
    () =>
      withFixture(make, async ({ node, remote }) => {
        const gone = recordEvents(node);
        gone.stop();
        const kept = recordEvents(node);
        try {
          await within(node.dialAny(remote.addresses()), SETTLE_TIMEOUT_MS, "The dial");
          await eventually(() => kept.events.length > 0, SETTLE_TIMEOUT_MS, "An open event");
          assert.deepEqual(gone.events, [], "an unsubscribed listener was called");
        } finally {
          kept.stop();
        }
      }),
  );

  await t.step(
    "a handler gets each inbound stream with the opener's connection",
    () =>
      withFixture(make, async ({ node, remote }) => {
        const seen: ConnectionInfo[] = [];
        await remote.handle(ECHO, (stream, from) => {
          seen.push(from);
          void echo(stream);
        });
        await within(node.dialAny(remote.addresses()), SETTLE_TIMEOUT_MS, "The dial");
        for (const text of ["one", "two"]) {
          const stream = await node.open(remote.peerId, { protocol: ECHO, ...OPEN });
          assert.equal(await roundTrip(stream, text), text);
        }
        assert.equal(seen.length, 2, "the handler must see every stream");
        for (const from of seen) assertConnection(from, node.peerId, "inbound", "the handler's");
      }),
  );

  await t.step(
    "after unhandle, new opens are refused while open streams keep running",
    () =>
      withFixture(make, async ({ node, remote }) => {
        await remote.handle(ECHO, (stream) => void echo(stream));
        await within(node.dialAny(remote.addresses()), SETTLE_TIMEOUT_MS, "The dial");
        const open = await node.open(remote.peerId, { protocol: ECHO, ...OPEN });
        await remote.unhandle(ECHO);
        const refused = await within(
          outcomeOf(node.open(remote.peerId, { protocol: ECHO, ...OPEN })),
          SETTLE_TIMEOUT_MS * 2,
          "An open after unhandle",
        );
        assert.ok(!refused.ok, "an open of an unhandled protocol succeeded");
        assert.ok(
          refused.error instanceof StreamError && refused.error.code === "unsupported-protocol",
          `expected StreamError unsupported-protocol, got ${refused.error}`,
        );
        assert.equal(await roundTrip(open, "still here"), "still here");
      }),
  );

  await t.step(
    "maxInboundStreams keeps streams beyond the limit from the handler until one closes",
    () =>
      withFixture(make, async ({ node, remote }) => {
        const held: DuplexStream[] = [];
        await remote.handle(LIMITED, (stream) => {
          held.push(stream);
          void echo(stream);
        }, { maxInboundStreams: 1 });
        await within(node.dialAny(remote.addresses()), SETTLE_TIMEOUT_MS, "The dial");
        const first = await node.open(remote.peerId, { protocol: LIMITED, ...OPEN });
        await first.write(encoder.encode("first"));
        await eventually(() => held.length === 1, SETTLE_TIMEOUT_MS, "The first stream");

        const extra = await within(
          outcomeOf(node.open(remote.peerId, { protocol: LIMITED, ...OPEN })),
          SETTLE_TIMEOUT_MS * 2,
          "An open beyond the limit",
        );
        if (extra.ok) {
          const carried = await within(
            outcomeOf(roundTrip(extra.value, "extra")),
            SETTLE_TIMEOUT_MS * 2,
            "A round trip beyond the limit",
          );
          assert.ok(!carried.ok || carried.value === "", "a stream beyond the limit carried data");
          extra.value.abort();
        }
        assert.equal(held.length, 1, "the handler got a stream beyond maxInboundStreams");

        // Once the first closes, a new stream gets through (the peer may take a moment to count it).
        first.abort();
        const started = Date.now();
        while (true) {
          const attempt = await outcomeOf((async () => {
            const stream = await node.open(remote.peerId, { protocol: LIMITED, ...OPEN });
            try {
              return await roundTrip(stream, "after");
            } finally {
              stream.abort();
            }
          })());
          if (attempt.ok && attempt.value === "after") break;
          if (Date.now() - started > SETTLE_TIMEOUT_MS) {
            assert.fail("no stream got through after the first one closed");
          }
          await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
        }
        assert.equal(held.length, 2, "only the first and the one after it reach the handler");
      }),
  );

  await t.step(
    "ping answers a round-trip time, and rejects when aborted",
    () =>
      withFixture(make, async ({ node, remote }) => {
        await within(node.dialAny(remote.addresses()), SETTLE_TIMEOUT_MS, "The dial");
        const rtt = await within(node.ping(remote.peerId), SETTLE_TIMEOUT_MS, "A ping");
        assert.ok(Number.isFinite(rtt) && rtt >= 0, `a ping answered ${rtt}`);
        const reason = new Error("compliance: aborted ping");
        const aborted = await within(
          outcomeOf(node.ping(remote.peerId, AbortSignal.abort(reason))),
          SETTLE_TIMEOUT_MS,
          "An aborted ping",
        );
        assert.ok(!aborted.ok, "an aborted ping answered");
      }),
  );
}
