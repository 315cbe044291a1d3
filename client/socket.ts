/**
 * One connection through an exit, in the shape serverless runtimes give outbound TCP sockets
 * (`readable`, `writable`, `opened`, `closed`, `close()`), over the router's confirmed stream.
 * Backpressure holds both ways: the readable pulls one chunk from the stream per read, and a
 * write resolves once the stream accepted the chunk.
 *
 * @module
 */
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import { ClientError } from "./client_error.ts";

/** The exit a socket leaves through. */
export interface ExitInfo {
  /** The exit's peer id. */
  readonly peerId: string;
  /** Where the exit says it is (ISO 3166 alpha-2), when the hub told us. */
  readonly country?: string;
}

/** What `opened` resolves with once the exit has connected to the destination. */
export interface SocketInfo {
  /** The destination, `host:port`, as asked. */
  readonly remoteAddress: string;
  /** The exit carrying the connection. */
  readonly exit: ExitInfo;
}

/** A TCP connection through an exit. */
export interface P2proxySocket {
  /** Bytes from the destination; ends when it closes its side. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the destination; closing it half-closes the connection (reading goes on). */
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves once the exit connected to the destination; rejects with a {@link ClientError}. */
  readonly opened: Promise<SocketInfo>;
  /** Resolves once both directions ended or `close()` was called; rejects on a failure. */
  readonly closed: Promise<void>;
  /** Closes both directions at once (unread bytes are dropped); resolves once closed. */
  close(): Promise<void>;
}

/** What opening the socket produced: the confirmed stream and whom it leads to. */
export interface OpenedStream {
  /** The stream to the exit, its destination connection confirmed. */
  readonly stream: DuplexStream;
  /** What `opened` resolves with. */
  readonly info: SocketInfo;
}

/** Called with each chunk's size and direction (`up`: to the destination). */
export type ByteCounter = (direction: "up" | "down", bytes: number) => void;

/**
 * A socket whose stream comes from `open` (given a signal that aborts when the socket is closed
 * first). `onEnd` runs once when the socket is done, however it ended.
 */
export class ExitSocket implements P2proxySocket {
  /** Bytes from the destination. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the destination. */
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves once the exit connected. */
  readonly opened: Promise<SocketInfo>;
  /** Resolves once the socket is done. */
  readonly closed: Promise<void>;
  readonly #closed = Promise.withResolvers<void>();
  readonly #cancelOpen = new AbortController();
  readonly #onEnd: () => void;
  #stream: DuplexStream | undefined;
  #readDone = false;
  #writeDone = false;
  #ended = false;

  /** Opens at once; the streams wait for `opened`. */
  constructor(
    open: (signal: AbortSignal) => Promise<OpenedStream>,
    count: ByteCounter,
    onEnd: () => void,
  ) {
    this.#onEnd = onEnd;
    this.opened = open(this.#cancelOpen.signal).then(({ stream, info }) => {
      this.#stream = stream;
      if (this.#ended) stream.abort();
      return info;
    });
    this.closed = this.#closed.promise;
    // Neither promise may surface as an unhandled rejection when a caller awaits only the other.
    this.opened.catch((error) => this.#end(error));
    this.closed.catch(() => {});
    this.readable = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const stream = await this.#ready();
        let chunk: Uint8Array | null;
        try {
          chunk = await stream.read();
        } catch (error) {
          if (this.#ended) return controller.close();
          this.#end(error);
          throw error;
        }
        if (chunk === null) {
          controller.close();
          this.#readDone = true;
          if (this.#writeDone) this.#end();
          return;
        }
        count("down", chunk.byteLength);
        controller.enqueue(chunk);
      },
      cancel: () => {
        this.#readDone = true;
        // Nobody reads any more: a destination still sending would be held up for nothing.
        if (this.#writeDone) this.#end();
        else this.#stream?.abort();
      },
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        const stream = await this.#ready();
        if (this.#ended) throw closedError();
        await stream.write(chunk);
        count("up", chunk.byteLength);
      },
      close: async () => {
        const stream = await this.#ready();
        await stream.closeWrite();
        this.#writeDone = true;
        if (this.#readDone) this.#end();
      },
      abort: (reason) => {
        this.#stream?.abort(reason instanceof Error ? reason : undefined);
        this.#end(reason);
      },
    });
  }

  /** Closes both directions; a connect still on its way is abandoned (`opened` rejects). */
  close(): Promise<void> {
    if (!this.#ended) {
      this.#cancelOpen.abort(closedError());
      this.#stream?.abort();
      this.#end();
    }
    return this.closed.catch(() => {});
  }

  /** The stream, once opened; rejects as `opened` did. */
  async #ready(): Promise<DuplexStream> {
    await this.opened;
    if (!this.#stream) throw closedError();
    return this.#stream;
  }

  /** Settles `closed` once (with `error`, if any) and tells the owner. */
  #end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    if (error === undefined) this.#closed.resolve();
    else this.#closed.reject(error);
    this.#onEnd();
  }
}

function closedError(): ClientError {
  return new ClientError("closed", "The socket was closed.");
}
