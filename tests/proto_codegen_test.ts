/**
 * The committed `proto/gen/` must be exactly what `deno task proto` produces
 * from the `.proto` sources, and the generated code must round-trip.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GENERATED_DIR, generateProto } from "../scripts/proto.ts";
import {
  ConnectRequestSchema,
  ConnectResponseSchema,
  ConnectStatus,
} from "../proto/gen/p2proxy/connect/v1/connect_pb.ts";
import {
  DirectoryRequestSchema,
  FlagPolicy,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";

/** Every file under `dir`, as relative path → content. */
async function readTree(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  async function walk(current: string): Promise<void> {
    for await (const entry of Deno.readDir(current)) {
      const path = join(current, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) files.set(relative(dir, path), await Deno.readTextFile(path));
    }
  }
  await walk(dir);
  return files;
}

Deno.test("proto/gen is up to date with the .proto sources", async () => {
  const tempDir = await Deno.makeTempDir({ prefix: "p2proxy-proto-" });
  try {
    const outDir = join(tempDir, "gen");
    await generateProto({ outDir });
    const fresh = await readTree(outDir);
    const committed = await readTree(GENERATED_DIR);
    assert.ok(fresh.size > 0, "codegen produced no files");
    assert.deepEqual(
      [...committed.keys()].sort(),
      [...fresh.keys()].sort(),
      "proto/gen has missing or extra files: run `deno task proto`",
    );
    for (const [path, content] of fresh) {
      assert.equal(
        committed.get(path),
        content,
        `proto/gen/${path} is stale: run \`deno task proto\``,
      );
    }
  } finally {
    await Deno.remove(tempDir, { recursive: true });
  }
});

Deno.test("generated messages round-trip through the binary encoding", async (t) => {
  await t.step("ConnectRequest", () => {
    const request = create(ConnectRequestSchema, {
      host: "example.com",
      port: 443,
      token: "t.o.k",
      sessionId: "s-1",
    });
    const decoded = fromBinary(ConnectRequestSchema, toBinary(ConnectRequestSchema, request));
    assert.equal(decoded.host, "example.com");
    assert.equal(decoded.port, 443);
    assert.equal(decoded.token, "t.o.k");
    assert.equal(decoded.sessionId, "s-1");
  });

  await t.step("ConnectStatus numbers equal the SOCKS5 reply codes", () => {
    assert.equal(ConnectStatus.SUCCEEDED, 0);
    assert.equal(ConnectStatus.NOT_ALLOWED, 2);
    assert.equal(ConnectStatus.HOST_UNREACHABLE, 4);
    assert.equal(ConnectStatus.ADDRESS_TYPE_NOT_SUPPORTED, 8);
    const response = create(ConnectResponseSchema, {
      status: ConnectStatus.CONNECTION_REFUSED,
      message: "refused",
    });
    const bytes = toBinary(ConnectResponseSchema, response);
    assert.equal(fromBinary(ConnectResponseSchema, bytes).status, 5);
  });

  await t.step("DirectoryRequest oneof", () => {
    const request = create(DirectoryRequestSchema, {
      request: {
        case: "findNodes",
        value: {
          filters: { country: "DE", minBandwidthBps: 50_000_000n, proxy: FlagPolicy.DENY },
          limit: 25,
          exclude: ["12D3KooWexcluded"],
        },
      },
    });
    const decoded = fromBinary(DirectoryRequestSchema, toBinary(DirectoryRequestSchema, request));
    assert.equal(decoded.request.case, "findNodes");
    if (decoded.request.case !== "findNodes") return;
    assert.equal(decoded.request.value.filters?.country, "DE");
    assert.equal(decoded.request.value.filters?.minBandwidthBps, 50_000_000n);
    assert.equal(decoded.request.value.filters?.proxy, FlagPolicy.DENY);
    assert.equal(decoded.request.value.filters?.city, undefined);
    assert.deepEqual(decoded.request.value.exclude, ["12D3KooWexcluded"]);
  });
});
