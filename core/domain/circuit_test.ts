import { deepEqual, equal } from "node:assert/strict";
import fc from "fast-check";
import { asMultiaddr, isRelayedAddress, type Multiaddr, peerIdOfAddress } from "../ids.ts";
import { aDirectAddress, aPeerId, aRelayAddress, aRelayPeerId } from "../testing/builders.ts";
import { partitionDirectFirst, synthesizeCircuit, withPeerId } from "./circuit.ts";

const exit = aPeerId(1);
const relay = aRelayPeerId();

Deno.test("synthesizeCircuit", async (t) => {
  await t.step("routes through the relay to the peer", () => {
    const circuit = synthesizeCircuit(aRelayAddress(relay), exit);
    equal(circuit, `/dns4/hub.example.com/tcp/4001/p2p/${relay}/p2p-circuit/p2p/${exit}`);
    equal(isRelayedAddress(circuit ?? ""), true);
    equal(peerIdOfAddress(circuit ?? ""), exit);
  });

  await t.step("ignores a trailing slash on the relay address", () => {
    const relayAddress = asMultiaddr(`${aRelayAddress(relay)}/`);
    equal(synthesizeCircuit(relayAddress, exit), synthesizeCircuit(aRelayAddress(relay), exit));
  });

  await t.step("needs the relay's peer id", () => {
    equal(synthesizeCircuit(asMultiaddr("/dns4/hub.example.com/tcp/4001"), exit), undefined);
    equal(synthesizeCircuit(asMultiaddr("/p2p"), exit), undefined);
    equal(synthesizeCircuit(asMultiaddr(""), exit), undefined);
  });

  await t.step("never routes to the relay itself", () => {
    equal(synthesizeCircuit(aRelayAddress(relay), relay), undefined);
  });

  await t.step("never nests circuits", () => {
    const circuit = asMultiaddr(`${aRelayAddress(relay)}/p2p-circuit/p2p/${aPeerId(2)}`);
    equal(synthesizeCircuit(circuit, exit), undefined);
  });
});

Deno.test("partitionDirectFirst", async (t) => {
  const direct1 = aDirectAddress(exit, 1);
  const direct2 = aDirectAddress(exit, 2);
  const circuit = synthesizeCircuit(aRelayAddress(), exit) ?? asMultiaddr("");

  await t.step("splits direct routes from circuits, keeping order and dropping duplicates", () => {
    deepEqual(partitionDirectFirst([circuit, direct2, direct1, direct2, circuit]), {
      direct: [direct2, direct1],
      relayed: [circuit],
    });
  });

  await t.step("is empty for no addresses", () => {
    deepEqual(partitionDirectFirst([]), { direct: [], relayed: [] });
  });

  await t.step("keeps every distinct address exactly once, each on its side", () => {
    const address = fc.oneof(
      fc.integer({ min: 0, max: 20 }).map((n) => aDirectAddress(aPeerId(n % 4), n)),
      fc.integer({ min: 0, max: 3 }).map((n) =>
        synthesizeCircuit(aRelayAddress(), aPeerId(n)) ?? asMultiaddr("")
      ),
    );
    fc.assert(
      fc.property(fc.array(address, { maxLength: 30 }), (addresses: Multiaddr[]) => {
        const { direct, relayed } = partitionDirectFirst(addresses);
        deepEqual([...direct, ...relayed].sort(), [...new Set(addresses)].sort());
        equal(direct.some(isRelayedAddress), false);
        equal(relayed.every(isRelayedAddress), true);
        deepEqual(direct, [...new Set(addresses)].filter((a) => !isRelayedAddress(a)));
      }),
    );
  });
});

Deno.test("withPeerId", async (t) => {
  await t.step("tags a bare address", () => {
    equal(
      withPeerId(asMultiaddr("/ip4/203.0.113.7/tcp/9"), exit),
      `/ip4/203.0.113.7/tcp/9/p2p/${exit}`,
    );
  });

  await t.step("keeps an address already tagged with the peer", () => {
    equal(withPeerId(aDirectAddress(exit), exit), aDirectAddress(exit));
  });

  await t.step("refuses an address of another peer", () => {
    equal(withPeerId(aDirectAddress(aPeerId(2)), exit), undefined);
  });

  await t.step("refuses an empty address", () => {
    equal(withPeerId(asMultiaddr(""), exit), undefined);
  });
});
