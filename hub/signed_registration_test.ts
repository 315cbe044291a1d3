import assert from "node:assert/strict";
import fc from "fast-check";
import { create } from "@bufbuild/protobuf";
import { NO_FILTERS } from "../core/domain/attributes.ts";
import { FakeClock } from "../core/testing/fakes.ts";
import { someAttributes } from "../core/testing/builders.ts";
import {
  DirectoryRequestSchema,
  ErrorCode,
  RegisterRequestSchema,
  type SignedRegistration,
  SignedRegistrationSchema,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { HubDirectory } from "../plugins/directory-hub/hub_directory.ts";
import type { Libp2pNetwork } from "../plugins/network-libp2p/libp2p_network.ts";
import { askHub, HubRefusal } from "../wire/directory_client.ts";
import { attributesToWire } from "../wire/directory_protocol.ts";
import { SIGNED_REGISTRATION_WINDOW_MS, signRegistration } from "../wire/signed_registration.ts";
import { FIND_CANDIDATES_TTL_MS } from "./directory_server.ts";
import { registerOnce, type TestHub, TestNet } from "./_testing.ts";

function registration(country = "NL", token = "") {
  return create(RegisterRequestSchema, {
    attributes: attributesToWire(someAttributes({ country })),
    addresses: ["/ip4/203.0.113.7/tcp/4001"],
    relayed: false,
    token,
  });
}

async function signedBy(
  exit: FileIdentity,
  hub: TestHub,
  now: number,
  options: { country?: string; token?: string; hubPeer?: string } = {},
): Promise<SignedRegistration> {
  return await signRegistration(registration(options.country, options.token), {
    peerId: exit.peerId,
    hub: (options.hubPeer ?? hub.network.peerId) as TestHub["network"]["peerId"],
    now,
    sign: (data) => exit.sign(data),
  });
}

/** Sends `signed` from `sender` and resolves the hub's error code, or undefined when it registered. */
async function send(
  sender: Libp2pNetwork,
  hub: TestHub,
  signed: SignedRegistration,
): Promise<ErrorCode | undefined> {
  try {
    await askHub(
      sender,
      { address: hub.address, peer: hub.network.peerId },
      create(DirectoryRequestSchema, { request: { case: "registerSigned", value: signed } }),
      "register",
      { timeoutMs: 5_000 },
    );
    return undefined;
  } catch (error) {
    assert.ok(error instanceof HubRefusal, `expected a refusal, got ${error}`);
    return error.wireCode;
  }
}

Deno.test("signed registrations: the exit's signature registers it over another peer's connection", async (t) => {
  const net = new TestNet();
  const clock = new FakeClock(Date.now());
  try {
    const hub = await net.hub({ clock });
    const sender = await net.node();
    const exit = await FileIdentity.generate();
    const found = async () =>
      (await new HubDirectory({ network: sender, hubs: [hub.address] })
        .findNodes({ filters: NO_FILTERS, limit: 25, exclude: [] }))
        .map((record) => record.peerId);

    await t.step("a valid claim registers the exit, not the sender", async () => {
      assert.equal(await send(sender, hub, await signedBy(exit, hub, clock.now())), undefined);
      const record = await hub.registry.get(exit.peerId);
      assert.ok(record, "the exit is registered");
      assert.deepEqual(record.addresses, [`/ip4/203.0.113.7/tcp/4001/p2p/${exit.peerId}`]);
      assert.equal(await hub.registry.get(sender.peerId), undefined);
      assert.deepEqual(await found(), [exit.peerId]);
    });

    await t.step("a tampered claim or another key's signature is UNAUTHENTICATED", async () => {
      const good = await signedBy(exit, hub, clock.now(), { country: "DE" });
      const tampered = create(SignedRegistrationSchema, {
        claim: good.claim.map((byte, i) => i === good.claim.length - 1 ? byte ^ 1 : byte),
        signature: good.signature,
      });
      assert.equal(await send(sender, hub, tampered), ErrorCode.UNAUTHENTICATED);
      // A claim naming the exit, signed by someone else (the sender's own key).
      const impostor = await FileIdentity.generate();
      const forged = await signRegistration(registration("DE"), {
        peerId: exit.peerId,
        hub: hub.network.peerId,
        now: clock.now(),
        sign: (data) => impostor.sign(data),
      });
      assert.equal(await send(sender, hub, forged), ErrorCode.UNAUTHENTICATED);
      assert.equal((await hub.registry.get(exit.peerId))?.attributes.country, "NL");
    });

    await t.step("a claim for another hub, or outside the time window, is refused", async () => {
      const otherHub = (await FileIdentity.generate()).peerId;
      assert.equal(
        await send(sender, hub, await signedBy(exit, hub, clock.now(), { hubPeer: otherHub })),
        ErrorCode.INVALID_ARGUMENT,
      );
      const old = clock.now() - SIGNED_REGISTRATION_WINDOW_MS - 1_000;
      assert.equal(
        await send(sender, hub, await signedBy(exit, hub, old)),
        ErrorCode.INVALID_ARGUMENT,
      );
      const future = clock.now() + SIGNED_REGISTRATION_WINDOW_MS + 1_000;
      assert.equal(
        await send(sender, hub, await signedBy(exit, hub, future)),
        ErrorCode.INVALID_ARGUMENT,
      );
    });

    await t.step(
      "arbitrary claim and signature bytes never register anything (property)",
      async () => {
        const before = (await hub.registry.list()).length;
        const validClaim = (await signedBy(exit, hub, clock.now())).claim;
        await fc.assert(
          fc.asyncProperty(
            fc.oneof(
              fc.uint8Array({ maxLength: 200 }),
              fc.array(fc.tuple(fc.nat(validClaim.length - 1), fc.integer({ min: 0, max: 255 })), {
                minLength: 1,
                maxLength: 3,
              }).map((flips) => {
                const mutated = validClaim.slice();
                for (const [i, value] of flips) mutated[i] = value;
                return mutated;
              }),
            ),
            fc.uint8Array({ maxLength: 80 }),
            async (claim, signature) => {
              const code = await send(
                sender,
                hub,
                create(SignedRegistrationSchema, { claim, signature }),
              );
              assert.ok(
                code === ErrorCode.INVALID_ARGUMENT || code === ErrorCode.UNAUTHENTICATED,
                `expected a refusal, got ${code}`,
              );
            },
          ),
          { numRuns: 40 },
        );
        assert.equal((await hub.registry.list()).length, before);
      },
    );
  } finally {
    await net.close();
  }
});

Deno.test("signed registrations: the token is the exit's, and a hub that verifies locations refuses them", async () => {
  const net = new TestNet();
  const clock = new FakeClock(Date.now());
  try {
    const tokenPeers: string[] = [];
    const hub = await net.hub({
      clock,
      verifyToken: (token, peer) => {
        tokenPeers.push(peer);
        return Promise.resolve(
          token === `exit-token-${peer}`
            ? { ok: true }
            : { ok: false, code: "permission-denied", message: "Not this peer's token." },
        );
      },
    });
    const sender = await net.node();
    const exit = await FileIdentity.generate();
    assert.equal(
      await send(
        sender,
        hub,
        await signedBy(exit, hub, clock.now(), {
          token: `exit-token-${sender.peerId}`,
        }),
      ),
      ErrorCode.PERMISSION_DENIED,
      "the sender's token does not register the exit",
    );
    assert.equal(
      await send(
        sender,
        hub,
        await signedBy(exit, hub, clock.now(), {
          token: `exit-token-${exit.peerId}`,
        }),
      ),
      undefined,
    );
    assert.deepEqual(tokenPeers, [exit.peerId, exit.peerId]);

    const locating = await net.hub({
      clock,
      geoip: { locate: () => Promise.resolve({ country: "DE" }) },
    });
    assert.equal(
      await send(sender, locating, await signedBy(exit, locating, clock.now())),
      ErrorCode.PERMISSION_DENIED,
    );
    assert.equal(await locating.registry.get(exit.peerId), undefined);
  } finally {
    await net.close();
  }
});

Deno.test("FindNodes reuses the records it read for a short time; a change through the hub shows at once", async () => {
  const net = new TestNet();
  const clock = new FakeClock(Date.now());
  try {
    const hub = await net.hub({ clock });
    const proxy = await net.node();
    const directory = new HubDirectory({ network: proxy, hubs: [hub.address] });
    const find = async (country: string) =>
      (await directory.findNodes({ filters: { ...NO_FILTERS, country }, limit: 25, exclude: [] }))
        .map((record) => record.peerId);
    const nl = await net.node();
    await registerOnce(nl, hub, someAttributes({ country: "NL" }));
    assert.deepEqual(await find("NL"), [nl.peerId]);

    // Registered through this hub with a new country: both answers change at once.
    await registerOnce(nl, hub, someAttributes({ country: "DE" }));
    assert.deepEqual(await find("NL"), []);
    assert.deepEqual(await find("DE"), [nl.peerId]);

    // A record another hub wrote to a shared registry shows once the cached read is older
    // than the TTL.
    const other = await hub.registry.get(nl.peerId);
    assert.ok(other);
    const elsewhere = (await FileIdentity.generate()).peerId;
    await hub.registry.put({ ...other, peerId: elsewhere });
    assert.deepEqual(await find("DE"), [nl.peerId], "the read of a moment ago still serves");
    clock.advance(FIND_CANDIDATES_TTL_MS);
    assert.deepEqual(new Set(await find("DE")), new Set([nl.peerId, elsewhere]));
  } finally {
    await net.close();
  }
});
