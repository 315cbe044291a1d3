/**
 * Test fixtures: a real auth service on loopback with fresh keys, for the
 * tests of the service, the verifier and the auth-connect plugin.
 *
 * @module
 */
import type { ApiKeyRole } from "../core/config/auth_config.ts";
import { ApiKeyTable, generateApiKey, hashApiKey } from "./api_keys.ts";
import { AuthTokenService } from "./auth_service.ts";
import { type RunningAuthServer, startAuthServer } from "./server.ts";
import type { SigningKey, VerificationKey } from "../auth/keys.ts";
import { generateSigningKey } from "./signing_key.ts";

/** The network id the fixtures use. */
export const TEST_NETWORK_ID = "test-net";

/** The issuer the fixtures use. */
export const TEST_ISSUER = "p2proxy-auth-test";

/** A running service and the keys it accepts. */
export interface TestAuthService {
  readonly service: AuthTokenService;
  readonly server: RunningAuthServer;
  /** API keys by the role they allow. */
  readonly apiKeys: Readonly<Record<ApiKeyRole, string>>;
  readonly signingKey: SigningKey;
  /** Stops the listeners (idempotent). */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link startTestAuthService}. */
export interface TestAuthServiceOptions {
  readonly ttlSecs?: number;
  /** Port of the main listener (default 0: any free port). */
  readonly port?: number;
  /** Serve gRPC on a second port too. */
  readonly grpc?: boolean;
  readonly signingKey?: SigningKey;
  readonly previousKeys?: readonly VerificationKey[];
  readonly now?: () => number;
  /** Use these API keys instead of fresh ones (for a client created before the service). */
  readonly apiKeys?: Partial<Record<ApiKeyRole, string>>;
}

/** Starts an auth service on 127.0.0.1 with one API key per role. */
export async function startTestAuthService(
  options: TestAuthServiceOptions = {},
): Promise<TestAuthService> {
  const apiKeys = {
    proxy: options.apiKeys?.proxy ?? generateApiKey(),
    exit: options.apiKeys?.exit ?? generateApiKey(),
    both: options.apiKeys?.both ?? generateApiKey(),
  };
  const entries = await Promise.all(
    (Object.entries(apiKeys) as [ApiKeyRole, string][]).map(async ([role, key]) => ({
      name: `${role}-key`,
      hash: await hashApiKey(key),
      role,
    })),
  );
  const signingKey = options.signingKey ?? (await generateSigningKey()).key;
  const service = new AuthTokenService({
    networkId: TEST_NETWORK_ID,
    issuer: TEST_ISSUER,
    tokenTtlMs: (options.ttlSecs ?? 3600) * 1000,
    signingKey,
    previousKeys: options.previousKeys ?? [],
    apiKeys: new ApiKeyTable(entries),
  }, options.now ? { now: options.now } : {});
  const server = await startAuthServer({
    service,
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    ...(options.grpc ? { grpcPort: 0 } : {}),
  });
  let stopped: Promise<void> | undefined;
  const stop = () => stopped ??= server.shutdown();
  return { service, server, apiKeys, signingKey, stop, [Symbol.asyncDispose]: stop };
}

/** A TCP port that was free a moment ago (for a service that starts later). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
