import { httpRoutesCompliance } from "../../core/testing/compliance/http_routes.ts";
import { plugin } from "./mod.ts";

/** A port that was free a moment ago (port 0 switches the plugin's endpoint off). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** The plugin as the host creates and starts it: a real endpoint on 127.0.0.1. */
async function startedEndpoint() {
  const instance = await plugin.create(plugin.options.parse({ port: freePort() }), {
    stateDir: ".",
    role: "proxy",
    get: () => {
      throw new Error("metrics-prometheus requires nothing");
    },
    find: () => undefined,
  });
  await instance.start?.();
  return {
    routes: instance.provides["http-routes"],
    send: (request: Request) => fetch(request),
    cleanup: () => instance.stop?.(),
  };
}

Deno.test("metrics-prometheus's endpoint passes the http-routes compliance suite", (t) =>
  httpRoutesCompliance(t, startedEndpoint));
