/**
 * What each role asks of the plugin host: the capabilities it cannot run
 * without, and those it uses when configured.
 *
 * @module
 */
import type { CapabilityName, Role } from "../core/plugin/contract.ts";

/**
 * Capabilities a role needs (`needs`), uses when a plugin provides them (`wants`), and uses only
 * when its config asks for them (`optIn`).
 */
export interface RoleCapabilities {
  /** What the role cannot run without. */
  readonly needs: readonly CapabilityName[];
  /** What it uses when some plugin provides it. */
  readonly wants: readonly CapabilityName[];
  /**
   * What it uses only when the config chooses a provider (`providers: { <capability>: … }`) or
   * gives options to a plugin that provides it (`plugins: { <name>: … }`). A built-in provider
   * alone does not turn it on: the hub keeps declared exit locations unless a geolocation
   * database is configured.
   */
  readonly optIn?: readonly CapabilityName[];
}

const ROLE_CAPABILITIES: Readonly<Record<Role, RoleCapabilities>> = {
  proxy: {
    needs: [
      "clock",
      "identity",
      "sticky-store",
      "network",
      "dialer",
      "stream-opener",
      "peer-directory",
      "inbound",
    ],
    wants: ["event-sink", "http-routes", "operator-console", "quota-store"],
  },
  exit: {
    needs: ["clock", "identity", "network", "resolver"],
    wants: ["event-sink", "operator-console"],
  },
  hub: {
    needs: ["clock", "identity", "network", "registry-store"],
    wants: ["event-sink", "operator-console"],
    optIn: ["geoip"],
  },
  auth: { needs: ["clock"], wants: [] },
  demo: { needs: ["clock", "resolver"], wants: ["event-sink", "http-routes", "operator-console"] },
  tool: { needs: [], wants: [] },
};

/** The capabilities of a role. */
export function capabilitiesOf(role: Role): RoleCapabilities {
  return ROLE_CAPABILITIES[role];
}
