/**
 * The directory of a proxy that has no hub (`bootstrap` empty): every query
 * fails as `unavailable`, so only pinned exits with verbatim multiaddrs can
 * be reached — and a server that pins none can never route (see
 * {@link missingRoute}).
 *
 * @module
 */
import type { ExitSelectionSettings } from "../../core/domain/server.ts";
import type { Multiaddr, PeerId } from "../../core/ids.ts";
import {
  DirectoryError,
  type PeerDirectory,
  type PeerRecord,
} from "../../core/ports/peer_directory.ts";

/** A directory with no hub behind it. */
export class NullDirectory implements PeerDirectory {
  findNodes(): Promise<PeerRecord[]> {
    return Promise.reject(
      new DirectoryError("unavailable", "No hub is configured: set `bootstrap` to discover exits."),
    );
  }

  resolvePeers(_ids: readonly PeerId[]): Promise<Map<PeerId, Multiaddr[]>> {
    return Promise.reject(
      new DirectoryError("unavailable", "No hub is configured to resolve peers."),
    );
  }

  describePeers(_ids: readonly PeerId[]): Promise<Map<PeerId, PeerRecord>> {
    return Promise.reject(
      new DirectoryError("unavailable", "No hub is configured to describe peers."),
    );
  }
}

/**
 * Why `server` can never get an exit through `directory`, or undefined when
 * it can: a server that pins no exit needs a hub to discover one. The config
 * loader refuses such a server (`servers[i]`); this catches a library caller
 * that builds one by hand, so its clients are answered at once, with the
 * reason, instead of waiting out a discovery that cannot succeed.
 *
 * @example
 * ```ts
 * missingRoute({ port: 1080, pinned: [] } as ExitSelectionSettings, new NullDirectory());
 * // "Port 1080 can never reach an exit: …"
 * ```
 */
export function missingRoute(
  server: Pick<ExitSelectionSettings, "port" | "pinned">,
  directory: PeerDirectory,
): string | undefined {
  if (server.pinned.length > 0 || !(directory instanceof NullDirectory)) return undefined;
  return `Port ${server.port} can never reach an exit: its server pins none ` +
    "(`destination_peers`) and the proxy has no hub to find one (`bootstrap` is empty). Add a " +
    "hub to `bootstrap`, or `destination_peers` to this server.";
}
