import assert from "node:assert/strict";
import fc from "fast-check";
import { API_KEY_HASH_PATTERN } from "../core/config/auth_config.ts";
import {
  ApiKeyTable,
  constantTimeEqual,
  generateApiKey,
  hashApiKey,
  roleAllows,
} from "./api_keys.ts";

Deno.test("generated keys are p2pk_ and 256 random bits, and differ", () => {
  const keys = new Set(Array.from({ length: 100 }, generateApiKey));
  assert.equal(keys.size, 100);
  for (const key of keys) assert.match(key, /^p2pk_[A-Za-z0-9_-]{43}$/);
});

Deno.test("the hash is SHA-256, base64url, in the stored format", async () => {
  // SHA-256("") is e3b0c442…, a fixed vector.
  assert.equal(await hashApiKey(""), "sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
  await fc.assert(fc.asyncProperty(fc.string(), async (key) => {
    const hash = await hashApiKey(key);
    assert.match(hash, API_KEY_HASH_PATTERN);
    assert.equal(await hashApiKey(key), hash);
  }));
});

Deno.test("the table matches a presented key to its entry, and nothing else", async () => {
  const keys = [generateApiKey(), generateApiKey(), generateApiKey()];
  const table = new ApiKeyTable(
    await Promise.all(keys.map(async (key, i) => ({
      name: `k${i}`,
      hash: await hashApiKey(key),
      role: "proxy" as const,
    }))),
  );
  assert.equal(table.size, 3);
  for (const [i, key] of keys.entries()) assert.equal((await table.match(key))?.name, `k${i}`);
  assert.equal(await table.match(""), undefined);
  assert.equal(await table.match(keys[0]!.slice(0, -1)), undefined);
  assert.equal(await table.match(`${keys[0]} `), undefined);
  assert.equal(await table.match("x".repeat(10_000)), undefined);
  await fc.assert(fc.asyncProperty(fc.string({ minLength: 1 }), async (other) => {
    fc.pre(!keys.includes(other));
    assert.equal(await table.match(other), undefined);
  }));
});

Deno.test("roles: both allows either; a single role only itself", () => {
  assert.ok(roleAllows("both", "proxy") && roleAllows("both", "exit"));
  assert.ok(roleAllows("proxy", "proxy") && !roleAllows("proxy", "exit"));
  assert.ok(roleAllows("exit", "exit") && !roleAllows("exit", "proxy"));
});

Deno.test("constantTimeEqual agrees with element-wise equality", () => {
  fc.assert(fc.property(fc.uint8Array(), fc.uint8Array(), (a, b) => {
    const equal = a.length === b.length && a.every((byte, i) => byte === b[i]);
    return constantTimeEqual(a, b) === equal && constantTimeEqual(a, a.slice());
  }));
});
