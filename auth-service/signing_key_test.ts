import assert from "node:assert/strict";
import { base64url, exportSPKI } from "jose";
import { join } from "node:path";
import {
  AuthKeyError,
  keyIdOf,
  signingKeyFromPem,
  verificationKeyFromRaw,
  verificationKeyFromText,
} from "../auth/keys.ts";
import {
  generateSigningKey,
  loadOrCreateSigningKey,
  loadVerificationKeyFile,
} from "./signing_key.ts";

Deno.test("the kid is the RFC 7638 thumbprint (RFC 8037 appendix A.3 example)", async () => {
  const raw = base64url.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
  assert.equal(await keyIdOf(raw), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  assert.equal(
    (await verificationKeyFromRaw(raw)).kid,
    "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
  );
});

Deno.test("a signing key is created once with mode 0600 and never replaced", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "nested", "key.pem");
    const first = await loadOrCreateSigningKey(path);
    assert.equal(first.created, true);
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.match(await Deno.readTextFile(path), /^-----BEGIN PRIVATE KEY-----/);
    const second = await loadOrCreateSigningKey(path);
    assert.equal(second.created, false);
    assert.equal(second.key.kid, first.key.kid);
    assert.deepEqual(second.key.raw, first.key.raw);
    const names = [];
    for await (const entry of Deno.readDir(join(dir, "nested"))) names.push(entry.name);
    assert.deepEqual(names, ["key.pem"], "no temp file is left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a corrupt signing key is an error naming the file, and the file is kept", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "key.pem");
    await Deno.writeTextFile(path, "not a key");
    await assert.rejects(loadOrCreateSigningKey(path), (error) => {
      assert.ok(error instanceof AuthKeyError);
      assert.equal(error.code, "corrupt");
      assert.equal(error.path, path);
      assert.ok(error.message.includes(path));
      return true;
    });
    assert.equal(await Deno.readTextFile(path), "not a key");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a retired key's public half loads from a private or a public PEM", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { key, pem } = await generateSigningKey();
    await Deno.writeTextFile(join(dir, "private.pem"), pem);
    await Deno.writeTextFile(join(dir, "public.pem"), await exportSPKI(key.publicKey));
    assert.equal((await loadVerificationKeyFile(join(dir, "private.pem"))).kid, key.kid);
    assert.equal((await loadVerificationKeyFile(join(dir, "public.pem"))).kid, key.kid);
    await assert.rejects(
      loadVerificationKeyFile(join(dir, "missing.pem")),
      (error) => error instanceof AuthKeyError && error.code === "unreadable",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("public keys in config text: base64url, base64 or PEM", async () => {
  const { key, pem } = await generateSigningKey();
  const b64 = btoa(String.fromCharCode(...key.raw));
  for (
    const text of [base64url.encode(key.raw), b64, ` ${b64}\n`, await exportSPKI(key.publicKey)]
  ) {
    assert.equal((await verificationKeyFromText(text)).kid, key.kid, text);
  }
  assert.equal((await signingKeyFromPem(pem, "x")).kid, key.kid);
  await assert.rejects(verificationKeyFromText("AAAA"), TypeError);
  await assert.rejects(verificationKeyFromText("%%%"), TypeError);
});
