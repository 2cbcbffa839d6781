import { createReadStream, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Test } from "tap";

/**
 * A read-only HTTP file server on 127.0.0.1 that honours Range requests, as QEMU's curl driver
 * requires (python's http.server does not). `ranges: false` imitates a server without them.
 */
export async function serveFile(t: Test, file: string, opts: { ranges?: boolean } = {}): Promise<string> {
  const ranges = opts.ranges ?? true;
  const server: Server = createServer((req, res) => {
    const size = statSync(file).size;
    const headers: Record<string, string | number> = { "Content-Type": "application/octet-stream" };
    if (ranges) headers["Accept-Ranges"] = "bytes";
    const m = ranges ? /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "") : null;
    if (m) {
      const start = Number(m[1]);
      const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      res.writeHead(206, { ...headers, "Content-Range": `bytes ${start}-${end}/${size}`, "Content-Length": end - start + 1 });
      if (req.method === "HEAD") res.end();
      else createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { ...headers, "Content-Length": size });
    if (req.method === "HEAD") res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  server.unref();
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}/image.iso`;
}
