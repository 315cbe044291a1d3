/**
 * The dialer's half of multistream-select, pipelined ("lazy select", as go-libp2p does it):
 * the header and the protocol go out with the stream's first write instead of waiting a round
 * trip for the listener's confirmation, and the confirmation is read off the front of what the
 * listener sends back. The listener is plain libp2p: it answers a lazy dialer exactly as it
 * answers any other. A protocol it does not serve comes back as `na`, which fails the first read
 * with `StreamError` `unsupported-protocol`.
 *
 * Wire format (multistream-select 1.0): each message is an unsigned varint length, then that
 * many bytes ending in `\n`.
 *
 * @module
 */
import { StreamError } from "../../core/ports/stream_opener.ts";

/** The multistream-select protocol id, the first message both sides send. */
export const MULTISTREAM_ID = "/multistream/1.0.0";

/** Longest message a listener may answer with (js-libp2p's and go-libp2p's limit). */
export const MAX_SELECT_MESSAGE_BYTES = 1024;

/** Varint bytes that can encode {@link MAX_SELECT_MESSAGE_BYTES} + 1. */
const MAX_LENGTH_BYTES = 2;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * What a lazy dialer sends first: the multistream header and `protocol`, each length-prefixed.
 *
 * @example
 * ```ts
 * lazySelectRequest("/p2proxy/connect/1.0.0").byteLength; // 1 + 19 + 1 + 23
 * ```
 */
export function lazySelectRequest(protocol: string): Uint8Array {
  const messages = [MULTISTREAM_ID, protocol].map((text) => encoder.encode(`${text}\n`));
  const parts = messages.flatMap((message) => {
    if (message.byteLength > MAX_SELECT_MESSAGE_BYTES) {
      throw new RangeError(
        `Protocol "${protocol}" is longer than multistream-select allows (${MAX_SELECT_MESSAGE_BYTES} bytes).`,
      );
    }
    return [encodeLength(message.byteLength), message];
  });
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/**
 * Reads the listener's answer to a {@link lazySelectRequest} off the front of the stream: the
 * header echoed, then the protocol echoed (or `na`). Bounded: it holds at most two messages of
 * {@link MAX_SELECT_MESSAGE_BYTES}.
 *
 * @example
 * ```ts
 * const reply = new LazySelectReply("/echo/1.0.0");
 * reply.push(answerBytes); // the bytes after the answer once complete, undefined before
 * ```
 */
export class LazySelectReply {
  readonly #protocol: string;
  #buffered: Uint8Array = new Uint8Array(0);
  #headerSeen = false;

  /** A reader of the answer to a lazy select of `protocol`. */
  constructor(protocol: string) {
    this.#protocol = protocol;
  }

  /**
   * Takes the next bytes from the listener. Resolves nothing (undefined) while the answer is
   * incomplete; once it is complete, the bytes that followed it (possibly empty). Throws a
   * `StreamError`: `unsupported-protocol` for `na`, `io` for anything malformed.
   */
  push(chunk: Uint8Array): Uint8Array | undefined {
    let bytes = this.#buffered.byteLength === 0 ? chunk : concat(this.#buffered, chunk);
    while (true) {
      const message = nextMessage(bytes);
      if (message === undefined) {
        this.#buffered = bytes.slice();
        return undefined;
      }
      bytes = bytes.subarray(message.end);
      if (!this.#headerSeen) {
        if (message.text !== MULTISTREAM_ID) {
          throw malformed(`expected "${MULTISTREAM_ID}", got ${JSON.stringify(message.text)}`);
        }
        this.#headerSeen = true;
        continue;
      }
      if (message.text === this.#protocol) {
        this.#buffered = new Uint8Array(0);
        return bytes;
      }
      if (message.text === "na") {
        throw new StreamError(
          "unsupported-protocol",
          `The peer does not speak ${this.#protocol}.`,
        );
      }
      throw malformed(`expected "${this.#protocol}" or "na", got ${JSON.stringify(message.text)}`);
    }
  }
}

/** One complete message at the start of `bytes`, or undefined when more bytes are needed. */
function nextMessage(bytes: Uint8Array): { text: string; end: number } | undefined {
  let length = 0;
  let shift = 0;
  let index = 0;
  while (true) {
    if (index >= bytes.byteLength) return undefined;
    if (index >= MAX_LENGTH_BYTES) throw malformed("a message length longer than 2 bytes");
    const byte = bytes[index++]!;
    length |= (byte & 0x7f) << shift;
    shift += 7;
    if ((byte & 0x80) === 0) break;
  }
  if (length === 0 || length > MAX_SELECT_MESSAGE_BYTES) {
    throw malformed(`a message of ${length} bytes (1..${MAX_SELECT_MESSAGE_BYTES} allowed)`);
  }
  const end = index + length;
  if (bytes.byteLength < end) return undefined;
  if (bytes[end - 1] !== 0x0a) throw malformed("a message without its final newline");
  return { text: decoder.decode(bytes.subarray(index, end - 1)), end };
}

function encodeLength(length: number): Uint8Array {
  return length < 0x80 ? Uint8Array.of(length) : Uint8Array.of((length & 0x7f) | 0x80, length >> 7);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

function malformed(what: string): StreamError {
  return new StreamError("io", `The peer's protocol negotiation is malformed: ${what}.`);
}
