/**
 * Outgoing TCP connections of an exit: `Deno.connect` by default, `node:net`
 * when a local `bind_address` must be set (Deno.connect cannot bind), and the
 * mapping of connect failures to SOCKS reply codes (docs/proxy-behaviour.md#reply-codes).
 *
 * @module
 */
import { connect as nodeConnect, type Socket } from "node:net";
import { SOCKS_REPLY } from "../core/codec/socks5.ts";
import { P2proxyError } from "../core/errors.ts";
import { hostPort } from "../core/host_port.ts";
import { fromNodeSocket, type TcpConn } from "../wire/tcp_conn.ts";

/** A connected socket and the local end it left from. */
export interface DialedTcp {
  readonly conn: TcpConn;
  readonly localHost: string;
  readonly localPort: number;
}

/** A failed destination connect, with the SOCKS reply code it maps to. */
export class TcpDialError extends P2proxyError<"refused" | "unreachable" | "timeout" | "failed"> {
  readonly replyCode: number;

  constructor(
    code: TcpDialError["code"],
    replyCode: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.replyCode = replyCode;
  }
}

/** Connects to `address:port` (an IP literal that already passed the egress policy). */
export async function dialTcp(
  address: string,
  port: number,
  options: { bindAddress?: string; timeoutMs: number },
): Promise<DialedTcp> {
  try {
    return options.bindAddress
      ? await dialWithNode(address, port, options.bindAddress, options.timeoutMs)
      : await dialWithDeno(address, port, options.timeoutMs);
  } catch (error) {
    throw classifyDialError(error, hostPort(address, port), options.timeoutMs);
  }
}

async function dialWithDeno(address: string, port: number, timeoutMs: number): Promise<DialedTcp> {
  // Cleared once connected: AbortSignal.timeout would stay armed for the whole connect timeout.
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new DOMException("connect timed out", "TimeoutError")),
    timeoutMs,
  );
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: address, port, signal: deadline.signal });
  } finally {
    clearTimeout(timer);
  }
  conn.setNoDelay(true);
  const local = conn.localAddr as Deno.NetAddr;
  return { conn, localHost: local.hostname, localPort: local.port };
}

function dialWithNode(
  address: string,
  port: number,
  bindAddress: string,
  timeoutMs: number,
): Promise<DialedTcp> {
  return new Promise((resolve, reject) => {
    const socket: Socket = nodeConnect({
      host: address,
      port,
      localAddress: bindAddress,
      noDelay: true,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error("connect timed out"), { code: "ETIMEDOUT" }));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve({
        conn: fromNodeSocket(socket),
        localHost: socket.localAddress ?? bindAddress,
        localPort: socket.localPort ?? 0,
      });
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Maps an OS/Deno/node connect error to a typed error with its SOCKS reply code. */
export function classifyDialError(error: unknown, target: string, timeoutMs: number): TcpDialError {
  if (error instanceof TcpDialError) return error;
  const code = (error as { code?: string })?.code ?? "";
  const name = (error as { name?: string })?.name ?? "";
  const text = error instanceof Error ? error.message : String(error);
  if (name === "ConnectionRefused" || code === "ECONNREFUSED") {
    return new TcpDialError(
      "refused",
      SOCKS_REPLY.connectionRefused,
      `${target} refused the connection.`,
      {
        cause: error,
      },
    );
  }
  if (name === "TimeoutError" || name === "TimedOut" || code === "ETIMEDOUT") {
    return new TcpDialError(
      "timeout",
      SOCKS_REPLY.ttlExpired,
      `${target} did not answer within ${timeoutMs} ms.`,
      {
        cause: error,
      },
    );
  }
  if (
    name === "NetworkUnreachable" || code === "ENETUNREACH" || /network is unreachable/i.test(text)
  ) {
    return new TcpDialError(
      "unreachable",
      SOCKS_REPLY.networkUnreachable,
      `The network of ${target} is unreachable.`,
      {
        cause: error,
      },
    );
  }
  if (code === "EHOSTUNREACH" || /host is unreachable|no route to host/i.test(text)) {
    return new TcpDialError(
      "unreachable",
      SOCKS_REPLY.hostUnreachable,
      `${target} is unreachable.`,
      { cause: error },
    );
  }
  return new TcpDialError(
    "failed",
    SOCKS_REPLY.generalFailure,
    `Cannot connect to ${target}: ${text}`,
    {
      cause: error,
    },
  );
}
