/**
 * The auth service (`p2proxy auth serve`, docs/authentication.md): API keys, the token-issuing
 * logic, its Connect / gRPC-web / gRPC server, the signing key file, and the runner that builds
 * it all from a config. The protocol pieces its clients share are in auth/.
 *
 * @module
 */
export {
  ApiKeyTable,
  constantTimeEqual,
  generateApiKey,
  hashApiKey,
  MAX_API_KEY_CHARS,
  roleAllows,
} from "./api_keys.ts";
export { type AuthServiceSettings, AuthTokenService } from "./auth_service.ts";
export {
  type AuthFetchHandler,
  authFetchHandler,
  HEALTH_PATH,
  type RequestInfo,
} from "./fetch_handler.ts";
export { type AuthServerOptions, type RunningAuthServer, startAuthServer } from "./server.ts";
export {
  loadServiceSettings,
  readTlsFiles,
  startAuthServiceFromConfig,
  type StartedAuthService,
  statePath,
} from "./service_runner.ts";
export {
  generateSigningKey,
  loadOrCreateSigningKey,
  loadVerificationKeyFile,
} from "./signing_key.ts";
