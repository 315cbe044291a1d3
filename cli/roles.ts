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
  proxy: { needs: ["clock", "identity", "sticky-store"], wants: [] },
  exit: { needs: ["clock", "identity"], wants: [] },
  hub: { needs: ["clock", "identity"], wants: [] },
  auth: { needs: ["clock"], wants: [] },
  demo: { needs: ["clock", "identity", "sticky-store"], wants: [] },
  tool: { needs: [], wants: [] },
};

/** The capabilities of a role. */
export function capabilitiesOf(role: Role): RoleCapabilities {
  return ROLE_CAPABILITIES[role];
}
