// The HTTP(S) CD-ROM check's deadline holds for the whole answer: a server that sends a byte now
// and then, never idle long enough for a socket timeout, still fails the check in time.

import { mkdirSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { join } from "node:path";
import t from "tap";
import { checkBlockModules, checkCurlModule, checkRangeSupport, missingBlockModules } from "../src/host/media-checks.js";
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

t.test("block drivers QEMU loads as modules: each node's driver against the module directory QEMU reads", async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, "block-curl.so"), "");
  writeFileSync(join(dir, "block-rbd.so"), "");
  const gluster = { name: "disk-0123abcd-0000-4000", drivers: ["raw", "gluster"] };
  const local = { name: "disk-1", drivers: ["raw", "host_device"] };
  t.same(missingBlockModules(["curl", "rbd"], dir), undefined, "both there");
  t.same(missingBlockModules(["gluster", "curl", "gluster"], dir), { dir, missing: ["gluster"] });
  t.equal(missingBlockModules(["gluster"], join(dir, "none"), {}), undefined, "no module directory: nothing to say");
  t.doesNotThrow(() => checkBlockModules("web1", [local, { name: "cdrom1", drivers: ["raw", "https"] }], dir), "curl is there");
  t.throws(() => checkBlockModules("web1", [local, gluster], dir), {
    code: "QEMU_MODULE_MISSING",
    message: `instance web1: disk-0123abcd-0000-4000 needs QEMU's gluster driver, and this node's QEMU has no block-gluster.so in ${dir}: a QEMU without it (Debian's 11.1 has none) reaches GlusterFS disks only through their FUSE mount: set access=kernelspace for them (gnt-cluster modify -D gluster:access=kernelspace)`,
  });
  t.throws(() => checkBlockModules("web1", [{ name: "disk-2", drivers: ["raw", "iscsi"] }], dir), {
    message: /no block-iscsi\.so in .*: install it \(Debian: apt-get install qemu-block-extra\)$/,
  });
  // QEMU reads QEMU_MODULE_DIR first: so does the check, where no flag names a directory.
  t.throws(() => checkBlockModules("web1", [gluster], undefined, { QEMU_MODULE_DIR: dir }), { code: "QEMU_MODULE_MISSING" });
  writeFileSync(join(dir, "block-gluster.so"), "");
  t.doesNotThrow(() => checkBlockModules("web1", [gluster], undefined, { QEMU_MODULE_DIR: dir }));
  const empty = join(dir, "empty");
  mkdirSync(empty);
  t.doesNotThrow(() => checkBlockModules("web1", [gluster], empty), "no module at all: a QEMU built without modules decides");
});
