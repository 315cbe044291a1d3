import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ChunkedTracker,
  endToEndHeaders,
  forwardRequestHead,
  headEnd,
  MAX_HEAD_BYTES,
  parseAbsoluteTarget,
  parseConnectTarget,
  parseRequestHead,
  parseResponseHead,
  proxyCredentials,
  requestFraming,
  responseFraming,
  statusResponse,
  wantsClose,
} from "./http1.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("http1: a CONNECT head and an absolute-form GET", () => {
  const connect = parseRequestHead(
    text("CONNECT dest.test:443 HTTP/1.1\r\nHost: dest.test:443\r\n\r\nEARLY"),
  );
  assert.equal(connect.kind, "ok");
  if (connect.kind !== "ok") return;
  assert.equal(connect.head.method, "CONNECT");
  assert.equal(connect.consumed, 55, "the early bytes are not the head's");
  assert.deepEqual(parseConnectTarget(connect.head.target), { host: "dest.test", port: 443 });
  assert.deepEqual(parseConnectTarget("[::1]:8443"), { host: "::1", port: 8443 });
  assert.match(String(parseConnectTarget("dest.test")), /has no port/);
  assert.match(String(parseConnectTarget("dest.test:0")), /1 to 65535/);

  const get = parseAbsoluteTarget("http://a.test:8080/x?y=1");
  assert.deepEqual(get, { host: "a.test", port: 8080, authority: "a.test:8080", path: "/x?y=1" });
  assert.deepEqual(parseAbsoluteTarget("http://b.test"), {
    host: "b.test",
    port: 80,
    authority: "b.test",
    path: "/",
  });
  assert.match(String(parseAbsoluteTarget("/relative")), /absolute http:\/\//);
  assert.match(String(parseAbsoluteTarget("https://a.test/")), /CONNECT/);
});

Deno.test("http1: malformed and oversized heads are 400 and 431", () => {
  const bad = parseRequestHead(text("GET\r\n\r\n"));
  assert.equal(bad.kind === "error" && bad.status, 400);
  const badHeader = parseRequestHead(text("GET http://a/ HTTP/1.1\r\nno colon\r\n\r\n"));
  assert.equal(badHeader.kind === "error" && badHeader.status, 400);
  const big = text(`GET http://a/ HTTP/1.1\r\nX: ${"a".repeat(MAX_HEAD_BYTES)}`);
  const oversized = parseRequestHead(big);
  assert.equal(oversized.kind === "error" && oversized.status, 431);
  assert.equal(parseRequestHead(text("GET http://a/ HTTP/1.1\r\n")).kind, "need-more");
});

Deno.test("http1: body framing of requests and responses", () => {
  const head = (headers: string) => {
    const parsed = parseRequestHead(text(`POST http://a/ HTTP/1.1\r\n${headers}\r\n`));
    assert.equal(parsed.kind, "ok");
    return (parsed as { head: Parameters<typeof requestFraming>[0] }).head;
  };
  assert.deepEqual(requestFraming(head("Content-Length: 5\r\n")), { kind: "length", length: 5 });
  assert.deepEqual(requestFraming(head("Transfer-Encoding: chunked\r\n")), { kind: "chunked" });
  assert.deepEqual(requestFraming(head("")), { kind: "none" });
  assert.match(
    String(requestFraming(head("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"))),
    /Both/,
  );
  assert.match(String(requestFraming(head("Content-Length: 1, 2\r\n"))), /one whole number/);
  const response = parseResponseHead(text("HTTP/1.1 200 OK\r\n\r\n"));
  assert.ok(response.kind === "ok");
  assert.deepEqual(responseFraming(response.head, "GET"), { kind: "until-close" });
  assert.deepEqual(responseFraming(response.head, "HEAD"), { kind: "none" });
  assert.equal(wantsClose("HTTP/1.0", []), true);
  assert.equal(wantsClose("HTTP/1.1", [["Connection", "Close"]]), true);
  assert.equal(wantsClose("HTTP/1.1", []), false);
});

Deno.test("http1: hop-by-hop headers are dropped when forwarding", () => {
  const parsed = parseRequestHead(text(
    "GET http://a.test/p HTTP/1.1\r\nHost: wrong\r\nProxy-Authorization: Basic eDp5\r\n" +
      "Proxy-Connection: keep-alive\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n" +
      "Accept: */*\r\n\r\n",
  ));
  assert.ok(parsed.kind === "ok");
  const target = parseAbsoluteTarget(parsed.head.target);
  assert.ok(typeof target !== "string");
  assert.equal(
    new TextDecoder().decode(forwardRequestHead(parsed.head, target)),
    "GET /p HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\n",
  );
  assert.deepEqual(endToEndHeaders([["TE", "trailers"], ["Via", "x"]]), [["Via", "x"]]);
});

Deno.test("http1: Proxy-Authorization Basic", () => {
  assert.deepEqual(
    proxyCredentials([["Proxy-Authorization", `Basic ${btoa("u-country-de:p:w")}`]]),
    {
      kind: "basic",
      username: "u-country-de",
      password: "p:w",
    },
  );
  assert.deepEqual(proxyCredentials([]), { kind: "none" });
  assert.equal(proxyCredentials([["Proxy-Authorization", "Bearer x"]]).kind, "malformed");
  assert.equal(
    proxyCredentials([["Proxy-Authorization", `Basic ${btoa("nocolon")}`]]).kind,
    "malformed",
  );
});

Deno.test("http1: a status response has one line of body and its length", () => {
  const response = new TextDecoder().decode(
    statusResponse(407, "Needs\r\ncredentials.", {
      extra: [["Proxy-Authenticate", 'Basic realm="p2proxy"']],
    }),
  );
  assert.match(response, /^HTTP\/1\.1 407 Proxy Authentication Required\r\n/);
  assert.match(response, /Proxy-Authenticate: Basic realm="p2proxy"\r\n/);
  assert.match(response, /Content-Length: 19\r\n\r\nNeeds credentials\.\n$/);
});

Deno.test("http1: the chunked tracker finds the end of a body fed in any pieces", () => {
  const body = text("4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n");
  const next = text("GET http://b/ HTTP/1.1\r\n\r\n");
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 60 }), (cuts) => {
      const all = new Uint8Array([...body, ...next]);
      const tracker = new ChunkedTracker();
      let offset = 0;
      let at = 0;
      while (offset < all.byteLength && !tracker.done) {
        const piece = all.subarray(offset, offset + (cuts[at++ % Math.max(1, cuts.length)] ?? 9));
        const result = tracker.feed(piece);
        assert.ok(!("error" in result));
        offset += result.used;
      }
      assert.equal(offset, body.byteLength);
    }),
  );
  assert.ok("error" in new ChunkedTracker().feed(text("zz\r\n")));
  assert.ok("error" in new ChunkedTracker().feed(text("1\r\nab")));
});

Deno.test("http1: arbitrary bytes are parsed, need more, or refused with a status; never thrown", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2_000 }), (bytes) => {
      for (const parse of [parseRequestHead, parseResponseHead]) {
        const result = parse(bytes);
        if (result.kind === "ok") assert.ok(result.consumed <= bytes.byteLength);
        if (result.kind === "error") assert.ok([400, 431, 502].includes(result.status));
      }
      const tracker = new ChunkedTracker().feed(bytes);
      if (!("error" in tracker)) assert.ok(tracker.used <= bytes.byteLength);
      assert.ok(headEnd(bytes) <= bytes.byteLength);
    }),
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (target) => {
      const connect = parseConnectTarget(target);
      if (typeof connect !== "string") assert.ok(connect.port >= 1 && connect.port <= 65535);
      const absolute = parseAbsoluteTarget(target);
      if (typeof absolute !== "string") assert.ok(absolute.path.startsWith("/"));
      const credentials = proxyCredentials([["Proxy-Authorization", target]]);
      assert.ok(["none", "basic", "malformed"].includes(credentials.kind));
    }),
  );
});

Deno.test("http1: request heads built from parts read back to those parts", () => {
  const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/);
  fc.assert(
    fc.property(
      fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH"),
      fc.stringMatching(/^\/[A-Za-z0-9/._~-]{0,40}$/),
      fc.array(fc.tuple(token, fc.stringMatching(/^[ -~]{0,40}$/)), { maxLength: 10 }),
      (method, path, headers) => {
        const raw = `${method} http://h.test${path} HTTP/1.1\r\n` +
          headers.map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
        const parsed = parseRequestHead(text(raw));
        assert.ok(parsed.kind === "ok", raw);
        assert.equal(parsed.head.method, method);
        assert.equal(parsed.consumed, raw.length);
        assert.deepEqual(parsed.head.headers, headers.map(([k, v]) => [k, v.trim()]));
      },
    ),
  );
});
