/**
 * The auth service as a module for `deno serve` and serverless Deno platforms: its default
 * export is `{ fetch }`, the shape they take. It reads its signing key and API-key hashes from
 * environment variables (`p2proxy auth export-env -c Auth.yaml` prints them), opens no file and
 * no port of its own, and serves the Connect protocol and gRPC-web (real gRPC needs HTTP/2
 * trailers: `auth serve`'s `grpc_port` only). docs/authentication.md#serverless has the details.
 *
 * A missing or wrong variable fails the start, naming every such variable.
 *
 * @example Serve it on loopback with exactly the permissions it needs
 * ```sh
 * p2proxy auth export-env -c Auth.yaml > auth.env   # secrets: keep the file private
 * deno serve --env-file=auth.env --host 127.0.0.1 --port 8443 \
 *   --allow-env=P2PROXY_AUTH_SIGNING_KEY,P2PROXY_AUTH_API_KEYS,P2PROXY_AUTH_PREVIOUS_KEYS,P2PROXY_NETWORK_ID,P2PROXY_ISSUER,P2PROXY_TOKEN_TTL_SECS,P2PROXY_LOG_LEVEL,P2PROXY_LOG_FORMAT \
 *   --allow-net=127.0.0.1:8443 jsr:@p2proxy/p2proxy/auth-handler
 * ```
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { AUTH_HANDLER_ENV } from "../auth-service/env_settings.ts";
import { createAuthHandler } from "../compose/auth_handler.ts";
import { chooseLogFormat, configureLogging, initialLogLevel, readEnv } from "./logging.ts";

const logger = getLogger(["p2proxy", "auth"]);

await configureLogging(initialLogLevel(undefined, readEnv), chooseLogFormat(undefined, readEnv));
const handler = await createAuthHandler({
  env: Object.fromEntries(AUTH_HANDLER_ENV.map((name) => [name, readEnv(name)])),
});
await configureLogging(handler.config.logLevel);
for (const warning of handler.config.warnings) logger.warn("{path}: {message}", { ...warning });
logger.info(
  "Auth handler for network {network}: tokens signed by key {kid}, {count} API key(s) accepted.",
  {
    network: handler.config.networkId,
    kid: handler.service.settings.signingKey.kid,
    count: handler.config.apiKeys.length,
  },
);
if (handler.config.apiKeys.length === 0) {
  logger.warn(
    "P2PROXY_AUTH_API_KEYS lists no API keys, so every token request is refused: add a key " +
      '("p2proxy auth add-key"), export the values again ("p2proxy auth export-env") and redeploy.',
  );
}

/**
 * The auth service's fetch handler: `p2proxy.auth.v1.AuthService` (Connect and gRPC-web) and
 * `GET /healthz`.
 */
const authHandler: Deno.ServeDefaultExport = {
  fetch: (request, info) => handler.fetch(request, info),
};

export default authHandler;
