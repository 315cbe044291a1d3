/**
 * A `bench:hub` child: registers `count` synthetic exits with the hub, each
 * with its own fresh Ed25519 key over its own connection (the hub registers
 * the connection's authenticated peer, as for a real exit), then closes the
 * connection (directly dialable exits need not keep one). Prints one JSON
 * line: `{ registered, failed, seconds }`.
 *
 * Usage: `deno run -A scripts/bench/hub_registrar.ts <hub multiaddr> <first n> <count> <concurrency>`
 *
 * Each exit is a bare libp2p node (TCP, noise, yamux): the project's full
 * network adapter adds identify, ping and the relay transport, which a
 * synthetic exit that only registers does not need.
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { tcp } from "@libp2p/tcp";
import { multiaddr } from "@multiformats/multiaddr";
import { createLibp2p } from "libp2p";
import { encodeFrame, readFrame } from "../../core/codec/frame.ts";
import {
  DirectoryRequestSchema,
  DirectoryResponseSchema,
} from "../../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { attributesToWire, DIRECTORY_PROTOCOL } from "../../wire/directory_protocol.ts";
import { benchAttributes } from "./hub_workload.ts";

/** Bound on one registration, dial included. */
const REGISTER_TIMEOUT_MS = 30_000;

const [hubText, firstText, countText, concurrencyText] = Deno.args;
if (!hubText || !firstText || !countText || !concurrencyText) {
  console.error("usage: hub_registrar.ts <hub multiaddr> <first n> <count> <concurrency>");
  Deno.exit(2);
}
const hub = multiaddr(hubText);
const first = Number(firstText);
const count = Number(countText);

async function registerOne(n: number): Promise<void> {
  const node = await createLibp2p({
    privateKey: await generateKeyPair("Ed25519"),
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
  });
  try {
    const signal = AbortSignal.timeout(REGISTER_TIMEOUT_MS);
    const stream = await node.dialProtocol(hub, DIRECTORY_PROTOCOL, { signal });
    const request = create(DirectoryRequestSchema, {
      request: {
        case: "register",
        value: {
          attributes: attributesToWire(benchAttributes(n)),
          // Direct addresses in TEST-NET-3: registered, never dialled by the bench.
          addresses: [`/ip4/203.0.113.${n % 250 + 1}/tcp/${10_000 + (n % 50_000)}`],
          relayed: false,
          token: "",
        },
      },
    });
    stream.send(encodeFrame(toBinary(DirectoryRequestSchema, request)));
    await stream.close({ signal });
    const chunks = (async function* () {
      for await (const chunk of stream) yield chunk.subarray();
    })();
    const { frame } = await readFrame(chunks, signal);
    const answer = fromBinary(DirectoryResponseSchema, frame);
    if (answer.response.case !== "register") {
      throw new Error(`The hub refused exit ${n}: ${JSON.stringify(answer.response.value)}`);
    }
  } finally {
    await node.stop();
  }
}

let next = first;
let registered = 0;
let failed = 0;
let firstError = "";
const started = performance.now();
await Promise.all(
  Array.from({ length: Number(concurrencyText) }, async () => {
    while (next < first + count) {
      const n = next++;
      try {
        await registerOne(n);
        registered++;
      } catch (error) {
        failed++;
        firstError ||= String(error);
      }
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ registered, failed, seconds, firstError }));
Deno.exit(0);
