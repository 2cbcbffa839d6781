// The HTTP(S) CD-ROM check's deadline holds for the whole answer: a server that sends a byte now
// and then, never idle long enough for a socket timeout, still fails the check in time.

import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import t from "tap";
import { checkRangeSupport } from "../src/host/media-checks.js";

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
