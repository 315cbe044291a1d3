import assert from "node:assert/strict";
import fc from "fast-check";
import {
  bearerTokenMatches,
  isJsonContentType,
  isLoopbackHost,
  localRequestRefusal,
  MAX_HOST_HEADER_CHARS,
} from "./local_http_guard.ts";

const PORT = 9091;

Deno.test("isLoopbackHost accepts the loopback names of the listener, with its port or none", () => {
  for (
    const host of [
      "localhost",
      "LocalHost:9091",
      "127.0.0.1",
      "127.0.0.1:9091",
      "127.255.3.4:9091",
      "[::1]",
      "[::1]:9091",
      "[::ffff:127.0.0.1]:9091",
    ]
  ) {
    assert.equal(isLoopbackHost(host, PORT), true, host);
  }
});

Deno.test("isLoopbackHost refuses other names, other ports and malformed values", () => {
  for (
    const host of [
      "",
      "evil.example",
      "evil.example:9091",
      "localhost.evil.example",
      "evil.localhost:9091",
      "localhost.:9091",
      "127.0.0.1.nip.io:9091",
      "127.0.0.1:80",
      "127.0.0.1:09091",
      "127.0.0.1:",
      "127.0.0.1:99999",
      "127.0.0.1:9091:9091",
      "127.1:9091",
      "0x7f.0.0.1",
      "2130706433",
      "10.0.0.1:9091",
      "0.0.0.0:9091",
      "::1",
      "[::1",
      "[::1]x",
      "[::2]:9091",
      "[127.0.0.1]:9091",
      "[::1]:80",
      " localhost",
      "localhost:9091 ",
      "local\u0000host",
    ]
  ) {
    assert.equal(isLoopbackHost(host, PORT), false, JSON.stringify(host));
  }
  assert.equal(
    isLoopbackHost(`localhost:${PORT}${"0".repeat(MAX_HOST_HEADER_CHARS)}`, PORT),
    false,
  );
});

Deno.test("isLoopbackHost: arbitrary strings never throw, and what passes names loopback", () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 300 }),
      fc.integer({ min: 1, max: 65_535 }),
      (host, port) => {
        const accepted = isLoopbackHost(host, port);
        if (!accepted) return;
        assert.match(host, /^(?:localhost|127\.[0-9.]+|\[[0-9a-f:.]+\])(?::[0-9]+)?$/i);
      },
    ),
  );
  fc.assert(
    fc.property(
      fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)),
      fc.integer({ min: 1, max: 65_535 }),
      fc.boolean(),
      ([a, b, c], port, withPort) => {
        const host = `127.${a}.${b}.${c}${withPort ? `:${port}` : ""}`;
        assert.equal(isLoopbackHost(host, port), true, host);
        assert.equal(
          isLoopbackHost(`127.${a}.${b}.${c}:${port === 1 ? 2 : port - 1}`, port),
          false,
        );
      },
    ),
  );
});

Deno.test("localRequestRefusal: an Origin or a foreign Host is refused, naming the value", () => {
  assert.equal(localRequestRefusal(new Headers({ host: "127.0.0.1:9091" }), PORT), undefined);

  const origin = localRequestRefusal(
    new Headers({ host: "127.0.0.1:9091", origin: "http://evil.example" }),
    PORT,
  );
  assert.equal(origin?.code, "cross-origin");
  assert.match(origin?.message ?? "", /Origin "http:\/\/evil\.example"/);

  const rebound = localRequestRefusal(new Headers({ host: "evil.example:9091" }), PORT);
  assert.equal(rebound?.code, "not-loopback-host");
  assert.match(rebound?.message ?? "", /Host "evil\.example:9091".*port 9091/);

  const noHost = localRequestRefusal(new Headers(), PORT);
  assert.equal(noHost?.code, "not-loopback-host");
  assert.match(noHost?.message ?? "", /no Host header/);

  const long = localRequestRefusal(new Headers({ host: `${"a".repeat(500)}:1` }), PORT);
  assert.ok((long?.message.length ?? 0) < 300, "a long value is cut in the message");
});

Deno.test("bearerTokenMatches takes exactly `Bearer <token>`", () => {
  const token = "0123456789abcdef-token";
  assert.equal(bearerTokenMatches(`Bearer ${token}`, token), true);
  assert.equal(
    bearerTokenMatches(`bearer ${token}`, token),
    true,
    "the scheme is case-insensitive",
  );
  for (
    const header of [
      null,
      "",
      "Bearer",
      "Bearer ",
      token,
      `Basic ${token}`,
      `Bearer ${token}x`,
      `Bearer ${token.slice(1)}`,
      `Bearer ${token} extra`,
      `Bearer ${token.toUpperCase()}`,
    ]
  ) {
    assert.equal(bearerTokenMatches(header, token), false, String(header));
  }
  fc.assert(
    fc.property(fc.string({ maxLength: 100 }), (header) => {
      const exact = new RegExp(`^bearer +${token} *$`, "i").test(header);
      assert.equal(bearerTokenMatches(header, token), exact, JSON.stringify(header));
    }),
  );
});

Deno.test("isJsonContentType accepts application/json with parameters only", () => {
  for (const type of ["application/json", "Application/JSON; charset=utf-8", "application/json;"]) {
    assert.equal(isJsonContentType(type), true, type);
  }
  for (
    const type of [
      null,
      "",
      "text/plain",
      "text/plain; application/json",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
      "application/json-patch+json",
      "application/jsonx",
    ]
  ) {
    assert.equal(isJsonContentType(type), false, String(type));
  }
});
