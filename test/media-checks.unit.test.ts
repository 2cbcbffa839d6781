// The HTTP(S) CD-ROM check's deadline holds for the whole answer: a server that sends a byte now
// and then, never idle long enough for a socket timeout, still fails the check in time.

import { writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { join } from "node:path";
import t from "tap";
import { checkCurlModule, checkRangeSupport } from "../src/host/media-checks.js";
import { tempDir } from "./helpers/tmp.js";

t.test("a server that trickles its answer a byte at a time: the check gives up at its deadline", async (t) => {
  const sockets = new Set<import("node:net").Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    const answer = "HTTP/1.1 206 Partial Content\r\nContent-Length: 1\r\n\r\nx";
    let at = 0;
    const tick = setInterval(() => {
      if (sock.destroyed || at >= answer.length) return clearInterval(tick);
      sock.write(answer[at++] ?? "");
    }, 100);
    sock.on("close", () => clearInterval(tick));
    sock.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const started = Date.now();
  await t.rejects(checkRangeSupport(`http://127.0.0.1:${port}/slow.iso`, 1000), {
    code: "URL_UNREACHABLE",
    message: /within 1 s/,
  });
  const took = Date.now() - started;
  t.ok(took >= 900 && took < 3000, `gave up after ${took} ms, at its 1 s deadline (the answer would take 5 s)`);
});

t.test("the server's answer: 206 passes, 200 (no Range) and 404 are refused, each with its own words", async (t) => {
  const { createServer: http } = await import("node:http");
  const server = http((req, res) => {
    const code = Number(req.url?.slice(1));
    res.writeHead(code).end("x");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  await t.resolves(checkRangeSupport(`http://127.0.0.1:${port}/206`));
  await t.rejects(checkRangeSupport(`http://127.0.0.1:${port}/200`), { code: "RANGE_UNSUPPORTED" });
  await t.rejects(checkRangeSupport(`http://127.0.0.1:${port}/404`), { code: "URL_UNREACHABLE", message: /HTTP 404/ });
});

t.test("QEMU's curl block module: refused where the module directory lacks it, fine where it has it or has none", async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, "block-iscsi.so"), "");
  t.throws(() => checkCurlModule(dir), { code: "QEMU_MODULE_MISSING", message: /qemu-block-extra/ });
  writeFileSync(join(dir, "block-curl.so"), "");
  t.doesNotThrow(() => checkCurlModule(dir));
  t.doesNotThrow(() => checkCurlModule(join(dir, "none")), "no module directory: curl built in, or not at all");
});
