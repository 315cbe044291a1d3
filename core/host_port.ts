/**
 * `host:port` text as URLs, logs and Deno's net permissions spell it: an IPv6
 * literal goes in brackets.
 *
 * @module
 */

/** `host:port`, or `[host]:port` for an IPv6 literal. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** The `host:port` of every ip4, ip6 or dns multiaddr with a TCP port (others are skipped). */
export function multiaddrHostPorts(addresses: readonly string[]): string[] {
  const pairs: string[] = [];
  for (const address of addresses) {
    const match = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d+)/.exec(address);
    if (match) pairs.push(hostPort(match[2]!, Number(match[3])));
  }
  return pairs;
}
