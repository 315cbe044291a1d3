/**
 * The token format (docs/authentication.md#tokens): a JWT (RFC 7519) in JWS compact form, signed
 * EdDSA with Ed25519 (RFC 8037) by the auth service's key, `kid` in the
 * header.
 *
 * Claims: `sub` the peer id the token was issued to, `role` (`proxy` or
 * `exit`), `net` the network id, `iss`, `iat` and `exp` in seconds, and a
 * random `jti` (so two tokens issued in the same second differ, and logs
 * can name one token).
 *
 * Why a JWT: a standard format any language can verify offline with the
 * published public key, produced and checked by `jose`, a maintained
 * dependency-free library made for web-interoperable runtimes like Deno.
 * The usual JWT pitfalls are closed by construction: verifiers accept only
 * `EdDSA` (no `none`, no algorithm confusion) and only keys from the
 * service's own key set. PASETO v4.public would serve as well; on npm,
 * `paseto` 4.x (by jose's author, web-runtime compatible) and `paseto-ts`
 * exist, but neither is a project dependency, and JWTs are readable by
 * every language's JWT library (the anchor's Rust side included).
 *
 * @example
 * ```ts
 * const token = await signToken(key, { sub, role: "proxy", net: "acme", iss: "p2proxy-auth", iat, exp, jti });
 * ```
 *
 * @module
 */
import { base64url, SignJWT } from "jose";
import { z } from "zod";
import { TOKEN_ALGORITHM, TOKEN_TYPE } from "./constants.ts";
import type { SigningKey } from "./keys.ts";

/** The roles a token can be issued for. */
export const TOKEN_ROLES = ["proxy", "exit"] as const;

/** A role a token can be issued for. */
export type TokenRole = typeof TOKEN_ROLES[number];

/** True for `proxy` and `exit`. */
export function isTokenRole(value: unknown): value is TokenRole {
  return value === "proxy" || value === "exit";
}

/** The claims of a p2proxy token. */
export interface TokenClaims {
  /** The libp2p peer id the token was issued to; only that peer may present it. */
  readonly sub: string;
  readonly role: TokenRole;
  /** The network id of the issuing service. */
  readonly net: string;
  readonly iss: string;
  /** Issued at, seconds since the Unix epoch. */
  readonly iat: number;
  /** Expires at, seconds since the Unix epoch. */
  readonly exp: number;
  /** A random id of this token. */
  readonly jti: string;
}

/** The claims' schema, as verifiers read them (extra claims are ignored). */
export const tokenClaimsSchema: z.ZodType<TokenClaims> = z.object({
  sub: z.string().min(1).max(128),
  role: z.enum(TOKEN_ROLES),
  net: z.string().min(1).max(128),
  iss: z.string().min(1).max(256),
  iat: z.number().int().nonnegative(),
  exp: z.number().int().nonnegative(),
  jti: z.string().min(1).max(128),
});

/** A random token id: 128 bits, base64url. */
export function newTokenId(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(16)));
}

/** Signs `claims` with `key` into a compact JWS. */
export async function signToken(key: SigningKey, claims: TokenClaims): Promise<string> {
  return await new SignJWT({ role: claims.role, net: claims.net })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: TOKEN_TYPE, kid: key.kid })
    .setSubject(claims.sub)
    .setIssuer(claims.iss)
    .setIssuedAt(claims.iat)
    .setExpirationTime(claims.exp)
    .setJti(claims.jti)
    .sign(key.privateKey);
}

/**
 * Reads a token's claims WITHOUT checking its signature: for a client to
 * learn its own token's lifetime, never to trust a token (use the
 * TokenVerifier for that). Undefined when the token is not shaped like one.
 */
export function readUnverifiedClaims(token: string): TokenClaims | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const json: unknown = JSON.parse(new TextDecoder().decode(base64url.decode(payload)));
    const parsed = tokenClaimsSchema.safeParse(json);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
