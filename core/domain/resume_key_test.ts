import assert from "node:assert/strict";
import { aPeerId } from "../testing/builders.ts";
import { RESUME_KEY_BYTES, ResumeKeys } from "./resume_key.ts";

const IDLE_MS = 1_000;
const A = aPeerId(1);
const B = aPeerId(2);
const C = aPeerId(3);

/** Keys whose randomness counts up, so every key differs and tests are repeatable. */
function keys(options: { maxKeys?: number } = {}): ResumeKeys {
  let next = 0;
  return new ResumeKeys({
    idleMs: IDLE_MS,
    random: (n) => {
      const bytes = new Uint8Array(n);
      new DataView(bytes.buffer).setUint32(0, ++next);
      return bytes;
    },
    ...options,
  });
}

function refusal(verdict: ReturnType<ResumeKeys["redeem"]>): string {
  assert.equal(verdict.ok, false, "the key must be refused");
  return verdict.ok ? "" : verdict.message;
}

Deno.test("issue hands a peer the same key again, and another peer a different one", () => {
  const book = keys();
  const a = book.issue(A, 0);
  assert.equal(a.byteLength, RESUME_KEY_BYTES);
  assert.deepEqual(book.issue(A, 10), a, "a peer holds one key: issuing again returns it");
  const b = book.issue(B, 20);
  assert.notDeepEqual(b, a);
  assert.equal(book.size, 2);
});

Deno.test("a key admits the peer it was issued to, again and again", () => {
  const book = keys();
  const key = book.issue(A, 0);
  assert.deepEqual(book.redeem(key, A, 10), { ok: true, peer: A });
  assert.deepEqual(book.redeem(key.slice(), A, 20), { ok: true, peer: A }, "a copy is the key");
});

Deno.test("a key presented for another peer is refused, and stays good for its own", () => {
  const book = keys();
  const key = book.issue(A, 0);
  book.issue(B, 0);
  assert.match(refusal(book.redeem(key, B, 10)), new RegExp(`issued to ${A}, not ${B}`));
  assert.deepEqual(book.redeem(key, A, 20), { ok: true, peer: A });
});

Deno.test("an unknown key is refused", () => {
  const book = keys();
  const key = book.issue(A, 0);
  const unknown = key.slice();
  unknown[RESUME_KEY_BYTES - 1]! ^= 1;
  assert.match(refusal(book.redeem(unknown, A, 10)), /no such resume key/);
  assert.match(refusal(keys().redeem(key, A, 10)), /no such resume key/, "another exit's key");
});

Deno.test("a key of the wrong length is refused, quoting its length", () => {
  const book = keys();
  const key = book.issue(A, 0);
  for (const length of [0, 1, RESUME_KEY_BYTES - 1, RESUME_KEY_BYTES + 1]) {
    const malformed = new Uint8Array(length);
    malformed.set(key.subarray(0, Math.min(length, RESUME_KEY_BYTES)));
    assert.match(
      refusal(book.redeem(malformed, A, 10)),
      new RegExp(`${RESUME_KEY_BYTES} bytes, not ${length}\\b`),
    );
  }
  assert.deepEqual(book.redeem(key, A, 20), { ok: true, peer: A }, "the real key still admits");
});

Deno.test("a key unused for longer than the idle time is forgotten; each use restarts it", () => {
  const book = keys();
  const key = book.issue(A, 0);
  assert.equal(book.redeem(key, A, IDLE_MS).ok, true, "exactly the idle time: still held");
  assert.equal(book.redeem(key, A, 2 * IDLE_MS).ok, true, "the last use restarted the clock");
  assert.match(refusal(book.redeem(key, A, 3 * IDLE_MS + 1)), /no such resume key/);
  assert.equal(book.size, 0);
  const fresh = book.issue(A, 3 * IDLE_MS + 2);
  assert.notDeepEqual(fresh, key, "an expired key is never handed out again");
});

Deno.test("issuing again restarts a key's idle time", () => {
  const book = keys();
  const key = book.issue(A, 0);
  assert.deepEqual(book.issue(A, IDLE_MS), key);
  assert.equal(book.redeem(key, A, 2 * IDLE_MS).ok, true);
});

Deno.test("revoke forgets the peer's key and only it", () => {
  const book = keys();
  const a = book.issue(A, 0);
  const b = book.issue(B, 0);
  book.revoke(A);
  assert.match(refusal(book.redeem(a, A, 10)), /no such resume key/);
  assert.equal(book.redeem(b, B, 10).ok, true);
  assert.notDeepEqual(book.issue(A, 20), a, "after a revoke the peer gets a new key");
  book.revoke(C); // a peer without a key: nothing happens
  assert.equal(book.size, 2);
});

Deno.test("past maxKeys the least recently used key is forgotten", () => {
  const book = keys({ maxKeys: 2 });
  const a = book.issue(A, 0);
  const b = book.issue(B, 1);
  assert.equal(book.redeem(a, A, 2).ok, true, "A is now more recently used than B");
  const c = book.issue(C, 3);
  assert.equal(book.size, 2);
  assert.match(refusal(book.redeem(b, B, 4)), /no such resume key/, "B was least recently used");
  assert.equal(book.redeem(a, A, 5).ok, true);
  assert.equal(book.redeem(c, C, 6).ok, true);
  assert.notDeepEqual(book.issue(B, 7), b, "an evicted peer gets a new key");
  assert.match(refusal(book.redeem(a, A, 8)), /no such resume key/, "now A was least recent");
});

Deno.test("a random source that returns the wrong length is an error, not a short key", () => {
  const book = new ResumeKeys({ random: () => new Uint8Array(8) });
  assert.throws(() => book.issue(A, 0), /returned 8 bytes/);
  assert.equal(book.size, 0);
});
