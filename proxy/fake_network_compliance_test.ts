import { aDirectAddress, aPeerId } from "../core/testing/builders.ts";
import { dialerCompliance } from "../core/testing/compliance/dialer.ts";
import { FakeNetwork } from "./_fake_network.ts";

Deno.test("FakeNetwork passes the dialer compliance suite", (t) =>
  dialerCompliance(t, () => {
    const target = aPeerId(1);
    const network = new FakeNetwork(target);
    const dead = aDirectAddress(target, 9);
    network.deadAddresses.add(dead);
    return {
      dialer: network,
      reachable: {
        peer: target,
        addresses: [aDirectAddress(target, 1), aDirectAddress(target, 2)],
      },
      // The fake has no shutdown: that step is skipped.
      unreachable: [dead, aDirectAddress(aPeerId(2))],
    };
  }));
