/**
 * nginx as the bench's destination when it is installed (apt `nginx-light`): a C server that
 * sends a file with sendfile costs almost nothing, so the proxies, not the destination, are what
 * is measured. Without it the bench's own Deno server (`servers.ts`) serves the same paths.
 *
 * The files it serves: `bulk-<n>.bin` (n bytes of a repeated 256 KiB pattern, for curl) and
 * `pattern-<n>.bin` (`patternBytes(n)`, for the byte-exact concurrent downloads).
 *
 * @module
 */
import { freePort, waitForPort } from "../cluster.ts";
import type { Children } from "./children.ts";
import { patternBytes } from "./pattern.ts";
import { which } from "./shadowsocks.ts";

/** A running nginx. */
export interface Nginx {
  readonly port: number;
  readonly pid: number;
}

/** Where nginx lives (often /usr/sbin, which is not on every PATH). */
export async function nginxPath(): Promise<string | undefined> {
  return await which("nginx") ??
    (await Deno.stat("/usr/sbin/nginx").then(() => "/usr/sbin/nginx", () => undefined));
}

/** Writes the files the bench downloads into `root`. */
export async function writeBenchFiles(
  root: string,
  bulkBytes: number,
  patternSizes: readonly number[],
): Promise<void> {
  const file = await Deno.open(`${root}/bulk-${bulkBytes}.bin`, { write: true, create: true });
  try {
    const chunk = patternBytes(256 * 1024);
    for (let written = 0; written < bulkBytes; written += chunk.byteLength) {
      const slice = chunk.subarray(0, Math.min(chunk.byteLength, bulkBytes - written));
      for (let offset = 0; offset < slice.byteLength;) {
        offset += await file.write(slice.subarray(offset));
      }
    }
  } finally {
    file.close();
  }
  for (const size of patternSizes) {
    await Deno.writeFile(`${root}/pattern-${size}.bin`, patternBytes(size));
  }
}

/** Starts nginx on 127.0.0.1 serving `root`, with its temp files under `workDir`. */
export async function startNginx(
  children: Children,
  binary: string,
  workDir: string,
  root: string,
): Promise<Nginx> {
  const port = freePort();
  await Deno.mkdir(`${workDir}/logs`, { recursive: true });
  const config = `${workDir}/nginx.conf`;
  await Deno.writeTextFile(
    config,
    `daemon off;
master_process off;
worker_processes 1;
error_log ${workDir}/logs/error.log warn;
pid ${workDir}/nginx.pid;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 0;
  client_body_temp_path ${workDir}/body;
  proxy_temp_path ${workDir}/proxy;
  fastcgi_temp_path ${workDir}/fastcgi;
  uwsgi_temp_path ${workDir}/uwsgi;
  scgi_temp_path ${workDir}/scgi;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${root};
  }
}
`,
  );
  const child = new Deno.Command(binary, {
    args: ["-c", config, "-p", workDir],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  children.adoptProcess(child, "nginx");
  (async () => {
    for await (const _ of child.stderr) { /* drained */ }
  })().catch(() => {});
  await waitForPort(port, 10_000);
  return { port, pid: child.pid };
}
