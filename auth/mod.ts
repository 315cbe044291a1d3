/**
 * The authentication protocol (docs/authentication.md), shared by the auth service and its
 * users: the token format and keys, the signed IssueToken request, the offline verifiers hubs and
 * exits use, and the client the `@p2proxy/auth-connect` plugin is built on. The service itself is
 * in auth-service/.
 *
 * @example Verify a proxy's token at an exit
 * ```ts
 * import { RemoteKeySet, TokenVerifier } from "./mod.ts";
 *
 * const keys = new RemoteKeySet({ url: "http://127.0.0.1:8443", clock });
 * await keys.start();
 * const verifier = new TokenVerifier({ keys, networkId: "acme" });
 * const verifyToken = verifier.checkerFor("proxy"); // (token, peerId) => verdict
 * ```
 *
 * @module
 */
export {
  AUTH_TRANSPORTS,
  type AuthClientOptions,
  AuthServiceClient,
  type AuthTransportKind,
  describeRpcFailure,
  type IssuedToken,
  type PublishedKey,
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
  AuthKeyError,
  type AuthKeyErrorCode,
  ED25519_PUBLIC_KEY_BYTES,
  keyIdOf,
  type SigningKey,
  signingKeyFromPem,
  type VerificationKey,
  verificationKeyFromPem,
  verificationKeyFromRaw,
  verificationKeyFromText,
} from "./keys.ts";
export {
  createNodeVerifier,
  type NodeTokenVerdict,
  type NodeVerifier,
  STATIC_TOKEN_ENV,
} from "./node_verifier.ts";
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
