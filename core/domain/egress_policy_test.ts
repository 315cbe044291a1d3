import assert from "node:assert/strict";
import fc from "fast-check";
import {
  createEgressPolicy,
  DEFAULT_DENIED_RANGES,
  DEFAULT_DENY_PORTS,
  EgressConfigError,
  type EgressVerdict,
  IPV4_EMBEDDING_PREFIXES,
  isIpAddressLiteral,
} from "./egress_policy.ts";

// The documented list (docs/exit-behaviour.md#denied-by-default), written out independently of the
// module so a dropped range fails here.
const EXPECTED_IPV4_RANGES: readonly { cidr: string; sample: string; word: string }[] = [
  { cidr: "0.0.0.0/8", sample: "0.0.0.0", word: "this network" },
  { cidr: "10.0.0.0/8", sample: "10.1.2.3", word: "private" },
  { cidr: "100.64.0.0/10", sample: "100.100.1.1", word: "CGNAT" },
  { cidr: "127.0.0.0/8", sample: "127.0.0.1", word: "loopback" },
  { cidr: "169.254.0.0/16", sample: "169.254.169.254", word: "link-local" },
  { cidr: "172.16.0.0/12", sample: "172.31.255.1", word: "private" },
  { cidr: "192.0.0.0/24", sample: "192.0.0.8", word: "IETF" },
  { cidr: "192.0.2.0/24", sample: "192.0.2.10", word: "documentation" },
  { cidr: "192.168.0.0/16", sample: "192.168.1.1", word: "private" },
  { cidr: "198.18.0.0/15", sample: "198.19.0.1", word: "benchmarking" },
  { cidr: "198.51.100.0/24", sample: "198.51.100.7", word: "documentation" },
  { cidr: "203.0.113.0/24", sample: "203.0.113.99", word: "documentation" },
  { cidr: "224.0.0.0/4", sample: "239.255.255.250", word: "multicast" },
  { cidr: "240.0.0.0/4", sample: "250.1.2.3", word: "reserved" },
  { cidr: "255.255.255.255/32", sample: "255.255.255.255", word: "broadcast" },
];

const EXPECTED_IPV6_RANGES: readonly { cidr: string; sample: string; word: string }[] = [
  { cidr: "::/128", sample: "::", word: "unspecified" },
  { cidr: "::1/128", sample: "::1", word: "loopback" },
  { cidr: "::/96", sample: "::7f00:1", word: "IPv4-compatible" },
  { cidr: "100::/64", sample: "100::dead:beef", word: "discard" },
  { cidr: "2001::/23", sample: "2001:0:4136:e378:8000:63bf:3fff:fdd2", word: "Teredo" },
  { cidr: "2001:db8::/32", sample: "2001:DB8::1", word: "documentation" },
  { cidr: "3fff::/20", sample: "3fff:fff::1", word: "documentation" },
  { cidr: "fc00::/7", sample: "fd00:ec2::254", word: "unique local" },
  { cidr: "fe80::/10", sample: "fe80::1", word: "link-local" },
  { cidr: "fec0::/10", sample: "fec0::1", word: "site-local" },
  { cidr: "ff00::/8", sample: "ff02::1", word: "multicast" },
];

const PUBLIC_ADDRESSES = [
  "8.8.8.8",
  "1.1.1.1",
  "2606:4700::1111",
  "2001:4860:4860::8888",
  "::ffff:8.8.8.8",
  "::ffff:808:808",
  "64:ff9b::808:808",
  "64:ff9b::8.8.8.8",
  "2002:808:808::1",
];

const HTTPS_PORT = 443;

function assertDenied(verdict: EgressVerdict, reason: string, context: string): string {
  assert.equal(verdict.allowed, false, `${context} should be denied`);
  if (verdict.allowed) return "";
  assert.equal(verdict.reason, reason, `${context}: ${verdict.detail}`);
  return verdict.detail;
}

// ---------------------------------------------------------------------------
// Independent oracle: plain 32-bit arithmetic, no ipaddr.js.

function ipv4ToUint(text: string): number {
  return text.split(".").reduce((value, octet) => value * 256 + Number(octet), 0);
}

function uintToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join(".");
}

function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

interface Ipv4Network {
  readonly network: number;
  readonly prefixLength: number;
}

function parseIpv4Cidr(cidr: string): Ipv4Network {
  const [address = "", prefix = ""] = cidr.split("/");
  return { network: ipv4ToUint(address), prefixLength: Number(prefix) };
}

function inNetwork(value: number, { network, prefixLength }: Ipv4Network): boolean {
  return ((value & maskOf(prefixLength)) >>> 0) === network;
}

const ORACLE_DENIED_IPV4 = EXPECTED_IPV4_RANGES.map((range) => parseIpv4Cidr(range.cidr));

function oracleDefaultDenied(value: number): boolean {
  return ORACLE_DENIED_IPV4.some((network) => inNetwork(value, network));
}

function networkToText({ network, prefixLength }: Ipv4Network): string {
  return `${uintToIpv4(network)}/${prefixLength}`;
}

// ---------------------------------------------------------------------------
// Spellings of one IPv4 address as IPv6.

function hexWords(value: number): [string, string] {
  return [(value >>> 16).toString(16), (value & 0xffff).toString(16)];
}

/** Every IPv6 form that must be judged as the IPv4 address `value`. */
function embeddedSpellings(value: number): string[] {
  const dotted = uintToIpv4(value);
  const [high, low] = hexWords(value);
  return [
    `::ffff:${dotted}`,
    `::ffff:${high}:${low}`,
    `0:0:0:0:0:ffff:${high}:${low}`,
    `0000:0000:0000:0000:0000:ffff:${dotted}`,
    `::ffff:0:${dotted}`,
    `64:ff9b::${dotted}`,
    `64:ff9b::${high}:${low}`,
    `64:ff9b:0:0:0:0:${high}:${low}`,
    `64:ff9b:1::${high}:${low}`,
    `2002:${high}:${low}::1`,
  ];
}

function randomCase(text: string, upper: readonly boolean[]): string {
  return [...text].map((char, index) => upper[index % upper.length] ? char.toUpperCase() : char)
    .join("");
}

/** A random address inside `range`: its network plus random host bits. */
function addressInside(range: Ipv4Network) {
  const hostBits = 32 - range.prefixLength;
  const hostMax = hostBits === 32 ? 0xffffffff : 2 ** hostBits - 1;
  return fc.integer({ min: 0, max: hostMax }).map((host) => (range.network + host) >>> 0);
}

const anyDeniedIpv4 = fc.oneof(...ORACLE_DENIED_IPV4.map(addressInside));

/** A CIDR that covers `value` (prefix chosen at random) or an unrelated one. */
function cidrNear(value: number) {
  return fc.tuple(fc.integer({ min: 0, max: 32 }), fc.boolean(), fc.nat())
    .map(([prefixLength, related, other]): Ipv4Network => {
      const base = related ? value : other >>> 0;
      return { network: (base & maskOf(prefixLength)) >>> 0, prefixLength };
    });
}

// ---------------------------------------------------------------------------

Deno.test("default ranges", async (t) => {
  const policy = createEgressPolicy();

  await t.step("every expected range is listed in DEFAULT_DENIED_RANGES", () => {
    const listed = new Set(DEFAULT_DENIED_RANGES.map((range) => range.cidr));
    for (const range of [...EXPECTED_IPV4_RANGES, ...EXPECTED_IPV6_RANGES]) {
      assert.ok(listed.has(range.cidr), `${range.cidr} missing`);
    }
  });

  await t.step("a sample inside each range is denied, naming the range", () => {
    for (const range of [...EXPECTED_IPV4_RANGES, ...EXPECTED_IPV6_RANGES]) {
      const detail = assertDenied(
        policy.check(range.sample, HTTPS_PORT),
        "denied-range",
        range.sample,
      );
      assert.ok(detail.includes(range.cidr), `${range.sample}: ${detail}`);
      assert.ok(detail.includes(range.word), `${range.sample}: ${detail}`);
      assert.ok(detail.includes(range.sample), `${range.sample}: ${detail}`);
    }
  });

  await t.step("the first and last address of every IPv4 range are denied", () => {
    for (const range of ORACLE_DENIED_IPV4) {
      const last = (range.network + 2 ** (32 - range.prefixLength) - 1) >>> 0;
      for (const value of [range.network, last]) {
        assertDenied(
          policy.check(uintToIpv4(value), HTTPS_PORT),
          "denied-range",
          uintToIpv4(value),
        );
      }
    }
  });

  await t.step("addresses just outside private ranges are allowed", () => {
    for (const address of ["11.0.0.0", "9.255.255.255", "172.32.0.1", "172.15.255.255"]) {
      assert.deepEqual(policy.check(address, HTTPS_PORT), { allowed: true }, address);
    }
  });

  await t.step("public addresses are allowed", () => {
    for (const address of PUBLIC_ADDRESSES) {
      assert.deepEqual(policy.check(address, HTTPS_PORT), { allowed: true }, address);
    }
  });
});

Deno.test("IPv4 embedded in IPv6 is judged as IPv4", async (t) => {
  const policy = createEgressPolicy();

  await t.step("mapped and NAT64 loopback are denied, naming the embedded address", () => {
    for (
      const address of [
        "::ffff:127.0.0.1",
        "::ffff:7f00:1",
        "::FFFF:7F00:1",
        "64:ff9b::7f00:1",
        "64:ff9b::127.0.0.1",
        "64:ff9b:1::7f00:1",
        "2002:7f00:1::",
        "::ffff:0:127.0.0.1",
      ]
    ) {
      const detail = assertDenied(policy.check(address, HTTPS_PORT), "denied-range", address);
      assert.ok(detail.includes("127.0.0.1"), detail);
      assert.ok(detail.includes("127.0.0.0/8"), detail);
    }
  });

  await t.step("cloud metadata through NAT64 is denied", () => {
    assertDenied(policy.check("64:ff9b::a9fe:a9fe", HTTPS_PORT), "denied-range", "metadata");
  });

  await t.step("local-use NAT64 is read in every RFC 6052 layout", () => {
    // /64 layout carries 10.0.0.8; the /96 reading of the same bytes is 8.8.8.8.
    assertDenied(policy.check("64:ff9b:1:0:a:0:808:808", HTTPS_PORT), "denied-range", "/64");
  });

  await t.step("IPv4 allow and deny CIDRs apply to the embedded address", () => {
    const allowing = createEgressPolicy({ allowCidrs: ["10.0.0.0/8"] });
    assert.deepEqual(allowing.check("::ffff:10.1.1.1", HTTPS_PORT), { allowed: true });
    const denying = createEgressPolicy({ denyCidrs: ["8.8.8.0/24"] });
    assertDenied(denying.check("::ffff:808:808", HTTPS_PORT), "denied-cidr", "mapped");
    assertDenied(denying.check("64:ff9b::8.8.8.8", HTTPS_PORT), "denied-cidr", "NAT64");
  });

  await t.step("a mapped CIDR in the config also applies to plain IPv4", () => {
    const denying = createEgressPolicy({ denyCidrs: ["::ffff:8.8.8.0/120"] });
    assertDenied(denying.check("8.8.8.8", HTTPS_PORT), "denied-cidr", "plain");
    assert.deepEqual(denying.check("8.8.9.8", HTTPS_PORT), { allowed: true });
  });

  await t.step("the embedding prefixes are documented", () => {
    const listed = IPV4_EMBEDDING_PREFIXES.map((prefix) => prefix.cidr);
    for (const cidr of ["::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16"]) {
      assert.ok(listed.includes(cidr), cidr);
    }
  });
});

Deno.test("allow_cidrs [127.0.0.1/32] allows exactly 127.0.0.1", () => {
  assertDenied(createEgressPolicy().check("127.0.0.1", 8080), "denied-range", "default");
  const policy = createEgressPolicy({ allowCidrs: ["127.0.0.1/32"] });
  assert.deepEqual(policy.check("127.0.0.1", 8080), { allowed: true });
  assert.deepEqual(policy.check("::ffff:127.0.0.1", 8080), { allowed: true });
  assertDenied(policy.check("127.0.0.2", 8080), "denied-range", "127.0.0.2");
  assertDenied(policy.check("::1", 8080), "denied-range", "::1");
  assertDenied(policy.check("10.0.0.1", 8080), "denied-range", "10.0.0.1");
});

Deno.test("deny_cidrs beat allow_cidrs", () => {
  const policy = createEgressPolicy({
    allowCidrs: ["127.0.0.0/8", "fc00::/7"],
    denyCidrs: ["127.0.0.2", "fd00::/8"],
  });
  assert.deepEqual(policy.check("127.0.0.1", HTTPS_PORT), { allowed: true });
  const detail = assertDenied(policy.check("127.0.0.2", HTTPS_PORT), "denied-cidr", "127.0.0.2");
  assert.ok(detail.includes("127.0.0.2"), detail);
  assert.deepEqual(policy.check("fc00::1", HTTPS_PORT), { allowed: true });
  assertDenied(policy.check("fd12::1", HTTPS_PORT), "denied-cidr", "fd12::1");
  assertDenied(policy.check("::ffff:127.0.0.2", HTTPS_PORT), "denied-cidr", "mapped");
});

Deno.test("ports", async (t) => {
  await t.step("port 25 is denied by default", () => {
    assert.deepEqual(DEFAULT_DENY_PORTS, [25]);
    const detail = assertDenied(createEgressPolicy().check("8.8.8.8", 25), "denied-port", "25");
    assert.ok(detail.includes("25"), detail);
    assert.deepEqual(createEgressPolicy().check("8.8.8.8", 587), { allowed: true });
  });

  await t.step("deny_ports [] allows port 25", () => {
    assert.deepEqual(createEgressPolicy({ denyPorts: [] }).check("8.8.8.8", 25), {
      allowed: true,
    });
  });

  await t.step("allow_ports restricts to its ports", () => {
    const policy = createEgressPolicy({ allowPorts: [80, 443] });
    assert.deepEqual(policy.check("8.8.8.8", 80), { allowed: true });
    assert.deepEqual(policy.check("8.8.8.8", 443), { allowed: true });
    assertDenied(policy.check("8.8.8.8", 22), "denied-port", "22");
  });

  await t.step("deny_ports beat allow_ports", () => {
    assertDenied(
      createEgressPolicy({ allowPorts: [25] }).check("8.8.8.8", 25),
      "denied-port",
      "25",
    );
  });

  await t.step("ports outside 1..65535 are invalid", () => {
    const policy = createEgressPolicy();
    for (const port of [0, -1, 65536, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assertDenied(policy.check("8.8.8.8", port), "invalid-port", String(port));
    }
    assert.deepEqual(policy.check("8.8.8.8", 1), { allowed: true });
    assert.deepEqual(policy.check("8.8.8.8", 65535), { allowed: true });
  });

  await t.step("address rules come before port rules", () => {
    assertDenied(createEgressPolicy().check("10.0.0.1", 25), "denied-range", "10.0.0.1:25");
  });
});

Deno.test("non-canonical and non-IP input is invalid-address", () => {
  const policy = createEgressPolicy({ allowCidrs: ["0.0.0.0/0", "::/0"] });
  for (
    const address of [
      "",
      "localhost",
      "example.com",
      "0x7f.1",
      "0x7f000001",
      "0177.0.0.1",
      "127.1",
      "127.0.1",
      "2130706433",
      "127.0.0.01",
      "127.0.0.1.",
      " 127.0.0.1",
      "127.0.0.1 ",
      "256.0.0.1",
      "fe80::1%eth0",
      "[::1]",
      "::ffff:0x7f.0.0.1",
      "::ffff:127.1",
      "::ffff:127.0.0.01",
      "1::2::3",
      "12345::",
      ":::",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7:8::",
      "1:2:3:4:5:6:7",
      "::1:",
      ":1::",
      "::ffff:1.2.3.4:5",
      "1.2.3.4::",
      "١٢٧.0.0.1",
      "a".repeat(10_000),
    ]
  ) {
    const detail = assertDenied(policy.check(address, HTTPS_PORT), "invalid-address", address);
    assert.ok(detail.length < 200, "long input is truncated in the detail");
    assert.equal(isIpAddressLiteral(address), false, address);
  }
  for (const address of ["1:2:3:4:5:6:7::", "::", "1::", "::1.2.3.4", "ABCD::EF", "0.0.0.0"]) {
    assert.equal(isIpAddressLiteral(address), true, address);
  }
});

Deno.test("checkAll", async (t) => {
  const policy = createEgressPolicy();

  await t.step("an empty resolution is denied", () => {
    assertDenied(policy.checkAll([], HTTPS_PORT), "no-addresses", "[]");
  });

  await t.step("one denied address among allowed ones denies the whole name", () => {
    const detail = assertDenied(
      policy.checkAll(["8.8.8.8", "2606:4700::1111", "169.254.169.254", "1.1.1.1"], HTTPS_PORT),
      "denied-range",
      "rebinding",
    );
    assert.ok(detail.includes("169.254.169.254"), detail);
    assertDenied(policy.checkAll(["8.8.8.8", "nonsense"], HTTPS_PORT), "invalid-address", "mixed");
  });

  await t.step("all allowed: the addresses come back in input order", () => {
    const addresses = ["2606:4700::1111", "8.8.8.8", "1.1.1.1"];
    assert.deepEqual(policy.checkAll(addresses, HTTPS_PORT), { allowed: true, addresses });
  });

  await t.step("port rules apply to the batch", () => {
    assertDenied(policy.checkAll(["8.8.8.8"], 25), "denied-port", "25");
    assertDenied(policy.checkAll(["8.8.8.8"], 0), "invalid-port", "0");
  });
});

Deno.test("configuration errors name the bad value", () => {
  const cases: [Parameters<typeof createEgressPolicy>[0], string, string, number, string][] = [
    [
      { allowCidrs: ["127.0.0.1/32", "10.0.0.0/33"] },
      "invalid-cidr",
      "allowCidrs",
      1,
      "10.0.0.0/33",
    ],
    [{ denyCidrs: ["not-a-cidr"] }, "invalid-cidr", "denyCidrs", 0, "not-a-cidr"],
    [{ denyCidrs: ["10.0.0.1/8"] }, "invalid-cidr", "denyCidrs", 0, "10.0.0.0/8"],
    [{ denyCidrs: ["010.0.0.0/8"] }, "invalid-cidr", "denyCidrs", 0, "010.0.0.0/8"],
    [{ denyCidrs: ["10.0.0.0/08"] }, "invalid-cidr", "denyCidrs", 0, "10.0.0.0/08"],
    [{ denyCidrs: ["10.0.0.0/8/8"] }, "invalid-cidr", "denyCidrs", 0, "10.0.0.0/8/8"],
    [{ allowCidrs: ["fe80::/129"] }, "invalid-cidr", "allowCidrs", 0, "fe80::/129"],
    [{ allowCidrs: ["fe80::1%eth0/64"] }, "invalid-cidr", "allowCidrs", 0, "fe80::1%eth0/64"],
    [{ allowPorts: [80, 0] }, "invalid-port", "allowPorts", 1, "0"],
    [{ denyPorts: [1.5] }, "invalid-port", "denyPorts", 0, "1.5"],
    [{ denyPorts: [65536] }, "invalid-port", "denyPorts", 0, "65536"],
  ];
  for (const [config, code, field, index, quoted] of cases) {
    assert.throws(() => createEgressPolicy(config), (error: unknown) => {
      assert.ok(error instanceof EgressConfigError, String(error));
      assert.equal(error.code, code);
      assert.equal(error.field, field);
      assert.equal(error.index, index);
      assert.ok(error.message.includes(quoted), error.message);
      return true;
    });
  }
  assert.doesNotThrow(() =>
    createEgressPolicy({ allowCidrs: ["0.0.0.0/0", "::/0", "10.0.0.1", "fc00::/7"] })
  );
});

// ---------------------------------------------------------------------------
// Properties

Deno.test("property: addresses inside default IPv4 ranges are never allowed, in any spelling", () => {
  const policy = createEgressPolicy();
  fc.assert(
    fc.property(anyDeniedIpv4, fc.array(fc.boolean(), { minLength: 1 }), (value, upper) => {
      for (const address of [uintToIpv4(value), ...embeddedSpellings(value)]) {
        const spelled = randomCase(address, upper);
        const verdict = policy.check(spelled, HTTPS_PORT);
        assert.equal(verdict.allowed, false, spelled);
        if (!verdict.allowed) assert.equal(verdict.reason, "denied-range", spelled);
      }
    }),
  );
});

Deno.test("property: an IPv4 address is allowed iff outside every expected range", () => {
  const policy = createEgressPolicy();
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), (value) => {
      const expected = !oracleDefaultDenied(value);
      for (const address of [uintToIpv4(value), ...embeddedSpellings(value).slice(0, 7)]) {
        assert.equal(policy.check(address, HTTPS_PORT).allowed, expected, address);
      }
    }),
  );
});

Deno.test("property: a default-denied address is allowed iff allowed and not denied by CIDRs", () => {
  const scenario = anyDeniedIpv4.chain((value) =>
    fc.tuple(
      fc.constant(value),
      fc.array(cidrNear(value), { maxLength: 3 }),
      fc.array(cidrNear(value), { maxLength: 3 }),
    )
  );
  fc.assert(
    fc.property(scenario, ([value, allow, deny]) => {
      const policy = createEgressPolicy({
        allowCidrs: allow.map(networkToText),
        denyCidrs: deny.map(networkToText),
      });
      const allowed = allow.some((network) => inNetwork(value, network));
      const denied = deny.some((network) => inNetwork(value, network));
      for (const address of [uintToIpv4(value), `::ffff:${uintToIpv4(value)}`]) {
        const verdict = policy.check(address, HTTPS_PORT);
        assert.equal(verdict.allowed, allowed && !denied, address);
        if (!verdict.allowed) {
          assert.equal(verdict.reason, denied ? "denied-cidr" : "denied-range", address);
        }
      }
    }),
  );
});

Deno.test("property: deny_cidrs beat allow_cidrs for any address", () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), (value, prefix) => {
      const cidr = networkToText({ network: (value & maskOf(prefix)) >>> 0, prefixLength: prefix });
      const policy = createEgressPolicy({ allowCidrs: [cidr], denyCidrs: [cidr] });
      assertDenied(policy.check(uintToIpv4(value), HTTPS_PORT), "denied-cidr", cidr);
    }),
  );
});

Deno.test("property: arbitrary strings never throw and non-literals are invalid-address", () => {
  const policy = createEgressPolicy({ allowCidrs: ["0.0.0.0/0", "::/0"] });
  const ipAlphabet = fc.constantFrom(..."0123456789abcdefABCDEF:.%x[] ");
  const candidates = fc.oneof(
    fc.string(),
    fc.string({ unit: ipAlphabet, maxLength: 45 }),
    fc.ipV4Extended(),
    fc.ipV6(),
  );
  fc.assert(
    fc.property(candidates, (text) => {
      const verdict = policy.check(text, HTTPS_PORT);
      assert.equal(verdict.allowed, oracleIsCanonicalLiteral(text), text);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("property: arbitrary port numbers never throw", () => {
  const policy = createEgressPolicy({ denyPorts: [] });
  fc.assert(
    fc.property(fc.oneof(fc.integer(), fc.double()), (port) => {
      const verdict = policy.check("8.8.8.8", port);
      const valid = Number.isInteger(port) && port >= 1 && port <= 65535;
      assert.equal(verdict.allowed, valid, String(port));
      if (!verdict.allowed) assert.equal(verdict.reason, "invalid-port");
    }),
  );
});

/** Independent of the module: octets round-trip for IPv4, the WHATWG URL parser for IPv6. */
function oracleIsCanonicalLiteral(text: string): boolean {
  if (text.includes(":")) return oracleIsIpv6(text);
  const octets = text.split(".");
  return octets.length === 4 &&
    octets.every((octet) => /^[0-9]+$/.test(octet) && String(Number(octet)) === octet) &&
    octets.every((octet) => Number(octet) <= 255);
}

function oracleIsIpv6(text: string): boolean {
  if (/[^0-9a-fA-F:.]/.test(text)) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}
