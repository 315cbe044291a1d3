/**
 * How a hub or an exit checks the tokens peers present (docs/authentication.md#checking-a-token),
 * built from the role's `auth` section: `connect` verifies the auth service's signed tokens offline
 * (bound to the presenting peer id, the role and the network); `static` compares the pre-shared
 * token in constant time; no `auth` means auth is off — said loudly in the log, since anyone who
 * can reach the node may then use it.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { constantTimeEqualText } from "../core/constant_time.ts";
import type { AuthSettings } from "../core/config/common.ts";
import type { Clock } from "../core/ports/clock.ts";
import { createTokenVerifier, type ManagedTokenVerifier } from "./token_verifier.ts";
import type { TokenRole } from "./token.ts";

const logger = getLogger(["p2proxy", "auth"]);

/** The environment variable a static token may come from. */
export const STATIC_TOKEN_ENV = "P2PROXY_TOKEN";

/**
 * The outcome of a check: ok, or what the presenting peer must fix.
 * `denied` marks a genuine token that is not for this peer or role (a hub
 * answers PERMISSION_DENIED); any other failure means no usable token
 * (UNAUTHENTICATED).
 */
export type NodeTokenVerdict = { readonly ok: true } | {
  readonly ok: false;
  readonly message: string;
  readonly denied: boolean;
};

/** Checks tokens for one node. */
export interface NodeVerifier {
  /** Checks `token` presented by `peer` for one of `roles`. */
  check(
    token: string,
    peer: string,
    roles: TokenRole | readonly TokenRole[],
  ): Promise<NodeTokenVerdict>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The verifier for `auth`, or undefined when auth is off (after logging a
 * warning naming what that means for `what`, e.g. "this exit").
 */
export async function createNodeVerifier(
  auth: AuthSettings | undefined,
  what: string,
  options: { clock: Clock; env?: (name: string) => string | undefined },
): Promise<NodeVerifier | undefined> {
  if (!auth) {
    logger.warn(
      "AUTHENTICATION IS OFF: any peer that can reach {what} may use it. Set `auth` in the config " +
        "for anything but a loopback lab.",
      { what },
    );
    return undefined;
  }
  if (auth.provider === "static") return staticVerifier(auth, options.env);
  if (auth.provider !== "connect") {
    throw new TypeError(
      `Hubs and exits verify tokens of the "connect" or "static" providers; "${auth.provider}" has no verifier.`,
    );
  }
  const managed: ManagedTokenVerifier = await createTokenVerifier({
    networkId: auth.networkId,
    transport: auth.transport,
    ...(auth.publicKeys.length > 0 ? { publicKeys: auth.publicKeys } : {}),
    ...(auth.url ? { url: auth.url } : {}),
    ...(auth.caCert ? { caCert: auth.caCert } : {}),
    clock: options.clock,
  });
  return {
    async check(token, peer, roles) {
      const verdict = await managed.verifier.verify(token, { peerId: peer, role: roles });
      if (verdict.ok) return { ok: true };
      const denied = verdict.code === "wrong-peer" || verdict.code === "wrong-role";
      return { ok: false, message: verdict.message, denied };
    },
    start: () => managed.start(),
    stop: () => managed.stop(),
  };
}

function staticVerifier(
  auth: AuthSettings,
  env: ((name: string) => string | undefined) | undefined,
): NodeVerifier {
  const expected = auth.token ?? env?.(STATIC_TOKEN_ENV)?.trim();
  if (!expected) {
    throw new TypeError(
      `\`auth.provider: static\` needs the shared token: set \`auth.token\` or ${STATIC_TOKEN_ENV}.`,
    );
  }
  return {
    check(token) {
      return Promise.resolve(
        constantTimeEqualText(token, expected) ? { ok: true } : {
          ok: false,
          denied: false,
          message: token === ""
            ? "No token was presented: set `auth` (provider static, the network's token) in the proxy's config."
            : "The token does not match this network's shared token: check `auth.token` / P2PROXY_TOKEN.",
        },
      );
    },
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
  };
}
