/**
 * Reading a registration back from storage written by any version: a shape
 * check, so that a bad entry is skipped instead of reaching the hub's
 * matcher. Shared by the Deno KV and Redis registries.
 *
 * @module
 */
import { asMultiaddr, asPeerId } from "../../core/ids.ts";
import type { ExitAttributes } from "../../core/domain/attributes.ts";
import type { ExitRegistration, RelaySlot } from "../../core/ports/registry_store.ts";
import {
  LOCATED_FIELDS,
  type LocationCheck,
  type ReplacedValue,
} from "../../core/domain/verified_location.ts";

/** A parsed record, or why the value is not one. */
export type ParsedRegistration =
  | { readonly ok: true; readonly value: ExitRegistration }
  | { readonly ok: false; readonly problem: string };

type Fields = Record<string, unknown>;

const TEXT_FIELDS = ["country", "city", "region", "isp"] as const;
const FLAG_FIELDS = ["proxy", "mobile", "hosting"] as const;
const TIME_FIELDS = ["registeredAt", "lastSeenAt", "expiresAt"] as const;

/** The registration `value` holds, copied, or the first problem with it. */
export function parseRegistration(value: unknown): ParsedRegistration {
  if (!isFields(value)) return bad("it is not an object");
  if (typeof value.peerId !== "string" || value.peerId === "") return bad("peerId is missing");
  const attributes = parseAttributes(value.attributes);
  if (typeof attributes === "string") return bad(attributes);
  if (!isStringList(value.addresses)) return bad("addresses is not a list of strings");
  if (!isStringList(value.relayRoutes)) return bad("relayRoutes is not a list of strings");
  if (typeof value.relayed !== "boolean") return bad("relayed is not a boolean");
  for (const field of TIME_FIELDS) {
    if (!Number.isFinite(value[field])) return bad(`${field} is not a time`);
  }
  const relaySlots = parseRelaySlots(value.relaySlots);
  if (typeof relaySlots === "string") return bad(relaySlots);
  const location = parseLocation(value.location);
  if (typeof location === "string") return bad(location);
  return {
    ok: true,
    value: {
      peerId: asPeerId(value.peerId),
      attributes,
      addresses: value.addresses.map(asMultiaddr),
      relayed: value.relayed,
      relayRoutes: value.relayRoutes.map(asMultiaddr),
      registeredAt: value.registeredAt as number,
      lastSeenAt: value.lastSeenAt as number,
      expiresAt: value.expiresAt as number,
      ...(relaySlots ? { relaySlots } : {}),
      ...(location ? { location } : {}),
    },
  };
}

/** Where the hub located the exit (absent without a geolocation database), or the problem. */
function parseLocation(value: unknown): LocationCheck | undefined | string {
  if (value === undefined) return undefined;
  if (!isFields(value) || typeof value.observedIp !== "string") {
    return "location has no observedIp";
  }
  if (typeof value.verified !== "boolean") return "location.verified is not a boolean";
  if (!Array.isArray(value.replaced)) return "location.replaced is not a list";
  const replaced: ReplacedValue[] = [];
  for (const item of value.replaced) {
    const scalar = (v: unknown) => typeof v === "string" || typeof v === "number";
    if (
      !isFields(item) || !(LOCATED_FIELDS as readonly unknown[]).includes(item.field) ||
      !scalar(item.declared) || !scalar(item.located)
    ) {
      return "location.replaced holds an entry that is not a replaced value";
    }
    replaced.push({
      field: item.field as ReplacedValue["field"],
      declared: item.declared as string | number,
      located: item.located as string | number,
    });
  }
  return { observedIp: value.observedIp, verified: value.verified, replaced };
}

/** The relay slots of a record (absent in records of older versions), or the problem. */
function parseRelaySlots(value: unknown): RelaySlot[] | undefined | string {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return "relaySlots is not a list";
  const slots: RelaySlot[] = [];
  for (const slot of value) {
    if (!isFields(slot) || typeof slot.hub !== "string" || !isStringList(slot.routes)) {
      return "relaySlots holds an entry without a hub and routes";
    }
    if (!Number.isFinite(slot.seenAt)) return "relaySlots holds an entry without seenAt";
    slots.push({
      hub: asPeerId(slot.hub),
      routes: slot.routes.map(asMultiaddr),
      seenAt: slot.seenAt as number,
    });
  }
  return slots;
}

function parseAttributes(value: unknown): ExitAttributes | string {
  if (!isFields(value)) return "attributes is not an object";
  if (!Number.isFinite(value.bandwidthBps)) return "attributes.bandwidthBps is not a number";
  const out: Record<string, unknown> = { bandwidthBps: value.bandwidthBps };
  for (const flag of FLAG_FIELDS) {
    if (typeof value[flag] !== "boolean") return `attributes.${flag} is not a boolean`;
    out[flag] = value[flag];
  }
  for (const field of TEXT_FIELDS) {
    if (value[field] === undefined) continue;
    if (typeof value[field] !== "string") return `attributes.${field} is not a string`;
    out[field] = value[field];
  }
  if (value.asn !== undefined) {
    if (!Number.isInteger(value.asn)) return "attributes.asn is not a whole number";
    out.asn = value.asn;
  }
  return out as unknown as ExitAttributes;
}

function isFields(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

function bad(problem: string): ParsedRegistration {
  return { ok: false, problem };
}
