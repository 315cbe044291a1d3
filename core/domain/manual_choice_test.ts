import { equal, match } from "node:assert/strict";
import { NO_FILTERS } from "./attributes.ts";
import { filterConflict, hardPinConflict, needsFilterCheck } from "./manual_choice.ts";
import { aPeerId, aServer, pinnedTo, someAttributes } from "../testing/builders.ts";

const [A, B, C] = [aPeerId(1), aPeerId(2), aPeerId(3)];

Deno.test("hardPinConflict: only a hard pin refuses, and only peers it does not name", () => {
  const hard = aServer({ pinned: pinnedTo(A, C) });
  const conflict = hardPinConflict(hard, B);
  equal(conflict?.rule, "hard-pin");
  match(
    conflict?.message ?? "",
    new RegExp(`Port 1080 is hard-pinned to destination_peers \\[${A}, ${C}\\]`),
  );
  match(
    conflict?.message ?? "",
    new RegExp(`fallback_to_discovery is false\\), and ${B} is not among them`),
  );
  equal(hardPinConflict(hard, C), undefined, "a pinned peer (any rank)");
  equal(hardPinConflict(aServer({ pinned: pinnedTo(A), fallbackToDiscovery: true }), B), undefined);
  equal(hardPinConflict(aServer(), B), undefined, "a discovery port");
});

Deno.test("filterConflict: the core matcher's reasons, or why the peer cannot be judged", () => {
  const server = aServer({ filters: { ...NO_FILTERS, country: "NL", hosting: "deny" } });
  const german = filterConflict(server, B, {
    known: true,
    attributes: someAttributes({ country: "DE", hosting: true }),
  });
  equal(german?.rule, "filters");
  equal(
    german?.message,
    `Port 1080's filters (country=NL hosting=deny) refuse ${B}: country "DE" is not "NL"; ` +
      "exit has the hosting flag, but hosting=deny.",
  );
  equal(filterConflict(server, B, { known: true, attributes: someAttributes() }), undefined);

  const unknown = filterConflict(server, B, { known: false, reason: "the hub does not know it" });
  equal(unknown?.rule, "filters-unverifiable");
  match(
    unknown?.message ?? "",
    /has filters \(country=NL hosting=deny\).*\(the hub does not know it\)/,
  );
});

Deno.test("filterConflict: pinned peers and unfiltered ports need no attributes", () => {
  const unknown = { known: false, reason: "no hub" } as const;
  const pinnedWithFilters = aServer({
    pinned: pinnedTo(A),
    fallbackToDiscovery: true,
    filters: { ...NO_FILTERS, country: "NL" },
  });
  equal(needsFilterCheck(pinnedWithFilters, A), false);
  equal(filterConflict(pinnedWithFilters, A, unknown), undefined, "pins are never filtered");
  equal(needsFilterCheck(pinnedWithFilters, B), true);
  equal(needsFilterCheck(aServer(), B), false);
  equal(filterConflict(aServer(), B, unknown), undefined);
  equal(needsFilterCheck(aServer({ filters: { ...NO_FILTERS, minBandwidthBps: 1 } }), B), true);
});
