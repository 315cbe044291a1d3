/**
 * The token verifier hubs and exits share in the composition root: made from the role's `auth`
 * and started as a role service, so the role's `stop` ends it.
 *
 * @module
 */
import type { AuthSettings } from "../core/config/common.ts";
import type { Composition } from "../core/plugin/host.ts";
import { createNodeVerifier, type NodeVerifier } from "../auth/node_verifier.ts";

/**
 * The token verifier of a hub or an exit, started as the role's `token-verifier` service (so
 * `stop` ends it with the role); undefined when `auth` is off, after the warning that names
 * `what` is open to any peer.
 *
 * @example
 * ```ts
 * const verifier = await startTokenVerifier(composition, config.auth, "this exit");
 * const verdict = await verifier?.check(token, peer, "proxy");
 * ```
 */
export async function startTokenVerifier(
  composition: Composition,
  auth: AuthSettings | undefined,
  what: string,
): Promise<NodeVerifier | undefined> {
  const verifier = await createNodeVerifier(auth, what, {
    clock: composition.get("clock"),
    env: (name) => Deno.env.get(name),
  });
  if (!verifier) return undefined;
  return await composition.startService("token-verifier", async () => {
    await verifier.start();
    return verifier;
  });
}
