/**
 * The bytes the destination server sends for `/pattern/<n>`: a
 * deterministic pseudo-random body that depends on every position, so a
 * client can prove a download arrived whole and in order by comparing it
 * with its own copy (a native memcmp, `Buffer.equals`).
 *
 * @module
 */

/** Deterministic xorshift32 bytes, seeded by the length so each size has its own body. */
export function patternBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = (length ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state & 0xff;
  }
  return out;
}
