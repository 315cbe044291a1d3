/**
 * Comparisons of secrets (passwords, tokens, key digests) that take the same
 * time whatever the first differing byte, so timing tells an attacker nothing.
 *
 * @module
 */

/** True when `a` and `b` hold the same bytes; scans the longer one fully, without an early exit. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.byteLength ^ b.byteLength;
  for (let i = 0; i < Math.max(a.byteLength, b.byteLength); i++) {
    difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  }
  return difference === 0;
}

const encoder = new TextEncoder();

/** {@link constantTimeEqual} over the UTF-8 bytes of two strings. */
export function constantTimeEqualText(a: string, b: string): boolean {
  return constantTimeEqual(encoder.encode(a), encoder.encode(b));
}
