import { PluginError } from "../errors.js";
import { builtin } from "./builtin.js";

/**
 * Checks for HTTP(S) CD-ROMs that QEMU would otherwise report only at start, and cryptically:
 * its curl block module must be installed, and the server must honour Range requests.
 */

/** Where Linux distributions put QEMU's loadable modules (CONFIG_QEMU_MODDIR). */
const MODULE_DIRS = ["/usr/lib/x86_64-linux-gnu/qemu", "/usr/lib64/qemu", "/usr/lib/qemu"];

export function checkCurlModule(moduleDir?: string): void {
  const { existsSync, readdirSync } = builtin<typeof import("node:fs")>("node:fs");
  for (const dir of moduleDir ? [moduleDir] : MODULE_DIRS) {
    if (!existsSync(dir)) continue;
    const modules = readdirSync(dir).filter((f) => f.endsWith(".so"));
    if (modules.length === 0 || modules.includes("block-curl.so")) return;
    throw new PluginError(
      "QEMU_MODULE_MISSING",
      `HTTP(S) CD-ROMs need QEMU's curl block module, and ${dir} has no block-curl.so: install it (Debian: apt-get install qemu-block-extra)`,
    );
  }
  // No module directory at all: a QEMU built without modules has curl built in, or not at all.
}

/** How long an HTTP(S) medium's server may take to answer the check, at start and at a change: in all. */
export const URL_CHECK_TIMEOUT_MS = 5000;

/**
 * Asks for the first byte: QEMU's curl driver refuses servers that answer anything but 206. The
 * deadline is for the whole answer, not between bytes: a server that trickles a byte every few
 * seconds must not hold the hook (Ganeti puts no timeout on hooks).
 */
export async function checkRangeSupport(url: string, timeoutMs = URL_CHECK_TIMEOUT_MS): Promise<void> {
  const lib = builtin<typeof import("node:http")>(url.toLowerCase().startsWith("https:") ? "node:https" : "node:http");
  let timer: NodeJS.Timeout | undefined;
  const status = await new Promise<number>((resolve, reject) => {
    const req = lib.get(url, { headers: { Range: "bytes=0-0" } }, (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy(); // the status is the answer: the body is not waited for
    });
    timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    req.on("error", reject);
  })
    .catch((e: Error) => {
      throw new PluginError("URL_UNREACHABLE", `CD-ROM image ${url} is not accessible: ${e.message}`);
    })
    .finally(() => clearTimeout(timer));
  if (status === 206) return;
  if (status === 200) {
    throw new PluginError(
      "RANGE_UNSUPPORTED",
      `the server of ${url} ignores Range requests (it answered 200 to bytes=0-0), and QEMU's curl driver needs them: serve the image from a server that supports Range (nginx, Apache, lighttpd)`,
    );
  }
  throw new PluginError("URL_UNREACHABLE", `CD-ROM image ${url} is not accessible: the server answered HTTP ${status}`);
}
