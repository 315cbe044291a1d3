/**
 * p2proxy's configuration: schemas and loaders for the proxy, exit and hub
 * roles and the auth service (docs/config-reference.md). Pure: the CLI reads the file and the
 * environment and passes their contents in.
 *
 * @example
 * ```ts
 * import { ConfigError, loadProxyConfig } from "./mod.ts";
 *
 * try {
 *   const config = loadProxyConfig(text, { source: "Config.yaml", env, overrides: { log_level: "debug" } });
 * } catch (error) {
 *   if (error instanceof ConfigError) console.error(error.message); // every problem, one per line
 * }
 * ```
 *
 * @module
 */
export { DEFAULT_UDP_LIMITS, type UdpLimits } from "./udp_config.ts";
export {
  ConfigError,
  type ConfigErrorCode,
  type ConfigProblem,
  formatPath,
  formatProblems,
  type PathSegment,
} from "./problems.ts";
export {
  type ConfigNotes,
  ENV_PREFIX,
  type EnvBinding,
  type EnvKind,
  flagOf,
  type LoadOptions,
} from "./loader.ts";
export {
  type AuthSettings,
  type CommonConfig,
  DEFAULT_BIND_ADDRESS,
  DEFAULT_KEYPAIR_PATH,
  DEFAULT_LOG_LEVEL,
  DEFAULT_STATE_DIR,
  LOG_LEVELS,
  type LogLevel,
  type PluginOptions,
  QUIC_MODES,
  type QuicMode,
  type TlsMode,
} from "./common.ts";
export {
  applyFilterOverrides,
  CLIENT_DEFAULT_CONNECT_TIMEOUT_SECS,
  CLIENT_DEFAULT_MAX_SESSIONS,
  CLIENT_DEFAULT_SESSION_IDLE_SECS,
  CLIENT_DEFAULT_TRANSPORT,
  type ClientConfig,
  type FilterOverrides,
  loadClientConfig,
} from "./client_config.ts";
export {
  DEFAULT_HANDSHAKE_TIMEOUT_SECS,
  DEFAULT_IDLE_TIMEOUT_SECS,
  DEFAULT_MIN_BANDWIDTH,
  DEFAULT_OPEN_TIMEOUT_SECS,
  DEFAULT_POOL_MAX_TOTAL,
  loadProxyConfig,
  PROXY_DEFAULT_LISTEN_ADDRS,
  PROXY_DEFAULT_METRICS_PORT,
  PROXY_ENV,
  type ProxyConfig,
  SERVER_PROTOCOLS,
  type ServerConfig,
  type ServerProtocol,
  type UserCredentials,
} from "./proxy_config.ts";
export {
  DEFAULT_CONNECT_TIMEOUT_SECS,
  DEFAULT_EXIT_BANDWIDTH,
  DEFAULT_HEARTBEAT_SECS,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_MAX_SESSIONS_PER_PEER,
  type EgressSettings,
  EXIT_DEFAULT_LISTEN_ADDRS,
  EXIT_DEFAULT_METRICS_PORT,
  EXIT_ENV,
  type ExitConfig,
  type ExitLimits,
  loadExitConfig,
  type RelayMode,
} from "./exit_config.ts";
export type { AccountLimits, PortLimits, ShareLimits } from "./limits_config.ts";
export type { Quota, QuotaPeriod } from "../domain/quota.ts";
export {
  DEFAULT_MAX_RESERVATIONS,
  DEFAULT_MISSED_HEARTBEATS,
  DEFAULT_RELAY_DATA_LIMIT_BYTES,
  DEFAULT_RELAY_DURATION_LIMIT_SECS,
  HUB_DEFAULT_LISTEN_ADDRS,
  HUB_DEFAULT_METRICS_PORT,
  HUB_ENV,
  type HubConfig,
  type HubRelayLimits,
  loadHubConfig,
  MAX_FIND_NODES,
} from "./hub_config.ts";
export {
  API_KEY_HASH_PATTERN,
  API_KEY_HASH_SCHEME,
  API_KEY_PREFIX,
  type ApiKeyEntry,
  type ApiKeyRole,
  AUTH_DEFAULT_LISTEN,
  AUTH_ENV,
  type AuthServiceConfig,
  DEFAULT_ISSUER,
  DEFAULT_NETWORK_ID,
  DEFAULT_SIGNING_KEY_FILE,
  DEFAULT_TOKEN_TTL_SECS,
  type ListenAddress,
  loadAuthConfig,
  parseListenSocket,
  type TlsFiles,
} from "./auth_config.ts";
export { closestMatch, didYouMean, editDistance } from "./did_you_mean.ts";
export {
  CONFIG_FILE_ROLES,
  type ConfigFileRole,
  type DecidedRole,
  decisionNote,
  inferRole,
  type RoleInference,
  roleNamedBy,
  type UndecidedRole,
  undecidedRoleMessage,
} from "./role_inference.ts";
export { type KeyFit } from "./loader.ts";
export {
  DEMO_DEFAULT_METRICS_PORT,
  DEMO_DEFAULT_SOCKS_PORT,
  DEMO_DEFAULT_WHOAMI_PORT,
  type DemoConfig,
} from "./demo_config.ts";
