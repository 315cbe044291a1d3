/**
 * The screen at 80×24 (and wider, and too small): every tab of every role
 * fits — one line fewer than the terminal's height, none wider than it — and
 * shows what the operator needs.
 */
import assert from "node:assert/strict";
import { type ConsoleState, initialState } from "./console_state.ts";
import { renderScreen, screenText } from "./screen.ts";
import { aBusyProxy, event, feed, key, named, NL_EXIT, PROXY, T0 } from "./_test_support.ts";

function screenOf(state: ConsoleState, at = T0 + 1000): string {
  const lines = renderScreen(state, at);
  const text = screenText(lines);
  assert.ok(lines.length <= state.rows - 1, `${lines.length} lines for ${state.rows} rows`);
  for (const line of text.split("\n")) {
    assert.ok([...line].length <= state.columns, `too wide (${[...line].length}): ${line}`);
  }
  return text;
}

Deno.test("80×24, proxy: the overview shows each listener, its exit, route, traffic and errors", () => {
  const text = screenOf(aBusyProxy());
  assert.match(text, /p2proxy proxy 12D3Ko…/);
  assert.match(text, / 1 Overview .* 2 Network .* 3 Logs /);
  assert.match(text, /▸ socks5 127\.0\.0\.1:1080 .*→ 12D3Ko…\S+ discovered\s+NL Amsterdam/);
  assert.match(text, /route direct tcp · rtt 3 ms · sessions 1 · errors 0/);
  assert.match(text, /↑ 2\.0 KB\/s .*↓ 40\.0 KB\/s/);
  assert.match(text, /socks5 127\.0\.0\.1:1081 .*sticky\s+DE Berlin/);
  assert.match(text, /route - · rtt - · sessions 0/, "no connection event for the relayed exit");
  assert.doesNotMatch(text, /shared exit/);
  const shared = feed(
    aBusyProxy(),
    event({
      type: "active-destination",
      port: 1081,
      peerId: NL_EXIT,
      source: { kind: "manual" },
    }),
  ).state;
  assert.equal(screenOf(shared).match(/errors 0 · shared exit/g)?.length, 2);
});

Deno.test("80×24, proxy: the network tab lists the focused listener's candidates with a marker", () => {
  const state = feed(aBusyProxy(), key("2", T0 + 500), named("right")).state;
  const text = screenOf(state);
  assert.match(text, /Exits for socks5-1081 \(←→\) · uses 12D3Ko…\S+ \(sticky\)/);
  assert.match(text, /PEER\s+CC\s+CITY\s+ASN\s+RTT\s+BW\s+ROUTE/);
  assert.match(text, /▸ {3}12D3Ko…\S+ +NL +Amsterdam +AS64496 +3 ms +1 Gbps +direct/);
  assert.match(text, / {3}● 12D3Ko…\S+ +DE +Berlin +AS3320 +- +100 Mbps +relay/);
  assert.match(text, /Enter use it · Esc automatic/);
});

Deno.test("80×24: the logs tab and the key help", () => {
  const logs = screenOf(feed(aBusyProxy(), key("3")).state);
  assert.match(logs, /1 lines at info or above \(of 2\) · following/);
  assert.match(logs, /19:00:00 INF discovery +Port 1080 now leaves through NL/);
  assert.doesNotMatch(logs, /Session s1 started/, "debug is filtered out");
  const help = screenOf(feed(aBusyProxy(), key("?")).state);
  for (const keys of ["1 2 3, Tab", "Enter", "Esc", "q, Ctrl-C", "PgUp PgDn Home End"]) {
    assert.ok(help.includes(keys), keys);
  }
});

Deno.test("80×24: exit and hub overviews", () => {
  const exit = feed(
    initialState(),
    {
      kind: "open",
      view: { role: "exit", peerId: PROXY, canChoose: false },
      columns: 80,
      rows: 24,
      at: T0,
    },
    event({ type: "exit-session-start", sessionId: "1", peerId: NL_EXIT, target: "a:80" }),
    event({ type: "exit-denied", peerId: NL_EXIT, target: "10.0.0.1:80", reason: "private" }),
    event({ type: "hub-registration", hub: NL_EXIT, registered: true, failures: 0 }),
  ).state;
  const exitText = screenOf(exit, T0 + 12_000);
  assert.match(exitText, /p2proxy exit/);
  assert.match(exitText, / 1 Overview .* 3 Logs /);
  assert.doesNotMatch(exitText, /Network/, "an exit chooses no exit");
  assert.match(exitText, /Sessions +1 running · 1 since start/);
  assert.match(exitText, /Denied +private 1/);
  assert.match(exitText, /12D3Ko…\S+ +registered · last renewed 12 s ago/);

  const hub = feed(
    initialState(),
    { kind: "open", view: { role: "hub", canChoose: false }, columns: 80, rows: 24, at: T0 },
  ).state;
  assert.match(screenOf(hub), /Waiting for the hub's first report/);
  const reported = feed(
    hub,
    event({
      type: "hub-stats",
      registeredExits: 3,
      relayReservations: 1,
      raisedRelayLimits: 1,
      expiredExits: 0,
      registrations: 7,
      finds: 2,
      resolves: 0,
      exitsReturned: 4,
      errors: {},
    }),
  ).state;
  const hubText = screenOf(reported);
  assert.match(hubText, /Registered exits +3/);
  assert.match(hubText, /Relay reservations +1/);
  assert.match(hubText, /Lookups\/s +- \(2 since start\)/);
});

Deno.test("a resize redraws at the new size; a tiny terminal is cropped, never overflowed", () => {
  const wide = feed(aBusyProxy(), { kind: "resize", columns: 132, rows: 40 }).state;
  const text = screenOf(wide);
  assert.equal(text.split("\n")[1]?.length, 132, "the rule spans the new width");
  const tiny = feed(aBusyProxy(), { kind: "resize", columns: 20, rows: 5 }).state;
  const lines = renderScreen(tiny, T0);
  assert.ok(lines.length <= 9);
  for (const line of screenText(lines).split("\n")) assert.ok([...line].length <= 40);
});

Deno.test("many listeners: the overview shows those around the focus and says how many more", () => {
  let state = aBusyProxy();
  for (let p = 1082; p < 1090; p++) {
    state = feed(
      state,
      event({ type: "session-new", sessionId: `${p}`, port: p, target: "a:1", peerId: NL_EXIT }),
    ).state;
  }
  const top = screenOf(state);
  assert.match(top, /↓ \d+ more/);
  for (let i = 0; i < 9; i++) state = feed(state, named("down")).state;
  const bottom = screenOf(state);
  assert.match(bottom, /↑ \d+ more/);
  assert.match(bottom, /▸ port :1089/);
});

Deno.test("logs: a long line wraps under its prefix, at most four rows", () => {
  const long = Array.from({ length: 60 }, (_, i) => `word${i}`).join(" ");
  const state = feed(aBusyProxy(), key("3"), {
    kind: "log",
    line: { at: T0, level: "warning", category: "discovery", message: long },
  }).state;
  const rows = screenOf(state).split("\n");
  const first = rows.findIndex((row) => row.includes("WRN discovery"));
  assert.ok(first > 0);
  assert.match(rows[first]!, /word0 word1/);
  for (const row of rows.slice(first + 1, first + 4)) assert.match(row, /^ {27}word\d+/);
  assert.ok(rows[first + 3]!.endsWith("…"), "the fourth row is the last, cut");
  assert.doesNotMatch(rows[first + 4] ?? "", /word/);
});
