/**
 * Compliance suite of the `Resolver` port: any resolver, built-in or
 * third-party (DNS over HTTPS, a service registry), runs it against itself
 * with one name it knows and one it does not.
 *
 * @example
 * ```ts
 * import { resolverCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("MapResolver is a Resolver", (t) =>
 *   resolverCompliance(t, () => ({
 *     resolver: new MapResolver({ "dest.test": ["127.0.0.1"] }),
 *     known: { host: "dest.test", addresses: ["127.0.0.1"] },
 *     unknown: "missing.test",
 *   })));
 * ```
 *
 * @module
 */
import type { TestContext } from "./_test_context.ts";
import assert from "node:assert/strict";
import { isIpAddressLiteral } from "../../domain/egress_policy.ts";
import { ResolveError, type Resolver } from "../../ports/resolver.ts";
import {
  type Awaitable,
  isOrWraps,
  type Releasable,
  watchTimers,
  withFixture,
} from "./_harness.ts";

/** What a resolver factory hands the suite. */
export interface ResolverFixture extends Releasable {
  /** The resolver under test. */
  readonly resolver: Resolver;
  /** A name the resolver knows, and the addresses it must answer, in order. */
  readonly known: { readonly host: string; readonly addresses: readonly string[] };
  /** A name the resolver must report as not found. */
  readonly unknown: string;
  /**
   * A name whose lookup does not answer until aborted, for the abort-while-
   * waiting step. Leave it out for a resolver that always answers at once.
   */
  readonly hanging?: string;
}

/** Concurrent calls in the concurrency step. */
const CONCURRENT_CALLS = 5;

/** How long the suite lets a hanging lookup wait before it aborts it. */
const HANG_BEFORE_ABORT_MS = 20;

/**
 * Runs the `Resolver` compliance steps: a known name resolves to its
 * addresses (IP literals, in order), again and concurrently, whatever the
 * caller does with an earlier answer; the name's case and a trailing dot do
 * not matter; an unknown name rejects with `ResolveError` `not-found` naming
 * the host; an already aborted signal, or one aborted while the lookup waits
 * (with `hanging`), rejects with `ResolveError` `timeout` whose cause chain
 * holds the signal's reason, and leaves no timer behind.
 */
export async function resolverCompliance(
  t: TestContext,
  make: () => Awaitable<ResolverFixture>,
): Promise<void> {
  let hasHanging = false;
  await t.step(
    "a known name resolves to its addresses, in order",
    () =>
      withFixture(make, async ({ resolver, known, hanging }) => {
        hasHanging = hanging !== undefined;
        const addresses = await resolver.resolve(known.host);
        assert.ok(Array.isArray(addresses), "resolve() must answer an array of addresses");
        assert.ok(addresses.length > 0, `"${known.host}" resolved to no address`);
        for (const address of addresses) {
          assert.ok(isIpAddressLiteral(address), `${JSON.stringify(address)} is not an IP address`);
        }
        assert.deepEqual([...addresses], [...known.addresses]);
      }),
  );

  await t.step(
    "repeated and concurrent lookups agree, and an answer is the caller's to change",
    () =>
      withFixture(make, async ({ resolver, known }) => {
        const first = await resolver.resolve(known.host) as string[];
        try {
          first.length = 0;
        } catch {
          // A frozen answer is fine too.
        }
        const answers = await Promise.all(
          Array.from({ length: CONCURRENT_CALLS }, () => resolver.resolve(known.host)),
        );
        for (const answer of answers) assert.deepEqual([...answer], [...known.addresses]);
      }),
  );

  await t.step(
    "case and a trailing dot do not change a name",
    () =>
      withFixture(make, async ({ resolver, known }) => {
        for (const spelling of [known.host.toUpperCase(), `${known.host}.`]) {
          assert.deepEqual([...await resolver.resolve(spelling)], [...known.addresses], spelling);
        }
      }),
  );

  await t.step(
    "an unknown name rejects with ResolveError not-found, naming the host",
    () =>
      withFixture(make, async ({ resolver, unknown }) => {
        await assert.rejects(resolver.resolve(unknown), (error) => {
          assert.ok(error instanceof ResolveError, `expected a ResolveError, got ${error}`);
          assert.equal(error.code, "not-found");
          assert.equal(error.host, unknown);
          assert.ok(error.message.includes(unknown), "the message must quote the name");
          return true;
        });
      }),
  );

  await t.step(
    "a live signal is accepted",
    () =>
      withFixture(make, async ({ resolver, known }) => {
        const addresses = await resolver.resolve(known.host, new AbortController().signal);
        assert.deepEqual([...addresses], [...known.addresses]);
      }),
  );

  await t.step(
    "an already aborted signal rejects with ResolveError timeout, its reason as cause",
    () =>
      withFixture(make, async ({ resolver, known }) => {
        const controller = new AbortController();
        const reason = new Error("compliance: aborted before resolving");
        controller.abort(reason);
        await assert.rejects(resolver.resolve(known.host, controller.signal), (error) => {
          assert.ok(error instanceof ResolveError, `expected a ResolveError, got ${error}`);
          assert.equal(error.code, "timeout");
          assert.ok(isOrWraps(error, reason), "the signal's reason must be in the cause chain");
          return true;
        });
      }),
  );

  await t.step({
    name: "an abort while the lookup waits rejects with ResolveError timeout and leaves no timer",
    ignore: !hasHanging,
    fn: () =>
      withFixture(make, async ({ resolver, hanging }) => {
        const controller = new AbortController();
        const reason = new Error("compliance: aborted while resolving");
        const { leaked } = await watchTimers(async () => {
          const pending = resolver.resolve(hanging!, controller.signal);
          await new Promise((resolve) => setTimeout(resolve, HANG_BEFORE_ABORT_MS));
          controller.abort(reason);
          await assert.rejects(pending, (error) => {
            assert.ok(error instanceof ResolveError, `expected a ResolveError, got ${error}`);
            assert.equal(error.code, "timeout");
            assert.ok(isOrWraps(error, reason), "the signal's reason must be in the cause chain");
            return true;
          });
        });
        assert.equal(leaked, 0, "an aborted lookup left a timer running: clear it on abort");
      }),
  });
}
