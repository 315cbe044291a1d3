/**
 * The directory of a proxy that has no hub (`bootstrap` empty): every query
 * fails as `unavailable`, so only pinned exits with verbatim multiaddrs can
 * be reached — and a server that pins none can never route (its clients are
 * answered at once; the directory says why in `unavailable`).
 *
 * @module
 */
import type { Multiaddr, PeerId } from "../../core/ids.ts";
import {
  DirectoryError,
  type PeerDirectory,
  type PeerRecord,
} from "../../core/ports/peer_directory.ts";

/** A directory with no hub behind it. */
export class NullDirectory implements PeerDirectory {
  /** Why it never answers: a port that pins no exit can never route (see the proxy's `missingRoute`). */
  readonly unavailable = "No hub is configured: set `bootstrap` to discover exits.";

  findNodes(): Promise<PeerRecord[]> {
    return Promise.reject(
      new DirectoryError("unavailable", this.unavailable),
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
