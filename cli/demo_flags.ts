/**
 * The demo's flags and what they make of its settings, shared by `demo` and `permissions demo`
 * so that the printed line and the demo agree.
 *
 * @module
 */
import { DEFAULT_BIND_ADDRESS } from "../core/config/common.ts";
import {
  DEMO_DEFAULT_METRICS_PORT,
  DEMO_DEFAULT_SOCKS_PORT,
  DEMO_DEFAULT_WHOAMI_PORT,
  type DemoConfig,
} from "../core/config/demo_config.ts";

export { DEMO_DEFAULT_METRICS_PORT, DEMO_DEFAULT_SOCKS_PORT, DEMO_DEFAULT_WHOAMI_PORT };

/**
 * Chooses the demo's resolver plugin (a name or built-in short name, e.g.
 * `resolver-static`); unset, the built-in default (the system resolver).
 * Tests set it so the demo's exits never send a DNS query off the machine.
 */
export const DEMO_RESOLVER_ENV = "P2PROXY_DEMO_RESOLVER";

/** The variable that sets the demo admin API's bearer token (as `admin_token` does on a proxy). */
export const DEMO_ADMIN_TOKEN_ENV = "P2PROXY_ADMIN_TOKEN";

/** The demo's flags as commander parses them (absent: the defaults). */
export interface DemoFlags {
  readonly port?: string;
  readonly whoamiPort?: string;
  readonly metricsPort?: string;
  /** `--admin-port`: the admin API on 127.0.0.1 (0, the default: none). */
  readonly adminPort?: string;
  /** False with `--no-ui`. */
  readonly ui?: boolean;
  /** Where to write the options `createClient` needs to reach the demo (JSON). */
  readonly clientConfig?: string;
}

/**
 * The demo's settings from its flags, {@link DEMO_RESOLVER_ENV} and {@link DEMO_ADMIN_TOKEN_ENV}:
 * metrics on `--metrics-port` (0 = off), the admin API on `--admin-port` (0 = off), on loopback.
 *
 * @example
 * ```ts
 * demoConfigOf({ port: "1090" }).socksPort; // 1090
 * ```
 */
export function demoConfigOf(flags: DemoFlags): DemoConfig {
  const resolver = readOptionalEnv(DEMO_RESOLVER_ENV);
  const adminToken = readOptionalEnv(DEMO_ADMIN_TOKEN_ENV);
  return {
    socksPort: Number(flags.port ?? DEMO_DEFAULT_SOCKS_PORT),
    whoamiPort: Number(flags.whoamiPort ?? DEMO_DEFAULT_WHOAMI_PORT),
    metricsPort: Number(flags.metricsPort ?? DEMO_DEFAULT_METRICS_PORT),
    metricsBind: DEFAULT_BIND_ADDRESS,
    adminPort: Number(flags.adminPort ?? 0),
    ...(adminToken ? { adminToken } : {}),
    providers: resolver ? { resolver } : {},
  };
}

function readOptionalEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    // Not allowed to read it (the printed permissions name P2PROXY_* only): as if unset.
    return undefined;
  }
}
