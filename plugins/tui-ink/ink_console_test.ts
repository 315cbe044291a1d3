/**
 * The console as an event sink, before it is on screen (the screen itself is
 * driven in a real terminal by tests/tui_test.ts): it passes the event-sink
 * suite, keeps state stamped by its clock, and never throws into the caller.
 */
import assert from "node:assert/strict";
import { eventSinkCompliance } from "../../core/testing/compliance/event_sink.ts";
import { FakeClock } from "../../core/testing/fakes.ts";
import { InkConsole } from "./ink_console.ts";
import { NL_EXIT } from "./_test_support.ts";

Deno.test("InkConsole is an EventSink", (t) =>
  eventSinkCompliance(t, () => ({ sink: new InkConsole({ clock: new FakeClock() }) })));

Deno.test("InkConsole keeps state from the start, stamped by its clock", () => {
  const clock = new FakeClock(1_000_000);
  const ui = new InkConsole({ clock, maxLogLines: 100 });
  ui.emit({ type: "hub-registration", hub: NL_EXIT, registered: true, failures: 0 });
  clock.advance(5_000);
  ui.emit({ type: "active-destination", port: 1080, peerId: NL_EXIT, source: { kind: "manual" } });
  ui.log({ at: clock.now(), level: "warning", category: "discovery", message: "Lost exit." });
  assert.deepEqual(ui.state.exit.hubs[NL_EXIT], { registered: true, failures: 0, at: 1_000_000 });
  assert.deepEqual(ui.state.ports[0]?.exit, { peerId: NL_EXIT, source: { kind: "manual" } });
  assert.equal(ui.state.logs.length, 1);
  assert.equal(ui.state.opened, false, "nothing is drawn until open()");
});

Deno.test("InkConsole is not supported without a terminal on stdin and stdout", () => {
  const ui = new InkConsole({ clock: new FakeClock() });
  assert.equal(ui.supported(), Deno.stdin.isTerminal() && Deno.stdout.isTerminal());
});
