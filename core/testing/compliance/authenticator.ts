/**
 * Compliance suite of the `Authenticator` port: any token source, built-in or
 * third-party, runs it against itself with a configuration that can issue
 * tokens.
 *
 * @example
 * ```ts
 * import { authenticatorCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("VaultAuthenticator is an Authenticator", (t) =>
 *   authenticatorCompliance(t, () => ({ authenticator: new VaultAuthenticator(testVault) })));
 * ```
 *
 * @module
 */
import type { TestContext } from "./_test_context.ts";
import assert from "node:assert/strict";
import type { Authenticator } from "../../ports/authenticator.ts";
import { type Awaitable, isOrWraps, type Releasable, withFixture } from "./_harness.ts";

/** What an authenticator factory hands the suite: one that is able to issue tokens. */
export interface AuthenticatorFixture extends Releasable {
  /** The authenticator under test, configured so that it can issue tokens. */
  readonly authenticator: Authenticator;
}

/** Concurrent `token()` calls in the concurrency step. */
const CONCURRENT_CALLS = 5;

/**
 * Runs the `Authenticator` compliance steps: `token()` resolves to a non-empty
 * string, again on a second call, and for concurrent callers; an already
 * aborted signal rejects with the signal's reason (or an error whose `cause`
 * chain holds it).
 */
export async function authenticatorCompliance(
  t: TestContext,
  make: () => Awaitable<AuthenticatorFixture>,
): Promise<void> {
  await t.step(
    "token() resolves to a non-empty string, twice",
    () =>
      withFixture(make, async ({ authenticator }) => {
        for (const call of ["first", "second"]) {
          const token = await authenticator.token();
          assert.equal(typeof token, "string", `the ${call} token is not a string`);
          assert.ok(token.length > 0, `the ${call} token is empty`);
        }
      }),
  );

  await t.step(
    "concurrent token() calls all resolve",
    () =>
      withFixture(make, async ({ authenticator }) => {
        const calls = Array.from({ length: CONCURRENT_CALLS }, () => authenticator.token());
        for (const token of await Promise.all(calls)) {
          assert.ok(
            typeof token === "string" && token.length > 0,
            "a concurrent call got no token",
          );
        }
      }),
  );

  await t.step(
    "token() accepts a live signal",
    () =>
      withFixture(make, async ({ authenticator }) => {
        const token = await authenticator.token(new AbortController().signal);
        assert.ok(typeof token === "string" && token.length > 0);
      }),
  );

  await t.step(
    "an already aborted signal rejects with its reason",
    () =>
      withFixture(make, async ({ authenticator }) => {
        const controller = new AbortController();
        const reason = new Error("compliance: aborted before asking for a token");
        controller.abort(reason);
        await assert.rejects(authenticator.token(controller.signal), (error) => {
          assert.ok(
            isOrWraps(error, reason),
            "token() must reject with (or wrap) the signal's reason",
          );
          return true;
        });
      }),
  );
}
