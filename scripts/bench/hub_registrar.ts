/**
 * A `bench:hub` child: registers `count` synthetic exits with the hub, each
 * with its own fresh Ed25519 key. Two modes:
 *
 * - `signed` (default): every registration is a `SignedRegistration` signed by
 *   the exit's key (the hub checks it against the exit's peer id), sent over
 *   this process's one directory session (`/p2proxy/directory/1.1.0`),
 *   `concurrency` in flight;
 * - `connection`: every exit dials the hub over its own connection (the hub
 *   registers the connection's authenticated peer, as for a real exit), then
 *   closes it (directly dialable exits need not keep one).
 *
 * Prints one JSON line: `{ registered, failed, seconds, firstError, cpuSeconds }` (this
 * process's CPU while registering).
 *
 * Usage: `deno run -A scripts/bench/hub_registrar.ts <hub multiaddr> <first n> <count> <concurrency> [signed|connection]`
 *
 * Each node is a bare libp2p node (TCP, noise, yamux): the project's full
 * network adapter adds identify, ping and the relay transport, which a
 * synthetic exit that only registers does not need.
 *
 * @module
 */
import process from "node:process";
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
  RegisterRequestSchema,
  type SignedRegistration,
} from "../../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { asPeerId, type PeerId } from "../../core/ids.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import {
  attributesToWire,
  DIRECTORY_PROTOCOL,
  DIRECTORY_SESSION_PROTOCOL,
} from "../../wire/directory_protocol.ts";
import { DirectorySession } from "../../wire/directory_session.ts";
import { signRegistration } from "../../wire/signed_registration.ts";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { benchAttributes } from "./hub_workload.ts";

/** Bound on one registration, dial included. */
const REGISTER_TIMEOUT_MS = 30_000;

const [hubText, firstText, countText, concurrencyText, modeText = "signed"] = Deno.args;
if (!hubText || !firstText || !countText || !concurrencyText) {
  console.error("usage: hub_registrar.ts <hub multiaddr> <first n> <count> <concurrency>");
  Deno.exit(2);
}
const hub = multiaddr(hubText);
const first = Number(firstText);
const count = Number(countText);
if (modeText !== "signed" && modeText !== "connection") {
  console.error(`mode must be signed or connection, not ${modeText}`);
  Deno.exit(2);
}

/** What synthetic exit `n` registers (attributes, a TEST-NET-3 address never dialled). */
function registrationOf(n: number) {
  return {
    attributes: attributesToWire(benchAttributes(n)),
    addresses: [`/ip4/203.0.113.${n % 250 + 1}/tcp/${10_000 + (n % 50_000)}`],
    relayed: false,
    token: "",
  };
}

/** Signed mode: this process's node and its one session to the hub. */
async function openSession(): Promise<
  { session: DirectorySession; hubPeer: PeerId; stop: () => Promise<void> }
> {
  const node = await createLibp2p({
    privateKey: await generateKeyPair("Ed25519"),
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
  });
  const stream = await node.dialProtocol(hub, DIRECTORY_SESSION_PROTOCOL, {
    signal: AbortSignal.timeout(REGISTER_TIMEOUT_MS),
  });
  const chunks = stream[Symbol.asyncIterator]();
  const duplex: DuplexStream = {
    async read() {
      const next = await chunks.next();
      return next.done ? null : next.value.subarray();
    },
    async write(chunk) {
      if (!stream.send(chunk)) await stream.onDrain();
    },
    async closeWrite() {
      await stream.close();
    },
    abort(reason) {
      stream.abort(reason ?? new Error("aborted"));
    },
  };
  const hubPeer = asPeerId(hub.getComponents().find((c) => c.name === "p2p")!.value!);
  return { session: new DirectorySession(duplex), hubPeer, stop: async () => await node.stop() };
}

let signedSession: Awaited<ReturnType<typeof openSession>> | undefined;

/**
 * Signed mode: each exit's key and signed registration, made before the clock starts (key
 * generation and signing are the exits' work, not the hub's; the claims stay well within the
 * hub's 30 s window).
 */
async function signAll(): Promise<Map<number, SignedRegistration>> {
  const { hubPeer } = signedSession!;
  const signedByExit = new Map<number, SignedRegistration>();
  for (let n = first; n < first + count; n++) {
    const privateKey = await generateKeyPair("Ed25519");
    signedByExit.set(
      n,
      await signRegistration(create(RegisterRequestSchema, registrationOf(n)), {
        peerId: asPeerId(peerIdFromPrivateKey(privateKey).toString()),
        hub: hubPeer,
        now: Date.now(),
        sign: (data) => privateKey.sign(data),
      }),
    );
  }
  return signedByExit;
}

let presigned: Map<number, SignedRegistration> | undefined;

async function registerSigned(n: number): Promise<void> {
  const { session } = signedSession!;
  const signed = presigned!.get(n)!;
  const answer = await session.ask(
    create(DirectoryRequestSchema, { request: { case: "registerSigned", value: signed } }),
    AbortSignal.timeout(REGISTER_TIMEOUT_MS),
  );
  if (answer.response.case !== "register") {
    throw new Error(`The hub refused exit ${n}: ${JSON.stringify(answer.response.value)}`);
  }
}

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
      request: { case: "register", value: registrationOf(n) },
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

if (modeText === "signed") {
  signedSession = await openSession();
  presigned = await signAll();
}
let next = first;
let registered = 0;
let failed = 0;
let firstError = "";
const started = performance.now();
const cpuAtStart = process.cpuUsage();
await Promise.all(
  Array.from({ length: Number(concurrencyText) }, async () => {
    while (next < first + count) {
      const n = next++;
      try {
        await (signedSession ? registerSigned(n) : registerOne(n));
        registered++;
      } catch (error) {
        failed++;
        firstError ||= String(error);
      }
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuAtStart);
// This process's own CPU while registering (signing came before): the generator's cost.
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
signedSession?.session.close();
await signedSession?.stop();
console.log(JSON.stringify({ registered, failed, seconds, firstError, cpuSeconds }));
Deno.exit(0);
