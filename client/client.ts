/**
 * The client: a proxy without doors (compose/client_role.ts), driven from code. Each `connect()`
 * asks the session router for a confirmed stream to an exit chosen by the call's selection (the
 * client's default filters, the call's own, its session id); `fetch()` speaks HTTP over such
 * connections; `close()` ends every connection, timer and plugin.
 *
 * @module
 */
import { applyFilterOverrides, type ClientConfig } from "../core/config/client_config.ts";
import type { FilterOverrides } from "../core/config/client_config.ts";
import { selectionKey } from "../core/domain/fingerprint.ts";
import type { ExitSelection } from "../core/domain/server.ts";
import type { PeerId } from "../core/ids.ts";
import type { ClientRole } from "../compose/client_role.ts";
import { ClientError, errorOfOutcome } from "./client_error.ts";
import { ExitHttp } from "./http.ts";
import { ExitSocket, type OpenedStream, type P2proxySocket } from "./socket.ts";

/** How long a lookup of an exit's country may take before `opened` resolves without it. */
const EXIT_LOOKUP_TIMEOUT_MS = 5_000;
/** Exits whose country is remembered (an exit's attributes rarely change). */
const MAX_REMEMBERED_EXITS = 1_024;
/** Longest destination host name (DNS's limit, and the connect protocol's). */
const MAX_HOSTNAME_CHARS = 255;
/** Longest session id. */
const MAX_SESSION_CHARS = 256;

/** The destination of a connection. */
export interface SocketAddress {
  /** A host name (resolved at the exit) or an IP literal. */
  readonly hostname: string;
  /** The TCP port, 1..65535. */
  readonly port: number;
}

/** How one connection chooses its exit: filters that replace the client's, and a session id. */
export interface ExitChoice extends FilterOverrides {
  /**
   * Every connection with this id (and these filters) leaves through the same exit while the id
   * is in use (the client's `sessionIdleSecs`); other ids may get other exits.
   */
  readonly session?: string;
}

/** Options of one `connect()`. */
export interface ConnectOptions extends ExitChoice {
  /** Aborts the connect (`opened` rejects with code `aborted`); no effect once opened. */
  readonly signal?: AbortSignal;
}

/** `fetch()`'s init: the standard one, plus how to choose the exit. */
export interface ClientRequestInit extends RequestInit, ExitChoice {}

/** A client of a p2proxy network: connections and HTTP requests through its exits. */
export interface P2proxyClient {
  /** This client's peer id (a new one per run unless `keypairPath` is set). */
  readonly peerId: string;
  /**
   * A TCP connection to `address` through an exit. Returns at once; `opened` resolves once the
   * exit has connected to the destination, or rejects with a {@link ClientError}.
   */
  connect(address: SocketAddress, options?: ConnectOptions): P2proxySocket;
  /**
   * An HTTP request through an exit: `fetch` semantics (redirects, streamed bodies), a standard
   * `Response`. `https://` is TLS from this client to the destination.
   */
  fetch(input: string | URL | Request, init?: ClientRequestInit): Promise<Response>;
  /** Ends every connection and pooled HTTP connection, then the node; a script may end after it. */
  close(): Promise<void>;
}

/** The running client. */
export class ExitClient implements P2proxyClient {
  readonly #role: ClientRole;
  readonly #config: ClientConfig;
  readonly #http: ExitHttp;
  readonly #sockets = new Set<ExitSocket>();
  readonly #countries = new Map<PeerId, string | undefined>();
  readonly #stopping = new AbortController();
  #sequence = 0;
  #closing: Promise<void> | undefined;

  /** A client over a started role. */
  constructor(role: ClientRole, config: ClientConfig) {
    this.#role = role;
    this.#config = config;
    this.#http = new ExitHttp(config.caCerts);
  }

  /** This client's peer id. */
  get peerId(): string {
    return this.#role.network.peerId;
  }

  /** A connection through an exit (see {@link P2proxyClient.connect}). */
  connect(address: SocketAddress, options: ConnectOptions = {}): P2proxySocket {
    const choice = this.#selectionOf(options);
    return this.#openSocket(address, choice, options.signal);
  }

  /** An HTTP request through an exit (see {@link P2proxyClient.fetch}). */
  fetch(input: string | URL | Request, init: ClientRequestInit = {}): Promise<Response> {
    const { country, city, asn, isp, session, ...requestInit } = init;
    const choice = this.#selectionOf({ country, city, asn, isp, session });
    if (!choice.ok) return Promise.reject(choice.error);
    if (this.#closing) return Promise.reject(closedClientError());
    return this.#http.fetch(
      input,
      requestInit,
      selectionKey(choice.selection),
      (hostname, port) => this.#openSocket({ hostname, port }, choice),
    );
  }

  /** Closes every socket and agent, then stops the node; resolves once all is done. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopping.abort(closedClientError());
      await this.#http.close();
      await Promise.all([...this.#sockets].map((socket) => socket.close()));
      await this.#role.stop();
    })();
    return this.#closing;
  }

  #openSocket(
    address: SocketAddress,
    choice: SelectionChoice,
    signal?: AbortSignal,
  ): P2proxySocket {
    let peer: PeerId | undefined;
    const socket: ExitSocket = new ExitSocket(
      async (cancel) => {
        if (!choice.ok) throw choice.error;
        const opened = await this.#open(address, choice.selection, cancel, signal);
        peer = opened.info.exit.peerId as PeerId;
        return opened;
      },
      (direction, bytes) => {
        if (peer) this.#role.router.countBytes?.(peer, direction, bytes);
      },
      () => this.#sockets.delete(socket),
    );
    this.#sockets.add(socket);
    return socket;
  }

  async #open(
    address: SocketAddress,
    selection: ExitSelection,
    cancel: AbortSignal,
    callerSignal: AbortSignal | undefined,
  ): Promise<OpenedStream> {
    if (this.#closing) throw closedClientError();
    const { host, port, target } = checkAddress(address);
    const deadline = AbortSignal.timeout(this.#config.connectTimeoutMs);
    const signals = [cancel, deadline, this.#stopping.signal];
    if (callerSignal) signals.push(callerSignal);
    const outcome = await this.#role.router.open({
      port: 0,
      host,
      targetPort: port,
      sessionId: `client-${++this.#sequence}`,
      signal: AbortSignal.any(signals),
      selection,
    });
    if (!outcome.ok) {
      if (callerSignal?.aborted) {
        throw new ClientError("aborted", `The connect to ${target} was aborted.`, {
          cause: callerSignal.reason,
        });
      }
      if (cancel.aborted || this.#stopping.signal.aborted) {
        throw cancel.reason ?? closedClientError();
      }
      if (deadline.aborted) {
        throw new ClientError(
          "timeout",
          `No connection to ${target} within ${this.#config.connectTimeoutMs} ms ` +
            "(`connectTimeoutSecs`).",
        );
      }
      throw errorOfOutcome(outcome, target);
    }
    const country = await this.#countryOf(outcome.peerId, selection);
    return {
      stream: outcome.stream,
      info: {
        remoteAddress: target,
        exit: { peerId: outcome.peerId, ...(country === undefined ? {} : { country }) },
      },
    };
  }

  /** The selection of a call: the client's filters with the call's applied, and its session. */
  #selectionOf(choice: ExitChoice): SelectionChoice {
    const applied = applyFilterOverrides(this.#config.filters, choice);
    if (!applied.ok) {
      return {
        ok: false,
        error: new ClientError("invalid", `Bad exit filters: ${applied.message}`),
      };
    }
    const session = choice.session;
    if (session !== undefined && !isSessionId(session)) {
      return {
        ok: false,
        error: new ClientError(
          "invalid",
          `Bad session id ${JSON.stringify(session.slice(0, 40))}: use 1 to ${MAX_SESSION_CHARS} ` +
            "printable characters.",
        ),
      };
    }
    return {
      ok: true,
      selection: { filters: applied.filters, ...(session === undefined ? {} : { session }) },
    };
  }

  /** Where `peer` is: the selection's country when it has one, else what the hub says. */
  async #countryOf(peer: PeerId, selection: ExitSelection): Promise<string | undefined> {
    if (selection.filters.country !== undefined) return selection.filters.country;
    if (this.#countries.has(peer)) return this.#countries.get(peer);
    try {
      const records = await this.#role.directory.describePeers(
        [peer],
        AbortSignal.any([AbortSignal.timeout(EXIT_LOOKUP_TIMEOUT_MS), this.#stopping.signal]),
      );
      const country = records.get(peer)?.attributes?.country;
      if (this.#countries.size >= MAX_REMEMBERED_EXITS) this.#countries.clear();
      this.#countries.set(peer, country);
      return country;
    } catch {
      // The country is a courtesy: the connection is open either way.
      return undefined;
    }
  }
}

/** A call's selection, or why it has none. */
type SelectionChoice =
  | { readonly ok: true; readonly selection: ExitSelection }
  | { readonly ok: false; readonly error: ClientError };

/** The destination as the connect protocol takes it, or a ClientError `invalid`. */
function checkAddress(address: SocketAddress): { host: string; port: number; target: string } {
  const raw = typeof address?.hostname === "string" ? address.hostname.trim() : "";
  const host = raw.replace(/^\[(.*)\]$/, "$1");
  const port = address?.port;
  if (
    host === "" || host.length > MAX_HOSTNAME_CHARS || /[\s/]/.test(host) ||
    hasControlCharacter(host)
  ) {
    throw new ClientError(
      "invalid",
      `Bad host name ${JSON.stringify(String(address?.hostname).slice(0, 80))}: give a name or ` +
        `an IP address of at most ${MAX_HOSTNAME_CHARS} characters, without spaces or slashes.`,
    );
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ClientError("invalid", `Bad port ${String(port)}: give a whole number 1..65535.`);
  }
  const target = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return { host, port, target };
}

function isSessionId(session: string): boolean {
  return session.length >= 1 && session.length <= MAX_SESSION_CHARS &&
    !hasControlCharacter(session);
}

/** True when `text` has a C0 control character or DEL. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function closedClientError(): ClientError {
  return new ClientError("closed", "The client is closed: create another with createClient().");
}
