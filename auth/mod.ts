/**
 * Authentication (docs/authentication.md): the auth service (`p2proxy auth serve`), its
 * token format, the offline verifier hubs and exits use, and the client the
 * `@p2proxy/auth-connect` plugin is built on.
 *
 * @example Verify a proxy's token at an exit
 * ```ts
 * import { RemoteKeySet, TokenVerifier } from "./mod.ts";
 *
 * const keys = new RemoteKeySet({ url: "http://127.0.0.1:8443" });
 * await keys.start();
 * const verifier = new TokenVerifier({ keys, networkId: "acme" });
 * const verifyToken = verifier.checkerFor("proxy"); // (token, peerId) => verdict
 * ```
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
} from "../auth-service/api_keys.ts";
export {
  type AuthServiceSettings,
  AuthTokenService,
  type IssuedToken,
  PUBLIC_KEY_ALGORITHM,
  type PublishedKey,
} from "../auth-service/auth_service.ts";
export {
  AUTH_TRANSPORTS,
  type AuthClientOptions,
  AuthServiceClient,
  type AuthTransportKind,
  describeRpcFailure,
  type RpcFailure,
  type RpcFailureKind,
} from "./client.ts";
export * from "./constants.ts";
export {
  type IssueTokenFields,
  issueTokenSigningBytes,
  type SignedIssueTokenRequest,
  signIssueTokenRequest,
} from "./issue_request.ts";
export {
  type AuthServerOptions,
  HEALTH_PATH,
  type RunningAuthServer,
  startAuthServer,
} from "../auth-service/server.ts";
export {
  loadServiceSettings,
  readTlsFiles,
  startAuthServiceFromConfig,
  type StartedAuthService,
  statePath,
  TlsFileError,
} from "../auth-service/service_runner.ts";
export {
  AuthKeyError,
  type AuthKeyErrorCode,
  ED25519_PUBLIC_KEY_BYTES,
  generateSigningKey,
  keyIdOf,
  loadOrCreateSigningKey,
  loadVerificationKeyFile,
  type SigningKey,
  signingKeyFromPem,
  type VerificationKey,
  verificationKeyFromPem,
  verificationKeyFromRaw,
  verificationKeyFromText,
} from "../auth-service/signing_key.ts";
export {
  isTokenRole,
  newTokenId,
  readUnverifiedClaims,
  signToken,
  TOKEN_ROLES,
  type TokenClaims,
  tokenClaimsSchema,
  type TokenRole,
} from "./token.ts";
export {
  createTokenVerifier,
  type ManagedTokenVerifier,
  RemoteKeySet,
  type RemoteKeySetOptions,
  StaticKeySet,
  type TokenExpectation,
  type TokenRejectCode,
  type TokenVerdict,
  TokenVerifier,
  type TokenVerifierOptions,
  type TokenVerifierSettings,
  type VerificationKeySource,
} from "./token_verifier.ts";
