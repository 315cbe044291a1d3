/**
 * What each role asks of the plugin host: the capabilities it cannot run
 * without, and those it uses when configured.
 *
 * @module
 */
import type { CapabilityName, Role } from "../core/plugin/contract.ts";

/** Capabilities a role needs (`needs`) and uses when a plugin provides them (`wants`). */
export interface RoleCapabilities {
  readonly needs: readonly CapabilityName[];
  readonly wants: readonly CapabilityName[];
}

const ROLE_CAPABILITIES: Readonly<Record<Role, RoleCapabilities>> = {
  proxy: {
    needs: ["clock", "identity", "sticky-store", "network"],
    wants: ["event-sink", "http-routes"],
  },
  exit: { needs: ["clock", "identity", "network", "resolver"], wants: ["event-sink"] },
  hub: { needs: ["clock", "identity", "network", "registry-store"], wants: ["event-sink"] },
  auth: { needs: ["clock"], wants: ["event-sink"] },
  demo: { needs: ["clock", "resolver"], wants: ["event-sink", "http-routes"] },
  tool: { needs: [], wants: [] },
};

/** The capabilities of a role. */
export function capabilitiesOf(role: Role): RoleCapabilities {
  return ROLE_CAPABILITIES[role];
}
