/**
 * The client library (docs/client.md): TCP connections and HTTP requests through a p2proxy
 * network's exits from code — a serverless function, an edge worker, a scraper — without running
 * a proxy or binding any port. It is the proxy role without doors, built by the same composition
 * root as `p2proxy proxy`: the hubs find exits, the discovery actor keeps one per selection, the
 * exit connects, and the bytes flow over an encrypted libp2p stream.
 *
 * Runs under `--allow-net --allow-env` (plus read access to files named in the options).
 *
 * @example Ten lines: bytes through `connect()`, a page through `fetch()`
 * ```ts
 * import { createClient } from "@p2proxy/p2proxy/client";
 *
 * const client = await createClient({ bootstrap: ["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…"] });
 * const socket = client.connect({ hostname: "example.com", port: 80 }, { country: "NL" });
 * console.log((await socket.opened).exit); // { peerId: "12D3KooW…", country: "NL" }
 * const writer = socket.writable.getWriter();
 * await writer.write(new TextEncoder().encode("HEAD / HTTP/1.0\r\nHost: example.com\r\n\r\n"));
 * for await (const chunk of socket.readable) console.log(new TextDecoder().decode(chunk));
 * console.log(await (await client.fetch("https://example.com/", { country: "DE" })).text());
 * await client.close();
 * ```
 *
 * @module
 */
import { startClient } from "../compose/client_role.ts";
import type { ComposeOptions } from "../compose/role.ts";
import { loadClientConfig } from "../core/config/client_config.ts";
import { ExitClient, type P2proxyClient } from "./client.ts";

export { ClientError, type ClientErrorCode } from "./client_error.ts";
export type {
  ClientRequestInit,
  ConnectOptions,
  ExitChoice,
  P2proxyClient,
  SocketAddress,
} from "./client.ts";
export type { ExitInfo, P2proxySocket, SocketInfo } from "./socket.ts";
export type { FilterOverrides } from "../core/config/client_config.ts";
export { ConfigError } from "../core/config/problems.ts";

/** Exit filters every call of a client starts from (a call's own replace them key by key). */
export interface ClientExitFilters {
  /** ISO 3166 alpha-2 or alpha-3 code, or an English name (`"NL"`, `"Netherlands"`). */
  readonly country?: string;
  /** A city, or `City; Region; Country`. */
  readonly city?: string;
  /** A regular expression over the exit's ISP name. */
  readonly isp?: string;
  /** The exit's AS number, `1136` or `"AS1136"`. */
  readonly asn?: number | string;
  /** Least advertised bandwidth, e.g. `"50Mbps"` (the default, as for a proxy's servers). */
  readonly minBandwidth?: string;
  /** Exits flagged as proxy/VPN addresses: `allow` (default), `deny` or `require`. */
  readonly proxy?: "allow" | "deny" | "require";
  /** Exits on mobile networks: `allow` (default), `deny` or `require`. */
  readonly mobile?: "allow" | "deny" | "require";
  /** Exits at hosting providers: `allow` (default), `deny` or `require`. */
  readonly hosting?: "allow" | "deny" | "require";
}

/**
 * What `createClient` takes: plain JSON, so a file (`p2proxy demo --client-config FILE` writes
 * one) can hold it. Only `bootstrap` is required.
 */
export interface ClientOptions {
  /** Hub multiaddrs, each ending in `/p2p/<hub id>`. */
  readonly bootstrap: string | readonly string[];
  /** A pre-shared token (networks whose nodes use `auth: { provider: static }`). */
  readonly token?: string;
  /** The auth service: tokens fetched with an API key and refreshed before they expire. */
  readonly auth?: {
    /** The service's base URL, e.g. `https://auth.example.net`. */
    readonly url: string;
    /** An API key of role proxy; absent: `P2PROXY_API_KEY` is read. */
    readonly apiKey?: string;
    /** `connect` (default), `grpc-web` or `grpc`. */
    readonly transport?: "connect" | "grpc-web" | "grpc";
    /** The network id tokens name (default `p2proxy`). */
    readonly networkId?: string;
    /** A PEM file of a CA to trust for `url`. */
    readonly caCert?: string;
  };
  /** An identity key file (read; created when missing); absent: a new identity in memory. */
  readonly keypairPath?: string;
  /** Default exit filters. */
  readonly exit?: ClientExitFilters;
  /** The network plugin that carries the streams (default `network-libp2p`). */
  readonly transport?: string;
  /** Deadline of `connect()` until the exit connected, in seconds (default 60). */
  readonly connectTimeoutSecs?: number;
  /** Deadline of opening one stream to an exit, in seconds (default 20). */
  readonly openTimeoutSecs?: number;
  /** A session id (or filter set) unused this long ends, in seconds (default 600). */
  readonly sessionIdleSecs?: number;
  /** Most session ids and filter sets kept at once (default 1024). */
  readonly maxSessions?: number;
  /** PEM roots `fetch()` trusts for `https://` instead of the built-in ones (a test or private CA). */
  readonly caCerts?: readonly string[];
}

/**
 * Starts a client: validates `options` (a {@link ConfigError} lists every problem), composes the
 * node (dial-only) and its plugins, and returns once it can open connections. Exits are found
 * when a connection first asks for them.
 *
 * @example
 * ```ts
 * const client = await createClient(JSON.parse(await Deno.readTextFile("client.json")));
 * const response = await client.fetch("http://example.com/", { country: "DE", session: "s1" });
 * await client.close();
 * ```
 */
export async function createClient(
  options: ClientOptions,
  compose: ComposeOptions = {},
): Promise<P2proxyClient> {
  const config = loadClientConfig(options);
  const role = await startClient(config, compose);
  return new ExitClient(role, config);
}
