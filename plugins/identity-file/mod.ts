/**
 * `@p2proxy/identity-file`: the node's Ed25519 libp2p identity (docs/authentication.md#identity),
 * kept in `node_keypair.bin` in the state directory (libp2p protobuf encoding, the anchor's file).
 * Created with mode 0600 on first run; never silently replaced.
 *
 * Options: `file` (default `"node_keypair.bin"`), relative to the state
 * directory unless absolute. Permissions: read and write on the file's folder
 * (a new key is written to a temp file beside it, then linked into place).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { dirname, isAbsolute, join } from "node:path";
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { loadOrCreateIdentity } from "./file_identity.ts";

export { createIdentityFile, FileIdentity, loadOrCreateIdentity } from "./file_identity.ts";
export { IdentityError, type IdentityErrorCode } from "./identity_error.ts";

const logger = getLogger(["p2proxy", "identity-file"]);

/** The anchor's file name, so an existing state directory keeps its peer id. */
export const DEFAULT_IDENTITY_FILE = "node_keypair.bin";

/** Options of `@p2proxy/identity-file`. */
export const IdentityFileOptions = z.object({
  /** The key file, relative to the state directory unless absolute. */
  file: z.string().min(1).default(DEFAULT_IDENTITY_FILE),
}).strict();

/** `file` resolved against the state directory (no cwd lookup, so no extra permission). */
export function identityFilePath(stateDir: string, file: string): string {
  return isAbsolute(file) ? join(file) : join(stateDir, file);
}

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/identity-file",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The node's Ed25519 identity in node_keypair.bin (created with mode 0600).",
  provides: ["identity"],
  options: IdentityFileOptions,
  // `keypair_path` in the role's config.
  configure: (settings) =>
    "keypairPath" in settings.config ? { file: settings.config.keypairPath } : undefined,
  permissions: (options, ctx) => {
    const folder = dirname(identityFilePath(ctx.stateDir, options.file));
    return { read: [folder], write: [folder] };
  },
  create: async (options, ctx) => {
    const path = identityFilePath(ctx.stateDir, options.file);
    const { identity, created } = await loadOrCreateIdentity(path);
    if (!created) {
      logger.debug("Loaded node identity {peerId} from {path}.", { peerId: identity.peerId, path });
    }
    return { provides: { identity } };
  },
});

export default plugin;
