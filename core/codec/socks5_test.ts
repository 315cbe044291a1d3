import assert from "node:assert/strict";
import fc from "fast-check";
import {
  AUTH_METHOD,
  encodeGreeting,
  encodeMethodSelection,
  encodeReply,
  encodeRequest,
  encodeUserPass,
  encodeUserPassStatus,
  MAX_GREETING_BYTES,
  MAX_REQUEST_BYTES,
  MAX_USERPASS_BYTES,
  parseGreeting,
  parseMethodSelection,
  parseReply,
  parseRequest,
  type ParseResult,
  parseUserPass,
  parseUserPassStatus,
  selectMethod,
  Socks5Error,
  type Socks5ErrorCode,
  SOCKS_REPLY,
} from "./socks5.ts";

const bytes = (...values: number[]) => Uint8Array.from(values);
const ascii = (text: string) => [...new TextEncoder().encode(text)];

function ok<T>(result: ParseResult<T>): { value: T; consumed: number } {
  assert.equal(result.kind, "ok", `expected a parsed value, got ${JSON.stringify(result)}`);
  if (result.kind !== "ok") throw new Error("unreachable");
  return { value: result.value, consumed: result.consumed };
}

function assertSocksError(
  fn: () => unknown,
  code: Socks5ErrorCode,
  replyCode?: number,
): Socks5Error {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof Socks5Error, `expected Socks5Error, got ${error}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.replyCode, replyCode);
    return error;
  }
  assert.fail(`expected Socks5Error "${code}", nothing was thrown`);
}

const parsers = {
  greeting: parseGreeting,
  userPass: parseUserPass,
  request: parseRequest,
  reply: parseReply,
  methodSelection: parseMethodSelection,
  userPassStatus: parseUserPassStatus,
} as const;

Deno.test("greeting", async (t) => {
  await t.step("parses methods and reports what it consumed", () => {
    const { value, consumed } = ok(parseGreeting(bytes(5, 2, 0, 2, 0xaa, 0xbb)));
    assert.deepEqual(value, { version: 5, methods: [0, 2] });
    assert.equal(consumed, 4);
  });

  await t.step("asks for exactly the missing bytes", () => {
    assert.deepEqual(parseGreeting(bytes()), { kind: "need-more", min: 2 });
    assert.deepEqual(parseGreeting(bytes(5)), { kind: "need-more", min: 2 });
    assert.deepEqual(parseGreeting(bytes(5, 3, 0)), { kind: "need-more", min: 5 });
  });

  await t.step("rejects other versions with a hint", () => {
    const socks4 = assertSocksError(() => parseGreeting(bytes(4, 1, 0)), "bad-version");
    assert.match(socks4.message, /SOCKS4/);
    const http = assertSocksError(
      () => parseGreeting(Uint8Array.from(ascii("GET /"))),
      "bad-version",
    );
    assert.match(http.message, /HTTP/);
  });

  await t.step("rejects a greeting without methods", () => {
    assertSocksError(() => parseGreeting(bytes(5, 0)), "no-methods");
  });

  await t.step("selectMethod follows the server's users", () => {
    assert.equal(selectMethod([0], false), AUTH_METHOD.noAuth);
    assert.equal(selectMethod([2, 0], false), AUTH_METHOD.noAuth);
    assert.equal(selectMethod([2], false), AUTH_METHOD.noAcceptable);
    assert.equal(selectMethod([0, 2], true), AUTH_METHOD.userPass);
    assert.equal(selectMethod([0], true), AUTH_METHOD.noAcceptable);
    assert.equal(selectMethod([1], true), AUTH_METHOD.noAcceptable);
  });

  await t.step("encoders", () => {
    assert.deepEqual(encodeGreeting([0, 2]), bytes(5, 2, 0, 2));
    assert.deepEqual(encodeMethodSelection(0xff), bytes(5, 0xff));
    assert.deepEqual(ok(parseMethodSelection(bytes(5, 2))).value, { method: 2 });
    assertSocksError(() => encodeGreeting([]), "no-methods");
    assertSocksError(() => encodeGreeting(new Array(256).fill(0)), "field-too-long");
    assertSocksError(() => encodeGreeting([256]), "malformed");
    assertSocksError(() => encodeMethodSelection(-1), "malformed");
    assertSocksError(() => parseMethodSelection(bytes(4, 0)), "bad-version");
  });
});

Deno.test("username/password (RFC 1929)", async (t) => {
  await t.step("parses UTF-8 credentials", () => {
    const message = bytes(1, 5, ...ascii("alice"), 4, ...ascii("pässw").slice(0, 4));
    const { value, consumed } = ok(parseUserPass(message));
    assert.equal(value.username, "alice");
    assert.equal(
      value.password,
      new TextDecoder().decode(Uint8Array.from(ascii("pässw").slice(0, 4))),
    );
    assert.equal(consumed, message.length);
  });

  await t.step("accepts empty fields (they just never match a user)", () => {
    assert.deepEqual(ok(parseUserPass(bytes(1, 0, 0))).value, { username: "", password: "" });
  });

  await t.step("asks for the missing bytes", () => {
    assert.deepEqual(parseUserPass(bytes(1)), { kind: "need-more", min: 2 });
    assert.deepEqual(parseUserPass(bytes(1, 3, 97)), { kind: "need-more", min: 6 });
    assert.deepEqual(parseUserPass(bytes(1, 1, 97, 2)), { kind: "need-more", min: 6 });
  });

  await t.step("rejects a wrong sub-negotiation version and invalid UTF-8", () => {
    assertSocksError(() => parseUserPass(bytes(5, 1, 97, 1, 98)), "bad-auth-version");
    assertSocksError(() => parseUserPass(bytes(1, 1, 0xff, 1, 98)), "malformed");
    assertSocksError(() => parseUserPass(bytes(1, 1, 97, 2, 0xc3, 0x28)), "malformed");
  });

  await t.step("encoders", () => {
    assert.deepEqual(encodeUserPass("u", "pw"), bytes(1, 1, 117, 2, 112, 119));
    assert.deepEqual(encodeUserPassStatus(true), bytes(1, 0));
    assert.deepEqual(encodeUserPassStatus(false), bytes(1, 1));
    assert.deepEqual(ok(parseUserPassStatus(bytes(1, 0))).value, { ok: true, status: 0 });
    assert.deepEqual(ok(parseUserPassStatus(bytes(1, 7))).value, { ok: false, status: 7 });
    assertSocksError(() => parseUserPassStatus(bytes(5, 0)), "bad-auth-version");
    assertSocksError(() => encodeUserPass("", "pw"), "empty-field");
    assertSocksError(() => encodeUserPass("u", ""), "empty-field");
    assertSocksError(() => encodeUserPass("u", "x".repeat(256)), "field-too-long");
    // 128 two-byte characters: 256 bytes, although only 128 code units.
    assertSocksError(() => encodeUserPass("é".repeat(128), "pw"), "field-too-long");
  });
});

Deno.test("request", async (t) => {
  await t.step("CONNECT to a domain (RFC 1928 layout)", () => {
    const message = bytes(5, 1, 0, 3, 11, ...ascii("example.com"), 0, 80);
    assert.deepEqual(encodeRequest({ command: "connect", host: "example.com", port: 80 }), message);
    const { value, consumed } = ok(parseRequest(message));
    assert.deepEqual(value, {
      command: "connect",
      commandCode: 1,
      host: "example.com",
      port: 80,
      addressType: "domain",
    });
    assert.equal(consumed, message.length);
  });

  await t.step("IPv4 and IPv6 addresses", () => {
    const v4 = ok(parseRequest(bytes(5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90))).value;
    assert.deepEqual([v4.host, v4.port, v4.addressType], ["127.0.0.1", 8080, "ipv4"]);
    const v6Bytes = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    const v6 = ok(parseRequest(bytes(5, 1, 0, 4, ...v6Bytes, 1, 187))).value;
    assert.deepEqual([v6.host, v6.port, v6.addressType], ["2001:db8::1:0:0:1", 443, "ipv6"]);
    const loopback = ok(
      parseRequest(encodeRequest({ command: "connect", host: "[::1]", port: 1 })),
    );
    assert.equal(loopback.value.host, "::1");
  });

  await t.step("BIND and UDP ASSOCIATE parse; the caller refuses them", () => {
    const bind = ok(parseRequest(encodeRequest({ command: "bind", host: "1.2.3.4", port: 9 })));
    assert.equal(bind.value.command, "bind");
    assert.equal(bind.value.commandCode, 2);
    const udp = ok(parseRequest(encodeRequest({ command: "udp-associate", host: "::", port: 0 })));
    assert.equal(udp.value.command, "udp-associate");
  });

  await t.step("an unknown command fails with 07 only once the whole request is in", () => {
    const message = encodeRequest({ command: 0x09, host: "example.com", port: 80 });
    for (let length = 0; length < message.length; length++) {
      assert.equal(parseRequest(message.subarray(0, length)).kind, "need-more");
    }
    assertSocksError(() => parseRequest(message), "bad-command", SOCKS_REPLY.commandNotSupported);
  });

  await t.step("an unknown address type fails at once with 08", () => {
    assertSocksError(
      () => parseRequest(bytes(5, 1, 0, 2)),
      "bad-address-type",
      SOCKS_REPLY.addressTypeNotSupported,
    );
    // Even with an unknown command: the length of the rest is unknowable.
    assertSocksError(
      () => parseRequest(bytes(5, 9, 0, 0xff)),
      "bad-address-type",
      SOCKS_REPLY.addressTypeNotSupported,
    );
  });

  await t.step("bad domains fail with 01", () => {
    const fail = SOCKS_REPLY.generalFailure;
    assertSocksError(() => parseRequest(bytes(5, 1, 0, 3, 0)), "bad-domain", fail);
    assertSocksError(
      () => parseRequest(bytes(5, 1, 0, 3, 3, 97, 0, 98, 0, 80)),
      "bad-domain",
      fail,
    );
    assertSocksError(() => parseRequest(bytes(5, 1, 0, 3, 2, 97, 10, 0, 80)), "bad-domain", fail);
    assertSocksError(() => parseRequest(bytes(5, 1, 0, 3, 1, 0xff, 0, 80)), "bad-domain", fail);
    assertSocksError(
      () => parseRequest(bytes(5, 1, 0, 3, 2, 0xc2, 0x85, 0, 80)),
      "bad-domain",
      fail,
    );
  });

  await t.step("a wrong version gets no reply code", () => {
    assertSocksError(() => parseRequest(bytes(4, 1, 0, 1)), "bad-version");
  });

  await t.step("need-more reports a lower bound of the message length", () => {
    assert.deepEqual(parseRequest(bytes(5, 1)), { kind: "need-more", min: 5 });
    assert.deepEqual(parseRequest(bytes(5, 1, 0, 3)), { kind: "need-more", min: 6 });
    assert.deepEqual(parseRequest(bytes(5, 1, 0, 3, 4)), { kind: "need-more", min: 11 });
    assert.deepEqual(parseRequest(bytes(5, 1, 0, 1)), { kind: "need-more", min: 10 });
    assert.deepEqual(parseRequest(bytes(5, 1, 0, 4)), { kind: "need-more", min: 22 });
  });

  await t.step("encodeRequest picks the address type from the host and checks it", () => {
    const atyp = (host: string) => encodeRequest({ command: "connect", host, port: 1 })[3];
    assert.equal(atyp("10.0.0.1"), 1);
    assert.equal(atyp("2001:db8::1"), 4);
    assert.equal(atyp("[2001:db8::1]"), 4);
    assert.equal(atyp("::ffff:1.2.3.4"), 4);
    assert.equal(atyp("example.com"), 3);
    assert.equal(atyp("010.0.0.1"), 3, "leading zeros are ambiguous: sent as a name");
    const connect = (host: string, port = 1) => () =>
      encodeRequest({ command: "connect", host, port });
    assertSocksError(connect("fe80::1%eth0"), "bad-address");
    assertSocksError(connect("host:80"), "bad-address");
    assertSocksError(connect("[example.com]"), "bad-address");
    assertSocksError(connect(""), "empty-field");
    assertSocksError(connect("a".repeat(256)), "field-too-long");
    assertSocksError(connect("a\u0000b"), "bad-domain");
    assertSocksError(connect("example.com", 65536), "bad-port");
    assertSocksError(connect("example.com", 1.5), "bad-port");
    assertSocksError(() => encodeRequest({ command: 256, host: "a", port: 1 }), "malformed");
  });
});

Deno.test("reply", async (t) => {
  await t.step("defaults BND to 0.0.0.0:0", () => {
    assert.deepEqual(encodeReply(SOCKS_REPLY.succeeded), bytes(5, 0, 0, 1, 0, 0, 0, 0, 0, 0));
    assert.deepEqual(
      encodeReply(SOCKS_REPLY.hostUnreachable),
      bytes(5, 4, 0, 1, 0, 0, 0, 0, 0, 0),
    );
  });

  await t.step("carries an IPv4, IPv6 or domain bound address", () => {
    const v4 = ok(parseReply(encodeReply(0, { host: "192.0.2.7", port: 4242 }))).value;
    assert.deepEqual(v4, { code: 0, host: "192.0.2.7", port: 4242, addressType: "ipv4" });
    const v6 = ok(parseReply(encodeReply(5, { host: "2001:DB8:0:0::7", port: 1 }))).value;
    assert.deepEqual(v6, { code: 5, host: "2001:db8::7", port: 1, addressType: "ipv6" });
    const name = ok(parseReply(encodeReply(0, { host: "exit.example", port: 2 }))).value;
    assert.deepEqual(name, { code: 0, host: "exit.example", port: 2, addressType: "domain" });
  });

  await t.step("client-side errors carry no reply code", () => {
    assertSocksError(() => parseReply(bytes(5, 0, 0, 9)), "bad-address-type");
    assertSocksError(() => parseReply(bytes(5, 0, 0, 3, 0)), "bad-domain");
    assertSocksError(() => encodeReply(300), "malformed");
  });
});

// ---------------------------------------------------------------------------
// Properties

const byte = fc.integer({ min: 0, max: 255 });
const port = fc.integer({ min: 0, max: 65535 });
const command = fc.constantFrom("connect" as const, "bind" as const, "udp-associate" as const);
const encoder = new TextEncoder();
const fitsField = (text: string) => {
  const length = encoder.encode(text).length;
  return length >= 1 && length <= 255 && text.isWellFormed();
};
const credential = fc.string({ unit: "binary", minLength: 1, maxLength: 80 }).filter(fitsField);
const domain = fc.domain().filter(fitsField);
const host = fc.oneof(fc.ipV4(), fc.ipV6(), domain);

/** RFC 5952 form: lower case, no leading zeros, at most one "::". */
function isCanonicalIpv6(text: string): boolean {
  return text === text.toLowerCase() && !/(^|:)0[0-9a-f]/.test(text) &&
    text.split("::").length <= 2;
}

/** Every valid message this codec encodes, with the parser that reads it. */
const validMessage: fc.Arbitrary<
  { parse: (buf: Uint8Array) => ParseResult<unknown>; bytes: Uint8Array }
> = fc.oneof(
  fc.array(byte, { minLength: 1, maxLength: 255 }).map((methods) => ({
    parse: parseGreeting,
    bytes: encodeGreeting(methods),
  })),
  fc.tuple(credential, credential).map(([u, p]) => ({
    parse: parseUserPass,
    bytes: encodeUserPass(u, p),
  })),
  fc.record({ command, host, port }).map((request) => ({
    parse: parseRequest,
    bytes: encodeRequest(request),
  })),
  fc.tuple(byte, host, port).map(([code, h, p]) => ({
    parse: parseReply,
    bytes: encodeReply(code, { host: h, port: p }),
  })),
  byte.map((method) => ({ parse: parseMethodSelection, bytes: encodeMethodSelection(method) })),
  fc.boolean().map((success) => ({
    parse: parseUserPassStatus,
    bytes: encodeUserPassStatus(success),
  })),
);

/** Arbitrary bytes, often starting with a plausible header so that parsers get past byte 0. */
const noise = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc.tuple(fc.constantFrom(1, 5), fc.uint8Array({ maxLength: 600 })).map(([v, rest]) =>
    Uint8Array.of(v, ...rest)
  ),
  fc.tuple(byte, fc.constantFrom(1, 3, 4, 0), fc.uint8Array({ maxLength: 300 })).map((
    [cmd, atyp, rest],
  ) => Uint8Array.of(5, cmd, 0, atyp, ...rest)),
);

Deno.test("property: encode → parse round-trips", async (t) => {
  await t.step("greeting", () => {
    fc.assert(fc.property(fc.array(byte, { minLength: 1, maxLength: 255 }), (methods) => {
      const message = encodeGreeting(methods);
      assert.ok(message.length <= MAX_GREETING_BYTES);
      const { value, consumed } = ok(parseGreeting(message));
      assert.deepEqual(value.methods, methods);
      assert.equal(consumed, message.length);
    }));
  });

  await t.step("username/password", () => {
    fc.assert(fc.property(credential, credential, (username, password) => {
      const message = encodeUserPass(username, password);
      assert.ok(message.length <= MAX_USERPASS_BYTES);
      const { value, consumed } = ok(parseUserPass(message));
      assert.deepEqual(value, { username, password });
      assert.equal(consumed, message.length);
    }));
  });

  await t.step("request", () => {
    fc.assert(fc.property(command, host, port, (cmd, h, p) => {
      const message = encodeRequest({ command: cmd, host: h, port: p });
      assert.ok(message.length <= MAX_REQUEST_BYTES);
      const { value, consumed } = ok(parseRequest(message));
      assert.equal(consumed, message.length);
      assert.equal(value.command, cmd);
      assert.equal(value.port, p);
      if (value.addressType === "ipv6") {
        assert.ok(isCanonicalIpv6(value.host), `${value.host} is not canonical`);
      } else {
        assert.equal(value.host, h);
      }
      // The parsed host denotes the same address: it encodes to the same bytes.
      assert.deepEqual(encodeRequest({ command: cmd, host: value.host, port: p }), message);
    }));
  });

  await t.step("reply", () => {
    fc.assert(fc.property(byte, host, port, (code, h, p) => {
      const message = encodeReply(code, { host: h, port: p });
      const { value, consumed } = ok(parseReply(message));
      assert.equal(consumed, message.length);
      assert.equal(value.code, code);
      assert.equal(value.port, p);
      assert.deepEqual(encodeReply(code, { host: value.host, port: p }), message);
    }));
  });
});

Deno.test("property: a prefix of a valid message needs more, never parses wrong", () => {
  fc.assert(fc.property(validMessage, ({ parse, bytes: message }) => {
    for (let length = 0; length < message.length; length++) {
      const result = parse(message.subarray(0, length));
      assert.equal(result.kind, "need-more", `prefix of ${length}/${message.length} bytes`);
      if (result.kind === "need-more" && result.min !== undefined) {
        assert.ok(result.min > length && result.min <= message.length);
      }
    }
  }));
});

Deno.test("property: bytes after a message are left alone (pipelining)", () => {
  fc.assert(fc.property(validMessage, fc.uint8Array({ maxLength: 40 }), (message, tail) => {
    const alone = ok(message.parse(message.bytes));
    const followed = ok(message.parse(Uint8Array.of(...message.bytes, ...tail)));
    assert.deepEqual(followed, alone);
  }));
});

Deno.test("property: arbitrary bytes only ever throw Socks5Error", () => {
  fc.assert(
    fc.property(noise, fc.constantFrom(...Object.values(parsers)), (buf, parse) => {
      let result: ParseResult<unknown>;
      try {
        result = (parse as (b: Uint8Array) => ParseResult<unknown>)(buf);
      } catch (error) {
        assert.ok(error instanceof Socks5Error, `threw ${error}`);
        return;
      }
      if (result.kind === "ok") {
        assert.ok(result.consumed > 0 && result.consumed <= buf.length);
      } else if (result.min !== undefined) {
        assert.ok(result.min > buf.length);
      }
    }),
    { numRuns: 2000 },
  );
});
