import assert from "node:assert/strict";
import { isInside } from "./_paths.ts";

Deno.test("isInside: the dir itself and anything below it, never above or beside it", () => {
  const inside: Array<[string, string]> = [
    ["/var/lib/p2proxy", "/var/lib/p2proxy"],
    ["/var/lib/p2proxy/", "/var/lib/p2proxy"],
    ["/var/lib/p2proxy/sticky.kv", "/var/lib/p2proxy"],
    ["/var/lib/p2proxy/a/../b.kv", "/var/lib/p2proxy/"],
    [".", "."],
    ["sticky.kv", "."],
    ["./state/x", "state"],
    ["../up/x", "../up"],
  ];
  for (const [path, dir] of inside) assert.equal(isInside(path, dir), true, `${path} in ${dir}`);
  const outside: Array<[string, string]> = [
    ["/var/lib", "/var/lib/p2proxy"],
    ["/var/lib/p2proxy-other", "/var/lib/p2proxy"],
    ["/var/lib/p2proxy/../x", "/var/lib/p2proxy"],
    ["/etc/passwd", "/var/lib/p2proxy"],
    ["../x", "."],
    ["state/../../x", "."],
    ["/abs", "."],
    ["rel", "/abs"],
    ["/../x", "/"],
  ];
  for (const [path, dir] of outside) assert.equal(isInside(path, dir), false, `${path} in ${dir}`);
});
