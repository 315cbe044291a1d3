/**
 * The IssueToken request's proof of identity: the bytes a node signs with
 * its libp2p Ed25519 key, shared by the client (auth-connect) and the
 * service so the two can never disagree.
 *
 * Layout (all lengths unsigned 32-bit big-endian, the timestamp signed
 * 64-bit big-endian):
 *
 * ```
 * "p2proxy-auth-v1/IssueToken" 0x00
 * len(api_key)    api_key (UTF-8)
 * len(public_key) public_key (libp2p protobuf encoding)
 * timestamp_ms
 * len(role)       role (UTF-8, "proxy" | "exit")
 * ```
 *
 * The context string keeps this signature from being valid for any other
 * use of the node key; the length prefixes keep two different requests from
 * producing the same bytes. A captured request can be replayed only within
 * the service's ±5 min window, and then yields a token bound to the
 * signer's peer id, which is useless without that peer's private key.
 *
 * @module
 */
import type { Identity } from "../core/ports/identity.ts";
import { ISSUE_TOKEN_SIGNATURE_CONTEXT } from "./constants.ts";
import type { TokenRole } from "./token.ts";

/** The signed fields of an IssueToken request. */
export interface IssueTokenFields {
  readonly apiKey: string;
  /** The node's libp2p public key, protobuf-encoded. */
  readonly publicKey: Uint8Array;
  readonly timestampMs: bigint;
  readonly role: string;
}

/** The fields of an IssueToken request, signed: what goes on the wire. */
export interface SignedIssueTokenRequest extends IssueTokenFields {
  readonly signature: Uint8Array;
}

const encoder = new TextEncoder();

/** The bytes the node signs for an IssueToken request (layout in the module doc). */
export function issueTokenSigningBytes(fields: IssueTokenFields): Uint8Array {
  const context = encoder.encode(`${ISSUE_TOKEN_SIGNATURE_CONTEXT}\u0000`);
  const apiKey = encoder.encode(fields.apiKey);
  const role = encoder.encode(fields.role);
  const size = context.length + 4 + apiKey.length + 4 + fields.publicKey.length + 8 + 4 +
    role.length;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let offset = 0;
  const put = (part: Uint8Array) => {
    bytes.set(part, offset);
    offset += part.length;
  };
  const putWithLength = (part: Uint8Array) => {
    view.setUint32(offset, part.length);
    offset += 4;
    put(part);
  };
  put(context);
  putWithLength(apiKey);
  putWithLength(fields.publicKey);
  view.setBigInt64(offset, fields.timestampMs);
  offset += 8;
  putWithLength(role);
  return bytes;
}

/** Builds and signs an IssueToken request with the node's identity. */
export async function signIssueTokenRequest(
  identity: Identity,
  request: { readonly apiKey: string; readonly role: TokenRole; readonly timestampMs: number },
): Promise<SignedIssueTokenRequest> {
  const fields: IssueTokenFields = {
    apiKey: request.apiKey,
    publicKey: identity.publicKey,
    timestampMs: BigInt(Math.trunc(request.timestampMs)),
    role: request.role,
  };
  return { ...fields, signature: await identity.sign(issueTokenSigningBytes(fields)) };
}
