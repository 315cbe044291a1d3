/**
 * The terminal UI's state, fed inputs on a made-up time line: what events
 * change, what keys ask for, when the hub is asked, how logs scroll.
 */
import assert from "node:assert/strict";
import { aPeerId } from "../../core/testing/builders.ts";
import {
  candidatesOfFocus,
  type ConsoleState,
  initialState,
  visibleLogs,
} from "./console_state.ts";
import {
  aBusyProxy,
  DE_EXIT,
  event,
  feed,
  key,
  LISTENERS,
  named,
  NL_EXIT,
  REPORT,
  T0,
} from "./_test_support.ts";
import { CANDIDATES_REFRESH_MS, NOTICE_MS, SPARK_SAMPLES } from "./constants.ts";

const port = (state: ConsoleState, n: number) => state.ports.find((p) => p.port === n);

Deno.test("events before the console opens are kept; opening names listeners in config order", () => {
  const { state, commands } = feed(
    initialState(),
    event({ type: "active-destination", port: 1081, peerId: DE_EXIT, source: { kind: "sticky" } }),
    event({ type: "session-new", sessionId: "a", port: 1081, target: "x:1", peerId: DE_EXIT }),
    event({ type: "session-new", sessionId: "b", port: 1081, target: "x:1", peerId: DE_EXIT }),
    event({
      type: "session-end",
      sessionId: "a",
      port: 1081,
      peerId: DE_EXIT,
      bytesUp: 1,
      bytesDown: 2,
      error: { stage: "relay", message: "reset" },
    }),
    {
      kind: "open",
      view: { role: "proxy", listeners: LISTENERS, canChoose: true },
      columns: 100,
      rows: 30,
      at: T0,
    },
  );
  assert.deepEqual(state.ports.map((p) => [p.port, p.name]), [
    [1080, "socks5-1080"],
    [1081, "socks5-1081"],
  ]);
  assert.deepEqual(port(state, 1081)?.exit, { peerId: DE_EXIT, source: { kind: "sticky" } });
  assert.equal(port(state, 1081)?.sessions, 1);
  assert.equal(port(state, 1081)?.errors, 1);
  assert.equal(port(state, 1081)?.lastError, "relay: reset");
  assert.equal(state.columns, 100);
  assert.deepEqual(commands, [{ kind: "refresh" }], "a proxy lists its candidates at once");
  assert.deepEqual(
    feed(initialState(), {
      kind: "open",
      view: { role: "hub", canChoose: false },
      columns: 80,
      rows: 24,
      at: T0,
    }).commands,
    [],
    "nothing to list without an exit control",
  );
});

Deno.test("bandwidth becomes one sparkline sample per tick, for the listener's exit", () => {
  let state = aBusyProxy();
  assert.deepEqual(port(state, 1080)?.up, [2048]);
  assert.deepEqual(port(state, 1080)?.down, [40_960]);
  assert.deepEqual(port(state, 1081)?.up, [0], "its exit moved nothing");
  state = feed(
    state,
    event({ type: "bandwidth", peerId: NL_EXIT, up: 10, down: 20 }),
    event({ type: "bandwidth", peerId: NL_EXIT, up: 5, down: 5 }),
    { kind: "tick", at: T0 + 2000 },
    { kind: "tick", at: T0 + 3000 },
  ).state;
  assert.deepEqual(port(state, 1080)?.up, [2048, 15, 0]);
  for (let i = 0; i < SPARK_SAMPLES + 5; i++) {
    state = feed(state, { kind: "tick", at: T0 + 4000 + i * 1000 }).state;
  }
  assert.equal(port(state, 1080)?.up.length, SPARK_SAMPLES, "the history is bounded");
});

Deno.test("keys: 1 2 3 and Tab switch tabs, ? toggles help, Esc closes it, q and Ctrl-C quit", () => {
  const start = aBusyProxy();
  assert.equal(feed(start, key("3")).state.tab, "logs");
  assert.equal(feed(start, key("2"), key("1")).state.tab, "overview");
  assert.equal(feed(start, named("tab")).state.tab, "network");
  assert.equal(feed(start, named("tab"), named("tab"), named("tab")).state.tab, "overview");
  assert.equal(feed(start, key({ input: "", name: "tab", shift: true })).state.tab, "logs");
  const help = feed(start, key("2"), key("?"));
  assert.equal(help.state.help, true);
  const closed = feed(help.state, named("escape"));
  assert.equal(closed.state.help, false);
  assert.deepEqual(closed.commands, [], "Esc on the help does not go back to automatic");
  assert.deepEqual(feed(start, key("q")).commands, [{ kind: "quit" }]);
  assert.deepEqual(feed(start, key({ input: "c", ctrl: true })).commands, [{ kind: "quit" }]);
  assert.deepEqual(feed(help.state, key("q")).commands, [{ kind: "quit" }], "also from the help");

  const exit = feed(initialState(), {
    kind: "open",
    view: { role: "exit", canChoose: false },
    columns: 80,
    rows: 24,
    at: T0,
  }).state;
  assert.equal(feed(exit, key("2")).state.tab, "overview", "an exit has no Network tab");
  assert.equal(feed(exit, named("tab")).state.tab, "logs");
  assert.equal(feed(exit, named("tab"), named("tab")).state.tab, "overview");
});

Deno.test("network: arrows pick a candidate of the focused listener, Enter chooses it, Esc goes back to automatic", () => {
  let { state } = feed(aBusyProxy(), key("2"));
  assert.deepEqual(candidatesOfFocus(state).map((c) => c.peerId), [NL_EXIT]);
  state = feed(state, named("right")).state;
  assert.equal(state.ports[state.focus]?.name, "socks5-1081");
  assert.deepEqual(candidatesOfFocus(state).map((c) => c.peerId), [NL_EXIT, DE_EXIT]);
  state = feed(state, named("down"), named("down")).state;
  assert.equal(state.cursor, 1, "the cursor stops at the last candidate");

  const chosen = feed(state, named("enter"));
  assert.deepEqual(chosen.commands, [{ kind: "choose", listener: "socks5-1081", peerId: DE_EXIT }]);
  assert.match(chosen.state.busy ?? "", /Reaching/);
  assert.deepEqual(
    feed(chosen.state, named("enter"), named("escape")).commands,
    [],
    "one at a time",
  );

  const done = feed(chosen.state, {
    kind: "done",
    notice: { text: "socks5-1081 now leaves through DE (manual).", tone: "ok" },
    at: T0 + 500,
  }).state;
  assert.equal(done.busy, undefined);
  assert.equal(done.notice?.tone, "ok");
  assert.deepEqual(feed(done, named("escape")).commands, [
    { kind: "automatic", listener: "socks5-1081" },
  ]);
  assert.equal(feed(done, named("left")).state.cursor, 0, "the cursor stays within the list");
});

Deno.test("network: the hub is asked on entering the tab when stale, every 10 s on it, and on r", () => {
  const fresh = aBusyProxy(); // listed at T0
  assert.deepEqual(feed(fresh, key("2", T0 + 1000)).commands, [], "listed a second ago");
  const stale = feed(fresh, key("2", T0 + CANDIDATES_REFRESH_MS));
  assert.deepEqual(stale.commands, [{ kind: "refresh" }]);
  assert.equal(stale.state.candidatesLoading, true);
  assert.deepEqual(
    feed(stale.state, { kind: "tick", at: T0 + 2 * CANDIDATES_REFRESH_MS }).commands,
    [],
    "not while a listing is under way",
  );
  const listed = feed(stale.state, { kind: "candidates", report: REPORT, at: T0 + 11_000 }).state;
  assert.deepEqual(feed(listed, { kind: "tick", at: T0 + 15_000 }).commands, []);
  assert.deepEqual(feed(listed, { kind: "tick", at: T0 + 21_000 }).commands, [{ kind: "refresh" }]);
  assert.deepEqual(feed(listed, key("r", T0 + 12_000)).commands, [{ kind: "refresh" }]);
  const overview = feed(listed, key("1"));
  assert.deepEqual(feed(overview.state, { kind: "tick", at: T0 + 60_000 }).commands, []);
  const failed = feed(stale.state, {
    kind: "candidates-failed",
    message: "The hub could not list exits: timeout",
    at: T0 + 11_000,
  }).state;
  assert.equal(failed.candidatesLoading, false);
  assert.match(failed.candidatesProblem ?? "", /timeout/);
});

Deno.test("an exit the list does not know triggers a listing, at most every 5 s", () => {
  const state = aBusyProxy(); // listed at T0
  const other = aPeerId(7);
  const move = (at: number) =>
    event(
      { type: "active-destination", port: 1080, peerId: other, source: { kind: "discovered" } },
      at,
    );
  assert.deepEqual(feed(state, move(T0 + 1000)).commands, [], "listed a second ago");
  assert.deepEqual(feed(state, move(T0 + 6000)).commands, [{ kind: "refresh" }]);
  const known = event({
    type: "active-destination",
    port: 1080,
    peerId: DE_EXIT,
    source: { kind: "manual" },
  }, T0 + 6000);
  assert.deepEqual(feed(state, known).commands, []);
});

Deno.test("notices fade after 8 s", () => {
  const state = feed(aBusyProxy(), {
    kind: "done",
    notice: { text: "done", tone: "ok" },
    at: T0 + 1000,
  }).state;
  assert.ok(feed(state, { kind: "tick", at: T0 + NOTICE_MS }).state.notice);
  assert.equal(feed(state, { kind: "tick", at: T0 + 1000 + NOTICE_MS }).state.notice, undefined);
});

Deno.test("logs: bounded, filtered by level, and a reader scrolled up stays in place", () => {
  let state = feed(initialState({ maxLogLines: 100 }), key("3")).state;
  const line = (n: number, level: "debug" | "info" | "warning" = "info") => ({
    kind: "log" as const,
    line: { at: T0 + n, level, category: "test", message: `line ${n}` },
  });
  for (let i = 0; i < 150; i++) state = feed(state, line(i, i % 3 === 0 ? "debug" : "info")).state;
  assert.equal(state.logs.length, 100);
  assert.equal(state.logs[0]?.message, "line 50");
  assert.equal(state.logLevel, "info");
  assert.ok(visibleLogs(state).every((l) => l.level !== "debug"));
  state = feed(state, key("f"), key("f"), key("f")).state; // warning, error, then round to trace
  assert.equal(state.logLevel, "trace");
  assert.equal(visibleLogs(state).length, 100);
  state = feed(state, key("f"), key("f")).state;
  assert.equal(state.logLevel, "info");

  state = feed(state, named("up"), named("up"), named("pageUp")).state;
  const scrolled = state.logScroll;
  assert.equal(scrolled, 2 + 18, "a page is the screen's height less the frame");
  state = feed(state, line(200), line(201, "debug")).state;
  assert.equal(state.logScroll, scrolled + 1, "one shown line arrived, one hidden");
  assert.equal(feed(state, named("end")).state.logScroll, 0);
  assert.equal(feed(state, named("home")).state.logScroll, visibleLogs(state).length - 1);
  assert.equal(feed(state, named("pageDown"), named("pageDown")).state.logScroll, 0);
});

Deno.test("exit and hub counters: sessions, denials by reason, registration, lookups per second", () => {
  const state = feed(
    initialState(),
    event({ type: "exit-session-start", sessionId: "1", peerId: NL_EXIT, target: "a:80" }),
    event({ type: "exit-session-start", sessionId: "2", peerId: NL_EXIT, target: "a:80" }),
    event({
      type: "exit-session-end",
      sessionId: "1",
      peerId: NL_EXIT,
      bytesUp: 100,
      bytesDown: 5000,
    }),
    event({ type: "exit-denied", peerId: NL_EXIT, target: "10.0.0.1:80", reason: "private" }),
    event({ type: "exit-denied", peerId: NL_EXIT, target: "10.0.0.2:80", reason: "private" }),
    event({ type: "exit-denied", peerId: NL_EXIT, target: "a:25", reason: "port" }),
    event({ type: "hub-registration", hub: DE_EXIT, registered: false, failures: 1, error: "x" }),
    event({ type: "hub-registration", hub: DE_EXIT, registered: true, failures: 0 }, T0 + 500),
    event({
      type: "hub-stats",
      registeredExits: 2,
      relayReservations: 1,
      raisedRelayLimits: 1,
      expiredExits: 0,
      registrations: 4,
      finds: 10,
      resolves: 0,
      exitsReturned: 20,
      errors: {},
    }),
    event({
      type: "hub-stats",
      registeredExits: 2,
      relayReservations: 1,
      raisedRelayLimits: 1,
      expiredExits: 0,
      registrations: 5,
      finds: 30,
      resolves: 5,
      exitsReturned: 60,
      errors: { "rate-limited": 2 },
    }, T0 + 5000),
  ).state;
  assert.deepEqual(
    { ...state.exit, hubs: undefined },
    {
      active: 1,
      total: 2,
      bytesUp: 100,
      bytesDown: 5000,
      denials: { private: 2, port: 1 },
      hubs: undefined,
    },
  );
  assert.deepEqual(state.exit.hubs[DE_EXIT], { registered: true, failures: 0, at: T0 + 500 });
  assert.equal(state.hub?.lookupsPerSec, 5, "25 lookups in 5 s");
  assert.equal(state.hub?.registeredExits, 2);
});
