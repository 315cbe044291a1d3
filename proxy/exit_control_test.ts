/**
 * The operator's exit control over a fake actor and a fake hub: listener
 * names, candidates merged across listeners with who is offered and who uses
 * them, pinned exits listed even when the hub is down, and the outcomes of a
 * choice and of going back to automatic mapped to listeners.
 */
import assert from "node:assert/strict";
import { NO_FILTERS } from "../core/domain/attributes.ts";
import { DirectoryError } from "../core/ports/peer_directory.ts";
import type { PeerId } from "../core/ids.ts";
import {
  aCircuitAddress,
  aDirectAddress,
  aPeerId,
  aPeerRecord,
  someAttributes,
} from "../core/testing/builders.ts";
import { FakeDirectory } from "../core/testing/fakes.ts";
import type { ActiveExit, AutomaticOutcome, ManualSelectionOutcome } from "./discovery_actor.ts";
import { listenerName, type ListenerSettings, ProxyExitControl } from "./exit_control.ts";

const [A, B, C] = [aPeerId(1), aPeerId(2), aPeerId(3)] as [PeerId, PeerId, PeerId];

function listener(port: number, overrides: Partial<ListenerSettings> = {}): ListenerSettings {
  return {
    protocol: "socks5",
    bind: "127.0.0.1",
    port,
    filters: NO_FILTERS,
    pinned: [],
    fallbackToDiscovery: false,
    ...overrides,
  };
}

/** An actor whose active exits are a map the test sets, recording every call. */
class FakeActor {
  readonly active = new Map<number, ActiveExit>();
  readonly calls: string[] = [];
  selectAnswer: ManualSelectionOutcome["kind"] = "selected";

  activeExit(port: number): ActiveExit | undefined {
    return this.active.get(port);
  }

  selectExit(
    port: number,
    peer: PeerId,
    request: { by: string; override?: boolean },
  ): Promise<ManualSelectionOutcome> {
    this.calls.push(`select ${port} ${peer} by ${request.by} override=${request.override}`);
    if (this.selectAnswer === "selected") {
      this.active.set(port, { peerId: peer, source: { kind: "manual" } });
      return Promise.resolve({ kind: "selected", exit: this.active.get(port)! });
    }
    if (this.selectAnswer === "refused") {
      return Promise.resolve({
        kind: "refused",
        conflict: { rule: "filters", message: "Not in NL." },
      });
    }
    return Promise.resolve({ kind: this.selectAnswer } as ManualSelectionOutcome);
  }

  resumeAutomatic(port: number, request: { by: string }): Promise<AutomaticOutcome> {
    this.calls.push(`automatic ${port} by ${request.by}`);
    if (port === 9999) return Promise.resolve({ kind: "unknown-port" });
    this.active.set(port, { peerId: A, source: { kind: "sticky" } });
    return Promise.resolve({ kind: "automatic", exit: this.active.get(port)! });
  }
}

Deno.test("exit control: listeners are named <protocol>-<port> and show their exit", () => {
  const actor = new FakeActor();
  actor.active.set(1080, { peerId: A, source: { kind: "discovered" } });
  const control = new ProxyExitControl({
    actor,
    servers: [listener(1080), listener(1081, { bind: "::1" })],
    directory: new FakeDirectory(),
  });
  assert.equal(listenerName({ protocol: "socks5", port: 1080 }), "socks5-1080");
  assert.deepEqual(control.listeners(), [
    {
      name: "socks5-1080",
      protocol: "socks5",
      bind: "127.0.0.1",
      port: 1080,
      exit: { peerId: A, source: { kind: "discovered" } },
    },
    { name: "socks5-1081", protocol: "socks5", bind: "::1", port: 1081 },
  ]);
});

Deno.test("exit control: candidates are merged by peer, one hub query per filter set", async () => {
  const actor = new FakeActor();
  actor.active.set(1081, { peerId: B, source: { kind: "discovered" } });
  const relayedC = aCircuitAddress(C);
  const directory = new FakeDirectory().queueFind(
    [aPeerRecord(A), aPeerRecord(B, [aCircuitAddress(B), aDirectAddress(B)])],
    [aPeerRecord(B), aPeerRecord(C, [relayedC], someAttributes({ country: "DE" }))],
  );
  const control = new ProxyExitControl({
    actor,
    servers: [
      listener(1080, { filters: { ...NO_FILTERS, country: "NL" } }),
      listener(1081),
      listener(1082, { filters: { ...NO_FILTERS, country: "NL" } }),
    ],
    directory,
  });
  const report = await control.exits();
  assert.equal(directory.findCalls.length, 2, "1080 and 1082 share their query");
  assert.deepEqual(directory.findCalls.map((q) => q.limit), [50, 50]);
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.candidates.map((c) => [c.peerId, c.offeredFor, c.usedBy]), [
    [A, ["socks5-1080", "socks5-1082"], []],
    [B, ["socks5-1080", "socks5-1081", "socks5-1082"], ["socks5-1081"]],
    [C, ["socks5-1081"], []],
  ]);
  const b = report.candidates.find((c) => c.peerId === B)!;
  assert.deepEqual(b.routes, [aDirectAddress(B), aCircuitAddress(B)], "direct routes first");
  assert.equal(b.relayedOnly, false);
  const c = report.candidates.find((c) => c.peerId === C)!;
  assert.equal(c.relayedOnly, true);
  assert.equal(c.attributes?.country, "DE");
});

Deno.test("exit control: a hub that fails is a problem per listener; pins are listed anyway", async () => {
  const directory = new FakeDirectory()
    .queueFind(new DirectoryError("timeout", "The hub did not answer within 10 s."))
    .resolveFailing(new DirectoryError("unavailable", "No hub."));
  const pinAddress = aDirectAddress(C);
  const control = new ProxyExitControl({
    actor: new FakeActor(),
    servers: [listener(1080), listener(1081, { pinned: [{ peerId: C, address: pinAddress }] })],
    directory,
  });
  const report = await control.exits();
  assert.deepEqual(report.problems, [
    { listener: "socks5-1080", message: "The hub did not answer within 10 s." },
  ]);
  assert.deepEqual(report.candidates.map((c) => [c.peerId, c.routes, c.offeredFor]), [
    [C, [pinAddress], ["socks5-1081"]],
  ]);
  assert.equal(directory.findCalls.length, 1, "a hard-pinned listener asks no FindNodes");
});

Deno.test("exit control: choose and automatic go to the actor by listener name or port", async () => {
  const actor = new FakeActor();
  const control = new ProxyExitControl({
    actor,
    servers: [listener(1080)],
    directory: new FakeDirectory(),
  });
  const chosen = await control.choose("socks5-1080", B, { by: "a test" });
  assert.equal(chosen.kind, "selected");
  assert.deepEqual(chosen.kind === "selected" && chosen.listener.exit, {
    peerId: B,
    source: { kind: "manual" },
  });
  assert.equal(
    (await control.choose("1080", C, { by: "a test", override: true })).kind,
    "selected",
  );
  actor.selectAnswer = "refused";
  assert.deepEqual(await control.choose("socks5-1080", C, { by: "a test" }), {
    kind: "refused",
    conflict: { rule: "filters", message: "Not in NL." },
  });
  actor.selectAnswer = "unreachable";
  assert.deepEqual(await control.choose("socks5-1080", C, { by: "a test" }), {
    kind: "unreachable",
  });
  assert.deepEqual(await control.choose("socks5-1090", C, { by: "a test" }), {
    kind: "unknown-listener",
  });
  const back = await control.automatic("socks5-1080", { by: "a test" });
  assert.equal(back.kind, "automatic");
  assert.deepEqual(back.kind === "automatic" && back.listener.exit, {
    peerId: A,
    source: { kind: "sticky" },
  });
  assert.deepEqual(await control.automatic("http-1080", { by: "a test" }), {
    kind: "unknown-listener",
  });
  assert.deepEqual(actor.calls, [
    `select 1080 ${B} by a test override=false`,
    `select 1080 ${C} by a test override=true`,
    `select 1080 ${C} by a test override=false`,
    `select 1080 ${C} by a test override=false`,
    "automatic 1080 by a test",
  ]);
});
